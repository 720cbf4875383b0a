"""The stateful resources' template (resources/stateful.yaml): named as production names things (and
every other stage apart from them), sized so that nothing expires before it can be retried, and ready
to adopt production's existing resources by a resource import. The stack it is merged into (cfn-lint,
event sources, variables, alarms, the failure destination) is test_packaging's."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import app as stats_app
from chalicelib import settings
from deploy import template

ROOT = Path(__file__).resolve().parent.parent
PROD = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]["prod"]["lambda_functions"]
ARCHIVER_TIMEOUT = PROD["archive_stats"]["lambda_timeout"]
PRODUCTION_RETENTION = 600  # production.md: what the queue has today


@pytest.fixture(scope="module")
def stateful() -> dict[str, Any]:
    """resources/stateful.yaml for stage prod."""
    return template.for_stage(yaml.safe_load(template.STATEFUL.read_text()), "prod")["Resources"]


def archiver_source() -> Any:
    (source,) = [s for s in stats_app.app.event_sources if getattr(s, "queue", None) == settings.STATS_QUEUE_NAME]
    return source


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
    dev = template.for_stage(yaml.safe_load(template.STATEFUL.read_text()), "dev")["Resources"]
    # Each stage's forwarder names the table its own stack creates.
    for name, created in (("prod", table), ("dev", dev["AlertStateTable"]["Properties"])):
        forwarder = stages[name]["lambda_functions"]["forward_alert"]["environment_variables"]
        assert forwarder["ALERT_STATE_TABLE"] == created["TableName"], name
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


# What production has, by name (production.md); every other stage's names are these, suffixed.
PRODUCTION_NAMES = {
    "queues": ["CompilerExplorerAlert-failed", "CompilerExplorerStats", "CompilerExplorerStats-dead-letter"],
    "tables": ["compiler-builds", "compiler-explorer-alerts"],
    "buckets": ["compiler-explorer-logs"],
    "topics": ["CompilerExplorerAlert"],
    "alarms": [
        "CompilerExplorerAlert-undelivered",
        "CompilerExplorerStats-backlog",
        "CompilerExplorerStats-dead-letters",
    ],
}
DEV_NAMES = {
    "queues": [
        "CompilerExplorerAlert-dev-failed",
        "CompilerExplorerStats-dev",
        "CompilerExplorerStats-dev-dead-letter",
    ],
    "tables": ["compiler-builds-dev", "compiler-explorer-alerts-dev"],
    "buckets": ["compiler-explorer-logs-dev"],
    "topics": ["CompilerExplorerAlert-dev"],
    "alarms": [
        "CompilerExplorerAlert-dev-undelivered",
        "CompilerExplorerStats-dev-backlog",
        "CompilerExplorerStats-dev-dead-letters",
    ],
}


def created(boto: Any) -> dict[str, list[str]]:
    """The names of everything in the emulator, by kind (moto's CloudFormation makes no alarms)."""
    return {
        "queues": sorted(url.rsplit("/", 1)[1] for url in boto("sqs").list_queues().get("QueueUrls", [])),
        "tables": sorted(boto("dynamodb").list_tables()["TableNames"]),
        "buckets": sorted(bucket["Name"] for bucket in boto("s3").list_buckets()["Buckets"]),
        "topics": sorted(topic["TopicArn"].rsplit(":", 1)[1] for topic in boto("sns").list_topics()["Topics"]),
    }


NAME_PROPERTY = {"AWS::SQS::Queue": "QueueName", "AWS::DynamoDB::Table": "TableName", "AWS::S3::Bucket": "BucketName"}
NAME_PROPERTY |= {"AWS::SNS::Topic": "TopicName", "AWS::CloudWatch::Alarm": "AlarmName"}
KIND = {"AWS::SQS::Queue": "queues", "AWS::DynamoDB::Table": "tables", "AWS::S3::Bucket": "buckets"}
KIND |= {"AWS::SNS::Topic": "topics", "AWS::CloudWatch::Alarm": "alarms"}


@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")  # its alarms
@pytest.mark.parametrize(("stage", "names"), [("prod", PRODUCTION_NAMES), ("dev", DEV_NAMES)])
def test_the_stack_of_a_stage_creates_that_stages_names_and_prod_keeps_productions(
    boto: Any, stage: str, names: dict[str, list[str]]
) -> None:
    template.create_stateful_stack(boto("cloudformation"), f"resources-{stage}", stage=stage)

    assert created(boto) == {kind: found for kind, found in names.items() if kind != "alarms"}
    # The merged stack's names (for_stage works the Stage parameter out itself) are the same.
    resolved = template.for_stage(yaml.safe_load(template.STATEFUL.read_text()), stage)["Resources"]
    by_kind: dict[str, list[str]] = {}
    for resource in resolved.values():
        by_kind.setdefault(KIND[resource["Type"]], []).append(resource["Properties"][NAME_PROPERTY[resource["Type"]]])
    assert {kind: sorted(found) for kind, found in by_kind.items()} == names


# ---- adopting production's resources: a resource import, not a create ---------------------------


def test_the_import_template_holds_productions_four_resources_and_nothing_to_create() -> None:
    imported = template.import_template("prod")

    resources = imported["Resources"]
    assert set(resources) == {"StatsQueue", "BuildTable", "ArchiveBucket", "AlertTopic"}
    # CloudFormation imports only what it would keep if the stack went, and an import may
    # neither create (no reference to another resource) nor output anything.
    assert all(r["DeletionPolicy"] == "Retain" for r in resources.values())
    assert "Outputs" not in imported and "Parameters" not in imported
    assert not any(key in json.dumps(imported) for key in ('"Ref"', '"Fn::', "${"))
    names = {
        "StatsQueue": resources["StatsQueue"]["Properties"]["QueueName"],
        "BuildTable": resources["BuildTable"]["Properties"]["TableName"],
        "ArchiveBucket": resources["ArchiveBucket"]["Properties"]["BucketName"],
        "AlertTopic": resources["AlertTopic"]["Properties"]["TopicName"],
    }
    assert names == {
        "StatsQueue": "CompilerExplorerStats",
        "BuildTable": "compiler-builds",
        "ArchiveBucket": "compiler-explorer-logs",
        "AlertTopic": "CompilerExplorerAlert",
    }
    # The update after the import changes nothing about what identifies a resource, or the table.
    full = template.for_stage(yaml.safe_load(template.STATEFUL.read_text()), "prod")["Resources"]
    for logical_id, resource in resources.items():
        assert resource["Type"] == full[logical_id]["Type"]
        for key, value in resource["Properties"].items():
            assert full[logical_id]["Properties"][key] == value, (logical_id, key)


def test_the_resources_to_import_identify_productions_resources() -> None:
    assert template.resources_to_import("prod") == [
        {
            "ResourceType": "AWS::SQS::Queue",
            "LogicalResourceId": "StatsQueue",
            "ResourceIdentifier": {
                "QueueUrl": "https://sqs.us-east-1.amazonaws.com/052730242331/CompilerExplorerStats"
            },
        },
        {
            "ResourceType": "AWS::DynamoDB::Table",
            "LogicalResourceId": "BuildTable",
            "ResourceIdentifier": {"TableName": "compiler-builds"},
        },
        {
            "ResourceType": "AWS::S3::Bucket",
            "LogicalResourceId": "ArchiveBucket",
            "ResourceIdentifier": {"BucketName": "compiler-explorer-logs"},
        },
        {
            "ResourceType": "AWS::SNS::Topic",
            "LogicalResourceId": "AlertTopic",
            "ResourceIdentifier": {"TopicArn": "arn:aws:sns:us-east-1:052730242331:CompilerExplorerAlert"},
        },
    ]


def test_the_import_template_passes_cfn_lint(tmp_path: Path) -> None:
    result = template.lint(template.write_import("prod", tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "resources-to-import.json").read_text()) == template.resources_to_import("prod")
