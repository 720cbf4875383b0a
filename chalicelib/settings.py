"""Settings, read from the environment when first needed (never at import).

The Chalice test client patches ``os.environ`` only while a request or invocation runs, and
Lambda sets the variables before the first one, so reading at call time is both correct and cheap.
"""

import os

# Event sources: Chalice needs these names when it packages the app, so they are constants.
STATS_QUEUE_NAME = "CompilerExplorerStats"
ALERT_TOPIC_NAME = "CompilerExplorerAlert"


class ConfigurationError(RuntimeError):
    """A required setting is missing: a deployment mistake, not a caller's."""


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
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
