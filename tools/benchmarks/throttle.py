"""Lambda's CPU share for a process: a cgroup CPU quota of memory/1769 of one vCPU.

Lambda runs init at full CPU and each invocation at a share proportional to the function's
memory (1,769 MB is one vCPU). A cold-start child moves itself into one of these groups between
its init and its first invocation. cgroup v1's ``cpu`` controller (``cpu.cfs_quota_us`` and
``cpu.cfs_period_us``) and v2's (``cpu.max``) are both understood; where neither can be made
(no root, no controller), ``open_quotas`` yields None and the benchmark reports modelled figures.
"""

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

VCPU_MB = 1769
# Short enough that a short invocation is held to its share as well: with the kernel's default
# 100 ms, a 256 MB function could run 14 ms of work at full speed before the quota bites.
PERIOD_US = 20_000
# The kernel refuses a quota below 1 ms.
MIN_QUOTA_US = 1_000
_PREFIX = "ce-stats-bench"


def share(memory_mb: int) -> float:
    """The fraction of one vCPU Lambda gives a function of ``memory_mb``."""
    return memory_mb / VCPU_MB


@dataclass(frozen=True)
class Quota:
    """One cgroup with a CPU quota; a process joins it by writing its pid to ``procs``."""

    memory_mb: int
    path: Path
    procs: Path
    quota_us: int
    period_us: int


@dataclass(frozen=True)
class Quotas:
    mechanism: str  # "cgroup v1" or "cgroup v2"
    by_memory: dict[int, Quota]


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, type, options) of every cgroup mount."""
    found = []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, point, kind, options, *_ = line.split()
            if kind in ("cgroup", "cgroup2"):
                found.append((point, kind, set(options.split(","))))
    return found


def _v1_root() -> Path | None:
    for point, kind, options in _mounts():
        if kind == "cgroup" and "cpu" in options:
            return Path(point)
    return None


def _v2_root() -> Path | None:
    for point, kind, _ in _mounts():
        controllers = Path(point) / "cgroup.controllers"
        if kind == "cgroup2" and controllers.exists() and "cpu" in controllers.read_text().split():
            return Path(point)
    return None


def _make_v1(root: Path, memory_mb: int) -> Quota:
    quota_us = max(MIN_QUOTA_US, round(PERIOD_US * share(memory_mb)))
    path = root / f"{_PREFIX}-{os.getpid()}-{memory_mb}mb"
    path.mkdir()
    try:
        (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (path / "cpu.cfs_quota_us").write_text(str(quota_us))
    except OSError:
        path.rmdir()
        raise
    return Quota(memory_mb, path, path / "cgroup.procs", quota_us, PERIOD_US)


def _make_v2(root: Path, memory_mb: int) -> Quota:
    quota_us = max(MIN_QUOTA_US, round(PERIOD_US * share(memory_mb)))
    control = root / "cgroup.subtree_control"
    if "cpu" not in control.read_text().split():
        control.write_text("+cpu")
    path = root / f"{_PREFIX}-{os.getpid()}-{memory_mb}mb"
    path.mkdir()
    try:
        (path / "cpu.max").write_text(f"{quota_us} {PERIOD_US}")
    except OSError:
        path.rmdir()
        raise
    return Quota(memory_mb, path, path / "cgroup.procs", quota_us, PERIOD_US)


def _remove(quota: Quota) -> None:
    # Every child has exited by now; one still inside (a timed-out run) is moved out first.
    with contextlib.suppress(OSError):
        parent_procs = quota.path.parent / "cgroup.procs"
        for pid in quota.procs.read_text().split():
            parent_procs.write_text(pid)
    with contextlib.suppress(OSError):
        quota.path.rmdir()


@contextlib.contextmanager
def open_quotas(memory_sizes: Iterable[int]) -> Iterator[Quotas | None]:
    """One quota group per memory size, removed on exit; None where no cgroup can be made (or no sizes)."""
    memory_sizes = sorted(set(memory_sizes))
    made: list[Quota] = []
    quotas: Quotas | None = None
    for mechanism, root_of, make in (("cgroup v1", _v1_root, _make_v1), ("cgroup v2", _v2_root, _make_v2)):
        try:
            root = root_of()
            if root is None or not memory_sizes:
                continue
            for memory_mb in memory_sizes:
                made.append(make(root, memory_mb))
        except OSError:
            for quota in made:
                _remove(quota)
            made = []
            continue
        quotas = Quotas(mechanism, {quota.memory_mb: quota for quota in made})
        break
    try:
        yield quotas
    finally:
        for quota in made:
            _remove(quota)
