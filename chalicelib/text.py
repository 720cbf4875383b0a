"""Text length as Discord counts it.

Lengths are measured in UTF-16 code units, which is never less than Discord's own count (an
emoji outside the Basic Multilingual Plane is two units), so text that fits here fits there.
"""

ELLIPSIS = "…"


def utf16_length(*texts: str | None) -> int:
    return sum(len(text.encode("utf-16-le")) // 2 for text in texts if text)


def cut(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` units, else its start and an ellipsis, in ``limit`` units."""
    if utf16_length(text) <= limit:
        return text
    budget = limit - 1
    kept: list[str] = []
    for char in text:
        budget -= 2 if ord(char) > 0xFFFF else 1
        if budget < 0:
            break
        kept.append(char)
    return "".join(kept).rstrip() + ELLIPSIS
