"""The build watch's problems over time: what a run's verdicts change, as typed effects.

Pure, like ``chalicelib.incidents``: ``apply(state, verdicts, now)`` updates the state and returns
the Discord work it owes, which is also kept in ``state.owed`` until the loop has done each piece
and called ``state.acknowledge(effect, message_id)``. Nothing else edits the state's records.

- A problem is a (compiler, rule) pair. New ones are announced together in one notifying post
  (``Announce``); while one lasts it pings nobody again.
- ``ShowOpen``: the one message that lists every open problem, edited in place whenever what it
  shows changes (posted, quietly, the first time, or again if someone deleted it).
- A problem that clears, or whose entry left compilers.yaml, is closed and shown as resolved in a
  quiet post (``Resolve``). If it comes back later it is new, and pings.
- An unknown verdict changes nothing: an open problem stays open with its last evidence.
- ``Outage``: the run could check nothing; said once (quietly) until a run checks again, which
  then edits that note to say so (``OutageOver``): the newest word on the watch tells its state.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.build_rules import Rule, Status, Verdict

REMOVED = "no longer in compilers.yaml"
NOT_APPLICABLE = "the rule no longer applies to it"
CLEARED = "cleared"


@dataclass(frozen=True)
class Problem:
    compiler: str
    rule: Rule
    opened: str  # ISO 8601: the run that found it
    evidence: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.compiler}\t{self.rule}"


@dataclass(frozen=True)
class Closed:
    problem: Problem
    why: str  # CLEARED, REMOVED, NOT_APPLICABLE


@dataclass(frozen=True)
class Announce:
    """One notifying post naming each new problem with its evidence."""

    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Resolve:
    """One quiet post: these problems are over."""

    closed: tuple[Closed, ...]


@dataclass(frozen=True)
class ShowOpen:
    """The open-problems message as of ``now``: edited in place, posted quietly if there is none."""

    problems: tuple[Problem, ...]
    now: str


@dataclass(frozen=True)
class Outage:
    """One quiet post: this run could check nothing."""

    reason: str
    now: str


@dataclass(frozen=True)
class OutageOver:
    """A run checks again: the outage's note (``message_id``) says so, or a quiet post if it is gone."""

    reason: str
    since: str
    now: str
    message_id: str | None


Effect = Announce | Resolve | ShowOpen | Outage | OutageOver


@dataclass
class WatchState:
    problems: dict[str, Problem] = field(default_factory=dict)  # open, by Problem.key
    summary_id: str | None = None  # the open-problems message
    shown: str | None = None  # what it shows (a fingerprint), so an unchanged list is not edited
    outage_since: str | None = None  # an outage was announced and has not ended
    outage_reason: str | None = None
    outage_message_id: str | None = None  # its note, edited when a run checks again
    first_seen: dict[str, str] = field(default_factory=dict)  # compiler: when it appeared in compilers.yaml
    owed: list[Effect] = field(default_factory=list)  # Discord work not yet done, in order

    def acknowledge(self, effect: Effect, message_id: str | None = None) -> None:
        """``effect`` is done (``message_id``: the message it posted or edited, if any)."""
        if effect in self.owed:
            self.owed.remove(effect)
        if isinstance(effect, ShowOpen):
            self.summary_id = message_id or self.summary_id
            self.shown = fingerprint(effect)
        if isinstance(effect, Outage) and self.outage_since is not None:
            self.outage_message_id = message_id

    def to_json(self) -> str:
        return json.dumps(
            {
                "problems": [_problem_json(p) for p in self.problems.values()],
                "summary_id": self.summary_id,
                "shown": self.shown,
                "outage_since": self.outage_since,
                "outage_reason": self.outage_reason,
                "outage_message_id": self.outage_message_id,
                "first_seen": self.first_seen,
                "owed": [_effect_json(e) for e in self.owed],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> "WatchState":
        if not text:
            return cls()
        data = json.loads(text)
        problems = [_problem(p) for p in data.get("problems", [])]
        return cls(
            problems={p.key: p for p in problems},
            summary_id=data.get("summary_id"),
            shown=data.get("shown"),
            outage_since=data.get("outage_since"),
            outage_reason=data.get("outage_reason"),
            outage_message_id=data.get("outage_message_id"),
            first_seen=dict(data.get("first_seen", {})),
            owed=[_effect(e) for e in data.get("owed", [])],
        )


def first_seen(state: WatchState, compilers: Sequence[str], now: datetime) -> dict[str, datetime]:
    """When each compiler appeared in compilers.yaml, as far as the watch knows (now, for a new one)."""
    for name in compilers:
        state.first_seen.setdefault(name, now.isoformat())
    for name in set(state.first_seen) - set(compilers):
        del state.first_seen[name]  # removed: if it comes back, it is new again
    return {name: datetime.fromisoformat(seen) for name, seen in state.first_seen.items()}


def apply(state: WatchState, verdicts: Mapping[str, Sequence[Verdict]], now: datetime) -> list[Effect]:
    """This run's verdicts (for every entry of compilers.yaml, by compiler) applied to ``state``."""
    stamp = now.isoformat()
    new: list[Problem] = []
    closed: list[Closed] = []
    judged: set[str] = set()
    for compiler, found in verdicts.items():
        for verdict in found:
            key = Problem(compiler, verdict.rule, stamp).key
            judged.add(key)
            was = state.problems.get(key)
            if verdict.status == Status.PROBLEM:
                if was is None:
                    problem = Problem(compiler, verdict.rule, stamp, verdict.evidence)
                    new.append(problem)
                else:
                    problem = Problem(compiler, verdict.rule, was.opened, verdict.evidence)
                state.problems[key] = problem
            elif verdict.status == Status.CLEAR and was is not None:
                closed.append(Closed(was, CLEARED))
                del state.problems[key]
    for key, problem in list(state.problems.items()):
        if key not in judged:
            closed.append(Closed(problem, REMOVED if problem.compiler not in verdicts else NOT_APPLICABLE))
            del state.problems[key]
    effects: list[Effect] = []
    if state.outage_since is not None:
        effects.append(OutageOver(state.outage_reason or "", state.outage_since, stamp, state.outage_message_id))
    state.outage_since = state.outage_reason = state.outage_message_id = None
    if new:
        effects.append(Announce(tuple(new)))
    if closed:
        effects.append(Resolve(tuple(closed)))
    show = ShowOpen(tuple(sorted(state.problems.values(), key=lambda p: (p.opened, p.compiler, p.rule))), stamp)
    # The list exists from the first problem on, and is edited only when what it shows changes.
    if (state.problems or state.summary_id) and fingerprint(show) != state.shown:
        effects.append(show)
    return _owe(state, effects)


def outage(state: WatchState, reason: str, now: datetime) -> list[Effect]:
    """The run could check nothing: say so once per outage."""
    if state.outage_since is not None:
        return []
    state.outage_since, state.outage_reason = now.isoformat(), reason
    return _owe(state, [Outage(reason, now.isoformat())])


def fingerprint(show: ShowOpen) -> str:
    """What the open-problems message shows: the problems, their evidence and their age in days."""
    now = datetime.fromisoformat(show.now)
    shown = [[p.compiler, p.rule, list(p.evidence), days_open(p, now)] for p in show.problems]
    return json.dumps(shown, separators=(",", ":"))


def days_open(problem: Problem, now: datetime) -> int:
    return max((now - datetime.fromisoformat(problem.opened)).days, 0)


def _owe(state: WatchState, effects: list[Effect]) -> list[Effect]:
    if any(isinstance(e, ShowOpen) for e in effects):
        # One edit shows everything: an older list still owed need not be shown first.
        state.owed = [e for e in state.owed if not isinstance(e, ShowOpen)]
    state.owed.extend(effects)
    return effects


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {**asdict(problem), "evidence": list(problem.evidence)}


def _problem(data: dict[str, Any]) -> Problem:
    return Problem(data["compiler"], Rule(data["rule"]), data["opened"], tuple(data.get("evidence", ())))


def _effect_json(effect: Effect) -> dict[str, Any]:
    match effect:
        case Announce(problems):
            return {"kind": "announce", "problems": [_problem_json(p) for p in problems]}
        case Resolve(closed):
            return {"kind": "resolve", "closed": [{"problem": _problem_json(c.problem), "why": c.why} for c in closed]}
        case ShowOpen(problems, now):
            return {"kind": "show", "problems": [_problem_json(p) for p in problems], "now": now}
        case Outage(reason, now):
            return {"kind": "outage", "reason": reason, "now": now}
        case OutageOver(reason, since, now, message_id):
            return {"kind": "outage-over", "reason": reason, "since": since, "now": now, "message_id": message_id}


def _effect(data: dict[str, Any]) -> Effect:
    kind = data["kind"]
    if kind == "announce":
        return Announce(tuple(_problem(p) for p in data["problems"]))
    if kind == "resolve":
        return Resolve(tuple(Closed(_problem(c["problem"]), c["why"]) for c in data["closed"]))
    if kind == "show":
        return ShowOpen(tuple(_problem(p) for p in data["problems"]), data["now"])
    if kind == "outage":
        return Outage(data["reason"], data["now"])
    if kind == "outage-over":
        return OutageOver(data["reason"], data["since"], data["now"], data.get("message_id"))
    raise ValueError(f"unknown owed effect {kind!r}")
