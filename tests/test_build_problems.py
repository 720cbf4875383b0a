"""The build watch's problem state machine on plain values: what each run's verdicts owe Discord."""

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import build_problems
from chalicelib.build_problems import (
    CLEARED,
    NOT_APPLICABLE,
    REMOVED,
    Announce,
    Closed,
    Outage,
    OutageOver,
    Resolve,
    ShowOpen,
    WatchState,
)
from chalicelib.build_rules import Rule, Status, Verdict

DAY0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)

P, C, U = Status.PROBLEM, Status.CLEAR, Status.UNKNOWN


def gated(stale: Status, gate: Status, evidence: str = "evidence") -> list[Verdict]:
    return [
        Verdict(Rule.STALE, stale, (evidence,) if stale == P else ()),
        Verdict(Rule.GATE, gate, (evidence,) if gate == P else ()),
    ]


def ungated(not_running: Status, failing: Status) -> list[Verdict]:
    return [
        Verdict(Rule.NOT_RUNNING, not_running, ("silent",) if not_running == P else ()),
        Verdict(Rule.FAILING, failing, ("failing",) if failing == P else ()),
    ]


def run(state: WatchState, day: int, verdicts: dict[str, list[Verdict]]) -> list[build_problems.Effect]:
    """One run: apply, then do every effect (the summary gets id "s1" the first time)."""
    effects = build_problems.apply(state, verdicts, DAY0 + timedelta(days=day))
    for effect in effects:
        state.acknowledge(effect, "s1" if isinstance(effect, ShowOpen) and state.summary_id is None else None)
    assert state.owed == []
    return effects


def kinds(effects: list[build_problems.Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]


def announced(effects: list[build_problems.Effect]) -> list[tuple[str, Rule]]:
    return [(p.compiler, p.rule) for e in effects if isinstance(e, Announce) for p in e.problems]


def resolved(effects: list[build_problems.Effect]) -> list[tuple[str, Rule, str]]:
    return [(c.problem.compiler, c.problem.rule, c.why) for e in effects if isinstance(e, Resolve) for c in e.closed]


# Each case: a sequence of runs (verdicts by compiler) and what each run must owe.
CASES = {
    "nothing wrong, ever: nothing posted": [
        ({"gcc": ungated(C, C), "clang_ir": gated(C, C)}, [], [], []),
        ({"gcc": ungated(C, C), "clang_ir": gated(C, C)}, [], [], []),
    ],
    "a problem opens, lasts, clears": [
        ({"clang_ir": gated(C, P)}, ["Announce", "ShowOpen"], [("clang_ir", Rule.GATE)], []),
        ({"clang_ir": gated(C, P)}, ["ShowOpen"], [], []),  # a day later: the list's age changes
        ({"clang_ir": gated(C, C)}, ["Resolve", "ShowOpen"], [], [("clang_ir", Rule.GATE, CLEARED)]),
        ({"clang_ir": gated(C, C)}, [], [], []),
    ],
    "two new problems in one run: one notifying post": [
        (
            {"gcc": ungated(C, P), "clang_ir": gated(P, P)},
            ["Announce", "ShowOpen"],
            [("gcc", Rule.FAILING), ("clang_ir", Rule.STALE), ("clang_ir", Rule.GATE)],
            [],
        ),
    ],
    "unknown keeps an open problem open, and opens nothing": [
        ({"clang_ir": gated(P, C)}, ["Announce", "ShowOpen"], [("clang_ir", Rule.STALE)], []),
        ({"clang_ir": gated(U, U), "gcc": ungated(U, U)}, ["ShowOpen"], [], []),
        ({"clang_ir": gated(U, U)}, ["ShowOpen"], [], []),
    ],
    "a cleared problem that comes back is new and pings": [
        ({"gcc": ungated(C, P)}, ["Announce", "ShowOpen"], [("gcc", Rule.FAILING)], []),
        ({"gcc": ungated(C, C)}, ["Resolve", "ShowOpen"], [], [("gcc", Rule.FAILING, CLEARED)]),
        ({"gcc": ungated(C, P)}, ["Announce", "ShowOpen"], [("gcc", Rule.FAILING)], []),
    ],
    "an entry that leaves compilers.yaml is closed quietly": [
        ({"gcc": ungated(C, P), "clang": ungated(C, C)}, ["Announce", "ShowOpen"], [("gcc", Rule.FAILING)], []),
        ({"clang": ungated(C, C)}, ["Resolve", "ShowOpen"], [], [("gcc", Rule.FAILING, REMOVED)]),
    ],
    "an entry that gains repos: its ungated problem no longer applies": [
        ({"tinycc": ungated(P, U)}, ["Announce", "ShowOpen"], [("tinycc", Rule.NOT_RUNNING)], []),
        ({"tinycc": gated(C, C)}, ["Resolve", "ShowOpen"], [], [("tinycc", Rule.NOT_RUNNING, NOT_APPLICABLE)]),
    ],
    "failing turns into not running: one new problem, the old one kept (unknown)": [
        ({"gcc": ungated(C, P)}, ["Announce", "ShowOpen"], [("gcc", Rule.FAILING)], []),
        ({"gcc": ungated(P, U)}, ["Announce", "ShowOpen"], [("gcc", Rule.NOT_RUNNING)], []),
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_runs(case: str) -> None:
    state = WatchState()
    for day, (verdicts, expected_kinds, expected_new, expected_resolved) in enumerate(CASES[case]):
        effects = run(state, day, verdicts)
        assert kinds(effects) == expected_kinds, (case, day)
        assert announced(effects) == expected_new, (case, day)
        assert resolved(effects) == expected_resolved, (case, day)


def test_a_second_run_over_the_same_data_on_the_same_day_owes_nothing() -> None:
    state = WatchState()
    verdicts = {"clang_ir": gated(P, P), "gcc": ungated(C, P)}
    run(state, 0, verdicts)

    again = build_problems.apply(state, verdicts, DAY0 + timedelta(hours=3))

    assert again == []


def test_the_open_list_carries_every_open_problem_with_its_latest_evidence_and_first_opening() -> None:
    state = WatchState()
    run(state, 0, {"clang_ir": gated(P, C, "3 failed nights")})

    effects = run(state, 2, {"clang_ir": gated(P, C, "5 failed nights"), "gcc": ungated(C, P)})

    (show,) = [e for e in effects if isinstance(e, ShowOpen)]
    assert [(p.compiler, p.rule, p.evidence, p.opened) for p in show.problems] == [
        ("clang_ir", Rule.STALE, ("5 failed nights",), DAY0.isoformat()),
        ("gcc", Rule.FAILING, ("failing",), (DAY0 + timedelta(days=2)).isoformat()),
    ]
    assert [build_problems.days_open(p, DAY0 + timedelta(days=2)) for p in show.problems] == [2, 0]
    assert state.summary_id == "s1"


def test_the_open_list_stays_after_everything_cleared_and_says_so() -> None:
    state = WatchState()
    run(state, 0, {"gcc": ungated(C, P)})

    effects = run(state, 1, {"gcc": ungated(C, C)})

    assert effects[-1] == ShowOpen((), (DAY0 + timedelta(days=1)).isoformat())
    assert state.summary_id == "s1"


def test_work_not_acknowledged_stays_owed_and_survives_the_store() -> None:
    state = WatchState()
    effects = build_problems.apply(state, {"gcc": ungated(C, P)}, DAY0)
    state.acknowledge(effects[0])  # the announcement went out; the list did not

    stored = WatchState.from_json(state.to_json())

    assert stored.owed == [effects[1]]
    assert stored.problems == state.problems
    assert stored == state


def test_a_newer_list_replaces_an_owed_older_one() -> None:
    state = WatchState()
    build_problems.apply(state, {"gcc": ungated(C, P)}, DAY0)  # nothing done: Discord was down

    later = build_problems.apply(state, {"gcc": ungated(C, P)}, DAY0 + timedelta(days=1))

    assert [type(e).__name__ for e in state.owed] == ["Announce", "ShowOpen"]
    assert later == [state.owed[1]]
    assert state.owed[1].now == (DAY0 + timedelta(days=1)).isoformat()


def test_an_outage_is_said_once_until_a_run_checks_again() -> None:
    state = WatchState()

    first = build_problems.outage(state, "no compilers.yaml", DAY0)
    second = build_problems.outage(state, "no compilers.yaml", DAY0 + timedelta(days=1))
    build_problems.apply(state, {"gcc": ungated(C, C)}, DAY0 + timedelta(days=2))
    third = build_problems.outage(state, "no build table", DAY0 + timedelta(days=3))

    assert first == [Outage("no compilers.yaml", DAY0.isoformat())]
    assert second == []
    assert third == [Outage("no build table", (DAY0 + timedelta(days=3)).isoformat())]


def test_the_first_run_that_checks_again_edits_the_outage_note_once() -> None:
    state = WatchState()
    (said,) = build_problems.outage(state, "no compilers.yaml", DAY0)
    state.acknowledge(said, "note-1")
    build_problems.outage(state, "no compilers.yaml", DAY0 + timedelta(days=1))

    back = build_problems.apply(state, {"gcc": ungated(C, C)}, DAY0 + timedelta(days=2))
    later = build_problems.apply(state, {"gcc": ungated(C, C)}, DAY0 + timedelta(days=3))

    over = OutageOver("no compilers.yaml", DAY0.isoformat(), (DAY0 + timedelta(days=2)).isoformat(), "note-1")
    assert back == [over]
    assert later == [] and state.owed == [over], "said once; still owed until done"


def test_an_outage_whose_note_never_went_out_is_ended_by_a_quiet_post() -> None:
    state = WatchState()
    build_problems.outage(state, "no build table", DAY0)  # Discord was down too: the note is still owed

    effects = build_problems.apply(state, {"gcc": ungated(C, C)}, DAY0 + timedelta(days=1))

    assert kinds(effects) == ["OutageOver"] and effects[0].message_id is None  # type: ignore[union-attr]
    assert kinds(state.owed) == ["Outage", "OutageOver"]


def test_an_outage_keeps_open_problems_open() -> None:
    state = WatchState()
    run(state, 0, {"gcc": ungated(C, P)})

    effects = build_problems.outage(state, "GitHub unreachable", DAY0 + timedelta(days=1))

    assert kinds(effects) == ["Outage"]
    assert list(state.problems) == ["gcc\tfailing"]


def test_first_seen_remembers_new_entries_and_forgets_removed_ones() -> None:
    state = WatchState()
    build_problems.first_seen(state, ["gcc", "clang"], DAY0)

    seen = build_problems.first_seen(state, ["gcc", "tinycc"], DAY0 + timedelta(days=1))

    assert seen == {"gcc": DAY0, "tinycc": DAY0 + timedelta(days=1)}


def test_every_effect_survives_the_store() -> None:
    problem = build_problems.Problem("gcc", Rule.FAILING, DAY0.isoformat(), ("a", "b"))
    state = WatchState(
        owed=[
            Announce((problem,)),
            Resolve((Closed(problem, CLEARED),)),
            ShowOpen((problem,), DAY0.isoformat()),
            Outage("why", DAY0.isoformat()),
            OutageOver("why", DAY0.isoformat(), (DAY0 + timedelta(days=1)).isoformat(), "m7"),
        ],
        outage_since=DAY0.isoformat(),
        outage_reason="why",
        outage_message_id="m7",
    )

    assert WatchState.from_json(state.to_json()) == state
    assert WatchState.from_json(None) == WatchState()
