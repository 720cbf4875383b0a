"""A fault-injecting HTTP proxy in front of moto's server.

The app's boto3 clients are pointed at the proxy (``AWS_ENDPOINT_URL``); everything is forwarded
to moto unchanged except the requests a ``Rule`` matches, for its first ``times`` matches: those
are answered with an error, a ``SendMessageBatch`` reply with ``Failed`` entries (only the other
entries are really sent), a reply lost after the write happened, or a hang. Faults therefore hit
the app at the same boundary a real AWS outage would: botocore's own retries, error parsing and
timeouts all run for real.
"""

import contextlib
import http.client
import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tools.devkit import net
from tools.devkit.names import HOST

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass
class Exchange:
    """One request as the proxy received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers.items() if key.lower() == name.lower()), "")

    @property
    def action(self) -> str:
        """The AWS operation: ``SendMessageBatch``, ``Query``, ``PUT /bucket/key``..."""
        target = self.header("X-Amz-Target")
        if target:
            return target.rsplit(".", 1)[-1]
        if self.header("Content-Type").startswith("application/x-www-form-urlencoded"):
            form = urllib.parse.parse_qs(self.body.decode("utf-8", "replace"))
            if "Action" in form:
                return form["Action"][0]
        return f"{self.method} {urllib.parse.urlsplit(self.path).path}"

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False  # drop the connection instead of answering


Forward = Callable[[Exchange], Answer]
Act = Callable[[Exchange, Forward], Answer]


@dataclass
class Rule:
    """For the first ``times`` requests that ``matches`` accepts (all if None), ``act`` answers."""

    matches: Callable[[Exchange], bool]
    act: Act
    times: int | None = None
    hits: int = 0


class FaultProxy(net.LocalServer):
    """A threaded HTTP server on loopback that forwards to ``upstream`` unless a rule applies."""

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._local = threading.local()
        self.actions: list[str] = []  # every request's action, in arrival order
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore expects
            # One write per answer and no Nagle: otherwise delayed ACKs add ~40 ms to every request.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def handle_expect_100(self) -> bool:
                # botocore waits up to a second for "100 Continue" before an S3 body: send it now.
                self.send_response_only(100)
                self.end_headers()
                self.wfile.flush()
                return True

            def _handle(self) -> None:
                exchange = Exchange(self.command, self.path, dict(self.headers.items()), self._read_body())
                answer = proxy._answer(exchange)
                if answer.close:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(2)
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        if name.lower() not in _HOP_BY_HOP:
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(answer.body)

            def _read_body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(Handler, name="fault-proxy")
        self.url = f"http://{HOST}:{self.port}"

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self.actions.clear()

    def count(self, action: str) -> int:
        """How many requests for ``action`` arrived (faulted or not)."""
        with self._lock:
            return self.actions.count(action)

    def _answer(self, exchange: Exchange) -> Answer:
        with self._lock:
            self.actions.append(exchange.action)
            rule = next((r for r in self._rules if (r.times is None or r.hits < r.times) and r.matches(exchange)), None)
            if rule is not None:
                rule.hits += 1
        if rule is None:
            return self.forward(exchange)
        return rule.act(exchange, self.forward)

    def forward(self, exchange: Exchange) -> Answer:
        """Send ``exchange`` to moto and return its answer."""
        headers = {k: v for k, v in exchange.headers.items() if k.lower() not in _HOP_BY_HOP}
        headers["Content-Length"] = str(len(exchange.body))
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(exchange.method, exchange.path, body=exchange.body, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (http.client.HTTPException, OSError):
                # A kept-alive upstream connection may have been closed by moto: reconnect once.
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
                continue
            return Answer(response.status, body, dict(response.getheaders()))
        raise AssertionError("unreachable")

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection(*self._upstream, timeout=60)
            self._local.connection = connection
        return connection


# ---- what to match ----------------------------------------------------------------------------


def action(name: str) -> Callable[[Exchange], bool]:
    return lambda exchange: exchange.action == name


def s3_put(bucket: str) -> Callable[[Exchange], bool]:
    """A PutObject into ``bucket`` (path-style addressing, as botocore uses with an endpoint URL)."""

    def matches(exchange: Exchange) -> bool:
        parts = urllib.parse.urlsplit(exchange.path)
        return exchange.method == "PUT" and parts.path.startswith(f"/{bucket}/") and not parts.query

    return matches


# ---- what to answer ---------------------------------------------------------------------------


def json_error(status: int, error_type: str, message: str = "injected fault") -> Act:
    """An error in the JSON protocols' shape (SQS, DynamoDB): ``__type`` names the error."""
    body = json.dumps({"__type": error_type, "message": message}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": str(uuid.uuid4())}
    return lambda exchange, forward: Answer(status, body, headers)


def xml_error(status: int, code: str, message: str = "injected fault") -> Act:
    """An error in S3's XML shape."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"<RequestId>{uuid.uuid4().hex}</RequestId></Error>"
    ).encode()
    return lambda exchange, forward: Answer(status, body, {"Content-Type": "application/xml"})


def fail_entries(select: Callable[[int, dict[str, Any]], bool], code: str = "InternalError") -> Act:
    """A SendMessageBatch where the ``select``ed entries come back Failed and only the rest are sent."""

    def act(exchange: Exchange, forward: Forward) -> Answer:
        request = exchange.json()
        entries = request.get("Entries", [])
        failing = [entry for index, entry in enumerate(entries) if select(index, entry)]
        passing = [entry for entry in entries if entry not in failing]
        successful: list[dict[str, Any]] = []
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": code, "Message": "injected fault"} for e in failing]
        if passing:
            sent = forward(
                Exchange(exchange.method, exchange.path, exchange.headers, _json({**request, "Entries": passing}))
            )
            if sent.status != 200:
                return sent
            reply = json.loads(sent.body)
            successful = reply.get("Successful", [])
            failed += reply.get("Failed", [])
        body = _json({"Successful": successful, "Failed": failed})
        return Answer(200, body, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": str(uuid.uuid4())})

    return act


def lose_reply(error: Act) -> Act:
    """The request is carried out, but the caller hears ``error``: the classic source of duplicates."""

    def act(exchange: Exchange, forward: Forward) -> Answer:
        forward(exchange)
        return error(exchange, forward)

    return act


def hang(release: threading.Event, seconds: float = 60.0, *, after_forwarding: bool = False) -> Act:
    """Say nothing until ``release`` is set (or ``seconds`` pass), then drop the connection.

    With ``after_forwarding`` the request reaches moto first: the write happened, the caller
    never hears so.
    """

    def act(exchange: Exchange, forward: Forward) -> Answer:
        if after_forwarding:
            forward(exchange)
        release.wait(seconds)
        return Answer(0, close=True)

    return act


def drop_connection() -> Act:
    return lambda exchange, forward: Answer(0, close=True)


def patch_json(edit: Callable[[Any], Any]) -> Act:
    """Forward the request with its JSON body edited: a shim for an emulator gap."""

    def act(exchange: Exchange, forward: Forward) -> Answer:
        body = _json(edit(exchange.json()))
        return forward(Exchange(exchange.method, exchange.path, exchange.headers, body))

    return act


def record(into: list[tuple[Exchange, Answer]]) -> Act:
    """Forward unchanged, keeping each request and moto's answer: what really reached the emulator."""

    def act(exchange: Exchange, forward: Forward) -> Answer:
        answer = forward(exchange)
        into.append((exchange, answer))
        return answer

    return act


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()
