"""The build watch's rules and compilers.yaml reader, on plain values: every rule, every threshold, unknowns."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib import watchlist
from chalicelib.build_rules import (
    BranchFact,
    BranchState,
    Facts,
    RepoFact,
    RepoState,
    Rule,
    Status,
    Thresholds,
    WindowFact,
    judge,
    window_needed,
)
from chalicelib.builds import Build, History
from chalicelib.watchlist import Entry, Target

NOW = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
DEFAULT = Thresholds()
FORK = Target("https://github.com/owner/fork/tree/ce/trunk", "owner/fork", "ce/trunk")
UPSTREAM = Target("https://github.com/llvm/llvm-project", "llvm/llvm-project")
GATED = Entry("clang_fork", (FORK,))
TWO_TARGETS = Entry("madpascal", (FORK, UPSTREAM))
UNGATED = Entry("gcc")
LONG_AGO = NOW - timedelta(days=400)


def night(days_ago: float, status: str = "OK", run_id: str | None = "42") -> Build:
    return Build(NOW - timedelta(days=days_ago, hours=4), status, run_id)


def nights(*statuses: str, start: float = 0) -> History:
    """One build a night, newest first from ``start`` nights before this morning's, cut after the newest good one."""
    builds = [night(start + n, status, str(1000 - n)) for n, status in enumerate(statuses)]
    good = next((n for n, b in enumerate(builds) if b.good), None)
    return History(tuple(builds if good is None else builds[: good + 1]))


def commits_at(*days_ago: float) -> datetime:
    return NOW - timedelta(days=min(days_ago))


def facts(
    repos: dict[str, RepoFact] | None = None,
    branches: dict[tuple[str, str | None], BranchFact] | None = None,
    windows: dict[tuple[str, str], WindowFact] | None = None,
) -> Facts:
    return Facts(
        repos
        if repos is not None
        else {"owner/fork": RepoFact(RepoState.OK), "llvm/llvm-project": RepoFact(RepoState.OK)},
        branches or {},
        windows or {},
    )


def branch(newest_days_ago: float | None) -> BranchFact:
    return BranchFact(BranchState.OK, None if newest_days_ago is None else NOW - timedelta(days=newest_days_ago))


def verdict(
    entry: Entry, history: History | None, found: Facts, rule: Rule, **kwargs
) -> tuple[Status, tuple[str, ...]]:
    (hit,) = [
        v for v in judge(entry, history, found, NOW, kwargs.pop("thresholds", DEFAULT), **kwargs) if v.rule == rule
    ]
    return hit.status, hit.evidence


# ---- rule 1: upstream moved and nothing was built ------------------------------------------------

FORK_KEY = ("owner/fork", "ce/trunk")


@pytest.mark.parametrize(
    ("case", "history", "newest_commit", "window", "expected"),
    [
        ("built last night", nights("OK"), 0.5, None, Status.CLEAR),
        ("SKIPPED is good (unchanged revision)", nights("SKIPPED"), 3, None, Status.CLEAR),
        ("idle fork, last good a year ago", nights("OK", start=365), 366, None, Status.CLEAR),
        ("idle fork with no commit at all", nights("OK", start=365), None, None, Status.CLEAR),
        ("commit after the last good, 8 days ago", nights("OK", start=30), 8, None, Status.PROBLEM),
        (
            "commit after the last good, only 6 days ago",
            nights("OK", start=30),
            6,
            WindowFact(True, None),
            Status.CLEAR,
        ),
        (
            "recent commit, and an older one in the window",
            nights("OK", start=30),
            1,
            WindowFact(True, NOW - timedelta(days=20)),
            Status.PROBLEM,
        ),
        ("recent commit, window unreadable", nights("OK", start=30), 1, WindowFact(False), Status.UNKNOWN),
        ("built 5 days ago: within the threshold", nights("OK", start=5), 1, None, Status.CLEAR),
        (
            "failing while upstream is active",
            nights("", "", "", "", "", "", "", "", "", "OK"),
            0.2,
            WindowFact(True, NOW - timedelta(days=8)),
            Status.PROBLEM,
        ),
        ("never good: counted from the oldest build", nights("", "", "", start=20), 9, None, Status.PROBLEM),
        ("never good, oldest newer than the commit", nights("", "", "", start=5), 9, None, Status.CLEAR),
    ],
)
def test_rule_1(
    case: str, history: History, newest_commit: float | None, window: WindowFact | None, expected: Status
) -> None:
    windows = {(GATED.name, FORK.url): window} if window else {}
    found = facts(branches={FORK_KEY: branch(newest_commit)}, windows=windows)

    status, evidence = verdict(GATED, history, found, Rule.STALE)

    assert status == expected, case
    if expected == Status.PROBLEM:
        assert "owner/fork@ce/trunk has a commit of" in evidence[0]
        assert evidence[1].startswith(("last good build", "no good build ever"))


def test_rule_1_evidence_names_the_last_good_run_and_counts_the_failed_nights() -> None:
    history = nights("", "", "OK", start=10)
    found = facts(branches={FORK_KEY: branch(9)})

    status, evidence = verdict(GATED, history, found, Rule.STALE)

    assert status == Status.PROBLEM
    assert evidence[1] == (
        "last good build 2026-11-24 (https://github.com/compiler-explorer/compiler-workflows/actions/runs/998)"
    )
    assert evidence[2].startswith("2 failed nights since; latest (https://github.com/")


def test_the_stale_threshold_is_a_setting() -> None:
    found = facts(branches={FORK_KEY: branch(8)}, windows={(GATED.name, FORK.url): WindowFact(True, None)})
    history = nights("OK", start=30)

    assert verdict(GATED, history, found, Rule.STALE)[0] == Status.PROBLEM
    assert verdict(GATED, history, found, Rule.STALE, thresholds=Thresholds(stale_days=10))[0] == Status.CLEAR


def test_rule_1_asks_github_only_when_the_newest_commit_cannot_answer() -> None:
    history = nights("OK", start=30)

    assert window_needed(history, branch(1), NOW, DEFAULT) == (
        history.builds[0].timestamp + timedelta(seconds=1),
        NOW - timedelta(days=7),
    )
    assert window_needed(history, branch(8), NOW, DEFAULT) is None  # the newest commit is evidence
    assert window_needed(history, branch(31), NOW, DEFAULT) is None  # idle since the build
    assert window_needed(nights("OK", start=3), branch(1), NOW, DEFAULT) is None  # built within 7 days
    assert window_needed(history, BranchFact(BranchState.UNKNOWN), NOW, DEFAULT) is None


def test_any_target_with_unbuilt_commits_is_a_problem_and_an_unanswered_one_keeps_it_unknown() -> None:
    history = nights("OK", start=30)
    upstream_idle = {FORK_KEY: branch(40), ("llvm/llvm-project", None): branch(8)}
    assert verdict(TWO_TARGETS, history, facts(branches=upstream_idle), Rule.STALE)[0] == Status.PROBLEM

    # One target answers "idle", the other does not answer: not cleared.
    one_unknown = {FORK_KEY: branch(40), ("llvm/llvm-project", None): BranchFact(BranchState.UNKNOWN)}
    assert verdict(TWO_TARGETS, history, facts(branches=one_unknown), Rule.STALE)[0] == Status.UNKNOWN

    # A repository that could not be read is unknown too.
    repos = {"owner/fork": RepoFact(RepoState.OK), "llvm/llvm-project": RepoFact(RepoState.UNKNOWN)}
    found = facts(repos=repos, branches={FORK_KEY: branch(40)})
    assert verdict(TWO_TARGETS, history, found, Rule.STALE)[0] == Status.UNKNOWN

    # ...but evidence from the target that answered still opens the problem.
    found = facts(repos=repos, branches={FORK_KEY: branch(9)})
    assert verdict(TWO_TARGETS, history, found, Rule.STALE)[0] == Status.PROBLEM


@pytest.mark.parametrize(
    ("first_seen_days_ago", "expected"), [(None, Status.UNKNOWN), (1, Status.UNKNOWN), (3, Status.PROBLEM)]
)
def test_a_gated_entry_that_never_ran_is_reported_once_it_had_its_nights(
    first_seen_days_ago: float | None, expected: Status
) -> None:
    seen = None if first_seen_days_ago is None else NOW - timedelta(days=first_seen_days_ago)
    status, evidence = verdict(GATED, History(), facts(branches={FORK_KEY: branch(100)}), Rule.STALE, first_seen=seen)

    assert status == expected
    if expected == Status.PROBLEM:
        assert evidence[0].startswith("never run")


def test_the_build_table_unreadable_makes_every_rule_of_an_entry_unknown() -> None:
    for entry in (GATED, UNGATED):
        for found in judge(entry, None, facts(), NOW, DEFAULT):
            if found.rule != Rule.GATE:  # the gate's facts are GitHub's alone
                assert found.status == Status.UNKNOWN


# ---- rule 2: the gate is broken ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "repo", "branch_fact", "expected", "words"),
    [
        ("healthy", RepoFact(RepoState.OK), branch(1), Status.CLEAR, None),
        ("archived", RepoFact(RepoState.ARCHIVED), branch(100), Status.PROBLEM, "is archived"),
        ("404", RepoFact(RepoState.MISSING), None, Status.PROBLEM, "answers 404"),
        ("moved", RepoFact(RepoState.MOVED, "new-owner/fork"), None, Status.PROBLEM, "it is now new-owner/fork"),
        ("moved, unknown where", RepoFact(RepoState.MOVED), None, Status.PROBLEM, "did not say where"),
        (
            "no such branch",
            RepoFact(RepoState.OK),
            BranchFact(BranchState.MISSING),
            Status.PROBLEM,
            "no branch ce/trunk",
        ),
        ("repository unreadable", RepoFact(RepoState.UNKNOWN), None, Status.UNKNOWN, None),
        ("branch unreadable", RepoFact(RepoState.OK), BranchFact(BranchState.UNKNOWN), Status.UNKNOWN, None),
    ],
)
def test_rule_2(case: str, repo: RepoFact, branch_fact: BranchFact | None, expected: Status, words: str | None) -> None:
    found = facts(repos={"owner/fork": repo}, branches={FORK_KEY: branch_fact} if branch_fact else {})

    status, evidence = verdict(GATED, nights("OK"), found, Rule.GATE)

    assert status == expected, case
    if words:
        assert words in evidence[0]


def test_rule_2_a_proven_break_opens_even_when_another_target_is_unknown() -> None:
    repos = {"owner/fork": RepoFact(RepoState.UNKNOWN), "llvm/llvm-project": RepoFact(RepoState.ARCHIVED)}

    assert verdict(TWO_TARGETS, nights("OK"), facts(repos=repos), Rule.GATE)[0] == Status.PROBLEM


def test_rule_2_a_url_that_is_no_repository_is_a_broken_gate() -> None:
    entry = Entry("odd", (watchlist.parse_target("https://gitlab.com/owner/repo"),))

    status, evidence = verdict(entry, nights("OK"), facts(repos={}), Rule.GATE)

    assert status == Status.PROBLEM
    assert evidence == ("https://gitlab.com/owner/repo is not a GitHub repository URL",)
    # Rule 1 cannot look at it, and says so by not guessing either way: nothing else to check.
    assert verdict(entry, nights("OK"), facts(repos={}), Rule.STALE)[0] == Status.CLEAR


# ---- rule 3: ungated builds must always produce --------------------------------------------------


@pytest.mark.parametrize(
    ("case", "history", "failing", "not_running"),
    [
        ("healthy", nights("OK", "OK"), Status.CLEAR, Status.CLEAR),
        ("a single failed night", nights("", "OK"), Status.CLEAR, Status.CLEAR),
        ("two failed nights, good before", nights("", "", "OK"), Status.CLEAR, Status.CLEAR),
        ("three failed nights", nights("", "", "", "OK"), Status.PROBLEM, Status.CLEAR),
        ("failed, failed, skipped", nights("", "", "SKIPPED"), Status.CLEAR, Status.CLEAR),
        ("sixty failed nights", nights(*[""] * 60, "OK"), Status.PROBLEM, Status.CLEAR),
        ("FAILED spelled out is a failure too", nights("FAILED", "FAILED", "FAILED"), Status.PROBLEM, Status.CLEAR),
        ("silent for 3 days, good before", nights("OK", start=3), Status.UNKNOWN, Status.PROBLEM),
        ("silent and failing: only silent", nights("", "", "", start=3), Status.UNKNOWN, Status.PROBLEM),
        ("silent for a day only", nights("OK", start=1.5), Status.CLEAR, Status.CLEAR),
    ],
)
def test_rule_3(case: str, history: History, failing: Status, not_running: Status) -> None:
    assert verdict(UNGATED, history, facts(), Rule.FAILING)[0] == failing, case
    assert verdict(UNGATED, history, facts(), Rule.NOT_RUNNING)[0] == not_running, case


def test_rule_3_one_failed_night_alone_in_the_window_is_not_a_problem() -> None:
    # The runner skipped two nights, then one failed: one failed night, whatever the gap before it.
    history = History((night(0, ""), night(3, "OK")))

    assert verdict(UNGATED, history, facts(), Rule.FAILING)[0] == Status.CLEAR
    assert verdict(UNGATED, History((night(0, ""), night(1, ""))), facts(), Rule.FAILING)[0] == Status.PROBLEM


def test_rule_3_thresholds_are_settings() -> None:
    history = nights("", "", "", "", "OK")
    assert verdict(UNGATED, history, facts(), Rule.FAILING, thresholds=Thresholds(failing_days=5))[0] == Status.CLEAR
    silent = nights("OK", start=3)
    assert verdict(UNGATED, silent, facts(), Rule.NOT_RUNNING, thresholds=Thresholds(silent_days=4))[0] == Status.CLEAR


def test_rule_3_evidence_counts_the_failed_nights_and_links_the_latest() -> None:
    status, evidence = verdict(UNGATED, nights("", "", "", "OK", start=1), facts(), Rule.FAILING)

    assert status == Status.PROBLEM
    assert evidence[0].startswith("last good build 2026-12-02 (https://github.com/")
    assert evidence[1] == (
        "3 failed nights since; latest (https://github.com/compiler-explorer/compiler-workflows/actions/runs/1000)"
    )


def test_an_ungated_entry_that_never_ran() -> None:
    seen = NOW - timedelta(days=5)
    status, evidence = verdict(UNGATED, History(), facts(), Rule.NOT_RUNNING, first_seen=seen)
    assert status == Status.PROBLEM
    assert evidence == ("never run: no build at all since it appeared on 2026-12-01",)
    assert verdict(UNGATED, History(), facts(), Rule.NOT_RUNNING, first_seen=NOW)[0] == Status.UNKNOWN


# ---- compilers.yaml ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "repo", "branch"),
    [
        ("https://github.com/dotnet/runtime", "dotnet/runtime", None),
        ("https://github.com/dotnet/runtime/", "dotnet/runtime", None),
        ("https://github.com/llvm/llvm-project/tree/main", "llvm/llvm-project", "main"),
        (
            "https://github.com/hanickadot/llvm-project/tree/compiler-explorer/hana-clang",
            "hanickadot/llvm-project",
            "compiler-explorer/hana-clang",
        ),
        ("https://github.com/KhronosGroup/SPIRV-Tools/tree/main", "KhronosGroup/SPIRV-Tools", "main"),
        ("https://github.com/owner/repo.git", "owner/repo", None),
        ("https://github.com/owner/repo/tree/feature%2Fx", "owner/repo", "feature/x"),
        ("https://gitlab.com/owner/repo", None, None),
        ("https://github.com/owner", None, None),
        ("https://github.com/owner/repo/blob/main/x", None, None),
        ("https://github.com/owner/repo/tree/", None, None),
        ("not a url", None, None),
        ("https://github.com/owner/repo?tab=x", None, None),
    ],
)
def test_repos_urls(url: str, repo: str | None, branch: str | None) -> None:
    target = watchlist.parse_target(url)
    assert (target.repo, target.branch) == (repo, branch)


def test_the_sample_compilers_yaml_is_read_as_production_writes_it() -> None:
    text = (Path(__file__).parent / "samples" / "compilers.yaml").read_text()
    entries = {e.name: e for e in watchlist.parse(text)}

    assert len(entries) == 10  # ad_hoc is not nightly
    assert not entries["clang_llvmflang"].gated
    assert [t.where for t in entries["madpascal"].targets] == [
        "tebe6502/Mad-Assembler@master",
        "tebe6502/Mad-Pascal@master",
    ]
    assert entries["clang_hana"].targets[0].branch == "compiler-explorer/hana-clang"


@pytest.mark.parametrize(
    "text", ["", "compilers: [1, 2]", "compilers:\n  ad_hoc: []\n", "{{{", "compilers:\n  daily:\n    - {image: x}\n"]
)
def test_a_compilers_yaml_with_nothing_to_check_is_an_error(text: str) -> None:
    with pytest.raises(watchlist.WatchlistError):
        watchlist.parse(text)
