"""The API on Chalice's own local server (what ``chalice local`` runs), one thread per connection.

Two things are added around Chalice's request handler: requests in progress are counted, so
that stopping waits for each accepted page load to reach the queue before the final flush;
and once stopping, a kept-alive connection gets 503 instead of a new page load.
"""

import functools
import logging
import threading
import time
from typing import Any

from chalice import Chalice
from chalice.config import Config
from chalice.local import ChaliceRequestHandler, LocalDevServer, create_local_server

logger = logging.getLogger("tools.local_stack.api")

# Concurrent clients (browsers, load tests) open many connections at once; the default
# listen backlog of 5 would turn a burst into refused connections.
LISTEN_BACKLOG = 256


class _Requests:
    def __init__(self) -> None:
        self.active = 0
        self.closing = False
        self.changed = threading.Condition()


class _CountingHandler(ChaliceRequestHandler):
    requests: _Requests

    def _counted(self) -> None:
        with self.requests.changed:
            if self.requests.closing:
                refuse = True
            else:
                refuse = False
                self.requests.active += 1
        if refuse:
            self.close_connection = True
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        try:
            self._generic_handle()
        finally:
            with self.requests.changed:
                self.requests.active -= 1
                self.requests.changed.notify_all()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _counted

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


class ApiServer:
    """Chalice's LocalDevServer for ``app``, served from a thread until ``stop``."""

    def __init__(self, app: Chalice, config: Config, host: str, port: int) -> None:
        self._requests = _Requests()
        # create_local_server also makes app.current_request thread-local, which threading needs.
        self._server: LocalDevServer = create_local_server(app, config, host, port)
        handler = type("Handler", (_CountingHandler,), {"requests": self._requests})
        self._server.server.RequestHandlerClass = functools.partial(handler, app_object=app, config=config)
        self._server.server.socket.listen(LISTEN_BACKLOG)
        self._thread = threading.Thread(target=self._server.server.serve_forever, name="api", daemon=True)

    def start(self) -> "ApiServer":
        self._thread.start()
        return self

    def stop(self, grace_seconds: float) -> int:
        """Stop accepting, wait up to ``grace_seconds`` for requests in progress; return how many remain."""
        with self._requests.changed:
            self._requests.closing = True
        self._server.shutdown()
        self._server.server.server_close()
        deadline = time.monotonic() + grace_seconds
        with self._requests.changed:
            while self._requests.active and time.monotonic() < deadline:
                self._requests.changed.wait(max(0.0, deadline - time.monotonic()))
            return self._requests.active
