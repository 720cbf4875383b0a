"""`make bench`'s targets (tools/benchmarks/report.py), checked in milliseconds against the committed results
of its last full run: every structural target met, and each one missed when its figure is broken.

The benchmark itself runs in `make bench` (`make bench BENCH_ARGS=--quick` for a quick run, under two
minutes), which exits 1 when a structural target is missed; timings are reported, never asserted.
"""

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tools.benchmarks import report
from tools.benchmarks.coldstart import cost_per_million, modelled_ms

RESULTS = Path(__file__).resolve().parent.parent / "tools" / "benchmarks" / "results.json"


@pytest.fixture(scope="module")
def last_run() -> dict[str, Any]:
    """tools/benchmarks/results.json: the full run the README's figures come from."""
    return json.loads(RESULTS.read_text())


def missed(results: dict[str, Any]) -> list[str]:
    return [t.name for t in report.targets(results) if t.kind == "structural" and not t.met]


def test_the_last_full_run_met_every_structural_target(last_run: dict[str, Any]) -> None:
    assert last_run["mode"] == "full"
    assert missed(last_run) == []
    # What it wrote is what the report makes of its figures today.
    assert [t["name"] for t in last_run["targets"] if t["kind"] == "structural" and not t["met"]] == []


def test_the_table_has_every_row(last_run: dict[str, Any]) -> None:
    rows = {line.split("|")[1].strip() for line in report.table(last_run).splitlines()}
    assert {"1", "2", "3", "4", "5", "6", "7"} <= rows


def _row(results: dict[str, Any], key: str, field: str, value: str) -> dict[str, Any]:
    (row,) = [row for row in results[key] if row[field] == value]
    return row


def _cold(results: dict[str, Any], target: str) -> dict[str, Any]:
    return _row(results["coldstart"], "rows", "project_target", target)


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def breaks(results: dict[str, Any]) -> None:
        path(results)[key] = value

    return breaks


# Each figure broken the way a regression (or a blind measurement) would break it, and the target that says so.
BROKEN = {
    "a page load sends two requests": (
        _set(lambda r: r["pageload"][0]["project"], "requests_by_operation_per_call", {"sqs:SendMessageBatch": 2.0}),
        "page load: 1 SQS request",
    ),
    "the request counter is blind": (
        _set(lambda r: r["pageload"][0]["baseline"], "requests_by_operation_per_call", {}),
        "page load: 1 SQS request",
    ),
    "a message is lost": (_set(lambda r: r["pageload"][1]["project"], "messages_queued", 0), "page load: every"),
    "a common lookup takes two queries": (
        _set(
            lambda r: _row(r, "build", "history", "ok-5-back")["project"],
            "requests_by_operation_per_call",
            {"dynamodb:Query": 2.0},
        ),
        "build lookup: 1 DynamoDB Query",
    ),
    "the correctness check is blind": (
        _set(lambda r: _row(r, "build", "history", "ok-150-back")["baseline"], "correct", True),
        "build lookup: last OK 150",
    ),
    "`import app` loads boto3": (
        _set(lambda r: r["coldstart"]["plain_import"], "modules", ["boto3"]),
        "`import app` outside Lambda",
    ),
    "the first call imports what init did not": (
        _set(lambda r: _cold(r, "project:archiver")["unthrottled"]["project"], "modules_after_call", ["boto3", "x"]),
        "cold start: each function's init",
    ),
    "an alert builds a client it does not need": (
        _set(lambda r: _cold(r, "project:forwarder")["unthrottled"]["project"], "clients_after_call", ["sqs"]),
        "cold start: no function loads",
    ),
    "init sends a request": (
        _set(lambda r: _cold(r, "project:build"), "aws_requests_as_invocations", False),
        "cold start: a cold process sends",
    ),
    "a cgroup is left behind": (
        _set(lambda r: r["coldstart"]["throttle"], "groups_left", ["/sys/fs/cgroup/cpu/x"]),
        "cold start: throttled rows",
    ),
    "a size is not priced": (_set(lambda r: r["coldstart"], "memory", []), "cold start: the memory table"),
    "boto3 in the zip": (_set(lambda r: r["package"], "aws_sdk_in_zip", ["boto3"]), "deployment zip"),
    "a page load is not archived": (
        _set(lambda r: r["throughput"], "all_archived", False),
        "local stack: every page load",
    ),
    "an alert is posted twice": (_set(lambda r: r["noise"]["project"], "duplicates", 1), "alert noise: 0 duplicates"),
    "a return to ALARM reaches nobody": (
        _set(lambda r: r["noise"]["project"], "returns_reached", 0),
        "alert noise: every return to ALARM",
    ),
    "an incident pings three times": (
        _set(lambda r: r["noise"]["project"], "most_pings_per_incident", 3),
        "alert noise: at most 2 pings",
    ),
    "the build watch calls out a healthy build": (
        _set(lambda r: r["build_watch"]["watch"], "false_alarms", 1),
        "build watch: 0 false alarms",
    ),
    "the build watch reports a problem late": (
        _set(lambda r: r["build_watch"]["watch"]["problems"][0], "days_to_report", None),
        "build watch: every injected problem reported",
    ),
    "the build watch pings twice for one problem": (
        _set(lambda r: r["build_watch"]["watch"]["problems"][0], "notifying_posts", 2),
        "build watch: at most one notifying post",
    ),
    "a retried run posts again": (
        _set(lambda r: r["build_watch"]["watch"], "retry_posts", 1),
        "build watch: a retried invocation",
    ),
    "the month has no crash": (
        _set(lambda r: r["noise"]["scenario"], "faults", {}),
        "alert noise: the stream had",
    ),
}


@pytest.mark.parametrize("broken", BROKEN, ids=list(BROKEN))
def test_a_broken_figure_misses_its_target(last_run: dict[str, Any], broken: str) -> None:
    breaks, target = BROKEN[broken]
    results = copy.deepcopy(last_run)
    breaks(results)

    (name,) = missed(results)
    assert name.startswith(target), name


def test_the_model_stretches_cpu_time_by_the_share_and_keeps_the_wait() -> None:
    # 1,769 MB is one vCPU: 10 ms of CPU at 128 MB takes 10 × 1769/128 ms, the 5 ms wait stays 5.
    assert modelled_ms(15, 10, 128) == pytest.approx(10 * 1769 / 128 + 5)
    assert modelled_ms(10, 10, 1769) == pytest.approx(10)


def test_cost_per_million_bills_whole_milliseconds_and_the_request_charge() -> None:
    # 1 GB for 1 s a call: a million GB-seconds, plus $0.20 for the requests.
    assert cost_per_million(1000, 1024) == pytest.approx(16.6667 + 0.20)
    assert cost_per_million(0.2, 128) == cost_per_million(1, 128)
