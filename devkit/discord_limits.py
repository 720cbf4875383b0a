"""Discord's documented webhook limits, written from the reference and not from chalicelib (the fake applies them).

``problems(message)`` lists every way a webhook message would be refused or would ping people;
an empty list means Discord accepts it. Lengths are counted in UTF-16 code units, as the
JavaScript client counts them (never fewer than code points), after trimming whitespace.
"""

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

CONTENT = 2000
EMBEDS = 10
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR_NAME = 256
EMBED_TOTAL = 6000
USERNAME = 80
COLOUR_MAX = 0xFFFFFF
_FORBIDDEN_IN_USERNAME = re.compile(r"discord|clyde", re.IGNORECASE)


def length(text: str) -> int:
    return len(text.strip().encode("utf-16-le")) // 2


def problems(message: Any) -> list[str]:
    found: list[str] = []
    if not isinstance(message, dict):
        return [f"message is a {type(message).__name__}, not an object"]
    try:
        json.dumps(message, allow_nan=False)
    except (TypeError, ValueError) as error:
        found.append(f"not serialisable as JSON: {error}")
    if not _pings_only_named_roles(message.get("allowed_mentions")):
        found.append(f"allowed_mentions is {message.get('allowed_mentions')!r}, not {{'parse': []}} or named roles")
    content = message.get("content")
    if content is not None and (not isinstance(content, str) or length(content) > CONTENT):
        found.append(f"content longer than {CONTENT}")
    username = message.get("username")
    if username is not None and (
        not isinstance(username, str)
        or not 1 <= length(username) <= USERNAME
        or _FORBIDDEN_IN_USERNAME.search(username)
    ):
        found.append(f"username {username!r} is not allowed")
    embeds = message.get("embeds") or []
    if not isinstance(embeds, list) or len(embeds) > EMBEDS:
        found.append(f"embeds must be a list of at most {EMBEDS}")
        embeds = []
    if not embeds and not (isinstance(content, str) and content.strip()):
        found.append("message has neither content nor embeds")
    total = 0
    for number, embed in enumerate(embeds):
        where = f"embed {number}"
        if not isinstance(embed, dict):
            found.append(f"{where} is not an object")
            continue
        texts = {
            "title": (embed.get("title"), TITLE),
            "description": (embed.get("description"), DESCRIPTION),
            "footer": ((embed.get("footer") or {}).get("text"), FOOTER),
            "author": ((embed.get("author") or {}).get("name"), AUTHOR_NAME),
        }
        for name, (text, limit) in texts.items():
            if text is None:
                continue
            if not isinstance(text, str):
                found.append(f"{where} {name} is not a string")
                continue
            if length(text) > limit:
                found.append(f"{where} {name} is {length(text)} long, over {limit}")
            total += length(text)
        fields = embed.get("fields") or []
        if len(fields) > FIELDS:
            found.append(f"{where} has {len(fields)} fields, over {FIELDS}")
        for index, item in enumerate(fields):
            name, value = item.get("name"), item.get("value")
            for label, text, limit in (("name", name, FIELD_NAME), ("value", value, FIELD_VALUE)):
                if not isinstance(text, str) or not text.strip():
                    found.append(f"{where} field {index} {label} is empty")
                elif length(text) > limit:
                    found.append(f"{where} field {index} {label} is {length(text)} long, over {limit}")
                else:
                    total += length(text)
        colour = embed.get("color")
        if colour is not None and (not isinstance(colour, int) or not 0 <= colour <= COLOUR_MAX):
            found.append(f"{where} colour {colour!r} out of range")
        url = embed.get("url")
        if url is not None and not _is_http_url(url):
            found.append(f"{where} url {url!r} is not an http(s) URL")
        stamp = embed.get("timestamp")
        if stamp is not None and not _is_iso_timestamp(stamp):
            found.append(f"{where} timestamp {stamp!r} is not ISO 8601")
    if total > EMBED_TOTAL:
        found.append(f"embeds hold {total} characters, over {EMBED_TOTAL}")
    return found


def _is_http_url(url: Any) -> bool:
    if not isinstance(url, str) or any(c.isspace() for c in url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_iso_timestamp(stamp: Any) -> bool:
    if not isinstance(stamp, str):
        return False
    try:
        datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return True


def _pings_only_named_roles(allowed: Any) -> bool:
    # Nobody ({"parse": []}), or exactly the roles listed by id (ALERT_MENTION_ROLE): never @everyone or users.
    if allowed == {"parse": []}:
        return True
    roles = allowed.get("roles") if isinstance(allowed, dict) and set(allowed) == {"roles"} else None
    return isinstance(roles, list) and bool(roles) and all(isinstance(r, str) and r.isdigit() for r in roles)
