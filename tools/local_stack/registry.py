"""Which local stacks run on this machine, and where, so a second `make local` can say so.

Each stack writes one small JSON file (its pid, directory and addresses) once it is ready, and
removes it when it stops. The files live in the machine's temporary directory, so a stack
started from another clone or worktree is found too. A file whose process is gone (a stack
killed with SIGKILL) is ignored and removed.
"""

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

DIRECTORY = Path(tempfile.gettempdir()) / "compiler-explorer-stats-local"


@dataclass(frozen=True)
class Running:
    pid: int
    directory: str
    ports: dict[str, int]  # PORT, AWS_PORT, DISCORD_PORT (PORT absent when the API is not served)
    addresses: str  # as the ready line says them

    def describe(self) -> str:
        return f"pid {self.pid}, started in {self.directory}: {self.addresses}"


def register(running: Running, directory: Path = DIRECTORY) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{running.pid}.json"
    path.write_text(json.dumps(asdict(running)))
    return path


def unregister(pid: int, directory: Path = DIRECTORY) -> None:
    with contextlib.suppress(OSError):
        (directory / f"{pid}.json").unlink()


def using(ports: dict[str, int], directory: Path = DIRECTORY) -> list[Running]:
    """The live stacks that use any of ``ports`` (names as in ``Running.ports``)."""
    found = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            running = Running(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if not _alive(running.pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        if set(running.ports.values()) & set(ports.values()):
            found.append(running)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
