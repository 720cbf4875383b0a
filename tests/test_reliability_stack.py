"""The local stack under load and its event runtime killed inside the archiver: nothing lost, nothing
doubled (and where a kill does double a batch, that it is the whole batch, once more).

The load runs on the session's stack (conftest) with sponsors of its own, so what other tests left in
that stack cannot change its counts. `make test` sends 150 page loads; `make reliability` sends 5,000
and writes the figures to tools/reliability/load.json, which the README's table quotes.
"""

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

import app as stats_app
from tests.local_stack_helpers import BATCH_WINDOW, unique_sponsors
from tools.devkit import archive, faultproxy, names
from tools.devkit.faultproxy import Rule
from tools.devkit.net import eventually
from tools.devkit.process import OutputProcess
from tools.local_stack import launcher, resources
from tools.local_stack.launcher import RUNTIME_READY
from tools.local_stack.options import Options
from tools.reliability import FULL, load, scale

RATE = 40  # page loads per second: what moto's SQS sustains on a 2-core machine (README)


def test_page_loads_from_concurrent_clients_are_each_archived_exactly_once(stack: launcher.StackProcess) -> None:
    requests = scale(150, 5000)
    sponsors = unique_sponsors(len(load.SPONSORS))
    sqs, s3 = stack.client("sqs"), stack.client("s3")
    before = archive.all_lines(s3)

    result = load.run(
        stack.api_url, requests, clients=scale(4, 8), rate=RATE, time_limit=scale(60, 400), sponsors=sponsors
    )
    expected = result.accepted + sum(result.sponsor_views.values())
    drain_started = time.perf_counter()
    queue = sqs.get_queue_url(QueueName=names.STATS_QUEUE)["QueueUrl"]
    lines = load.wait_for_archive(sqs, queue, s3, len(before) + expected, timeout=120)
    drained_after = time.perf_counter() - drain_started

    assert result.statuses == Counter({200: requests})
    new_loads, new_views, other = load.archive_counts(lines)
    old_loads, _, _ = load.archive_counts(before)
    # These sponsors are this test's alone: each of their lines is archived exactly as often as sent,
    # so no batch was lost or archived twice. Page loads carry no name: at least one line each.
    assert Counter({s: n for s, n in new_views.items() if s in sponsors}) == result.sponsor_views
    assert new_loads - old_loads >= result.accepted, "a PageLoad line per accepted request"
    assert not other
    summary = {
        **result.summary(),
        "mode": "full" if FULL else "quick",
        "rate_limit": RATE,
        "archived_lines": len(lines) - len(before),
        "archive_complete_seconds_after_last_request": round(drained_after, 1),
        "batch_window_seconds": BATCH_WINDOW,
    }
    print("\nload:", json.dumps(summary))
    if FULL:
        load.RESULTS.parent.mkdir(parents=True, exist_ok=True)
        load.RESULTS.write_text(json.dumps(summary, indent=2) + "\n")


# ---- killed inside the archiver ----------------------------------------------------------------

# Short, so the killed runtime's batch comes back soon; long enough that a loaded machine's second
# runtime archives and deletes it before it could come back a second time (the test counts copies).
VISIBILITY_TIMEOUT = 6


@pytest.fixture
def provisioned(boto: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The stack's resources, made by the stack's own code, in the test's moto."""
    options = Options(batch_window=0.5, visibility_timeout=VISIBILITY_TIMEOUT, drain_seconds=1)
    found = resources.provision(boto, stats_app.app, options, webhook_url="http://127.0.0.1:9/unused")
    monkeypatch.setenv("SQS_STATS_QUEUE", found.stats_queue_url)
    return {"queue": found.stats_queue_url, "bucket": found.bucket}


@pytest.fixture
def held_s3(moto_endpoint: str) -> Iterator[tuple[faultproxy.FaultProxy, threading.Event]]:
    """A proxy in front of moto for the runtime, and the event that releases held requests."""
    release = threading.Event()
    with faultproxy.FaultProxy(moto_endpoint) as proxy:
        yield proxy, release
        release.set()


def runtime_environment(proxy_url: str, bucket: str) -> dict[str, str]:
    """The event runtime's environment, with every AWS call going through the fault proxy."""
    return {
        **names.aws_environment(proxy_url),
        "PATH": os.environ.get("PATH", ""),
        "S3_BUCKET_NAME": bucket,
        "LOCAL_BATCH_WINDOW": "0.5",
        "LOCAL_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "LOCAL_DRAIN_SECONDS": "1",
    }


def archived_sponsors(boto: Any, bucket: str) -> Counter[str]:
    return Counter(line["value"] for line in archive.all_lines(boto("s3"), bucket) if line["type"] == "SponsorView")


@pytest.mark.parametrize(
    "written",
    [pytest.param(False, id="before-the-write")] + ([pytest.param(True, id="after-the-write")] if FULL else []),
)
def test_a_runtime_killed_inside_the_archiver_gets_the_batch_archived_on_restart(
    client: Client,
    boto: Any,
    provisioned: dict[str, str],
    held_s3: tuple[faultproxy.FaultProxy, threading.Event],
    written: bool,
) -> None:
    proxy, release = held_s3
    bucket = provisioned["bucket"]
    # S3 holds the archiver's write open (after storing it, when `written`) until we kill.
    rule = proxy.add(Rule(faultproxy.s3_put(bucket), faultproxy.hang(release, after_forwarding=written)))
    sponsors = [f"s{n}" for n in range(12)]
    for sponsor in sponsors:
        assert client.http.post(f"/pageload?icons={sponsor}").status_code == 200
    environment = runtime_environment(proxy.url, bucket)

    with OutputProcess.python("tools.local_stack.events", env=environment) as first:
        first.wait_for_line(RUNTIME_READY, 60)
        eventually(lambda: rule.hits == 1, 30, "the archiver to be inside its S3 write")
        if written:
            eventually(lambda: archived_sponsors(boto, bucket), 10, "the object to be stored")
        first.kill()
    archived_before_restart = archived_sponsors(boto, bucket)
    proxy.clear()
    release.set()

    with OutputProcess.python("tools.local_stack.events", env=environment) as second:
        second.wait_for_line(RUNTIME_READY, 60)
        copies = 2 if written else 1
        eventually(
            lambda: sum(archived_sponsors(boto, bucket).values()) >= copies * len(sponsors), 30, "the redelivery", 0.2
        )

    # At least once: every message archived. Exactly once unless S3 had already stored the
    # batch when the process died; then the whole batch is there twice (README: duplicates).
    assert archived_before_restart == (Counter(sponsors) if written else Counter())
    assert archived_sponsors(boto, bucket) == Counter({sponsor: copies for sponsor in sponsors})
