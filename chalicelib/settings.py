"""Settings, read from the environment when first needed (never at import).

The Chalice test client patches ``os.environ`` only while a request or invocation runs, and
Lambda sets the variables before the first one, so reading at call time is both correct and cheap.
"""

import logging
import os

from chalicelib import values

logger = logging.getLogger(__name__)

DEFAULT_FLAP_WINDOW_MINUTES = 30.0

# Event sources: production's names, the defaults of stats_queue_name() and alert_topic_name().
STATS_QUEUE_NAME = "CompilerExplorerStats"
ALERT_TOPIC_NAME = "CompilerExplorerAlert"


class ConfigurationError(RuntimeError):
    """A required setting is missing: a deployment mistake, not a caller's."""


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        # Logged here, once: the API answers 503 for it, and the caller is told nothing more.
        logger.error("environment variable %s is not set", name)
        raise ConfigurationError(f"environment variable {name} is not set")
    return value


def optional(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def stats_queue_url() -> str:
    return required("SQS_STATS_QUEUE")


def build_table() -> str:
    return required("COMPILER_BUILD_TABLE")


def archive_bucket() -> str:
    return required("S3_BUCKET_NAME")


# The two names app.py reads at import, the one exception to reading settings when first needed:
# Chalice needs them to package or deploy, and imports app.py with the stage's own (stage-level)
# environment_variables set, which Lambda then has at run time too, so the two always agree.
def stats_queue_name() -> str:
    return optional("STATS_QUEUE_NAME", STATS_QUEUE_NAME)


def alert_topic_name() -> str:
    return optional("ALERT_TOPIC_NAME", ALERT_TOPIC_NAME)


def alert_state_table() -> str:
    """The forwarder's state table; empty means no state: every alert is posted as a new message."""
    return optional("ALERT_STATE_TABLE")


def alert_flap_window_seconds() -> float:
    """How long after a recovery an ALARM reopens the same incident (ALERT_FLAP_WINDOW_MINUTES, default 30)."""
    text = optional("ALERT_FLAP_WINDOW_MINUTES", str(DEFAULT_FLAP_WINDOW_MINUTES))
    minutes = values.number(text)
    if minutes is None or not 0 <= minutes < 100_000:
        # A mistyped window must not cost an alert: say so, and use the default.
        logger.error(
            "ALERT_FLAP_WINDOW_MINUTES=%r is not a number of minutes; using %g", text, DEFAULT_FLAP_WINDOW_MINUTES
        )
        minutes = DEFAULT_FLAP_WINDOW_MINUTES
    return minutes * 60


def alert_mention_role() -> str | None:
    """ALERT_MENTION_ROLE: the Discord role id every notifying post pings; unset, nobody is pinged."""
    role = optional("ALERT_MENTION_ROLE")
    if role and not role.isdigit():
        # A mistyped role must not cost an alert: say so, and ping nobody rather than fail the post.
        logger.error("ALERT_MENTION_ROLE=%r is not a Discord role id (digits); mentioning nobody", role)
        return None
    return role or None


def webhook_url_from_ssm() -> str | None:
    """The SSM parameter to read the webhook URL from, or None: WEBHOOK_URL, when set, wins over it."""
    if webhook_url():
        return None
    return webhook_url_parameter() or None


def webhook_url() -> str:
    """WEBHOOK_URL: the Discord webhook itself; it wins over webhook_url_parameter()."""
    return optional("WEBHOOK_URL")


def webhook_url_parameter() -> str:
    """WEBHOOK_URL_PARAMETER: the SSM SecureString that holds the webhook URL (production's way)."""
    return optional("WEBHOOK_URL_PARAMETER")


# Production's Grafana dashboards read the PageLoad stream with exactly these dimension values. The
# metrics library's defaults follow the Lambda function's name, which Chalice sets to "<app>-<stage>",
# and would silently start a new metric stream.
DEFAULT_METRIC_DIMENSIONS = {"LogGroup": "stats", "ServiceName": "stats", "ServiceType": "AWS::Lambda::Function"}


def metric_dimensions() -> dict[str, str]:
    """The PageLoad dimensions; METRICS_LOG_GROUP, METRICS_SERVICE_NAME, METRICS_SERVICE_TYPE override them."""
    return {
        "LogGroup": optional("METRICS_LOG_GROUP", DEFAULT_METRIC_DIMENSIONS["LogGroup"]),
        "ServiceName": optional("METRICS_SERVICE_NAME", DEFAULT_METRIC_DIMENSIONS["ServiceName"]),
        "ServiceType": optional("METRICS_SERVICE_TYPE", DEFAULT_METRIC_DIMENSIONS["ServiceType"]),
    }


# ---- the build watch (chalicelib.build_watch) ---------------------------------------------------

DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_GITHUB_TOKEN_PARAMETER = "/admin/github_build_watch_token"  # noqa: S105 (a parameter name, not a token)
BUILD_WATCH_DAYS = {"BUILD_WATCH_STALE_DAYS": 7.0, "BUILD_WATCH_FAILING_DAYS": 3.0, "BUILD_WATCH_SILENT_DAYS": 2.0}


def github_api_url() -> str:
    return optional("GITHUB_API_URL", DEFAULT_GITHUB_API_URL).rstrip("/")


def github_token() -> str:
    """GITHUB_TOKEN: the token itself, for local runs; it wins over github_token_parameter()."""
    return optional("GITHUB_TOKEN")


def github_token_parameter() -> str:
    """GITHUB_TOKEN_PARAMETER: the SSM SecureString that holds the build watch's GitHub token."""
    return optional("GITHUB_TOKEN_PARAMETER", DEFAULT_GITHUB_TOKEN_PARAMETER)


def build_watch_source() -> tuple[str, str, str]:
    """Where compilers.yaml is read: (repository, path, ref)."""
    return (
        optional("BUILD_WATCH_REPOSITORY", "compiler-explorer/compiler-workflows"),
        optional("BUILD_WATCH_PATH", "compilers.yaml"),
        optional("BUILD_WATCH_REF", "main"),
    )


def build_watch_days(name: str) -> float:
    """One of BUILD_WATCH_DAYS (stale, failing, silent): a number of days, its default when mistyped."""
    default = BUILD_WATCH_DAYS[name]
    text = optional(name, str(default))
    try:
        days = float(text)
    except ValueError:
        days = -1.0
    if not 0 < days <= 3650:
        # A mistyped threshold must not silence the watch: say so, and use the default.
        logger.error("%s=%r is not a number of days; using %g", name, text, default)
        days = default
    return days
