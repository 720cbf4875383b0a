"""A realistic build history for the ``compiler-builds`` table.

Shaped as the nightly build scripts write it (``aws dynamodb put-item`` after each build):
``timestamp`` from ``date -u -Iseconds``, ``duration`` in seconds, ``status`` OK / FAILED /
SKIPPED, ``github_run_id`` (absent before mid-2021, sometimes "unknown"), ``path`` the s3://
archive or "" when nothing was built. The histories cover the cases the API must get right:

- ``gcc``, ``clang``: a year of nightlies; gcc's newest build failed, clang's succeeded.
- ``clang.thephd.dev``: unchanged most nights (SKIPPED), some run ids "unknown".
- ``clang_p2996``: 130 failed or skipped nights since its last OK build (more than 100).
- ``SPIRV-Tools``: never built successfully.
- ``circle``: a few builds from early 2021, written before ``github_run_id`` existed.

Dates count back from the last 03:00 UTC, so the history looks current; the pattern of
statuses is the same on every run.

``response_times`` is the other seed: three hours of the load balancer's response times, the
metric the sample alarm watches (see the end of this module).
"""

import math
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

OK, FAILED, SKIPPED = "OK", "FAILED", "SKIPPED"
FAILING_STREAK = 130
BATCH_WRITE_LIMIT = 25
_MAX_WRITE_ROUNDS = 20


NIGHTLY_HOURS = timedelta(hours=1)  # every nightly build has finished by 04:00 UTC


def last_nightly(now: datetime) -> datetime:
    """The start (03:00 UTC) of the most recent nightly run that has finished by ``now``."""
    done_by = now.astimezone(UTC) - NIGHTLY_HOURS
    start = done_by.replace(hour=3, minute=0, second=0, microsecond=0)
    return start if start <= done_by else start - timedelta(days=1)


def history(now: datetime) -> list[dict[str, Any]]:
    """Every seeded build, as plain items (``duration`` an int)."""
    night = last_nightly(now)
    items: list[dict[str, Any]] = []
    items += _nightlies("gcc", night, 365, _newest_failed, (2400, 5400))
    items += _nightlies("clang", night, 365, _newest_ok, (1800, 4200))
    items += _nightlies("clang.thephd.dev", night, 120, _mostly_skipped, (900, 2400), unknown_run_ids=True)
    items += _nightlies("clang_p2996", night, 300, _failing_streak, (1800, 3600))
    items += _nightlies("SPIRV-Tools", night, 45, _never_ok, (60, 600))
    items += _old_builds("circle", datetime(2021, 4, 11, 3, 0, tzinfo=UTC), [OK, FAILED, OK, SKIPPED, OK])
    return items


def write(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    """Put every item with BatchWriteItem, resending what DynamoDB hands back unprocessed."""
    for start in range(0, len(items), BATCH_WRITE_LIMIT):
        requests = [{"PutRequest": {"Item": _attributes(item)}} for item in items[start : start + BATCH_WRITE_LIMIT]]
        for _ in range(_MAX_WRITE_ROUNDS):
            unprocessed = dynamodb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
            requests = unprocessed.get(table, [])
            if not requests:
                break
        else:
            raise RuntimeError(f"DynamoDB kept {len(requests)} seed items unprocessed")


def _nightlies(
    compiler: str,
    newest_night: datetime,
    nights: int,
    status_of: Callable[[int, random.Random], str],
    durations: tuple[int, int],
    *,
    unknown_run_ids: bool = False,
) -> Iterator[dict[str, Any]]:
    rng = random.Random(compiler)  # noqa: S311 (repeatable seed data, not secrets)
    run_id = 19_700_000_000 + rng.randrange(10_000_000)
    for age in range(nights):
        status = status_of(age, rng)
        night = newest_night - timedelta(days=age)
        finished = night + timedelta(seconds=rng.randrange(60, 3000))
        run_id -= rng.randrange(200_000, 600_000)
        yield _item(
            compiler,
            finished,
            status,
            rng.randrange(*durations) if status != SKIPPED else rng.randrange(20, 90),
            "unknown" if unknown_run_ids and rng.random() < 0.1 else str(run_id),
        )


def _old_builds(compiler: str, newest: datetime, statuses: list[str]) -> Iterator[dict[str, Any]]:
    rng = random.Random(compiler)  # noqa: S311 (repeatable seed data, not secrets)
    for age, status in enumerate(statuses):
        when = newest - timedelta(days=7 * age, seconds=-rng.randrange(60, 3000))
        yield _item(compiler, when, status, rng.randrange(600, 1800), None)


def _item(compiler: str, when: datetime, status: str, duration: int, run_id: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "compiler": compiler,
        "timestamp": when.isoformat(timespec="seconds"),
        "duration": duration,
        "status": status,
        "path": f"s3://compiler-explorer/opt/{compiler}-trunk-{when:%Y%m%d}.tar.xz" if status == OK else "",
    }
    if run_id is not None:
        item["github_run_id"] = run_id
    return item


# Status of the build ``age`` nights ago.
def _mostly_ok(age: int, rng: random.Random) -> str:
    return rng.choices([OK, SKIPPED, FAILED], weights=[80, 12, 8])[0]


def _newest_failed(age: int, rng: random.Random) -> str:
    return FAILED if age == 0 else _mostly_ok(age, rng)


def _newest_ok(age: int, rng: random.Random) -> str:
    return OK if age == 0 else _mostly_ok(age, rng)


def _mostly_skipped(age: int, rng: random.Random) -> str:
    return SKIPPED if age < 3 else rng.choice([OK, SKIPPED, SKIPPED, FAILED])


def _failing_streak(age: int, rng: random.Random) -> str:
    if age < FAILING_STREAK:
        return rng.choice([FAILED, FAILED, SKIPPED])
    return OK if age == FAILING_STREAK else _mostly_ok(age, rng)


def _never_ok(age: int, rng: random.Random) -> str:
    return rng.choice([FAILED, SKIPPED])


def _attributes(item: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {key: {"N": str(value)} if isinstance(value, int) else {"S": value} for key, value in item.items()}


# CloudWatch datapoints for the metric the sample alarm (tools.local_stack.alarm's SiteTooSlow) watches:
# the load balancer's TargetResponseTime, one batch of request timings a minute, as the ALB
# publishes it, so the emulator's GetMetricWidgetImage draws a real graph of it.

RESPONSE_NAMESPACE = "AWS/ApplicationELB"
RESPONSE_METRIC = "TargetResponseTime"
LOAD_BALANCER = "app/GccExplorerApp/0a1b2c3d4e5f6789"
RESPONSE_DIMENSIONS = [{"Name": "LoadBalancer", "Value": LOAD_BALANCER}]
METRIC_HISTORY = timedelta(hours=3)
PUT_METRIC_LIMIT = 20
_MINUTE = timedelta(minutes=1)


def response_times(start: datetime, end: datetime, slow_from: datetime | None = None) -> list[dict[str, Any]]:
    """One PutMetricData entry a minute in [start, end): requests taking 0.2-0.7 s (p90 about 0.5 s),
    and from ``slow_from`` on a slowdown that takes the p90 to 2.5-3 s within a few minutes."""
    entries: list[dict[str, Any]] = []
    minute = start.astimezone(UTC).replace(second=0, microsecond=0)
    while minute < end:
        rng = random.Random(minute.isoformat())  # noqa: S311 (repeatable seed data, not secrets)
        # A daily rhythm: a little slower when Europe and the US overlap.
        busy = 0.08 * (1 + math.sin((minute.hour + minute.minute / 60 - 9) / 24 * 2 * math.pi))
        tail = 0.45 + busy + rng.uniform(-0.05, 0.08)
        slow = slow_from is not None and minute >= slow_from
        if slow_from is not None and slow:
            ramp = min(1.0, (minute - slow_from) / (4 * _MINUTE) + 0.25)
            tail += ramp * rng.uniform(2.1, 2.5)
        fast = round(0.18 + rng.uniform(0, 0.06), 3)
        typical = round(0.28 + busy + rng.uniform(0, 0.08), 3)
        values = [fast, typical, round(tail * 0.8, 3), round(tail, 3), round(tail * 1.3, 3)]
        counts = [rng.randint(30, 60), rng.randint(120, 200), rng.randint(15, 25), rng.randint(14, 20), 6]
        if slow:
            # A slow minute's tail is heavy enough to carry the p90 even beside normal samples already stored.
            counts[2:] = [rng.randint(36, 48), rng.randint(32, 42), 14]
        entries.append(
            {
                "MetricName": RESPONSE_METRIC,
                "Dimensions": RESPONSE_DIMENSIONS,
                "Timestamp": minute + timedelta(seconds=30),
                "Values": values,
                "Counts": counts,
                "Unit": "Seconds",
            }
        )
        minute += _MINUTE
    return entries


def write_metrics(cloudwatch: Any, entries: list[dict[str, Any]]) -> None:
    for start in range(0, len(entries), PUT_METRIC_LIMIT):
        cloudwatch.put_metric_data(Namespace=RESPONSE_NAMESPACE, MetricData=entries[start : start + PUT_METRIC_LIMIT])


def next_unseeded_minute(cloudwatch: Any, now: datetime) -> datetime:
    """The first minute after the newest response-time datapoint (or the start of the history)."""
    found = cloudwatch.get_metric_statistics(
        Namespace=RESPONSE_NAMESPACE,
        MetricName=RESPONSE_METRIC,
        Dimensions=RESPONSE_DIMENSIONS,
        StartTime=now - METRIC_HISTORY,
        EndTime=now + _MINUTE,
        Period=60,
        Statistics=["SampleCount"],
    ).get("Datapoints", [])
    if not found:
        return (now - METRIC_HISTORY).astimezone(UTC).replace(second=0, microsecond=0)
    newest = max(point["Timestamp"] for point in found).astimezone(UTC)
    return newest.replace(second=0, microsecond=0) + _MINUTE
