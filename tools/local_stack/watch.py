"""Run the build watch now, against the local stack: ``python -m tools.local_stack.watch``.

The real ``watch_builds`` handler, loaded as ``chalice local`` loads the app and invoked as Lambda
invokes a scheduled function (an EventBridge "Scheduled Event" and a Lambda context), with the
environment the stack gives it: the emulator for AWS, the stack's GitHub fake for ``GITHUB_API_URL``,
the token read from SSM as in production (``GITHUB_TOKEN_PARAMETER``), the ``BUILD_WATCH_*``
settings. It prints one line: how long the run took and what reached the Discord channel (messages
that ping, quiet ones, edits in place), which the alerts page shows. Run it as often as you like:
each run is a new event, and a run over unchanged data posts nothing new.

    .venv/bin/python -m tools.local_stack.watch [--endpoint-url URL] [--github-url URL] [--page-url URL]
"""

import argparse
import json
import logging
import os
import sys
import time
import urllib.request
from typing import Any

from tools.devkit import names
from tools.devkit.names import GITHUB_TOKEN_PARAMETER, HOST, WORKFLOWS_REPOSITORY

HANDLER = "watch_builds"
DEFAULT_GITHUB_PORT = 8002
FEED_PATH = "_fake/messages"  # tools.devkit.discord.page's JSON view of the channel
# The watch's own settings, at the defaults, written out so the local run shows them.
SETTINGS = {
    "BUILD_WATCH_REPOSITORY": WORKFLOWS_REPOSITORY,
    "BUILD_WATCH_PATH": "compilers.yaml",
    "BUILD_WATCH_REF": "main",
    "BUILD_WATCH_STALE_DAYS": "7",
    "BUILD_WATCH_FAILING_DAYS": "3",
    "BUILD_WATCH_SILENT_DAYS": "2",
}


def environment(github_url: str) -> dict[str, str]:
    """What the watch function reads besides the stage's variables and the emulator's endpoint."""
    return {"GITHUB_API_URL": github_url, "GITHUB_TOKEN_PARAMETER": GITHUB_TOKEN_PARAMETER, **SETTINGS}


def channel(page_url: str) -> dict[str, dict[str, Any]] | None:
    """The alerts page's messages by id, or None when the page cannot be read."""
    try:
        with urllib.request.urlopen(page_url.rstrip("/") + "/" + FEED_PATH, timeout=5) as response:  # noqa: S310
            return {m["id"]: m for m in json.load(response)["messages"]}
    except (OSError, ValueError, KeyError):
        return None


def summary(seconds: float, before: dict[str, Any] | None, after: dict[str, Any] | None, page_url: str) -> str:
    """The one line a run prints: its time and what it changed in the channel."""
    if before is None or after is None:
        return f"{HANDLER} ran in {seconds:.1f} s (the alerts page at {page_url} could not be read)"
    new = [m for i, m in after.items() if i not in before]
    pinging = sum(not m["quiet"] for m in new)
    edited = sum(len(m["versions"]) > len(before[i]["versions"]) for i, m in after.items() if i in before)
    if not new and not edited:
        changed = "nothing new in Discord (a run over unchanged data posts nothing)"
    else:
        changed = f"Discord: {pinging} new message(s) that ping, {len(new) - pinging} quiet, {edited} edited in place"
    return f"{HANDLER} ran in {seconds:.1f} s: {changed}; see {page_url}"


def main(argv: list[str] | None = None) -> int:
    port = os.environ.get("AWS_PORT") or 5000
    github_port = os.environ.get("GITHUB_PORT") or DEFAULT_GITHUB_PORT
    discord_port = os.environ.get("DISCORD_PORT") or 8001
    parser = argparse.ArgumentParser(prog="python -m tools.local_stack.watch", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default=f"http://{HOST}:{port}", help="the emulator (default: %(default)s)")
    parser.add_argument("--github-url", default=f"http://{HOST}:{github_port}", help="the GitHub fake (%(default)s)")
    parser.add_argument("--page-url", default=f"http://{HOST}:{discord_port}/", help="the alerts page (%(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[watch] %(levelname)s %(name)s: %(message)s")

    # Loaded as `chalice local` loads it, then the environment the stack gives its functions. A real
    # GITHUB_TOKEN in this shell must never reach the fake: the token comes from the emulator's SSM.
    from tools.local_stack import applocal
    from tools.local_stack.events import lambda_context
    from tools.local_stack.options import STAGE

    app, config = applocal.load(STAGE)
    os.environ.pop("GITHUB_TOKEN", None)
    for variable in names.FOREIGN_AWS_VARIABLES:
        os.environ.pop(variable, None)
    os.environ.update(
        {
            **config.scope(STAGE, HANDLER).environment_variables,
            **names.aws_environment(args.endpoint_url),
            **environment(args.github_url),
        }
    )
    handler = app.handler_map.get(HANDLER)
    if handler is None:
        print(f"this app has no {HANDLER} function (app.py defines none)", file=sys.stderr)
        return 2
    from tools.devkit.lambda_events import scheduled_event

    before = channel(args.page_url)
    started = time.perf_counter()
    try:
        handler(scheduled_event(), lambda_context(config, HANDLER))
    except Exception as error:  # as Lambda reports a failed invocation: its type and message
        logging.getLogger("tools.local_stack.watch").exception("%s failed", HANDLER)
        print(f"{HANDLER} failed after {time.perf_counter() - started:.1f} s: {type(error).__name__}: {error}")
        return 1
    seconds = time.perf_counter() - started
    print(summary(seconds, before, channel(args.page_url), args.page_url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
