"""The build watch: once a day, every daily build of compilers.yaml judged by the rules, and what
changed posted to Discord once (``build_rules``, ``build_problems``, ``build_messages``).

The loop: claim the run by its scheduled event's ``id`` (a Lambda retry of a finished run changes
nothing), lock the watch's state in the alert state table (under keys of its own), finish any
Discord work an earlier run left, gather the facts (compilers.yaml, each entry's builds, GitHub),
apply the verdicts, save the state with the work it owes, do the work (acknowledging each piece),
save, release.

Failures: the state table unreadable raises before anything is posted (Lambda retries); a run that
can check nothing (no token, no compilers.yaml, no build table) says so once per outage, quietly,
and raises (the function's Errors metric shows every such run; the claim is given back, so Lambda's
retries check again). A read that fails for one entry or one target makes only what depends on it
unknown (``build_rules``).
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib import build_messages, build_problems, builds, discord, github, settings, watchlist
from chalicelib.build_problems import Announce, Effect, Outage, OutageOver, Resolve, ShowOpen, WatchState
from chalicelib.build_rules import (
    UNKNOWN_WINDOW,
    BranchFact,
    BranchState,
    Facts,
    RepoFact,
    RepoState,
    Thresholds,
    Verdict,
    WindowFact,
    judge,
    window_needed,
)
from chalicelib.builds import History
from chalicelib.factory import Factory
from chalicelib.state_store import StateStore
from chalicelib.watchlist import Entry, Target
from chalicelib.webhook import MessageGone, Webhook

logger = logging.getLogger(__name__)

STATE_KEY = "build-watch#state"
RUN_KEY = "build-watch#run#{id}"  # a delivery claim: delivery#build-watch#run#<event id>
LAMBDA_TIMEOUT_SECONDS = 120.0  # .chalice/config.json, for a context that cannot say
LOCK_MARGIN_SECONDS = 1.0
# GitHub may use the run's time but this much: Discord's one deadline (40 s) and the saves follow it.
AFTER_GITHUB_SECONDS = 45.0
GITHUB_WORKERS = 4  # "one at a time or a few at once", as GitHub's guidance asks
BUILD_TABLE_GIVE_UP = 3  # failed queries in a row, none answered yet: the table cannot be read


class WatchUnavailable(RuntimeError):
    """The run could check nothing; raised so that the function's Errors metric shows it."""


class _CannotCheck(Exception):
    """Nothing of this run can be checked: why, in words for the channel."""


@dataclass
class Run:
    """What one run works with: ``of`` builds it from the engine's factory."""

    store: StateStore
    webhook: Webhook
    dynamodb: Callable[[], Any]  # the build table's client
    github: Callable[[float], github.GitHub]  # a client whose GitHub time ends at the given deadline
    mention_role: str | None = None
    remaining_seconds: float = LAMBDA_TIMEOUT_SECONDS
    clock: Callable[[], float] = time.monotonic


def watch(event: Mapping[str, Any], run: Run) -> str:
    """One scheduled run; what it did, in a word."""
    run_id = str(event.get("id") or "") or f"unnamed-{uuid.uuid4()}"
    now = _event_time(event) or datetime.now(UTC)
    owner = f"{run_id}/{uuid.uuid4().hex}"
    lock_for = run.remaining_seconds + LOCK_MARGIN_SECONDS
    claim = run.store.claim_delivery(RUN_KEY.format(id=run_id), owner, lock_for)
    if claim is None:
        logger.info("build watch run %s was done already: nothing to do", run_id)
        return "done already"
    try:
        outcome = _locked(run, now, owner, lock_for)
    except Exception:
        run.store.abandon_delivery(claim)
        raise
    run.store.finish_delivery(claim)
    return outcome


def _locked(run: Run, now: datetime, owner: str, lock_for: float) -> str:
    store = run.store
    text = store.lock(STATE_KEY, owner, lock_for)
    try:
        state = WatchState.from_json(text)
        if state.owed:
            logger.warning("build watch: finishing the Discord work an earlier run left (%d)", len(state.owed))
            _perform(run, state, list(state.owed), now, owner)
        cannot: str | None = None
        try:
            verdicts = _check(run, state, now)
        except _CannotCheck as error:
            cannot = str(error)
            logger.error("build watch could check nothing: %s", cannot)
            effects = build_problems.outage(state, cannot, now)
        else:
            effects = build_problems.apply(state, verdicts, now)
        # Written before anything is sent: if a post fails, the next run (or Lambda's retry) sends it.
        store.save(STATE_KEY, owner, state.to_json(), release=False, keep=True)
        _perform(run, state, effects, now, owner)
        store.save(STATE_KEY, owner, state.to_json(), release=True, keep=True)
    except Exception:
        store.unlock(STATE_KEY, owner)
        raise
    if cannot is not None:
        raise WatchUnavailable(cannot)
    summary = ", ".join(f"{type(e).__name__}" for e in effects) or "nothing changed"
    logger.info("build watch: %s", summary)
    return summary


# ---- the facts ---------------------------------------------------------------------------------


def _check(run: Run, state: WatchState, now: datetime) -> dict[str, list[Verdict]]:
    """Every entry's verdicts; _CannotCheck if nothing at all can be checked."""
    started = run.clock()
    deadline = started + max(run.remaining_seconds - AFTER_GITHUB_SECONDS, run.remaining_seconds / 2)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        client = run.github(deadline)
    except (settings.ConfigurationError, BotoCoreError, ClientError) as error:
        # The token's SSM parameter is missing or unreadable: its text names the parameter only.
        raise _CannotCheck(f"no GitHub token ({error})") from None
    entries = _entries(client)
    # The budget: compilers.yaml, one look-up a repository, one a (repository, branch), one
    # rule-1 look-up an (entry, target); redirects and retries included.
    targets = [t for e in entries for t in e.targets if t.repo]
    client.max_requests = 1 + len({t.repo for t in targets}) + len({(t.repo, t.branch) for t in targets}) + len(targets)
    histories = _histories(run, entries, deadline)
    seen = build_problems.first_seen(state, [e.name for e in entries], now)
    thresholds = Thresholds(
        stale_days=settings.build_watch_days("BUILD_WATCH_STALE_DAYS"),
        failing_days=settings.build_watch_days("BUILD_WATCH_FAILING_DAYS"),
        silent_days=settings.build_watch_days("BUILD_WATCH_SILENT_DAYS"),
    )
    facts = gather(client, entries, histories, now, thresholds)
    logger.info(
        "build watch: %d entries, %d GitHub requests, %.1f s", len(entries), client.requests_made, run.clock() - started
    )
    return {e.name: judge(e, histories[e.name], facts, now, thresholds, seen.get(e.name)) for e in entries}


def _entries(client: github.GitHub) -> list[Entry]:
    repository, path, ref = settings.build_watch_source()
    client.max_requests = 2  # compilers.yaml, and one retry
    try:
        text = client.file(repository, path, ref)
    except github.NotFound:
        raise _CannotCheck(f"GitHub has no {path} in {repository} at {ref}") from None
    except github.Unavailable as error:
        raise _CannotCheck(f"{path} could not be read from GitHub ({error})") from None
    try:
        return watchlist.parse(text)
    except watchlist.WatchlistError as error:
        raise _CannotCheck(str(error)) from None


def _histories(run: Run, entries: list[Entry], deadline: float) -> dict[str, History | None]:
    """Each entry's builds (None: unknown), one paged Query each; _CannotCheck if the table answers none."""
    try:
        table = settings.build_table()
        dynamodb = run.dynamodb()
    except settings.ConfigurationError as error:
        raise _CannotCheck(str(error)) from None
    found: dict[str, History | None] = {}
    answered, failed_in_a_row = 0, 0
    for entry in entries:
        if run.clock() >= deadline:
            found[entry.name] = None  # out of time: unknown
            continue
        try:
            found[entry.name] = builds.history(dynamodb, table, entry.name)
        except builds.BuildStoreUnavailable as error:
            found[entry.name] = None
            failed_in_a_row += 1
            if not answered and failed_in_a_row >= BUILD_TABLE_GIVE_UP:
                raise _CannotCheck(f"the build table {table} could not be read ({error})") from None
        else:
            answered += 1
            failed_in_a_row = 0
    return found


def gather(
    client: github.GitHub,
    entries: list[Entry],
    histories: Mapping[str, History | None],
    now: datetime,
    thresholds: Thresholds,
) -> Facts:
    """What GitHub says about every target: each repository once, each (repository, branch) once, then
    each rule-1 window the first two could not settle."""
    repos = sorted({t.repo for e in entries for t in e.targets if t.repo})
    with ThreadPoolExecutor(GITHUB_WORKERS, thread_name_prefix="github") as pool:
        repo_facts = _each(pool, repos, lambda repo: _repo_fact(client, repo))
        readable = (RepoState.OK, RepoState.ARCHIVED)
        keys = {
            (t.repo, t.branch) for e in entries for t in e.targets if t.repo and repo_facts[t.repo].state in readable
        }
        branch_keys = sorted(keys, key=lambda k: (k[0], k[1] or ""))
        branch_facts = _each(pool, branch_keys, lambda key: _branch_fact(client, *key))
        asks: dict[tuple[str, str], tuple[Target, datetime, datetime]] = {}
        for entry in entries:
            history = histories.get(entry.name)
            for target in entry.targets:
                fact = branch_facts.get((target.repo or "", target.branch))
                window = window_needed(history, fact, now, thresholds) if history and fact else None
                if window is not None:
                    asks[(entry.name, target.url)] = (target, *window)
        windows = _each(pool, list(asks), lambda key: _window(client, *asks[key]))
    return Facts(repo_facts, branch_facts, windows)


def _each[K, V](pool: ThreadPoolExecutor, keys: Iterable[K], ask: Callable[[K], V]) -> dict[K, V]:
    keys = list(keys)
    return dict(zip(keys, pool.map(ask, keys), strict=True))


def _repo_fact(client: github.GitHub, repo: str) -> RepoFact:
    try:
        found = client.repository(repo)
    except github.NotFound:
        return RepoFact(RepoState.MISSING)
    except github.Moved as moved:
        return RepoFact(RepoState.MOVED, moved.to)
    except github.Unavailable as error:
        logger.warning("GitHub %s: %s", repo, error)
        return RepoFact(RepoState.UNKNOWN)
    return RepoFact(RepoState.ARCHIVED if found.archived else RepoState.OK)


def _branch_fact(client: github.GitHub, repo: str, branch: str | None) -> BranchFact:
    try:
        return BranchFact(BranchState.OK, client.newest_commit(repo, branch))
    except github.NoSuchBranch:
        return BranchFact(BranchState.MISSING)
    except (github.Unavailable, github.NotFound, github.Moved) as error:
        logger.warning("GitHub %s@%s commits: %s", repo, branch or "(default)", error)
        return BranchFact(BranchState.UNKNOWN)


def _window(client: github.GitHub, target: Target, since: datetime, until: datetime) -> WindowFact:
    assert target.repo is not None  # noqa: S101 (gather asks only about repositories)
    try:
        return WindowFact(True, client.newest_commit(target.repo, target.branch, since, until))
    except (github.Unavailable, github.NotFound, github.Moved, github.NoSuchBranch) as error:
        logger.warning("GitHub %s window: %s", target.where, error)
        return UNKNOWN_WINDOW


# ---- Discord -----------------------------------------------------------------------------------


def _perform(run: Run, state: WatchState, effects: list[Effect], now: datetime, owner: str) -> None:
    """Do each effect in order, acknowledging it; every post is saved before the next step can fail."""
    until = run.webhook.deadline()
    for effect in effects:
        posted: str | None = None
        match effect:
            case Announce(problems):
                message = discord.mention(build_messages.announce(problems, now), run.mention_role)
                posted = _id(run.webhook.post(message, until=until))
            case Resolve(closed):
                posted = _id(run.webhook.post(build_messages.resolved(closed, now), until=until))
            case ShowOpen(problems, at):
                message = build_messages.open_list(problems, datetime.fromisoformat(at))
                if state.summary_id:
                    try:
                        run.webhook.edit(state.summary_id, message, until=until)
                        state.acknowledge(effect, state.summary_id)
                        continue
                    except MessageGone:
                        logger.warning("the open-problems message %s was deleted; posting it again", state.summary_id)
                posted = _id(run.webhook.post(discord.quiet(message), until=until))
            case Outage(reason, at):
                message = build_messages.outage(reason, datetime.fromisoformat(at))
                posted = _id(run.webhook.post(message, until=until))
            case OutageOver(reason, since, at, outage_note):
                message = build_messages.outage_over(reason, datetime.fromisoformat(since), datetime.fromisoformat(at))
                posted = None
                if outage_note:
                    try:
                        run.webhook.edit(outage_note, message, until=until)
                        posted = outage_note
                    except MessageGone:
                        logger.info("the outage note %s was deleted; posting that checks run again", outage_note)
                posted = posted or _id(run.webhook.post(discord.quiet(message), until=until))
        state.acknowledge(effect, posted)
        run.store.save(STATE_KEY, owner, state.to_json(), release=False, keep=True)


def _id(answer: dict[str, Any] | None) -> str | None:
    posted = (answer or {}).get("id")
    return str(posted) if posted else None


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    # The scheduled time: a retry, or a replay of past days, judges the day it was meant for.
    value = event.get("time")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def of(engine: Factory, context: Any) -> Run:
    """The run as deployed: the engine's state store, webhook and mention role, the build table of
    the settings, GitHub with the engine's token, the time Lambda has left."""
    store = engine.store()
    if store is None:
        raise settings.ConfigurationError("ALERT_STATE_TABLE is not set: the build watch keeps its problems there")
    try:
        remaining = context.get_remaining_time_in_millis() / 1000
    except (AttributeError, TypeError):
        remaining = LAMBDA_TIMEOUT_SECONDS

    def github_client(deadline: float) -> github.GitHub:
        return github.GitHub(
            settings.github_api_url(),
            engine.github_token(),
            deadline=deadline,
            clock=engine.monotonic,
            wall_clock=engine.wall_clock,
            sleep=engine.sleep,
        )

    return Run(
        store=store,
        webhook=engine.webhook(),
        dynamodb=engine.dynamodb,
        github=github_client,
        mention_role=engine.mention_role(),
        remaining_seconds=max(remaining, 10.0),
        clock=engine.monotonic,
    )
