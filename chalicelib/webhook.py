"""Discord's webhook over HTTP: posting, editing and deleting its messages reliably, files included.

``requests`` is imported only when a message is sent: the API function never loads it.

Files (an alarm's graph) go as Discord takes them: ``multipart/form-data`` with the message in a
``payload_json`` part and each file in ``files[n]``; the message lists each file in
``attachments`` as ``{"id": n, "filename": ...}`` (``discord.with_image`` does that bookkeeping)
and ``encode`` builds the body. An edit (PATCH ``.../messages/{id}``) takes the same body: Discord
keeps only the attachments an edit lists, so an edit that re-renders the graph uploads the new
file as ``files[0]`` and lists only ``{"id": 0, ...}``, and an edit without a new graph lists none
(``discord.without_image``), so nothing refers to a file that is gone.

What a message says and how it fits Discord's limits is ``chalicelib.discord``'s job.
"""

import json
import logging
import time
import urllib.parse
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from chalicelib.discord import File, as_edit

logger = logging.getLogger(__name__)

UNKNOWN_MESSAGE = 10008
JUMP_URL = "https://discord.com/channels/{guild}/{channel}/{message}"


def encode(message: dict[str, Any], files: Sequence[File] = ()) -> tuple[bytes, str]:
    """The request body and its Content-Type: JSON without files, else Discord's multipart form.

    Each file must be listed in ``message["attachments"]`` as ``{"id": n, "filename": name}`` for
    ``files[n]``; a message without ``attachments`` gets that list.
    """
    if not files:
        return json.dumps(message).encode(), "application/json"
    listed = message.get("attachments")
    if listed is None:
        message = {**message, "attachments": [{"id": n, "filename": f.filename} for n, f in enumerate(files)]}
    else:
        by_id = {a.get("id"): a.get("filename") for a in listed if isinstance(a, dict)}
        for n, file in enumerate(files):
            if by_id.get(n, by_id.get(str(n))) != file.filename:
                raise ValueError(f"files[{n}] ({file.filename}) is not listed in the message's attachments")
    boundary = f"----ce-{uuid.uuid4().hex}"
    parts = [
        (
            'form-data; name="payload_json"',
            "application/json",
            json.dumps(message).encode(),
        )
    ]
    for n, file in enumerate(files):
        if '"' in file.filename or "\r" in file.filename or "\n" in file.filename:
            raise ValueError(f"unsafe attachment name {file.filename!r}")
        parts.append((f'form-data; name="files[{n}]"; filename="{file.filename}"', file.content_type, file.data))
    chunks: list[bytes] = []
    for disposition, content_type, data in parts:
        if boundary.encode() in data:
            return encode(message, files)  # a 128-bit random boundary in the data: draw another
        chunks.append(
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        )
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def send(
    session: Any, method: str, url: str, message: dict[str, Any] | None, files: Sequence[File], timeout: Any
) -> Any:
    """One request with ``message`` (and ``files``): what ``Webhook.post``, and an edit (PATCH), send."""
    if not files or message is None:
        return session.request(method, url, json=message, timeout=timeout)
    body, content_type = encode(message, files)
    return session.request(method, url, data=body, headers={"Content-Type": content_type}, timeout=timeout)


class DeliveryError(RuntimeError):
    """The alert could not be delivered; raised so Lambda retries the invocation."""


class MessageGone(DeliveryError):
    """The message to edit or delete no longer exists (HTTP 404, code 10008): someone deleted it."""


class Webhook:
    """Posts messages to one Discord webhook, retrying what is worth retrying, within a deadline."""

    def __init__(
        self,
        url: str,
        *,
        session: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: tuple[float, float] = (3.05, 10.0),
        max_attempts: int = 6,
        deadline_seconds: float = 40.0,
        max_retry_after: float = 15.0,
        backoff_seconds: float = 0.5,
    ) -> None:
        self._url = _with_wait(url)
        self._session = session
        self._sleep = sleep
        self._clock = clock
        self._timeout = timeout
        self._max_attempts = max_attempts
        self._deadline_seconds = deadline_seconds
        self._max_retry_after = max_retry_after
        self._backoff_seconds = backoff_seconds
        self._place: tuple[str, str] | None = None  # (guild id, channel id), looked up once

    def deadline(self) -> float:
        """When a call started now must give up: pass it as ``until`` to share one budget across calls."""
        return self._clock() + self._deadline_seconds

    def time_left(self, until: float) -> float:
        """Seconds until ``until`` (a ``deadline()``), by this webhook's clock: what other work may spend."""
        return until - self._clock()

    def post(
        self,
        message: dict[str, Any],
        fallback: dict[str, Any] | None = None,
        *,
        until: float | None = None,
        files: Sequence[File] = (),
    ) -> dict[str, Any] | None:
        """Deliver ``message`` with ``files`` (or, once, ``fallback`` if Discord calls it a bad request
        or too large: the plain text, without files), or raise.

        Returns the message Discord saved (``wait=true``), or None if its answer had no body.
        """
        return self._send("POST", self._url, message, fallback, until, self._max_retry_after, files)

    def edit(
        self,
        message_id: str,
        message: dict[str, Any],
        fallback: dict[str, Any] | None = None,
        *,
        until: float | None = None,
        files: Sequence[File] = (),
    ) -> dict[str, Any] | None:
        """Make message ``message_id`` show ``message`` (with ``files``); MessageGone if it was deleted.

        A 429 (code 30046: too many edits of messages older than an hour) is waited out whenever its
        ``retry_after`` fits the deadline, however long; otherwise DeliveryError, so Lambda retries.
        """
        edit_fallback = as_edit(fallback) | {"embeds": [], "attachments": []} if fallback else None
        return self._send("PATCH", self._message_url(message_id), as_edit(message), edit_fallback, until, None, files)

    def delete(self, message_id: str, *, until: float | None = None) -> None:
        """Delete message ``message_id``; MessageGone if it already was."""
        self._send("DELETE", self._message_url(message_id), None, None, until, self._max_retry_after)

    def jump_url(self, message_id: str, *, until: float | None = None) -> str | None:
        """The link that opens message ``message_id`` in its channel, or None if Discord cannot say where."""
        # A message object names its channel but not its server; the webhook object names both.
        if self._place is None:
            try:
                found = self._send("GET", self._webhook_url(), None, None, until, self._max_retry_after) or {}
            except DeliveryError as error:
                logger.warning("could not look the webhook up for a jump link: %s", error)
                return None
            if not found.get("guild_id") or not found.get("channel_id"):
                return None
            self._place = (str(found["guild_id"]), str(found["channel_id"]))
        guild, channel = self._place
        return JUMP_URL.format(guild=guild, channel=channel, message=message_id)

    def _send(
        self,
        method: str,
        url: str,
        message: dict[str, Any] | None,
        fallback: dict[str, Any] | None,
        until: float | None,
        max_retry_after: float | None,
        files: Sequence[File] = (),
    ) -> dict[str, Any] | None:
        import requests

        if self._session is None:
            # One connection pool per Webhook, and the factory keeps one Webhook a process: warm
            # invocations reuse the TLS connection to Discord.
            self._session = requests.Session()
        session = self._session
        deadline = self._clock() + self._deadline_seconds
        if until is not None:
            deadline = min(deadline, until)
        body = message
        failures = 0
        while True:
            try:
                # The fallback is plain text: it carries no files.
                response = send(session, method, url, body, files if body is message else (), self._timeout)
            except requests.RequestException as error:
                # The exception's text holds the webhook URL, which is a secret: log its type only.
                problem, wait = f"network error ({type(error).__name__})", self._backoff(failures + 1)
            else:
                status = response.status_code
                if 200 <= status < 300:
                    logger.info("%s (HTTP %d, after %d failed attempts)", _DONE.get(method, method), status, failures)
                    return _json_object(response)
                problem = f"HTTP {status}: {_excerpt(response)}"
                if status == 429:
                    wait = _retry_after(response)
                    if max_retry_after is not None and wait > max_retry_after:
                        raise DeliveryError(f"Discord rate limit asks for {wait:.1f} s, more than we wait: {problem}")
                elif status >= 500:
                    wait = self._backoff(failures + 1)
                elif status in (400, 413) and fallback is not None and body is not fallback:
                    # Sent at once and outside the retry budget, so a 400 always gets its fallback.
                    logger.error("Discord refused the alert (%s); sending the plain fallback", problem)
                    body = fallback
                    continue
                elif status == 404 and _error_code(response) == UNKNOWN_MESSAGE and method != "POST":
                    raise MessageGone(f"Discord has no such message: {problem}")
                else:
                    # 404 (code 10015): the webhook was deleted; other 4xx will not get better by retrying.
                    raise DeliveryError(f"Discord refused the alert: {problem}")
            failures += 1
            logger.warning("%s attempt %d failed: %s", _ATTEMPT.get(method, method), failures, problem)
            if failures >= self._max_attempts or self._clock() + wait + self._timeout[1] > deadline:
                raise DeliveryError(f"alert not delivered after {failures} attempts: {problem}")
            self._sleep(wait)

    def _webhook_url(self) -> str:
        parts = urllib.parse.urlsplit(self._url)
        return urllib.parse.urlunsplit(parts._replace(query=_query_without_wait(parts.query)))

    def _message_url(self, message_id: str) -> str:
        # The same query (a thread_id, say) as the webhook's own, so edits reach a thread's messages.
        parts = urllib.parse.urlsplit(self._url)
        path = f"{parts.path.rstrip('/')}/messages/{urllib.parse.quote(message_id, safe='')}"
        return urllib.parse.urlunsplit(parts._replace(path=path, query=_query_without_wait(parts.query)))

    def _backoff(self, attempt: int) -> float:
        return self._backoff_seconds * 2.0 ** (attempt - 1)


# The log lines of a post are documented (README, "Reliability"): kept as they were.
_DONE = {
    "POST": "alert delivered to Discord",
    "PATCH": "Discord message edited",
    "DELETE": "Discord message deleted",
    "GET": "Discord webhook looked up",
}
_ATTEMPT = {"POST": "alert delivery", "PATCH": "Discord edit", "DELETE": "Discord delete", "GET": "Discord look-up"}


def _with_wait(url: str) -> str:
    # Without wait=true Discord answers 204 even for a message it did not save.
    parts = urllib.parse.urlsplit(url)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "wait"]
    query.append(("wait", "true"))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _query_without_wait(query: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return urllib.parse.urlencode([(k, v) for k, v in pairs if k != "wait"])


def _json_object(response: Any) -> dict[str, Any] | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _error_code(response: Any) -> int | None:
    answer = _json_object(response) or {}
    return answer.get("code") if isinstance(answer.get("code"), int) else None


def _retry_after(response: Any) -> float:
    try:
        return max(float(response.json()["retry_after"]), 0.0)
    except (ValueError, KeyError, TypeError):
        pass
    try:
        return max(float(response.headers.get("Retry-After", "1")), 0.0)
    except ValueError:
        return 1.0


def _excerpt(response: Any) -> str:
    return " ".join(response.text[:300].split())
