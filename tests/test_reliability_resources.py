"""The stateful resources' template: valid alone and merged into Chalice's, named as production
names things, and sized so that nothing expires before it can be retried."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import app as stats_app
from chalicelib import settings
from reliability import templates

ROOT = Path(__file__).resolve().parent.parent
PROD = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["prod"]["lambda_functions"]
ARCHIVER_TIMEOUT = PROD["archive_stats"]["lambda_timeout"]
PRODUCTION_RETENTION = 600  # production.md: what the queue has today


@pytest.fixture(scope="module")
def stateful() -> dict[str, Any]:
    return yaml.safe_load(templates.STATEFUL.read_text())["Resources"]


@pytest.fixture(scope="module")
def merged() -> tuple[Path, dict[str, Any]]:
    """`chalice package --stage prod` with the merge template: the path and the template."""
    path = templates.packaged("prod")
    return path, yaml.safe_load(path.read_text())


def archiver_source() -> Any:
    (source,) = [s for s in stats_app.app.event_sources if getattr(s, "queue", None) == settings.STATS_QUEUE_NAME]
    return source


def test_the_stateful_template_and_the_merged_one_pass_cfn_lint(merged: tuple[Path, dict[str, Any]]) -> None:
    result = templates.lint(templates.STATEFUL, merged[0])

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_names_are_productions(stateful: dict[str, Any]) -> None:
    names = {
        "StatsQueue": settings.STATS_QUEUE_NAME,
        "AlertTopic": settings.ALERT_TOPIC_NAME,
        "BuildTable": PROD["api_handler"]["environment_variables"]["COMPILER_BUILD_TABLE"],
        "ArchiveBucket": PROD["archive_stats"]["environment_variables"]["S3_BUCKET_NAME"],
    }
    name_property = {"StatsQueue": "QueueName", "AlertTopic": "TopicName", "BuildTable": "TableName"}
    name_property["ArchiveBucket"] = "BucketName"
    for logical_id, name in names.items():
        assert stateful[logical_id]["Properties"][name_property[logical_id]] == name
    assert PROD["api_handler"]["environment_variables"]["SQS_STATS_QUEUE"].endswith(f"/{settings.STATS_QUEUE_NAME}")
    table = stateful["BuildTable"]["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "compiler", "KeyType": "HASH"},
        {"AttributeName": "timestamp", "KeyType": "RANGE"},
    ]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert stateful["StatsQueue"]["Properties"]["MaximumMessageSize"] == 1024


def test_the_alert_state_table_is_on_demand_expires_by_ttl_and_is_the_one_every_forwarder_names(
    stateful: dict[str, Any],
) -> None:
    table = stateful["AlertStateTable"]["Properties"]
    assert table["TableName"] == "compiler-explorer-alerts"
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    # Delivery records live a day and closed incidents a week: DynamoDB deletes them, not us.
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    stages = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
    for name in ("dev", "prod"):
        forwarder = stages[name]["lambda_functions"]["forward_alert"]["environment_variables"]
        assert forwarder["ALERT_STATE_TABLE"] == table["TableName"], name
    assert stages["local"]["environment_variables"]["ALERT_STATE_TABLE"] == table["TableName"]


def test_messages_outlive_the_batching_window_and_every_retry(stateful: dict[str, Any]) -> None:
    queue = stateful["StatsQueue"]["Properties"]
    window = archiver_source().maximum_batching_window_in_seconds
    receives = queue["RedrivePolicy"]["maxReceiveCount"]
    # AWS's advice for Lambda event sources: at least six times the timeout, plus the window.
    assert queue["VisibilityTimeout"] >= 6 * ARCHIVER_TIMEOUT + window
    # Waiting in the window, then held for a visibility timeout per failed attempt, all before
    # the message is dead-lettered: it must still exist by then.
    life_needed = window + receives * queue["VisibilityTimeout"]
    assert queue["MessageRetentionPeriod"] > life_needed
    assert PRODUCTION_RETENTION < life_needed, "production's 600 s retention is too short: why this template exists"
    dead_letters = stateful["StatsDeadLetterQueue"]["Properties"]
    # A dead-lettered message keeps its first enqueue time: the DLQ must keep it longer still.
    assert dead_letters["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["StatsDeadLetterQueue", "Arn"]}
    assert receives >= 5  # AWS's advice, so a throttled burst does not dead-letter good messages


def test_everything_stateful_survives_deleting_the_stack(stateful: dict[str, Any]) -> None:
    for logical_id, resource in stateful.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            continue
        assert resource.get("DeletionPolicy") == "Retain", logical_id
        assert resource.get("UpdateReplacePolicy") == "Retain", logical_id


def test_the_merged_template_wires_the_event_sources_and_the_alert_failure_destination(
    merged: tuple[Path, dict[str, Any]],
) -> None:
    resources = merged[1]["Resources"]
    (sqs_event,) = resources["ArchiveStats"]["Properties"]["Events"].values()
    assert sqs_event["Properties"]["BatchSize"] == 100
    assert sqs_event["Properties"]["MaximumBatchingWindowInSeconds"] == 300
    assert sqs_event["Properties"]["Queue"]["Fn::Sub"].endswith(f":{settings.STATS_QUEUE_NAME}")
    (sns_event,) = resources["ForwardAlert"]["Properties"]["Events"].values()
    assert sns_event["Properties"]["Topic"]["Fn::Sub"].endswith(f":{settings.ALERT_TOPIC_NAME}")
    # The stack creates queue and topic before it subscribes the functions to them.
    assert resources["ArchiveStats"]["DependsOn"] == "StatsQueue"
    assert resources["ForwardAlert"]["DependsOn"] == "AlertTopic"

    invoke_config = resources["ForwardAlertInvokeConfig"]
    assert invoke_config["Type"] == "AWS::Lambda::EventInvokeConfig"
    properties = invoke_config["Properties"]
    assert properties["FunctionName"] == {"Ref": "ForwardAlert"}
    assert properties["Qualifier"] == "$LATEST"
    assert properties["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["AlertFailureQueue", "Arn"]}
    assert 1 <= properties["MaximumRetryAttempts"] <= 2
    assert resources["AlertFailureQueue"]["Type"] == "AWS::SQS::Queue"


def test_an_operator_is_told_when_messages_pile_up_or_fail(merged: tuple[Path, dict[str, Any]]) -> None:
    resources = merged[1]["Resources"]
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
    }
    assert all(alarm["AlarmActions"] == [{"Ref": "AlertTopic"}] for alarm in alarms.values())
