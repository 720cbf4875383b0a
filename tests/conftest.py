"""Fixtures: a moto server for AWS, the production-named resources in it, the Chalice test client."""

import os

# Before anything imports aws-embedded-metrics (it reads its settings once, at import) or boto3:
# print metrics instead of looking for a CloudWatch agent, and never touch a real AWS account.
os.environ["AWS_EMF_ENVIRONMENT"] = "Local"
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
for _variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "WEBHOOK_URL", "WEBHOOK_URL_PARAMETER"):
    os.environ.pop(_variable, None)

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402

import app as stats_app  # noqa: E402
from chalicelib import aws, forwarder  # noqa: E402
from local_stack import resources  # noqa: E402
from tests.support import WebhookReceiver, free_port  # noqa: E402

QUEUE = "CompilerExplorerStats"
TABLE = "compiler-builds"
BUCKET = "compiler-explorer-logs"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on a free loopback port, for the whole session."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def isolated(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with an empty emulator and no cached clients or webhook URL."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    aws.reset()
    forwarder.forget_cached_url()
    yield
    aws.reset()
    forwarder.forget_cached_url()


@pytest.fixture
def boto(moto_endpoint: str) -> Any:
    """A factory of boto3 clients for checking what reached the emulator."""
    return lambda service: boto3.client(service, endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def queue_url(boto: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The stats queue, created in the emulator, with SQS_STATS_QUEUE pointing at it."""
    url = boto("sqs").create_queue(QueueName=QUEUE)["QueueUrl"]
    monkeypatch.setenv("SQS_STATS_QUEUE", url)
    return url


@pytest.fixture
def table(boto: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The build table with production's keys, with COMPILER_BUILD_TABLE naming it."""
    resources.create_build_table(boto("dynamodb"), TABLE)
    monkeypatch.setenv("COMPILER_BUILD_TABLE", TABLE)
    return TABLE


@pytest.fixture
def bucket(boto: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The archive bucket, with S3_BUCKET_NAME naming it."""
    boto("s3").create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("S3_BUCKET_NAME", BUCKET)
    return BUCKET


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    """A local Discord stand-in, with WEBHOOK_URL pointing at it."""
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("WEBHOOK_URL", receiver.url)
        yield receiver


@pytest.fixture
def client() -> Iterator[Client]:
    """Chalice's test client, on a stage with no configured variables: the fixtures set them."""
    with Client(stats_app.app, stage_name="test") as test_client:
        yield test_client


@pytest.fixture(scope="session")
def packaged_stack(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """`make package-stack` for a stage, at most once a test run: the path of the SAM template."""
    from deploy import template

    built: dict[str, Path] = {}

    def package(stage: str) -> Path:
        if stage not in built:
            built[stage] = template.package(stage, tmp_path_factory.mktemp(f"stack-{stage}") / "out")
        return built[stage]

    return package
