"""POST /pageload: the icons rules, the exact queue messages, SendMessageBatch, errors, the metric."""

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber

import app as stats_app
from chalicelib import aws, pageload
from tools.devkit.sqs import bodies as drain_queue

SOME_TIME = datetime(2020, 1, 2, 3, 4, 5, 12312, tzinfo=UTC)


def body(kind: str, value: str) -> str:
    return f'{{"date": "2020-01-02", "time": "03:04:05", "type": "{kind}", "value": "{value}"}}'


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The app's clock, stopped at SOME_TIME."""
    monkeypatch.setattr(stats_app, "utc_now", lambda: SOME_TIME)
    return SOME_TIME


@pytest.fixture
def sqs_requests() -> list[str]:
    """The operation of every SQS request the app's own client puts on the wire, in order."""
    sent: list[str] = []
    aws.client("sqs").meta.events.register("before-send.sqs", lambda event_name, **_: sent.append(event_name))
    return sent


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], []),
        ([""], []),
        (["bob"], ["bob"]),
        (["bob,alice,crystal"], ["bob", "alice", "crystal"]),
        (["bob%2Calice%2Ccrystal"], ["bob", "alice", "crystal"]),
        (["bob%2calice"], ["bob", "alice"]),
        ([",,bob,,alice,"], ["bob", "alice"]),
        (["bob,alice,bob"], ["bob", "alice"]),
        (["intel,google", "jetbrains"], ["intel", "google", "jetbrains"]),
        (["solid_sands,a.b-c,X9"], ["solid_sands", "a.b-c", "X9"]),
        (["a" * 64], ["a" * 64]),
        ([",".join(f"s{i}" for i in range(32))], [f"s{i}" for i in range(32)]),
        ([",".join(["dup"] * 100)], ["dup"]),
    ],
)
def test_icons_that_are_accepted(raw: list[str], expected: list[str]) -> None:
    assert pageload.parse_icons(raw) == expected


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (["bob\n"], "invalid sponsor id"),
        (["bob%0A"], "invalid sponsor id"),
        (["bob alice"], "invalid sponsor id"),
        (["bob+alice"], "invalid sponsor id"),
        (["-bob"], "invalid sponsor id"),
        ([".hidden"], "invalid sponsor id"),
        (["_x"], "invalid sponsor id"),
        (["a" * 65], "invalid sponsor id"),
        (["bob%zz"], "invalid sponsor id"),
        (["bob%ff"], "not valid percent-encoded UTF-8"),
        (["caf\u00e9"], "invalid sponsor id"),
        (["../etc"], "invalid sponsor id"),
        (["bob%252Calice"], "invalid sponsor id"),
        (["<script>"], "invalid sponsor id"),
        ([",".join(f"s{i}" for i in range(33))], "too many sponsor ids"),
    ],
)
def test_icons_that_are_refused(raw: list[str], complaint: str) -> None:
    with pytest.raises(pageload.InvalidIcons, match=complaint):
        pageload.parse_icons(raw)


def test_message_bodies_are_byte_for_byte_the_archive_format() -> None:
    assert pageload.message_bodies(["bob", "alice"], SOME_TIME) == [
        body("PageLoad", ""),
        body("SponsorView", "bob"),
        body("SponsorView", "alice"),
    ]


# SQS standard queues do not keep order, so what reached the queue is compared as a multiset;
# the order of the bodies handed to SendMessageBatch is pinned by the Stubber tests below.
def test_a_page_load_queues_one_pageload_then_one_sponsorview_each(
    client: Any, queue_url: str, frozen_clock: datetime, boto: Any
) -> None:
    response = client.http.post("/pageload?icons=bob%2Calice%2Ccrystal")

    assert response.status_code == 200
    assert response.body == b"Ok"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert sorted(drain_queue(boto("sqs"), queue_url)) == sorted(
        [body("PageLoad", ""), body("SponsorView", "bob"), body("SponsorView", "alice"), body("SponsorView", "crystal")]
    )


def test_a_page_load_without_icons_queues_only_the_pageload(
    client: Any, queue_url: str, frozen_clock: datetime, boto: Any
) -> None:
    assert client.http.post("/pageload").status_code == 200
    assert drain_queue(boto("sqs"), queue_url) == [body("PageLoad", "")]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # jQuery's $.post(url) with no data sends no Content-Type at all
        {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"},
        {"Content-Type": "text/plain;charset=UTF-8"},
        {"Content-Type": "application/json"},
        # navigator.sendBeacon: FormData, a Blob of any type (one with no type sends none, as above)
        {"Content-Type": "multipart/form-data; boundary=----WebKitFormBoundaryx2kQe"},
        {"Content-Type": "application/octet-stream"},
        {"Content-Type": "application/csp-report"},
        {"Content-Type": "image/png"},
    ],
)
def test_the_content_types_real_callers_send_are_accepted(
    client: Any, queue_url: str, boto: Any, headers: dict[str, str]
) -> None:
    response = client.http.post("/pageload?icons=intel", headers=headers, body=b"")
    assert response.status_code == 200
    assert len(drain_queue(boto("sqs"), queue_url)) == 2


def test_a_body_is_ignored(client: Any, queue_url: str, boto: Any) -> None:
    response = client.http.post(
        "/pageload?icons=intel", headers={"Content-Type": "application/json"}, body=b"{not json"
    )
    assert response.status_code == 200
    assert len(drain_queue(boto("sqs"), queue_url)) == 2


@pytest.mark.parametrize(
    "query",
    [
        "icons=bob%0A",
        "icons=" + "a" * 65,
        "icons=" + ",".join(f"s{i}" for i in range(33)),
        "icons=bob%25ff",
        "icons=good,b%C3%A0d",
        "icons=%3Cscript%3E",
    ],
)
def test_bad_icons_get_a_400_and_queue_nothing(client: Any, queue_url: str, boto: Any, query: str, capsys: Any) -> None:
    response = client.http.post(f"/pageload?{query}")

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.body.decode().startswith("Bad request: ")
    assert b"Traceback" not in response.body
    assert drain_queue(boto("sqs"), queue_url) == []
    assert "PageLoad" not in capsys.readouterr().out


@pytest.mark.parametrize(("sponsors", "calls"), [(0, 1), (3, 1), (9, 1), (10, 2), (32, 4)])
def test_messages_go_in_batches_of_ten(
    client: Any, queue_url: str, boto: Any, sqs_requests: list[str], sponsors: int, calls: int
) -> None:
    icons = ",".join(f"sponsor{i}" for i in range(sponsors))
    assert client.http.post(f"/pageload?icons={icons}").status_code == 200

    assert sqs_requests == ["before-send.sqs.SendMessageBatch"] * calls
    assert len(drain_queue(boto("sqs"), queue_url)) == sponsors + 1


def test_failed_entries_are_resent_alone() -> None:
    sqs = aws.client("sqs")
    bodies = [body("PageLoad", ""), body("SponsorView", "bob"), body("SponsorView", "alice")]
    failure = {"Id": "1", "SenderFault": False, "Code": "InternalError", "Message": "try again"}
    with Stubber(sqs) as stubber:
        stubber.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "0", "MessageId": "m0", "MD5OfMessageBody": "x"}], "Failed": [failure]},
            {"QueueUrl": "q", "Entries": [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]},
        )
        stubber.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "1", "MessageId": "m1", "MD5OfMessageBody": "x"}], "Failed": []},
            {"QueueUrl": "q", "Entries": [{"Id": "1", "MessageBody": bodies[1]}]},
        )
        pageload.enqueue(sqs, "q", bodies, sleep=lambda _: None)
        stubber.assert_no_pending_responses()


def test_a_missing_queue_gives_a_503(client: Any, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str) -> None:
    monkeypatch.setenv("SQS_STATS_QUEUE", f"{moto_endpoint}/123456789012/NoSuchQueue")
    assert client.http.post("/pageload").status_code == 503


def test_a_missing_queue_setting_gives_a_503_and_one_log_line_naming_it(
    client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    monkeypatch.delenv("SQS_STATS_QUEUE", raising=False)

    response = client.http.post("/pageload?icons=bob")

    # The caller gets the answer it already handles, not Chalice's bare 500, and nothing about
    # the deployment; the operator gets the variable's name in the log.
    assert response.status_code == 503
    assert response.body == b"Page load not recorded: the stats queue is unavailable, try again later"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "environment variable SQS_STATS_QUEUE is not set"
    ]
    assert "PageLoad" not in capsys.readouterr().out


def test_each_page_load_prints_one_emf_record_with_the_production_dimensions(
    client: Any, queue_url: str, capsys: Any
) -> None:
    capsys.readouterr()
    assert client.http.post("/pageload?icons=intel,google").status_code == 200

    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(records) == 1
    record = records[0]
    assert record["PageLoad"] == 1
    assert record["sponsors"] == ["intel", "google"]
    assert record["LogGroup"] == "stats"
    assert record["ServiceName"] == "stats"
    assert record["ServiceType"] == "AWS::Lambda::Function"
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "CompilerExplorer"
    assert directive["Dimensions"] == [["LogGroup", "ServiceName", "ServiceType"]]
    assert directive["Metrics"] == [{"Name": "PageLoad", "Unit": "None"}]


def test_the_metric_dimensions_can_be_set(
    client: Any, queue_url: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METRICS_SERVICE_NAME", "stats-staging")
    capsys.readouterr()
    client.http.post("/pageload")
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert record["ServiceName"] == "stats-staging"
    assert record["LogGroup"] == "stats"
