"""The alert forwarder end to end: one Discord message per incident, edited as the alarm changes,
follow-ups that tell its state, delivered exactly once, never lost to the bookkeeping.

What each transition owes is the state machine's, tested on plain values in test_incidents.py;
here is the wiring. Real parts only: the handler (Chalice's test client, or the handler itself where a test needs a
Lambda context or threads), moto's DynamoDB over HTTP, and the Discord fake. Every assertion is on
what the channel shows (``channel()``, message versions, flags) or on what DynamoDB holds.
"""

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

import app as stats_app
from chalicelib import aws, factory, forwarder
from chalicelib.state_store import Busy, StateStore
from chalicelib.webhook import DeliveryError, Webhook
from tools.devkit import names
from tools.devkit.discord.fake import CHANNEL_ID, GUILD_ID, DiscordFake, Message, Reply
from tools.devkit.lambda_events import LambdaContext, alarm_event, sns_event

EVENTS = Path(__file__).parent / "events"
SITE_TOO_SLOW = json.loads((EVENTS / "extended-statistic-ok.json").read_text())
START = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
HISTORY_LINE = re.compile(r"^`(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)` (\w+) → (\w+)$", re.MULTILINE)
JUMP = re.compile(rf"https://discord\.com/channels/{GUILD_ID}/{CHANNEL_ID}/(\d+)")


def alarm(new: str, old: str, minute: float, name: str = "SiteTooSlow") -> dict[str, Any]:
    """SiteTooSlow (or another alarm of its shape) entering ``new`` ``minute`` minutes after START."""
    at = START + timedelta(minutes=minute)
    return {
        **SITE_TOO_SLOW,
        "AlarmName": name,
        "AlarmArn": f"arn:aws:cloudwatch:us-east-1:052730242331:alarm:{name}",
        "NewStateValue": new,
        "OldStateValue": old,
        "NewStateReason": f"{old} to {new} at minute {minute}",
        "StateChangeTime": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000",
    }


def send(client: Any, message: dict[str, Any], message_id: str | None = None) -> None:
    client.lambda_.invoke("forward_alert", alarm_event(message, message_id=message_id))


def history(message: Message) -> list[tuple[str, str, str]]:
    return HISTORY_LINE.findall(message.payload["embeds"][0]["description"])


def stamp(minute: float) -> str:
    return (START + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:%S")


def title(message: Message) -> str:
    embeds = message.payload.get("embeds") or [{}]
    return embeds[0].get("title", "")


def incident_messages(discord_fake: DiscordFake, name: str = "SiteTooSlow") -> list[Message]:
    return [m for m in discord_fake.channel() if title(m).startswith(f"{name}: ")]


def follow_ups(discord_fake: DiscordFake, name: str = "SiteTooSlow") -> list[Message]:
    return [m for m in discord_fake.channel() if f"`{name}` is OK again" in m.payload.get("content", "")]


def item(boto: Any, key: str) -> dict[str, Any]:
    return boto("dynamodb").get_item(TableName=names.ALERT_STATE_TABLE, Key={"pk": {"S": key}}).get("Item", {})


# ---- the behaviour ------------------------------------------------------------------------------


def test_an_alarm_and_its_recovery_are_one_edited_message_and_one_quiet_follow_up(
    client: Any, webhook: DiscordFake, alert_table: str
) -> None:
    send(client, alarm("ALARM", "OK", 0))
    send(client, alarm("OK", "ALARM", 12))

    incident, follow_up = webhook.channel()
    assert not incident.quiet, "the opening ALARM pings"
    (opened,) = incident.versions  # one edit
    assert opened["embeds"][0]["title"] == "SiteTooSlow: ALARM"
    assert opened["embeds"][0]["color"] == 15610675
    embed = incident.payload["embeds"][0]
    assert embed["title"] == "SiteTooSlow: OK (recovered)"
    assert embed["color"] == 3066993
    assert history(incident) == [(stamp(0), "OK", "ALARM"), (stamp(12), "ALARM", "OK")]
    assert "lasted 12 min" in embed["description"]
    assert {"name": "State", "value": "OK", "inline": False} in embed["fields"]
    # Discord keeps neither the embeds nor the allowed mentions of an edited message.
    (edit,) = webhook.edits
    assert edit.json["allowed_mentions"] == {"parse": []} and edit.json["embeds"][0]["title"] == embed["title"]
    # Edits notify nobody: the recovery is told by a short quiet post that links to the incident.
    assert follow_up.quiet
    assert "`SiteTooSlow` is OK again after 12 min in ALARM" in follow_up.payload["content"]
    assert JUMP.search(follow_up.payload["content"])[1] == incident.id


@pytest.mark.parametrize(("role", "pinged"), [("123456789012345678", True), ("@maintainers", False), ("", False)])
def test_notifying_posts_mention_the_configured_role_and_quiet_ones_and_edits_nobody(
    client: Any, webhook: DiscordFake, alert_table: str, monkeypatch: pytest.MonkeyPatch, role: str, pinged: bool
) -> None:
    monkeypatch.setenv("ALERT_MENTION_ROLE", role)
    send(client, alarm("ALARM", "OK", 0))
    send(client, alarm("OK", "ALARM", 12))

    _, follow_up = webhook.channel()
    opening = webhook.posts[0].json
    if pinged:
        assert opening["content"].startswith(f"<@&{role}>")
        assert opening["allowed_mentions"] == {"roles": [role]}
    else:  # unset, or not a role id: nobody, as before
        assert "<@&" not in opening.get("content", "") and opening["allowed_mentions"] == {"parse": []}
    (edit,) = webhook.edits
    assert edit.json["allowed_mentions"] == {"parse": []} and "<@&" not in edit.json["content"]
    assert follow_up.quiet and follow_up.payload["allowed_mentions"] == {"parse": []}
    assert "<@&" not in follow_up.payload["content"]


def test_a_return_to_alarm_after_a_recovery_pings_again_and_the_channel_ends_saying_so(
    client: Any, webhook: DiscordFake, alert_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's three commands: ALARM, OK, ALARM again. Whoever read "OK" is told."""
    monkeypatch.setenv("ALERT_MENTION_ROLE", "4242")
    send(client, alarm("ALARM", "OK", 0))
    send(client, alarm("OK", "ALARM", 12))
    send(client, alarm("ALARM", "OK", 40))

    incident, again = webhook.channel()
    assert title(incident) == "SiteTooSlow: ALARM" and len(incident.versions) == 2
    assert history(incident) == [(stamp(0), "OK", "ALARM"), (stamp(12), "ALARM", "OK"), (stamp(40), "OK", "ALARM")]
    # The recovery's quiet note is replaced: the newest message tells the current state, and pings.
    (recovered,) = [m for m in webhook.messages.values() if m.deleted]
    assert recovered.quiet and "is OK again" in recovered.payload["content"]
    assert not again.quiet and again.payload["allowed_mentions"] == {"roles": ["4242"]}
    content = again.payload["content"]
    assert content.startswith("<@&4242> 🔴 `SiteTooSlow` is in ALARM again, 2nd time in 40 min")
    assert JUMP.search(content)[1] == incident.id
    assert [m.quiet for m in webhook.messages.values()] == [False, True, False], "two pings, no more"

    send(client, alarm("OK", "ALARM", 45))
    send(client, alarm("ALARM", "OK", 50))  # it keeps flapping: shown, but nobody is pinged a third time
    incident, third = webhook.channel()
    assert third.quiet and "3rd time in 50 min" in third.payload["content"]
    assert [m.quiet for m in webhook.messages.values()].count(False) == 2


def test_an_eventbridge_alarm_state_change_is_an_incident_like_the_sns_alarm_message(
    client: Any, webhook: DiscordFake, alert_table: str
) -> None:
    event = json.loads((EVENTS / "eventbridge-alarm-state-change.json").read_text())
    detail = event["detail"]
    recovery = {
        **event,
        "id": "another-event",
        "detail": {
            **detail,
            "state": {**detail["state"], "value": "OK", "timestamp": _minutes_later(detail["state"]["timestamp"], 7)},
            "previousState": detail["state"],
        },
    }
    for message in (event, recovery, recovery):
        client.lambda_.invoke("forward_alert", sns_event({"Message": json.dumps(message)}))

    name = detail["alarmName"]
    incident, follow_up = webhook.channel()
    assert title(incident) == f"{name}: OK (recovered)" and len(history(incident)) == 2
    assert not webhook.messages[incident.id].quiet and follow_up.quiet
    assert f"`{name}` is OK again after 7 min in ALARM" in follow_up.payload["content"]


def _minutes_later(timestamp: str, minutes: int) -> str:
    moment = datetime.fromisoformat(timestamp) + timedelta(minutes=minutes)
    return moment.isoformat().replace("+00:00", "Z")


def test_the_flap_window_is_a_setting(client: Any, webhook: DiscordFake, alert_table: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("ALERT_FLAP_WINDOW_MINUTES", "5")
    for new, old, minute in [("ALARM", "OK", 0), ("OK", "ALARM", 5), ("ALARM", "OK", 11)]:
        send(client, alarm(new, old, minute))

    assert [len(history(m)) for m in incident_messages(webhook)] == [2, 1]


def test_other_messages_are_one_post_each_as_today_and_never_twice(
    client: Any, webhook: DiscordFake, alert_table: str, boto: Any
) -> None:
    elb = (EVENTS / "elb-instance-event.json").read_text()
    for message_id in ("elb-1", "elb-1", "text-1", "text-1"):
        text = elb if message_id.startswith("elb") else "is the alert channel alive?"
        client.lambda_.invoke("forward_alert", sns_event({"MessageId": message_id, "Message": text}))

    elb_post, text_post = webhook.channel()
    assert elb_post.payload["embeds"][0]["title"] == "ELB instance event: FailedHealthCheck"
    assert text_post.payload["embeds"][0]["description"] == "is the alert channel alive?"
    assert not elb_post.quiet and not text_post.quiet
    record = item(boto, "delivery#elb-1")
    assert record["status"]["S"] == "done" and record["posted"]["S"] == elb_post.id
    assert abs(float(record["expires_at"]["N"]) - (time.time() + 86400)) < 600


def test_redeliveries_and_second_publications_change_nothing(
    client: Any, webhook: DiscordFake, alert_table: str
) -> None:
    send(client, alarm("ALARM", "OK", 0), "alarm-1")
    send(client, alarm("ALARM", "OK", 0), "alarm-1")  # SNS delivered it again
    send(client, alarm("ALARM", "OK", 0), "alarm-2")  # CloudWatch published it twice
    send(client, alarm("OK", "ALARM", 3), "ok-1")
    send(client, alarm("OK", "ALARM", 3), "ok-2")

    incident, follow_up = webhook.channel()
    assert len(incident.versions) == 1 and len(history(incident)) == 2
    assert follow_up.quiet
    # The incident, its one edit, the follow-up (GET: where the webhook posts, for the jump link).
    assert [r.method for r in webhook.requests if r.method != "GET"] == ["POST", "PATCH", "POST"]


# ---- exactly once, under concurrency and crashes ------------------------------------------------


def invoke(event: dict[str, Any]) -> None:
    stats_app.forward_alert(event, LambdaContext(function_name="forward_alert", timeout_seconds=90))


def all_at_once(events: list[dict[str, Any]]) -> list[BaseException]:
    """Invoke the handler once per event, every invocation in its own thread, all released together."""
    start, errors = threading.Barrier(len(events)), []

    def run(event: dict[str, Any]) -> None:
        start.wait()
        try:
            invoke(event)
        except Exception as error:  # noqa: BLE001 (reported to the test)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(event,)) for event in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)  # beyond any lock wait a test gives the store
    return errors


def test_concurrent_invocations_of_one_alarm_post_once_and_lose_no_transition(
    webhook: DiscordFake, alert_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Six invocations queue for one alarm's lock: on a loaded machine the last may wait longer than the
    # product's 5 s (then Lambda retries it; the busy store's own test covers that). Here, all wait.
    monkeypatch.setattr(stats_app, "alert_engine", factory.Factory(store_wait_seconds=60))
    opening = alarm("ALARM", "OK", 0)
    redelivered = alarm_event(opening, message_id="opening")
    assert all_at_once([alarm_event(opening) for _ in range(4)] + [redelivered, redelivered]) == []

    (incident,) = webhook.channel()
    assert not incident.quiet and incident.versions == []

    later = [alarm("OK", "ALARM", 5), alarm("ALARM", "OK", 10), alarm("OK", "ALARM", 12)]
    events = [alarm_event(message) for message in later for _ in range(2)]
    assert all_at_once(events) == []

    (incident,) = incident_messages(webhook)
    assert history(incident) == [
        (stamp(0), "OK", "ALARM"),
        (stamp(5), "ALARM", "OK"),
        (stamp(10), "OK", "ALARM"),
        (stamp(12), "ALARM", "OK"),
    ]
    assert title(incident) == "SiteTooSlow: OK (recovered)"
    # Whichever order the invocations took: the ALARM at 10 pinged only if it came before the OK at 12.
    pinged = [m for m in webhook.messages.values() if not m.quiet and m is not incident]
    assert all("is in ALARM again" in m.payload.get("content", "") for m in pinged) and len(pinged) <= 1
    assert webhook.channel() == [incident, *follow_ups(webhook)] and len(follow_ups(webhook)) == 1


class Crash(BaseException):
    """The Lambda instance dies: nothing after this runs, not even an except clause."""


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def crash_after() -> Iterator[dict[str, Any]]:
    """Kills the "invocation" right after its ``at``-th call that changes something (0: never).

    Such a call is a DynamoDB write (however it ended) or a Discord request that Discord answered;
    ``calls`` names them in order.
    """
    plan: dict[str, Any] = {"at": 0, "calls": []}

    def after(call: str) -> None:
        plan["calls"].append(call)
        if plan["at"] and len(plan["calls"]) == plan["at"]:
            raise Crash

    def on_dynamodb(*_: Any, event_name: str = "", **__: Any) -> None:
        if not event_name.endswith(".GetItem"):
            after(event_name.rsplit(".", 1)[-1])

    def on_discord(response: Any, *_: Any, **__: Any) -> None:
        if response.request.method != "GET":
            after(f"discord {response.request.method}")

    aws.client("dynamodb-alerts").meta.events.register("after-call.dynamodb", on_dynamodb)
    session = requests.Session()  # the Webhook the test builds sends with it
    session.hooks["response"].append(on_discord)
    plan["session"] = session
    yield plan


def test_a_crash_at_any_point_never_loses_the_work_or_posts_twice(
    webhook: DiscordFake, alert_table: str, crash_after: dict[str, Any]
) -> None:
    """The retry of a crashed invocation finishes its work, and posts nothing twice.

    The crashed invocation is the second recovery of a flapping incident: it edits the incident,
    posts a follow-up and deletes the earlier one. It dies after each of its calls in turn; Lambda
    retries it once its claims have expired. The one window no design closes is between Discord
    saving a post and our saving its id: a crash there posts that message once more, and only then.
    """
    clock = Clock()
    hook = Webhook(webhook.url, session=crash_after["session"])
    crashed_after: list[str] = []
    for point in itertools.count(1):
        name = f"Flapping-{point}"
        store = StateStore(aws.client("dynamodb-alerts"), alert_table, clock=clock)
        for message in [alarm("ALARM", "OK", 0, name), alarm("OK", "ALARM", 5, name), alarm("ALARM", "OK", 10, name)]:
            forwarder.forward(alarm_event(message)["Records"], hook, store)
        crashed = alarm_event(alarm("OK", "ALARM", 12, name))
        crash_after.update(at=point, calls=[])
        try:
            forwarder.forward(crashed["Records"], hook, store)
        except Crash:
            crashed_after.append(crash_after["calls"][-1])
        else:
            break  # every call of the invocation has had its crash
        finally:
            crash_after["at"] = 0
        clock.now += forwarder.LAMBDA_TIMEOUT_SECONDS + 2  # Lambda's retry comes after the claims expired
        forwarder.forward(crashed["Records"], hook, store)

        (incident,) = incident_messages(webhook, name)
        assert len(history(incident)) == 4 and title(incident) == f"{name}: OK (recovered)", crashed_after
        posted = [m for m in webhook.messages.values() if f"`{name}` is OK again" in m.payload.get("content", "")]
        if crashed_after[-1] == "discord POST":
            assert len(posted) <= 3, crashed_after  # the one window: the follow-up's id was not saved yet
        else:
            assert len(posted) == 2 and len(follow_ups(webhook, name)) == 1, crashed_after
    assert "discord PATCH" in crashed_after and "discord DELETE" in crashed_after, crashed_after


def test_a_crash_of_a_plain_message_after_its_post_never_posts_it_again(
    webhook: DiscordFake, alert_table: str, crash_after: dict[str, Any], boto: Any
) -> None:
    clock = Clock()
    store = StateStore(aws.client("dynamodb-alerts"), alert_table, clock=clock)
    hook = Webhook(webhook.url, session=crash_after["session"])
    event = sns_event({"MessageId": "plain", "Message": "disk full on the builder"})
    crash_after["at"] = 3  # the claim, the post, the record of the post: then the instance dies

    with pytest.raises(Crash):
        forwarder.forward(event["Records"], hook, store)
    assert crash_after["calls"] == ["PutItem", "discord POST", "UpdateItem"]
    crash_after["at"] = 0
    clock.now += forwarder.LAMBDA_TIMEOUT_SECONDS + 2
    forwarder.forward(event["Records"], hook, store)  # Lambda's retry

    (message,) = webhook.channel()
    assert message.payload["embeds"][0]["description"] == "disk full on the builder"
    assert item(boto, "delivery#plain")["status"]["S"] == "done"


def test_a_store_that_is_busy_for_longer_than_we_wait_defers_to_lambdas_retry(
    webhook: DiscordFake, alert_table: str, boto: Any
) -> None:
    clock = Clock()
    store = StateStore(aws.client("dynamodb-alerts"), alert_table, clock=clock, sleep=_advance(clock))
    opening = alarm("ALARM", "OK", 0)
    arn = opening["AlarmArn"]
    boto("dynamodb").put_item(
        TableName=alert_table,
        Item={"pk": {"S": f"alarm#{arn}"}, "lock_owner": {"S": "another"}, "lock_expires": {"N": str(clock.now + 60)}},
    )
    event = alarm_event(opening, message_id="busy")

    with pytest.raises(Busy):
        forwarder.forward(event["Records"], Webhook(webhook.url), store)
    assert webhook.channel() == []
    assert item(boto, "delivery#busy") == {}, "a failed delivery gives its claim back"

    clock.now += 60
    forwarder.forward(event["Records"], Webhook(webhook.url), store)
    (incident,) = webhook.channel()
    assert not incident.quiet


def _advance(clock: Clock) -> Any:
    def sleep(seconds: float) -> None:
        clock.now += seconds

    return sleep


# ---- never lose an alert to the bookkeeping -----------------------------------------------------


def test_an_unreachable_state_store_still_posts_and_says_so(
    client: Any, webhook: DiscordFake, alert_table: str, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    send(client, alarm("ALARM", "OK", 0))
    send(client, alarm("OK", "ALARM", 5))

    alarm_post, ok_post = webhook.channel()
    assert alarm_post.payload["embeds"][0]["title"] == "CloudWatch Alert - SiteTooSlow!"
    assert not alarm_post.quiet and ok_post.quiet
    assert caplog.text.count("posting without state") == 2


def test_a_store_failing_midway_still_posts_and_is_not_called_again_to_time_out(
    client: Any, webhook: DiscordFake, alert_table: str, caplog: Any
) -> None:
    from botocore.exceptions import EndpointConnectionError

    calls: list[str] = []

    def before_call(*_: Any, event_name: str = "", **__: Any) -> None:
        calls.append(event_name.rsplit(".", 1)[-1])
        if calls.count("UpdateItem") == 2:  # after the claim and the lock: saving the state fails
            raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    aws.client("dynamodb-alerts").meta.events.register("before-call.dynamodb", before_call)
    send(client, alarm("ALARM", "OK", 0))

    # Every further call would wait out the same timeouts (7 s each) against the 90 s budget.
    assert calls == ["PutItem", "UpdateItem", "UpdateItem"]
    (post,) = webhook.channel()
    assert post.payload["embeds"][0]["title"] == "CloudWatch Alert - SiteTooSlow!" and not post.quiet
    assert "posting without state" in caplog.text


def test_an_unreadable_stored_state_costs_no_alert(
    client: Any, webhook: DiscordFake, alert_table: str, boto: Any
) -> None:
    opening = alarm("ALARM", "OK", 0)
    boto("dynamodb").put_item(
        TableName=alert_table, Item={"pk": {"S": f"alarm#{opening['AlarmArn']}"}, "state": {"S": '{"steps": [{"x"'}}
    )
    send(client, opening)
    send(client, alarm("OK", "ALARM", 5))

    incident, follow_up = webhook.channel()
    assert not incident.quiet and title(incident) == "SiteTooSlow: OK (recovered)" and follow_up.quiet


def test_a_bug_in_the_state_machine_costs_no_alert(
    client: Any, webhook: DiscordFake, alert_table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib import incidents

    def broken(*_: Any) -> str:
        raise KeyError("a shape nobody foresaw")

    monkeypatch.setattr(incidents, "apply", broken)
    send(client, alarm("ALARM", "OK", 0))

    (post,) = webhook.channel()
    assert post.payload["embeds"][0]["title"] == "CloudWatch Alert - SiteTooSlow!" and not post.quiet


def test_a_deleted_incident_message_is_posted_again_and_that_one_is_kept(
    client: Any, webhook: DiscordFake, alert_table: str
) -> None:
    send(client, alarm("ALARM", "OK", 0))
    (first,) = webhook.channel()
    requests.delete(f"{webhook.url}/messages/{first.id}", timeout=5).raise_for_status()  # someone tidied up

    send(client, alarm("OK", "ALARM", 5))
    send(client, alarm("ALARM", "OK", 10))

    (incident,) = incident_messages(webhook)
    assert incident.id != first.id and incident.quiet, "posted again, without pinging a second time"
    assert len(history(incident)) == 3 and len(incident.versions) == 1, "the new message is the one edited"


def test_a_deleted_webhook_raises_and_the_retry_finishes_the_work(
    client: Any, webhook: DiscordFake, alert_table: str
) -> None:
    send(client, alarm("ALARM", "OK", 0))
    webhook.script[:] = [Reply(404, {"message": "Unknown Webhook", "code": 10015}, method="PATCH")]
    recovery = alarm_event(alarm("OK", "ALARM", 5), message_id="recovery")

    with pytest.raises(DeliveryError, match="HTTP 404"):
        client.lambda_.invoke("forward_alert", recovery)
    (incident,) = webhook.channel()
    assert title(incident) == "SiteTooSlow: ALARM"

    client.lambda_.invoke("forward_alert", recovery)  # Lambda's retry, once the webhook is back
    incident, follow_up = webhook.channel()
    assert title(incident) == "SiteTooSlow: OK (recovered)" and follow_up.quiet


def test_an_edit_rate_limit_is_waited_out_within_the_deadline_or_left_to_lambdas_retry(
    client: Any, webhook: DiscordFake, alert_table: str
) -> None:
    send(client, alarm("ALARM", "OK", 0))
    webhook.script[:] = [Reply.edit_rate_limited(0.2)]
    send(client, alarm("INSUFFICIENT_DATA", "ALARM", 3))
    (incident,) = webhook.channel()
    assert title(incident) == "SiteTooSlow: INSUFFICIENT_DATA" and len(webhook.edits) == 2

    webhook.script[:] = [Reply.edit_rate_limited(120)]  # longer than the 40 s deadline
    recovery = alarm_event(alarm("OK", "INSUFFICIENT_DATA", 5), message_id="recovery")
    with pytest.raises(DeliveryError, match="30046"):
        client.lambda_.invoke("forward_alert", recovery)
    client.lambda_.invoke("forward_alert", recovery)

    incident, follow_up = webhook.channel()
    assert title(incident) == "SiteTooSlow: OK (recovered)" and len(history(incident)) == 3
    assert follow_up.quiet and len(webhook.posts) == 2


def test_the_state_table_keeps_an_open_incident_and_expires_a_closed_one(
    client: Any, webhook: DiscordFake, alert_table: str, boto: Any
) -> None:
    opening = alarm("ALARM", "OK", 0)
    send(client, opening, "opening")
    key = f"alarm#{opening['AlarmArn']}"
    assert "expires_at" not in item(boto, key), "an open incident is never forgotten"
    assert "lock_owner" not in item(boto, key)
    assert item(boto, "delivery#opening")["status"]["S"] == "done"

    send(client, alarm("OK", "ALARM", 5))
    assert abs(float(item(boto, key)["expires_at"]["N"]) - (time.time() + 7 * 86400)) < 600
