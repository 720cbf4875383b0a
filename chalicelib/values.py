"""Reading values out of messages anyone can publish: times and numbers, never raising."""

import math
from datetime import UTC, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time as AWS writes it, in UTC when it names no zone; None if it is not one.

    CloudWatch writes "2026-11-24T02:15:04.011+0000", EventBridge and SNS "2026-11-24T02:15:04Z".
    """
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def millis(value: Any) -> int | None:
    """``parse_time(value)`` in milliseconds since the epoch."""
    moment = parse_time(value)
    return None if moment is None else int(moment.timestamp() * 1000)


def number(value: Any) -> float | None:
    """A finite number from a number or its text; None for anything else (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        found = float(value)
    except (ValueError, OverflowError):
        return None
    return found if math.isfinite(found) else None
