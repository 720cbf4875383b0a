"""The alert forwarder: SNS records on the alert topic become Discord messages, exactly once.

Each SNS message is recognised once (``alerts.recognise``). An alarm's transition goes through the
incident state machine (``incidents.apply``), with the alarm's state in DynamoDB
(``state_store``): this module claims the delivery, locks the alarm, applies the transition,
has ``poster`` do each effect it owes on Discord, acknowledges it and saves. Anything else is one
post per SNS message. When the state store cannot be reached the alert is posted anyway, as a new
message (``post_without_state``): the bookkeeping never costs an alert.
"""

import logging
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from chalicelib import alerts, discord, graphs, incidents, settings
from chalicelib.alarm_graph import Painter
from chalicelib.poster import Poster
from chalicelib.state_store import Claim, StateStore, StoreUnavailable
from chalicelib.webhook import Webhook

logger = logging.getLogger(__name__)

LAMBDA_TIMEOUT_SECONDS = 90.0  # .chalice/config.json, for a context that cannot say
LOCK_MARGIN_SECONDS = 1.0  # for clocks of different Lambda hosts


def lock_seconds(context: Any) -> float:
    """How long this invocation's claims last: until it has certainly ended, as Powertools does."""
    try:
        remaining = float(context.get_remaining_time_in_millis()) / 1000
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
    flap_window_ms = settings.alert_flap_window_seconds() * 1000
    budget = budget or graphs.RenderBudget()
    count = 0
    for record in records:
        sns = record.get("Sns") or {}
        text = sns.get("Message")
        text = text if isinstance(text, str) else "" if text is None else str(text)
        message_id = str(sns.get("MessageId") or "") or f"unnamed-{uuid.uuid4()}"
        found = alerts.recognise_safely(text, sns.get("Timestamp"))
        alert = alerts.alert_safely(found, text, sns.get("Subject") or None)
        logger.info("forwarding alert %r (message id %s)", alert.title[:200], message_id)
        until = webhook.deadline()  # one Discord deadline for everything this record sends
        out = Poster(webhook, until, Painter(cloudwatch, budget, partial(webhook.time_left, until)), mention_role)
        if store is None:
            post_without_state(out, found, alert, "ALERT_STATE_TABLE is not set")
        else:
            owner = f"{message_id}/{uuid.uuid4().hex}"
            _deliver(store, out, message_id, owner, lock_for, flap_window_ms, found, alert)
        count += 1
    return count


def post_without_state(out: Poster, found: alerts.Notification, alert: alerts.Alert, reason: str) -> None:
    """The stateless path: one post; only an alarm entering ALARM (or something not an alarm) pings."""
    logger.error("alert state unavailable (%s): posting without state", reason)
    alarm = found.alarm if isinstance(found, alerts.AlarmMessage) else None
    message, files = out.painter.attach(discord.payload(alert), alarm)
    notify = alarm is None or alarm.get("NewStateValue") == incidents.ALARM
    out.post(message, discord.fallback_payload(alert), files=files, notify=notify)


class _NoState(Exception):
    """The store failed before anything reached Discord: post without state instead."""


def _deliver(
    store: StateStore,
    out: Poster,
    message_id: str,
    owner: str,
    lock_for: float,
    flap_window_ms: float,
    found: alerts.Notification,
    alert: alerts.Alert,
) -> None:
    try:
        claim = store.claim_delivery(message_id, owner, lock_for)
    except StoreUnavailable as error:
        post_without_state(out, found, alert, str(error))
        return
    if claim is None:
        logger.info("SNS message %s was delivered already: nothing to do", message_id)
        return
    try:
        if isinstance(found, alerts.AlarmMessage) and found.transition is not None:
            _apply(store, out, owner, lock_for, flap_window_ms, found.transition)
        else:
            _post_once(store, claim, out, found, alert)
    except _NoState as error:
        store.abandon_delivery(claim)
        post_without_state(out, found, alert, str(error.__cause__ or error))
        return
    except Exception:
        store.abandon_delivery(claim)
        raise
    try:
        store.finish_delivery(claim)
    except StoreUnavailable as error:
        # Delivered; only the record of it is missing, and a redelivery finds the alarm's state.
        logger.error("SNS message %s delivered but not marked done: %s", message_id, error)


def _post_once(store: StateStore, claim: Claim, out: Poster, found: alerts.Notification, alert: alerts.Alert) -> None:
    """Not a transition: one post, as the old forwarder did, but never twice for one SNS message."""
    if claim.posted:
        logger.info("posted as Discord message %s by an earlier attempt", claim.posted)
        return
    alarm = found.alarm if isinstance(found, alerts.AlarmMessage) else None
    message, files = out.painter.attach(discord.payload(alert), alarm)
    posted = out.post(message, discord.fallback_payload(alert), files=files, notify=True)
    if posted:
        try:
            store.record_post(claim, posted)
        except StoreUnavailable as error:
            logger.error("posted Discord message %s but could not record it: %s", posted, error)


def _apply(
    store: StateStore, out: Poster, owner: str, lock_for: float, window: float, transition: incidents.Transition
) -> None:
    key = f"alarm#{transition.arn}"
    try:
        state = _alarm_state(store.lock(key, owner, lock_for), transition.arn)
    except StoreUnavailable as error:
        raise _NoState(str(error)) from error
    try:
        if state.owed:
            logger.warning("%s: finishing the Discord work an earlier invocation left", transition.name)
            _perform(store, key, owner, out, state, window, release=False)
        try:
            applied = incidents.apply(state, transition, window)
        except Exception as error:  # a bug in the bookkeeping must not cost the alert
            logger.exception("%s: the transition could not be applied", transition.name)
            raise _NoState(f"{type(error).__name__} applying the transition") from error
        logger.info("%s: %s → %s: %s", transition.name, transition.old, transition.new, applied.outcome)
        if applied.outcome in ("duplicate", "conflict"):
            store.unlock(key, owner)
            return
        try:
            # Written before anything is sent: whoever holds the alarm next finishes the work.
            # Saved even with nothing to send: a transition in no incident yet may join one later.
            _save(store, key, owner, state, release=not state.owed)
        except StoreUnavailable as error:
            raise _NoState(str(error)) from error
        if state.owed:
            _perform(store, key, owner, out, state, window, release=True)
    except Exception:
        store.unlock(key, owner)
        raise


def _perform(
    store: StateStore,
    key: str,
    owner: str,
    out: Poster,
    state: incidents.AlarmState,
    window: float,
    *,
    release: bool,
) -> None:
    """Do the owed effects in order; every post is saved before the next step can fail."""
    while state.owed:
        effect = state.owed[0]
        posted = out.do(effect, state, window)
        state.acknowledge(effect, posted)
        if posted and state.owed:
            _save(store, key, owner, state, release=False)
    _save(store, key, owner, state, release=release)


def _alarm_state(text: str | None, arn: str) -> incidents.AlarmState:
    try:
        return incidents.AlarmState.from_json(text)
    except (ValueError, KeyError, TypeError, AttributeError):
        # Unreadable (a bug, a hand edit): start afresh rather than fail this alarm for ever.
        logger.exception("alarm %s: stored state unreadable; starting from none", arn)
        return incidents.AlarmState()


def _save(store: StateStore, key: str, owner: str, state: incidents.AlarmState, *, release: bool) -> None:
    # Kept while an incident is open or work is owed, however long; a week after that.
    store.save(key, owner, state.to_json(), release=release, keep=state.open or bool(state.owed))
