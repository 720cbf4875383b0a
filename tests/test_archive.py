"""archive_stats: each SQS batch becomes one S3 object, and a failed write gets the batch redelivered."""

import json
import logging
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

import app as stats_app
from chalicelib import settings
from tools.devkit import archive, names
from tools.devkit.sqs import bodies as drain_queue

SOME_TIME = datetime(2020, 1, 2, 3, 4, 5, 12312, tzinfo=UTC)


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The app's clock, stopped at SOME_TIME."""
    monkeypatch.setattr(stats_app, "utc_now", lambda: SOME_TIME)
    return SOME_TIME


def invoke(client: Any, bodies: list[str]) -> Any:
    event = client.events.generate_sqs_event(queue_name=names.STATS_QUEUE, message_bodies=bodies)
    return client.lambda_.invoke("archive_stats", event)


def test_a_batch_becomes_one_object_with_the_bodies_in_order(
    client: Any, bucket: str, boto: Any, frozen_clock: datetime
) -> None:
    invoke(client, ["first", "second", '{"a": "b"}'])

    assert archive.objects(boto("s3"), bucket) == {
        "stats/archive_stats-2020-01-02-03:04:05.012312.log": b'first\nsecond\n{"a": "b"}'
    }


def test_the_key_names_the_function_lambda_runs() -> None:
    from chalicelib.archive import object_key

    assert object_key("compiler-explorer-stats-prod-archive_stats", SOME_TIME) == (
        "stats/compiler-explorer-stats-prod-archive_stats-2020-01-02-03:04:05.012312.log"
    )


def test_an_empty_batch_writes_nothing(client: Any, bucket: str, boto: Any) -> None:
    invoke(client, [])
    assert archive.objects(boto("s3"), bucket) == {}


def test_two_batches_in_the_same_microsecond_do_not_overwrite_each_other(
    client: Any, bucket: str, boto: Any, frozen_clock: datetime
) -> None:
    invoke(client, ["one"])
    invoke(client, ["two"])

    assert archive.objects(boto("s3"), bucket) == {
        "stats/archive_stats-2020-01-02-03:04:05.012312.log": b"one",
        "stats/archive_stats-2020-01-02-03:04:05.012313.log": b"two",
    }


def test_a_failed_write_raises_so_sqs_delivers_the_batch_again(client: Any, boto: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("S3_BUCKET_NAME", "no-such-bucket")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        invoke(client, ["kept"])


def test_unicode_bodies_are_archived_as_utf8(client: Any, bucket: str, boto: Any) -> None:
    invoke(client, ['{"value": "caf\u00e9 \u2603"}'])
    (data,) = archive.objects(boto("s3"), bucket).values()
    assert data.decode("utf-8") == '{"value": "caf\u00e9 \u2603"}'


def test_a_missing_bucket_setting_raises_so_the_batch_comes_back_and_logs_its_name(
    client: Any, bucket: str, boto: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("S3_BUCKET_NAME")

    with pytest.raises(settings.ConfigurationError, match="S3_BUCKET_NAME"):
        invoke(client, ["kept"])

    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "environment variable S3_BUCKET_NAME is not set"
    ]
    assert archive.objects(boto("s3"), bucket) == {}


# New York's rule written out (5 hours behind UTC, 4 in summer), so no tz database is needed.
NEW_YORK = "EST+5EDT,M3.2.0/2,M11.1.0/2"


@pytest.fixture
def local_time_is_new_york() -> Iterator[None]:
    """The process's local time zone is New York's: what a clock in local time would get wrong."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = NEW_YORK
    time.tzset()
    assert time.localtime().tm_gmtoff in (-5 * 3600, -4 * 3600)
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


def test_page_load_dates_and_archive_keys_are_utc_whatever_the_local_zone(
    client: Any, queue_url: str, bucket: str, boto: Any, local_time_is_new_york: None
) -> None:
    # The app's real clock, not a frozen one: a regression to local time must show here.
    before = datetime.now(UTC).replace(microsecond=0)
    assert client.http.post("/pageload?icons=bob").status_code == 200
    bodies = drain_queue(boto("sqs"), queue_url)
    invoke(client, bodies)
    after = datetime.now(UTC)

    assert len(bodies) == 2
    for body in bodies:
        message = json.loads(body)
        sent = datetime.strptime(f"{message['date']} {message['time']}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert before <= sent <= after, body
    (key,) = archive.objects(boto("s3"), bucket)
    stamp = datetime.strptime(key, "stats/archive_stats-%Y-%m-%d-%H:%M:%S.%f.log").replace(tzinfo=UTC)
    assert before <= stamp <= after, key
