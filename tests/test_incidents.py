"""The incident state machine on plain values: every case in milliseconds, no AWS, no Discord.

``Channel`` does each owed effect as the forwarder would (a post gets the next message id) and
acknowledges it, so each case can say what reached the channel: which effects each transition
owed, which messages pinged, and that the newest message about an incident tells its state.
"""

import itertools
import json
from dataclasses import dataclass, field

import pytest

from chalicelib import incidents
from chalicelib.incidents import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmState,
    DeleteMessage,
    EditIncident,
    MarkMerged,
    PostFollowUp,
    PostIncident,
    PostNote,
    Transition,
)

MINUTE = 60_000
WINDOW = 30 * MINUTE
SHORT = {"A": ALARM, "O": OK, "I": INSUFFICIENT_DATA}


def transition(text: str, name: str = "SiteTooSlow") -> Transition:
    """``"A10"``: into ALARM at minute 10, from OK; ``"O12"`` into OK from ALARM; ``"I3"`` into
    INSUFFICIENT_DATA from ALARM; ``"A10/I"`` names the old state."""
    states, _, old = text.partition("/")
    new = SHORT[states[0]]
    before = SHORT[old] if old else (OK if new == ALARM else ALARM)
    at = int(float(states[1:]) * MINUTE)
    message = json.dumps({"AlarmName": name, "NewStateValue": new, "OldStateValue": before, "at": at})
    return Transition(f"arn:aws:cloudwatch:us-east-1:1:alarm:{name}", name, before, new, at, message)


def word(effect: incidents.Effect) -> str:
    """An effect in the tables' words: "post!" pings, "post" is quiet."""
    match effect:
        case PostIncident(ping=ping):
            return "post!" if ping else "post"
        case EditIncident():
            return "edit"
        case PostFollowUp(state=state, ping=ping):
            return ("again" if state == ALARM else "ok") + ("!" if ping else "")
        case DeleteMessage():
            return "delete"
        case MarkMerged():
            return "merged"
        case PostNote():
            return "note"


@dataclass
class Posted:
    kind: str  # incident, follow-up, note
    record: int | None
    says: str | None  # a follow-up's state
    ping: bool
    deleted: bool = False


@dataclass
class Channel:
    state: AlarmState = field(default_factory=AlarmState)
    messages: dict[str, Posted] = field(default_factory=dict)
    outcomes: list[str] = field(default_factory=list)

    def send(self, *texts: str, window: float = WINDOW) -> list[list[str]]:
        """Apply each transition and do what it owes; the effects each one owed, in words."""
        owed = []
        for text in texts:
            applied = incidents.apply(self.state, transition(text), window)
            self.outcomes.append(applied.outcome)
            assert list(applied.effects) == self.state.owed, "what apply returns is what the state owes"
            owed.append([word(effect) for effect in applied.effects])
            while self.state.owed:
                effect = self.state.owed[0]
                self.state.acknowledge(effect, self.do(effect))
        return owed

    def do(self, effect: incidents.Effect) -> str | None:
        posted: Posted | None = None
        match effect:
            case PostIncident(record=record, ping=ping):
                posted = Posted("incident", record, None, ping)
            case PostFollowUp(record=record, state=state, ping=ping):
                posted = Posted("follow-up", record, state, ping)
            case PostNote():
                posted = Posted("note", None, None, False)
            case DeleteMessage(message_id=message_id):
                self.messages[message_id].deleted = True
        if posted is None:
            return None
        message_id = str(len(self.messages) + 1)
        self.messages[message_id] = posted
        return message_id

    def pings(self, record: int) -> int:
        return sum(m.ping for m in self.messages.values() if m.record == record)

    def newest_says(self, record: int) -> str | None:
        """What the newest message still in the channel about an incident says of its state."""
        about = [m for m in self.messages.values() if m.record == record and not m.deleted]
        return about[-1].says if about and about[-1].kind == "follow-up" else None


# ---- which effects each transition owes ---------------------------------------------------------


CASES: dict[str, tuple[list[str], list[list[str]]]] = {
    "an alarm pings once; its recovery edits and posts a quiet follow-up": (
        ["A0", "O12"],
        [["post!"], ["edit", "ok"]],
    ),
    "a return to ALARM after a recovery pings again, replacing the recovery's note": (
        ["A0", "O12", "A40"],
        [["post!"], ["edit", "ok"], ["edit", "again!", "delete"]],
    ),
    "an incident that keeps flapping is shown but pings at most twice": (
        ["A0", "O5", "A10", "O12", "A14", "O16", "A18"],
        [
            ["post!"],
            ["edit", "ok"],
            ["edit", "again!", "delete"],
            ["edit", "ok", "delete"],
            ["edit", "again", "delete"],
            ["edit", "ok", "delete"],
            ["edit", "again", "delete"],
        ],
    ),
    "an ALARM after the flap window opens a new incident, which pings": (
        ["A0", "O5", "A36"],
        [["post!"], ["edit", "ok"], ["post!"]],
    ),
    "a missing recovery long ago: the old incident is over, the new one pings": (
        ["A0", "A600"],
        [["post!"], ["edit", "post!"]],
    ),
    "INSUFFICIENT_DATA alone is a quiet note; inside an incident an edit": (
        ["I0/O", "A10/I", "I20"],
        [["note"], ["post!"], ["edit"]],
    ),
    "an OK with no incident known is a quiet note": (
        ["O0"],
        [["note"]],
    ),
    "a recovery that arrives before its ALARM: the note, then the incident shown quietly": (
        ["O12", "A0"],
        [["note"], ["post"]],
    ),
    "a recovery from an ALARM not seen yet joins the recovered incident, quietly": (
        ["A0", "O5", "O12", "A10"],
        [["post!"], ["edit", "ok"], ["edit"], ["edit"]],
    ),
    "a late ALARM joins its incident's history and never reopens it": (
        ["A0", "O12", "A10"],
        [["post!"], ["edit", "ok"], ["edit"]],
    ),
    "a late transition that joins two incidents merges them into the first, whose OK is over": (
        ["A0", "O5", "A50", "A20"],
        [["post!"], ["edit", "ok"], ["post!"], ["merged", "delete", "edit"]],
    ),
    "a late recovery that joins two incidents merges them too": (
        ["A0", "O5", "A40", "O15"],
        [["post!"], ["edit", "ok"], ["post!"], ["merged", "delete", "edit"]],
    ),
    "a redelivery or second publication changes nothing": (
        ["A0", "A0", "O3", "O3"],
        [["post!"], [], ["edit", "ok"], []],
    ),
    "two states at one moment: the first is kept": (
        ["A0", "O0"],
        [["post!"], []],
    ),
    "a stale transition in no incident is only logged": (
        ["I0/O", "O5/I", "I3/O"],
        [["note"], ["note"], []],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_transition_owes_what_the_channel_must_show(case: str) -> None:
    texts, expected = CASES[case]
    channel = Channel()
    assert channel.send(*texts) == expected
    assert channel.state.owed == [], "every effect acknowledged"


def test_outcomes_name_what_happened() -> None:
    channel = Channel()
    channel.send("A0", "A0", "O0", "O5", "A10", "I12/O", "A1")
    assert channel.outcomes == ["opened", "duplicate", "conflict", "recovered", "in alarm again", "updated", "late"]


def test_the_flap_window_decides_between_a_flap_and_a_new_incident() -> None:
    short, long = Channel(), Channel()
    assert short.send("A0", "O5", "A11", window=5 * MINUTE)[-1] == ["post!"]
    assert long.send("A0", "O5", "A11", window=10 * MINUTE)[-1] == ["edit", "again!", "delete"]


# ---- the rules people rely on, in every order ---------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(["A0", "O5", "A10", "O12", "A14"])))
def test_in_any_order_one_incident_pings_at_most_twice_and_its_newest_message_tells_its_state(
    order: tuple[str, ...],
) -> None:
    channel = Channel()
    channel.send(*order)

    (incident,) = channel.state.incidents(WINDOW)
    assert [incidents.Step(t.at, t.old, t.new) for t in sorted(map(transition, order), key=lambda t: t.at)] == (
        incident.steps
    )
    assert incident.state == ALARM, "an older transition arriving last never moves the state back"
    (record,) = channel.state.records
    assert channel.pings(record.origin) <= 2
    # Whoever saw an "OK again" note hears of the ALARM that followed it.
    says = channel.newest_says(record.origin)
    assert says in (None, ALARM), order
    if any(m.says == OK and m.deleted for m in channel.messages.values()):
        assert says == ALARM and any(m.says == ALARM and m.ping for m in channel.messages.values()), order


@pytest.mark.parametrize("order", list(itertools.permutations(["A0", "O5", "A10", "O12"])))
def test_in_any_order_a_recovered_incident_ends_on_a_quiet_ok_and_posts_nothing_else(order: tuple[str, ...]) -> None:
    channel = Channel()
    channel.send(*order)

    (incident,) = channel.state.incidents(WINDOW)
    assert len(incident.steps) == 4 and incident.state == OK
    (record,) = channel.state.records
    notes = [m for m in channel.messages.values() if m.kind == "note"]
    # Only an OK that came before any ALARM, newest then, is a note (as on a first deploy).
    early = [transition(text).at for text in itertools.takewhile(lambda text: text.startswith("O"), order)]
    assert len(notes) == sum(at == max(early[: i + 1]) for i, at in enumerate(early)), order
    assert [m.kind for m in channel.messages.values()].count("incident") == 1
    assert channel.pings(record.origin) <= 2
    announced = any(m.kind == "incident" and m.ping for m in channel.messages.values())
    again = [m for m in channel.messages.values() if m.says == ALARM]
    # Whoever heard of the incident (or of its return to ALARM) hears that it is over.
    if announced or again:
        assert channel.newest_says(record.origin) == OK, order
    else:
        assert channel.newest_says(record.origin) is None, order


def test_merged_incidents_ping_no_more_and_end_saying_their_state() -> None:
    channel = Channel()
    channel.send("A0", "O5", "A40", "O15", "O60", "A70")  # the late O15 makes A0 and A40 one incident

    (incident,) = channel.state.incidents(WINDOW)
    (record,) = channel.state.records
    pinged = [m for m in channel.messages.values() if m.ping]
    assert len(pinged) == 2, "A0 and A40 (its first return to ALARM): A70 is shown quietly"
    assert channel.newest_says(record.origin) == ALARM and incident.state == ALARM
    assert not any(m.says == OK and not m.deleted for m in channel.messages.values()), "no stale OK note"


def test_a_recovery_from_an_unseen_alarm_counts_as_a_flap() -> None:
    channel = Channel()
    channel.send("A0", "O5", "O12")
    (incident,) = channel.state.incidents(WINDOW)
    assert incident.flaps == 1
    channel.send("A10")  # the lost ALARM turns up: the same flap, not a second
    (incident,) = channel.state.incidents(WINDOW)
    assert incident.flaps == 1


def test_a_second_flap_is_shown_quietly_only_after_the_first_one_pinged() -> None:
    channel = Channel()
    channel.send("A0", "O5", "A10")
    (record,) = channel.state.records
    assert record.pinged_again
    channel.send("O12", "A14")
    assert channel.pings(record.origin) == 2
    assert channel.newest_says(record.origin) == ALARM


# ---- the state: acknowledged effects, storage, pruning ------------------------------------------


def test_only_the_next_owed_effect_can_be_acknowledged() -> None:
    state = AlarmState()
    incidents.apply(state, transition("A0"), WINDOW)
    incidents.apply(state, transition("O5"), WINDOW)  # nothing done yet: the post is still owed
    first, *rest = state.owed
    with pytest.raises(ValueError, match="not the next effect owed"):
        state.acknowledge(rest[0], None)
    state.acknowledge(first, "100")
    assert state.records[0].message_id == "100" and state.owed == rest


def test_an_edit_of_a_deleted_incident_message_that_posted_again_keeps_the_new_message() -> None:
    state = AlarmState()
    incidents.apply(state, transition("A0"), WINDOW)
    state.acknowledge(state.owed[0], "100")
    incidents.apply(state, transition("O5"), WINDOW)
    state.acknowledge(state.owed[0], "200")  # the edit found 100 gone and posted 200
    assert state.records[0].message_id == "200"


def test_the_state_and_its_owed_effects_survive_storage() -> None:
    state = AlarmState()
    for text in ("A0", "O5", "A10"):
        incidents.apply(state, transition(text), WINDOW)
    assert AlarmState.from_json(state.to_json()) == state


def test_work_owed_in_the_old_untyped_form_is_finished_not_lost() -> None:
    stored = {
        "steps": [{"at": 0, "old": "OK", "new": "ALARM"}, {"at": 5, "old": "ALARM", "new": "OK"}],
        "messages": {},
        "records": [{"origin": 0, "message_id": "100", "follow_up_id": "150"}],
        "owed": [
            {"do": "incident", "record": 0, "ping": False},
            {"do": "follow_up", "record": 0},
            {"do": "delete", "id": "150"},
            {"do": "quiet", "message": "{}"},
            {"do": "merged", "record": 9, "into": 0},
        ],
    }
    state = AlarmState.from_json(json.dumps(stored))
    assert state.owed == [
        EditIncident(0),
        PostFollowUp(0, OK, ping=False),
        DeleteMessage("150"),
        PostNote("{}"),
        MarkMerged(9, 0),
    ]


def test_the_state_kept_for_an_alarm_stays_small_however_long_it_flaps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incidents, "MAX_STEPS", 10)  # 100 in production; the rule is the same
    channel = Channel()
    for hour in range(5):  # five incidents, hours apart, each flapping once
        channel.send(*(f"{s}{hour * 60 + m}" for s, m in [("A", 0), ("O", 3), ("A", 6), ("O", 9)]))
    state = channel.state
    # Whole incidents are dropped: what is left of one would look like a new incident.
    assert len(state.steps) == 8 and len(state.records) == 2
    assert len(state.messages) <= incidents.MESSAGES_KEPT
    assert sum(m.kind == "incident" for m in channel.messages.values()) == 5, "no old incident posted again"

    many = Channel()
    for hour in range(6):
        many.send(f"A{hour * 60}", f"O{hour * 60 + 3}")
    assert len(many.state.steps) == 10 and len(many.state.records) == 5
    assert len(many.state.messages) == incidents.MESSAGES_KEPT


def test_an_open_incident_or_owed_work_keeps_the_state() -> None:
    state = AlarmState()
    incidents.apply(state, transition("A0"), WINDOW)
    assert state.open
    incidents.apply(state, transition("O5"), WINDOW)
    assert not state.open
