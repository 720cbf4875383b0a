"""The benchmark's AWS world: environment, the production-named resources, and build histories."""

import functools
import logging
import math
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tools.devkit import moto, names
from tools.devkit.names import ARCHIVE_BUCKET as BUCKET
from tools.devkit.names import BUILD_TABLE as TABLE
from tools.devkit.names import STATS_QUEUE as QUEUE
from tools.devkit.names import WEBHOOK_PARAMETER
from tools.local_stack import resources

HISTORY_LENGTH = 400
# DynamoDB bills reads in 4 KB units; an eventually consistent read (Query's default) costs half a unit.
READ_UNIT_BYTES = 4096
EVENTUALLY_CONSISTENT = 0.5


def set_environment(endpoint: str) -> None:
    """Point boto3 (both sides) at the emulator; must run before aws-embedded-metrics is imported."""
    for name in (*names.FOREIGN_AWS_VARIABLES, "WEBHOOK_URL", "WEBHOOK_URL_PARAMETER"):
        os.environ.pop(name, None)
    os.environ.update({**names.aws_environment(endpoint), "COMPILER_BUILD_TABLE": TABLE, "S3_BUCKET_NAME": BUCKET})


@contextmanager
def app_settings(settings: dict[str, str], quiet_below: int = logging.ERROR) -> Iterator[None]:
    """The app's environment variables for a row's replay, and its log lines below ``quiet_below`` muted
    (a month or a year of them would drown the benchmark's output); both as they were afterwards."""
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    app_logger = logging.getLogger("chalicelib")
    level = app_logger.level
    app_logger.setLevel(quiet_below)
    try:
        yield
    finally:
        app_logger.setLevel(level)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@functools.cache
def setup_client(service: str) -> Any:
    """The benchmark's own client, for creating resources and checking results; the counter skips it."""
    return moto.uncounted(names.client(service, os.environ["AWS_ENDPOINT_URL"]))


def create_queue(name: str = QUEUE) -> str:
    return setup_client("sqs").create_queue(QueueName=name)["QueueUrl"]


def purge_queue(url: str) -> None:
    setup_client("sqs").purge_queue(QueueUrl=url)


def queue_length(url: str) -> int:
    attributes = setup_client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def create_table() -> None:
    resources.create_build_table(setup_client("dynamodb"), TABLE)


def create_bucket() -> None:
    setup_client("s3").create_bucket(Bucket=BUCKET)


def put_webhook_parameter(url: str) -> None:
    setup_client("ssm").put_parameter(Name=WEBHOOK_PARAMETER, Value=url, Type="SecureString", Overwrite=True)


@dataclass
class History:
    """One compiler's nightly builds, newest first, and the right answer for it."""

    compiler: str
    failures_since_ok: int
    items: list[dict[str, Any]]

    @property
    def expected(self) -> dict[str, str | None]:
        ok = next((item for item in self.items if item["status"]["S"] == "OK"), None)
        return {
            "last_success": ok["timestamp"]["S"] if ok else None,
            "last_build": self.items[0]["timestamp"]["S"] if self.items else None,
        }

    def items_after(self, start_key: dict[str, Any] | None, count: int) -> list[dict[str, Any]]:
        """The ``count`` items a newest-first Query read after ``start_key``."""
        start = 0
        if start_key:
            stamps = [item["timestamp"]["S"] for item in self.items]
            start = stamps.index(start_key["timestamp"]["S"]) + 1
        return self.items[start : start + count]


def make_history(compiler: str, failures_since_ok: int, length: int = HISTORY_LENGTH) -> History:
    """``failures_since_ok`` FAILED or SKIPPED builds, then an OK one, then a realistic mix, nightly."""
    rng = random.Random(compiler)  # noqa: S311 (repeatable test data, not a secret)
    newest = datetime(2026, 11, 24, 3, 12, 45, tzinfo=UTC)
    items = []
    for back in range(length):
        if back < failures_since_ok:
            status = rng.choice(["FAILED", "FAILED", "SKIPPED"])
        elif back == failures_since_ok:
            status = "OK"
        else:
            status = rng.choices(["OK", "FAILED", "SKIPPED"], weights=[7, 2, 1])[0]
        stamp = (newest - timedelta(days=back, seconds=rng.randrange(600))).isoformat()
        run_id = str(10_000_000_000 - back * 7919)
        items.append(
            {
                "compiler": {"S": compiler},
                "timestamp": {"S": stamp},
                "duration": {"N": str(rng.randrange(60, 4000))},
                "status": {"S": status},
                "github_run_id": {"S": run_id},
                "path": {"S": f"s3://compiler-explorer/opt/{compiler}-{stamp[:10]}.tar.xz" if status == "OK" else ""},
            }
        )
    return History(compiler, failures_since_ok, items)


def write_history(history: History) -> None:
    dynamodb = setup_client("dynamodb")
    requests = [{"PutRequest": {"Item": item}} for item in history.items]
    for start in range(0, len(requests), 25):
        dynamodb.batch_write_item(RequestItems={TABLE: requests[start : start + 25]})


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: name bytes plus value bytes (a number: ~1 byte per 2 digits, +1)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            digits = Decimal(value["N"]).normalize().as_tuple().digits
            size += math.ceil(len(digits) / 2) + 1
        else:
            raise ValueError(f"no size model for {value}")
    return size


def modelled_read_units(items_read: list[dict[str, Any]]) -> float:
    """What one eventually consistent Query that read these items costs in DynamoDB (at least one unit)."""
    total = sum(item_size(item) for item in items_read)
    return max(1, math.ceil(total / READ_UNIT_BYTES)) * EVENTUALLY_CONSISTENT
