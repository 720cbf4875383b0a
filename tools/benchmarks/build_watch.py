"""Row 7: the build watch over a year (``build_year``), through the real handler, beside "nothing" and
the naive "no good build in 7 days" rule.

``app.watch_builds`` is invoked as Lambda invokes a scheduled function, once a simulated day at 06:00
UTC (the event's ``time`` is the run's clock), against the benchmark's moto server, the GitHub fake
and the Discord fake. Before each run the world catches up to the run's time: the commits pushed, the
builds written to the table (uncounted set-up requests), the repository archived or moved,
``compilers.yaml`` edited. On GitHub's down days every connection is closed unanswered; a failed
invocation is retried twice with the same event, as Lambda retries an asynchronous one. On some days
the watch runs a second time (a new event over the same data), which must post nothing.

What the channel shows is read back from the Discord fake: each notifying (not quiet) post, on the
day it was made, with the entries it names; quiet posts; edits. ``build_year.score`` turns that into
the issue's figures, the same way for the two comparators.
"""

import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools.benchmarks import aws_setup, build_year
from tools.benchmarks.build_year import Report, Year
from tools.devkit.discord.fake import DiscordFake, Message
from tools.devkit.github_fake import GitHubFake
from tools.devkit.lambda_events import LambdaContext, scheduled_event
from tools.devkit.names import WORKFLOWS_REPOSITORY
from tools.local_stack import resources, seed

FUNCTION = "compiler-explorer-stats-prod-watch_builds"
BUILD_TABLE = "compiler-builds-watch-bench"
STATE_TABLE = "compiler-explorer-alerts-watch-bench"
TOKEN = "bench-github-token"  # noqa: S105 (the fake's own)
MEMORY_MB = 256
WARM_CALLS = 2
LAMBDA_ATTEMPTS = 3  # the first and two retries of an asynchronous invocation
TIMEOUT_SECONDS = 120


def build_watch_row(emulator: Any, quick: bool, cold_runs: int = 1, use_cgroup: bool = True) -> dict[str, Any]:
    import app

    scenario = build_year.year(quick)
    dynamodb = aws_setup.setup_client("dynamodb")
    resources.create_build_table(dynamodb, BUILD_TABLE)
    resources.create_alert_state_table(dynamodb, STATE_TABLE)
    with GitHubFake(token=TOKEN) as github, DiscordFake() as discord, _environment(github.url, discord.url):
        harness = _Replay(app.watch_builds, scenario, emulator, github, discord)
        started = time.perf_counter()
        harness.replay(dynamodb)
        seconds = time.perf_counter() - started
        cold = cold_and_warm(scenario, emulator, github, cold_runs, use_cgroup)
    watch = score_watch(scenario, harness)
    return {
        "quick": quick,
        "seconds": round(seconds, 1),
        "github_budget": github_budget(scenario),
        "scenario": {
            "days": scenario.days,
            "entries": len(scenario.entries),
            "gated": sum(bool(e.repos) for e in scenario.entries),
            "repositories": len(scenario.repos),
            "builds": len(scenario.builds()),
            "commits": sum(e.kind == "commit" for e in scenario.events),
            "injected": [p.compiler for p in scenario.injected],
            "github_down_days": sorted(scenario.github_down),
            "second_runs": sorted(scenario.run_twice),
        },
        "runs": harness.summary(),
        "coldstart": cold,
        "watch": watch,
        "naive": build_year.score(scenario, build_year.naive(scenario)),
        "nothing": build_year.score(scenario, build_year.nothing(scenario)),
    }


def cold_and_warm(scenario: Year, emulator: Any, github: GitHubFake, runs: int, use_cgroup: bool) -> dict[str, Any]:
    """The watch over the year's last day in fresh processes, as Lambda runs it at 256 MB: init at full CPU,
    then a cold invocation and two warm ones under the CPU share (``tools.benchmarks.coldstart``'s child)."""
    from tools.benchmarks import coldstart, throttle

    now = scenario.run_time(scenario.days - 1).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = {**os.environ, "_HANDLER": "app.watch_builds"}
    reports = []
    with (
        throttle.open_quotas([MEMORY_MB] if use_cgroup else []) as quotas,
        tempfile.TemporaryDirectory(prefix="bench-watch-") as tmp,
    ):
        workdir = Path(tmp)
        for run in range(runs):
            events = [scheduled_event(event_id=f"cold-{run}-{n}", time=now) for n in range(1 + WARM_CALLS)]
            event_file = workdir / "events.json"
            event_file.write_text(json.dumps(events))
            github.reset_counts()
            before = emulator.counts()
            quota = quotas.by_memory[MEMORY_MB] if quotas else None
            report = coldstart._run("project:watch", event_file, env, workdir, quota, WARM_CALLS, MEMORY_MB)
            report["github_requests"] = github.request_count()
            report["dynamodb_requests"] = sum(
                n for op, n in (emulator.counts() - before).items() if op.startswith("dynamodb:")
            )
            reports.append(report)
        mechanism = quotas.mechanism if quotas else None
    cold = [r["total_ms"] for r in reports]
    warm = [ms for r in reports for ms in r["warm_ms"]]
    # The model stretches unthrottled CPU time by the share: only for runs made without a quota.
    modelled_cold = [
        r["init_ms"] + coldstart.modelled_ms(r["first_call_ms"], r["first_call_cpu_ms"], MEMORY_MB) for r in reports
    ]
    modelled_warm = [
        coldstart.modelled_ms(ms, cpu, MEMORY_MB)
        for r in reports
        for ms, cpu in zip(r["warm_ms"], r["warm_cpu_ms"], strict=True)
    ]
    if mechanism:
        modelled_cold = modelled_warm = []
    return {
        "memory_mb": MEMORY_MB,
        "throttled_with": mechanism,
        "processes": runs,
        "cold_ms": round(statistics.median(cold), 1),
        "warm_ms": round(statistics.median(warm), 1) if warm else None,
        "init_ms": round(statistics.median(r["init_ms"] for r in reports), 1),
        "modelled_cold_ms": round(statistics.median(modelled_cold), 1) if modelled_cold else None,
        "modelled_warm_ms": round(statistics.median(modelled_warm), 1) if modelled_warm else None,
        "modules_after_import": reports[0]["modules_after_import"],
        "modules_after_call": reports[0]["modules_after_call"],
        "github_requests_per_process": [r["github_requests"] for r in reports],
        "dynamodb_requests_per_process": [r["dynamodb_requests"] for r in reports],
        "peak_rss_mb": round(max(r["peak_rss_kb"] for r in reports) / 1024, 1),
    }


def github_budget(scenario: Year) -> int:
    """The issue's requests per run: compilers.yaml, one per distinct repository, one commits request per
    distinct (repository, branch), one rule-1 look-up per (entry, target); redirects and retries included."""
    targets = [build_year._target(url) for e in scenario.entries for url in e.repos]
    return 1 + len({repo for repo, _ in targets}) + len(set(targets)) + len(targets)


def score_watch(scenario: Year, harness: "_Replay") -> dict[str, Any]:
    channel = list(harness.discord.messages.values())
    report = Report(
        "build watch",
        notifying=harness.notifying,
        quiet_posts=sum(m.quiet for m in channel),
        edits=sum(len(m.versions) for m in channel),
        notes={"second_run_posts": harness.second_run_posts, "retry_posts": harness.retry_posts},
    )
    return build_year.score(scenario, report)


@contextmanager
def _environment(github_url: str, webhook_url: str) -> Iterator[None]:
    settings = {
        "GITHUB_API_URL": github_url,
        "GITHUB_TOKEN": TOKEN,
        "WEBHOOK_URL": webhook_url,
        "COMPILER_BUILD_TABLE": BUILD_TABLE,
        "ALERT_STATE_TABLE": STATE_TABLE,
        "BUILD_WATCH_REPOSITORY": WORKFLOWS_REPOSITORY,
        "BUILD_WATCH_PATH": "compilers.yaml",
        "BUILD_WATCH_REF": "main",
        "BUILD_WATCH_STALE_DAYS": str(build_year.STALE_DAYS),
        "BUILD_WATCH_FAILING_DAYS": str(build_year.FAILING_DAYS),
        "BUILD_WATCH_SILENT_DAYS": str(build_year.SILENT_DAYS),
    }
    with aws_setup.app_settings(settings, quiet_below=logging.CRITICAL):  # down days included
        yield


class _Replay:
    def __init__(self, handler: Any, scenario: Year, emulator: Any, github: GitHubFake, discord: DiscordFake) -> None:
        self.handler = handler
        self.scenario = scenario
        self.emulator = emulator
        self.github = github
        self.discord = discord
        self.names = _names_pattern([e.name for e in scenario.entries])
        self.notifying: list[tuple[int, list[str]]] = []
        self.runs: list[dict[str, Any]] = []
        self.failed: Counter[str] = Counter()
        self.second_run_posts = 0
        self.retry_posts = 0
        self._seen: set[str] = set()
        self._stored: dict[str, list[tuple[str, str]]] = {}

    def replay(self, dynamodb: Any) -> None:
        github = self.github
        for repo, branch in self.scenario.repos.items():
            github.add_repo(repo, default_branch=branch)
        for repo, branch in self.scenario.branches:
            github.add_branch(repo, branch)
        github.put_file(WORKFLOWS_REPOSITORY, "compilers.yaml", "main", self.scenario.yaml)
        for day, now, events in build_year.runs(self.scenario):
            if day and day % 30 == 0:
                print(f"  build watch: day {day} of {self.scenario.days}", file=sys.stderr, flush=True)
            builds = self._catch_up(events)
            if builds:
                seed.write(dynamodb, BUILD_TABLE, builds)
                self._prune(dynamodb, builds)
            github.now = lambda now=now: now  # type: ignore[misc]
            github.unreachable(day in self.scenario.github_down)
            stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            for attempt in range(1, LAMBDA_ATTEMPTS + 1):
                ok = self._invoke(day, scheduled_event(event_id=f"day-{day}", time=stamp), attempt)
                if ok:
                    break
            github.unreachable(False)
            self._read_channel(day)
            if day in self.scenario.run_twice:
                before = len(self.discord.posts)
                self._invoke(day, scheduled_event(event_id=f"day-{day}-again", time=stamp), 1, record=False)
                self.second_run_posts += len(self.discord.posts) - before
                self._read_channel(day)

    def _prune(self, dynamodb: Any, builds: list[dict[str, Any]]) -> None:
        """Delete each compiler's builds older than its newest good one: the watch reads newest first and stops
        at a good build, so it never sees them, but moto's Query reads the whole table on every call, which
        would make a year's run quadratic (real DynamoDB reads only the items it returns)."""
        for build in builds:
            self._stored.setdefault(build["compiler"], []).append((build["timestamp"], build["status"]))
        deletes = []
        for compiler in {b["compiler"] for b in builds}:
            stored = sorted(self._stored[compiler])
            good = [i for i, (_, status) in enumerate(stored) if status in build_year.GOOD]
            if good and good[-1] > 0:
                gone, self._stored[compiler] = stored[: good[-1]], stored[good[-1] :]
                keys = [{"compiler": {"S": compiler}, "timestamp": {"S": stamp}} for stamp, _ in gone]
                deletes += [{"DeleteRequest": {"Key": key}} for key in keys]
        for start in range(0, len(deletes), seed.BATCH_WRITE_LIMIT):
            dynamodb.batch_write_item(RequestItems={BUILD_TABLE: deletes[start : start + seed.BATCH_WRITE_LIMIT]})

    def _catch_up(self, events: list[build_year.Event]) -> list[dict[str, Any]]:
        builds = []
        for event in events:
            if event.kind == "commit":
                repo, branch = event.args
                self.github.add_commit(repo, branch, event.when)
            elif event.kind == "build":
                builds.append(event.args[0])
            elif event.kind == "archive":
                self.github.archive(event.args[0])
            elif event.kind == "move":
                self.github.move(*event.args)
            elif event.kind == "yaml":
                self.github.put_file(WORKFLOWS_REPOSITORY, "compilers.yaml", "main", event.args[0])
        return builds

    def _invoke(self, day: int, event: dict[str, Any], attempt: int, *, record: bool = True) -> bool:
        self.github.reset_counts()
        before = self.emulator.counts()
        posts = len(self.discord.posts)
        context = LambdaContext(function_name=FUNCTION, memory_limit_in_mb=256, timeout_seconds=TIMEOUT_SECONDS)
        started = time.perf_counter()
        problem = None
        try:
            self.handler(event, context)
        except Exception as error:  # noqa: BLE001 (any exception fails a Lambda invocation)
            problem = type(error).__name__
        seconds = time.perf_counter() - started
        aws = {op: n for op, n in (self.emulator.counts() - before).items() if op.startswith("dynamodb:")}
        if attempt > 1:
            self.retry_posts += len(self.discord.posts) - posts
        if problem:
            self.failed[problem] += 1
        if record:
            self.runs.append(
                {
                    "day": day,
                    "attempt": attempt,
                    "down": day in self.scenario.github_down,
                    "failed": problem,
                    "seconds": seconds,
                    "github_requests": self.github.request_count(),
                    "dynamodb": aws,
                }
            )
        return problem is None

    def _read_channel(self, day: int) -> None:
        for message in list(self.discord.messages.values()):
            if message.id in self._seen:
                continue
            self._seen.add(message.id)
            if not message.quiet:
                self.notifying.append((day, sorted(set(self.names.findall(_text(message))))))

    def summary(self) -> dict[str, Any]:
        up = [r for r in self.runs if not r["down"]]
        dynamodb = [sum(r["dynamodb"].values()) for r in up]
        operations: Counter[str] = Counter()
        for run in up:
            operations.update(run["dynamodb"])
        seconds = sorted(r["seconds"] for r in up)
        return {
            "invocations": len(self.runs),
            "failed_invocations": dict(self.failed),
            "failed_on_up_days": sum(bool(r["failed"]) for r in up),
            "github_requests_per_run": _spread([r["github_requests"] for r in up]),
            "dynamodb_requests_per_run": _spread(dynamodb),
            "dynamodb_by_operation_per_run": {op: round(n / len(up), 1) for op, n in sorted(operations.items())},
            "run_ms": {
                "median": round(statistics.median(seconds) * 1000, 1),
                "p95": round(seconds[int(0.95 * (len(seconds) - 1))] * 1000, 1),
                "max": round(seconds[-1] * 1000, 1),
            },
            "down_day_ms_max": round(max((r["seconds"] for r in self.runs if r["down"]), default=0) * 1000, 1),
        }


def _spread(values: list[int]) -> dict[str, float]:
    if not values:
        return {"mean": 0, "max": 0}
    return {"mean": round(statistics.mean(values), 1), "max": max(values)}


def _names_pattern(names: list[str]) -> re.Pattern[str]:
    """An entry's name as a whole word: not inside another name, a URL, a branch or a repository."""
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w.+/-])({alternatives})(?![\w.+/-])")


def _text(message: Message) -> str:
    """Everything a reader sees in a message: its text, and each embed's title, description, fields, footer."""
    payload = message.payload
    parts = [str(payload.get("content") or "")]
    for embed in payload.get("embeds") or []:
        parts += [str(embed.get("title") or ""), str(embed.get("description") or "")]
        parts += [f"{f.get('name', '')}\n{f.get('value', '')}" for f in embed.get("fields") or []]
        parts.append(str((embed.get("footer") or {}).get("text") or ""))
    # Discord markdown escapes (``clang\\_ir``) are not part of the name a reader sees.
    return re.sub(r"\\([\\_*~`|>#-])", r"\1", "\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    """Row 7 alone: ``python -m tools.benchmarks.build_watch [--quick] [--output FILE]``, on its own moto server."""
    import argparse

    from tools.benchmarks import report
    from tools.devkit.moto import MotoProcess

    parser = argparse.ArgumentParser(prog="python -m tools.benchmarks.build_watch", description=main.__doc__)
    parser.add_argument("--quick", action="store_true", help="26 days of 12 entries (the smoke test's size)")
    parser.add_argument("--cold-runs", type=int, default=3, help="fresh processes for the cold and warm figures")
    parser.add_argument("--output", type=Path, default=Path("build/bench-watch.json"))
    args = parser.parse_args(argv)
    with MotoProcess(count=True) as emulator:
        aws_setup.set_environment(emulator.endpoint)
        row = build_watch_row(emulator, quick=args.quick, cold_runs=args.cold_runs)
    found = report._watch_targets(row)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({**row, "targets": report.as_json(found)}, indent=2) + "\n")
    print("\n".join("| " + " | ".join(cells) + " |" for cells in report._watch_rows(row)))
    print("\nTargets:\n" + report.target_lines(found) + f"\n\nwritten to {args.output}")
    return 0 if all(t.met for t in found) else 1


if __name__ == "__main__":
    sys.exit(main())
