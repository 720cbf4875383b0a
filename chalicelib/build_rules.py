"""The build watch's rules: one compiler's builds and what GitHub says about its targets, judged.

Pure: the loop (``chalicelib.build_watch``) gathers the facts, these functions only decide. For each
rule that applies to an entry the answer is a ``Verdict``: a problem (with its evidence), clear, or
unknown. Unknown is what a failed read gives: it never opens a problem and never clears one.

1. ``STALE`` (gated): some target has a commit dated after the last good build and more than
   ``stale_days`` ago, so the gate should have fired and nothing good came of it. An idle fork (no
   commit since its last good build) never trips it, however old that build is.
2. ``GATE`` (gated): a target is archived, missing (404), moved (301), has no such branch (422), or
   is not a GitHub repository URL: the gate is blind or can never fire.
3. ``FAILING`` and ``NOT_RUNNING`` (ungated, which must build every night): builds in the last
   ``failing_days`` and none good (one failed night is not a problem); no build at all in the last
   ``silent_days``. When both hold, only NOT_RUNNING is reported.

"Last good" is the newest build whose status is OK or SKIPPED. An entry with no build at all is
reported as never run, once it has been in compilers.yaml for ``silent_days`` (a new entry gets
its first night).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.builds import Build, History
from chalicelib.watchlist import Entry, Target

RUN_URL = "https://github.com/compiler-explorer/compiler-workflows/actions/runs/{run_id}"
MIN_FAILED_NIGHTS = 2  # "a single failed night is not a problem"


class Rule(StrEnum):
    STALE = "stale"
    GATE = "gate"
    FAILING = "failing"
    NOT_RUNNING = "not-running"


RULE_WORDS = {
    Rule.STALE: "upstream moved and nothing was built",
    Rule.GATE: "the activity gate is broken",
    Rule.FAILING: "failing every night",
    Rule.NOT_RUNNING: "not running",
}
GATED_RULES = (Rule.STALE, Rule.GATE)
UNGATED_RULES = (Rule.NOT_RUNNING, Rule.FAILING)


class Status(StrEnum):
    PROBLEM = "problem"
    CLEAR = "clear"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Verdict:
    rule: Rule
    status: Status
    evidence: tuple[str, ...] = ()  # for a problem: what proves it, one line each
    why: str = ""  # for unknown: what could not be read


@dataclass(frozen=True)
class Thresholds:
    stale_days: float = 7.0
    failing_days: float = 3.0
    silent_days: float = 2.0


# ---- what GitHub said ----------------------------------------------------------------------------


class RepoState(StrEnum):
    OK = "ok"
    ARCHIVED = "archived"
    MISSING = "missing"  # 404: missing, or private and the token cannot read it
    MOVED = "moved"  # 301
    UNKNOWN = "unknown"  # the read failed


@dataclass(frozen=True)
class RepoFact:
    state: RepoState
    moved_to: str | None = None  # for MOVED: the repository's name now, if GitHub said


class BranchState(StrEnum):
    OK = "ok"
    MISSING = "missing"  # 422 "No commit found for SHA"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class BranchFact:
    state: BranchState
    newest: datetime | None = None  # the newest commit's date (None: no commit at all)


@dataclass(frozen=True)
class WindowFact:
    """The answer to ``commits?since=<last good>&until=<now - stale_days>``: a commit's date, or none."""

    known: bool
    found: datetime | None = None


UNKNOWN_WINDOW = WindowFact(False)


@dataclass(frozen=True)
class Facts:
    repos: Mapping[str, RepoFact]  # by Target.repo
    branches: Mapping[tuple[str, str | None], BranchFact]  # by (repo, branch)
    windows: Mapping[tuple[str, str], WindowFact]  # by (entry name, target URL)


def base_of(history: History) -> Build | None:
    """What rule 1 counts from: the last good build, else the oldest build; None if never built."""
    return history.last_good or history.oldest or (history.builds[-1] if history.builds else None)


def window_needed(
    history: History, branch: BranchFact, now: datetime, thresholds: Thresholds
) -> tuple[datetime, datetime] | None:
    """The (since, until) rule 1 must ask GitHub about for one target, or None if the facts answer it.

    The newest commit often settles it: none after the base (an idle fork), or one already older
    than the threshold. Only a target with recent commits needs the window's own look-up.
    """
    base = base_of(history)
    until = now - timedelta(days=thresholds.stale_days)
    if base is None or branch.state != BranchState.OK or branch.newest is None:
        return None
    if branch.newest <= base.timestamp or branch.newest <= until or base.timestamp >= until:
        return None
    return base.timestamp + timedelta(seconds=1), until


# ---- the rules -----------------------------------------------------------------------------------


def judge(
    entry: Entry,
    history: History | None,
    facts: Facts,
    now: datetime,
    thresholds: Thresholds,
    first_seen: datetime | None = None,
) -> list[Verdict]:
    """Every rule that applies to ``entry``; ``history`` None means the build table could not be read."""
    if entry.gated:
        return [_stale(entry, history, facts, now, thresholds, first_seen), _gate(entry, facts)]
    return _ungated(history, now, thresholds, first_seen)


def _stale(
    entry: Entry,
    history: History | None,
    facts: Facts,
    now: datetime,
    thresholds: Thresholds,
    first_seen: datetime | None,
) -> Verdict:
    if history is None:
        return Verdict(Rule.STALE, Status.UNKNOWN, why="the build table could not be read")
    base = base_of(history)
    if base is None:
        return _never_run(Rule.STALE, now, thresholds, first_seen)
    unknown: list[str] = []
    for target in entry.targets:
        found, known = _unbuilt_commit(entry, target, history, facts, now, thresholds)
        if found is not None:
            evidence = (
                f"{target.where} has a commit of {_day(found)}, after the last good build and "
                f"more than {_days(thresholds.stale_days)} ago",
                *_build_evidence(history),
            )
            return Verdict(Rule.STALE, Status.PROBLEM, evidence)
        if not known:
            unknown.append(target.where)
    if unknown:
        return Verdict(Rule.STALE, Status.UNKNOWN, why=f"GitHub did not answer for {', '.join(unknown)}")
    return Verdict(Rule.STALE, Status.CLEAR)


def _unbuilt_commit(
    entry: Entry, target: Target, history: History, facts: Facts, now: datetime, thresholds: Thresholds
) -> tuple[datetime | None, bool]:
    """(a commit after the base and older than the threshold, or None; whether the target answered)."""
    if target.repo is None:
        return None, True  # rule 2's: the gate cannot read it
    repo = facts.repos.get(target.repo, RepoFact(RepoState.UNKNOWN))
    if repo.state in (RepoState.MISSING, RepoState.MOVED):
        return None, True  # the gate builds every night regardless (404 and 301 both read as "go")
    if repo.state == RepoState.UNKNOWN:
        return None, False
    branch = facts.branches.get((target.repo, target.branch), BranchFact(BranchState.UNKNOWN))
    if branch.state == BranchState.MISSING:
        return None, True  # rule 2's
    if branch.state == BranchState.UNKNOWN:
        return None, False
    base = base_of(history)
    assert base is not None  # noqa: S101 (the caller checked)
    until = now - timedelta(days=thresholds.stale_days)
    newest = branch.newest
    if newest is None or newest <= base.timestamp or base.timestamp >= until:
        return None, True
    if newest <= until:
        return newest, True
    window = facts.windows.get((entry.name, target.url), UNKNOWN_WINDOW)
    return window.found, window.known


def _gate(entry: Entry, facts: Facts) -> Verdict:
    broken: list[str] = []
    unknown: list[str] = []
    for target in entry.targets:
        if target.repo is None:
            broken.append(f"{target.url} is not a GitHub repository URL")
            continue
        repo = facts.repos.get(target.repo, RepoFact(RepoState.UNKNOWN))
        if repo.state == RepoState.ARCHIVED:
            broken.append(f"{target.repo} is archived: the gate can never fire")
        elif repo.state == RepoState.MISSING:
            broken.append(f"{target.repo} answers 404 (gone, or private): the gate cannot read it and builds blind")
        elif repo.state == RepoState.MOVED:
            where = f"it is now {repo.moved_to}" if repo.moved_to else "GitHub did not say where"
            broken.append(f"{target.repo} has moved ({where}): fix its URL in compilers.yaml")
        elif repo.state == RepoState.UNKNOWN:
            unknown.append(target.where)
        elif target.branch is not None:
            branch = facts.branches.get((target.repo, target.branch), BranchFact(BranchState.UNKNOWN))
            if branch.state == BranchState.MISSING:
                broken.append(f"{target.repo} has no branch {target.branch}")
            elif branch.state == BranchState.UNKNOWN:
                unknown.append(target.where)
    if broken:
        return Verdict(Rule.GATE, Status.PROBLEM, tuple(broken))
    if unknown:
        return Verdict(Rule.GATE, Status.UNKNOWN, why=f"GitHub did not answer for {', '.join(unknown)}")
    return Verdict(Rule.GATE, Status.CLEAR)


def _ungated(
    history: History | None, now: datetime, thresholds: Thresholds, first_seen: datetime | None
) -> list[Verdict]:
    if history is None:
        why = "the build table could not be read"
        return [Verdict(rule, Status.UNKNOWN, why=why) for rule in UNGATED_RULES]
    newest = history.newest
    if newest is None:
        never = _never_run(Rule.NOT_RUNNING, now, thresholds, first_seen)
        return [never, Verdict(Rule.FAILING, Status.UNKNOWN, why="never built")]
    if newest.timestamp < now - timedelta(days=thresholds.silent_days):
        evidence = (f"no build at all since {_day(newest.timestamp)} ({_ago(now, newest.timestamp)})",)
        silent = Verdict(Rule.NOT_RUNNING, Status.PROBLEM, (*evidence, *_build_evidence(history)))
        # Not also "failing": whatever it was, it is not running now.
        return [silent, Verdict(Rule.FAILING, Status.UNKNOWN, why="not running")]
    recent = [b for b in history.builds if b.timestamp >= now - timedelta(days=thresholds.failing_days)]
    failing = Verdict(Rule.FAILING, Status.CLEAR)
    if len(recent) >= MIN_FAILED_NIGHTS and not any(b.good for b in recent):
        failing = Verdict(Rule.FAILING, Status.PROBLEM, _build_evidence(history))
    return [Verdict(Rule.NOT_RUNNING, Status.CLEAR), failing]


def _never_run(rule: Rule, now: datetime, thresholds: Thresholds, first_seen: datetime | None) -> Verdict:
    if first_seen is None or now - first_seen < timedelta(days=thresholds.silent_days):
        return Verdict(rule, Status.UNKNOWN, why="new in compilers.yaml: not built yet")
    return Verdict(rule, Status.PROBLEM, (f"never run: no build at all since it appeared on {_day(first_seen)}",))


def _build_evidence(history: History) -> tuple[str, ...]:
    lines = []
    good = history.last_good
    if good is None:
        first = base_of(history)
        lines.append(f"no good build ever (the first recorded: {_day(first.timestamp)})" if first else "never built")
    else:
        lines.append(f"last good build {_day(good.timestamp)}{_run(good)}")
    failed = history.failed_since_good()
    if failed:
        more = "+" if good is None and history.oldest is not None else ""
        lines.append(
            f"{len(failed)}{more} failed night{'s' if len(failed) != 1 else ''} since; latest{_run(failed[0])}"
        )
    return tuple(lines)


def run_url(build: Build) -> str | None:
    return RUN_URL.format(run_id=build.run_id) if build.run_id else None


def _run(build: Build) -> str:
    url = run_url(build)
    return f" ({url})" if url else ""


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _days(days: float) -> str:
    return f"{days:g} day{'s' if days != 1 else ''}"


def _ago(now: datetime, then: datetime) -> str:
    return f"{_days((now - then).days)} ago"
