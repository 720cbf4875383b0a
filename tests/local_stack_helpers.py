"""Checks for the tests that run the whole local stack (test_local_stack.py, test_browser.py)."""

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from chalicelib import settings
from tools.devkit.names import BUILD_TABLE
from tools.devkit.net import eventually
from tools.local_stack import launcher, resources

ARCHIVE_KEY = re.compile(
    r"stats/compiler-explorer-stats-local-archive_stats-\d{4}-\d\d-\d\d-\d\d:\d\d:\d\d\.\d{6}\.log"
)
# The stack's batch window in these tests; everything is archived within a few of them.
BATCH_WINDOW = 1
ARCHIVE_TIMEOUT = 20
VISIBILITY_TIMEOUT = 10  # well past the batch window plus a loaded machine's delays
STOP_SECONDS = 20  # the bound for Ctrl-C / SIGTERM


def unique_sponsors(count: int) -> list[str]:
    """Sponsor ids no other test uses, so a test finds its own lines in a shared archive."""
    tag = uuid.uuid4().hex[:8]
    return [f"t{tag}_{n}" for n in range(count)]


def body(kind: str, value: str, date: str, time_of_day: str) -> str:
    """A queue message exactly as production's archive readers expect it (restated, not imported)."""
    return json.dumps({"date": date, "time": time_of_day, "type": kind, "value": value}, sort_keys=True)


def check_page_load(objects: dict[str, bytes], sponsors: list[str], before: datetime, after: datetime) -> str:
    """The key of the object holding this page load's lines; asserts every byte of them.

    Each object is newline-delimited JSON with no trailing newline; the sponsors' SponsorView
    lines are byte-exact, once each, in one object, together with a PageLoad line of the same second.
    """
    wanted = f'"value": "{sponsors[0]}"'
    holders = [key for key, data in objects.items() if wanted in data.decode()]
    assert len(holders) == 1, f"{sponsors[0]} archived in {len(holders)} objects: {holders}"
    key = holders[0]
    assert ARCHIVE_KEY.fullmatch(key), key
    text = objects[key].decode("utf-8")
    lines = text.split("\n")
    assert all(lines), f"empty line (or trailing newline) in {key}: {text!r}"
    for line in lines:
        assert line == json.dumps(json.loads(line), sort_keys=True), f"not in the archive's format: {line!r}"

    first = json.loads(next(line for line in lines if wanted in line))
    stamp = datetime.strptime(f"{first['date']} {first['time']}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert before.replace(microsecond=0) <= stamp <= after, f"{stamp} is not when the page load was sent"
    date, time_of_day = first["date"], first["time"]
    for sponsor in sponsors:
        assert lines.count(body("SponsorView", sponsor, date, time_of_day)) == 1, f"{sponsor} not archived once"
    assert body("PageLoad", "", date, time_of_day) in lines
    return key


def expected_build(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """A DynamoDB item (low-level shape) as the API answers it: five attributes, missing ones null."""
    if item is None:
        return None
    return {
        "path": item["path"]["S"] if "path" in item else None,
        "github_run_id": item["github_run_id"]["S"] if "github_run_id" in item else None,
        "timestamp": item["timestamp"]["S"],
        "duration": int(item["duration"]["N"]),
        "status": item["status"]["S"],
    }


def history(dynamodb: Any, compiler: str) -> list[dict[str, Any]]:
    """Every item of a compiler in the emulator's table, newest first."""
    items: list[dict[str, Any]] = []
    paginator = dynamodb.get_paginator("query")
    pages = paginator.paginate(
        TableName=BUILD_TABLE,
        KeyConditionExpression="compiler = :c",
        ExpressionAttributeValues={":c": {"S": compiler}},
        ScanIndexForward=False,
    )
    for page in pages:
        items.extend(page["Items"])
    return items


def wait_until_alerts_are_delivered(stack: launcher.StackProcess) -> None:
    """Until the forwarder's queue is empty: nothing left to post that a later test could mistake for its own."""
    sqs = stack.client("sqs")
    name = resources.delivery_queue_name(settings.ALERT_TOPIC_NAME, "forward_alert")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

    def drained() -> bool:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=counts)["Attributes"]
        return all(attributes[count] == "0" for count in counts)

    eventually(drained, ARCHIVE_TIMEOUT, "the forwarder's queue to drain")
