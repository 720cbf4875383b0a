"""Page loads and sponsor views: validate the ``icons`` parameter and queue one message each."""

import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from chalicelib import aws

logger = logging.getLogger(__name__)

SPONSOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_SPONSORS = 32
SQS_BATCH_LIMIT = 10
# Entries SQS reports as Failed are resent this many times in all before the caller gets a 503.
SEND_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 0.05


class InvalidIcons(ValueError):
    """The ``icons`` parameter is not a list of sponsor ids; the message says why."""


class QueueUnavailable(RuntimeError):
    """Some messages could not be queued; the page load was not (fully) recorded."""


def parse_icons(raw_values: Iterable[str]) -> list[str]:
    """Sponsor ids from the ``icons`` values, decoded once if still percent-encoded.

    The load balancer production used to sit behind handed the query string over still
    percent-encoded (``bob%2Calice``); API Gateway decodes it. An id never contains ``%``, so
    decoding a value that has one is safe either way.
    """
    sponsors: list[str] = []
    seen: set[str] = set()
    for raw in raw_values:
        for sponsor in _decode(raw).split(","):
            if not sponsor or sponsor in seen:
                continue
            if not SPONSOR_ID.fullmatch(sponsor):
                raise InvalidIcons(
                    f"invalid sponsor id {_shorten(sponsor)} in icons: an id is 1 to 64 letters, digits, "
                    "'_', '.' or '-', starting with a letter or digit"
                )
            seen.add(sponsor)
            sponsors.append(sponsor)
            if len(sponsors) > MAX_SPONSORS:
                raise InvalidIcons(f"too many sponsor ids in icons: at most {MAX_SPONSORS} are allowed")
    return sponsors


def message_bodies(sponsors: list[str], now: datetime) -> list[str]:
    """One PageLoad body, then one SponsorView body per sponsor, exactly as the archive expects."""
    date, time_of_day = now.strftime("%Y-%m-%d"), now.strftime("%H:%M:%S")

    def body(kind: str, value: str) -> str:
        # Sorted keys and json's default separators: the archive's readers depend on these bytes.
        return json.dumps({"date": date, "time": time_of_day, "type": kind, "value": value}, sort_keys=True)

    return [body("PageLoad", "")] + [body("SponsorView", sponsor) for sponsor in sponsors]


def enqueue(
    sqs: Any,
    queue_url: str,
    bodies: list[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Send every body with SendMessageBatch (10 a call), resending entries that come back Failed."""
    from botocore.exceptions import BotoCoreError, ClientError

    for start in range(0, len(bodies), SQS_BATCH_LIMIT):
        pending = {str(start + offset): body for offset, body in enumerate(bodies[start : start + SQS_BATCH_LIMIT])}
        for attempt in range(1, SEND_ATTEMPTS + 1):
            entries = [{"Id": entry_id, "MessageBody": body} for entry_id, body in pending.items()]
            try:
                response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                logger.error("SendMessageBatch failed for %d messages: %s", len(entries), aws.describe(error))
                raise QueueUnavailable("the stats queue could not be reached") from error
            failed = response.get("Failed") or []
            if not failed:
                break
            logger.warning(
                "SendMessageBatch attempt %d: %d of %d entries failed: %s",
                attempt,
                len(failed),
                len(entries),
                "; ".join(f"{f.get('Code')}: {f.get('Message')}" for f in failed),
            )
            pending = {f["Id"]: pending[f["Id"]] for f in failed if f.get("Id") in pending}
            if not pending:
                break
            if attempt < SEND_ATTEMPTS:
                sleep(RETRY_DELAY_SECONDS * attempt)
        else:
            logger.error("giving up on %d messages after %d attempts", len(pending), SEND_ATTEMPTS)
            raise QueueUnavailable(f"{len(pending)} of {len(bodies)} messages could not be queued")


def _decode(raw: str) -> str:
    if "%" not in raw:
        return raw
    try:
        return urllib.parse.unquote(raw, errors="strict")
    except UnicodeDecodeError as error:
        raise InvalidIcons("icons is not valid percent-encoded UTF-8") from error


def _shorten(text: str, limit: int = 70) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"
