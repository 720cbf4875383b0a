"""Test helpers that talk to real things: a moto server, and a local Discord webhook receiver."""

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from reliability.sqs import drain


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Reply:
    """One scripted answer of the fake Discord: status, JSON body, headers, and a delay first."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class ReceivedPost:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """A real HTTP server on loopback that records every POST and answers from a script."""

    def __init__(self) -> None:
        self.posts: list[ReceivedPost] = []
        self.script: list[Reply] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.posts.append(ReceivedPost(self.path, dict(self.headers), body))
                    reply = receiver.script.pop(0) if receiver.script else Reply(200, {"id": "1"})
                if reply.delay:
                    time.sleep(reply.delay)
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/webhooks/123/secret-token"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "WebhookReceiver":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def drain_queue(sqs: Any, queue_url: str) -> list[str]:
    """Every message body now on the queue, received and deleted."""
    bodies: list[str] = []
    drain(sqs, queue_url, into=bodies)
    return bodies


def archived_objects(s3: Any, bucket: str) -> Iterator[tuple[str, str]]:
    """(key, text) of every object under stats/, in key order."""
    listing = s3.list_objects_v2(Bucket=bucket, Prefix="stats/")
    for entry in sorted(listing.get("Contents", []), key=lambda e: e["Key"]):
        yield entry["Key"], s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read().decode()
