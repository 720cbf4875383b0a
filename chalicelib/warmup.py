"""On Lambda, load at init what this function's handler needs, and nothing only another one needs.

Lambda runs init (``import app``) at full CPU, but the handler at a CPU share proportional to
the function's memory (1,769 MB is one vCPU): boto3 imported inside the first invocation of a
256 MB function costs about 7 times what it costs at init, at 128 MB about 14 times.

Which function this process is comes from ``_HANDLER``, not from a setting in
``.chalice/config.json``: Lambda sets it from the handler Chalice packaged (``app.app``,
``app.archive_stats``, ``app.forward_alert``), so it cannot drift from the deployment or be
forgotten in one stage, and tests, ``chalice local`` and the local stack never have it, so
``import app`` stays light there with nothing to switch off.
"""

import importlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib import aws, metrics, settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """One thing a handler needs, loaded at init when ``when()`` says so."""

    what: str
    load: Callable[[], object]
    when: Callable[[], bool] = lambda: True


def client(service: str, when: Callable[[], bool] = lambda: True, region: Callable[[], str] | None = None) -> Step:
    """The process-wide ``chalicelib.aws`` client (of ``region()``, if given), built now instead of on first use."""
    if region is None:
        return Step(f"{service} client", lambda: aws.client(service), when)
    return Step(f"{service} client", lambda: aws.client(service, region=region()), when)


def module(name: str) -> Step:
    return Step(name, lambda: importlib.import_module(name))


def webhook_url_from_ssm() -> bool:
    return settings.webhook_url_from_ssm() is not None


def alert_state_kept() -> bool:
    # chalicelib.factory.Factory.store: no table, no state (and no DynamoDB client).
    return bool(settings.alert_state_table())


def forwarder_loads_boto3() -> bool:
    """Whether the forwarder needs boto3 on every cold start anyway (the state store, or SSM)."""
    return alert_state_kept() or webhook_url_from_ssm()


def own_region() -> str:
    """The function's own region, as Lambda names it, which is where its alarms' graphs are drawn.

    chalicelib.graphs asks for ``aws.client("cloudwatch", region=<the alarm's region>)``, a client
    cached by region: one built without a region would never be the one it uses.
    """
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or aws.DEFAULT_REGION


def watch_reads_ssm() -> bool:
    # chalicelib.build_watch: the GitHub token (GITHUB_TOKEN wins) and the webhook URL, as the forwarder's.
    return not settings.github_token() or webhook_url_from_ssm()


# Keyed by the Handler strings `chalice package` writes; tests/test_packaging.py checks they match.
WARM_UPS: dict[str, tuple[Step, ...]] = {
    "app.app": (client("sqs"), client("dynamodb"), Step("aws-embedded-metrics", metrics.load_library)),
    "app.archive_stats": (client("s3"),),
    # discord imports requests only when it posts, so requests is named here too. The graph's
    # client (an alarm in the function's region, as Compiler Explorer's are) costs about 12 ms
    # once boto3 is loaded, so it is built whenever boto3 is; a forwarder with neither the state
    # store nor SSM (WEBHOOK_URL alone) keeps the light init, and its first graph loads boto3.
    "app.forward_alert": (
        module("chalicelib.forwarder"),
        module("requests"),
        client("ssm", when=webhook_url_from_ssm),
        client("dynamodb-alerts", when=alert_state_kept),
        client("cloudwatch", when=forwarder_loads_boto3, region=own_region),
    ),
    # The build watch: PyYAML for compilers.yaml and requests for GitHub and Discord are its alone.
    "app.watch_builds": (
        module("chalicelib.build_watch"),
        module("yaml"),
        module("requests"),
        client("ssm", when=watch_reads_ssm),
        client("dynamodb"),
        client("dynamodb-alerts"),
    ),
}


def warm_up(handler: str | None = None) -> list[str]:
    """Run the steps of ``handler`` (default ``_HANDLER``); return what was loaded.

    Never raises: a step that fails is left to the handler, which builds it on first use as it
    would without a warm-up, and the failures are logged as one warning.
    """
    handler = os.environ.get("_HANDLER", "") if handler is None else handler
    loaded: list[str] = []
    failures: list[str] = []
    for step in WARM_UPS.get(handler, ()):
        try:
            if not step.when():
                continue
            step.load()
        except Exception as error:  # noqa: BLE001 (init must survive anything a step raises)
            failures.append(f"{step.what}: {type(error).__name__}: {error}")
        else:
            loaded.append(step.what)
    if failures:
        logger.warning(
            "warm-up of %s: %d step(s) failed, left to the first invocation: %s",
            handler,
            len(failures),
            "; ".join(failures),
        )
    return loaded
