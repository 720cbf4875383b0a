"""`make package-stack`: the SAM template Chalice writes, merged with resources/, deploys what production's
functions need: runtimes, handlers, event sources, variables, the alert failure destination; the dev
stage's stack names nothing of production's. The resources themselves (names, sizes, retention, alarms,
cfn-lint) are test_reliability_resources'; roles and routes test_reliability_security's."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import template

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ARN = "us-east-1:052730242331"


@pytest.fixture(scope="module")
def resources(packaged_stack: Callable[[str], Path]) -> dict[str, Any]:
    """The prod stack: the template `chalice package` writes, merged with resources/."""
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
    # The stack creates the queue before it subscribes the function to it.
    assert resources["ArchiveStats"]["DependsOn"] == "StatsQueue"


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
    assert resources["ForwardAlert"]["DependsOn"] == "AlertTopic"


def test_an_alert_that_fails_every_retry_is_parked_in_the_failure_queue(resources: dict[str, Any]) -> None:
    invoke_config = resources["ForwardAlertInvokeConfig"]
    assert invoke_config["Type"] == "AWS::Lambda::EventInvokeConfig"
    properties = invoke_config["Properties"]
    assert properties["FunctionName"] == {"Ref": "ForwardAlert"}
    assert properties["Qualifier"] == "$LATEST"
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["AlertFailureQueue", "Arn"]}
    assert 1 <= properties["MaximumRetryAttempts"] <= 2
    assert resources["AlertFailureQueue"]["Type"] == "AWS::SQS::Queue"


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
    # Routes, CORS and role: test_reliability_security. The zip's contents: make bench (tools/benchmarks/report.py).
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["COMPILER_BUILD_TABLE"] == "compiler-builds"
    assert variables["SQS_STATS_QUEUE"] == "https://sqs.us-east-1.amazonaws.com/052730242331/CompilerExplorerStats"


def test_the_stateful_template_and_the_stack_pass_cfn_lint(packaged_stack: Callable[[str], Path]) -> None:
    result = template.lint(template.STATEFUL, packaged_stack("prod"))

    assert result.returncode == 0, result.stdout + result.stderr


def test_an_operator_is_told_when_messages_pile_up_or_fail(resources: dict[str, Any]) -> None:
    alarms = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    watched = {
        json.dumps(alarm["Dimensions"][0]["Value"]): alarm["MetricName"]
        for alarm in alarms.values()
        if alarm["Dimensions"]
    }
    assert watched == {
        json.dumps({"Fn::GetAtt": ["StatsDeadLetterQueue", "QueueName"]}): "ApproximateNumberOfMessagesVisible",
        json.dumps({"Fn::GetAtt": ["StatsQueue", "QueueName"]}): "ApproximateAgeOfOldestMessage",
        json.dumps({"Fn::GetAtt": ["AlertFailureQueue", "QueueName"]}): "ApproximateNumberOfMessagesVisible",
        json.dumps({"Ref": "ArchiveStats"}): "Errors",
        json.dumps({"Ref": "WatchBuilds"}): "Errors",
    }
    assert all(alarm["AlarmActions"] == [{"Ref": "AlertTopic"}] for alarm in alarms.values())
    # The build watch broken two days running (every attempt of each day's run failed) pings, and one bad day does not.
    watch = alarms["WatchBuildsErrorsAlarm"]
    assert (watch["Period"], watch["EvaluationPeriods"], watch["DatapointsToAlarm"]) == (86400, 2, 2)
    assert (watch["Threshold"], watch["ComparisonOperator"]) == (3, "GreaterThanOrEqualToThreshold")


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
    # Names are literal in a packaged stack: no parameter could turn dev's into production's.
    assert "Parameters" not in dev_stack and "Conditions" not in dev_stack


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
