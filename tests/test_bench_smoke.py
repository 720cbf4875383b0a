"""`make bench` in quick mode: every row still runs, and the structural targets hold (never timings)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SDK = {"boto3", "botocore"}

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick run of the benchmark (its own moto server, fresh processes, chalice package, local stack)."""
    output = tmp_path_factory.mktemp("bench") / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "WEBHOOK_URL")},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    # It exits 1 when a structural target is missed, after writing its results: the tests below
    # say which; no results at all means it crashed.
    assert output.exists(), run.stdout[-4000:] + run.stderr[-4000:]
    results = json.loads(output.read_text())
    results["stdout"], results["exit_code"] = run.stdout, run.returncode
    return results


def coldstart(bench: dict[str, Any], target: str) -> dict[str, Any]:
    (row,) = [row for row in bench["coldstart"] if row["project_target"] == target]
    return row["project"]


def test_every_row_is_in_the_printed_table(bench: dict[str, Any]) -> None:
    rows = {line.split("|")[1].strip() for line in bench["stdout"].splitlines() if line.startswith("| ")}
    assert {"1", "2", "3", "4", "5", "6"} <= rows


def test_the_run_misses_no_structural_target(bench: dict[str, Any]) -> None:
    missed = [t for t in bench["targets"] if t["kind"] == "structural" and not t["met"]]
    assert missed == []
    assert bench["exit_code"] == 0


def test_a_page_load_is_one_sqs_request_for_up_to_9_sponsors(bench: dict[str, Any]) -> None:
    for row in bench["pageload"]:
        project, baseline = row["project"], row["baseline"]
        assert project["requests_by_operation_per_call"] == {"sqs:SendMessageBatch": 1.0}, row["sponsors"]
        # The counter sees the baseline's one SendMessage per message: it counts what is sent.
        assert baseline["requests_by_operation_per_call"] == {"sqs:SendMessage": 1.0 + row["sponsors"]}
        for side in (project, baseline):
            assert side["all_200"]
            assert side["messages_queued"] == side["messages_expected"] == side["calls"] * (1 + row["sponsors"])


def test_a_build_lookup_is_one_query_when_the_newest_page_holds_an_ok_build(bench: dict[str, Any]) -> None:
    builds = {row["history"]: row for row in bench["build"]}
    for history in ("newest-ok", "ok-5-back"):
        project = builds[history]["project"]
        assert project["requests_by_operation_per_call"] == {"dynamodb:Query": 1.0}, history
        assert project["correct"], history
        assert builds[history]["baseline"]["aws_requests_per_call"] == 2


def test_a_success_150_builds_back_is_found_within_3_requests(bench: dict[str, Any]) -> None:
    (row,) = [row for row in bench["build"] if row["history"] == "ok-150-back"]
    assert row["project"]["correct"]
    assert row["project"]["answer"] == row["expected"]
    assert row["project"]["aws_requests_per_call"] <= 3
    # The seed's two Limit=100 queries cannot see it: the correctness check does catch a wrong answer.
    assert not row["baseline"]["correct"]
    assert row["baseline"]["answer"]["last_success"] is None


def test_a_build_lookup_never_reads_more_than_the_baseline(bench: dict[str, Any]) -> None:
    for row in bench["build"]:
        project, baseline = row["project"]["capacity"], row["baseline"]["capacity"]
        assert project["items_read"] <= baseline["items_read"], row["history"]
        assert project["reported_capacity_units"] <= baseline["reported_capacity_units"], row["history"]


def test_import_app_loads_no_aws_sdk_requests_or_metrics_library(bench: dict[str, Any]) -> None:
    for row in bench["coldstart"]:
        assert row["project"]["modules_after_import"] == [], row["project_target"]
    # The same probe sees the baseline's imports, so it is not blind.
    assert {"boto3", "aws_embedded_metrics"} <= set(bench["coldstart"][0]["baseline"]["modules_after_import"])


def test_the_alert_forwarder_loads_boto3_only_to_read_ssm(bench: dict[str, Any]) -> None:
    assert set(coldstart(bench, "project:forwarder")["modules_after_call"]) == {"requests"}
    assert SDK <= set(coldstart(bench, "project:forwarder-ssm")["modules_after_call"])
    assert "aws_embedded_metrics" not in coldstart(bench, "project:forwarder-ssm")["modules_after_call"]


def test_only_a_page_load_loads_the_metrics_library(bench: dict[str, Any]) -> None:
    for target in ("project:build", "project:archiver", "project:forwarder", "project:forwarder-ssm"):
        assert "aws_embedded_metrics" not in coldstart(bench, target)["modules_after_call"], target
    assert "aws_embedded_metrics" in coldstart(bench, "project:pageload")["modules_after_call"]


def test_every_cold_start_reached_the_queue_table_bucket_or_webhook(bench: dict[str, Any]) -> None:
    for row in bench["coldstart"]:
        assert row["project"]["did_its_work"], row["project_target"]
        assert row["baseline"]["did_its_work"], row["baseline_target"]


def test_the_deployment_zip_holds_no_aws_sdk_and_nothing_beyond_requirements(bench: dict[str, Any]) -> None:
    package = bench["package"]
    assert package["aws_sdk_in_zip"] == []
    assert package["beyond_requirements"] == []
    assert package["required_but_missing"] == []
    assert package["unowned_files"] == []
    assert "aws-embedded-metrics" in package["parts"]


def test_the_local_stack_archives_every_page_load_it_accepts(bench: dict[str, Any]) -> None:
    throughput = bench["throughput"]
    if not throughput["available"]:
        pytest.skip(throughput["note"])
    assert throughput["accepted"] == throughput["sent"] > 0
    assert throughput["all_archived"]


def test_the_alert_noise_row_replays_the_month_without_a_duplicate_or_a_lost_transition(bench: dict[str, Any]) -> None:
    noise = bench["noise"]
    scenario, ours, runs = noise["scenario"], noise["project"], noise["lambda"]
    # The stream has every kind of trouble the issue lists, and several invocations at once.
    assert min(scenario["redeliveries"], scenario["second_publications"], scenario["late"], runs["retries"]) > 0
    assert {"crash after post", "rate limited POST", "rate limited PATCH"} <= set(scenario["faults"])
    assert runs["most_at_once"] >= 4 and runs["dead_lettered"] == 0
    assert ours["duplicates"] == ours["lost_transitions"] == ours["lost_other_messages"] == 0
    assert ours["incidents_right"] == scenario["incidents_opened"] > 0 and ours["wrong"] == []
    assert ours["pinging_alarm_posts"] <= scenario["incidents_opened"]
    # Beside the old forwarder: one pinging post per SNS message, duplicates and all.
    assert noise["old"]["pinging_posts"] == scenario["sns_messages_in"] > ours["pinging_posts"]
    assert noise["old"]["duplicates"] > 0
