"""The GitHub fake answers over real HTTP as GitHub's REST API does, for the parts the build watch reads."""

import base64
import http.client
import json
import time
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tools.devkit.github_fake import API_VERSION, GitHubFake

TOKEN = "fake-token"
DAY = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture
def gh() -> Iterator[GitHubFake]:
    with GitHubFake(token=TOKEN) as fake:
        yield fake


def get(
    fake: GitHubFake, path: str, *, token: str | None = TOKEN, accept: str = "application/vnd.github+json", **query: Any
) -> tuple[int, dict[str, str], Any]:
    """One GET as the build watch sends it (no redirect followed); status, headers (lower-cased), body."""
    target = path + ("?" + urllib.parse.urlencode(query) if query else "")
    headers = {"Accept": accept, "X-GitHub-Api-Version": API_VERSION}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        data = response.read()
        answer = {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()
    body: Any = data.decode()
    if answer.get("content-type", "").startswith("application/json"):
        body = json.loads(data)
    return response.status, answer, body


def test_a_repository_and_its_commits_newest_first_filtered_inclusively(gh: GitHubFake) -> None:
    gh.add_repo("llvm/llvm-project")
    for day in (1, 10, 20, 30):
        gh.add_commit("llvm/llvm-project", "main", datetime(2026, 11, day, 12, tzinfo=UTC))

    status, _, repo = get(gh, "/repos/llvm/llvm-project")
    assert status == 200
    assert (repo["full_name"], repo["archived"], repo["default_branch"]) == ("llvm/llvm-project", False, "main")

    status, _, commits = get(
        gh, "/repos/llvm/llvm-project/commits", sha="main", since="2026-11-10T12:00:00Z", until="2026-11-20T12:00:00Z"
    )
    assert status == 200
    assert [c["commit"]["committer"]["date"] for c in commits] == ["2026-11-20T12:00:00Z", "2026-11-10T12:00:00Z"]
    _, _, newest = get(gh, "/repos/llvm/llvm-project/commits", since="2026-11-02T00:00:00Z", per_page=1)
    assert [c["commit"]["committer"]["date"] for c in newest] == ["2026-11-30T12:00:00Z"]
    assert newest[0]["sha"] and newest[0]["html_url"].startswith("https://github.com/llvm/llvm-project/commit/")
    _, _, none = get(gh, "/repos/llvm/llvm-project/commits", since="2026-12-01T00:00:00Z")
    assert none == []


def test_pages_follow_the_link_header(gh: GitHubFake) -> None:
    for day in range(1, 6):
        gh.add_commit("o/r", "main", datetime(2026, 11, day, tzinfo=UTC))
    status, headers, first = get(gh, "/repos/o/r/commits", per_page=2)
    assert status == 200 and len(first) == 2 and 'rel="next"' in headers["link"]
    _, _, last = get(gh, "/repos/o/r/commits", per_page=2, page=3)
    assert len(last) == 1 and last[0]["commit"]["committer"]["date"] == "2026-11-01T00:00:00Z"


def test_a_branch_with_a_slash_and_an_unknown_branch(gh: GitHubFake) -> None:
    gh.add_commit("owner/fork", "feature/x", DAY)
    gh.add_branch("owner/fork", "empty")
    status, _, commits = get(gh, "/repos/owner/fork/commits", sha="feature/x")
    assert status == 200 and len(commits) == 1
    assert get(gh, "/repos/owner/fork/commits", sha="empty")[2] == []

    status, _, error = get(gh, "/repos/owner/fork/commits", sha="gone/branch", per_page=1)
    assert status == 422
    assert error["message"] == "No commit found for SHA: gone/branch"


def test_an_archived_repository_says_so_and_still_answers_its_commits(gh: GitHubFake) -> None:
    gh.add_commit("llvm/clangir", "main", DAY)
    gh.archive("llvm/clangir")
    assert get(gh, "/repos/llvm/clangir")[2]["archived"] is True
    assert len(get(gh, "/repos/llvm/clangir/commits")[2]) == 1


def test_a_removed_or_unknown_repository_is_404(gh: GitHubFake) -> None:
    gh.add_repo("owner/gone")
    gh.remove("owner/gone")
    for path in ("/repos/owner/gone", "/repos/owner/gone/commits", "/repos/nobody/never"):
        status, _, error = get(gh, path)
        assert (status, error["message"]) == (404, "Not Found")


def test_a_moved_repository_is_301_to_its_id_which_answers_as_the_new_one(gh: GitHubFake) -> None:
    gh.add_commit("old/name", "main", DAY)
    gh.move("old/name", "new/name")

    status, headers, body = get(gh, "/repos/old/name")
    assert status == 301 and body["message"] == "Moved Permanently"
    assert headers["location"] == body["url"]
    assert urllib.parse.urlsplit(headers["location"]).path == f"/repositories/{gh.repo('new/name').id}"
    status, _, repo = get(gh, urllib.parse.urlsplit(headers["location"]).path)
    assert (status, repo["full_name"]) == (200, "new/name")

    status, headers, _ = get(gh, "/repos/old/name/commits", sha="main", per_page=1)
    assert status == 301
    moved = urllib.parse.urlsplit(headers["location"])
    assert moved.path.endswith("/commits") and "per_page=1" in moved.query
    status, _, commits = get(gh, f"{moved.path}?{moved.query}")
    assert status == 200 and len(commits) == 1
    assert get(gh, "/repos/new/name")[0] == 200


def test_the_contents_endpoint_raw_and_base64(gh: GitHubFake) -> None:
    text = "compilers:\n  daily:\n    - name: gcc_trunk\n"
    gh.put_file("compiler-explorer/compiler-workflows", "compilers.yaml", "main", text)
    path = "/repos/compiler-explorer/compiler-workflows/contents/compilers.yaml"

    status, headers, raw = get(gh, path, accept="application/vnd.github.raw+json", ref="main")
    assert (status, raw) == (200, text)
    assert headers["content-type"].startswith("text/plain")
    status, _, obj = get(gh, path, ref="main")
    assert status == 200 and obj["encoding"] == "base64"
    assert base64.b64decode(obj["content"]).decode() == text

    assert get(gh, path, ref="nope")[0] == 404
    assert get(gh, "/repos/compiler-explorer/compiler-workflows/contents/other.yaml")[0] == 404


def test_without_the_token_it_is_401_and_every_answer_has_rate_limit_headers(gh: GitHubFake) -> None:
    gh.add_repo("o/r")
    status, headers, error = get(gh, "/repos/o/r", token=None)
    assert (status, error["message"]) == (401, "Bad credentials")
    assert get(gh, "/repos/o/r", token="wrong")[0] == 401
    status, headers, _ = get(gh, "/repos/o/r")
    assert status == 200
    assert headers["x-ratelimit-limit"] == "5000"
    assert int(headers["x-ratelimit-remaining"]) < 5000
    assert int(headers["x-ratelimit-reset"]) > time.time()
    assert gh.requests[-1].api_version == API_VERSION
    assert gh.requests[-1].header("authorization") == f"Bearer {TOKEN}"


def test_a_private_repository_needs_a_token_that_may_read_it() -> None:
    with GitHubFake() as open_fake:
        open_fake.private("owner/secret")
        open_fake.private("owner/locked", readable=False)
        assert get(open_fake, "/repos/owner/secret", token=None)[0] == 404
        assert get(open_fake, "/repos/owner/secret", token="any")[0] == 200
        assert get(open_fake, "/repos/owner/locked", token="any")[0] == 404
        assert get(open_fake, "/repos/owner/secret", token=None)[1]["x-ratelimit-limit"] == "60"


def test_a_primary_rate_limit_refuses_with_remaining_zero_until_the_reset(gh: GitHubFake) -> None:
    gh.add_repo("o/r")
    gh.rate_limit(after=2, reset_in=0.5)
    assert [get(gh, "/repos/o/r")[0] for _ in range(2)] == [200, 200]
    status, headers, error = get(gh, "/repos/o/r")
    assert status == 403 and "rate limit" in error["message"]
    assert headers["x-ratelimit-remaining"] == "0"
    reset = int(headers["x-ratelimit-reset"])
    assert time.time() <= reset <= time.time() + 2
    time.sleep(max(0.0, reset - time.time()) + 0.1)
    assert get(gh, "/repos/o/r")[0] == 200


@pytest.mark.parametrize("status", [403, 429])
def test_a_secondary_rate_limit_answers_retry_after(gh: GitHubFake, status: int) -> None:
    gh.add_repo("o/r")
    gh.rate_limit(secondary=True, reset_in=30, status=status)
    answer, headers, error = get(gh, "/repos/o/r")
    assert answer == status and "secondary rate limit" in error["message"]
    assert headers["retry-after"] == "30"
    assert headers["x-ratelimit-remaining"] != "0"


def test_failures_and_unreachable_then_normal_again(gh: GitHubFake) -> None:
    gh.add_repo("o/r")
    gh.fail(status=502, times=2)
    assert [get(gh, "/repos/o/r")[0] for _ in range(3)] == [502, 502, 200]

    gh.unreachable(True)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        get(gh, "/repos/o/r")
    gh.unreachable(False)
    assert get(gh, "/repos/o/r")[0] == 200


def test_requests_are_counted_by_prefix_and_reset(gh: GitHubFake) -> None:
    gh.add_repo("a/b")
    get(gh, "/repos/a/b")
    get(gh, "/repos/a/b/commits", sha="main")
    get(gh, "/repos/c/d")
    assert gh.request_count() == 3
    assert gh.request_count("/repos/a/b") == 2
    assert [r.status for r in gh.requests] == [200, 200, 404]
    assert gh.requests[1].query == {"sha": "main"}
    gh.reset_counts()
    assert gh.request_count() == 0


def test_the_fixture_points_the_environment_at_the_fake(github: GitHubFake) -> None:
    import os

    assert os.environ["GITHUB_API_URL"] == github.url
    github.add_repo("o/r")
    assert get(github, "/repos/o/r", token=os.environ["GITHUB_TOKEN"])[0] == 200
