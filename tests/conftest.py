"""Fixtures: a moto server for AWS, the production-named resources in it, the Discord fake, the Chalice test client."""

import fcntl
import os
import signal

from tools.devkit import names

# Before anything imports aws-embedded-metrics (it reads its settings once, at import) or boto3:
# print metrics instead of looking for a CloudWatch agent, and never touch a real AWS account.
os.environ.update({**names.CREDENTIALS, "AWS_EMF_ENVIRONMENT": "Local", "AWS_DEFAULT_REGION": names.REGION})
_FOREIGN = ("AWS_REGION", "WEBHOOK_URL", "WEBHOOK_URL_PARAMETER", "_HANDLER", "GITHUB_TOKEN", "GITHUB_API_URL")
for _variable in (*names.FOREIGN_AWS_VARIABLES, *_FOREIGN):
    os.environ.pop(_variable, None)

from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402
import requests  # noqa: E402
from chalice.test import Client  # noqa: E402

import app as stats_app  # noqa: E402
from chalicelib import aws, factory  # noqa: E402
from tests.local_stack_helpers import BATCH_WINDOW, STOP_SECONDS, VISIBILITY_TIMEOUT  # noqa: E402
from tools.devkit import moto  # noqa: E402
from tools.devkit.discord.fake import DiscordFake  # noqa: E402
from tools.devkit.github_fake import GitHubFake  # noqa: E402
from tools.local_stack import launcher, resources  # noqa: E402


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on a free loopback port, for the whole session."""
    with moto.in_process() as endpoint:
        yield endpoint


@pytest.fixture(autouse=True)
def isolated(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts with an empty emulator, no cached clients, and a fresh alert engine for the
    app (no webhook URL read yet, the whole graph budget)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    requests.post(f"{moto_endpoint}/moto-api/reset", timeout=10).raise_for_status()
    aws.reset()
    monkeypatch.setattr(stats_app, "alert_engine", factory.Factory())
    yield
    aws.reset()


@pytest.fixture
def boto(moto_endpoint: str) -> Any:
    """A factory of boto3 clients for checking what reached the emulator."""
    return lambda service: boto3.client(service, endpoint_url=moto_endpoint, region_name=names.REGION)


@pytest.fixture
def queue_url(boto: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The stats queue, created in the emulator, with SQS_STATS_QUEUE pointing at it."""
    url = boto("sqs").create_queue(QueueName=names.STATS_QUEUE)["QueueUrl"]
    monkeypatch.setenv("SQS_STATS_QUEUE", url)
    return url


@pytest.fixture
def table(boto: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The build table with production's keys, with COMPILER_BUILD_TABLE naming it."""
    resources.create_build_table(boto("dynamodb"), names.BUILD_TABLE)
    monkeypatch.setenv("COMPILER_BUILD_TABLE", names.BUILD_TABLE)
    return names.BUILD_TABLE


@pytest.fixture
def bucket(boto: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The archive bucket, with S3_BUCKET_NAME naming it."""
    boto("s3").create_bucket(Bucket=names.ARCHIVE_BUCKET)
    monkeypatch.setenv("S3_BUCKET_NAME", names.ARCHIVE_BUCKET)
    return names.ARCHIVE_BUCKET


@pytest.fixture
def alert_table(boto: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The alert state table, created as the local stack creates it, with ALERT_STATE_TABLE naming it."""
    resources.create_alert_state_table(boto("dynamodb"))
    monkeypatch.setenv("ALERT_STATE_TABLE", names.ALERT_STATE_TABLE)
    return names.ALERT_STATE_TABLE


@pytest.fixture
def proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The fault proxy (tools.devkit.faultproxy) in front of moto, with every client of the app pointed at it."""
    from tools.devkit import faultproxy

    with faultproxy.FaultProxy(moto_endpoint) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL", running.url)
        aws.reset()
        yield running
    aws.reset()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[DiscordFake]:
    """The Discord fake, with WEBHOOK_URL pointing at it."""
    with DiscordFake() as discord:
        monkeypatch.setenv("WEBHOOK_URL", discord.url)
        yield discord


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[GitHubFake]:
    """The GitHub fake (strict about its token), with GITHUB_API_URL and GITHUB_TOKEN pointing at it."""
    with GitHubFake(token="test-github-token") as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_TOKEN", "test-github-token")
        yield fake


@pytest.fixture
def client() -> Iterator[Client]:
    """Chalice's test client, on a stage with no configured variables: the fixtures set them."""
    with Client(stats_app.app, stage_name="test") as test_client:
        yield test_client


@pytest.fixture(scope="session")
def stack_webhook() -> Iterator[DiscordFake]:
    """The Discord fake the shared local stack posts to."""
    with DiscordFake() as discord:
        yield discord


@pytest.fixture(scope="session")
def stack(stack_webhook: DiscordFake) -> Iterator[launcher.StackProcess]:
    """One `python -m tools.local_stack` on free ports for the local-stack and browser tests, stopped with SIGINT."""
    with launcher.running(
        batch_window=BATCH_WINDOW, visibility_timeout=VISIBILITY_TIMEOUT, webhook_url=stack_webhook.url
    ) as running:
        yield running
        code = running.stop(signal.SIGINT, timeout=STOP_SECONDS)
    assert code == 0, running.output[-3000:]
    assert "Traceback" not in running.output.split("SIGINT received", 1)[-1]


@pytest.fixture(scope="session")
def packaged_stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """`make package-stack` for a stage, at most once a test run (shared by xdist's workers): the SAM template."""
    from deploy import template

    # Under xdist every worker's temporary folder is inside this run's own: the first worker to
    # ask packages, under a lock, and the others read what it wrote.
    worker = hasattr(request.config, "workerinput")
    shared = tmp_path_factory.getbasetemp().parent if worker else tmp_path_factory.getbasetemp()

    def package(stage: str) -> Path:
        outdir = shared / f"stack-{stage}" / "out"
        outdir.parent.mkdir(parents=True, exist_ok=True)
        with open(shared / f"stack-{stage}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (outdir / "sam.yaml").exists():
                template.package(stage, outdir)
        return outdir / "sam.yaml"

    return package
