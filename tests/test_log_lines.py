"""The product's own log lines stay short: one line each, readable in the CloudWatch console, cheap to ingest.

Every path that logs (a page load, refused or not, the queue or table missing, an archive batch and
a failed one, an alert with its graph, and one that Discord refuses at first) is run through Chalice's
test client, and each record of a ``chalicelib`` logger is checked.
"""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tools.devkit.discord.fake import DiscordFake, Reply
from tools.devkit.lambda_events import alarm_event
from tools.local_stack.alarm import seed_datapoints, site_too_slow

# The longest line possible today is about 270 characters: a build lookup's failure, naming a compiler
# of the longest valid name (128) and quoting AWS's error whole. Every other line is under 200.
MAX_CHARACTERS = 300


def product_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("chalicelib")]


def check(lines: list[str]) -> None:
    assert lines, "nothing logged: the scenario did not take the path it is for"
    for line in lines:
        assert "\n" not in line, line
        assert len(line) <= MAX_CHARACTERS, f"{len(line)} characters: {line}"


def test_the_api_s_lines(
    client: Any, queue_url: str, table: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert client.http.post("/pageload?icons=intel,jetbrains").status_code == 200
    assert client.http.post("/pageload?icons=" + "x" * 300).status_code == 400
    assert client.http.get("/compiler-build/gcc").status_code == 200
    monkeypatch.setenv("SQS_STATS_QUEUE", queue_url + "-gone")
    monkeypatch.setenv("COMPILER_BUILD_TABLE", table + "-gone")
    assert client.http.post("/pageload?icons=intel").status_code == 503
    assert client.http.get("/compiler-build/" + "g" * 128).status_code == 503
    monkeypatch.delenv("SQS_STATS_QUEUE")
    assert client.http.post("/pageload").status_code == 503

    check(product_lines(caplog))


def test_the_archiver_s_lines(
    client: Any, bucket: str, boto: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    bodies = [f'{{"date": "2026-12-06", "time": "21:00:00", "type": "PageLoad", "value": "{n}"}}' for n in range(100)]
    event = client.events.generate_sqs_event(queue_name="CompilerExplorerStats", message_bodies=bodies)
    client.lambda_.invoke("archive_stats", event)
    monkeypatch.setenv("S3_BUCKET_NAME", bucket + "-gone")
    with pytest.raises(Exception):  # noqa: B017 (the batch must come back, however the error is raised)
        client.lambda_.invoke("archive_stats", event)

    check(product_lines(caplog))


def test_the_forwarder_s_lines(
    client: Any, webhook: DiscordFake, alert_table: str, boto: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    now = datetime.now(UTC)
    seed_datapoints(boto("cloudwatch"), "ALARM", now)
    webhook.script.append(Reply(500, {"message": "try again"}, method="POST"))
    client.lambda_.invoke("forward_alert", alarm_event(site_too_slow("ALARM", now)))
    client.lambda_.invoke("forward_alert", alarm_event(site_too_slow("OK", now + timedelta(minutes=5), "ALARM")))

    assert len(webhook.channel()) == 2  # the incident, edited, and the recovery's quiet follow-up
    check(product_lines(caplog))
