"""The build watch benchmark's year (tools/benchmarks/build_year.py): the scenario says what it claims, and the
comparators and the scoring count as the issue defines them. Pure: no emulator, no HTTP."""

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from tools.benchmarks import build_year
from tools.benchmarks.build_year import DAY, Injected, Report, Year, naive, nothing, score


@pytest.fixture(scope="module")
def full() -> Year:
    return build_year.year()


@pytest.fixture(scope="module")
def quick() -> Year:
    return build_year.year(quick=True)


def nights(scenario: Year, compiler: str) -> dict[int, str]:
    """Each night's status for ``compiler``, by the day it finished."""
    return {
        (datetime.fromisoformat(b["timestamp"]) - build_year.YEAR) // DAY: b["status"]
        for b in scenario.builds()
        if b["compiler"] == compiler
    }


def test_the_year_is_shaped_like_todays_compilers_yaml(full: Year) -> None:
    daily = yaml.safe_load(full.yaml)["compilers"]["daily"]
    assert len(daily) == 99 and len({e["name"] for e in daily}) == 99
    gated = [e for e in daily if "repos" in e]
    assert (len(gated), len(full.repos)) == (78, 64)
    urls = Counter(url for e in gated for url in e["repos"])
    assert max(urls.values()) >= 2  # one URL watched by two entries
    assert any("/tree/" in url and url.split("/tree/")[1].count("/") for url in urls)  # a branch with "/"
    assert any(len(e["repos"]) == 2 for e in gated)


@pytest.mark.parametrize("which", ["full", "quick"])
def test_every_injected_problem_is_in_the_history(which: str, request: pytest.FixtureRequest) -> None:
    scenario: Year = request.getfixturevalue(which)
    problem = {p.compiler: p for p in scenario.injected}

    flang = problem["clang_llvmflang"]
    statuses = nights(scenario, "clang_llvmflang")
    assert [statuses[d] for d in range(flang.start, flang.end or 0)] == [""] * ((flang.end or 0) - flang.start)
    assert statuses[flang.start - 1] == "OK" and statuses[flang.end or 0] == "OK"
    if which == "full":
        assert (flang.end or 0) - flang.start == 60

    # clang_ir: nothing built once its gate has seen a week without commits after the archive.
    archived = problem["clang_ir"].start
    assert max(nights(scenario, "clang_ir")) <= archived + build_year.GATE_DAYS + 1
    assert [e.args for e in scenario.events if e.kind == "archive"] == [("llvm/clangir",)]

    hana = problem["clang_hana"]
    statuses = nights(scenario, "clang_hana")
    assert all(statuses[d] == "" for d in range(hana.start, hana.end or 0))  # built every night, and failed
    assert statuses[hana.end or 0] in build_year.GOOD

    stopped = problem["tinycc"]
    assert not set(nights(scenario, "tinycc")) & set(range(stopped.start, stopped.end or 0))

    (move,) = [e for e in scenario.events if e.kind == "move"]
    (fix,) = [e for e in scenario.events if e.kind == "yaml"]
    assert (move.when - build_year.YEAR) // DAY == problem["hylo"].start
    assert 'hylo-lang/hylo"' in fix.args[0] and "hyloc" not in fix.args[0]
    assert scenario.github_down and scenario.run_twice


@pytest.mark.parametrize("which", ["full", "quick"])
def test_every_entry_has_a_good_build_before_the_year(which: str, request: pytest.FixtureRequest) -> None:
    scenario: Year = request.getfixturevalue(which)
    before = {b["compiler"] for b in scenario.builds() if b["status"] in build_year.GOOD and b["timestamp"] < "2026"}
    assert before == {e.name for e in scenario.entries}


@pytest.mark.parametrize("which", ["full", "quick"])
def test_a_gated_build_runs_only_after_a_commit_in_the_week_before(which: str, request: pytest.FixtureRequest) -> None:
    scenario: Year = request.getfixturevalue(which)
    commits: dict[tuple[str, str], list[datetime]] = {}
    for event in scenario.events:
        if event.kind == "commit":
            commits.setdefault(event.args, []).append(event.when)
    builds: dict[str, list[dict[str, str]]] = {}
    for build in scenario.builds():
        if "github_run_id" in build:  # not the sleeping forks' last build, from before the year
            builds.setdefault(build["compiler"], []).append(build)
    for entry in scenario.entries:
        if not entry.repos or entry.name == "hylo":  # hylo's moved repository reads as activity
            continue
        for build in builds.get(entry.name, []):
            night = datetime.fromisoformat(build["timestamp"]).replace(hour=0, minute=0, second=0)
            targets = [build_year._target(url) for url in entry.repos]
            assert any(night - 7 * DAY <= t < night for key in targets for t in commits.get(key, [])), entry.name


def test_forks_sleep_for_months_then_wake_and_build_fine(full: Year) -> None:
    woke = 0
    for entry in full.entries:
        if not entry.name.startswith("fork"):
            continue
        statuses = nights(full, entry.name)
        built = sorted(statuses)
        assert built[0] < -60  # the last good build before the year is months old
        if len(built) > 1:
            woke += 1
            assert built[1] > 30 and all(statuses[d] in build_year.GOOD for d in built)
    assert woke >= 4


def test_flaky_nights_are_single_and_only_on_ungated_builds(full: Year) -> None:
    failed: dict[str, list[int]] = {}
    for build in full.builds():
        if build["status"] not in build_year.GOOD and build["compiler"] in full.quiet_entries:
            failed.setdefault(build["compiler"], []).append(
                (datetime.fromisoformat(build["timestamp"]) - build_year.YEAR) // DAY
            )
    assert sum(map(len, failed.values())) > 50
    ungated = {e.name for e in full.entries if not e.repos}
    assert set(failed) <= ungated
    for days in failed.values():
        days.sort()
        assert all(b - a > 3 for a, b in itertools.pairwise(days))


def test_nothing_reports_nothing_and_the_naive_rule_cries_wolf(full: Year) -> None:
    silent = score(full, nothing(full))
    assert silent["reported"] == 0 and silent["notifying_posts"] == silent["false_alarms"] == 0

    noisy = score(full, naive(full))
    found = {p["compiler"]: p for p in noisy["problems"]}
    assert found["clang_llvmflang"]["days_to_report"] == 6  # 7 days after the last good build
    assert found["clang_ir"]["days_to_report"] > found["clang_ir"]["due_within_days"]  # late
    assert found["hylo"]["days_to_report"] is None  # a moved repository builds on: silence looks fine
    # Idle forks and quiet repositories are "stale" to it, again and again.
    assert noisy["false_alarms"] > 50
    assert any(name.startswith("fork") for name in noisy["false_alarm_entries"])


def small_year() -> Year:
    return Year(
        days=20,
        entries=[],
        yaml="",
        repos={},
        branches=[],
        events=[],
        injected=[Injected("a", "fails", "failing", 5, 3, 12), Injected("b", "archived", "gate", 8, 0)],
        github_down=set(),
        run_twice=set(),
        quiet_entries={"c", "d"},
    )


@pytest.mark.parametrize(
    ("posts", "days", "met", "false_alarms"),
    [
        ([(7, ["a"]), (9, ["b"])], {"a": 2, "b": 1}, {"a": True, "b": True}, 0),
        ([(7, ["a", "b"])], {"a": 2, "b": None}, {"a": True, "b": False}, 0),  # b before it started
        ([(10, ["a"]), (8, ["b", "c"])], {"a": 5, "b": 0}, {"a": False, "b": True}, 1),  # a late; c is false
        ([(6, ["a"]), (7, ["a"]), (8, ["b"])], {"a": 1, "b": 0}, {"a": False, "b": True}, 0),  # a pinged twice
        ([(13, ["a"]), (19, ["c", "d"])], {"a": None, "b": None}, {"a": False, "b": False}, 2),  # after a ended
    ],
)
def test_the_score_counts_days_to_report_repeats_and_false_alarms(
    posts: list[tuple[int, list[str]]], days: dict[str, int | None], met: dict[str, bool], false_alarms: int
) -> None:
    scenario = small_year()
    result = score(scenario, Report("x", notifying=sorted(posts), quiet_posts=3, edits=4))
    assert {p["compiler"]: p["days_to_report"] for p in result["problems"]} == days
    assert {p["compiler"]: p["met"] for p in result["problems"]} == met
    assert result["false_alarms"] == false_alarms
    assert (result["notifying_posts"], result["quiet_posts"], result["edits"]) == (len(posts), 3, 4)


def test_each_run_gets_every_event_up_to_its_time_once(quick: Year) -> None:
    delivered = []
    previous = None
    for day, now, events in build_year.runs(quick):
        assert now == build_year.YEAR + day * DAY + timedelta(hours=6)
        assert all(e.when <= now and (previous is None or e.when > previous) for e in events)
        delivered += events
        previous = now
    assert delivered == [e for e in quick.events if e.when <= previous]


def test_the_replay_reads_an_entry_name_only_as_a_whole_name() -> None:
    from tools.benchmarks.build_watch import _names_pattern, _text
    from tools.devkit.discord.fake import Message

    pattern = _names_pattern(["clang", "clang_ir", "llvm", "hylo", "gcc", "clang.thephd.dev", "clang_llvmflang"])
    text = _text(
        Message(
            "1",
            {
                "content": "2 new problems: **clang\\_ir**",
                "embeds": [
                    {
                        "title": "Build watch",
                        "fields": [
                            {"name": "`clang_ir`: the gate is broken", "value": "https://github.com/llvm/clangir"},
                            {"name": "hylo", "value": "hylo-lang/hyloc moved; see compiler-explorer/hana-clang"},
                        ],
                        "description": "**clang\\_llvmflang**: failing every night",
                        "footer": {"text": "clang.thephd.dev fine"},
                    }
                ],
            },
            {},
            datetime.now(UTC),
        )
    )
    assert sorted(set(pattern.findall(text))) == ["clang.thephd.dev", "clang_ir", "clang_llvmflang", "hylo"]


def test_the_github_budget_is_the_issues_per_run_count(quick: Year) -> None:
    from tools.benchmarks.build_watch import github_budget

    targets = [build_year._target(url) for e in quick.entries for url in e.repos]
    repositories = {repo for repo, _ in targets}
    assert github_budget(quick) == 1 + len(repositories) + len(set(targets)) + len(targets)
    assert len(set(targets)) < len(targets)  # shared URLs are read once, looked up per entry
