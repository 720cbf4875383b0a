"""Starting the stack from Python (tests, load and failure tests) on ports of your choosing.

    with launcher.running(batch_window=1) as stack:
        requests.post(f"{stack.api_url}/pageload?icons=intel")
        requests.get(f"{stack.discord_url}_fake/messages")  # what the forwarder posted, as the page shows it
        stack.client("s3").list_objects_v2(Bucket="compiler-explorer-logs", Prefix="stats/")
        stack.kill_runtime()      # SIGKILL the event runtime, mid-batch if it holds one
        stack.wait_for_runtime()  # the stack has started a new one
        assert stack.stop() == 0  # SIGTERM to its process group: flush, then exit 0

The stack runs as ``python -m tools.local_stack`` in a process group of its own, exactly as
``make local`` runs it; everything it prints is kept in ``output``.
"""

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tools.devkit import names, net
from tools.devkit.process import OutputProcess

# The page's part is optional, so a line from before the page still parses.
PORT_ATTEMPTS = 3
READY = re.compile(r"\[stack\] ready: API ([^\s,]+), AWS emulator ([^\s,]+)(?:, alerts page (\S+))?")
# What tools.local_stack.events prints once it polls; the stack (tools.local_stack.stack) watches for it too.
RUNTIME_READY = re.compile(r"\[events\] runtime ready \(pid (\d+)\)")


class StackProcess:
    """A running ``python -m tools.local_stack`` and what it has printed."""

    def __init__(self, process: OutputProcess) -> None:
        self.process = process
        self.api_url = ""
        self.aws_endpoint = ""
        self.discord_url = ""  # the Discord fake's page (its webhook is {discord_url}api/webhooks/...)
        self.github_url = ""  # the GitHub fake the build watch reads (tools.local_stack.watch --github-url)

    @property
    def lines(self) -> list[str]:
        return self.process.lines

    @property
    def output(self) -> str:
        return self.process.output

    def wait_for_line(self, pattern: str | re.Pattern[str], timeout: float, after: int = 0) -> re.Match[str]:
        """The first printed line from index ``after`` on that matches ``pattern``; raises on timeout or exit."""
        return self.process.wait_for_line(pattern, timeout, after)

    def wait_until_ready(self, timeout: float) -> None:
        match = self.wait_for_line(READY, timeout)
        api = "" if match[1] == "none" else match[1]  # --no-api: chalice local serves it, if anything
        self.api_url, self.aws_endpoint, self.discord_url = api, match[2], match[3] or ""

    @property
    def runtime_pid(self) -> int:
        """The pid of the event runtime that started last."""
        pids = [int(m[1]) for line in list(self.lines) if (m := RUNTIME_READY.search(line))]
        if not pids:
            raise LookupError("no event runtime has started yet")
        return pids[-1]

    def kill_runtime(self) -> int:
        """SIGKILL the event runtime (a crash mid-batch, as far as SQS can tell); its pid."""
        pid = self.runtime_pid
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_for_runtime(self, other_than: int | None = None, timeout: float = 30) -> int:
        """Wait for an event runtime other than ``other_than`` (default: the current one) to be ready."""
        old = self.runtime_pid if other_than is None else other_than
        return net.eventually(
            lambda: (pid := self.runtime_pid) != old and pid, timeout, f"an event runtime other than {old}", 0.1
        )

    def client(self, service: str) -> Any:
        """A boto3 client for the stack's emulator."""
        return names.client(service, self.aws_endpoint)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` to the stack's process group (as Ctrl-C or a service manager would); its exit code."""
        return self.process.stop(timeout, sig)

    def kill(self) -> None:
        """SIGKILL the whole group (a last resort: nothing is flushed)."""
        self.process.kill()


def start(
    *,
    port: int | None = None,
    aws_port: int | None = None,
    discord_port: int | None = None,
    github_port: int | None = None,
    batch_window: float | None = None,
    visibility_timeout: int | None = None,
    webhook_url: str | None = None,
    archive_copy: str = "",
    env: dict[str, str] | None = None,
    ready_timeout: float = 90,
    args: tuple[str, ...] = (),
) -> StackProcess:
    """Start ``python -m tools.local_stack`` (free ports unless given) and wait until it serves.

    Unlike `make local`, it keeps no copy of the archive on shutdown unless ``archive_copy`` names a directory.
    """
    given = {"PORT": port, "AWS_PORT": aws_port, "DISCORD_PORT": discord_port, "GITHUB_PORT": github_port}
    for attempt in range(1, PORT_ATTEMPTS + 1):
        # A port found free can be taken before the stack binds it (another test's server, an
        # outgoing connection): then the stack says "is in use" and exits, and fresh ports are tried.
        picked = _distinct_free_ports(sum(1 for value in given.values() if value is None))
        settings = {
            **{name: value or picked.pop() for name, value in given.items()},
            "LOCAL_BATCH_WINDOW": batch_window,
            "LOCAL_VISIBILITY_TIMEOUT": visibility_timeout,
            "WEBHOOK_URL": webhook_url,
            "LOCAL_ARCHIVE_COPY": archive_copy,
        }
        environment = {**os.environ, **{k: str(v) for k, v in settings.items() if v is not None}, **(env or {})}
        if webhook_url is None and "WEBHOOK_URL" not in (env or {}):
            environment.pop("WEBHOOK_URL", None)
        stack = StackProcess(OutputProcess.python("tools.local_stack", *args, env=environment))
        stack.github_url = f"http://{names.HOST}:{environment['GITHUB_PORT']}"
        try:
            stack.wait_until_ready(ready_timeout)
            return stack
        except Exception:
            stack.kill()
            taken = " is in use" in stack.output or "Address already in use" in stack.output
            if attempt == PORT_ATTEMPTS or None not in given.values() or not taken:
                raise
        except BaseException:
            stack.kill()
            raise
    raise AssertionError("unreachable")


def _distinct_free_ports(count: int) -> list[int]:
    found: set[int] = set()
    while len(found) < count:
        found.add(net.free_port())
    return list(found)


@contextmanager
def running(**options: Any) -> Iterator[StackProcess]:
    """``start(**options)``, and on the way out stop it (SIGTERM, then SIGKILL if it hangs)."""
    stack = start(**options)
    try:
        yield stack
    finally:
        if stack.process.exited() is None:
            stack.stop()
