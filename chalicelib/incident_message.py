"""How an incident looks in Discord: its message (state, colour, duration, flaps, the whole
history), the short follow-ups that say its state changed, and the note on a merged one.

Sized with ``discord``'s limits, so ``discord.payload`` never has to cut the history.
"""

import json
from datetime import UTC, datetime

from chalicelib import alerts, discord
from chalicelib.incidents import OK, Incident, Step
from chalicelib.text import utf16_length

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Most of the description, leaving room for the summary above the history.
HISTORY_UNITS = discord.DESCRIPTION_LIMIT - 296
# Under the total of all embed text, so discord.payload never cuts the history.
EMBED_ROOM = discord.EMBED_TOTAL_LIMIT - 100


def incident_alert(incident: Incident, message: str) -> alerts.Alert:
    """The incident message: current state and colour, how long, flaps, and the whole history.

    ``message`` is the SNS message of its latest transition (name, description, reason, metric).
    """
    latest = alerts.parse_message(message)
    name = alarm_name(message)
    state = incident.state
    if incident.superseded:
        title = f"{name}: over (no recovery was published)"
    else:
        title = f"{name}: {'OK (recovered)' if state == OK else state}"
    summary = [f"Incident opened {_time(incident.opened)} UTC"]
    if incident.ongoing:
        summary.append(f"{state} since {_time(incident.last.at)} UTC")
    else:
        summary.append(
            f"lasted {duration(incident.last.at - incident.opened)}, {duration(incident.in_alarm_ms())} in ALARM"
        )
    if incident.flaps:
        summary.append(f"flapped {incident.flaps} time{'s' if incident.flaps != 1 else ''}")
    fields = [("State", state), *[(n, v) for n, v in latest.fields if n not in ("State", "Changed at")]]
    if incident.flaps:
        fields.insert(1, ("Flaps", str(incident.flaps)))
    head = " · ".join(summary) + "\n\n**History (UTC)**\n"
    # Discord's per-part limits cap what the other parts can take (discord.payload cuts them to those).
    others = sum(
        min(utf16_length(n), discord.FIELD_NAME_LIMIT) + min(utf16_length(v), discord.FIELD_VALUE_LIMIT)
        for n, v in fields
    )
    room = (
        EMBED_ROOM
        - others
        - min(utf16_length(title), discord.TITLE_LIMIT)
        - min(utf16_length(latest.footer), discord.FOOTER_LIMIT)
    )
    history = _history(incident.steps, max(min(room - utf16_length(head), HISTORY_UNITS), 200))
    return alerts.Alert(
        title=title,
        description=head + history,
        colour=alerts.GREY if incident.superseded else alerts.STATE_COLOURS.get(state, alerts.GREY),
        fields=fields,
        url=latest.url,
        timestamp=datetime.fromtimestamp(incident.last.at / 1000, UTC).isoformat(),
        footer=latest.footer,
    )


def again_text(incident: Incident, name: str, jump_url: str | None) -> str:
    """The note that an incident someone may have seen recover is in ALARM again."""
    where = jump_url or "the incident message above"
    since = duration(incident.last.at - incident.opened)
    return f"🔴 {_code(name)} is in ALARM again, {ordinal(incident.flaps + 1)} time in {since}: {where}"


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def recovered_text(incident: Incident, name: str, jump_url: str | None) -> str:
    """The short recovery note: which alarm, how long in ALARM, and where the incident message is."""
    flaps = f" ({incident.flaps} flap{'s' if incident.flaps != 1 else ''})" if incident.flaps else ""
    where = jump_url or "the incident message above"
    spent = duration(incident.in_alarm_ms())
    return f"✅ {_code(name)} is OK again after {spent} in ALARM{flaps}: {where}"


def merged_text(name: str, jump_url: str | None) -> str:
    return f"{_code(name)}: this incident continues in {jump_url or 'a later message'}"


def history_line(step: Step) -> str:
    return f"`{_time(step.at)}` {step.old} → {step.new}"


def duration(ms: int) -> str:
    minutes, seconds = divmod(max(ms, 0) // 1000, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def alarm_name(message: str) -> str:
    try:
        name = json.loads(message).get("AlarmName")
    except (ValueError, AttributeError, RecursionError):
        name = None
    return name if isinstance(name, str) and name.strip() else "(unnamed alarm)"


def _history(steps: list[Step], units: int) -> str:
    lines = [history_line(step) for step in steps]
    if utf16_length("\n".join(lines)) <= units:
        return "\n".join(lines)
    # Too long: the opening line, a count of what is left out, and as many of the latest as fit.
    kept: list[str] = []
    used = utf16_length(lines[0]) + 40
    for line in reversed(lines[1:]):
        if used + utf16_length(line) + 1 > units:
            break
        kept.insert(0, line)
        used += utf16_length(line) + 1
    skipped = len(lines) - 1 - len(kept)
    return "\n".join([lines[0], f"… {skipped} more transition{'s' if skipped != 1 else ''} …", *kept])


def _code(name: str) -> str:
    # A code span shows the name as it is (no markdown); a backtick in it would end the span.
    return "`" + name.replace("`", "'") + "`"


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(TIME_FORMAT)
