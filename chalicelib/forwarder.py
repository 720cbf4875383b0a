"""The alert forwarder: every SNS record on the alert topic becomes one Discord message."""

import logging
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib import alerts, discord, settings

logger = logging.getLogger(__name__)

_webhook_url_from_ssm: dict[str, str] = {}


def webhook_url(ssm_client: Callable[[], Any]) -> str:
    """WEBHOOK_URL, or else the SSM SecureString WEBHOOK_URL_PARAMETER names (read once a process)."""
    url = settings.optional("WEBHOOK_URL")
    if url:
        return url
    parameter = settings.optional("WEBHOOK_URL_PARAMETER")
    if not parameter:
        raise settings.ConfigurationError(
            "neither WEBHOOK_URL nor WEBHOOK_URL_PARAMETER is set: alerts cannot be delivered"
        )
    if parameter not in _webhook_url_from_ssm:
        response = ssm_client().get_parameter(Name=parameter, WithDecryption=True)
        url = response["Parameter"]["Value"].strip()
        if not url.startswith(("https://", "http://")):
            # Retrying cannot mend a bad value; say so without echoing it (it is a secret).
            raise settings.ConfigurationError(f"SSM parameter {parameter} does not hold a webhook URL")
        _webhook_url_from_ssm[parameter] = url
    return _webhook_url_from_ssm[parameter]


def forget_cached_url() -> None:
    _webhook_url_from_ssm.clear()


def forward(records: Iterable[dict[str, Any]], post: Callable[[dict[str, Any], dict[str, Any]], None]) -> int:
    """Post one message per SNS record; an undeliverable one raises, so Lambda retries the event."""
    count = 0
    for record in records:
        notification = record.get("Sns") or {}
        message = notification.get("Message")
        if not isinstance(message, str):
            message = "" if message is None else str(message)
        subject = notification.get("Subject") or None
        try:
            alert = alerts.parse_message(message, subject)
        except (AttributeError, KeyError, TypeError, ValueError, RecursionError):
            # A message shaped in a way the formatter never saw must still reach the maintainers.
            logger.exception("could not format the alert; forwarding it as plain text")
            alert = alerts.plain_alert(message, subject)
        logger.info("forwarding alert %r (message id %s)", alert.title[:200], notification.get("MessageId"))
        post(discord.payload(alert), discord.fallback_payload(alert))
        count += 1
    return count
