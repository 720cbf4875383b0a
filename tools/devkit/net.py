"""Loopback ports, and waiting for something to become true."""

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

from tools.devkit.names import HOST


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def accepts(port: int, host: str = HOST) -> bool:
    """Whether something listens on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def eventually[T](check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy, and return that; AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)


def reply(
    handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str, headers: Mapping[str, str] = {}
) -> None:
    """One whole HTTP answer from a fake's request handler; a client that hung up meanwhile is no error."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


class LocalServer:
    """A threaded HTTP server on loopback, answering ``handler``'s requests from construction until
    ``close`` (or the end of a ``with``): what the fakes, the fault proxy and the tests' little sites are."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0, name: str = "local-server") -> None:
        self._server = ThreadingHTTPServer((HOST, port), handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        # A short poll, so that closing one (every test's teardown) takes milliseconds, not half a second.
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name=name, daemon=True).start()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
