"""A scan of the repository for credentials that must never be committed.

The Discord webhook URL is the one secret this service has (it lets anyone post to the
maintainers' channel); it belongs in SSM or the environment. AWS keys and private keys have
no business here either.
"""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

PATTERNS = {
    "Discord webhook URL": re.compile(
        r"https?://(?:[a-z]+\.)?discord(?:app)?\.com/api/(?:v\d+/)?webhooks/\d+/[\w-]{20,}", re.IGNORECASE
    ),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z0-9]{16}\b"),
    "AWS secret access key": re.compile(
        r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?(?!testing\b)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
    ),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
}


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    kind: str

    def __str__(self) -> str:
        # The match itself is not repeated: a report of a leak should not leak it again.
        return f"{self.path}:{self.line}: {self.kind}"


def tracked_files(root: Path) -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607 (git from PATH, as every developer runs it)
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [root / name for name in listing.split("\0") if name]


def scan_text(text: str, path: str = "<text>") -> list[Finding]:
    findings = []
    for number, line in enumerate(text.splitlines(), start=1):
        for kind, pattern in PATTERNS.items():
            if pattern.search(line):
                findings.append(Finding(path, number, kind))
    return findings


def scan(paths: list[Path], root: Path) -> list[Finding]:
    findings = []
    for path in paths:
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:4096]:
            continue  # binary
        findings += scan_text(data.decode("utf-8", "replace"), str(path.relative_to(root)))
    return findings
