"""The Discord fake in front of a real webhook: what `make local` runs when ``WEBHOOK_URL`` is set.

Every webhook request (post, edit, delete) goes to the real webhook first, and the sender gets
the real webhook's answer: a 400, a 429 with its ``Retry-After``, a 404 reach the forwarder as
they would without the fake, so it retries, falls back or gives up exactly as it does against
Discord. Only a request the real webhook accepted is applied to the fake's channel too, so the
page (``tools.devkit.discord.page``) shows what the real channel holds. A network error is a 502, which the
forwarder retries like the network error it stands for.

The sender sees the fake's message ids; the relay keeps which real message each one is, so an
edit of ``/messages/{fake id}`` edits the real message. Requests are relayed one at a time, so
the real channel and the page keep one order.
"""

import logging
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from tools.devkit.discord.fake import _MESSAGE_PATH, TOKEN, WEBHOOK_ID, DiscordFake, Message

logger = logging.getLogger(__name__)

# Shorter than the forwarder's own (3.05, 10): the relay answers a slow Discord with a 502 first.
TIMEOUT = (3.05, 8.0)
# Headers of the real webhook's answer that the sender may act on.
_ANSWER_HEADERS = ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset-After")


class RelayingDiscordFake(DiscordFake):
    """A ``DiscordFake`` that passes every webhook request on to ``upstream`` (a real webhook URL)."""

    def __init__(
        self, upstream: str, *, echo: Callable[[str, Message], None] | None = None, port: int = 0, session: Any = None
    ) -> None:
        import requests

        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("the upstream webhook is not an http(s) URL")
        self.upstream = upstream
        self._upstream = parts
        self._session = session or requests.Session()
        self._real_ids: dict[str, str] = {}
        self._relaying = threading.Lock()
        super().__init__(echo=echo, port=port)

    @property
    def relaying(self) -> bool:
        return True

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        parts = urllib.parse.urlsplit(target)
        match = _MESSAGE_PATH.match(parts.path)
        if not match or match["id"] != WEBHOOK_ID or match["token"] != TOKEN:
            return super().handle(method, target, headers, body)
        message_id = match["message"]
        with self._relaying:
            real_id = self._real_ids.get(message_id) if message_id else None
            if message_id and real_id is None:
                return super().handle(method, target, headers, body)  # not a message we relayed: Discord's 404
            answer = self._relay(method, parts.query, real_id, headers, body)
            if answer is None:
                return 502, {"message": "the relay could not reach WEBHOOK_URL", "code": 0}, {}
            status, real_body, answer_headers = answer
            if not 200 <= status < 300:
                return status, real_body, answer_headers
            before = set(self.messages)
            local_status, local_body, _ = super().handle(method, target, headers, body)
            if local_status >= 300:
                logger.warning(
                    "WEBHOOK_URL accepted a message the fake refused (HTTP %d): the page lacks it", local_status
                )
                return status, real_body, answer_headers
            if method == "POST" and message_id is None and isinstance(real_body, dict) and "id" in real_body:
                for new_id in set(self.messages) - before:
                    self._real_ids[new_id] = str(real_body["id"])
            return local_status, local_body, answer_headers

    def _relay(
        self, method: str, query: str, real_id: str | None, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any, dict[str, str]] | None:
        import requests

        upstream = self._upstream
        path = upstream.path.rstrip("/") + (f"/messages/{real_id}" if real_id else "")
        pairs = urllib.parse.parse_qsl(upstream.query) + urllib.parse.parse_qsl(query)
        if method == "POST" and real_id is None:
            # Discord answers a post with the message (and so its id) only when asked to wait.
            pairs = [(k, v) for k, v in pairs if k != "wait"] + [("wait", "true")]
        url = urllib.parse.urlunsplit(upstream._replace(path=path, query=urllib.parse.urlencode(pairs)))
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
        try:
            response = self._session.request(
                method, url, data=body, headers={"Content-Type": content_type} if content_type else {}, timeout=TIMEOUT
            )
        except requests.RequestException as error:
            # The error's text holds the webhook URL, a secret: name its type only.
            logger.warning("could not relay to WEBHOOK_URL (%s)", type(error).__name__)
            return None
        try:
            answer = response.json() if response.content else None
        except ValueError:
            answer = {"message": " ".join(response.text[:300].split()), "code": 0}
        kept = {name: response.headers[name] for name in _ANSWER_HEADERS if name in response.headers}
        if not 200 <= response.status_code < 300:
            logger.warning("WEBHOOK_URL answered HTTP %d", response.status_code)
        return response.status_code, answer, kept
