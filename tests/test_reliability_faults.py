"""Faults at the real boundaries, each followed by the same count of what was archived.

AWS faults come from a proxy in front of moto (``reliability.faultproxy``): the app's boto3
clients talk to it, so botocore's own retries and error handling run for real. Discord's come
from a scripted local webhook. The resources are created in moto from resources/stateful.yaml,
so the dead-letter queue and the failed-alert queue behave as the template declares; the SQS
event source mapping and Lambda's asynchronous retries are played by ``reliability.sqs`` and
``reliability.lambda_async``.
"""

import json
import random
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from chalice.test import Client

from chalicelib import aws
from deploy import template
from devkit import archive, names
from devkit.discord_fake import TOKEN, DiscordFake, Reply
from devkit.sqs import bodies
from reliability import FULL, faultproxy, lambda_async
from reliability.faultproxy import Rule
from reliability.sqs import EventSourceMapping

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")

BUCKET = names.ARCHIVE_BUCKET
STATS_QUEUE = names.STATS_QUEUE
DEAD_LETTERS = f"{names.STATS_QUEUE}-dead-letter"
FAILED_ALERTS = f"{names.ALERT_TOPIC}-failed"
Line = tuple[str, str]


@pytest.fixture
def stateful(boto: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The resources, created in moto from resources/stateful.yaml; the app's settings name them."""
    template.create_stateful_stack(boto("cloudformation"))
    sqs = boto("sqs")
    urls = {name: sqs.get_queue_url(QueueName=name)["QueueUrl"] for name in (STATS_QUEUE, DEAD_LETTERS, FAILED_ALERTS)}
    monkeypatch.setenv("SQS_STATS_QUEUE", urls[STATS_QUEUE])
    monkeypatch.setenv("S3_BUCKET_NAME", BUCKET)
    monkeypatch.setenv("COMPILER_BUILD_TABLE", names.BUILD_TABLE)
    return urls


@pytest.fixture
def proxy(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[faultproxy.FaultProxy]:
    """A fault-injecting proxy in front of moto; every AWS call the app makes goes through it."""
    release = threading.Event()
    with faultproxy.FaultProxy(moto_endpoint) as running:
        running.release = release  # type: ignore[attr-defined]
        monkeypatch.setenv("AWS_ENDPOINT_URL", running.url)
        aws.reset()
        yield running
        release.set()
    aws.reset()


@pytest.fixture
def archiver(client: Client, boto: Any, stateful: dict[str, str], proxy: faultproxy.FaultProxy) -> EventSourceMapping:
    """archive_stats fed from the stats queue as Lambda's event source mapping feeds it."""
    return EventSourceMapping(
        boto("sqs"), stateful[STATS_QUEUE], lambda event: client.lambda_.invoke("archive_stats", event)
    )


def sponsors_of(request: int) -> list[str]:
    # 0 to 6 sponsors, each id unique to its request, so every line can be traced back.
    return [f"r{request}-s{n}" for n in range(request % 7)]


def page_loads(client: Client, count: int, first: int = 0) -> dict[int, int]:
    """POST ``count`` page loads; the status of each, by request number."""
    statuses = {}
    for request in range(first, first + count):
        response = client.http.post("/pageload?icons=" + ",".join(sponsors_of(request)))
        assert b"Traceback" not in response.body
        statuses[request] = response.status_code
    return statuses


def lines_of(requests: list[int]) -> Counter[Line]:
    expected: Counter[Line] = Counter()
    for request in requests:
        expected[("PageLoad", "")] += 1
        expected.update(("SponsorView", sponsor) for sponsor in sponsors_of(request))
    return expected


def archived(boto: Any) -> Counter[Line]:
    return Counter((line["type"], line["value"]) for line in archive.all_lines(boto("s3"), BUCKET))


def bodies_in(boto: Any, queue_url: str) -> Counter[Line]:
    return Counter((json.loads(b)["type"], json.loads(b)["value"]) for b in bodies(boto("sqs"), queue_url))


def max_receive_count() -> int:
    queue = yaml.safe_load(template.STATEFUL.read_text())["Resources"]["StatsQueue"]["Properties"]
    return int(queue["RedrivePolicy"]["maxReceiveCount"])


# ---- S3 refuses writes ------------------------------------------------------------------------


def test_s3_refusing_the_first_writes_of_a_batch_gets_it_redelivered_and_archived_once(
    client: Client, proxy: faultproxy.FaultProxy, archiver: EventSourceMapping, boto: Any, stateful: dict[str, str]
) -> None:
    statuses = page_loads(client, 25)
    proxy.add(Rule(faultproxy.s3_put(BUCKET), faultproxy.xml_error(403, "AccessDenied"), times=2))

    deliveries = archiver.run()

    assert set(statuses.values()) == {200}
    assert [delivery.error is None for delivery in deliveries] == [False, False, True]
    assert archived(boto) == lines_of(list(statuses))
    assert bodies_in(boto, stateful[DEAD_LETTERS]) == Counter()


def test_s3_throttling_a_write_is_absorbed_by_the_clients_retries(
    client: Client, proxy: faultproxy.FaultProxy, archiver: EventSourceMapping, boto: Any
) -> None:
    statuses = page_loads(client, 10)
    proxy.add(Rule(faultproxy.s3_put(BUCKET), faultproxy.xml_error(503, "SlowDown"), times=1))

    deliveries = archiver.run()

    assert [delivery.error for delivery in deliveries] == [None]
    assert archived(boto) == lines_of(list(statuses))


def test_s3_refusing_every_write_parks_the_batch_in_the_dead_letter_queue(
    client: Client, proxy: faultproxy.FaultProxy, archiver: EventSourceMapping, boto: Any, stateful: dict[str, str]
) -> None:
    statuses = page_loads(client, 12)
    proxy.add(Rule(faultproxy.s3_put(BUCKET), faultproxy.xml_error(403, "AccessDenied")))

    deliveries = archiver.run()

    # Nothing is archived, and nothing is lost: after maxReceiveCount attempts SQS moves every
    # message to the dead-letter queue, where an operator redrives it once S3 is fixed.
    assert len(deliveries) == max_receive_count()
    assert all(delivery.error is not None for delivery in deliveries)
    assert archived(boto) == Counter()
    assert bodies_in(boto, stateful[DEAD_LETTERS]) == lines_of(list(statuses))


def test_a_lost_s3_reply_archives_the_batch_a_second_time(
    client: Client, proxy: faultproxy.FaultProxy, archiver: EventSourceMapping, boto: Any
) -> None:
    # Where duplicates come from (see README): S3 stored the object but its answer was lost, so
    # botocore retries; the retry finds the key taken and the batch is written under a new key.
    statuses = page_loads(client, 8)
    proxy.add(
        Rule(faultproxy.s3_put(BUCKET), faultproxy.lose_reply(faultproxy.xml_error(500, "InternalError")), times=1)
    )

    archiver.run()

    expected = lines_of(list(statuses))
    assert archived(boto) == expected + expected


# ---- SQS reports entries Failed ---------------------------------------------------------------


def test_entries_reported_failed_are_resent_and_each_archived_once(
    client: Client, proxy: faultproxy.FaultProxy, archiver: EventSourceMapping, boto: Any
) -> None:
    # Every other entry of the first 15 SendMessageBatch calls comes back Failed (and is not sent).
    proxy.add(Rule(faultproxy.action("SendMessageBatch"), faultproxy.fail_entries(lambda i, e: i % 2 == 1), times=15))

    statuses = page_loads(client, 25)
    archiver.run()

    assert set(statuses.values()) == {200}
    assert proxy.count("SendMessageBatch") > 25
    assert archived(boto) == lines_of(list(statuses))


def test_entries_that_keep_failing_answer_503_and_count_no_success(
    client: Client,
    proxy: faultproxy.FaultProxy,
    archiver: EventSourceMapping,
    boto: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The PageLoad entry goes through; the sponsors' entries fail on every attempt.
    proxy.add(
        Rule(
            faultproxy.action("SendMessageBatch"),
            faultproxy.fail_entries(lambda i, e: "SponsorView" in e["MessageBody"]),
        )
    )

    response = client.http.post("/pageload?icons=intel,google")

    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 2 <= proxy.count("SendMessageBatch") <= 5  # resent, but bounded
    assert '"PageLoad": 1' not in capsys.readouterr().out  # no metric for a page load not fully recorded
    archiver.run()
    # Half-sent: the PageLoad line is archived although the client heard 503 (see README).
    assert archived(boto) == Counter({("PageLoad", ""): 1})


@pytest.mark.parametrize(
    "fault",
    [
        faultproxy.json_error(500, "InternalError"),
        faultproxy.json_error(400, "AWS.SimpleQueueService.NonExistentQueue"),
        faultproxy.drop_connection(),
    ],
    ids=["500", "queue-gone", "connection-dropped"],
)
def test_an_unreachable_queue_answers_503_and_queues_nothing(
    client: Client, proxy: faultproxy.FaultProxy, boto: Any, stateful: dict[str, str], fault: faultproxy.Act
) -> None:
    proxy.add(Rule(faultproxy.action("SendMessageBatch"), fault))

    response = client.http.post("/pageload?icons=intel")

    assert response.status_code == 503
    assert response.headers["Access-Control-Allow-Origin"] == "*"  # the front end can read the refusal
    assert b"Traceback" not in response.body
    assert bodies_in(boto, stateful[STATS_QUEUE]) == Counter()


def test_a_lost_send_reply_queues_the_page_load_twice(
    client: Client, proxy: faultproxy.FaultProxy, archiver: EventSourceMapping, boto: Any
) -> None:
    # Another source of duplicates: SQS took the batch, its answer was lost, botocore resent it.
    lost = faultproxy.lose_reply(faultproxy.json_error(500, "InternalError"))
    proxy.add(Rule(faultproxy.action("SendMessageBatch"), lost, times=1))

    assert client.http.post("/pageload?icons=intel").status_code == 200
    archiver.run()

    assert archived(boto) == Counter({("PageLoad", ""): 2, ("SponsorView", "intel"): 2})


def test_random_entry_failures_keep_the_archive_exact_for_every_accepted_page_load(
    client: Client, proxy: faultproxy.FaultProxy, archiver: EventSourceMapping, boto: Any
) -> None:
    chance = random.Random(5)  # noqa: S311 (reproducible faults, not a secret)
    lock = threading.Lock()

    def unlucky(index: int, entry: dict[str, Any]) -> bool:
        with lock:
            return chance.random() < 0.4

    proxy.add(Rule(faultproxy.action("SendMessageBatch"), faultproxy.fail_entries(unlucky)))

    statuses = page_loads(client, 140 if FULL else 30)
    archiver.run()

    accepted = [r for r, status in statuses.items() if status == 200]
    refused = [r for r, status in statuses.items() if status == 503]
    assert len(accepted) + len(refused) == len(statuses)
    assert accepted and refused, statuses  # both outcomes happened, or this proves little
    lines = archived(boto)
    # Every accepted page load is archived exactly once, sponsor by sponsor.
    for request in accepted:
        assert all(lines[("SponsorView", s)] == 1 for s in sponsors_of(request)), request
    # A refused one may be partly there (what SQS took before the 503), never twice.
    for request in refused:
        assert all(lines[("SponsorView", s)] <= 1 for s in sponsors_of(request)), request
    assert len(accepted) <= lines[("PageLoad", "")] <= len(statuses)


# ---- DynamoDB throttles or fails --------------------------------------------------------------

DYNAMODB_FAULTS = {
    "throttled": faultproxy.json_error(400, "com.amazonaws.dynamodb.v20120810#ThrottlingException"),
    "capacity": faultproxy.json_error(400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"),
    "internal-error": faultproxy.json_error(500, "com.amazonaws.dynamodb.v20120810#InternalServerError"),
    "table-gone": faultproxy.json_error(400, "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"),
    "connection-dropped": faultproxy.drop_connection(),
}


@pytest.mark.parametrize("name", sorted(DYNAMODB_FAULTS) if FULL else ["table-gone", "throttled"])
def test_a_failing_table_answers_503_json_and_the_next_request_works(
    client: Client, proxy: faultproxy.FaultProxy, boto: Any, stateful: dict[str, str], name: str
) -> None:
    boto("dynamodb").put_item(
        TableName=names.BUILD_TABLE,
        Item={"compiler": {"S": "gcc"}, "timestamp": {"S": "2026-11-24T03:12:45+00:00"}, "status": {"S": "OK"}},
    )
    proxy.add(Rule(faultproxy.action("Query"), DYNAMODB_FAULTS[name]))

    failed = client.http.get("/compiler-build/gcc")
    proxy.clear()  # DynamoDB recovers
    recovered = client.http.get("/compiler-build/gcc")

    assert failed.status_code == 503
    assert failed.headers["Content-Type"].startswith("application/json")
    assert json.loads(failed.body) == {"error": "build status is temporarily unavailable"}
    assert failed.headers["Cache-Control"] == "no-cache"  # a badge must not cache the outage
    assert failed.headers["Access-Control-Allow-Origin"] == "*"
    assert recovered.status_code == 200
    assert json.loads(recovered.body)["last_success"]["timestamp"] == "2026-11-24T03:12:45+00:00"


def test_one_throttled_query_is_absorbed_by_the_clients_retries(
    client: Client, proxy: faultproxy.FaultProxy, boto: Any, stateful: dict[str, str]
) -> None:
    proxy.add(Rule(faultproxy.action("Query"), DYNAMODB_FAULTS["throttled"], times=1))

    assert client.http.get("/compiler-build/gcc").status_code == 200
    assert proxy.count("Query") == 2


# ---- Discord: 429, 5xx, hangs, 400 --------------------------------------------------------------


def alert_event(client: Client, message: str) -> dict[str, Any]:
    return client.events.generate_sns_event(message, subject="Test alert")


def failed_alerts(boto: Any, stateful: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(body) for body in bodies(boto("sqs"), stateful[FAILED_ALERTS])]


# How Discord keeps refusing an alert (each answer is the webhook's to handle: tests/test_webhook.py),
# and what the error the app raises says.
UNDELIVERABLE = {
    "rate-limited-too-long": ([Reply(429, {"retry_after": 120})] * 3, "rate limit asks for 120.0 s"),
    "webhook-deleted": ([Reply(404, {"code": 10015})] * 3, "HTTP 404"),
    "fallback-refused-too": ([Reply(400), Reply(400)] * 3, "HTTP 400"),
}
if FULL:
    # Production timeouts and backoff, so this takes a while: `make reliability` only.
    UNDELIVERABLE["5xx-for-ever"] = ([Reply(502)] * 30, "HTTP 502")


@pytest.mark.parametrize("name", list(UNDELIVERABLE))
def test_an_alert_discord_keeps_refusing_is_kept_in_the_failure_queue_with_why(
    client: Client,
    boto: Any,
    stateful: dict[str, str],
    webhook: DiscordFake,
    caplog: pytest.LogCaptureFixture,
    name: str,
) -> None:
    script, why = UNDELIVERABLE[name]
    webhook.script[:] = list(script)
    message = f"alert for {name} @everyone"

    lambda_async.invoke_async(
        lambda e: client.lambda_.invoke("forward_alert", e),
        alert_event(client, message),
        sqs=boto("sqs"),
        destination_url=stateful[FAILED_ALERTS],
    )

    # Never silently dropped: nothing reached the channel, and the queue holds the alert itself
    # with the app's own reason, for the runbook's replay.
    assert webhook.channel() == []
    (failure,) = failed_alerts(boto, stateful)
    assert failure["requestPayload"]["Records"][0]["Sns"]["Message"] == message
    assert failure["responsePayload"]["errorType"] == "DeliveryError"
    assert why in failure["responsePayload"]["errorMessage"]
    # The webhook URL is a secret: it must not reach the logs or the failure record.
    assert TOKEN not in caplog.text
    assert TOKEN not in json.dumps(failure)


def test_an_alert_with_no_webhook_configured_goes_to_the_failure_queue(
    client: Client, boto: Any, stateful: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBHOOK_URL", raising=False)
    monkeypatch.delenv("WEBHOOK_URL_PARAMETER", raising=False)

    outcome = lambda_async.invoke_async(
        lambda e: client.lambda_.invoke("forward_alert", e),
        alert_event(client, "site down"),
        sqs=boto("sqs"),
        destination_url=stateful[FAILED_ALERTS],
    )

    assert not outcome.succeeded
    (failure,) = failed_alerts(boto, stateful)
    assert "WEBHOOK_URL" in failure["responsePayload"]["errorMessage"]
