"""`make bench` in quick mode: every row still runs, and the structural targets hold (never timings)."""

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SDK = {"boto3", "botocore"}

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, packaged_stack: Callable[[str], Path]) -> dict[str, Any]:
    """One quick run of the benchmark (its own moto server, fresh processes, local stack), taking apart
    the zip the test run's one `chalice package` built."""
    output = tmp_path_factory.mktemp("bench") / "results.json"
    built_zip = packaged_stack("prod").parent / "deployment.zip"
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output), "--zip", str(built_zip)],
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
    """The unthrottled cold-start summary of a project target."""
    (row,) = [row for row in bench["coldstart"]["rows"] if row["project_target"] == target]
    return row["unthrottled"]["project"]


def test_every_row_is_in_the_printed_table(bench: dict[str, Any]) -> None:
    rows = {line.split("|")[1].strip() for line in bench["stdout"].splitlines() if line.startswith("| ")}
    assert {"1", "2", "3", "4", "5", "6", "7"} <= rows


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


def test_import_app_outside_lambda_loads_no_aws_sdk_requests_or_metrics_library(bench: dict[str, Any]) -> None:
    assert bench["coldstart"]["plain_import"]["modules"] == []
    # The same probe sees the baseline's imports, so it is not blind.
    baseline = bench["coldstart"]["rows"][0]["unthrottled"]["baseline"]
    assert {"boto3", "aws_embedded_metrics"} <= set(baseline["modules_after_import"])


def test_each_function_loads_at_init_what_its_first_call_needs(bench: dict[str, Any]) -> None:
    for row in bench["coldstart"]["rows"]:
        for summary in [row["unthrottled"]["project"], *(m["project"] for m in row["throttled"].values())]:
            assert set(summary["modules_after_call"]) <= set(summary["modules_after_import"]), row["project_target"]


def test_the_alert_forwarder_loads_boto3_only_for_what_it_calls_itself(bench: dict[str, Any]) -> None:
    # As production runs it: the state store and the graph, and for the -ssm target the parameter.
    forwarder, ssm = coldstart(bench, "project:forwarder"), coldstart(bench, "project:forwarder-ssm")
    assert set(forwarder["modules_after_call"]) == SDK | {"requests"}
    assert SDK <= set(forwarder["modules_after_import"]) and SDK <= set(ssm["modules_after_import"])
    assert forwarder["clients_after_call"] == ["cloudwatch@us-east-1", "dynamodb-alerts"]
    assert ssm["clients_after_call"] == ["cloudwatch@us-east-1", "dynamodb-alerts", "ssm"]
    for summary in (forwarder, ssm):
        assert "aws_embedded_metrics" not in summary["modules_after_call"]


def test_only_the_api_loads_the_metrics_library(bench: dict[str, Any]) -> None:
    for target in ("project:archiver", "project:forwarder", "project:forwarder-ssm"):
        assert "aws_embedded_metrics" not in coldstart(bench, target)["modules_after_call"], target
    for target in ("project:pageload", "project:build"):
        assert "aws_embedded_metrics" in coldstart(bench, target)["modules_after_import"], target


def test_every_cold_start_reached_the_queue_table_bucket_or_webhook(bench: dict[str, Any]) -> None:
    for row in bench["coldstart"]["rows"]:
        assert row["did_its_work"] == {"project": True, "baseline": True}, row["project_target"]


def test_a_cold_process_sends_aws_only_what_its_invocations_need(bench: dict[str, Any]) -> None:
    for row in bench["coldstart"]["rows"]:
        assert row["aws_requests_as_invocations"], row["project_target"]
    # Three invocations (one cold, two warm), and the SSM parameter read once.
    assert coldstart(bench, "project:pageload")["aws_requests"] == {"sqs:SendMessageBatch": 3}
    # Each alert a new incident: claimed, locked, saved before and after its post, done; and drawn.
    alerts = {"dynamodb:PutItem": 3, "dynamodb:UpdateItem": 12, "monitoring:GetMetricWidgetImage": 3}
    assert coldstart(bench, "project:forwarder")["aws_requests"] == alerts
    assert coldstart(bench, "project:forwarder-ssm")["aws_requests"] == {**alerts, "ssm:GetParameter": 1}


def test_every_entry_point_is_throttled_or_modelled_at_its_memory_and_at_128_mb(bench: dict[str, Any]) -> None:
    throttle = bench["coldstart"]["throttle"]
    for row in bench["coldstart"]["rows"]:
        sizes = {str(row["memory_mb"]), "128"}
        assert set(row["modelled"]) == sizes, row["project_target"]
        assert set(row["throttled"]) == (sizes if throttle["mechanism"] else set()), row["project_target"]
    if throttle["mechanism"]:
        assert throttle["groups"]
    assert throttle["groups_left"] == []
    assert not any(Path(group).exists() for group in throttle["groups"])


def test_the_memory_table_prices_every_function_at_each_size(bench: dict[str, Any]) -> None:
    rows = bench["coldstart"]["memory"]
    assert {(row["target"], row["memory_mb"]) for row in rows} >= {
        (target, size)
        for target in ("project:pageload", "project:build", "project:archiver", "project:forwarder-ssm")
        for size in (128, 256)
    }
    for row in rows:
        # At least the request charge, and more for any duration at all.
        assert row["cold_cost_per_million"] > row["warm_cost_per_million"] > 0.20, row


def test_the_deployment_zip_holds_no_aws_sdk_and_nothing_beyond_requirements(bench: dict[str, Any]) -> None:
    package = bench["package"]
    assert package["aws_sdk_in_zip"] == []
    assert package["beyond_requirements"] == []
    assert package["required_but_missing"] == []
    assert package["unowned_files"] == []
    assert "aws-embedded-metrics" in package["parts"]
    assert "app (app.py, chalicelib/)" in package["parts"]  # and, unowned_files says, no dev tooling


def test_the_local_stack_archives_every_page_load_it_accepts(bench: dict[str, Any]) -> None:
    throughput = bench["throughput"]
    if not throughput["available"]:
        pytest.skip(throughput["note"])
    assert throughput["accepted"] == throughput["sent"] > 0
    assert throughput["all_archived"]


def test_the_model_stretches_cpu_time_by_the_share_and_keeps_the_wait() -> None:
    from benchmarks.coldstart import modelled_ms

    # 1,769 MB is one vCPU: 10 ms of CPU at 128 MB takes 10 × 1769/128 ms, the 5 ms wait stays 5.
    assert modelled_ms(15, 10, 128) == pytest.approx(10 * 1769 / 128 + 5)
    assert modelled_ms(10, 10, 1769) == pytest.approx(10)


def test_cost_per_million_bills_whole_milliseconds_and_the_request_charge() -> None:
    from benchmarks.coldstart import cost_per_million

    # 1 GB for 1 s a call: a million GB-seconds, plus $0.20 for the requests.
    assert cost_per_million(1000, 1024) == pytest.approx(16.6667 + 0.20)
    assert cost_per_million(0.2, 128) == cost_per_million(1, 128)


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
    # Whoever read "OK" hears of the next ALARM; an incident pings at most twice.
    assert ours["returns_reached"] == ours["returns_to_alarm"] > 0
    assert ours["most_pings_per_incident"] == 2
    # Beside the old forwarder: one pinging post per SNS message, duplicates and all.
    assert noise["old"]["pinging_posts"] == scenario["sns_messages_in"] > ours["pinging_posts"]
    assert noise["old"]["duplicates"] > 0


def test_the_build_watch_row_replays_its_days_through_the_real_handler(bench: dict[str, Any]) -> None:
    watch = bench["build_watch"]
    if not watch["available"]:
        pytest.skip(watch["note"])
    scenario, runs, ours = watch["scenario"], watch["runs"], watch["watch"]
    # One invocation a day, Lambda's retries on the down days, and the second runs on top.
    assert runs["invocations"] >= scenario["days"]
    assert runs["failed_on_up_days"] == 0
    assert {p["compiler"] for p in ours["problems"]} == set(scenario["injected"])
    for problem in ours["problems"]:
        assert problem["days_to_report"] is not None, problem
        assert problem["days_to_report"] <= problem["due_within_days"], problem
        assert problem["notifying_posts"] == 1, problem
    assert ours["false_alarms"] == 0 and ours["second_run_posts"] == ours["retry_posts"] == 0
    assert 0 < runs["github_requests_per_run"]["max"] <= watch["github_budget"]
    assert runs["dynamodb_requests_per_run"]["mean"] > 0
    # Beside it, the naive rule cries wolf and "nothing" says nothing.
    assert watch["naive"]["false_alarms"] > 0
    assert watch["nothing"]["notifying_posts"] == watch["nothing"]["reported"] == 0
    cold = watch["coldstart"]
    assert cold["memory_mb"] == 256 and cold["dynamodb_requests_per_process"][0] > 0
    assert "aws_embedded_metrics" not in cold["modules_after_call"]
