"""The stack's knobs, all from the environment, with the defaults `make local` documents."""

import os
from dataclasses import dataclass

from tools.devkit.names import HOST

STAGE = "local"


class OptionError(ValueError):
    """An environment variable of the stack has a value it cannot use."""


@dataclass(frozen=True)
class Options:
    port: int = 8000
    aws_port: int = 5000
    batch_window: float = 5.0
    visibility_timeout: int = 30
    drain_seconds: float = 10.0
    discord_port: int = 8001
    api: bool = True  # False: `python -m tools.local_stack --no-api`, for `chalice local --stage local`
    discord_json: bool = False  # each Discord message's JSON under its one line
    archive_copy: str = "build/local-archive"  # where the archive is copied on shutdown; "" for nowhere
    github_port: int = 8002

    @classmethod
    def from_env(cls) -> "Options":
        options = cls(
            port=_integer("PORT", cls.port, 1, 65535),
            aws_port=_integer("AWS_PORT", cls.aws_port, 1, 65535),
            batch_window=_number("LOCAL_BATCH_WINDOW", cls.batch_window),
            visibility_timeout=_integer("LOCAL_VISIBILITY_TIMEOUT", cls.visibility_timeout, 1, 43200),
            drain_seconds=_number("LOCAL_DRAIN_SECONDS", cls.drain_seconds),
            discord_port=_integer("DISCORD_PORT", cls.discord_port, 1, 65535),
            discord_json=_integer("LOCAL_DISCORD_JSON", 0, 0, 1) == 1,
            archive_copy=os.environ.get("LOCAL_ARCHIVE_COPY", cls.archive_copy).strip(),
            github_port=_integer("GITHUB_PORT", cls.github_port, 1, 65535),
        )
        ports = {
            "PORT": options.port,
            "AWS_PORT": options.aws_port,
            "DISCORD_PORT": options.discord_port,
            "GITHUB_PORT": options.github_port,
        }
        for name, port in ports.items():
            same = [other for other, value in ports.items() if value == port and other != name]
            if same:
                raise OptionError(f"{name} and {same[0]} are both {port}: they need a port each")
        if not 0 < options.batch_window <= 300:
            raise OptionError("LOCAL_BATCH_WINDOW is in seconds, more than 0 and at most 300 (Lambda's limit)")
        # A held batch must not become visible again while the window is still gathering it.
        if options.visibility_timeout <= options.batch_window:
            raise OptionError("LOCAL_VISIBILITY_TIMEOUT must be longer than LOCAL_BATCH_WINDOW")
        if not 0 < options.drain_seconds <= 15:
            raise OptionError("LOCAL_DRAIN_SECONDS is more than 0 and at most 15 (the stack stops within 20 s)")
        return options

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{HOST}:{self.aws_port}"

    @property
    def discord_url(self) -> str:
        """The Discord fake's page, showing the channel the forwarder posts to."""
        return f"http://{HOST}:{self.discord_port}/"

    @property
    def github_url(self) -> str:
        """The GitHub fake the build watch reads (GITHUB_API_URL)."""
        return f"http://{HOST}:{self.github_port}"


def _integer(name: str, default: int, low: int, high: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OptionError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise OptionError(f"{name}={raw!r} is not between {low} and {high}")
    return value


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise OptionError(f"{name}={raw!r} is not a number of seconds") from None
