"""Incidents: what one alarm's transitions mean for Discord, as a pure state machine.

An incident is one alarm (by ``AlarmArn``) from a transition into ALARM until it is back to OK; an
ALARM within the flap window after that OK reopens it, and so does an OK from ALARM (its ALARM is
late or lost). The alarm's ``AlarmState`` keeps its recent transitions in ``StateChangeTime`` order
(CloudWatch gives no previous-state time), and the incidents are *computed* from them
(``partition``), so the same transitions make the same incidents in whatever order and however
often they arrive.

``apply(state, transition, flap_window_ms)`` adds one transition and returns the Discord work it
calls for as typed effects (frozen dataclasses), which the state also keeps as ``owed`` until each
is done: whoever holds the alarm next finishes them if this invocation dies. The caller does each
effect and tells the state with ``state.acknowledge(effect, message_id)``; nothing else edits the
state's records.

The rule people rely on: **the newest message about an incident tells its current state**. The
opening ALARM posts the incident message (it pings); every later transition edits it (edits notify
nobody); a recovery posts a quiet "OK again" follow-up, and a return to ALARM within the window a
notifying "in ALARM again" one, each replacing the last. An incident pings at most twice: when it
opens, and the first time it returns to ALARM.

A transition older than the latest one never changes the current state or pings for the past; it
joins the history of the incident it falls in (a retried ALARM that lost the race to its OK is
shown, not lost), and outside any incident it is only logged. One that joins two incidents merges
them: the later one's message points to the first, whose stale "OK again" goes, and the later one's
opening counts as the incident's one ping for a return to ALARM.
"""

import json
import logging
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

ALARM, OK, INSUFFICIENT_DATA = "ALARM", "OK", "INSUFFICIENT_DATA"
STATES = (ALARM, OK, INSUFFICIENT_DATA)
MAX_STEPS = 100  # transitions kept per alarm (whole incidents, so more while one lasts): about 5 KB
HARD_MAX_STEPS = 2000  # even then: an item stays far below DynamoDB's 400 KB
MESSAGES_KEPT = 3  # SNS messages kept for the latest incidents, which late transitions may still edit


@dataclass(frozen=True)
class Transition:
    """One CloudWatch state change, as the SNS message told it."""

    arn: str
    name: str
    old: str
    new: str
    at: int  # StateChangeTime, milliseconds since the epoch
    message: str  # the SNS message itself, which the incident message is drawn from

    @property
    def step(self) -> "Step":
        return Step(self.at, self.old, self.new)


@dataclass(frozen=True)
class Step:
    at: int
    old: str
    new: str


@dataclass
class Incident:
    """One incident, as computed from the transitions (never stored)."""

    steps: list[Step]
    superseded: bool = False  # a later ALARM came long after with no OK between (none published)

    @property
    def opened(self) -> int:
        return self.steps[0].at

    @property
    def last(self) -> Step:
        return self.steps[-1]

    @property
    def state(self) -> str:
        return self.last.new

    @property
    def closed(self) -> bool:
        return self.state == OK

    @property
    def ongoing(self) -> bool:
        return not self.closed and not self.superseded

    @property
    def flaps(self) -> int:
        """Reopenings: ALARMs after a recovery, seen, or unseen (an ALARM from OK after another state,
        or a step from ALARM after an OK)."""
        return sum(
            1
            for before, step in zip(self.steps, self.steps[1:], strict=False)
            if (step.new == ALARM and (before.new == OK or step.old == OK)) or (before.new == OK and step.old == ALARM)
        )

    def in_alarm_ms(self) -> int:
        """Time spent in ALARM, up to the latest transition."""
        return sum(
            after.at - step.at for step, after in zip(self.steps, self.steps[1:], strict=False) if step.new == ALARM
        )

    def holds(self, at: int) -> bool:
        return any(step.at == at for step in self.steps)


# ---- effects: the Discord work a transition calls for ------------------------------------------


@dataclass(frozen=True)
class PostIncident:
    """Post the incident's message; it pings if the incident is still open when first seen."""

    record: int
    ping: bool


@dataclass(frozen=True)
class EditIncident:
    """Show the incident as it is now in its message (edits notify nobody)."""

    record: int


@dataclass(frozen=True)
class PostFollowUp:
    """A short note after the incident message, linking to it, that says its new state: ``OK``
    (quiet) or ``ALARM`` again (pings the first time only)."""

    record: int
    state: str
    ping: bool


@dataclass(frozen=True)
class DeleteMessage:
    """Remove a follow-up that a newer one replaces: one follow-up per incident in the channel."""

    message_id: str


@dataclass(frozen=True)
class MarkMerged:
    """A late transition joined two incidents: ``record``'s message now points to ``into``'s."""

    record: int
    into: int


@dataclass(frozen=True)
class PostNote:
    """A quiet post of one transition in no incident (INSUFFICIENT_DATA, an OK with none known)."""

    message: str


Effect = PostIncident | EditIncident | PostFollowUp | DeleteMessage | MarkMerged | PostNote
_EFFECTS: dict[str, type[Effect]] = {
    cls.__name__: cls for cls in (PostIncident, EditIncident, PostFollowUp, DeleteMessage, MarkMerged, PostNote)
}


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did, in a word (for the log), and the effects it owes."""

    outcome: str
    effects: tuple[Effect, ...] = ()


@dataclass
class Record:
    """The Discord side of one incident, found again by a transition it holds (``origin``)."""

    origin: int
    message_id: str | None = None
    follow_up_id: str | None = None
    pinged_again: bool = False  # its "in ALARM again" note has pinged: later ones are quiet


@dataclass
class AlarmState:
    """Everything stored for one alarm."""

    steps: list[Step] = field(default_factory=list)  # recent transitions, oldest first
    messages: dict[str, str] = field(default_factory=dict)  # SNS message of each step still shown
    records: list[Record] = field(default_factory=list)
    owed: list[Effect] = field(default_factory=list)  # Discord work not yet done, in order

    @property
    def open(self) -> bool:
        found = partition(self.steps)
        return bool(found) and found[-1].ongoing

    def incidents(self, flap_window_ms: float) -> list[Incident]:
        return partition(self.steps, flap_window_ms)

    def record(self, origin: int) -> Record | None:
        return next((r for r in self.records if r.origin == origin), None)

    def shown(self, origin: int, flap_window_ms: float) -> tuple[Record, Incident, str] | None:
        """The record ``origin``, its incident as it is now and the SNS message to draw it from;
        None if it is no longer kept."""
        record = self.record(origin)
        incident = next((i for i in self.incidents(flap_window_ms) if record and i.holds(record.origin)), None)
        if record is None or incident is None:
            return None
        return record, incident, self.message_for(incident.last)

    def message_for(self, step: Step) -> str:
        """The SNS message of ``step``, or of the latest step if that one was not kept."""
        return self.messages.get(str(step.at)) or self.messages.get(str(self.steps[-1].at)) or "{}"

    def acknowledge(self, effect: Effect, message_id: str | None = None) -> None:
        """``effect`` (the first owed) is done; ``message_id`` is the message it posted, if any.

        Also for an effect that could not be done and never will be (its incident is gone).
        """
        if not self.owed or self.owed[0] != effect:
            raise ValueError(f"{effect} is not the next effect owed")
        del self.owed[0]
        match effect:
            case PostIncident(record=origin) | EditIncident(record=origin):
                record = self.record(origin)
                if record is not None and message_id:
                    record.message_id = message_id  # an edit of a deleted message posts it again
            case PostFollowUp(record=origin, state=state, ping=ping):
                record = self.record(origin)
                if record is not None:
                    record.follow_up_id = message_id
                    record.pinged_again = record.pinged_again or (ping and state == ALARM)
            case MarkMerged(record=origin):
                self.records = [r for r in self.records if r.origin != origin]
            case DeleteMessage(message_id=deleted):
                for record in self.records:
                    if record.follow_up_id == deleted:
                        record.follow_up_id = None
            case PostNote():
                pass

    def _owe(self, effect: Effect) -> None:
        if effect not in self.owed:
            self.owed.append(effect)

    def to_json(self) -> str:
        data = asdict(self)
        data["owed"] = [{"type": type(e).__name__, **asdict(e)} for e in self.owed]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> "AlarmState":
        if not text:
            return cls()
        data = json.loads(text)
        records = [Record(**r) for r in data.get("records", [])]
        return cls(
            steps=[Step(**s) for s in data.get("steps", [])],
            messages=data.get("messages", {}),
            records=records,
            owed=[_effect(work, records) for work in data.get("owed", [])],
        )


def _effect(work: dict[str, Any], records: list[Record]) -> Effect:
    if "type" in work:
        kind = _EFFECTS[work["type"]]
        return kind(**{f.name: work[f.name] for f in fields(kind)})
    # Owed work saved by the forwarder before typed effects ({"do": ...}): finished, not lost.
    do = work.get("do")
    if do == "delete":
        return DeleteMessage(str(work["id"]))
    if do == "quiet":
        return PostNote(str(work["message"]))
    origin = int(work["record"])
    if do == "incident":
        posted = any(r.origin == origin and r.message_id for r in records)
        return EditIncident(origin) if posted else PostIncident(origin, bool(work.get("ping")))
    if do == "follow_up":
        return PostFollowUp(origin, OK, ping=False)
    if do == "merged":
        return MarkMerged(origin, int(work["into"]))
    raise ValueError(f"unknown owed work {work!r}")


def partition(steps: list[Step], flap_window_ms: float = 0) -> list[Incident]:
    """The incidents in ``steps`` (oldest first); transitions outside them are not in any."""
    found: list[Incident] = []
    current: Incident | None = None
    for step in steps:
        if current is not None and current.ongoing:
            if step.new == ALARM and step.old == OK and step.at - current.last.at > flap_window_ms:
                # The recovery was never published (no OK action?) and may be long past: a new incident.
                current.superseded = True
                current = Incident([step])
                found.append(current)
            else:
                current.steps.append(step)
        elif step.new == ALARM:
            if current is not None and current.closed and step.at - current.last.at <= flap_window_ms:
                current.steps.append(step)  # a flap: the same incident, reopened
            else:
                current = Incident([step])
                found.append(current)
        elif (
            current is not None
            and current.closed
            and step.new == OK
            and step.old == ALARM
            and step.at - current.last.at <= flap_window_ms
        ):
            current.steps.append(step)  # it left an ALARM not seen yet: a flap whose reopening is late or lost
    return found


def apply(state: AlarmState, transition: Transition, flap_window_ms: float) -> Applied:
    """Add ``transition`` to ``state`` and owe Discord the difference (also returned)."""
    step = transition.step
    same_time = next((s for s in state.steps if s.at == step.at), None)
    if same_time is not None:
        if same_time.new != step.new:
            logger.warning(
                "%s: both %s and %s at %s; keeping the first", transition.name, same_time.new, step.new, _time(step.at)
            )
            return Applied("conflict")
        return Applied("duplicate")
    owed_before = len(state.owed)
    newest = not state.steps or step.at > state.steps[-1].at
    before = state.incidents(flap_window_ms)
    state.steps = sorted([*state.steps, step], key=lambda s: s.at)
    state.messages[str(step.at)] = transition.message
    after = state.incidents(flap_window_ms)
    outcome = "updated" if newest else "late"
    for incident in after:
        records = sorted((r for r in state.records if incident.holds(r.origin)), key=lambda r: r.origin)
        if not records:
            record = Record(incident.opened)
            state.records.append(record)
            # Still open: it pings like any opening ALARM. Over already (it came late): shown quietly.
            state._owe(PostIncident(record.origin, ping=incident.ongoing))
            outcome = "opened"
            continue
        primary, *merged = records
        for other in merged:
            # A late transition joined two incidents: one message goes on, the other points to it.
            state._owe(MarkMerged(other.origin, primary.origin))
            # The later one's opening was, for the incident they make, its return to ALARM: it pinged.
            primary.pinged_again = True
        if merged and incident.ongoing and primary.follow_up_id:
            # The first one's "OK again" no longer tells the state of the incident they make.
            state._owe(DeleteMessage(primary.follow_up_id))
        was = next((i for i in before if i.holds(primary.origin)), None)
        if was is None or was.steps != incident.steps or was.superseded != incident.superseded:
            state._owe(EditIncident(primary.origin))
        if was is None or not newest or not incident.holds(step.at):
            continue
        if was.ongoing and incident.closed:
            follow_up: PostFollowUp | None = PostFollowUp(primary.origin, OK, ping=False)
            outcome = "recovered"
        elif was.closed and incident.ongoing and step.new == ALARM:
            # Whoever saw "OK" must hear of this ALARM; an incident that keeps flapping, only once.
            follow_up = PostFollowUp(primary.origin, ALARM, ping=not primary.pinged_again)
            outcome = "in alarm again"
        else:
            follow_up = None
        if follow_up is not None:
            state._owe(follow_up)
            if primary.follow_up_id:
                state._owe(DeleteMessage(primary.follow_up_id))
    if not any(i.holds(step.at) for i in after):
        if newest:
            # INSUFFICIENT_DATA never pings, nor does an OK with no incident known (first deploy, expired state).
            state._owe(PostNote(transition.message))
            outcome = "quiet"
        else:
            logger.info(
                "%s: %s of %s came after newer transitions, in no incident", transition.name, step.new, _time(step.at)
            )
            outcome = "stale"
    _prune(state, flap_window_ms)
    return Applied(outcome, tuple(state.owed[owed_before:]))


def _prune(state: AlarmState, flap_window_ms: float) -> None:
    steps = state.steps
    cut = len(steps) - MAX_STEPS
    if cut > 0:
        # Never inside an incident: what is left of one could partition as a new incident and be
        # posted again. An older one goes whole; the latest stays whole, up to the hard limit.
        found = partition(steps, flap_window_ms)
        for incident in found:
            first, last = steps.index(incident.steps[0]), steps.index(incident.steps[-1])
            if first < cut <= last:
                cut = first if incident is found[-1] else last + 1
        state.steps = steps[max(cut, len(steps) - HARD_MAX_STEPS) :]
    incidents = state.incidents(flap_window_ms)
    # Owed work may still name a record; otherwise a record lives as long as its incident's steps.
    owed = {getattr(e, "record", None) for e in state.owed} | {getattr(e, "into", None) for e in state.owed}
    state.records = [r for r in state.records if r.origin in owed or any(i.holds(r.origin) for i in incidents)]
    # An item is billed by size on every write: older incidents are drawn from the latest message.
    shown = {str(i.last.at) for i in incidents[-MESSAGES_KEPT:]} | {str(state.steps[-1].at)}
    state.messages = {at: message for at, message in state.messages.items() if at in shown}


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
