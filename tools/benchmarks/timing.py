"""Latency summaries and the interleaved runner both sides are timed with."""

import contextlib
import io
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tools.devkit.moto import MotoProcess as Emulator


@dataclass
class Sample:
    """What one variant cost over its timed calls."""

    latencies: list[float] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    results: list[Any] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return len(self.latencies)

    def summary(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "aws_requests_per_call": sum(self.requests.values()) / self.calls if self.calls else None,
            "requests_by_operation_per_call": {op: n / self.calls for op, n in sorted(self.requests.items())},
            "median_ms": median_ms(self.latencies),
            "p95_ms": p95_ms(self.latencies),
        }


def median_ms(seconds: list[float]) -> float | None:
    return round(statistics.median(seconds) * 1000, 3) if seconds else None


def percentile_ms(seconds: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``fraction`` 0.95: p95) of durations in seconds, in ms."""
    if not seconds:
        return None
    ordered = sorted(seconds)
    return round(ordered[max(0, math.ceil(fraction * len(ordered)) - 1)] * 1000, 3)


def p95_ms(seconds: list[float]) -> float | None:
    return percentile_ms(seconds, 0.95)


def ratio(ours: float | None, theirs: float | None) -> float | None:
    return round(ours / theirs, 3) if ours is not None and theirs else None


class _Discard(io.TextIOBase):
    def write(self, text: str) -> int:
        return len(text)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Both sides print an EMF record per page load; neither should pay for a terminal."""
    with contextlib.redirect_stdout(_Discard()):
        yield


def interleaved(
    emulator: Emulator,
    variants: dict[str, Callable[[], Any]],
    calls: int,
    block: int = 10,
    before_block: Callable[[str], None] | None = None,
    after_call: Callable[[str], None] | None = None,
) -> dict[str, Sample]:
    """Time ``calls`` calls of each variant, in alternating blocks so drift on the machine hits all alike.

    The emulator's counter is read around each block, so each sample's request count is exactly
    what its own timed calls sent over HTTP (``after_call`` runs untimed, with uncounted requests).
    """
    samples = {name: Sample() for name in variants}
    order = list(variants)
    done = 0
    while done < calls:
        size = min(block, calls - done)
        for name in order:
            if before_block:
                before_block(name)
            call = variants[name]
            before = emulator.counts()
            with quiet_stdout():
                for _ in range(size):
                    start = time.perf_counter()
                    result = call()
                    samples[name].latencies.append(time.perf_counter() - start)
                    samples[name].results.append(result)
                    if after_call:
                        after_call(name)
            samples[name].requests.update(emulator.counts() - before)
        order = order[1:] + order[:1]
        done += size
    return samples
