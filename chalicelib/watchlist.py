"""compiler-workflows' ``compilers.yaml``: the daily builds and the GitHub targets their activity gate watches.

Each ``compilers: daily:`` entry is a mapping with ``name`` (the ``compiler`` key of the build
table) and, for a gated build, ``repos:``, a list of GitHub URLs: ``https://github.com/<owner>/<repo>``
(the default branch) or ``.../tree/<branch>``, where a branch may contain ``/``. A URL that is not
one of those is kept as a target with no repository: the gate cannot read it (rule 2).

PyYAML is imported when a file is read: only the build watch loads it.
"""

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_REPO = re.compile(r"[A-Za-z0-9._-]{1,100}")
_HOSTS = ("github.com", "www.github.com")


class WatchlistError(ValueError):
    """The file is not a compilers.yaml this reader understands: nothing in it can be checked."""


@dataclass(frozen=True)
class Target:
    """One URL of an entry's ``repos:``; ``repo`` is None when it is not a GitHub repository URL."""

    url: str
    repo: str | None = None  # "owner/name"
    branch: str | None = None  # None: the repository's default branch

    @property
    def where(self) -> str:
        """The target as people say it: ``owner/name`` or ``owner/name@branch``."""
        if self.repo is None:
            return self.url
        return f"{self.repo}@{self.branch}" if self.branch else self.repo


@dataclass(frozen=True)
class Entry:
    name: str
    targets: tuple[Target, ...] = ()

    @property
    def gated(self) -> bool:
        return bool(self.targets)


def parse_target(url: str) -> Target:
    """The repository and branch a ``repos:`` URL names, or a Target with none if it names no repository."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or parts.hostname not in _HOSTS or parts.query or parts.fragment:
        return Target(url)
    path = [urllib.parse.unquote(p) for p in parts.path.strip("/").split("/")] if parts.path.strip("/") else []
    if len(path) < 2:
        return Target(url)
    owner, name = path[0], path[1].removesuffix(".git")
    if not _OWNER.fullmatch(owner) or not _REPO.fullmatch(name) or name in (".", ".."):
        return Target(url)
    if len(path) == 2:
        return Target(url, f"{owner}/{name}")
    branch = "/".join(path[3:])
    if path[2] != "tree" or not branch or any(not p for p in path[3:]):
        return Target(url)
    return Target(url, f"{owner}/{name}", branch)


def parse(text: str) -> list[Entry]:
    """The daily entries of ``compilers.yaml``, in file order; WatchlistError if it has none to read."""
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise WatchlistError(f"compilers.yaml is not YAML: {str(error)[:200]}") from None
    compilers = document.get("compilers") if isinstance(document, dict) else None
    daily = compilers.get("daily") if isinstance(compilers, dict) else None
    if not isinstance(daily, list):
        raise WatchlistError("compilers.yaml has no `compilers: daily:` list")
    entries: dict[str, Entry] = {}
    for item in daily:
        entry = _entry(item)
        if entry is not None and entry.name not in entries:
            entries[entry.name] = entry
    if not entries:
        raise WatchlistError("compilers.yaml lists no daily build with a name")
    return list(entries.values())


def _entry(item: Any) -> Entry | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str | int | float) or item.get("name") == "":
        return None
    repos = item.get("repos") or []
    if isinstance(repos, str):
        repos = [repos]
    if not isinstance(repos, list):
        repos = [repos]
    targets = tuple(dict.fromkeys(parse_target(str(url)) for url in repos if url is not None))
    return Entry(str(item["name"]), targets)
