"""A year of nightly compiler builds, for the build watch's benchmark row (pure: no I/O).

``year(quick)`` gives about 100 daily entries shaped like today's ``compilers.yaml`` (21 ungated, 78
gated on 64 repositories through 78 URLs, one URL shared by two entries, branches with ``/``), the
commits on every target (busy upstreams, forks that sleep for months and wake, quiet repositories),
every night's builds as ``post-run.sh`` writes them (a gated build runs only when a target had a
commit in the 7 days before midnight, or when its gate is blind), and the problems the issue lists,
each with the day it starts and the rule that should report it:

- ``clang_llvmflang`` (ungated) fails 60 nights in a row;
- ``clang_ir``'s target ``llvm/clangir`` is archived on 21 February, and nothing is built after that;
- ``clang_hana``, a gated fork, fails 30 nights while its branch keeps moving;
- ``tinycc``'s workflow stops running for 20 days;
- ``hylo-lang/hyloc`` moves to ``hylo-lang/hylo`` (``compilers.yaml`` is fixed 20 days later);

and, which must never be reported: forks idle for months that wake up and build fine, single flaky
nights on ungated builds, and days when GitHub cannot be reached at all. ``quick`` is the same story
in 26 days and 12 entries, for `make test`.

Beside the watch, the two comparators need no service: ``naive`` (the rule issue #81 rejects, "no
good build in 7 days", each entry announced once when it goes stale and resolved quietly when it
builds) and ``nothing`` (today: no report at all).
"""

import bisect
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

YEAR = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
RUN_HOUR = 6  # watch_builds runs daily at 06:00 UTC; the builds start at 00:00
GATE_DAYS = 7
STALE_DAYS, FAILING_DAYS, SILENT_DAYS = 7, 3, 2
GOOD = ("OK", "SKIPPED")
WORKFLOWS = "compiler-explorer/compiler-workflows"


@dataclass(frozen=True)
class Entry:
    name: str
    image: str
    repos: tuple[str, ...] = ()  # GitHub URLs: https://github.com/<owner>/<repo>[/tree/<branch>]


@dataclass(frozen=True)
class Injected:
    """A problem the year contains: the entry, the rule that should report it, from which day, until when."""

    compiler: str
    what: str
    rule: str  # "failing", "not-running", "stale" or "gate"
    start: int  # the day (index) the problem begins: its first bad night, or the day GitHub changed
    threshold: float  # the rule's N, in days (0 for a broken gate: seen at the next run)
    end: int | None = None  # the day it is over (a good build, compilers.yaml fixed); None: the year's end

    @property
    def due(self) -> float:
        """The target: reported within N + 1 days of its start."""
        return self.threshold + 1


@dataclass(frozen=True)
class Event:
    """Something that happens in the world at ``when``: a commit, a build, GitHub changing, the yaml edited."""

    when: datetime
    kind: str  # "commit", "build", "archive", "move", "yaml"
    args: tuple[Any, ...] = ()


@dataclass
class Year:
    days: int
    entries: list[Entry]
    yaml: str  # compilers.yaml on day 0
    repos: dict[str, str]  # every repository on day 0 -> its default branch
    branches: list[tuple[str, str]]  # (repository, branch) that exist on day 0
    events: list[Event]  # in time order
    injected: list[Injected]
    github_down: set[int]  # days GitHub cannot be reached at all during the run
    run_twice: set[int]  # days the watch is run a second time (a new event over the same data)
    quiet_entries: set[str] = field(default_factory=set)  # entries with no injected problem

    def run_time(self, day: int) -> datetime:
        return YEAR + day * DAY + timedelta(hours=RUN_HOUR)

    def builds(self) -> list[dict[str, Any]]:
        return [e.args[0] for e in self.events if e.kind == "build"]

    def injected_for(self, compiler: str) -> list[Injected]:
        return [p for p in self.injected if p.compiler == compiler]


# ---- the entries ----------------------------------------------------------------------------------

UNGATED = [
    "clang",
    "clang_assertions",
    "clang_llvmflang",
    "gcc",
    "llvm",
    "go",
    "tinycc",
    "gcc_gccrs",
    "clang_cppx",
    "rustc_nightly",
    "zig",
    "swift",
    "nim",
    "dmd",
    "ldc",
    "gdc",
    "cc65",
    "sdcc",
    "chibicc",
    "cproc",
    "movfuscator",
]
QUICK_UNGATED = ["gcc", "clang_llvmflang", "tinycc"]


@dataclass(frozen=True)
class _Repo:
    name: str
    profile: str  # "busy" (most days), "fork" (sleeps for months, then wakes), "quiet" (now and then)
    branch: str = "main"


def _url(repo: str, branch: str | None = None) -> str:
    return f"https://github.com/{repo}" + (f"/tree/{branch}" if branch else "")


def _entries(quick: bool) -> tuple[list[Entry], list[_Repo], list[str]]:
    """Entries, the repositories they watch, and the idle forks that wake during the year."""
    ungated = [
        Entry(name, "misc" if name == "tinycc" else name.split("_")[0])
        for name in (QUICK_UNGATED if quick else UNGATED)
    ]
    special = [
        _Repo("llvm/clangir", "busy"),
        _Repo("hanickadot/llvm-project", "busy", "compiler-explorer/hana-clang"),
        _Repo("hylo-lang/hyloc", "busy"),
        _Repo("KhronosGroup/SPIRV-Tools", "busy"),
    ]
    gated = [
        Entry("clang_ir", "clang", (_url("llvm/clangir", "main"),)),
        Entry("clang_hana", "clang", (_url("hanickadot/llvm-project", "compiler-explorer/hana-clang"),)),
        Entry("hylo", "hylo", (_url("hylo-lang/hyloc"),)),
        Entry("SPIRV-Tools", "spirv-tools", (_url("KhronosGroup/SPIRV-Tools", "main"),)),
        Entry("llvm_spirv", "clang", (_url("KhronosGroup/SPIRV-Tools", "main"),)),  # one URL, two entries
    ]
    busy, forks, quiet = (1, 2, 1) if quick else (22, 28, 10)
    repos = list(special)
    repos += [_Repo(f"upstream{i:02d}/compiler{i:02d}", "busy") for i in range(busy)]
    repos += [_Repo(f"fork{i:02d}/llvm-project", "fork", f"feature/p{2900 + i}") for i in range(forks)]
    repos += [_Repo(f"quiet{i:02d}/lang{i:02d}", "quiet", "master") for i in range(quiet)]
    for repo in repos[len(special) :]:
        gated.append(
            Entry(
                repo.name.split("/")[0].replace("upstream", "up").replace("quiet", "q"),
                "misc",
                (_url(repo.name, repo.branch),),
            )
        )
    # More entries than repositories: other branches of busy upstreams, and a two-target entry.
    extra = 0 if quick else 12
    upstreams = [r for r in repos if r.name.startswith("upstream")]
    for i in range(extra):
        repo = upstreams[i % len(upstreams)]
        branch = f"release/{20 + i}.x"
        repos.append(_Repo(repo.name, "busy", branch))
        gated.append(Entry(f"{repo.name.split('/')[0]}_r{20 + i}", "misc", (_url(repo.name, branch),)))
    if not quick:
        two = (_url(upstreams[0].name, upstreams[0].branch), _url("quiet00/lang00", "master"))
        gated.append(Entry("madpascal", "mads", two))
    waking = [e.name for e in gated if e.name.startswith("fork")][: 2 if quick else 6]
    return ungated + gated, repos, waking


def compilers_yaml(entries: list[Entry]) -> str:
    """``compilers.yaml`` as compiler-workflows writes it: one flow mapping per daily entry."""
    lines = ["compilers:", "  daily:"]
    for entry in entries:
        repos = f", repos: [{', '.join(f'"{url}"' for url in entry.repos)}]" if entry.repos else ""
        lines.append(f"    - {{ image: {entry.image}, name: {entry.name}{repos} }}")
    lines += ["  ad_hoc:", "    - { image: gcc, command: build.sh }", ""]
    return "\n".join(lines)


# ---- the year -------------------------------------------------------------------------------------

FULL_PLAN = {
    "days": 365,
    "llvmflang": (100, 60),  # (first failed night, nights)
    "archive": 51,  # 21 February
    "fork_break": (200, 30),
    "stops": (280, 20),
    "move": (150, 20),  # (moved, days until compilers.yaml is fixed)
    "down": {60, 61, 130, 215, 216, 300},
    "twice": {10, 120, 202},
    "wake": (40, 320),  # forks wake between these days
}
QUICK_PLAN = {
    "days": 26,
    "llvmflang": (3, 6),
    "archive": 5,
    "fork_break": (8, 10),
    "stops": (20, 4),
    "move": (11, 6),
    "down": {7},
    "twice": {4},
    "wake": (12, 20),
}


def year(quick: bool = False, seed: int = 2026) -> Year:
    plan = QUICK_PLAN if quick else FULL_PLAN
    rng = random.Random(seed)  # noqa: S311 (a repeatable scenario, not a secret)
    entries, repos, waking = _entries(quick)
    days = plan["days"]
    start = YEAR - 30 * DAY
    commits: dict[tuple[str, str], list[datetime]] = {}
    wake_day = {name: rng.randrange(*plan["wake"]) for name in waking}
    waking_repos = {_target(e.repos[0]): wake_day[e.name] for e in entries if e.name in wake_day}

    for repo in repos:
        key = (repo.name, repo.branch)
        times = commits.setdefault(key, [])
        for day in range(-30, days):
            when = YEAR + day * DAY + timedelta(hours=rng.randrange(8, 22), minutes=rng.randrange(60))
            if repo.name == "llvm/clangir" and day >= plan["archive"]:
                continue  # archived: no commit ever again
            if _commits_on(repo, key, day, rng, waking_repos):
                times.append(when)
        # A sleeping fork's or a quiet repository's last commits were long before the year (its last build too).
        if repo.profile in ("fork", "quiet"):
            times.insert(0, start - DAY * rng.randrange(60, 200))
        times.sort()

    events: list[Event] = [Event(t, "commit", (repo, branch)) for (repo, branch), ts in commits.items() for t in ts]
    events.append(Event(YEAR + plan["archive"] * DAY + timedelta(hours=15), "archive", ("llvm/clangir",)))
    moved_on, fixed_after = plan["move"]
    events.append(Event(YEAR + moved_on * DAY + timedelta(hours=12), "move", ("hylo-lang/hyloc", "hylo-lang/hylo")))
    fixed = [Entry(e.name, e.image, (_url("hylo-lang/hylo"),)) if e.name == "hylo" else e for e in entries]
    events.append(Event(YEAR + (moved_on + fixed_after) * DAY + timedelta(hours=16), "yaml", (compilers_yaml(fixed),)))

    flaky = _flaky_nights(entries, days, rng, plan)
    run_ids = iter(range(16_000_000_000, 99_000_000_000, 7919))
    for entry in entries:
        last_built: datetime | None = None
        for night_index in range(-30, days):
            night = YEAR + night_index * DAY
            status = _night(entry, night_index, night, commits, plan, flaky, last_built)
            if status is None:
                continue
            finished = night + timedelta(minutes=rng.randrange(20, 150))
            item = {
                "compiler": entry.name,
                "timestamp": finished.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                "duration": rng.randrange(60, 5400),
                "github_run_id": str(next(run_ids)),
                "status": status,
                "path": f"s3://compiler-explorer/opt/{entry.name}-trunk-{night:%Y%m%d}.tar.xz"
                if status == "OK"
                else "",
            }
            events.append(Event(finished, "build", (item,)))
            if status in GOOD:
                last_built = night
        first = min((t for url in entry.repos for t in commits.get(_target(url), [])), default=start)
        if first < start:
            # The last good build after a commit long before the year: an idle target's entry has a history.
            finished = first + 7 * DAY + timedelta(hours=2)
            item = {
                "compiler": entry.name,
                "timestamp": finished.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
                "status": "OK",
                "path": "",
            }
            events.append(Event(finished, "build", (item,)))
    events.sort(key=lambda e: (e.when, e.kind))

    llvmflang, nights = plan["llvmflang"]
    broke, broken_nights = plan["fork_break"]
    stopped, stopped_days = plan["stops"]
    injected = [
        Injected(
            "clang_llvmflang", f"fails {nights} nights in a row", "failing", llvmflang, FAILING_DAYS, llvmflang + nights
        ),
        Injected("clang_ir", "its target llvm/clangir is archived", "gate", plan["archive"], 0),
        Injected(
            "clang_hana", "a gated fork fails while its branch moves", "stale", broke, STALE_DAYS, broke + broken_nights
        ),
        Injected("tinycc", "its workflow stops running", "not-running", stopped, SILENT_DAYS, stopped + stopped_days),
        Injected("hylo", "hylo-lang/hyloc moved to hylo-lang/hylo", "gate", moved_on, 0, moved_on + fixed_after + 1),
    ]
    all_repos = {r.name: "main" for r in repos}
    return Year(
        days=days,
        entries=entries,
        yaml=compilers_yaml(entries),
        repos=all_repos,
        branches=sorted({(r.name, r.branch) for r in repos} | {(name, "main") for name in all_repos}),
        events=events,
        injected=injected,
        github_down=set(plan["down"]),
        run_twice=set(plan["twice"]),
        quiet_entries={e.name for e in entries} - {p.compiler for p in injected},
    )


def _target(url: str) -> tuple[str, str]:
    owner, _, rest = url.removeprefix("https://github.com/").partition("/")
    repo, _, tree = rest.partition("/")
    return f"{owner}/{repo}", tree.removeprefix("tree/") or "main"


def _commits_on(
    repo: _Repo, key: tuple[str, str], day: int, rng: random.Random, waking: dict[tuple[str, str], int]
) -> bool:
    roll = rng.random()
    if repo.profile == "busy":
        return roll < 0.8
    if repo.profile == "quiet":
        return roll < 0.04
    wakes = waking.get(key)
    return wakes is not None and wakes <= day < wakes + 12 and roll < 0.7  # a fork wakes, once, for a while


def _flaky_nights(entries: list[Entry], days: int, rng: random.Random, plan: dict[str, Any]) -> set[tuple[str, int]]:
    """Single failed nights on ungated builds, never two within 5 nights, never inside an injected problem."""
    found: set[tuple[str, int]] = set()
    for entry in entries:
        if entry.repos or entry.name in ("clang_llvmflang", "tinycc"):
            continue
        night = rng.randrange(3, 12)
        while night < days:
            found.add((entry.name, night))
            night += rng.randrange(6, 40)
    return found


def _night(
    entry: Entry,
    index: int,
    night: datetime,
    commits: dict[tuple[str, str], list[datetime]],
    plan: dict[str, Any],
    flaky: set[tuple[str, int]],
    last_built: datetime | None,
) -> str | None:
    """What the night's run of ``entry`` writes: a status, or None when nothing reaches the table."""
    if not entry.repos:
        stopped, stopped_days = plan["stops"]
        if entry.name == "tinycc" and stopped <= index < stopped + stopped_days:
            return None
        first, nights = plan["llvmflang"]
        if entry.name == "clang_llvmflang" and first <= index < first + nights:
            return ""
        return "" if (entry.name, index) in flaky else "OK"
    # The gate: a commit on any target in the 7 days before midnight. A moved repository (301) reads
    # as activity: hylo's gate keeps building, as production's does.
    recent = []
    for url in entry.repos:
        times = commits.get(_target(url), [])  # sorted
        recent += times[bisect.bisect_left(times, night - GATE_DAYS * DAY) : bisect.bisect_left(times, night)]
    if entry.name == "hylo":
        recent = recent or [night - DAY]
    if not recent:
        return None
    broke, broken_nights = plan["fork_break"]
    if entry.name == "clang_hana" and broke <= index < broke + broken_nights:
        return ""
    changed = last_built is None or max(recent) >= last_built
    return "OK" if changed else "SKIPPED"


# ---- the comparators ------------------------------------------------------------------------------


@dataclass
class Report:
    """What one approach said over the year: each notifying post (its day, the entries it names)."""

    name: str
    notifying: list[tuple[int, list[str]]] = field(default_factory=list)
    quiet_posts: int = 0
    edits: int = 0
    notes: dict[str, Any] = field(default_factory=dict)


def nothing(scenario: Year) -> Report:
    """Today: nobody is told anything."""
    return Report("nothing")


def naive(scenario: Year, days: int = STALE_DAYS) -> Report:
    """ "No good build in N days": entries announced together when they go stale, resolved (quietly) when built."""
    report = Report(f"no good build in {days} days")
    builds = sorted(scenario.builds(), key=lambda b: b["timestamp"])
    names = [e.name for e in scenario.entries]
    last_good: dict[str, datetime] = {}
    stale: set[str] = set()
    index = 0
    for day in range(scenario.days):
        now = scenario.run_time(day)
        while index < len(builds) and _when(builds[index]) <= now:
            build = builds[index]
            if build["status"] in GOOD:
                last_good[build["compiler"]] = _when(build)
            index += 1
        now_stale = {n for n in names if n not in last_good or now - last_good[n] > days * DAY}
        if now_stale - stale:
            report.notifying.append((day, sorted(now_stale - stale)))
        report.quiet_posts += bool(stale - now_stale)
        stale = now_stale
    return report


def _when(build: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(build["timestamp"])


def score(scenario: Year, report: Report) -> dict[str, Any]:
    """Days from each injected problem's start to its notifying message, false alarms, and the posts."""
    problems = []
    for problem in scenario.injected:
        end = scenario.days if problem.end is None else problem.end
        days = [d for d, names in report.notifying if problem.compiler in names and problem.start <= d <= end]
        reported = days[0] - problem.start if days else None
        problems.append(
            {
                "compiler": problem.compiler,
                "what": problem.what,
                "rule": problem.rule,
                "start_day": problem.start,
                "due_within_days": problem.due,
                "days_to_report": reported,
                "notifying_posts": len(days),
                "met": reported is not None and reported <= problem.due and len(days) == 1,
            }
        )
    false = [(day, name) for day, names in report.notifying for name in names if name in scenario.quiet_entries]
    return {
        "approach": report.name,
        "problems": problems,
        "reported": sum(p["days_to_report"] is not None for p in problems),
        "false_alarms": len(false),
        "false_alarm_entries": sorted({name for _, name in false}),
        "notifying_posts": len(report.notifying),
        "quiet_posts": report.quiet_posts,
        "edits": report.edits,
        **report.notes,
    }


def runs(scenario: Year) -> Iterator[tuple[int, datetime, list[Event]]]:
    """Each day's run: its index, its time, and the events (in time order) that happened since the last."""
    pending = iter(scenario.events)
    waiting: Event | None = next(pending, None)
    for day in range(scenario.days):
        now = scenario.run_time(day)
        due: list[Event] = []
        while waiting is not None and waiting.when <= now:
            due.append(waiting)
            waiting = next(pending, None)
        yield day, now, due
