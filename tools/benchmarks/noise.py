"""Row 6: alert noise. A scripted month of alarm traffic (``alarm_month``) through the real handler,
against the benchmark's moto server and the Discord fake, beside the old forwarder.

The handler is ``app.forward_alert``, invoked as Lambda invokes it for SNS: asynchronously, waves of
invocations at once in threads, a failed invocation retried (at most twice) a few waves later, and
a crashed one only once its claims have expired. A crash is the instance dying right after its
first state write that follows a post (a ``BaseException`` from a botocore hook: nothing of the
invocation runs after it). What the channel shows at the end is checked against an independent
reading of the policy (``expected_incidents``), never against the forwarder's own code.

The old forwarder (the seed's, and this project's before the incidents) posts once per SNS
message, and every post pings.

A return to ALARM after a recovery (within the flap window) has reached someone when a notifying
"in ALARM again" note for its incident was posted for it or for an earlier return of the same
incident (one that keeps flapping pings once); an incident pings at most twice.
"""

import itertools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tools.benchmarks import aws_setup
from tools.benchmarks.alarm_month import Delivery, Publication, Scenario, month
from tools.devkit.discord.fake import DiscordFake, Message, Reply
from tools.devkit.lambda_events import LambdaContext, sns_event
from tools.devkit.names import ALERT_STATE_TABLE
from tools.local_stack import resources
from tools.reliability import lambda_async

FUNCTION = "compiler-explorer-stats-prod-forward_alert"
RETRY_AFTER_WAVES = 2  # Lambda retries an async event a minute or more later: after other deliveries
INCIDENT_TITLE = re.compile(r"^(?P<name>.+): (?P<state>ALARM|OK \(recovered\)|INSUFFICIENT_DATA|over \(.*\))$")
HISTORY_LINE = re.compile(r"^`(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)` (\w+) → (\w+)$", re.MULTILINE)
FOLLOW_UP = re.compile(
    r"^(?:<@&\d+> )?(?:✅|🔴) `(?P<name>.+)` is (?:OK again after|in ALARM again,) .*/(?P<incident>\d+)$"
)
AGAIN = re.compile(
    r"^(?:<@&\d+> )?🔴 `.+` is in ALARM again, (?P<nth>\d+)(?:st|nd|rd|th) time in .*/(?P<incident>\d+)$"
)


class Crash(BaseException):
    """The Lambda instance died: no except clause of the invocation runs."""


def noise_row(emulator: Any, quick: bool) -> dict[str, Any]:
    import app  # before the level is lowered: it sets chalicelib's own

    scenario = month(quick)
    resources.create_alert_state_table(aws_setup.setup_client("dynamodb"))
    with (
        DiscordFake() as discord_fake,
        aws_setup.app_settings({"WEBHOOK_URL": discord_fake.url, "ALERT_STATE_TABLE": ALERT_STATE_TABLE}),
    ):
        harness = _Lambda(app.forward_alert, discord_fake)
        before = emulator.counts()
        started = time.perf_counter()
        with harness.hooks():
            harness.replay(scenario)
        seconds = time.perf_counter() - started
        dynamodb = {op: n for op, n in (emulator.counts() - before).items() if op.startswith("dynamodb:")}
    found = check(scenario, discord_fake)
    deliveries = scenario.deliveries
    kinds = Counter(d.kind for d in deliveries)
    distinct = len({(p.alarm, p.step) if p.alarm else p.message_id for p in scenario.publications})
    return {
        "quick": quick,
        "seconds": round(seconds, 1),
        "scenario": {
            "sns_messages_in": len(deliveries),
            "published": len(scenario.publications),
            "distinct_alerts": distinct,
            "redeliveries": kinds["redelivery"],
            "second_publications": kinds["second publication"],
            "late": kinds["late"],
            "faults": dict(Counter(d.fault for d in deliveries if d.fault)),
            "alarms": len(scenario.transitions()),
            "transitions": sum(len(steps) for steps in scenario.transitions().values()),
            "incidents_opened": found["incidents_expected"],
        },
        "lambda": harness.stats,
        "dynamodb_requests_per_sns_message": round(sum(dynamodb.values()) / len(deliveries), 2),
        "dynamodb_requests": dynamodb,
        "project": found,
        "old": {
            # One pinging post per SNS message, whatever it says; nothing edited, nothing deduplicated.
            "posts": len(deliveries),
            "pinging_posts": len(deliveries),
            "edits": 0,
            "duplicates": len(deliveries) - distinct,
            "lost_transitions": 0,
        },
    }


class _Lambda:
    """Lambda's asynchronous invocation of one handler, with its retries, in threads."""

    def __init__(self, handler: Callable[[dict[str, Any], Any], Any], discord_fake: DiscordFake) -> None:
        self.handler = handler
        self.discord_fake = discord_fake
        self.local = threading.local()
        self.stats: dict[str, Any] = {
            "invocations": 0,
            "retries": 0,
            "failed_invocations": Counter(),
            "dead_lettered": 0,
            "most_at_once": 0,
        }
        self._lock = threading.Lock()
        # The first attempt and MaximumRetryAttempts, as the merged template sets it (resources/wiring.yaml).
        self.attempts = 1 + lambda_async.retry_attempts()

    @contextmanager
    def hooks(self) -> Iterator[None]:
        """The crash: armed per invocation (thread), fired by the first state write after a post."""
        import requests

        import app
        from chalicelib import aws, factory

        def on_write(*_: Any, event_name: str = "", **__: Any) -> None:
            if getattr(self.local, "armed", False) and self.local.posted and not event_name.endswith(".GetItem"):
                self.local.armed = False
                raise Crash

        def on_response(response: Any, *_: Any, **__: Any) -> None:
            if response.request.method == "POST" and 200 <= response.status_code < 300:
                self.local.posted = True

        events = aws.client("dynamodb-alerts").meta.events
        events.register("after-call.dynamodb", on_write)
        session = requests.Session()
        session.hooks["response"].append(on_response)
        engine, app.alert_engine = app.alert_engine, factory.Factory(session=session)
        try:
            yield
        finally:
            app.alert_engine = engine
            events.unregister("after-call.dynamodb", on_write)

    def replay(self, scenario: Scenario) -> None:
        retries: list[tuple[int, float, Delivery, int]] = []  # (due wave, not before, delivery, attempt)
        for index, wave in enumerate(scenario.waves):
            due = [r for r in retries if r[0] <= index]
            retries = [r for r in retries if r[0] > index]
            for _, not_before, delivery, attempt in due:
                retries += self._run([(delivery, attempt)], index, not_before)
            retries += self._run([(delivery, 1) for delivery in wave], index)
        index = len(scenario.waves)
        while retries:
            due, retries = retries, []
            for _, not_before, delivery, attempt in sorted(due, key=lambda r: r[0]):
                retries += self._run([(delivery, attempt)], index, not_before)
            index += 1

    def _run(self, batch: list[tuple[Delivery, int]], index: int, not_before: float = 0.0) -> list[Any]:
        """Invoke each of ``batch`` at once; the retries Lambda would make of the ones that failed."""
        pause = not_before - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        failures: list[tuple[Delivery, int, str]] = []
        start = threading.Barrier(len(batch))
        self.stats["most_at_once"] = max(self.stats["most_at_once"], len(batch))

        def attempt(delivery: Delivery, number: int) -> None:
            if len(batch) > 1:
                start.wait()
            problem = self._invoke(delivery, number)
            if problem:
                with self._lock:
                    failures.append((delivery, number, problem))

        threads = [threading.Thread(target=attempt, args=item) for item in batch]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        retries = []
        for delivery, number, problem in failures:
            self.stats["failed_invocations"][problem] += 1
            if number >= self.attempts:
                self.stats["dead_lettered"] += 1
                continue
            # A crashed invocation's claims last as long as it could have run (its context: 0 s) plus a second.
            wait_until = time.monotonic() + (1.1 if problem == "crash" else 0.0)
            retries.append((index + RETRY_AFTER_WAVES, wait_until, delivery, number + 1))
        return retries

    def _invoke(self, delivery: Delivery, number: int) -> str | None:
        publication = delivery.publication
        fault = delivery.fault if number == 1 else None
        scripted = None
        if fault and fault.startswith("rate limited"):
            # Discord asks for a minute: more than the deadline, so the invocation fails and Lambda retries.
            body = {"message": "You are being rate limited.", "retry_after": 60.0, "global": False}
            scripted = Reply(429, body, method=fault.rsplit(" ", 1)[1])
            self.discord_fake.script.append(scripted)
        self.local.armed, self.local.posted = fault == "crash after post", False
        context = LambdaContext(function_name=FUNCTION, timeout_seconds=0 if self.local.armed else 90)
        with self._lock:
            self.stats["invocations"] += 1
            self.stats["retries"] += number > 1
        try:
            self.handler(_event(publication), context)
        except Crash:
            return "crash"
        except Exception as error:  # noqa: BLE001 (any exception fails a Lambda invocation)
            return type(error).__name__
        finally:
            self.local.armed = False
            if scripted is not None and scripted in self.discord_fake.script:
                self.discord_fake.script.remove(scripted)
        return None


def _event(publication: Publication) -> dict[str, Any]:
    return sns_event(
        {"MessageId": publication.message_id, "Message": publication.message, "Subject": publication.subject}
    )


# ---- what the channel shows, against the policy -------------------------------------------------


def expected_incidents(steps: list[tuple[int, str, str]], window_ms: int) -> list[dict[str, Any]]:
    """The policy, read independently: an ALARM opens an incident, an OK closes it, an ALARM within
    the window after that OK reopens it; an ALARM whose old state is OK, long after the incident's
    last transition, means a recovery was never published: a new incident."""
    incidents: list[dict[str, Any]] = []
    for at, old, new in steps:
        current = incidents[-1] if incidents else None
        if current is not None and current["state"] not in ("OK", "over"):
            if new == "ALARM" and old == "OK" and at - current["steps"][-1][0] > window_ms:
                current["state"] = "over"
            else:
                current["steps"].append((at, old, new))
                current["state"] = new
                continue
        elif new == "ALARM" and current is not None and current["state"] == "OK":
            if at - current["steps"][-1][0] <= window_ms:
                current["steps"].append((at, old, new))
                current["state"] = new
                continue
        if new == "ALARM":
            incidents.append({"steps": [(at, old, new)], "state": new})
    return incidents


def check(scenario: Scenario, discord_fake: DiscordFake) -> dict[str, Any]:
    from chalicelib import alerts, discord

    channel = discord_fake.channel()
    ever = list(discord_fake.messages.values())
    shown_incidents: dict[tuple[str, str], list[Message]] = {}
    for message in channel:
        name, lines = _incident(message)
        if name is not None and lines:
            shown_incidents.setdefault((name, lines[0][0]), []).append(message)
    follow_ups = Counter(m.payload.get("content", "").rsplit("/", 1)[-1] for m in channel if _is_follow_up(m))

    incidents = duplicates = lost = right = alarm_pings = returns = reached = most_pings = 0
    again_notes = [m for m in ever if AGAIN.match(m.payload.get("content", ""))]
    wrong: list[str] = []
    for alarm, steps in scenario.transitions().items():
        for incident in expected_incidents(steps, scenario.flap_window_ms):
            incidents += 1
            lines = [(_stamp(at), old, new) for at, old, new in incident["steps"]]
            messages = shown_incidents.pop((alarm, lines[0][0]), [])
            if not messages:
                lost += len(lines)
                wrong.append(f"{alarm} {lines[0][0]}: no message")
                continue
            duplicates += len(messages) - 1
            alarm_pings += sum(not m.quiet for m in messages)
            ids = {m.id for m in messages}
            pinged = [
                int(match["nth"])
                for m in again_notes
                if not m.quiet and (match := AGAIN.match(m.payload["content"])) and match["incident"] in ids
            ]
            # The k-th return to ALARM is the (k + 1)-th time in ALARM.
            nths = [k + 1 for k in range(1, _returns(incident["steps"]) + 1)]
            returns += len(nths)
            reached += sum(1 for nth in nths if pinged and nth >= min(pinged))
            most_pings = max(most_pings, sum(not m.quiet for m in messages) + len(pinged))
            final = max(messages, key=lambda m: len(_incident(m)[1]))
            shown = _incident(final)[1]
            lost += len(set(lines) - set(shown))
            state = final.payload["embeds"][0]["title"].rsplit(": ", 1)[1]
            wanted = {"OK": "OK (recovered)", "over": "over (no recovery was published)"}.get(
                incident["state"], incident["state"]
            )
            duplicates += max(follow_ups.get(final.id, 0) - 1, 0)
            if shown == lines and state == wanted:
                right += 1
            else:
                wrong.append(f"{alarm} {lines[0][0]}: shows {state} with {len(shown)} of {len(lines)} transitions")
    # Messages for incidents that should not exist are noise too.
    duplicates += sum(len(messages) for messages in shown_incidents.values())
    alarm_pings += sum(not m.quiet for messages in shown_incidents.values() for m in messages)

    notes = Counter(_note_key(m) for m in channel if _note_key(m))
    duplicates += sum(n - 1 for n in notes.values())
    others_lost = 0
    for publication in scenario.others():
        expected = discord.payload(alerts.parse_message(publication.message, publication.subject))["embeds"][0]
        copies = sum(1 for m in channel if (m.payload.get("embeds") or [None])[0] == expected)
        duplicates += max(copies - 1, 0)
        others_lost += copies == 0
    return {
        "posts": len(ever),
        "pinging_posts": sum(not m.quiet for m in ever),
        "pinging_alarm_posts": alarm_pings,
        "quiet_posts": sum(m.quiet for m in ever),
        "follow_ups_posted": sum(_is_follow_up(m) for m in ever),
        "follow_ups_replaced": sum(m.deleted for m in ever),
        "edits": sum(len(m.versions) for m in ever),
        "requests": len(discord_fake.requests),
        "channel_messages": len(channel),
        "duplicates": duplicates,
        "lost_transitions": lost,
        "lost_other_messages": others_lost,
        "incidents_expected": incidents,
        "returns_to_alarm": returns,
        "returns_reached": reached,
        "most_pings_per_incident": most_pings,
        "incidents_right": right,
        "wrong": wrong,
    }


def _returns(steps: list[tuple[int, str, str]]) -> int:
    """ALARMs that follow a recovery within one incident."""
    return sum(1 for before, step in itertools.pairwise(steps) if step[2] == "ALARM" and before[2] == "OK")


def _incident(message: Message) -> tuple[str | None, list[tuple[str, str, str]]]:
    embeds = message.payload.get("embeds") or []
    if not embeds:
        return None, []
    match = INCIDENT_TITLE.match(embeds[0].get("title", ""))
    if not match:
        return None, []
    return match["name"], HISTORY_LINE.findall(embeds[0].get("description", ""))


def _is_follow_up(message: Message) -> bool:
    return bool(FOLLOW_UP.match(message.payload.get("content", "")))


def _note_key(message: Message) -> str | None:
    """A quiet post of one transition outside any incident: its alarm, change time and states."""
    embeds = message.payload.get("embeds") or []
    if not embeds or not embeds[0].get("title", "").startswith("CloudWatch Alert - "):
        return None
    fields = {f["name"]: f["value"] for f in embeds[0].get("fields", [])}
    return json.dumps([embeds[0]["title"], fields.get("Changed at"), fields.get("State")])


def _stamp(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))
