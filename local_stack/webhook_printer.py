"""A stand-in Discord webhook that prints each message instead of posting it anywhere.

Used when ``WEBHOOK_URL`` is not set: the forwarder posts to it exactly as it would to
Discord (its production code path unchanged), and the message appears in the console.
"""

import contextlib
import itertools
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local_stack.options import HOST

logger = logging.getLogger("local_stack.discord")


class WebhookPrinter:
    """A loopback HTTP server that answers like a Discord webhook with ``?wait=true``."""

    def __init__(self) -> None:
        ids = itertools.count(1)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    shown = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
                except ValueError:
                    shown = body.decode("utf-8", "replace")
                logger.info("Discord message (printed, not sent: WEBHOOK_URL is not set):\n%s", shown)
                # Discord answers a waited-for post with the saved message.
                reply = json.dumps({"id": str(next(ids)), "type": 0, "channel_id": "local"}).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{HOST}:{self._server.server_address[1]}/api/webhooks/local/printed-to-console"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-printer", daemon=True)

    def start(self) -> "WebhookPrinter":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
