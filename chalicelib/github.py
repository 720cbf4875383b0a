"""GitHub's REST API, as the build watch reads it: a file, a repository, the newest commit of a branch.

Every request carries ``Authorization: Bearer <token>`` and ``X-GitHub-Api-Version: 2022-11-28``.
The token (``chalicelib.factory``: GITHUB_TOKEN, or else the SSM SecureString GITHUB_TOKEN_PARAMETER
names, read once a process) is never logged. A run spends at most ``max_requests`` (redirects and retries included):
``chalicelib.build_watch`` sets it from compilers.yaml as the issue's budget. Over GitHub's rate
limit (403 or 429 with ``x-ratelimit-remaining: 0`` or ``retry-after``) the wait is waited out if it
ends before ``deadline``; otherwise, or once the budget is spent, every later call raises
``Unavailable`` at once, and what depends on it is unknown for this run.

``requests`` is imported when the first request is made.
"""

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

logger = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
USER_AGENT = "compiler-explorer-build-watch"
RAW = "application/vnd.github.raw+json"
JSON = "application/vnd.github+json"
TIMEOUT = (3.05, 10.0)
RETRY_SECONDS = 1.0  # after a 5xx or a network error, once


class Unavailable(RuntimeError):
    """GitHub did not answer this question (an error, the rate limit, the budget, the deadline)."""


class NotFound(Exception):
    """404: no such repository, file or branch (or a private one the token cannot read)."""


class NoSuchBranch(Exception):
    """422 "No commit found for SHA": the branch does not exist."""


class Moved(Exception):
    """301: the repository was renamed or transferred; ``to`` is its name now, if GitHub said."""

    def __init__(self, to: str | None) -> None:
        super().__init__(to or "somewhere GitHub did not say")
        self.to = to


@dataclass(frozen=True)
class Repository:
    full_name: str
    archived: bool


class GitHub:
    """One run's GitHub client; safe to use from a few threads at once."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        deadline: float,
        max_requests: int = 2,
        session: Any = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``deadline`` is by ``clock``; ``wall_clock`` reads ``x-ratelimit-reset`` (epoch seconds)."""
        self._base = base_url.rstrip("/")
        self._token = token
        self.deadline = deadline
        self.max_requests = max_requests
        self._session = session
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.requests_made = 0
        self.stopped: str | None = None  # why every later call is Unavailable

    # ---- the questions ----------------------------------------------------------------------

    def file(self, repo: str, path: str, ref: str) -> str:
        """The file's text (the contents endpoint, raw); NotFound if there is none."""
        status, answer, _ = self._get(f"/repos/{_repo(repo)}/contents/{_path(path)}", {"ref": ref}, accept=RAW)
        if status == 404:
            raise NotFound(f"{repo}/{path}@{ref}")
        if status != 200 or not isinstance(answer, str):
            raise Unavailable(f"{repo}/{path}: HTTP {status}")
        return answer

    def repository(self, repo: str) -> Repository:
        """The repository (``archived`` and its name); NotFound, or Moved with where it went."""
        status, answer, headers = self._get(f"/repos/{_repo(repo)}")
        if status == 301:
            raise Moved(self._moved_to(headers))
        if status == 404:
            raise NotFound(repo)
        if status != 200 or not isinstance(answer, dict):
            raise Unavailable(f"{repo}: HTTP {status}")
        return Repository(str(answer.get("full_name") or repo), bool(answer.get("archived")))

    def newest_commit(
        self, repo: str, branch: str | None, since: datetime | None = None, until: datetime | None = None
    ) -> datetime | None:
        """The committer date of the newest commit on ``branch`` (default branch: None) in [since, until],
        None if there is none; NoSuchBranch, NotFound, Moved."""
        query = {"per_page": "1"}
        if branch:
            query["sha"] = branch
        if since:
            query["since"] = _iso(since)
        if until:
            query["until"] = _iso(until)
        status, answer, _ = self._get(f"/repos/{_repo(repo)}/commits", query)
        if status == 301:
            raise Moved(None)
        if status == 404:
            raise NotFound(repo)
        if status == 422:
            raise NoSuchBranch(branch or "")
        if status == 409:
            return None  # an empty repository
        if status != 200 or not isinstance(answer, list):
            raise Unavailable(f"{repo} commits: HTTP {status}")
        if not answer:
            return None
        try:
            date = answer[0]["commit"]["committer"]["date"]
            return datetime.fromisoformat(str(date).replace("Z", "+00:00"))
        except (KeyError, TypeError, ValueError):
            raise Unavailable(f"{repo} commits: an answer without a commit date") from None

    # ---- plumbing ---------------------------------------------------------------------------

    def _moved_to(self, headers: dict[str, str]) -> str | None:
        location = headers.get("location") or headers.get("Location")
        if not location:
            return None
        path = urllib.parse.urlsplit(location).path
        try:
            status, answer, _ = self._get(path.removeprefix(urllib.parse.urlsplit(self._base).path))
        except Unavailable as error:
            logger.warning("could not follow a moved repository to %s: %s", location, error)
            return None
        if status == 200 and isinstance(answer, dict) and answer.get("full_name"):
            return str(answer["full_name"])
        return None

    def _get(self, path: str, query: dict[str, str] | None = None, accept: str = JSON) -> tuple[int, Any, Any]:
        import requests

        url = self._base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {
            "Accept": accept,
            "Authorization": f"Bearer {self._token}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": USER_AGENT,
        }
        failures = 0
        while True:
            self._spend(path)
            try:
                response = self._requests().get(url, headers=headers, timeout=TIMEOUT, allow_redirects=False)
            except requests.RequestException as error:
                problem, wait = f"network error ({type(error).__name__})", RETRY_SECONDS
            else:
                status = response.status_code
                if status in (403, 429) and self._rate_limited(response):
                    wait = self._rate_limit_wait(response)
                    if self._clock() + wait > self.deadline:
                        self._stop(f"rate limited for {wait:.0f} s more than the run has")
                        raise Unavailable(self.stopped)
                    logger.warning("GitHub rate limit: waiting %.1f s", wait)
                    self._sleep(wait)
                    continue
                if status == 401:
                    self._stop("GitHub refused the token (401 Bad credentials)")
                    raise Unavailable(self.stopped)
                if status < 500:
                    return status, _body(response, accept), response.headers
                problem, wait = f"HTTP {status}", RETRY_SECONDS
            failures += 1
            logger.warning("GitHub %s: attempt %d failed: %s", path, failures, problem)
            if failures >= 2 or self._clock() + wait + TIMEOUT[1] > self.deadline:
                raise Unavailable(f"GitHub {path}: {problem}")
            self._sleep(wait)

    def _spend(self, path: str) -> None:
        with self._lock:
            if self.stopped is None and self.requests_made >= self.max_requests:
                self.stopped = f"the run's budget of {self.max_requests} requests is spent"
            if self.stopped is None and self._clock() >= self.deadline:
                self.stopped = "the run's time for GitHub is up"
            if self.stopped is not None:
                raise Unavailable(f"GitHub {path} not asked: {self.stopped}")
            self.requests_made += 1

    def _stop(self, why: str) -> None:
        with self._lock:
            self.stopped = self.stopped or why
        logger.error("GitHub: %s; the rest of this run is unknown", why)

    def _rate_limited(self, response: Any) -> bool:
        return response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers

    def _rate_limit_wait(self, response: Any) -> float:
        retry_after = response.headers.get("retry-after")
        if retry_after is not None:
            try:
                return max(float(retry_after), 0.0)
            except ValueError:
                return 60.0
        try:
            return max(float(response.headers.get("x-ratelimit-reset", "")) - self._wall_clock(), 0.0) + 1.0
        except ValueError:
            return 60.0

    def _requests(self) -> Any:
        if self._session is None:
            import requests

            self._session = requests.Session()
        return self._session


def _body(response: Any, accept: str) -> Any:
    if accept == RAW and response.status_code == 200:
        return response.text
    try:
        return response.json()
    except ValueError:
        return None


def _repo(repo: str) -> str:
    owner, _, name = repo.partition("/")
    return f"{urllib.parse.quote(owner, safe='')}/{urllib.parse.quote(name, safe='')}"


def _path(path: str) -> str:
    return urllib.parse.quote(path.strip("/"), safe="/")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
