"""A Discord webhook message: an ``Alert`` as one, within Discord's limits; quiet messages; mentions.

Sending it is ``chalicelib.webhook``'s job. An embed shows an uploaded file (an alarm's graph)
with ``image.url`` = ``attachment://<filename>``, and the message lists the file in
``attachments``: ``with_image`` does that bookkeeping, ``without_image`` undoes it for an edit.

Who is pinged: nobody, unless a notifying message is given to ``mention`` with a role
(``ALERT_MENTION_ROLE``); quiet messages (``quiet``: SUPPRESS_NOTIFICATIONS) and edits never
mention anyone.
"""

from dataclasses import dataclass
from typing import Any

from chalicelib.alerts import Alert
from chalicelib.text import cut, utf16_length

USERNAME = "AWS"
AVATAR_URL = "https://a0.awsstatic.com/libra-css/images/logos/aws_logo_smile_1200x630.png"
NO_MENTIONS: dict[str, Any] = {"parse": []}
# A message with this flag shows as unread but sends no push notification ("@silent").
SUPPRESS_NOTIFICATIONS = 1 << 12

# Discord's limits, counted after trimming whitespace, in UTF-16 units (see chalicelib.text).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
CONTENT_LIMIT = 2000
EMPTY = "-"
DEFUSED_FENCE = "`\u200b``"
MIN_CODE_UNITS = 40  # less of a raw message than this says nothing: fields give way instead
MIN_CODE_ROOM = 200


def payload(alert: Alert) -> dict[str, Any]:
    """The webhook message for ``alert``: one embed, every limit respected, mentions disabled."""
    fields = [(_fit(name, FIELD_NAME_LIMIT), _fit(value, FIELD_VALUE_LIMIT)) for name, value in alert.fields]
    title = _fit(alert.title, TITLE_LIMIT)
    footer = _fit(alert.footer, FOOTER_LIMIT) if alert.footer else None
    fields = fields[:FIELDS_LIMIT]
    # Over the 6000 total: the description gives way first, then fields from the last one.
    room = min(DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT - _embed_length(title, "", footer, fields))
    if alert.code is None:
        description = _fit(alert.description, DESCRIPTION_LIMIT)
        if utf16_length(description) > room:
            description = _fit(description, max(room, 1))
    else:
        description = _with_code(alert.description, alert.code, alert.code_language, room)
    excess = _embed_length(title, description, footer, fields) - EMBED_TOTAL_LIMIT
    while excess > 0 and fields:
        name, value = fields.pop()
        excess -= utf16_length(name, value)
    embed: dict[str, Any] = {
        "title": title,
        "description": description,
        "color": alert.colour,
        "fields": [{"name": name, "value": value, "inline": False} for name, value in fields],
    }
    if alert.url:
        embed["url"] = alert.url
    if alert.timestamp:
        embed["timestamp"] = alert.timestamp
    if footer:
        embed["footer"] = {"text": footer}
    return {"username": USERNAME, "avatar_url": AVATAR_URL, "embeds": [embed], "allowed_mentions": NO_MENTIONS}


def fallback_payload(alert: Alert) -> dict[str, Any]:
    """A minimal plain-text message, for when Discord refuses the embed (HTTP 400)."""
    text = alert.title
    if alert.url:
        text += f"\n<{alert.url}>"
    return {"username": USERNAME, "content": _fit(text, CONTENT_LIMIT), "allowed_mentions": NO_MENTIONS}


@dataclass(frozen=True)
class File:
    """A file to upload with a message."""

    filename: str  # what ``attachment://`` refers to: [A-Za-z0-9_.-] only
    data: bytes
    content_type: str = "image/png"


def with_image(message: dict[str, Any], image: File, embed: int = 0) -> dict[str, Any]:
    """``message`` with its embed showing ``image`` and ``attachments`` listing exactly that file.

    Post (or edit with) the result with ``files=[image]``. ``message`` itself is not changed.
    """
    shown = dict(message)
    embeds = [dict(e) for e in message.get("embeds") or []]
    if not embeds:
        raise ValueError("the message has no embed to show the image in")
    embeds[embed]["image"] = {"url": f"attachment://{image.filename}"}
    shown["embeds"] = embeds
    shown["attachments"] = [{"id": 0, "filename": image.filename}]
    return shown


def without_image(message: dict[str, Any]) -> dict[str, Any]:
    """For an edit with no graph: no embed refers to an attachment, and the edit keeps none."""
    plain = dict(message)
    plain["embeds"] = [{k: v for k, v in e.items() if k != "image"} for e in message.get("embeds") or []]
    plain["attachments"] = []
    return plain


def text_message(text: str) -> dict[str, Any]:
    """A short plain message from the same author, mentions disabled."""
    return {
        "username": USERNAME,
        "avatar_url": AVATAR_URL,
        "content": _fit(text, CONTENT_LIMIT),
        "allowed_mentions": NO_MENTIONS,
    }


def quiet(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` with SUPPRESS_NOTIFICATIONS: it arrives as a badge, never a push notification."""
    flags = int(message.get("flags") or 0) | SUPPRESS_NOTIFICATIONS
    return {**message, "flags": flags, "allowed_mentions": NO_MENTIONS}


def mention(message: dict[str, Any], role: str | None) -> dict[str, Any]:
    """``message`` pinging ``role`` (a role id): ``<@&id>`` first in its content, and only that role
    allowed; without a role, ``message`` as it is (mentions disabled). For notifying posts only."""
    if not role:
        return message
    content = f"<@&{role}> {message.get('content') or ''}".strip()
    return {**message, "content": cut(content, CONTENT_LIMIT), "allowed_mentions": {"roles": [role]}}


def as_edit(message: dict[str, Any]) -> dict[str, Any]:
    """What an edit must send so the message becomes ``message``: an edit cannot change the author,
    and Discord keeps neither the embeds nor the allowed mentions of the version it replaces."""
    edit = {
        "content": message.get("content", ""),
        "embeds": message.get("embeds", []),
        "allowed_mentions": message.get("allowed_mentions", NO_MENTIONS),
    }
    if "attachments" in message:
        # Discord keeps only the attachments an edit lists (see with_image and without_image).
        edit["attachments"] = message["attachments"]
    return edit


def _embed_length(title: str, description: str, footer: str | None, fields: list[tuple[str, str]]) -> int:
    return utf16_length(title, description, footer, *(part for field in fields for part in field))


def _with_code(prose: str, code: str, language: str, room: int) -> str:
    """``prose``, then ``code`` in a fenced block cut inside its fences, so the block stays closed in ``room``."""
    head = f"{prose.strip()}\n" if prose.strip() else ""
    opening, closing = f"```{language}\n", "\n```"
    # A fence inside the text would end the block early; a zero-width space defuses it.
    code = code.strip("\n").replace("```", DEFUSED_FENCE)
    budget = max(room, MIN_CODE_ROOM) - utf16_length(head, opening, closing)
    if budget < MIN_CODE_UNITS:
        return _fit(head or code, max(room, MIN_CODE_ROOM))
    return f"{head}{opening}{cut(code, budget)}{closing}"


def _fit(text: str, limit: int) -> str:
    """``text`` trimmed (Discord counts after trimming), cut to ``limit`` units, never empty."""
    return cut(text.strip(), limit) or EMPTY
