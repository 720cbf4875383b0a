"""The reliability suite's tools: a fault-injecting proxy in front of moto, an SQS poller that
behaves like Lambda's event source mapping, Discord's limits, the load generator, the deploy
harness. Development only: nothing here ships to Lambda."""

import os

# `make reliability` sets RELIABILITY_FULL=1 for the full sizes; `make test` runs the quick ones.
FULL = os.environ.get("RELIABILITY_FULL", "") == "1"


def scale(quick: int, full: int) -> int:
    """``full`` under `make reliability`, ``quick`` otherwise."""
    return full if FULL else quick
