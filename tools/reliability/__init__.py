"""The reliability suite's tools: Lambda's SQS event source mapping and asynchronous retries in
miniature, the load generator, the deploy harness and the secret scan (the fault proxy is
``tools.devkit.faultproxy``, which the tests' fixtures share). Development only: nothing here ships to
Lambda; what it shares with the rest is in ``tools.devkit``."""

import os

# `make reliability` sets RELIABILITY_FULL=1 for the full sizes; `make test` runs the quick ones.
FULL = os.environ.get("RELIABILITY_FULL", "") == "1"


def scale(quick: int, full: int) -> int:
    """``full`` under `make reliability`, ``quick`` otherwise."""
    return full if FULL else quick
