"""`make package`: the SAM template Chalice writes deploys what production needs, and passes cfn-lint;
the dev stage's stack names nothing of production's."""

import json
import os
import re
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT_ARN = "us-east-1:052730242331"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`chalice package --stage prod` into a temporary folder, and cfn-lint over its template."""
    out = tmp_path_factory.mktemp("package")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run(
        [str(ROOT / ".venv/bin/chalice"), "package", "--stage", "prod", str(out)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    lint = subprocess.run(
        [str(ROOT / ".venv/bin/cfn-lint"), str(out / "sam.json")], capture_output=True, text=True, timeout=300
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    return out


@pytest.fixture(scope="module")
def resources(package: Path) -> dict[str, Any]:
    return json.loads((package / "sam.json").read_text())["Resources"]


def statements(role: dict[str, Any]) -> dict[str, tuple[list[str], Any]]:
    (policy,) = role["Properties"]["Policies"]
    return {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in policy["PolicyDocument"]["Statement"]}


def test_each_function_has_its_own_least_privilege_policy(resources: dict[str, Any]) -> None:
    logs = (["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], "arn:aws:logs:*:*:*")
    assert statements(resources["ApiHandlerRole"]) == {
        "WriteOwnLogs": logs,
        "QueuePageLoads": (["sqs:SendMessage"], f"arn:aws:sqs:{ACCOUNT_ARN}:CompilerExplorerStats"),
        "ReadBuildStatus": (["dynamodb:Query"], f"arn:aws:dynamodb:{ACCOUNT_ARN}:table/compiler-builds"),
    }
    assert statements(resources["ArchiveStatsRole"]) == {
        "WriteOwnLogs": logs,
        "PollStatsQueue": (
            ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            f"arn:aws:sqs:{ACCOUNT_ARN}:CompilerExplorerStats",
        ),
        "WriteArchive": (["s3:PutObject"], "arn:aws:s3:::compiler-explorer-logs/stats/*"),
    }
    assert statements(resources["ForwardAlertRole"]) == {
        "WriteOwnLogs": logs,
        "ReadWebhookUrl": (["ssm:GetParameter"], f"arn:aws:ssm:{ACCOUNT_ARN}:parameter/admin/discord_webhook_url"),
        "ParkUndeliveredAlerts": (["sqs:SendMessage"], f"arn:aws:sqs:{ACCOUNT_ARN}:CompilerExplorerAlert-failed"),
        "RenderAlarmGraphs": (["cloudwatch:GetMetricWidgetImage"], "*"),
    }


def test_every_function_runs_on_python_3_13(resources: dict[str, Any]) -> None:
    # chalice targets the Python that runs it: this fails if .venv was made with another one.
    functions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
    assert {name: f["Runtime"] for name, f in functions.items()} == dict.fromkeys(
        ("APIHandler", "ArchiveStats", "ForwardAlert"), "python3.13"
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
    }


def test_the_api_has_both_routes_with_cors_preflight(resources: dict[str, Any]) -> None:
    paths = resources["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    assert set(paths) == {"/pageload", "/compiler-build/{compiler}"}
    assert set(paths["/pageload"]) == {"post", "options"}
    assert set(paths["/compiler-build/{compiler}"]) == {"get", "options"}
    variables = resources["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert variables["COMPILER_BUILD_TABLE"] == "compiler-builds"
    assert variables["SQS_STATS_QUEUE"] == "https://sqs.us-east-1.amazonaws.com/052730242331/CompilerExplorerStats"


def test_the_zip_holds_no_boto3_and_no_dev_tooling(package: Path) -> None:
    names = zipfile.ZipFile(package / "deployment.zip").namelist()
    top = {name.split("/")[0] for name in names}
    assert not top & {"boto3", "botocore", "moto", "s3transfer", "tests", "local_stack", "benchmarks", "reliability"}
    assert "deploy" not in top
    assert {"app.py", "chalicelib", "aws_embedded_metrics", "requests"} <= top


# ---- the dev stage: its own queue, table, bucket, topic, parameter and metric stream ----------

# Production's resource names: in dev's stack each may appear only as the start of a -dev name.
PRODUCTION_NAME = re.compile(
    r"CompilerExplorerStats|CompilerExplorerAlert|compiler-builds|compiler-explorer-logs|discord_webhook_url"
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
