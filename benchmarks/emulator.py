"""moto's server in its own process, with a request counter in front of it.

The counter is WSGI middleware around moto's own application, so it sees every HTTP request
that reaches the emulator, whoever sent it (this process, a fresh cold-start process, the local
stack): the AWS calls are counted on the wire, not by reading the code that makes them.
``GET /_bench/requests`` answers the counts so far; the benchmark's own set-up requests
carry a header that keeps them out of the count.

Run as ``python -m benchmarks.emulator``: it binds a free loopback port and prints it.
"""

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

COUNTS_PATH = "/_bench/requests"
# The benchmark's own set-up and checking requests carry this header and are not counted.
SETUP_HEADER = "X-Bench-Setup"
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_S3_VERBS = {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}


def operation(environ: dict[str, Any]) -> str:
    """``service:Operation`` of one request, from its signature and target header (never its body)."""
    match = _SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = match.group(1) if match else "unsigned"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return f"{service}:{target.rsplit('.', 1)[-1]}"
    if service == "s3":
        return f"s3:{_S3_VERBS.get(environ.get('REQUEST_METHOD', ''), environ.get('REQUEST_METHOD', '?'))}"
    return f"{service}:{environ.get('REQUEST_METHOD', '?')} {environ.get('PATH_INFO', '')}"


class CountingMiddleware:
    """Counts each request by operation, then hands it to moto unchanged."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == COUNTS_PATH:
            with self.lock:
                body = json.dumps(dict(self.counts)).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if not path.startswith("/moto-api") and "HTTP_X_BENCH_SETUP" not in environ:
            with self.lock:
                self.counts[operation(environ)] += 1
        return self.app(environ, start_response)


class Emulator:
    """A counting moto server in a child process, on a free loopback port."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.endpoint = ""

    def __enter__(self) -> "Emulator":
        self.process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.emulator"],
            # The benchmark empties its queues after every call; real SQS allows a purge a minute.
            env={**os.environ, "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        line = self.process.stdout.readline().strip() if self.process.stdout else ""
        if not line.isdigit():
            self.process.kill()
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.endpoint = f"http://127.0.0.1:{line}"
        deadline = time.monotonic() + 30
        while True:
            try:
                self.counts()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def counts(self) -> Counter[str]:
        """Requests per ``service:Operation`` since the emulator started (callers take differences)."""
        with urllib.request.urlopen(self.endpoint + COUNTS_PATH, timeout=10) as response:  # noqa: S310 (loopback)
            return Counter(json.loads(response.read()))


def main() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = CountingMiddleware(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=MotoRequestHandler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
