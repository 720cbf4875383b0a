"""A realistic build history for the ``compiler-builds`` table.

Shaped as the nightly build scripts write it (``aws dynamodb put-item`` after each build):
``timestamp`` from ``date -u -Iseconds``, ``duration`` in seconds, ``status`` OK / FAILED /
SKIPPED, ``github_run_id`` (absent before mid-2021, sometimes "unknown"), ``path`` the s3://
archive or "" when nothing was built. The histories cover the cases the API must get right:

- ``gcc``, ``clang``: a year of nightlies; gcc's newest build failed, clang's succeeded.
- ``clang.thephd.dev``: unchanged most nights (SKIPPED), some run ids "unknown".
- ``clang_p2996``: 130 failed or skipped nights since its last OK build (more than 100).
- ``SPIRV-Tools``: never built successfully.
- ``circle``: a few builds from early 2021, written before ``github_run_id`` existed (and no longer in
  ``compilers.yaml``: the build watch ignores it).

The build watch's world sits next to it (``WATCHED``, ``compilers_yaml``, ``watch_history`` and
``github_world``): a ``compilers.yaml`` whose entries exercise every rule of the watch, each with the
build history and the GitHub repositories (in ``tools.devkit.github_fake``) that make its case:

- reported: ``clang_llvmflang`` (ungated) failing 12 nights; ``tinycc`` (ungated) not run for 5 nights;
  ``dotnet`` failing 20 nights while ``dotnet/runtime`` moves daily (upstream moved, nothing built);
  ``clang_ir`` gated on the archived ``llvm/clangir``; ``hylo`` gated on a moved repository (301);
  ``clang_lifetime`` on a deleted one (404); ``clang_hana`` on a branch that no longer exists (422);
  ``c3c`` on a URL that names no repository.
- never reported: ``gcc`` (one failed night), ``clang``, ``clang.thephd.dev``, ``clang_p2996``,
  ``SPIRV-Tools`` and ``llvm_spirv`` (one URL, two entries), ``madpascal`` (two targets); and the idle
  forks ``clang_embed`` (no commit for 200 days, no build for 193) and ``gcc_contracts`` (a branch with a
  ``/``, idle 90 days), whose silence is what their gate is for.

Dates count back from the last 03:00 UTC, so the history looks current; the pattern of
statuses is the same on every run.

``response_times`` is the other seed: three hours of the load balancer's response times, the
metric the sample alarm watches (see the end of this module).
"""

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.devkit.names import WORKFLOWS_REPOSITORY

OK, FAILED, SKIPPED = "OK", "FAILED", "SKIPPED"
BROKEN = ""  # what post-run.sh writes for a failed build today
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


# ---- the build watch's world ---------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """One daily entry of the local ``compilers.yaml``, and what the build watch should say about it."""

    name: str
    image: str
    args: str = "trunk"
    repos: tuple[str, ...] = ()
    expect: str = ""  # the rule it trips ("" for none), for the banner, the README and the tests


def _gh(path: str) -> str:
    return f"https://github.com/{path}"


WATCHED = (
    Watched("gcc", "gcc"),
    Watched("clang", "clang"),
    Watched("clang_llvmflang", "clang", "llvmflang-trunk", expect="failing every night"),
    Watched("tinycc", "misc", expect="not running"),
    Watched("clang.thephd.dev", "clang", "thephd-trunk", (_gh("ThePhD/llvm-project/tree/thephd.dev"),)),
    Watched("clang_p2996", "clang", "p2996-trunk", (_gh("bloomberg/clang-p2996/tree/p2996"),)),
    Watched("SPIRV-Tools", "spirv-tools", repos=(_gh("KhronosGroup/SPIRV-Tools/tree/main"),)),
    Watched("llvm_spirv", "clang", "llvm-spirv-trunk", (_gh("KhronosGroup/SPIRV-Tools/tree/main"),)),
    Watched(
        "madpascal", "mads", repos=(_gh("tebe6502/Mad-Assembler/tree/master"), _gh("tebe6502/Mad-Pascal/tree/master"))
    ),
    Watched("clang_embed", "clang", "embed-trunk", (_gh("ThePhD/llvm-project/tree/embed"),)),
    Watched("gcc_contracts", "gcc", "contracts-trunk", (_gh("gcc-mirror/gcc/tree/devel/contracts"),)),
    Watched("dotnet", "dotnet", repos=(_gh("dotnet/runtime"),), expect="upstream moved and nothing was built"),
    Watched("clang_ir", "clang", "clangir-trunk", (_gh("llvm/clangir/tree/main"),), expect="gate: archived"),
    Watched("hylo", "hylo", repos=(_gh("hylo-lang/hyloc"),), expect="gate: moved to hylo-lang/hylo"),
    Watched("clang_lifetime", "clang", "lifetime-trunk", (_gh("llvm-lifetime/llvm-project"),), expect="gate: 404"),
    Watched(
        "clang_hana",
        "clang",
        "hana-clang-trunk",
        (_gh("hanickadot/llvm-project/tree/compiler-explorer/hana-clang"),),
        expect="gate: no such branch",
    ),
    Watched("c3c", "c3c", repos=(_gh("c3lang"),), expect="gate: not a repository URL"),
)
LOCAL_FAILING_NIGHTS = 12
LOCAL_SILENT_NIGHTS = 5
STALE_FAILING_NIGHTS = 20
ARCHIVED_DAYS_AGO = 288  # llvm/clangir, archived on 2026-02-21, seen from early December
IDLE_DAYS = {"clang_embed": 200, "gcc_contracts": 90}
_ACTIVE = ("ThePhD/llvm-project", "bloomberg/clang-p2996", "KhronosGroup/SPIRV-Tools", "tebe6502/Mad-Pascal")


def compilers_yaml(entries: tuple[Watched, ...] = WATCHED) -> str:
    """``compilers.yaml`` as compiler-workflows writes it: flow mappings under ``compilers: daily:``."""
    lines = [
        "# The local stack's compilers.yaml (tools/local_stack/seed.py): every rule of the build watch.",
        "compilers:",
    ]
    lines.append("  daily:")
    for entry in entries:
        repos = f", repos: [{', '.join(json.dumps(url) for url in entry.repos)}]" if entry.repos else ""
        lines.append(f"    - {{ image: {entry.image}, name: {entry.name}, args: {entry.args}{repos} }}")
    lines += ["  ad_hoc:", "    - { image: gcc, command: build.sh }", ""]
    return "\n".join(lines)


def watch_history(now: datetime) -> list[dict[str, Any]]:
    """The builds of the watch's entries that ``history`` does not already seed."""
    night = last_nightly(now)
    day = timedelta(days=1)
    items: list[dict[str, Any]] = []
    items += _nightlies("clang_llvmflang", night, 200, _failing_since(LOCAL_FAILING_NIGHTS), (1800, 3600))
    items += _nightlies("tinycc", night - LOCAL_SILENT_NIGHTS * day, 200, _mostly_ok, (60, 300))
    items += _nightlies("llvm_spirv", night, 120, _newest_ok, (600, 1800))
    items += _nightlies("madpascal", night, 120, _newest_ok, (60, 300))
    for name, idle in IDLE_DAYS.items():
        # The gate stopped building a week after the last commit: nothing since, as intended.
        items += _nightlies(name, night - (idle - 7) * day, 60, _newest_ok, (1800, 3600))
    items += _nightlies("dotnet", night, 200, _failing_since(STALE_FAILING_NIGHTS), (1200, 2400))
    items += _nightlies("clang_ir", night - (ARCHIVED_DAYS_AGO - 6) * day, 60, _newest_ok, (1800, 3600))
    # A blind gate (301, 404, 422, no repository) builds every night, and fine.
    for name in ("hylo", "clang_lifetime", "clang_hana", "c3c"):
        items += _nightlies(name, night, 60, _newest_ok, (300, 1800))
    return items


def github_world(github: Any, now: datetime) -> None:
    """The repositories ``WATCHED`` points at, in a ``tools.devkit.github_fake.GitHubFake``, and compilers.yaml."""
    day = timedelta(days=1)
    noon = now.astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    if noon > now:
        noon -= day

    def commits(repo: str, branch: str, newest: datetime, count: int = 30) -> None:
        for age in range(count):
            github.add_commit(repo, branch, newest - age * day)

    github.put_file(WORKFLOWS_REPOSITORY, "compilers.yaml", "main", compilers_yaml())
    for repo in _ACTIVE:
        github.add_repo(repo, default_branch="main" if repo != "tebe6502/Mad-Pascal" else "master")
    commits("ThePhD/llvm-project", "thephd.dev", noon)
    commits("bloomberg/clang-p2996", "p2996", noon)
    commits("KhronosGroup/SPIRV-Tools", "main", noon)
    commits("tebe6502/Mad-Pascal", "master", noon)
    github.add_repo("tebe6502/Mad-Assembler", default_branch="master")
    commits("tebe6502/Mad-Assembler", "master", noon - 400 * day, 5)  # idle, beside an active target
    commits("ThePhD/llvm-project", "embed", noon - IDLE_DAYS["clang_embed"] * day)
    github.add_repo("gcc-mirror/gcc", default_branch="master")
    commits("gcc-mirror/gcc", "devel/contracts", noon - IDLE_DAYS["gcc_contracts"] * day)
    commits("gcc-mirror/gcc", "master", noon)
    github.add_repo("dotnet/runtime")
    commits("dotnet/runtime", "main", noon, 60)
    github.add_repo("llvm/clangir")
    commits("llvm/clangir", "main", noon - (ARCHIVED_DAYS_AGO + 1) * day, 60)
    github.archive("llvm/clangir")
    github.add_repo("hylo-lang/hyloc")
    commits("hylo-lang/hyloc", "main", noon)
    github.move("hylo-lang/hyloc", "hylo-lang/hylo")
    github.remove("llvm-lifetime/llvm-project")
    github.add_repo("hanickadot/llvm-project")
    commits("hanickadot/llvm-project", "main", noon, 5)  # compiler-explorer/hana-clang was renamed away


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


def _failing_since(nights: int) -> Callable[[int, random.Random], str]:
    """Failed (as post-run.sh writes it, status "") the newest ``nights`` nights, fine before."""

    def status(age: int, rng: random.Random) -> str:
        return BROKEN if age < nights else _newest_ok(age - nights, rng)

    return status


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
