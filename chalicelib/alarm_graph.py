"""An alarm's graph on the Discord message about it: drawn when the message is sent, best effort.

Every message that shows an alarm with a metric carries its graph (``chalicelib.graphs``): the
incident message when it is posted, and a new one each time it is edited, replacing the last
(the recovery's shows the whole incident); quiet notes of one transition, and alarms posted
without state, too. Follow-ups and other text never do. The graph is drawn when the work is
done, never stored with the work owed; any failure, or too little time left before the Discord
deadline, and the message goes without it.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib import alerts, discord, graphs, values
from chalicelib.incidents import Incident

logger = logging.getLogger(__name__)

# A graph is asked for only while the Discord deadline leaves room for it (graphs.render's worst
# case: one attempt of 1 + 4 s, chalicelib.aws) and, after it, for one whole Discord attempt
# (webhook.Webhook's 3.05 + 10 s): the alert's own time is never spent on its picture.
GRAPH_SECONDS = 5.0
DISCORD_ATTEMPT_SECONDS = 13.05
MAX_MARKS = 10  # an incident's earlier transitions drawn on its graph: the opening and the latest


@dataclass(frozen=True)
class Painter:
    """``cloudwatch(region)`` gives the client that draws (None: no graphs), within ``budget``;
    ``time_left()`` is what is left of the Discord deadline."""

    cloudwatch: Callable[[str], Any] | None
    budget: graphs.RenderBudget
    time_left: Callable[[], float]

    def attach(
        self, payload: dict[str, Any], alarm: Mapping[str, Any] | None, incident: Incident | None = None
    ) -> tuple[dict[str, Any], list[discord.File]]:
        """``payload`` showing the alarm's graph and the file to send with it, or ``payload`` and no file."""
        if self.cloudwatch is None or alarm is None:
            return payload, []
        try:
            if graphs.widget(alarm) is None:
                return payload, []  # no metric to draw (a composite alarm)
            name = alerts.text_of(alarm.get("AlarmName"))[:200]
            left = self.time_left()
            if left < GRAPH_SECONDS + DISCORD_ATTEMPT_SECONDS:
                logger.warning("no graph for alarm %r: %.1f s left before the Discord deadline", name, left)
                return payload, []
            marks = _marks(incident, values.millis(alarm.get("StateChangeTime")))
            image = graphs.render(self.cloudwatch, alarm, now=datetime.now(UTC), marks=marks, budget=self.budget)
            if image is None:
                return payload, []  # graphs.render said why
            graph = discord.File(graphs.filename(alarm), image)
            return discord.with_image(payload, graph), [graph]
        except Exception:  # best effort: no failure of the graph may cost the alert
            logger.exception("no graph: drawing it failed, so the alert goes without it")
            return payload, []


def _marks(incident: Incident | None, told: int | None) -> list[tuple[datetime, str]]:
    """The incident's transitions other than the one the message tells (the graph draws that one),
    so the graph shows the incident from before its ALARM: the opening one and the latest."""
    if incident is None:
        return []
    steps = [step for step in incident.steps if step.at != told]
    if len(steps) > MAX_MARKS:
        steps = [steps[0], *steps[-(MAX_MARKS - 1) :]]
    return [(datetime.fromtimestamp(step.at / 1000, UTC), step.new) for step in steps]
