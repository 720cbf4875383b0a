"""`make package`: the SAM template Chalice writes deploys what production needs, and passes cfn-lint;
the dev stage's stack names nothing of production's."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ARN = "us-east-1:052730242331"


@pytest.fixture(scope="module")
def resources(packaged_stack: Callable[[str], Path]) -> dict[str, Any]:
    """The prod template `chalice package` writes (merged with resources/, linted by test_reliability_resources)."""
    return yaml.safe_load(packaged_stack("prod").read_text())["Resources"]


def statements(role: dict[str, Any]) -> dict[str, tuple[list[str], Any]]:
    (policy,) = role["Properties"]["Policies"]
    return {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in policy["PolicyDocument"]["Statement"]}


def test_every_function_runs_on_python_3_13(resources: dict[str, Any]) -> None:
    # chalice targets the Python that runs it: this fails if .venv was made with another one.
    functions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert {name: f["Runtime"] for name, f in functions.items()} == dict.fromkeys(
        ("APIHandler", "ArchiveStats", "ForwardAlert", "WatchBuilds"), "python3.13"
    )


def test_each_packaged_handler_has_its_warm_up(resources: dict[str, Any]) -> None:
    # chalicelib.warmup is keyed by _HANDLER, which Lambda takes from these: a renamed handler
    # would silently lose its warm-up.
    from chalicelib import warmup

    handlers = {r["Properties"]["Handler"] for r in resources.values() if r["Type"] == "AWS::Serverless::Function"}
    assert handlers == set(warmup.WARM_UPS)


def test_the_archiver_reads_the_queue_in_batches_of_100_within_300_seconds(resources: dict[str, Any]) -> None:
    function = resources["ArchiveStats"]["Properties"]
    (source,) = function["Events"].values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["BatchSize"] == 100
    assert source["Properties"]["MaximumBatchingWindowInSeconds"] == 300
    assert source["Properties"]["Queue"]["Fn::Sub"].endswith(":CompilerExplorerStats")
    assert function["Environment"]["Variables"]["S3_BUCKET_NAME"] == "compiler-explorer-logs"


def test_the_forwarder_subscribes_to_the_alert_topic(resources: dict[str, Any]) -> None:
    function = resources["ForwardAlert"]["Properties"]
    (source,) = function["Events"].values()
    assert source["Type"] == "SNS"
    assert source["Properties"]["Topic"]["Fn::Sub"].endswith(":CompilerExplorerAlert")
    assert function["Environment"]["Variables"] == {
        "AWS_EMF_ENVIRONMENT": "Lambda",
        "WEBHOOK_URL_PARAMETER": "/admin/discord_webhook_url",
        "ALERT_STATE_TABLE": "compiler-explorer-alerts",
    }


def test_the_build_watch_runs_daily_at_six_with_its_own_settings(resources: dict[str, Any]) -> None:
    function = resources["WatchBuilds"]["Properties"]
    (source,) = function["Events"].values()
    assert source["Type"] == "Schedule"
    assert source["Properties"]["Schedule"] == "cron(0 6 * * ? *)"
    assert (function["Timeout"], function["MemorySize"]) == (120, 256)
    assert function["Environment"]["Variables"] == {
        "AWS_EMF_ENVIRONMENT": "Lambda",
        "COMPILER_BUILD_TABLE": "compiler-builds",
        "ALERT_STATE_TABLE": "compiler-explorer-alerts",
        "WEBHOOK_URL_PARAMETER": "/admin/discord_webhook_url",
        "GITHUB_TOKEN_PARAMETER": "/admin/github_build_watch_token",
    }


def test_the_api_reads_productions_table_and_queue(resources: dict[str, Any]) -> None:
    # Its routes, CORS and role are test_reliability_security's; the zip's contents are the bench smoke test's.
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["COMPILER_BUILD_TABLE"] == "compiler-builds"
    assert variables["SQS_STATS_QUEUE"] == "https://sqs.us-east-1.amazonaws.com/052730242331/CompilerExplorerStats"


# ---- the dev stage: its own queue, table, bucket, topic, parameter and metric stream ----------

# Production's resource names: in dev's stack each may appear only as the start of a -dev name.
PRODUCTION_NAME = re.compile(
    r"CompilerExplorerStats|CompilerExplorerAlert|compiler-builds|compiler-explorer-logs|compiler-explorer-alerts"
    r"|discord_webhook_url|github_build_watch_token"
)


@pytest.fixture(scope="module")
def dev_stack(packaged_stack: Callable[[str], Path]) -> dict[str, Any]:
    """`make package-stack STAGE=dev`: Chalice's dev template with resources/ merged in."""
    return yaml.safe_load(packaged_stack("dev").read_text())


def test_nothing_in_the_dev_stack_names_a_production_resource(dev_stack: dict[str, Any]) -> None:
    text = json.dumps(dev_stack)
    names = list(PRODUCTION_NAME.finditer(text))

    strays = [text[m.start() : m.end() + 12] for m in names if text[m.end() : m.end() + 4] != "-dev"]

    assert len(names) > 20, "the scan sees the stack's names"
    assert strays == []


def test_dev_functions_use_the_resources_the_dev_stack_creates(dev_stack: dict[str, Any]) -> None:
    resources = dev_stack["Resources"]
    archiver, forwarder = resources["ArchiveStats"]["Properties"], resources["ForwardAlert"]["Properties"]
    queue = resources["StatsQueue"]["Properties"]["QueueName"]
    topic = resources["AlertTopic"]["Properties"]["TopicName"]

    # Chalice named the event sources from the dev stage's variables; the functions read the same
    # variables at run time, so chalicelib.settings agrees with the stack.
    ((sqs_event,), (sns_event,)) = archiver["Events"].values(), forwarder["Events"].values()
    assert sqs_event["Properties"]["Queue"]["Fn::Sub"].endswith(f":{queue}")
    assert sns_event["Properties"]["Topic"]["Fn::Sub"].endswith(f":{topic}")
    for function in ("APIHandler", "ArchiveStats", "ForwardAlert"):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert (variables["STATS_QUEUE_NAME"], variables["ALERT_TOPIC_NAME"]) == (queue, topic), function
    api = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api["SQS_STATS_QUEUE"].endswith(f"/{queue}")
    assert api["COMPILER_BUILD_TABLE"] == resources["BuildTable"]["Properties"]["TableName"]
    assert (
        archiver["Environment"]["Variables"]["S3_BUCKET_NAME"] == resources["ArchiveBucket"]["Properties"]["BucketName"]
    )
    # A trial's page loads must not add to production's PageLoad graphs (chalicelib.metrics).
    assert (api["METRICS_LOG_GROUP"], api["METRICS_SERVICE_NAME"]) == ("stats-dev", "stats-dev")
    assert statements(resources["ForwardAlertRole"])["ParkUndeliveredAlerts"][1] == (
        f"arn:aws:sqs:{ACCOUNT_ARN}:" + resources["AlertFailureQueue"]["Properties"]["QueueName"]
    )


def test_the_prod_stack_sets_no_stage_names_so_production_keeps_the_defaults(resources: dict[str, Any]) -> None:
    for function in ("APIHandler", "ArchiveStats", "ForwardAlert"):
        variables = resources[function]["Properties"]["Environment"]["Variables"]
        assert not {"STATS_QUEUE_NAME", "ALERT_TOPIC_NAME"} & set(variables), function
