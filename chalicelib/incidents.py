"""Incidents: what one alarm's transitions mean for Discord, as a pure state machine, and how an
incident message looks.

An incident is one alarm (by ``AlarmArn``) from a transition into ALARM until it is back to OK; an
ALARM within the flap window after that OK reopens it. The alarm's stored ``AlarmState`` keeps its
recent transitions in ``StateChangeTime`` order (CloudWatch gives no previous-state time), and the
incidents are *computed* from them (``partition``), so the same transitions make the same incidents
in whatever order and however often they arrive. ``apply`` adds one transition and owes Discord
the difference (``state.owed``): a post for a new incident (it pings if still open), an edit for a
changed one, a quiet follow-up for a recovery, a quiet post for a transition outside any incident.
The owed work is stored with the state until it is done, so whoever holds the alarm next finishes
it if this invocation dies.

A transition older than the latest one never changes the current state or pings for the past; it
joins the history of the incident it falls in (a retried ALARM that lost the race to its OK is
shown, not lost), and outside any incident it is only logged.
"""

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib import alerts
from chalicelib.text import utf16_length

logger = logging.getLogger(__name__)

ALARM, OK, INSUFFICIENT_DATA = "ALARM", "OK", "INSUFFICIENT_DATA"
STATES = (ALARM, OK, INSUFFICIENT_DATA)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_STEPS = 100  # transitions kept per alarm (whole incidents, so more while one lasts): about 5 KB
HARD_MAX_STEPS = 2000  # even then: an item stays far below DynamoDB's 400 KB
MESSAGES_KEPT = 3  # SNS messages kept for the latest incidents, which late transitions may still edit
HISTORY_UNITS = 3800  # most of the description's 4096, leaving room for the summary above it
EMBED_ROOM = 5900  # under the 6000 of all embed text, so discord.payload never cuts the history


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
        """Reopenings: ALARMs after a recovery, seen or (old state OK) unseen."""
        return sum(
            1
            for before, step in zip(self.steps, self.steps[1:], strict=False)
            if step.new == ALARM and (before.new == OK or step.old == OK)
        )

    def in_alarm_ms(self) -> int:
        """Time spent in ALARM, up to the latest transition."""
        return sum(
            after.at - step.at for step, after in zip(self.steps, self.steps[1:], strict=False) if step.new == ALARM
        )

    def holds(self, at: int) -> bool:
        return any(step.at == at for step in self.steps)


@dataclass
class Record:
    """The Discord side of one incident, found again by a transition it holds (``origin``)."""

    origin: int
    message_id: str | None = None
    follow_up_id: str | None = None


@dataclass
class AlarmState:
    """Everything stored for one alarm."""

    steps: list[Step] = field(default_factory=list)  # recent transitions, oldest first
    messages: dict[str, str] = field(default_factory=dict)  # SNS message of each step still shown
    records: list[Record] = field(default_factory=list)
    owed: list[dict[str, Any]] = field(default_factory=list)  # Discord work not yet done

    @property
    def open(self) -> bool:
        found = partition(self.steps)
        return bool(found) and found[-1].ongoing

    def incidents(self, flap_window_ms: float) -> list[Incident]:
        return partition(self.steps, flap_window_ms)

    def incident_of(self, record: Record, flap_window_ms: float) -> Incident | None:
        return next((i for i in self.incidents(flap_window_ms) if i.holds(record.origin)), None)

    def record(self, origin: int) -> Record | None:
        return next((r for r in self.records if r.origin == origin), None)

    def message_for(self, step: Step) -> str:
        """The SNS message of ``step``, or of the latest step if that one was not kept."""
        return self.messages.get(str(step.at)) or self.messages.get(str(self.steps[-1].at)) or "{}"

    def owe(self, work: dict[str, Any]) -> None:
        # One edit shows every change since the last: owing it twice is owing it once.
        for owed in self.owed:
            if owed["do"] == work["do"] and owed.get("record") == work.get("record") and "record" in work:
                owed["ping"] = owed.get("ping", False) or work.get("ping", False)
                return
        self.owed.append(work)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> "AlarmState":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(
            steps=[Step(**s) for s in data.get("steps", [])],
            messages=data.get("messages", {}),
            records=[Record(**r) for r in data.get("records", [])],
            owed=data.get("owed", []),
        )


def transition_of(message: str, published: str | None = None) -> Transition | None:
    """The CloudWatch transition an SNS message announces, or None for anything else."""
    try:
        alarm = json.loads(message)
    except (ValueError, RecursionError):
        return None
    if not isinstance(alarm, dict):
        return None
    arn, name, new = alarm.get("AlarmArn"), alarm.get("AlarmName"), alarm.get("NewStateValue")
    if not isinstance(arn, str) or not arn or not isinstance(name, str) or new not in STATES:
        return None
    at = _millis(alarm.get("StateChangeTime")) or _millis(published)
    if at is None:
        return None  # cannot be ordered: forwarded as a plain message rather than mis-ordered
    old = alarm.get("OldStateValue")
    return Transition(arn, name, old if isinstance(old, str) else "?", new, at, message)


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
    return found


def apply(state: AlarmState, transition: Transition, flap_window_ms: float) -> str:
    """Add ``transition`` to ``state`` and owe Discord the difference; what happened, in a word."""
    step = transition.step
    same_time = next((s for s in state.steps if s.at == step.at), None)
    if same_time is not None:
        if same_time.new != step.new:
            logger.warning(
                "%s: both %s and %s at %s; keeping the first", transition.name, same_time.new, step.new, _time(step.at)
            )
            return "conflict"
        return "duplicate"
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
            state.owe({"do": "incident", "record": record.origin, "ping": incident.ongoing})
            outcome = "opened"
            continue
        primary, *merged = records
        for other in merged:
            # A late transition joined two incidents: one message goes on, the other points to it.
            state.owe({"do": "merged", "record": other.origin, "into": primary.origin})
        was = next((i for i in before if i.holds(primary.origin)), None)
        if was is None or was.steps != incident.steps or was.superseded != incident.superseded:
            state.owe({"do": "incident", "record": primary.origin, "ping": False})
        if was is not None and was.ongoing and incident.closed:
            state.owe({"do": "follow_up", "record": primary.origin})
            outcome = "recovered"
    if not any(i.holds(step.at) for i in after):
        if newest:
            # INSUFFICIENT_DATA never pings, nor does an OK with no incident known (first deploy, expired state).
            state.owe({"do": "quiet", "message": transition.message})
            outcome = "quiet"
        else:
            logger.info(
                "%s: %s of %s came after newer transitions, in no incident", transition.name, step.new, _time(step.at)
            )
            outcome = "stale"
    _prune(state, flap_window_ms)
    return outcome


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
    owed = {w.get("record") for w in state.owed} | {w.get("into") for w in state.owed}
    state.records = [r for r in state.records if r.origin in owed or any(i.holds(r.origin) for i in incidents)]
    # An item is billed by size on every write: older incidents are drawn from the latest message.
    shown = {str(i.last.at) for i in incidents[-MESSAGES_KEPT:]} | {str(state.steps[-1].at)}
    state.messages = {at: message for at, message in state.messages.items() if at in shown}


# ---- how it looks ------------------------------------------------------------------------------


def incident_alert(incident: Incident, message: str) -> alerts.Alert:
    """The incident message: current state and colour, how long, flaps, and the whole history.

    ``message`` is the SNS message of its latest transition (name, description, reason, metric).
    """
    latest = alerts.parse_message(message)
    name = alarm_name(message)
    state = incident.state
    if incident.superseded:
        title = f"{name}: over (no recovery was published)"
    else:
        title = f"{name}: {'OK (recovered)' if state == OK else state}"
    summary = [f"Incident opened {_time(incident.opened)} UTC"]
    if incident.ongoing:
        summary.append(f"{state} since {_time(incident.last.at)} UTC")
    else:
        summary.append(
            f"lasted {duration(incident.last.at - incident.opened)}, {duration(incident.in_alarm_ms())} in ALARM"
        )
    if incident.flaps:
        summary.append(f"flapped {incident.flaps} time{'s' if incident.flaps != 1 else ''}")
    fields = [("State", state), *[(n, v) for n, v in latest.fields if n not in ("State", "Changed at")]]
    if incident.flaps:
        fields.insert(1, ("Flaps", str(incident.flaps)))
    head = " · ".join(summary) + "\n\n**History (UTC)**\n"
    # Discord's per-part limits cap what the other parts can take (discord.payload cuts them to those).
    others = sum(min(utf16_length(n), 256) + min(utf16_length(v), 1024) for n, v in fields)
    room = EMBED_ROOM - others - min(utf16_length(title), 256) - min(utf16_length(latest.footer), 2048)
    history = _history(incident.steps, max(min(room - utf16_length(head), HISTORY_UNITS), 200))
    return alerts.Alert(
        title=title,
        description=head + history,
        colour=alerts.GREY if incident.superseded else alerts.STATE_COLOURS.get(state, alerts.GREY),
        fields=fields,
        url=latest.url,
        timestamp=datetime.fromtimestamp(incident.last.at / 1000, UTC).isoformat(),
        footer=latest.footer,
    )


def follow_up_text(incident: Incident, name: str, jump_url: str | None) -> str:
    """The short recovery note: which alarm, how long in ALARM, and where the incident message is."""
    flaps = f" ({incident.flaps} flap{'s' if incident.flaps != 1 else ''})" if incident.flaps else ""
    where = jump_url or "the incident message above"
    spent = duration(incident.in_alarm_ms())
    return f"✅ {_code(name)} is OK again after {spent} in ALARM{flaps}: {where}"


def merged_text(name: str, jump_url: str | None) -> str:
    return f"{_code(name)}: this incident continues in {jump_url or 'a later message'}"


def history_line(step: Step) -> str:
    return f"`{_time(step.at)}` {step.old} → {step.new}"


def duration(ms: int) -> str:
    minutes, seconds = divmod(max(ms, 0) // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def alarm_name(message: str) -> str:
    try:
        name = json.loads(message).get("AlarmName")
    except (ValueError, AttributeError, RecursionError):
        name = None
    return name if isinstance(name, str) and name.strip() else "(unnamed alarm)"


def _history(steps: list[Step], units: int) -> str:
    lines = [history_line(step) for step in steps]
    if utf16_length("\n".join(lines)) <= units:
        return "\n".join(lines)
    # Too long: the opening line, a count of what is left out, and as many of the latest as fit.
    kept: list[str] = []
    used = utf16_length(lines[0]) + 40
    for line in reversed(lines[1:]):
        if used + utf16_length(line) + 1 > units:
            break
        kept.insert(0, line)
        used += utf16_length(line) + 1
    skipped = len(lines) - 1 - len(kept)
    return "\n".join([lines[0], f"… {skipped} more transition{'s' if skipped != 1 else ''} …", *kept])


def _code(name: str) -> str:
    # A code span shows the name as it is (no markdown); a backtick in it would end the span.
    return "`" + name.replace("`", "'") + "`"


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(TIME_FORMAT)


def _millis(value: Any) -> int | None:
    # CloudWatch writes "2026-11-24T02:15:04.011+0000"; SNS's Timestamp ends in Z.
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
