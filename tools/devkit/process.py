"""Child processes: starting one and reading what it prints, and what a child does to behave.

Parent side: ``OutputProcess`` runs a command in a session of its own (so a signal to it reaches
its whole group and nothing else), keeps every line it prints, and waits for a line. ``chalice``
runs the venv's Chalice CLI. Child side: ``stop_event``, ``exit_with_parent`` and ``log_to_stdout``.
"""

import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
# Set for a child whose stdin is a pipe from its parent, open while the parent lives.
LIFELINE = "DEVKIT_LIFELINE"


class OutputProcess:
    """A running command and everything it has printed (stdout and stderr together)."""

    def __init__(
        self,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path = PROJECT_DIR,
        lifeline: bool = False,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        environment = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
        if lifeline:
            environment[LIFELINE] = "stdin"
        self.lines: list[str] = []
        self._on_line = on_line
        self._changed = threading.Condition()
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and tools)
            args,
            cwd=cwd,
            env=environment,
            stdin=subprocess.PIPE if lifeline else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"output-{self.process.pid}", daemon=True)
        self._reader.start()

    @classmethod
    def python(cls, module: str, *args: str, **options: object) -> "OutputProcess":
        """``python -m module args`` with this interpreter."""
        return cls([sys.executable, "-m", module, *args], **options)  # type: ignore[arg-type]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def exited(self) -> int | None:
        """The exit code (negative: the signal that ended it), or None while it runs."""
        return self.process.poll()

    def wait_for_line(self, pattern: str | re.Pattern[str], timeout: float, after: int = 0) -> re.Match[str]:
        """The first line from index ``after`` on that matches; TimeoutError (with the output) if none comes."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            seen = after
            while True:
                for line in self.lines[seen:]:
                    if match := regex.search(line):
                        return match
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    tail = "".join(self.lines[-40:])
                    raise TimeoutError(f"no line matching {regex.pattern!r} within {timeout} s; last output:\n{tail}")
                self._changed.wait(min(left, 0.5))

    def send(self, sig: int) -> None:
        """Send ``sig`` to the process's group (as Ctrl-C or a service manager would)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 30, sig: int = signal.SIGTERM) -> int:
        """``sig`` to the group, up to ``timeout`` s to exit, then SIGKILL; the exit code."""
        self.send(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.process.stdin:
            self.process.stdin.close()
        self._reader.join(timeout=5)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL to the group: nothing is flushed, as when a Lambda instance dies."""
        self.send(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)

    def __enter__(self) -> "OutputProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(timeout=10)

    def _read(self) -> None:
        assert self.process.stdout is not None  # noqa: S101 (Popen was given stdout=PIPE)
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
            if self._on_line:
                self._on_line(line)
        with self._changed:
            self._changed.notify_all()


def chalice(*args: str, cwd: Path = PROJECT_DIR, env: dict[str, str] | None = None, timeout: float = 600):
    """Run the venv's ``chalice`` with ``args``; the completed process (never raises on failure)."""
    environment = {**(os.environ if env is None else env)}
    environment.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return subprocess.run(  # noqa: S603 (the venv's own chalice, fixed arguments)
        [str(Path(sys.executable).parent / "chalice"), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_python(*args: str, env: dict[str, str], timeout: float = 60) -> str:
    """``python *args`` in a fresh interpreter in the project; what it printed (RuntimeError with the end of
    its standard error if it failed)."""
    child = subprocess.run(  # noqa: S603 (this interpreter, the caller's arguments)
        [sys.executable, *args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if child.returncode != 0:
        raise RuntimeError(f"python {' '.join(args)[:80]} failed: {child.stderr[-3000:]}")
    return child.stdout


# The child's side


def stop_event() -> threading.Event:
    """An event set by SIGTERM or SIGINT (instead of KeyboardInterrupt and a traceback)."""
    event = threading.Event()

    def handle(signum: int, frame: object) -> None:
        event.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    return event


def exit_with_parent() -> None:
    """End this process at once when the parent's end of our stdin pipe closes (it died or stopped us)."""

    def watch() -> None:
        # os.read, not sys.stdin: a buffered reader blocked in a daemon thread aborts the interpreter at exit.
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        os._exit(0)

    if os.environ.get(LIFELINE) == "stdin":
        threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def log_to_stdout(part: str, parts: dict[str, str] | None = None) -> None:
    """Log lines to stdout, line by line, marked with the part they come from.

    ``parts`` names the part for loggers under a prefix (``{"chalicelib": "api"}``); the rest are ``part``.
    """
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d [%(part)s] %(message)s", datefmt="%H:%M:%S"))
    prefixes = sorted((parts or {}).items(), key=lambda entry: -len(entry[0]))

    def mark(record: logging.LogRecord) -> bool:
        record.part = next((name for prefix, name in prefixes if record.name.startswith(prefix)), part)
        return True

    handler.addFilter(mark)
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    # The app's own modules and the tooling narrate at INFO; libraries only speak up when worried.
    for name in ("chalicelib", "tools.local_stack", "tools.devkit", "app"):
        logging.getLogger(name).setLevel(logging.INFO)
