"""Init as Lambda runs it: each function loads what its own handler needs, and nothing else.

Every case is a fresh interpreter with ``_HANDLER`` set as Lambda sets it, which imports ``app``
and reports what ``sys.modules`` and the client cache then hold; most then invoke the handler
once, so the pre-built client is shown to reach the emulator or the webhook.
"""

import importlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from chalicelib import warmup
from tools.devkit import process
from tools.devkit.discord.fake import DiscordFake

WATCHED = (
    "boto3",
    "botocore",
    "requests",
    "aws_embedded_metrics",
    "aiohttp",
    "chalicelib.forwarder",
    "yaml",
    "chalicelib.build_watch",
)
PARAMETER = "/admin/discord_webhook_url"

# Runs in the child: keep every log record (Lambda's runtime has a root handler too), import
# app, report, then run the case's invocation (argv[1]), whose result goes in the report.
CHILD = r"""
import json, logging, sys
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append({"level": record.levelname, "logger": record.name, "message": record.getMessage()})
logging.getLogger().addHandler(Keep())
import app
from chalicelib import aws
report = {
    "modules": [name for name in WATCHED if name in sys.modules],
    "clients": aws.built(),
    "warnings": [r for r in records if r["level"] == "WARNING"],
}
namespace = {"app": app}
exec(sys.argv[1], namespace)
report["result"] = namespace.get("result")
print("\nREPORT " + json.dumps(report))
"""

PAGELOAD = """
from chalice.test import Client
with Client(app.app, stage_name="test") as client:
    result = client.http.post("/pageload?icons=alice,bob").status_code
"""
ARCHIVE_TWICE = """
from datetime import UTC, datetime
from chalice.test import Client
app.utc_now = lambda: datetime(2020, 1, 2, 3, 4, 5, 12312, tzinfo=UTC)
with Client(app.app, stage_name="test") as client:
    for body in ("one", "two"):
        event = client.events.generate_sqs_event(queue_name="CompilerExplorerStats", message_bodies=[body])
        client.lambda_.invoke("archive_stats", event)
"""
ALERT = """
from chalice.test import Client
with Client(app.app, stage_name="test") as client:
    client.lambda_.invoke("forward_alert", client.events.generate_sns_event(message="is anyone there?"))
"""
ALARM_WITH_GRAPH = """
from datetime import UTC, datetime
from chalice.test import Client
from chalicelib import aws
from tools.devkit.lambda_events import alarm_event
from tools.local_stack.alarm import site_too_slow
with Client(app.app, stage_name="test") as client:
    client.lambda_.invoke("forward_alert", alarm_event(site_too_slow("ALARM", datetime.now(UTC))))
result = aws.built()
"""


def init(handler: str | None, env: dict[str, str | None] | None = None, then: str = "") -> dict[str, Any]:
    """``import app`` in a fresh interpreter as function ``handler``, then ``then``; what it reported."""
    environment = {k: v for k, v in os.environ.items() if k != "_HANDLER"}
    for name, value in {"_HANDLER": handler, **(env or {})}.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    printed = process.run_python("-c", f"WATCHED = {WATCHED!r}\n{CHILD}", then, env=environment)
    return json.loads(printed.rsplit("\nREPORT ", 1)[1])


def test_outside_lambda_import_app_loads_nothing_heavy() -> None:
    report = init(None)
    assert report["modules"] == []
    assert report["clients"] == []
    assert report["warnings"] == []


def test_the_api_loads_its_clients_and_the_metrics_library_at_init(queue_url: str, boto: Any) -> None:
    report = init("app.app", then=PAGELOAD)

    assert report["clients"] == ["dynamodb", "sqs"]
    assert {"boto3", "aws_embedded_metrics"} <= set(report["modules"])
    # Nor aiohttp, which only aws-embedded-metrics' EC2 probe uses (chalicelib.lazy_ec2), nor the build watch's.
    assert not {"requests", "chalicelib.forwarder", "aiohttp", "yaml", "chalicelib.build_watch"} & set(
        report["modules"]
    )
    assert report["warnings"] == []
    # The pre-built SQS client is the one the page load used.
    assert report["result"] == 200
    messages = boto("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(json.loads(m["Body"])["value"] for m in messages) == ["", "alice", "bob"]


def test_the_archiver_loads_boto3_and_its_s3_client_and_keeps_if_none_match(bucket: str, boto: Any) -> None:
    report = init("app.archive_stats", then=ARCHIVE_TWICE)

    assert report["clients"] == ["s3"]
    assert "boto3" in report["modules"]
    assert not {"aws_embedded_metrics", "aiohttp", "requests", "chalicelib.forwarder"} & set(report["modules"])
    assert report["warnings"] == []
    # Two batches in one microsecond: the second write is refused by If-None-Match and moves on.
    listing = boto("s3").list_objects_v2(Bucket=bucket, Prefix="stats/")
    assert [entry["Key"] for entry in listing["Contents"]] == [
        "stats/archive_stats-2020-01-02-03:04:05.012312.log",
        "stats/archive_stats-2020-01-02-03:04:05.012313.log",
    ]


def test_the_forwarder_with_webhook_url_and_no_state_loads_requests_and_no_aws_sdk(webhook: DiscordFake) -> None:
    env = {"WEBHOOK_URL_PARAMETER": PARAMETER, "ALERT_STATE_TABLE": None}
    report = init("app.forward_alert", env, then=ALERT)

    assert {"requests", "chalicelib.forwarder"} <= set(report["modules"])
    assert not {"boto3", "botocore", "aws_embedded_metrics", "aiohttp"} & set(report["modules"])
    assert report["clients"] == []
    assert report["warnings"] == []
    assert len(webhook.posts) == 1


def test_the_forwarder_reading_ssm_loads_boto3_and_its_ssm_client(boto: Any) -> None:
    with DiscordFake() as receiver:
        boto("ssm").put_parameter(Name=PARAMETER, Value=receiver.url, Type="SecureString")
        env = {"WEBHOOK_URL": None, "WEBHOOK_URL_PARAMETER": PARAMETER, "ALERT_STATE_TABLE": None}
        report = init("app.forward_alert", env, then=ALERT)

        assert {"requests", "boto3", "chalicelib.forwarder"} <= set(report["modules"])
        assert not {"aws_embedded_metrics", "aiohttp"} & set(report["modules"])
        # boto3 is loaded anyway, so the graph's client (in the function's region) is built too.
        assert report["clients"] == ["cloudwatch@us-east-1", "ssm"]
        assert report["warnings"] == []
        assert len(receiver.posts) == 1


def test_the_forwarder_with_its_state_table_builds_the_store_and_graph_clients_at_init(
    webhook: DiscordFake, alert_table: str, boto: Any
) -> None:
    report = init("app.forward_alert", {"AWS_REGION": "us-east-1"}, then=ALARM_WITH_GRAPH)

    assert {"requests", "boto3", "chalicelib.forwarder"} <= set(report["modules"])
    assert not {"aws_embedded_metrics", "aiohttp"} & set(report["modules"])
    assert report["clients"] == ["cloudwatch@us-east-1", "dynamodb-alerts"]
    assert report["warnings"] == []
    # The alarm used the pre-built clients: its state is stored, its graph drawn, no other client built.
    assert report["result"] == report["clients"]
    (incident,) = webhook.channel()
    assert list(incident.files) == ["SiteTooSlow.png"]
    assert boto("dynamodb").scan(TableName=alert_table)["Count"] == 2  # the delivery and the alarm


def test_the_build_watch_loads_pyyaml_requests_and_its_clients_at_init() -> None:
    report = init("app.watch_builds", {"WEBHOOK_URL_PARAMETER": PARAMETER, "GITHUB_TOKEN": None})

    assert report["clients"] == ["dynamodb", "dynamodb-alerts", "ssm"]
    assert {"boto3", "requests", "yaml", "chalicelib.build_watch"} <= set(report["modules"])
    assert not {"aws_embedded_metrics", "chalicelib.forwarder"} & set(report["modules"])
    assert report["warnings"] == []


def test_init_sends_no_aws_request() -> None:
    # Every AWS request would land here (and would be recorded, whatever its method).
    with DiscordFake() as aws_endpoint:
        endpoint = aws_endpoint.url.split("/api/", 1)[0]
        for handler in warmup.WARM_UPS:
            env = {
                "AWS_ENDPOINT_URL": endpoint,
                "WEBHOOK_URL": None,
                "WEBHOOK_URL_PARAMETER": PARAMETER,
                "ALERT_STATE_TABLE": "compiler-explorer-alerts",
            }
            report = init(handler, env)
            assert report["warnings"] == [], handler
            assert report["clients"], handler
        assert aws_endpoint.requests == []


def test_a_failed_warm_up_logs_one_warning_and_the_handler_builds_its_clients_later(
    tmp_path: Path, queue_url: str, boto: Any
) -> None:
    # No region, and a config file botocore cannot parse: every boto3 session fails to start.
    broken = tmp_path / "config"
    broken.write_text("[default\nregion = us-east-1\n")
    mend = "import os\nos.environ.update(AWS_CONFIG_FILE=os.devnull, AWS_DEFAULT_REGION='us-east-1')\n"
    env = {"AWS_DEFAULT_REGION": None, "AWS_REGION": None, "AWS_CONFIG_FILE": str(broken)}

    report = init("app.app", env, then=mend + PAGELOAD)

    (warning,) = report["warnings"]
    assert warning["logger"] == "chalicelib.warmup"
    assert "sqs client: ConfigParseError" in warning["message"]
    assert "dynamodb client: ConfigParseError" in warning["message"]
    assert report["clients"] == []
    # The metrics library needs no session, so it was still loaded.
    assert "aws_embedded_metrics" in report["modules"]
    # Once the configuration is mended, the first page load builds the client itself.
    assert report["result"] == 200
    messages = boto("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 3


@pytest.mark.parametrize("handler", sorted(warmup.WARM_UPS))
def test_every_warm_up_is_for_a_handler_of_the_app(handler: str) -> None:
    module, name = handler.split(".")
    assert callable(getattr(importlib.import_module(module), name))
