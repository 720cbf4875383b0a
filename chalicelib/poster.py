"""Posting for the forwarder: one SNS record's messages, and each incident effect done on Discord.

``Poster.do`` does one effect of ``incidents.apply`` against the webhook (posts the incident
message or edits it, drawn from the incident as it is now; posts a follow-up; deletes the one it
replaces; points a merged incident's message to the other) and says which message it posted, for
``state.acknowledge``. ``Poster.post`` is every post: notifying ones mention the configured role,
quiet ones carry ``SUPPRESS_NOTIFICATIONS``.
"""

import logging
from dataclasses import dataclass
from typing import Any

from chalicelib import alerts, discord, incident_message, incidents
from chalicelib.alarm_graph import Painter
from chalicelib.incidents import DeleteMessage, EditIncident, MarkMerged, PostFollowUp, PostIncident, PostNote
from chalicelib.webhook import DeliveryError, MessageGone, Webhook

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Poster:
    """One SNS record's Discord side: the webhook, its deadline, the graphs, who notifying posts ping."""

    webhook: Webhook
    until: float
    painter: Painter
    mention_role: str | None

    def post(
        self,
        message: dict[str, Any],
        fallback: dict[str, Any] | None = None,
        *,
        files: list[discord.File] | None = None,
        notify: bool,
    ) -> str | None:
        """Post ``message`` (mentioning the role if ``notify``, else quietly); the id Discord gave it."""
        if notify:
            message = discord.mention(message, self.mention_role)
            fallback = fallback and discord.mention(fallback, self.mention_role)
        else:
            message, fallback = discord.quiet(message), fallback and discord.quiet(fallback)
        answer = self.webhook.post(message, fallback, until=self.until, files=files or [])
        found = (answer or {}).get("id")
        return str(found) if found else None

    def do(self, effect: incidents.Effect, state: incidents.AlarmState, window: float) -> str | None:
        """Do one effect; the id of the message it posted, if it posted one."""
        match effect:
            case PostNote(message=message):
                found = alerts.recognise_safely(message)
                alarm = found.alarm if isinstance(found, alerts.AlarmMessage) else None
                alert = alerts.alert_safely(found, message)
                payload, files = self.painter.attach(discord.payload(alert), alarm)
                return self.post(payload, discord.fallback_payload(alert), files=files, notify=False)
            case DeleteMessage(message_id=message_id):
                try:
                    self.webhook.delete(message_id, until=self.until)
                except DeliveryError as error:  # tidying only: never worth failing the alert for
                    logger.warning("could not delete the earlier follow-up %s: %s", message_id, error)
                return None
            case PostIncident() | EditIncident() | PostFollowUp() | MarkMerged():
                return self._about_incident(effect, state, window)

    def _about_incident(
        self,
        effect: PostIncident | EditIncident | PostFollowUp | MarkMerged,
        state: incidents.AlarmState,
        window: float,
    ) -> str | None:
        shown = state.shown(effect.record, window)
        if shown is None:
            logger.warning("owed %s for an incident no longer kept; skipped", effect)
            return None
        record, incident, message = shown
        name = incident_message.alarm_name(message)
        match effect:
            case PostIncident(ping=ping):
                return self._show(record, incident, message, ping=ping)
            case EditIncident():
                return self._show(record, incident, message, ping=False)
            case PostFollowUp(state=incidents.ALARM, ping=ping):
                # Whoever saw the recovery hears of this ALARM: the newest message tells the state.
                text = incident_message.again_text(incident, name, self._jump(record.message_id))
                return self.post(discord.text_message(text), notify=ping)
            case PostFollowUp():
                # Edits notify nobody: this quiet note is the sign the incident is over.
                text = incident_message.recovered_text(incident, name, self._jump(record.message_id))
                return self.post(discord.text_message(text), notify=False)
            case MarkMerged(into=into):
                if record.message_id:
                    other = state.record(into)
                    jump = self._jump(other.message_id if other else None)
                    note = discord.text_message(incident_message.merged_text(name, jump))
                    self._edit_if_there(record.message_id, discord.without_image(note))  # its graph goes too
                return None

    def _show(self, record: incidents.Record, incident: incidents.Incident, message: str, *, ping: bool) -> str | None:
        """Post or edit the incident message, drawn now from the incident as it is now."""
        alert = incident_message.incident_alert(incident, message)
        payload, fallback = discord.payload(alert), discord.fallback_payload(alert)
        shown, files = self.painter.attach(payload, alerts.alarm_from_message(message), incident)
        if record.message_id:
            # The new graph replaces the old (only it is listed); without one, nothing refers to the old.
            edit = shown if files else discord.without_image(payload)
            try:
                self.webhook.edit(record.message_id, edit, fallback, until=self.until, files=files)
                return None
            except MessageGone:
                logger.warning("incident message %s was deleted; posting a new one", record.message_id)
                ping = False  # the incident was announced already
        return self.post(shown, fallback, files=files, notify=ping)

    def _jump(self, message_id: str | None) -> str | None:
        return self.webhook.jump_url(message_id, until=self.until) if message_id else None

    def _edit_if_there(self, message_id: str, message: dict[str, Any]) -> None:
        try:
            self.webhook.edit(message_id, message, until=self.until)
        except MessageGone:
            logger.info("message %s was deleted; nothing to update", message_id)
