"""The reliability suite's tools: a fault-injecting proxy in front of moto, an SQS poller that
behaves like Lambda's event source mapping, Discord's limits, the load generator, the deploy
harness. Development only: nothing here ships to Lambda."""

import os
import time
from collections.abc import Callable

# `make reliability` sets RELIABILITY_FULL=1 for the full sizes; `make test` runs the quick ones.
FULL = os.environ.get("RELIABILITY_FULL", "") == "1"


def scale(quick: int, full: int) -> int:
    """``full`` under `make reliability`, ``quick`` otherwise."""
    return full if FULL else quick


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``condition`` until it is true; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
