"""Alarm graphs in incident messages: posted with the incident, replaced on every edit, never at the alert's expense.

Real parts only: the handler (Chalice's test client, or ``forwarder.forward`` where a test needs its
own deadline or a crash), the state table in moto, moto's GetMetricWidgetImage (drawn by the devkit
middleware from the datapoints seeded as ``python -m local_stack.alarm`` seeds them), the fault
proxy in front of moto for errors, throttles and hangs, and the Discord fake, whose messages keep
the files Discord would keep. Everything is checked on what the channel holds and what was sent.
"""

import base64
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

import app as stats_app
from chalicelib import alarm_graph, aws, factory, forwarder, graphs
from chalicelib.state_store import StateStore
from chalicelib.webhook import Webhook
from devkit.discord_fake import DiscordFake, Message, Reply
from devkit.lambda_events import alarm_event, sns_event
from local_stack.alarm import seed_datapoints, site_too_slow
from reliability import faultproxy

EVENTS = Path(__file__).parent / "events"
GRAPH = "SiteTooSlow.png"
WIDGET_IMAGE = faultproxy.action("GetMetricWidgetImage")


@pytest.fixture
def slow_site(boto: Any) -> Any:
    """Seeds SiteTooSlow's metric as the local stack does, up to a transition into ``state`` at ``when``."""
    return lambda state, when: seed_datapoints(boto("cloudwatch"), state, when)


def send(client: Any, message: dict[str, Any], message_id: str | None = None) -> None:
    client.lambda_.invoke("forward_alert", alarm_event(message, message_id=message_id))


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def embed(message: Message | dict[str, Any]) -> dict[str, Any]:
    payload = message.payload if isinstance(message, Message) else message
    return (payload.get("embeds") or [{}])[0]


def assert_no_graph(request: Any, message: Message) -> None:
    """Sent and shown without a graph, and nothing refers to one (Discord would show a broken image)."""
    assert request.files == {}
    assert request.headers["Content-Type"] == "application/json", "no multipart without an image"
    assert message.files == {}
    assert "image" not in embed(message)
    assert "attachment://" not in json.dumps(message.payload)


# ---- the graph in the incident message -----------------------------------------------------------


def test_an_alarm_posts_its_graph_and_its_recovery_replaces_it(
    client: Any, webhook: DiscordFake, alert_table: str, proxy: faultproxy.FaultProxy, slow_site: Any
) -> None:
    widgets: list[tuple[faultproxy.Exchange, faultproxy.Answer]] = []
    proxy.add(faultproxy.Rule(WIDGET_IMAGE, faultproxy.record(widgets)))
    opened = datetime.now(UTC) - timedelta(minutes=12)
    slow_site("ALARM", opened)
    send(client, site_too_slow("ALARM", opened))

    (post,) = webhook.posts
    assert post.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    (incident,) = webhook.channel()
    assert not incident.quiet, "the opening ALARM still pings"
    assert list(incident.files) == [GRAPH]
    first = incident.files[GRAPH]
    assert first.startswith(graphs.PNG_SIGNATURE)
    assert incident.payload["attachments"] == [{"id": 0, "filename": GRAPH}]
    assert embed(incident)["image"] == {"url": f"attachment://{GRAPH}"}
    assert incident.as_discord()["attachments"][0]["filename"] == GRAPH

    recovered = datetime.now(UTC)
    slow_site("OK", recovered)
    send(client, site_too_slow("OK", recovered, "ALARM"))

    # The edit uploads the new graph as files[0] and lists only it: the old one is dropped.
    (edit,) = webhook.edits
    assert edit.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert edit.payload["attachments"] == [{"id": 0, "filename": GRAPH}]
    assert list(edit.files) == [GRAPH]
    incident = webhook.messages[incident.id]
    assert embed(incident)["title"] == "SiteTooSlow: OK (recovered)"
    assert list(incident.files) == [GRAPH], "one graph, not two"
    assert incident.files[GRAPH] != first and incident.files[GRAPH].startswith(graphs.PNG_SIGNATURE)
    assert embed(incident)["image"] == {"url": f"attachment://{GRAPH}"}
    # The recovered graph shows the whole incident: from before its ALARM to the recovery.
    assert len(widgets) == 2
    widget = json.loads(widgets[-1][0].json()["MetricWidget"])
    marked = [(a["value"], a["label"]) for a in widget["annotations"]["vertical"]]
    assert marked == [(iso(opened), "ALARM"), (iso(recovered), "OK")]
    assert widget["start"] < iso(opened - timedelta(hours=1)) and widget["end"] >= iso(recovered)
    # The quiet follow-up is text: no image, no multipart.
    follow_up = webhook.posts[1]
    assert follow_up.headers["Content-Type"] == "application/json" and follow_up.files == {}
    assert "is OK again" in follow_up.payload["content"]


def test_a_deleted_incident_message_is_posted_again_with_its_graph(
    client: Any, webhook: DiscordFake, alert_table: str, slow_site: Any
) -> None:
    opened = datetime.now(UTC) - timedelta(minutes=5)
    slow_site("ALARM", opened)
    send(client, site_too_slow("ALARM", opened))
    (first,) = webhook.channel()
    requests.delete(f"{webhook.url}/messages/{first.id}", timeout=5).raise_for_status()

    recovered = datetime.now(UTC)
    slow_site("OK", recovered)
    send(client, site_too_slow("OK", recovered, "ALARM"))

    incident, _ = webhook.channel()
    assert incident.id != first.id and embed(incident)["title"] == "SiteTooSlow: OK (recovered)"
    assert list(incident.files) == [GRAPH] and embed(incident)["image"] == {"url": f"attachment://{GRAPH}"}


def test_an_incident_merged_into_another_by_a_late_alarm_keeps_no_graph_of_its_own(
    client: Any, webhook: DiscordFake, alert_table: str
) -> None:
    now = datetime.now(UTC)
    # Two incidents 45 minutes apart, then a late ALARM between them: within the flap window of both.
    for new, old, minutes_ago in [("ALARM", "OK", 60), ("OK", "ALARM", 55), ("ALARM", "OK", 10), ("ALARM", "OK", 35)]:
        send(client, site_too_slow(new, now - timedelta(minutes=minutes_ago), old))

    (note,) = [m for m in webhook.channel() if "this incident continues in" in m.payload.get("content", "")]
    assert note.versions and list(note.versions[0].get("attachments", [])) == [{"id": 0, "filename": GRAPH}]
    assert note.payload["embeds"] == [] and note.payload["attachments"] == []
    assert note.files == {} and "attachment://" not in json.dumps(note.payload)
    (incident,) = [m for m in webhook.channel() if embed(m).get("title", "").startswith("SiteTooSlow: ")]
    assert list(incident.files) == [GRAPH] and embed(incident)["image"] == {"url": f"attachment://{GRAPH}"}


# ---- never at the alert's expense -------------------------------------------------------------------


def broken_render(*_: Any, **__: Any) -> bytes:
    raise RuntimeError("a bug in the graph code")


def png_answer(size: int) -> faultproxy.Act:
    image = graphs.PNG_SIGNATURE + b"\0" * size
    body = json.dumps({"MetricWidgetImage": base64.b64encode(image).decode()}).encode()
    return lambda exchange, forward: faultproxy.Answer(200, body, {"Content-Type": "application/x-amz-json-1.0"})


# Each fault, and whether the process then stops asking for graphs for a while.
FAULTS: dict[str, tuple[Any, bool]] = {
    "error": (faultproxy.json_error(500, "InternalServiceError"), False),
    "throttled": (faultproxy.json_error(400, "Throttling", "Rate exceeded"), True),
    "refused": (faultproxy.json_error(400, "InvalidParameterInput", "bad widget"), False),
    "connection-dropped": (faultproxy.drop_connection(), False),
    "oversized": (png_answer(graphs.MAX_IMAGE_BYTES), False),
    "not-a-png": (lambda exchange, forward: faultproxy.Answer(200, b'{"MetricWidgetImage": "bm90IGEgcG5n"}'), False),
    "slow": ("hang", True),
    "raises": ("raise", False),
}


def impatient(service: str, region: str | None = None) -> Any:
    """The app's clients, but a CloudWatch that gives up on a hung render after 2 s instead of 4
    (its one attempt is what production's does; only the wait is shorter)."""
    if service != "cloudwatch":
        return aws.client(service, region=region)
    options = {"connect_timeout": 1, "read_timeout": 2, "retries": {"mode": "standard", "total_max_attempts": 1}}
    return boto3.client("cloudwatch", region_name=region, config=Config(**options))


def inject(fault: str, proxy: faultproxy.FaultProxy, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make the next graph fail as ``fault`` says; returns what ends a hang."""
    release = threading.Event()
    act = FAULTS[fault][0]
    if act == "raise":
        real, failed = graphs.render, []

        def broken_once(*args: Any, **kwargs: Any) -> bytes | None:
            if not failed:
                failed.append(True)
                broken_render()
            return real(*args, **kwargs)

        monkeypatch.setattr(graphs, "render", broken_once)
    elif act == "hang":
        proxy.add(faultproxy.Rule(WIDGET_IMAGE, faultproxy.hang(release, 30), times=1))
    else:
        proxy.add(faultproxy.Rule(WIDGET_IMAGE, act, times=1))
    return release


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_an_alarm_whose_graph_fails_goes_out_at_once_without_it(
    client: Any,
    webhook: DiscordFake,
    alert_table: str,
    proxy: faultproxy.FaultProxy,
    slow_site: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
    fault: str,
) -> None:
    monkeypatch.setattr(stats_app, "alert_engine", factory.Factory(client=impatient))
    opened = datetime.now(UTC)
    slow_site("ALARM", opened)
    release = inject(fault, proxy, monkeypatch)
    try:
        send(client, site_too_slow("ALARM", opened))
    finally:
        release.set()

    (post,) = webhook.posts
    (incident,) = webhook.channel()
    assert_no_graph(post, incident)
    assert "attachments" not in post.payload
    assert embed(incident)["title"] == "SiteTooSlow: ALARM" and not incident.quiet
    # A failed or hung render is asked for once (the client's one attempt), never retried.
    asked = 0 if fault == "raises" else 1
    assert proxy.count("GetMetricWidgetImage") == asked
    assert "no graph" in caplog.text

    # After a throttle or a timeout the process stops asking for a while; after other failures,
    # the next alarm asks again (and gets its graph).
    backs_off = FAULTS[fault][1]
    other = site_too_slow("ALARM", opened) | {"AlarmName": "SiteTooSlowToo"}
    other["AlarmArn"] += "Too"
    send(client, other)
    assert proxy.count("GetMetricWidgetImage") == asked + (0 if backs_off else 1)
    assert bool(webhook.channel()[-1].files) is not backs_off


@pytest.mark.parametrize("fault", ["error", "raises"])
def test_a_recovery_whose_graph_fails_drops_the_old_graph_and_every_reference_to_it(
    client: Any,
    webhook: DiscordFake,
    alert_table: str,
    proxy: faultproxy.FaultProxy,
    slow_site: Any,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    opened = datetime.now(UTC) - timedelta(minutes=5)
    slow_site("ALARM", opened)
    send(client, site_too_slow("ALARM", opened))
    (incident,) = webhook.channel()
    assert list(incident.files) == [GRAPH]

    inject(fault, proxy, monkeypatch)
    send(client, site_too_slow("OK", datetime.now(UTC), "ALARM"))

    (edit,) = webhook.edits
    assert edit.payload["attachments"] == [], "the edit keeps no attachment"
    incident = webhook.messages[incident.id]
    assert embed(incident)["title"] == "SiteTooSlow: OK (recovered)"
    assert_no_graph(edit, incident)


def test_no_graph_is_asked_for_when_the_discord_deadline_leaves_no_room(
    webhook: DiscordFake, alert_table: str, proxy: faultproxy.FaultProxy, slow_site: Any
) -> None:
    opened = datetime.now(UTC)
    slow_site("ALARM", opened)
    store = StateStore(aws.client("dynamodb-alerts"), alert_table)

    def cloudwatch(region: str) -> Any:
        return aws.client("cloudwatch", region=region)

    # Room for one Discord attempt, but not for a graph before it.
    short = Webhook(webhook.url, deadline_seconds=alarm_graph.GRAPH_SECONDS + alarm_graph.DISCORD_ATTEMPT_SECONDS - 1)
    records = alarm_event(site_too_slow("ALARM", opened))["Records"]
    forwarder.forward(records, short, store, cloudwatch=cloudwatch)

    assert proxy.count("GetMetricWidgetImage") == 0
    (post,) = webhook.posts
    assert_no_graph(post, webhook.channel()[0])

    # With the usual 40 s, the same alarm under another name gets its graph.
    other = site_too_slow("ALARM", opened)
    other |= {"AlarmName": "SiteTooSlowToo", "AlarmArn": other["AlarmArn"] + "Too"}
    forwarder.forward(alarm_event(other)["Records"], Webhook(webhook.url), store, cloudwatch=cloudwatch)
    assert proxy.count("GetMetricWidgetImage") == 1
    assert list(webhook.channel()[-1].files) == ["SiteTooSlowToo.png"]


def test_a_composite_alarm_asks_for_no_graph_and_posts_without_multipart(
    client: Any, webhook: DiscordFake, alert_table: str, proxy: faultproxy.FaultProxy
) -> None:
    composite = json.loads((EVENTS / "composite-null-description.json").read_text())
    send(client, composite)
    send(client, {**composite, "NewStateValue": "OK", "OldStateValue": "ALARM", "StateChangeTime": _later(composite)})
    client.lambda_.invoke(
        "forward_alert", sns_event({"Message": (EVENTS / "eventbridge-alarm-composite.json").read_text()})
    )

    assert proxy.count("GetMetricWidgetImage") == 0
    # The EventBridge event is the same alarm's ALARM (a late one): it joins the incident, an edit.
    assert len(webhook.edits) == 2 and len(webhook.posts) == 2
    for request in [*webhook.posts, *webhook.edits]:
        assert request.headers["Content-Type"] == "application/json" and request.files == {}
    for message in webhook.channel():
        assert message.files == {} and "image" not in embed(message)


def _later(alarm: dict[str, Any]) -> str:
    at = datetime.strptime(alarm["StateChangeTime"], "%Y-%m-%dT%H:%M:%S.%f%z") + timedelta(minutes=5)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000"


def test_an_eventbridge_alarm_event_gets_its_graph_too(
    client: Any, webhook: DiscordFake, alert_table: str, proxy: faultproxy.FaultProxy
) -> None:
    client.lambda_.invoke(
        "forward_alert", sns_event({"Message": (EVENTS / "eventbridge-alarm-state-change.json").read_text()})
    )

    (message,) = webhook.channel()
    assert proxy.count("GetMetricWidgetImage") == 1
    (name,) = message.files
    assert embed(message)["image"] == {"url": f"attachment://{name}"}


def test_when_discord_refuses_the_message_the_plain_fallback_carries_no_file(
    client: Any, webhook: DiscordFake, alert_table: str, slow_site: Any
) -> None:
    opened = datetime.now(UTC) - timedelta(minutes=5)
    slow_site("ALARM", opened)
    refused = {"message": "Invalid Form Body", "code": 50035}
    webhook.script[:] = [Reply(400, refused, method="POST")]
    send(client, site_too_slow("ALARM", opened))

    attempt, fallback = webhook.posts
    assert list(attempt.files) == [GRAPH], "the message itself went with its graph"
    (incident,) = webhook.channel()
    assert_no_graph(fallback, incident)
    assert "embeds" not in fallback.payload and "SiteTooSlow" in fallback.payload["content"]

    webhook.script[:] = [Reply(400, refused, method="PATCH")]
    send(client, site_too_slow("OK", datetime.now(UTC), "ALARM"))
    attempt, fallback = webhook.edits
    assert list(attempt.files) == [GRAPH]
    assert fallback.payload["embeds"] == [] and fallback.payload["attachments"] == []
    assert_no_graph(fallback, webhook.messages[incident.id])


# ---- exactly once, with graphs --------------------------------------------------------------------


class Crash(BaseException):
    """The Lambda instance dies: nothing after this runs, not even an except clause."""


def test_a_crash_after_the_recovery_edit_owes_no_image_and_the_retry_draws_a_new_graph(
    webhook: DiscordFake, alert_table: str, slow_site: Any, boto: Any
) -> None:
    clock = [time.time()]
    store = StateStore(aws.client("dynamodb-alerts"), alert_table, clock=lambda: clock[0])
    session = requests.Session()
    hook = Webhook(webhook.url, session=session)

    def cloudwatch(region: str) -> Any:
        return aws.client("cloudwatch", region=region)

    opened = datetime.now(UTC) - timedelta(minutes=5)
    slow_site("ALARM", opened)
    forwarder.forward(alarm_event(site_too_slow("ALARM", opened))["Records"], hook, store, cloudwatch=cloudwatch)
    recovered = datetime.now(UTC)
    slow_site("OK", recovered)
    recovery = alarm_event(site_too_slow("OK", recovered, "ALARM"))

    def die_after_the_edit(response: Any, *_: Any, **__: Any) -> None:
        if response.request.method == "PATCH":
            raise Crash

    session.hooks["response"].append(die_after_the_edit)
    try:
        with pytest.raises(Crash):
            forwarder.forward(recovery["Records"], hook, store, cloudwatch=cloudwatch)
    finally:
        session.hooks["response"].remove(die_after_the_edit)

    # What the next invocation must finish is stored without the image: it draws its own.
    arn = site_too_slow("OK", recovered)["AlarmArn"]
    item = boto("dynamodb").get_item(TableName=alert_table, Key={"pk": {"S": f"alarm#{arn}"}})["Item"]
    owed = json.loads(item["state"]["S"])["owed"]
    assert [work["type"] for work in owed] == ["EditIncident", "PostFollowUp"]
    assert all(set(work) <= {"type", "record", "state", "ping"} for work in owed), owed
    assert len(item["state"]["S"]) < 8000

    clock[0] += forwarder.LAMBDA_TIMEOUT_SECONDS + 2  # Lambda's retry, once the claims have expired
    forwarder.forward(recovery["Records"], hook, store, cloudwatch=cloudwatch)

    incident, follow_up = webhook.channel()
    crashed, retried = webhook.edits
    assert list(crashed.files) == list(retried.files) == [GRAPH], "the retry drew the graph again"
    assert list(incident.files) == [GRAPH] and incident.files[GRAPH] == retried.files[GRAPH]
    assert embed(incident)["image"] == {"url": f"attachment://{GRAPH}"}
    assert "is OK again" in follow_up.payload["content"] and follow_up.files == {}
