"""GitHub's REST API on loopback, the subset the build watch reads, for the tests, the benchmark and `make local`.

Repositories with branches of dated commits, files on a branch (the contents endpoint, raw or base64),
archived, removed (404), private and moved (301) repositories, answered as GitHub answers them:

- ``GET /repos/{owner}/{repo}``: the repository object; 404 ``Not Found``; a moved repository is a 301
  whose ``Location`` is ``{url}/repositories/{id}`` (plus the rest of the path and the query), which
  answers as the repository now is.
- ``GET /repos/{owner}/{repo}/commits?sha=&since=&until=&per_page=&page=``: newest first, filtered by
  committer date (both bounds inclusive); an unknown branch is a 422 ``No commit found for SHA: <branch>``.
  An archived repository still answers its commits (``archived`` is read from the repository).
- ``GET /repos/{owner}/{repo}/contents/{path}?ref=``: with ``Accept: application/vnd.github.raw+json``
  (or ``.raw``) the file's text as ``text/plain``, else the JSON object with base64 ``content``.

Every answer carries ``x-ratelimit-*`` headers. With ``token`` set the fake is stricter than GitHub: a
request without ``Authorization: Bearer <token>`` is a 401 ``Bad credentials``, so a test proves the
token is sent. Faults are asked for: ``rate_limit`` (primary: 403 with ``x-ratelimit-remaining: 0``;
secondary: 403 or 429 with ``retry-after``), ``fail`` (the next requests answer a status) and
``unreachable`` (connections closed without an answer). Every request is kept in ``requests``.
"""

import base64
import contextlib
import hashlib
import itertools
import json
import math
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tools.devkit import net
from tools.devkit.names import HOST

API_VERSION = "2022-11-28"
RAW_MEDIA_TYPES = ("application/vnd.github.raw+json", "application/vnd.github.raw", "application/vnd.github.v3.raw")
DOCS = "https://docs.github.com/rest"
LIMIT_WITH_TOKEN = 5000
LIMIT_WITHOUT_TOKEN = 60
PRIMARY_LIMIT_MESSAGE = "API rate limit exceeded for user ID 1."
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)


@dataclass
class Request:
    """One request as the fake received it (headers as sent; ``query`` decoded, one value a name)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0  # what the fake answered (0: the connection was closed without an answer)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def api_version(self) -> str | None:
        """The ``X-GitHub-Api-Version`` the request named, if any."""
        return self.header("X-GitHub-Api-Version")


@dataclass
class Commit:
    sha: str
    date: datetime
    message: str


@dataclass
class Repo:
    id: int
    full_name: str
    default_branch: str
    archived: bool = False
    private: bool = False
    readable: bool = True  # False: a private repository no token here may read
    branches: dict[str, list[Commit]] = field(default_factory=dict)
    files: dict[tuple[str, str], str] = field(default_factory=dict)  # (branch, path) -> text


@dataclass
class _Limit:
    after: int
    reset_in: float
    secondary: bool
    status: int
    until: float | None = None  # when tripped: the epoch second it lifts


class GitHubFake(net.LocalServer):
    """The fake API, served from a thread: ``with GitHubFake(token="t") as github: ... github.url``."""

    def __init__(
        self,
        *,
        token: str | None = None,
        port: int = 0,
        echo: Callable[[Request], None] | None = None,
    ) -> None:
        self.token = token
        self.requests: list[Request] = []
        self.now: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._echo = echo
        self._repos: dict[str, Repo] = {}  # by lower-cased full name, as GitHub's names are case-insensitive
        self._moved: dict[str, str] = {}  # old lower-cased full name -> the repository's current full name
        self._removed: set[str] = set()
        self._ids = itertools.count(100_000_001)
        self._shas = itertools.count(1)
        self._lock = threading.Lock()
        self._limit: _Limit | None = None
        self._failures: list[int] = []
        self._unreachable = False
        self._hang = 0.0
        self._used = 0
        super().__init__(_handler(self), port, "github-fake")
        self.url = f"http://{HOST}:{self.port}"

    # The world

    def add_repo(self, full_name: str, *, default_branch: str = "main", archived: bool = False) -> Repo:
        """A repository with an empty default branch (an existing one is updated, its commits kept)."""
        _split(full_name)
        with self._lock:
            key = full_name.lower()
            self._removed.discard(key)
            self._moved.pop(key, None)
            repo = self._repos.get(key)
            if repo is None:
                repo = self._repos[key] = Repo(next(self._ids), full_name, default_branch)
            repo.default_branch = default_branch
            repo.archived = archived
            repo.branches.setdefault(default_branch, [])
            return repo

    def add_branch(self, full_name: str, branch: str) -> None:
        """A branch with no commits yet (``add_commit`` adds them); the repository is created if need be."""
        repo = self._repo_or_new(full_name)
        with self._lock:
            repo.branches.setdefault(branch, [])

    def add_commit(
        self, full_name: str, branch: str, date: datetime | None = None, *, sha: str | None = None, message: str = ""
    ) -> str:
        """A commit on ``branch`` (created if need be) committed at ``date`` (default: the fake's now); its sha."""
        repo = self._repo_or_new(full_name)
        when = (date or self.now()).astimezone(UTC)
        with self._lock:
            sha = sha or hashlib.sha1(f"{repo.id}/{branch}/{next(self._shas)}".encode()).hexdigest()  # noqa: S324
            commits = repo.branches.setdefault(branch, [])
            commits.append(Commit(sha, when, message or f"commit {sha[:7]}"))
            commits.sort(key=lambda c: c.date, reverse=True)
        return sha

    def archive(self, full_name: str, archived: bool = True) -> None:
        self._find(full_name).archived = archived

    def move(self, old: str, new: str) -> None:
        """Rename ``old`` to ``new`` (or, if ``new`` exists, redirect ``old`` to it): ``old`` answers 301."""
        _split(new)
        with self._lock:
            old_key, new_key = old.lower(), new.lower()
            repo = self._repos.pop(old_key, None)
            if new_key not in self._repos:
                if repo is None:
                    repo = Repo(next(self._ids), new, "main", branches={"main": []})
                repo.full_name = new
                self._repos[new_key] = repo
            self._moved[old_key] = self._repos[new_key].full_name
            self._removed.discard(old_key)

    def remove(self, full_name: str) -> None:
        """The repository is gone (deleted, or never existed): 404 from now on."""
        with self._lock:
            key = full_name.lower()
            self._repos.pop(key, None)
            self._moved.pop(key, None)
            self._removed.add(key)

    def private(self, full_name: str, *, readable: bool = True) -> None:
        """Private: 404 to a request with no token; ``readable=False``: 404 to every token too."""
        repo = self._repo_or_new(full_name)
        with self._lock:
            repo.private, repo.readable = True, readable

    def put_file(self, full_name: str, path: str, ref: str, text: str) -> None:
        """The file at ``path`` on branch ``ref`` (the repository and branch are created if need be)."""
        repo = self._repo_or_new(full_name)
        with self._lock:
            repo.branches.setdefault(ref, [])
            repo.files[(ref, path.strip("/"))] = text

    def repo(self, full_name: str) -> Repo:
        return self._find(full_name)

    # Faults

    def rate_limit(self, *, after: int = 0, reset_in: float = 60, secondary: bool = False, status: int = 403) -> None:
        """After ``after`` more requests, every request is refused for ``reset_in`` seconds (real time).

        Primary: ``status`` with ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``; secondary:
        ``status`` (403 or 429) with ``retry-after``. Then GitHub answers again.
        """
        with self._lock:
            self._limit = _Limit(after, reset_in, secondary, status)

    def fail(self, status: int = 502, times: int = 1) -> None:
        """The next ``times`` requests answer ``status`` (after the ones asked for before)."""
        with self._lock:
            self._failures.extend([status] * times)

    def unreachable(self, on: bool = True, *, hang: float = 0.0) -> None:
        """Close every connection without an answer (after holding it ``hang`` seconds), until turned off."""
        with self._lock:
            self._unreachable, self._hang = on, hang

    # What was asked

    def request_count(self, path_prefix: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path_prefix is None or r.path.startswith(path_prefix))

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()

    # Serving

    def handle(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]] | None:
        """Status, body (JSON-able, or ``str`` for raw text) and headers; None: close without answering."""
        parts = urllib.parse.urlsplit(target)
        query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        request = Request(method, urllib.parse.unquote(parts.path), query, headers)
        with self._lock:
            self.requests.append(request)
            unreachable, hang = self._unreachable, self._hang
        if unreachable:
            time.sleep(hang)
            self._shown(request)
            return None
        status, body, extra = self._answer(request, parts.query)
        request.status = status
        self._shown(request)
        return status, body, extra

    def _answer(self, request: Request, raw_query: str) -> tuple[int, Any, dict[str, str]]:
        authorization = request.header("Authorization") or ""
        authenticated = authorization.startswith("Bearer ") and len(authorization) > len("Bearer ")
        limit = LIMIT_WITH_TOKEN if authenticated or self.token else LIMIT_WITHOUT_TOKEN
        now = time.time()
        with self._lock:
            refused = self._limited(now)
            failure = self._failures.pop(0) if self._failures and refused is None else None
            if refused is None:
                self._used += 1
            headers = self._limit_headers(limit, now, refused)
        if refused is not None:
            return refused[0], refused[1], {**headers, **refused[2]}
        if failure is not None:
            return failure, _error(_REASONS.get(failure, "Server Error"), failure), headers
        if self.token is not None and authorization != f"Bearer {self.token}":
            return 401, _error("Bad credentials", 401), headers
        if request.method != "GET":
            return 404, _error("Not Found", 404), headers
        status, body, extra = self._route(request, raw_query, authenticated)
        return status, body, {**headers, **extra}

    def _limited(self, now: float) -> tuple[int, Any, dict[str, str]] | None:
        """The refusal a tripped rate limit answers (called under the lock), or None."""
        limit = self._limit
        if limit is None:
            return None
        if limit.until is None:
            if limit.after > 0:
                limit.after -= 1
                return None
            limit.until = now + limit.reset_in
        if now >= limit.until:
            self._limit = None
            return None
        if limit.secondary:
            wait = str(max(1, int(limit.until - now + 0.999)))
            return limit.status, _error(SECONDARY_LIMIT_MESSAGE, limit.status), {"retry-after": wait}
        return limit.status, _error(PRIMARY_LIMIT_MESSAGE, limit.status), {}

    def _limit_headers(self, limit: int, now: float, refused: object) -> dict[str, str]:
        """GitHub's rate-limit headers (called under the lock): remaining 0 while a primary limit refuses."""
        tripped = self._limit.until if self._limit and self._limit.until and not self._limit.secondary else None
        refusing = tripped is not None and refused is not None
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": "0" if refusing else str(max(0, limit - self._used)),
            "x-ratelimit-reset": str(math.ceil(tripped if tripped is not None else now + 3600)),
            "x-ratelimit-used": str(min(self._used, limit)),
            "x-ratelimit-resource": "core",
            "x-github-api-version-selected": API_VERSION,
        }

    def _route(self, request: Request, raw_query: str, authenticated: bool) -> tuple[int, Any, dict[str, str]]:
        segments = [s for s in request.path.split("/") if s]
        if len(segments) >= 2 and segments[0] == "repositories":
            with self._lock:
                repo = next((r for r in self._repos.values() if str(r.id) == segments[1]), None)
            rest = segments[2:]
        elif len(segments) >= 3 and segments[0] == "repos":
            key = f"{segments[1]}/{segments[2]}".lower()
            with self._lock:
                moved_to = self._moved.get(key)
                repo = self._repos.get(key) if moved_to is None else self._repos.get(moved_to.lower())
            rest = segments[3:]
            if moved_to is not None and repo is not None:
                tail = "".join(f"/{urllib.parse.quote(s)}" for s in rest)
                location = f"{self.url}/repositories/{repo.id}{tail}" + (f"?{raw_query}" if raw_query else "")
                body = {"message": "Moved Permanently", "url": location, "documentation_url": f"{DOCS}/repos"}
                return 301, body, {"Location": location}
        else:
            return 404, _error("Not Found", 404), {}
        if repo is None or (repo.private and (not authenticated or not repo.readable)):
            return 404, _error("Not Found", 404, f"{DOCS}/repos/repos#get-a-repository"), {}
        if not rest:
            return 200, self._repo_object(repo), {}
        if rest == ["commits"]:
            return self._commits(repo, request.query)
        if rest[0] == "contents" and len(rest) > 1:
            return self._contents(repo, "/".join(rest[1:]), request)
        return 404, _error("Not Found", 404), {}

    def _repo_object(self, repo: Repo) -> dict[str, Any]:
        owner, name = _split(repo.full_name)
        with self._lock:
            newest = max((c[0].date for c in repo.branches.values() if c), default=None)
        pushed = (newest or self.now()).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": name,
            "full_name": repo.full_name,
            "owner": {"login": owner, "type": "Organization"},
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "html_url": f"https://github.com/{repo.full_name}",
            "url": f"{self.url}/repos/{repo.full_name}",
            "fork": False,
            "archived": repo.archived,
            "disabled": False,
            "default_branch": repo.default_branch,
            "pushed_at": pushed,
            "updated_at": pushed,
        }

    def _commits(self, repo: Repo, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        branch = query.get("sha") or repo.default_branch
        try:
            since = _parse_time(query.get("since"))
            until = _parse_time(query.get("until"))
            per_page = min(100, max(1, int(query.get("per_page") or 30)))
            page = max(1, int(query.get("page") or 1))
        except ValueError as error:
            return 422, _error(f"Validation Failed: {error}", 422, f"{DOCS}/commits/commits#list-commits"), {}
        with self._lock:
            commits = repo.branches.get(branch)
            commits = None if commits is None else list(commits)
        if commits is None:
            message = f"No commit found for SHA: {branch}"
            return 422, _error(message, 422, f"{DOCS}/commits/commits#list-commits"), {}
        chosen = [c for c in commits if (since is None or c.date >= since) and (until is None or c.date <= until)]
        shown = chosen[(page - 1) * per_page : page * per_page]
        headers = {}
        if len(chosen) > page * per_page:
            following = urllib.parse.urlencode({**query, "page": str(page + 1)})
            headers["Link"] = f'<{self.url}/repositories/{repo.id}/commits?{following}>; rel="next"'
        return 200, [self._commit_object(repo, c) for c in shown], headers

    def _commit_object(self, repo: Repo, commit: Commit) -> dict[str, Any]:
        who = {"name": "Someone", "email": "someone@example.com", "date": commit.date.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return {
            "sha": commit.sha,
            "node_id": f"C_{commit.sha[:12]}",
            "commit": {"author": who, "committer": who, "message": commit.message},
            "url": f"{self.url}/repos/{repo.full_name}/commits/{commit.sha}",
            "html_url": f"https://github.com/{repo.full_name}/commit/{commit.sha}",
        }

    def _contents(self, repo: Repo, path: str, request: Request) -> tuple[int, Any, dict[str, str]]:
        ref = request.query.get("ref") or repo.default_branch
        with self._lock:
            known_ref = ref in repo.branches
            text = repo.files.get((ref, path))
        if not known_ref:
            return 404, _error(f"No commit found for the ref {ref}", 404, f"{DOCS}/repos/contents"), {}
        if text is None:
            return 404, _error("Not Found", 404, f"{DOCS}/repos/contents#get-repository-content"), {}
        accept = [a.split(";")[0].strip() for a in (request.header("Accept") or "").split(",")]
        if any(a in RAW_MEDIA_TYPES for a in accept):
            raw = {"Content-Type": "text/plain; charset=utf-8", "x-github-media-type": "github.v3; param=raw"}
            return 200, text, raw
        data = text.encode()
        encoded = base64.encodebytes(data).decode()  # GitHub wraps the base64 in lines, as this does
        sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324 (git's blob id)
        return (
            200,
            {
                "type": "file",
                "encoding": "base64",
                "size": len(data),
                "name": path.rsplit("/", 1)[-1],
                "path": path,
                "content": encoded,
                "sha": sha,
                "url": f"{self.url}/repos/{repo.full_name}/contents/{path}?ref={ref}",
                "html_url": f"https://github.com/{repo.full_name}/blob/{ref}/{path}",
                "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
            },
            {},
        )

    def _find(self, full_name: str) -> Repo:
        with self._lock:
            repo = self._repos.get(full_name.lower())
        if repo is None:
            raise KeyError(f"no repository {full_name!r} in the fake (add_repo first)")
        return repo

    def _repo_or_new(self, full_name: str) -> Repo:
        """The repository (a moved one's new self: a push to the old name lands there), or a new one."""
        with self._lock:
            key = full_name.lower()
            repo = self._repos.get(self._moved.get(key, key).lower())
        return repo or self.add_repo(full_name)

    def _shown(self, request: Request) -> None:
        if self._echo:
            self._echo(request)


_REASONS = {
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
    504: "We couldn't respond to your request in time.",
    404: "Not Found",
    403: "Forbidden",
    401: "Bad credentials",
}


def _error(message: str, status: int, documentation_url: str = DOCS) -> dict[str, str]:
    return {"message": message, "documentation_url": documentation_url, "status": str(status)}


def _split(full_name: str) -> tuple[str, str]:
    owner, _, name = full_name.partition("/")
    if not owner or not name or "/" in name:
        raise ValueError(f"a repository is 'owner/name', not {full_name!r}")
    return owner, name


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _handler(fake: GitHubFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as GitHub; requests' sessions reuse the connection

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle's algorithm and the
            # client's delayed ACK hold every keep-alive answer back ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            answer = fake.handle(self.command, self.path, dict(self.headers))
            if answer is None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            status, body, headers = answer
            if isinstance(body, str):
                data, content_type = body.encode(), "text/plain; charset=utf-8"
            else:
                data, content_type = json.dumps(body).encode(), "application/json; charset=utf-8"
            net.reply(self, status, data, headers.pop("Content-Type", content_type), headers)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
