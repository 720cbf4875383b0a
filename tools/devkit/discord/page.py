"""The Discord fake's web page: its channel as Discord's client shows webhook messages, live.

The fake's server answers these ``GET`` paths itself, beside the webhook API (they are not
webhook requests: they are neither recorded in ``requests`` nor given a scripted ``Reply``):

    /                                      the page (``static/``: HTML, CSS and JavaScript, no build step)
    /_fake/messages                        the channel as JSON, oldest message first (the page polls it)
    /_fake/attachments/{message}/{name}    a file uploaded with a message (``files[n]`` of a multipart post)

Each message in the feed has its ``payload`` as it is now, the earlier ``versions`` an edit
replaced (oldest first), ``created`` and ``edited`` (ISO 8601, UTC), ``quiet``
(``SUPPRESS_NOTIFICATIONS``) and its ``attachments`` with the URL each is served from, so the
page resolves an embed's ``attachment://graph.png`` to the file. That URL ends in ``?v=`` and a
digest of the file, as Discord's CDN URL names each upload: an edit that replaces a graph with
one of the same name shows the new one, never the image the browser already holds for the URL.

The page never runs what a message says: it builds the DOM from text nodes only, links only
http(s) URLs, and is served with a Content-Security-Policy that allows no inline script.
An attachment is served as an image only when its name says PNG, JPEG, GIF or WebP, and as
a download otherwise, so an uploaded ``.html`` or ``.svg`` cannot run in the page's origin.
"""

import contextlib
import hashlib
import json
import re
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Protocol

STATIC = Path(__file__).with_name("static")
FEED_PATH = "/_fake/messages"
ATTACHMENTS_PATH = "/_fake/attachments"
_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/page.css": ("page.css", "text/css; charset=utf-8"),
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
}
_ATTACHMENT = re.compile(rf"^{ATTACHMENTS_PATH}/(?P<message>[^/]+)/(?P<name>[^/]+)$")
_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
# Images from anywhere (avatars and embed images are links, as in Discord); everything else from here.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' https: http: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


class Shown(Protocol):
    """What the page reads of one message (``tools.devkit.discord.fake.Message`` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def files(self) -> Mapping[str, bytes]: ...
    @property
    def created(self) -> datetime: ...
    @property
    def edited(self) -> datetime | None: ...
    @property
    def versions(self) -> Sequence[Mapping[str, Any]]: ...
    @property
    def quiet(self) -> bool: ...


class Channel(Protocol):
    """What the page reads of the server it is served from: the channel, and whether it is relayed."""

    @property
    def relaying(self) -> bool: ...
    def channel(self) -> Sequence[Shown]: ...


def serve(handler: BaseHTTPRequestHandler, fake: Channel) -> bool:
    """Answer ``handler``'s request if it is for the page, its feed or an attachment; False if not."""
    if handler.command != "GET":
        return False
    path = urllib.parse.urlsplit(handler.path).path
    if path in _ASSETS:
        name, content_type = _ASSETS[path]
        headers = {"Content-Type": content_type, "Cache-Control": "no-cache"}
        if name.endswith(".html"):
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        _send(handler, 200, (STATIC / name).read_bytes(), headers)
        return True
    if path == FEED_PATH:
        body = json.dumps(feed(fake.channel(), relaying=fake.relaying), ensure_ascii=False)
        _send(handler, 200, body.encode(), {"Content-Type": "application/json", "Cache-Control": "no-store"})
        return True
    match = _ATTACHMENT.match(path)
    if match:
        message_id, name = urllib.parse.unquote(match["message"]), urllib.parse.unquote(match["name"])
        message = next((m for m in fake.channel() if m.id == message_id), None)
        data = message.files.get(name) if message else None
        if data is None:
            _send(handler, 404, b"no such attachment", {"Content-Type": "text/plain; charset=utf-8"})
        else:
            _send(handler, 200, data, attachment_headers(name))
        return True
    return False


def feed(messages: Iterable[Shown], *, relaying: bool = False) -> dict[str, Any]:
    """The channel as the page reads it."""
    return {"relaying": relaying, "messages": [_message(m) for m in messages]}


def attachment_url(message_id: str, name: str, data: bytes | None = None) -> str:
    """Where the page fetches a message's file; with ``data``, versioned by its digest."""
    path = f"{ATTACHMENTS_PATH}/{urllib.parse.quote(message_id, safe='')}/{urllib.parse.quote(name, safe='')}"
    return f"{path}?v={hashlib.sha256(data).hexdigest()[:16]}" if data is not None else path


def attachment_headers(name: str) -> dict[str, str]:
    """An image type the browser may show for image names, else a download it will not render."""
    image_type = _IMAGE_TYPES.get(Path(name).suffix.lower())
    if image_type:
        return {"Content-Type": image_type, "Cache-Control": "no-cache"}
    return {
        "Content-Type": "application/octet-stream",
        "Content-Disposition": f"attachment; filename*=UTF-8''{urllib.parse.quote(name, safe='')}",
        "Cache-Control": "no-cache",
    }


def _message(message: Shown) -> dict[str, Any]:
    files = dict(message.files)
    return {
        "id": message.id,
        "created": message.created.isoformat(),
        "edited": message.edited.isoformat() if message.edited else None,
        "quiet": message.quiet,
        "payload": message.payload,
        "versions": list(message.versions),
        "attachments": [
            {
                "filename": name,
                "size": len(data),
                "url": attachment_url(message.id, name, data),
                "image": Path(name).suffix.lower() in _IMAGE_TYPES,
            }
            for name, data in files.items()
        ],
    }


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        handler.send_response(status)
        for name, value in {**_COMMON_HEADERS, **headers}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
