"""Starting the stack from Python (tests, load and failure tests) on ports of your choosing.

    with launcher.running(batch_window=1) as stack:
        requests.post(f"{stack.api_url}/pageload?icons=intel")
        stack.client("s3").list_objects_v2(Bucket="compiler-explorer-logs", Prefix="stats/")
        stack.kill_runtime()      # SIGKILL the event runtime, mid-batch if it holds one
        stack.wait_for_runtime()  # the stack has started a new one
        assert stack.stop() == 0  # SIGTERM to its process group: flush, then exit 0

The stack runs as ``python -m local_stack`` in a process group of its own, exactly as
``make local`` runs it; everything it prints is kept in ``output``.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from local_stack.applocal import PROJECT_DIR
from local_stack.options import CREDENTIALS, REGION

READY = re.compile(r"\[stack\] ready: API (\S+), AWS emulator (\S+)")
RUNTIME_READY = re.compile(r"\[events\] runtime ready \(pid (\d+)\)")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StackProcess:
    """A running ``python -m local_stack`` and what it has printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self.api_url = ""
        self.aws_endpoint = ""
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="stack-output", daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for_line(self, pattern: str | re.Pattern[str], timeout: float, after: int = 0) -> re.Match[str]:
        """The first printed line from index ``after`` on that matches ``pattern``; raises on timeout or exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            seen = after
            while True:
                for line in self.lines[seen:]:
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    tail = "".join(self.lines[-40:])
                    raise TimeoutError(f"no line matching {regex.pattern!r} within {timeout} s; last output:\n{tail}")
                self._changed.wait(min(left, 0.5))

    def wait_until_ready(self, timeout: float) -> None:
        match = self.wait_for_line(READY, timeout)
        self.api_url, self.aws_endpoint = match[1], match[2]

    @property
    def runtime_pid(self) -> int:
        """The pid of the event runtime that started last."""
        with self._changed:
            pids = [int(m[1]) for line in self.lines if (m := RUNTIME_READY.search(line))]
        if not pids:
            raise LookupError("no event runtime has started yet")
        return pids[-1]

    def kill_runtime(self) -> int:
        """SIGKILL the event runtime (a crash mid-batch, as far as SQS can tell); its pid."""
        pid = self.runtime_pid
        os.kill(pid, signal.SIGKILL)
        return pid

    def restart_runtime(self) -> None:
        """Ask the stack for a new event runtime (SIGUSR1): the old one flushes what it holds first."""
        os.kill(self.process.pid, signal.SIGUSR1)

    def wait_for_runtime(self, other_than: int | None = None, timeout: float = 30) -> int:
        """Wait for an event runtime other than ``other_than`` (default: the current one) to be ready."""
        old = self.runtime_pid if other_than is None else other_than
        deadline = time.monotonic() + timeout
        while True:
            pid = self.runtime_pid
            if pid != old:
                return pid
            with self._changed:
                count = len(self.lines)
            self.wait_for_line(RUNTIME_READY, max(0.1, deadline - time.monotonic()), after=count)

    def client(self, service: str) -> Any:
        """A boto3 client for the stack's emulator."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.aws_endpoint,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` to the stack's process group (as Ctrl-C or a service manager would); its exit code."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(timeout=5)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the whole group (a last resort: nothing is flushed)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def _read(self) -> None:
        assert self.process.stdout is not None  # noqa: S101 (Popen was given stdout=PIPE)
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()


def start(
    *,
    port: int | None = None,
    aws_port: int | None = None,
    batch_window: float | None = None,
    visibility_timeout: int | None = None,
    webhook_url: str | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = 90,
) -> StackProcess:
    """Start ``python -m local_stack`` (free ports unless given) and wait until it serves."""
    settings = {
        "PORT": port or free_port(),
        "AWS_PORT": aws_port or free_port(),
        "LOCAL_BATCH_WINDOW": batch_window,
        "LOCAL_VISIBILITY_TIMEOUT": visibility_timeout,
        "WEBHOOK_URL": webhook_url,
    }
    environment = {**os.environ, **{k: str(v) for k, v in settings.items() if v is not None}, **(env or {})}
    if webhook_url is None and "WEBHOOK_URL" not in (env or {}):
        environment.pop("WEBHOOK_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local_stack"],
        cwd=PROJECT_DIR,
        env={**environment, "PYTHONUNBUFFERED": "1"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stack = StackProcess(process)
    try:
        stack.wait_until_ready(ready_timeout)
    except BaseException:
        stack.kill()
        raise
    return stack


@contextmanager
def running(**options: Any) -> Iterator[StackProcess]:
    """``start(**options)``, and on the way out stop it (SIGTERM, then SIGKILL if it hangs)."""
    stack = start(**options)
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.stop()
