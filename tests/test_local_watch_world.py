"""`make local`'s build-watch world (tools/local_stack/seed.py): each entry's case is really there, over HTTP.

The compilers.yaml, the repositories in the GitHub fake and the seeded build history together must
exercise every rule of the watch, and the healthy entries and idle forks must give it nothing to say.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import yaml

from tools.devkit.github_fake import GitHubFake
from tools.devkit.names import WORKFLOWS_REPOSITORY
from tools.local_stack import seed, watch

NOW = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
TOKEN = "world-token"


@pytest.fixture(scope="module")
def world() -> Iterator[GitHubFake]:
    with GitHubFake(token=TOKEN) as fake:
        seed.github_world(fake, NOW)
        yield fake


def get(fake: GitHubFake, path: str, **query: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github.raw+json"}
    return requests.get(f"{fake.url}{path}", params=query, headers=headers, allow_redirects=False, timeout=5)


def builds() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in seed.history(NOW) + seed.watch_history(NOW):
        found.setdefault(item["compiler"], []).append(item)
    return {name: sorted(items, key=lambda i: i["timestamp"], reverse=True) for name, items in found.items()}


def last_good(items: list[dict[str, Any]]) -> datetime:
    return datetime.fromisoformat(next(i for i in items if i["status"] in ("OK", "SKIPPED"))["timestamp"])


def target(url: str) -> tuple[str, str | None]:
    owner, _, rest = url.removeprefix("https://github.com/").partition("/")
    repo, _, tree = rest.partition("/")
    return f"{owner}/{repo}", tree.removeprefix("tree/") or None


def test_the_served_compilers_yaml_lists_every_entry_in_its_real_shape(world: GitHubFake) -> None:
    response = get(world, f"/repos/{WORKFLOWS_REPOSITORY}/contents/compilers.yaml", ref="main")
    assert response.status_code == 200
    daily = yaml.safe_load(response.text)["compilers"]["daily"]
    assert [entry["name"] for entry in daily] == [w.name for w in seed.WATCHED]
    assert all({"image", "name"} <= set(entry) for entry in daily)
    assert sum("repos" in entry for entry in daily) >= 10 and sum("repos" not in entry for entry in daily) >= 4
    # Every name but the one removed build (circle) has a history to judge.
    assert set(builds()) - {w.name for w in seed.WATCHED} == {"circle"}


def test_each_broken_gate_answers_as_github_would(world: GitHubFake) -> None:
    assert get(world, "/repos/llvm/clangir").json()["archived"] is True
    moved = get(world, "/repos/hylo-lang/hyloc")
    assert moved.status_code == 301
    assert requests.get(moved.headers["Location"], headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()[
        "full_name"
    ] == ("hylo-lang/hylo")
    assert get(world, "/repos/llvm-lifetime/llvm-project").status_code == 404
    missing = get(world, "/repos/hanickadot/llvm-project/commits", sha="compiler-explorer/hana-clang", per_page=1)
    assert (missing.status_code, missing.json()["message"]) == (
        422,
        "No commit found for SHA: compiler-explorer/hana-clang",
    )
    assert target(next(w for w in seed.WATCHED if w.name == "c3c").repos[0])[0] == "c3lang/"


def test_only_the_entries_meant_to_be_reported_have_a_problem_in_their_builds(world: GitHubFake) -> None:
    history = builds()
    for entry in seed.WATCHED:
        items = history[entry.name]
        good = last_good(items)
        newest = datetime.fromisoformat(items[0]["timestamp"])
        if not entry.repos:  # ungated: must build every night
            failing = entry.expect == "failing every night"
            silent = entry.expect == "not running"
            assert (NOW - newest > timedelta(days=2)) == silent, entry.name
            assert (NOW - good > timedelta(days=3) and not silent) == failing, entry.name
            continue
        # Gated: a commit after the last good build and more than 7 days ago means upstream moved unbuilt.
        stale = False
        for url in entry.repos:
            repo, branch = target(url)
            answer = get(
                world,
                f"/repos/{repo}/commits",
                sha=branch or "main",
                since=good.strftime("%Y-%m-%dT%H:%M:%SZ"),
                until=(NOW - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                per_page=1,
            )
            stale |= answer.status_code == 200 and answer.json() != []
        assert stale == (entry.expect == "upstream moved and nothing was built"), entry.name


def test_the_idle_forks_are_idle_and_were_built_after_their_last_commit(world: GitHubFake) -> None:
    history = builds()
    for name, idle in seed.IDLE_DAYS.items():
        (url,) = next(w for w in seed.WATCHED if w.name == name).repos
        repo, branch = target(url)
        answer = get(world, f"/repos/{repo}/commits", sha=branch, per_page=1)
        assert answer.status_code == 200, answer.text
        (newest,) = answer.json()
        committed = datetime.fromisoformat(newest["commit"]["committer"]["date"])
        assert NOW - committed > timedelta(days=idle - 1)
        assert last_good(history[name]) > committed


def test_the_watch_environment_names_the_fake_and_the_token_parameter_never_a_token() -> None:
    env = watch.environment("http://127.0.0.1:8002")
    assert env["GITHUB_API_URL"] == "http://127.0.0.1:8002"
    assert env["GITHUB_TOKEN_PARAMETER"] == "/admin/github_build_watch_token"
    assert "GITHUB_TOKEN" not in env
    assert {"BUILD_WATCH_STALE_DAYS", "BUILD_WATCH_FAILING_DAYS", "BUILD_WATCH_SILENT_DAYS"} <= set(env)


def test_the_run_summary_counts_pings_quiet_posts_and_edits() -> None:
    before = {"1": {"quiet": False, "versions": []}}
    after = {
        "1": {"quiet": False, "versions": [{}]},
        "2": {"quiet": False, "versions": []},
        "3": {"quiet": True, "versions": []},
    }
    line = watch.summary(1.25, before, after, "http://page/")
    assert "1 new message(s) that ping, 1 quiet, 1 edited in place" in line and "1.2 s" in line
    assert "nothing new" in watch.summary(0.5, after, after, "http://page/")
    assert "could not be read" in watch.summary(0.5, None, after, "http://page/")
