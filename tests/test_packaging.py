"""`make package`: the SAM template Chalice writes deploys what production needs, and passes cfn-lint."""

import json
import os
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

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
        "KeepAlertState": (
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            f"arn:aws:dynamodb:{ACCOUNT_ARN}:table/compiler-explorer-alerts",
        ),
        "ParkUndeliveredAlerts": (["sqs:SendMessage"], f"arn:aws:sqs:{ACCOUNT_ARN}:CompilerExplorerAlert-failed"),
    }


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
    assert {"app.py", "chalicelib", "aws_embedded_metrics", "requests"} <= top
