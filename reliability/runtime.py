"""The local stack's event runtime (``python -m local_stack.events``) as a process of our own.

The stack starts its runtime against its emulator directly; to kill one *inside* the archiver,
at a moment of our choosing, the suite starts the same module itself with ``AWS_ENDPOINT_URL``
pointing at a fault proxy, so that an S3 write can be held open while the process is killed.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from local_stack.launcher import RUNTIME_READY

ROOT = Path(__file__).resolve().parent.parent


class Runtime:
    """One ``python -m local_stack.events`` process and what it printed."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_stack.events"],
            cwd=ROOT,
            env={**environment, "PYTHONUNBUFFERED": "1", "PATH": os.environ.get("PATH", "")},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None  # noqa: S101 (Popen was given stdout=PIPE)
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(RUNTIME_READY.search(line) for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise TimeoutError(f"the event runtime did not start:\n{self.output[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: nothing is flushed, nothing deleted; as a crashed Lambda instance."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
