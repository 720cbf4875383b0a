"""A Discord webhook on loopback that behaves like Discord's, for the tests, the benchmark and `make local`.

It keeps the channel's messages as Discord does: ``POST`` (``?wait=true`` answers the saved message
with its id), ``GET``, ``PATCH`` and ``DELETE`` on ``/messages/{id}``, and ``GET`` on the webhook
itself (its server and channel, for jump links); an unknown message is a 404 with code 10008, an
unknown webhook a 404 with code 10015. Every message, and every message as an edit leaves it, is
checked against Discord's limits (``discord_limits``): one over them is refused with Discord's 400
(code 50035) and changes nothing. An edit replaces the whole embed list it sends, and Discord keeps
no ``allowed_mentions``: an edit without them is checked as one that would ping. JSON and
``multipart/form-data`` bodies (``payload_json`` plus ``files[n]``) are both understood.
``SUPPRESS_NOTIFICATIONS`` is kept in each message's ``flags``.

Faults are scripted: each request takes the first ``Reply`` of ``script`` meant for its method (a
``Reply`` with no ``method`` is meant for any), if there is one, instead of Discord's answer
(``Reply.edit_rate_limited`` is the 429 with code 30046 for edits of old messages).
A scripted 2xx with no body is still handled as Discord would, so a slow success is ``Reply(delay=3)``.

The same server shows the channel as Discord's client would, at ``/`` (``tools.devkit.discord.page``).
"""

import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from tools.devkit import discord_limits, net
from tools.devkit.discord import page
from tools.devkit.names import HOST

WEBHOOK_ID = "1234567890"
TOKEN = "local-webhook-token"  # noqa: S105 (the fake's own token, not a secret)
CHANNEL_ID = "424242"
GUILD_ID = "515151"
SUPPRESS_NOTIFICATIONS = 1 << 12
_MESSAGE_PATH = re.compile(r"^/api(?:/v\d+)?/webhooks/(?P<id>[^/]+)/(?P<token>[^/]+)(?:/messages/(?P<message>[^/]+))?$")
# Fields a webhook message may carry, and so an edit may change.
_EDITABLE = ("content", "embeds", "allowed_mentions", "components", "attachments", "flags")


@dataclass
class Reply:
    """One scripted answer: status, JSON body, headers, a delay first, and the method it is for (None: any)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    method: str | None = None

    @classmethod
    def edit_rate_limited(cls, retry_after: float) -> "Reply":
        """Discord's answer to too many edits of messages older than an hour (for the next PATCH)."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False, "code": 30046}
        return cls(429, body, {"Retry-After": str(int(retry_after + 0.999))}, method="PATCH")


@dataclass
class Request:
    """One request as the fake received it; ``payload`` is the message JSON however it was sent."""

    method: str
    target: str  # the path with its query, as sent
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    payload: Any = None
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def json(self) -> Any:
        return self.payload


@dataclass
class Message:
    """A message as the channel holds it now, and every earlier version of it."""

    id: str
    payload: dict[str, Any]
    files: dict[str, bytes]
    created: datetime
    edited: datetime | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    @property
    def quiet(self) -> bool:
        return bool(int(self.payload.get("flags") or 0) & SUPPRESS_NOTIFICATIONS)

    def as_discord(self) -> dict[str, Any]:
        """The message object Discord answers with."""
        attachments = [
            {"id": str(n), "filename": name, "size": len(data), "url": f"attachment://{name}"}
            for n, (name, data) in enumerate(self.files.items())
        ]
        return {
            "id": self.id,
            "type": 0,
            "channel_id": CHANNEL_ID,
            "webhook_id": WEBHOOK_ID,
            "author": {"id": WEBHOOK_ID, "username": self.payload.get("username", "webhook"), "bot": True},
            "content": self.payload.get("content", ""),
            "embeds": self.payload.get("embeds", []),
            "attachments": attachments,
            "flags": int(self.payload.get("flags") or 0),
            "timestamp": self.created.isoformat(),
            "edited_timestamp": self.edited.isoformat() if self.edited else None,
        }


class DiscordFake(net.LocalServer):
    """The fake webhook, served from a thread: ``with DiscordFake() as discord: ... discord.url``."""

    def __init__(self, *, echo: Callable[[str, Message], None] | None = None, port: int = 0) -> None:
        self.requests: list[Request] = []
        self.script: list[Reply] = []
        self.messages: dict[str, Message] = {}
        self._echo = echo
        self._lock = threading.Lock()
        self._ids = itertools.count(1_300_000_000_000_000_000)
        super().__init__(_handler(self), port, "discord-fake")
        self.url = f"http://{HOST}:{self.port}/api/webhooks/{WEBHOOK_ID}/{TOKEN}"
        self.page_url = f"http://{HOST}:{self.port}/"  # the channel, as Discord's client shows it

    @property
    def posts(self) -> list[Request]:
        """Every POST received, delivered or not."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST"]

    @property
    def edits(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == "PATCH"]

    @property
    def deletes(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == "DELETE"]

    @property
    def relaying(self) -> bool:
        """Whether every request is passed on to a real webhook (``tools.devkit.discord.relay``)."""
        return False

    def channel(self) -> list[Message]:
        """The messages the channel shows now, oldest first."""
        with self._lock:
            return [m for m in self.messages.values() if not m.deleted]

    # Serving

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urllib.parse.urlsplit(target)
        query = dict(urllib.parse.parse_qsl(parts.query))
        request = Request(method, target, parts.path, query, headers, body)
        try:
            request.payload, request.files = _parse_body(headers.get("Content-Type", ""), body)
        except ValueError as error:
            request.payload = None
            parse_error: str | None = str(error)
        else:
            parse_error = None
        with self._lock:
            self.requests.append(request)
            reply = next((r for r in self.script if r.method in (None, method)), None)
            if reply is not None:
                self.script.remove(reply)
        if reply and reply.delay:
            time.sleep(reply.delay)
        if reply and not (200 <= reply.status < 300 and reply.body is None):
            return reply.status, reply.body, reply.headers
        status, answer = self._discord(request, parse_error)
        if reply and status < 300:
            status, answer = reply.status, None if reply.status == 204 else answer
        return status, answer, reply.headers if reply else {}

    def _discord(self, request: Request, parse_error: str | None) -> tuple[int, Any]:
        match = _MESSAGE_PATH.match(request.path)
        if not match or match["id"] != WEBHOOK_ID or match["token"] != TOKEN:
            return 404, {"message": "Unknown Webhook", "code": 10015}
        message_id = match["message"]
        if request.method == "GET" and message_id is None:
            return 200, _webhook_object()
        if request.method == "POST" and message_id is None:
            if parse_error:
                return 400, {"message": f"Cannot send an empty message: {parse_error}", "code": 50006}
            problems = discord_limits.problems(request.payload)
            if problems:
                return 400, _invalid_form(problems)
            now = datetime.now(UTC)
            with self._lock:
                message = Message(str(next(self._ids)), dict(request.payload), dict(request.files), now)
                self.messages[message.id] = message
            self._shown("posted", message)
            return (200, message.as_discord()) if request.query.get("wait") == "true" else (204, None)
        with self._lock:
            message = self.messages.get(message_id or "")
        if message is None or message.deleted:
            return 404, {"message": "Unknown Message", "code": 10008}
        if request.method == "GET":
            self._shown("fetched", message)
            return 200, message.as_discord()
        if request.method == "DELETE":
            message.deleted = True
            self._shown("deleted", message)
            return 204, None
        if request.method != "PATCH":
            return 405, {"message": "405: Method Not Allowed", "code": 0}
        if parse_error or not isinstance(request.payload, dict):
            return 400, {"message": parse_error or "the edit is not a JSON object", "code": 50035}
        # Mentions are parsed anew on every edit: only the edit's own allowed_mentions count.
        kept = {k: v for k, v in message.payload.items() if k != "allowed_mentions"}
        edited = {**kept, **{k: v for k, v in request.payload.items() if k in _EDITABLE}}
        problems = discord_limits.problems(edited)
        if problems:
            return 400, _invalid_form(problems)
        with self._lock:
            message.versions.append(message.payload)
            message.payload = edited
            if "attachments" in request.payload or request.files:
                # Discord keeps only the attachments the edit lists, plus the files it uploads.
                kept = {a.get("filename") for a in request.payload.get("attachments") or [] if isinstance(a, dict)}
                message.files = {**{n: d for n, d in message.files.items() if n in kept}, **request.files}
            message.edited = datetime.now(UTC)
        self._shown("edited", message)
        return 200, message.as_discord()

    def _shown(self, what: str, message: Message) -> None:
        if self._echo:
            self._echo(what, message)


def _handler(fake: DiscordFake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if page.serve(self, fake):  # the page showing the channel, its feed, the attachments
                return
            status, answer, headers = fake.handle(self.command, self.path, dict(self.headers), body)
            data = b"" if answer is None else json.dumps(answer).encode()
            net.reply(self, status, data, "application/json", headers)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _parse_body(content_type: str, body: bytes) -> tuple[Any, dict[str, bytes]]:
    """The message JSON and the uploaded files, from a JSON or multipart/form-data body."""
    if content_type.startswith("multipart/form-data"):
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body
        )
        payload: Any = {}
        files: dict[str, bytes] = {}
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if name == "payload_json":
                payload = json.loads(data)
            elif isinstance(name, str) and name.startswith("files["):
                files[part.get_filename() or name] = data
        return payload, files
    if not body:
        return None, {}
    return json.loads(body), {}


def _webhook_object() -> dict[str, Any]:
    """What ``GET /webhooks/{id}/{token}`` answers: where the webhook posts."""
    return {
        "id": WEBHOOK_ID,
        "type": 1,
        "guild_id": GUILD_ID,
        "channel_id": CHANNEL_ID,
        "name": "alerts",
        "token": TOKEN,
    }


def _invalid_form(problems: list[str]) -> dict[str, Any]:
    return {"message": "Invalid Form Body", "code": 50035, "errors": {"problems": problems}}
