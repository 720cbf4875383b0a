"""How the build watch's effects look in Discord: one embed each, within Discord's limits.

``discord.payload`` enforces every limit; the lists here are cut first, whole problems at a time,
with a line saying how many are left out, so a cut never hides that there are more.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chalicelib import alerts, discord
from chalicelib.build_problems import CLEARED, REMOVED, Closed, Problem, days_open
from chalicelib.build_rules import RULE_WORDS, Rule
from chalicelib.text import utf16_length

FOOTER = "Build watch · compiler-workflows' daily builds (README, Build watch)"
# Under the description's 4096 and the embed's 6000 with the title and footer, so nothing else is cut.
ROOM = 3900


def announce(problems: Sequence[Problem], now: datetime) -> dict[str, Any]:
    """The notifying post: each new problem with its evidence."""
    if len(problems) == 1:
        title = f"Build watch: {problems[0].compiler}: {RULE_WORDS[problems[0].rule]}"
    else:
        title = f"Build watch: {len(problems)} new problems"
    sections = [_section(p, f"**{_name(p.compiler)}**: {RULE_WORDS[p.rule]}") for p in problems]
    return _message(title, _fit(sections, "new problem"), alerts.RED, now)


def resolved(closed: Sequence[Closed], now: datetime) -> dict[str, Any]:
    """The quiet post: these problems are over, and why."""
    if len(closed) == 1:
        title = f"Build watch: {closed[0].problem.compiler} resolved"
    else:
        title = f"Build watch: {len(closed)} problems resolved"
    lines = [
        f"✅ **{_name(c.problem.compiler)}**: {RULE_WORDS[c.problem.rule]}, open {_days(days_open(c.problem, now))}: "
        f"{_why(c)}"
        for c in closed
    ]
    return discord.quiet(_message(title, _fit(lines, "resolved problem"), alerts.GREEN, now))


def open_list(problems: Sequence[Problem], now: datetime) -> dict[str, Any]:
    """The one message that lists every open problem, edited in place (posted quietly the first time)."""
    if not problems:
        text = "Every daily build is producing, or idle with nothing new upstream."
        return _message("Build watch: no open problems", text, alerts.GREEN, now)
    count = f"{len(problems)} open problem{'s' if len(problems) != 1 else ''}"
    sections = [
        _section(p, f"**{_name(p.compiler)}**: {RULE_WORDS[p.rule]}, for {_days(days_open(p, now))}") for p in problems
    ]
    return _message(f"Build watch: {count}", _fit(sections, "open problem"), alerts.AMBER, now)


def outage(reason: str, now: datetime) -> dict[str, Any]:
    """The quiet post of a run that could check nothing (said once per outage)."""
    text = (
        f"⚠️ Build watch could not check the daily builds: {reason}. Open problems stay as they were. "
        "Said once until a run checks again; each failed run shows in the function's Errors metric."
    )
    return discord.quiet(discord.text_message(text))


def outage_over(reason: str, since: datetime, now: datetime) -> dict[str, Any]:
    """What the outage's note says once a run checks again (an edit: Discord edits no flag but SUPPRESS_EMBEDS)."""
    text = (
        f"✅ Build watch checks the daily builds again since {now:%Y-%m-%d %H:%M} UTC. From {since:%Y-%m-%d %H:%M} "
        f"it could not{': ' + reason if reason else ''}."  # no reason in a state saved before it was kept
    )
    return discord.text_message(text)


def _message(title: str, description: str, colour: int, now: datetime) -> dict[str, Any]:
    alert = alerts.Alert(title=title, description=description, colour=colour, timestamp=now.isoformat(), footer=FOOTER)
    return discord.payload(alert)


def _section(problem: Problem, head: str) -> str:
    return "\n".join([head, *(f"• {line}" for line in problem.evidence)])


def _fit(sections: list[str], what: str) -> str:
    """As many whole sections as fit, and how many more there are."""
    kept: list[str] = []
    used = 0
    for n, section in enumerate(sections):
        left = len(sections) - n
        tail = utf16_length(f"\n… and {left} more {what}s") + 2
        if used + utf16_length(section) + 2 + (tail if left > 1 else 0) > ROOM:
            kept.append(f"… and {left} more {what}{'s' if left != 1 else ''}")
            break
        kept.append(section)
        used += utf16_length(section) + 2
    return "\n\n".join(kept)


def _why(closed: Closed) -> str:
    if closed.why == CLEARED:
        return _CLEARED[closed.problem.rule]
    return {REMOVED: "the build left compilers.yaml"}.get(closed.why, closed.why)


_CLEARED = {
    Rule.STALE: "a good build caught up with upstream",
    Rule.GATE: "every target reads as a working gate again",
    Rule.FAILING: "a good build arrived",
    Rule.NOT_RUNNING: "it builds again",
}


def _name(compiler: str) -> str:
    # Markdown in a build name (an underscore) would change how it looks: shown as it is.
    return compiler.replace("\\", "\\\\").replace("_", "\\_").replace("*", "\\*").replace("`", "\\`")


def _days(days: int) -> str:
    return "less than a day" if days == 0 else f"{days} day{'s' if days != 1 else ''}"
