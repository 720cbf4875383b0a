"""Compiler build status: the newest build, and the newest successful one, of a compiler.

The table (written by each nightly build with the AWS CLI) has hash key ``compiler`` and range
key ``timestamp``; ``status`` is OK, FAILED, SKIPPED, ...

One Query, newest first, answers both questions in the common case. Only when that first page
holds no OK build does the search for the last success go on, with a ``status = OK`` filter.
DynamoDB applies ``Limit`` to the items it *reads*, before the filter, and charges for every
item read, so the later pages are sized so that the first two requests together read exactly
the 200 items the old pair of ``Limit=100`` queries read; the search stops after
``MAX_ITEMS_READ`` items in all (about three years of nightly builds) and answers null beyond.
"""

import itertools
import logging
import re
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib import aws

logger = logging.getLogger(__name__)

COMPILER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
FIRST_PAGE = 20
SUCCESS_SEARCH_PAGES = (180, 800)
_READ_BOUNDARIES = tuple(itertools.accumulate(SUCCESS_SEARCH_PAGES, initial=FIRST_PAGE))[1:]
MAX_ITEMS_READ = _READ_BOUNDARIES[-1]
# The build watch's pages (history): the newest 20, then on to 200 and 1,000 only while no good build is found.
_WATCH_BOUNDARIES = (FIRST_PAGE, *_READ_BOUNDARIES)
# DynamoDB also ends a page at 1 MB, so a page may come back short; this bounds the requests.
MAX_REQUESTS = 6
OK = "OK"


class InvalidCompiler(ValueError):
    """The compiler name in the path is not a build name."""


class BuildStoreUnavailable(RuntimeError):
    """DynamoDB could not answer."""


def parse_compiler(raw: str) -> str:
    """The compiler name from the path, decoded once if it arrived percent-encoded."""
    name = urllib.parse.unquote(raw) if "%" in raw else raw
    if not COMPILER_NAME.fullmatch(name):
        raise InvalidCompiler(
            "invalid compiler name: it is 1 to 128 letters, digits, '_', '.', '+' or '-', "
            "starting with a letter or digit"
        )
    return name


def build_status(dynamodb: Any, table: str, compiler: str) -> dict[str, dict[str, Any] | None]:
    """``{"last_success": build | None, "last_build": build | None}`` for ``compiler``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _build_status(dynamodb, table, compiler)
    except (BotoCoreError, ClientError) as error:
        logger.error("build status query for %s failed: %s", compiler, aws.describe(error))
        raise BuildStoreUnavailable(str(error)) from error


def _build_status(dynamodb: Any, table: str, compiler: str) -> dict[str, dict[str, Any] | None]:
    page = _query(dynamodb, table, compiler, limit=FIRST_PAGE)
    items = page.get("Items", [])
    last_build = items[0] if items else None
    last_success = next((item for item in items if _string(item, "status") == OK), None)

    items_read = page.get("ScannedCount", len(items))
    requests = 1
    start_key = page.get("LastEvaluatedKey")
    while last_success is None and start_key and items_read < MAX_ITEMS_READ and requests < MAX_REQUESTS:
        # Read up to the next boundary; a page cut short by the 1 MB cap resumes towards it.
        limit = next(bound for bound in _READ_BOUNDARIES if bound > items_read) - items_read
        page = _query(dynamodb, table, compiler, limit=limit, start_key=start_key, status=OK)
        requests += 1
        items_read += page.get("ScannedCount", 0)
        matches = page.get("Items", [])
        last_success = matches[0] if matches else None
        start_key = page.get("LastEvaluatedKey")

    if last_success is None and start_key:
        logger.warning(
            "no OK build for %s in its newest %d items (%d requests); answering null", compiler, items_read, requests
        )
    return {"last_success": _build(last_success), "last_build": _build(last_build)}


def _query(
    dynamodb: Any,
    table: str,
    compiler: str,
    *,
    limit: int,
    start_key: dict[str, Any] | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    params = _query_params(table, compiler, limit=limit)
    if status is not None:
        params["FilterExpression"] = "#status = :status"
        params["ExpressionAttributeNames"]["#status"] = "status"
        params["ExpressionAttributeValues"][":status"] = {"S": status}
    if start_key:
        params["ExclusiveStartKey"] = start_key
    answer: dict[str, Any] = dynamodb.query(**params)
    return answer


def _query_params(table: str, compiler: str, *, limit: int) -> dict[str, Any]:
    return {
        "TableName": table,
        "KeyConditionExpression": "#compiler = :compiler",
        "ExpressionAttributeNames": {"#compiler": "compiler"},
        "ExpressionAttributeValues": {":compiler": {"S": compiler}},
        "ScanIndexForward": False,
        "Limit": limit,
    }


def _build(item: dict[str, Any] | None) -> dict[str, Any] | None:
    # Old items have no github_run_id, failed builds an empty path: a missing or odd attribute
    # is null in the answer, never an error.
    if item is None:
        return None
    return {
        "path": _string(item, "path"),
        "github_run_id": _string(item, "github_run_id"),
        "timestamp": _string(item, "timestamp"),
        "duration": _integer(item, "duration"),
        "status": _string(item, "status"),
    }


def _string(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, dict) else None


def _integer(item: dict[str, Any], name: str) -> int | None:
    value = item.get(name)
    number = value.get("N") if isinstance(value, dict) else None
    if number is None:
        return None
    try:
        return int(Decimal(number))
    except (InvalidOperation, ValueError, OverflowError):
        return None


# ---- the build watch's view of one compiler (chalicelib.build_rules) -----------------------------

GOOD = frozenset({OK, "SKIPPED"})  # SKIPPED: the builder saw an unchanged revision, which is healthy


@dataclass(frozen=True)
class Build:
    timestamp: datetime
    status: str
    run_id: str | None = None

    @property
    def good(self) -> bool:
        return self.status in GOOD


@dataclass(frozen=True)
class History:
    """A compiler's newest builds, newest first, back to and including its last good one (or as far
    as the search reads), and its oldest build when no good one was found."""

    builds: tuple[Build, ...] = ()
    oldest: Build | None = None

    @property
    def last_good(self) -> Build | None:
        return next((b for b in self.builds if b.good), None)

    @property
    def newest(self) -> Build | None:
        return self.builds[0] if self.builds else None

    def failed_since_good(self) -> list[Build]:
        """The builds after the last good one (every build read, if there is none), newest first."""
        return list(itertools.takewhile(lambda b: not b.good, self.builds))


def history(dynamodb: Any, table: str, compiler: str) -> History:
    """The builds the watch's rules need: newest first, until a good one, at most MAX_ITEMS_READ.

    Pages are read without a filter (the failures in between are counted and shown), sized as
    build_status sizes them: one Query in the common case. BuildStoreUnavailable if DynamoDB fails.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _history(dynamodb, table, compiler)
    except (BotoCoreError, ClientError) as error:
        logger.error("build history query for %s failed: %s", compiler, error)
        raise BuildStoreUnavailable(str(error)) from error


def _history(dynamodb: Any, table: str, compiler: str) -> History:
    found: list[Build] = []
    items_read, requests, start_key = 0, 0, None
    while requests < MAX_REQUESTS and items_read < MAX_ITEMS_READ:
        limit = next(bound for bound in _WATCH_BOUNDARIES if bound > items_read) - items_read
        page = _query(dynamodb, table, compiler, limit=limit, start_key=start_key)
        requests += 1
        items = page.get("Items", [])
        items_read += len(items)
        found.extend(build for build in map(_watch_build, items) if build is not None)
        start_key = page.get("LastEvaluatedKey")
        if not start_key or any(b.good for b in found):
            break
    good = next((n for n, b in enumerate(found) if b.good), None)
    if good is not None:
        return History(tuple(found[: good + 1]))
    oldest = found[-1] if found else None
    if start_key:
        # No good build in the newest MAX_ITEMS_READ: the rules count from the very first one.
        first = dynamodb.query(**{**_query_params(table, compiler, limit=1), "ScanIndexForward": True})
        oldest = next((b for b in map(_watch_build, first.get("Items", [])) if b is not None), oldest)
    return History(tuple(found), oldest)


def _watch_build(item: dict[str, Any]) -> Build | None:
    stamp = _string(item, "timestamp") or ""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        logger.warning("build item with an unreadable timestamp %r skipped", stamp[:40])
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    run_id = _string(item, "github_run_id")
    return Build(when, _string(item, "status") or "", run_id if run_id and run_id != "unknown" else None)
