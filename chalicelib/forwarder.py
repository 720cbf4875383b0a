"""The alert forwarder: SNS records on the alert topic become Discord messages, exactly once.

A CloudWatch alarm's transitions become one message per incident, edited as the alarm changes
(``incidents``), with the state in DynamoDB (``state_store``); anything else is one post per SNS
message. Every SNS message is claimed first, so a redelivery changes nothing. When the state store
cannot be reached the alert is posted anyway, as a new message: the bookkeeping never costs an alert.

Every message that shows an alarm with a metric carries its graph (``chalicelib.graphs``): the
incident message when it is posted, and a new one each time it is edited, replacing the last
(the recovery's shows the whole incident); quiet posts of one transition, and alarms posted
without state, too. Follow-ups and other text notes never do. The graph is drawn when the work is
done, never stored with the work owed, and is best effort: any failure, or too little time left
before the Discord deadline, and the message goes without it.
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from chalicelib import alerts, discord, graphs, incidents, settings
from chalicelib.state_store import Claim, StateStore, StoreUnavailable
from chalicelib.webhook import DeliveryError, File, MessageGone, Webhook

logger = logging.getLogger(__name__)

LAMBDA_TIMEOUT_SECONDS = 90.0  # .chalice/config.json, for a context that cannot say
LOCK_MARGIN_SECONDS = 1.0  # for clocks of different Lambda hosts
# A graph is asked for only while the Discord deadline leaves room for it (graphs.render's worst
# case: one attempt of 1 + 4 s, chalicelib.aws) and, after it, for one whole Discord attempt
# (Webhook's 3.05 + 10 s): the alert's own time is never spent on its picture.
GRAPH_SECONDS = 5.0
DISCORD_ATTEMPT_SECONDS = 13.05
MAX_MARKS = 10  # an incident's earlier transitions drawn on its graph: the opening and the latest


def lock_seconds(context: Any) -> float:
    """How long this invocation's claims last: until it has certainly ended, as Powertools does."""
    try:
        remaining = context.get_remaining_time_in_millis() / 1000
    except (AttributeError, TypeError):
        remaining = LAMBDA_TIMEOUT_SECONDS
    return max(remaining, 0.0) + LOCK_MARGIN_SECONDS


def forward(
    records: Iterable[dict[str, Any]],
    webhook: Webhook,
    store: StateStore | None,
    lock_for: float = LAMBDA_TIMEOUT_SECONDS + LOCK_MARGIN_SECONDS,
    cloudwatch: Callable[[str], Any] | None = None,
    budget: graphs.RenderBudget | None = None,
    mention_role: str | None = None,
) -> int:
    """Deliver every SNS record; one that cannot be delivered raises, so Lambda retries the event.

    ``cloudwatch(region)`` gives the client that draws alarm graphs (at most as ``budget`` allows);
    without it, no graphs. ``mention_role`` is pinged by every notifying post.
    """
    budget = budget or graphs.RenderBudget()
    flap_window_ms = settings.alert_flap_window_seconds() * 1000
    count = 0
    for record in records:
        notification = record.get("Sns") or {}
        message = notification.get("Message")
        if not isinstance(message, str):
            message = "" if message is None else str(message)
        subject = notification.get("Subject") or None
        message_id = str(notification.get("MessageId") or "") or f"unnamed-{uuid.uuid4()}"
        alert = _alert(message, subject)
        transition = incidents.transition_of(message, notification.get("Timestamp"))
        logger.info("forwarding alert %r (message id %s)", alert.title[:200], message_id)
        owner = f"{message_id}/{uuid.uuid4().hex}"
        run = _Run(
            webhook, store, webhook.deadline(), lock_for, flap_window_ms, owner, cloudwatch, budget, mention_role
        )
        if store is None:
            run.without_state(message, alert, transition, "ALERT_STATE_TABLE is not set")
        else:
            run.deliver(message_id, message, alert, transition)
        count += 1
    return count


def _alert(message: str, subject: str | None) -> alerts.Alert:
    try:
        return alerts.parse_message(message, subject)
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError):
        # A message shaped in a way the formatter never saw must still reach the maintainers.
        logger.exception("could not format the alert; forwarding it as plain text")
        return alerts.plain_alert(message, subject)


class _NoState(Exception):
    """The store failed before anything reached Discord: post without state instead."""


class _Run:
    """One SNS record's delivery: its claim, the alarm's lock, and the Discord work, in that order."""

    def __init__(
        self,
        webhook: Webhook,
        store: StateStore | None,
        until: float,
        lock_for: float,
        flap_window_ms: float,
        owner: str,
        cloudwatch: Callable[[str], Any] | None = None,
        budget: graphs.RenderBudget | None = None,
        mention_role: str | None = None,
    ) -> None:
        self.budget = budget or graphs.RenderBudget()
        self.mention_role = mention_role
        self.webhook = webhook
        self.store = store
        self.until = until  # one Discord deadline for everything this record sends
        self.lock_for = lock_for
        self.flap_window_ms = flap_window_ms
        self.owner = owner
        self.cloudwatch = cloudwatch

    def deliver(
        self, message_id: str, message: str, alert: alerts.Alert, transition: incidents.Transition | None
    ) -> None:
        assert self.store is not None  # noqa: S101 (forward checked)
        try:
            claim = self.store.claim_delivery(message_id, self.owner, self.lock_for)
        except StoreUnavailable as error:
            self.without_state(message, alert, transition, str(error))
            return
        if claim is None:
            logger.info("SNS message %s was delivered already: nothing to do", message_id)
            return
        try:
            if transition is None:
                self.post_once(claim, message, alert)
            else:
                self.apply(transition)
        except _NoState as error:
            self.store.abandon_delivery(claim)
            self.without_state(message, alert, transition, str(error.__cause__ or error))
            return
        except Exception:
            self.store.abandon_delivery(claim)
            raise
        try:
            self.store.finish_delivery(claim)
        except StoreUnavailable as error:
            # Delivered; only the record of it is missing, and a redelivery finds the alarm's state.
            logger.error("SNS message %s delivered but not marked done: %s", message_id, error)

    def without_state(
        self, sns_message: str, alert: alerts.Alert, transition: incidents.Transition | None, reason: str
    ) -> None:
        logger.error("alert state unavailable (%s): posting without state", reason)
        message, files = self._with_graph(discord.payload(alert), sns_message)
        fallback = discord.fallback_payload(alert)
        if transition is not None and transition.new != incidents.ALARM:
            message, fallback = discord.quiet(message), discord.quiet(fallback)  # never pings, state or not
        else:
            message, fallback = self._ping(message), self._ping(fallback)
        self.webhook.post(message, fallback, until=self.until, files=files)

    def post_once(self, claim: Claim, sns_message: str, alert: alerts.Alert) -> None:
        """Not an alarm transition: one post, as the old forwarder did, but never twice for one SNS message.

        An alarm that is no transition here (an EventBridge alarm event) still gets its graph.
        """
        assert self.store is not None  # noqa: S101
        if claim.posted:
            logger.info("posted as Discord message %s by an earlier attempt", claim.posted)
            return
        message, files = self._with_graph(discord.payload(alert), sns_message)
        fallback = self._ping(discord.fallback_payload(alert))
        answer = self.webhook.post(self._ping(message), fallback, until=self.until, files=files)
        posted = (answer or {}).get("id")
        if posted:
            try:
                self.store.record_post(claim, str(posted))
            except StoreUnavailable as error:
                logger.error("posted Discord message %s but could not record it: %s", posted, error)

    def apply(self, transition: incidents.Transition) -> None:
        assert self.store is not None  # noqa: S101
        store, arn = self.store, transition.arn
        try:
            state = _alarm_state(store.lock(_alarm_key(arn), self.owner, self.lock_for), arn)
        except StoreUnavailable as error:
            raise _NoState(str(error)) from error
        try:
            if state.owed:
                logger.warning("%s: finishing the Discord work an earlier invocation left", transition.name)
                self.perform(arn, state, release=False)
            try:
                outcome = incidents.apply(state, transition, self.flap_window_ms)
            except Exception as error:  # a bug in the bookkeeping must not cost the alert
                logger.exception("%s: the transition could not be applied", transition.name)
                raise _NoState(f"{type(error).__name__} applying the transition") from error
            logger.info("%s: %s → %s: %s", transition.name, transition.old, transition.new, outcome)
            if outcome in ("duplicate", "conflict"):
                store.unlock(_alarm_key(arn), self.owner)
                return
            try:
                # Written before anything is sent: whoever holds the alarm next finishes the work.
                # Saved even with nothing to send: a transition in no incident yet may join one later.
                _save(store, arn, self.owner, state, release=not state.owed)
            except StoreUnavailable as error:
                raise _NoState(str(error)) from error
            if not state.owed:
                return
            self.perform(arn, state, release=True)
        except Exception:
            store.unlock(_alarm_key(arn), self.owner)
            raise

    def perform(self, arn: str, state: incidents.AlarmState, *, release: bool) -> None:
        """Do the owed Discord work in order; every post is saved before the next step can fail."""
        assert self.store is not None  # noqa: S101
        while state.owed:
            work = state.owed[0]
            posted, more = self._do(work, state)
            state.owed[:1] = more
            if posted and state.owed:
                _save(self.store, arn, self.owner, state, release=False)
        _save(self.store, arn, self.owner, state, release=release)

    def _do(self, work: dict[str, Any], state: incidents.AlarmState) -> tuple[bool, list[dict[str, Any]]]:
        """One piece of work: whether it posted (and so must be saved at once), and what it leaves."""
        kind = work["do"]
        if kind == "quiet":
            alert = _alert(work["message"], None)
            message, files = self._with_graph(discord.payload(alert), work["message"])
            fallback = discord.fallback_payload(alert)
            self.webhook.post(discord.quiet(message), discord.quiet(fallback), until=self.until, files=files)
            return True, []
        if kind == "delete":
            try:
                self.webhook.delete(work["id"], until=self.until)
            except DeliveryError as error:
                # Tidying only: never worth failing the alert for.
                logger.warning("could not delete the earlier follow-up %s: %s", work["id"], error)
            return False, []
        record = state.record(work["record"])
        incident = state.incident_of(record, self.flap_window_ms) if record else None
        if record is None or incident is None:
            logger.warning("owed %s for an incident no longer kept; skipped", kind)
            return False, []
        message = state.message_for(incident.last)
        if kind == "merged":
            into = state.record(work["into"])
            jump = self._jump(into.message_id if into else None)
            state.records.remove(record)
            if record.message_id:
                note = discord.text_message(incidents.merged_text(incidents.alarm_name(message), jump))
                self._edit_if_there(record.message_id, discord.without_image(note))  # its graph goes too
            return False, []
        if kind == "incident":
            alert = incidents.incident_alert(incident, message)
            payload, fallback = discord.payload(alert), discord.fallback_payload(alert)
            # Drawn now, from the incident as it is now: the work owed never holds an image.
            shown, files = self._with_graph(payload, message, incident)
            ping = bool(work.get("ping"))
            if record.message_id:
                # The new graph replaces the old (only it is listed); without one, nothing refers to the old.
                edit = shown if files else discord.without_image(payload)
                try:
                    self.webhook.edit(record.message_id, edit, fallback, until=self.until, files=files)
                    return False, []
                except MessageGone:
                    logger.warning("incident message %s was deleted; posting a new one", record.message_id)
                    ping = False  # the incident was announced already
            if not ping:
                shown, fallback = discord.quiet(shown), discord.quiet(fallback)
            else:
                shown, fallback = self._ping(shown), self._ping(fallback)
            record.message_id = _id_of(self.webhook.post(shown, fallback, until=self.until, files=files))
            return True, []
        # The recovery's follow-up: edits notify nobody, so this quiet post is the sign it is over.
        text = incidents.follow_up_text(incident, incidents.alarm_name(message), self._jump(record.message_id))
        answer = self.webhook.post(discord.quiet(discord.text_message(text)), until=self.until)
        previous, record.follow_up_id = record.follow_up_id, _id_of(answer)
        # One follow-up per incident in the channel: a flap's next recovery replaces the last one.
        return True, [{"do": "delete", "id": previous}] if previous else []

    def _with_graph(
        self, payload: dict[str, Any], sns_message: str, incident: incidents.Incident | None = None
    ) -> tuple[dict[str, Any], list[File]]:
        """``payload`` showing the alarm's graph and the file to send with it, or ``payload`` and no file."""
        if self.cloudwatch is None:
            return payload, []
        try:
            alarm = alerts.alarm_from_message(sns_message)
            if alarm is None or graphs.widget(alarm) is None:
                return payload, []  # not an alarm, or one with no metric to draw (a composite alarm)
            name = alerts.text_of(alarm.get("AlarmName"))[:200]
            left = self.webhook.time_left(self.until)
            if left < GRAPH_SECONDS + DISCORD_ATTEMPT_SECONDS:
                logger.warning("no graph for alarm %r: %.1f s left before the Discord deadline", name, left)
                return payload, []
            marks = _marks(incident, sns_message)
            image = graphs.render(self.cloudwatch, alarm, now=datetime.now(UTC), marks=marks, budget=self.budget)
            if image is None:
                return payload, []  # graphs.render said why
            graph = File(graphs.filename(alarm), image)
            return discord.with_image(payload, graph), [graph]
        except Exception:  # best effort: no failure of the graph may cost the alert
            logger.exception("no graph: drawing it failed, so the alert goes without it")
            return payload, []

    def _ping(self, message: dict[str, Any]) -> dict[str, Any]:
        return discord.mention(message, self.mention_role)

    def _jump(self, message_id: str | None) -> str | None:
        return self.webhook.jump_url(message_id, until=self.until) if message_id else None

    def _edit_if_there(self, message_id: str, message: dict[str, Any]) -> None:
        try:
            self.webhook.edit(message_id, message, until=self.until)
        except MessageGone:
            logger.info("message %s was deleted; nothing to update", message_id)


def _marks(incident: incidents.Incident | None, sns_message: str) -> list[tuple[datetime, str]]:
    """The incident's transitions other than the one the message tells (the graph draws that one),
    so the graph shows the incident from before its ALARM: the opening one and the latest."""
    if incident is None:
        return []
    told = incidents.transition_of(sns_message)
    steps = [step for step in incident.steps if told is None or step.at != told.at]
    if len(steps) > MAX_MARKS:
        steps = [steps[0], *steps[-(MAX_MARKS - 1) :]]
    return [(datetime.fromtimestamp(step.at / 1000, UTC), step.new) for step in steps]


def _id_of(answer: dict[str, Any] | None) -> str | None:
    found = (answer or {}).get("id")
    return str(found) if found else None


def _alarm_key(arn: str) -> str:
    return f"alarm#{arn}"


def _alarm_state(text: str | None, arn: str) -> incidents.AlarmState:
    try:
        return incidents.AlarmState.from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError):
        # Unreadable (a bug, a hand edit): start afresh rather than fail this alarm for ever.
        logger.exception("alarm %s: stored state unreadable; starting from none", arn)
        return incidents.AlarmState()


def _save(store: StateStore, arn: str, owner: str, state: incidents.AlarmState, *, release: bool) -> None:
    # Kept while an incident is open or work is owed, however long; a week after that.
    store.save(_alarm_key(arn), owner, state.to_json(), release=release, keep=state.open or bool(state.owed))
