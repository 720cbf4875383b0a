"""TEMPORARY: the alert engine's shared pieces (issue 15) as the build watch will use them, on today's
AlertStore and discord.Webhook. Deleted when issue 15's state store, webhook and factory land.

- ``Store``: deliveries claimed by any idempotency key, and a state item under any key, locked,
  saved and unlocked (issue 15's ``StateStore.lock/save/unlock``).
- ``mention``: a notifying message pinging ALERT_MENTION_ROLE.
"""

import logging
from typing import Any

from chalicelib import alert_store, discord, settings
from chalicelib.alert_store import AlertStore, Busy, Claim, StoreUnavailable

logger = logging.getLogger(__name__)

__all__ = ["Busy", "Claim", "Store", "StoreUnavailable", "mention", "mention_role"]


class Store(AlertStore):
    def lock(self, key: str, owner: str, lock_seconds: float) -> str | None:
        """Hold ``key`` (waiting a while for whoever holds it); the text last saved under it, or None."""

        def attempt() -> tuple[str | None] | bool:
            now = self._clock()
            try:
                answer = self._call(
                    "update_item",
                    Key=alert_store._key(key),
                    UpdateExpression="SET lock_owner = :me, lock_expires = :until",
                    ConditionExpression="attribute_not_exists(lock_owner) OR lock_expires < :now",
                    ExpressionAttributeValues={
                        ":me": {"S": owner},
                        ":until": alert_store._number(now + lock_seconds),
                        ":now": alert_store._number(now),
                    },
                    ReturnValues="ALL_NEW",
                )
            except alert_store._Held:
                return False
            return (answer.get("Attributes", {}).get("state", {}).get("S"),)

        held: tuple[str | None] = self._waiting(attempt, key)
        return held[0]

    def save(self, key: str, owner: str, text: str, *, release: bool, keep: bool) -> None:
        removes = ["lock_owner", "lock_expires"] if release else []
        removes.append("expires_at")
        try:
            self._call(
                "update_item",
                Key=alert_store._key(key),
                UpdateExpression="SET #state = :state REMOVE " + ", ".join(removes),
                ConditionExpression="lock_owner = :me",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={":state": {"S": text}, ":me": {"S": owner}},
            )
        except alert_store._Held:
            raise Busy(f"{key}: our lock ran out and another invocation holds it") from None

    def unlock(self, key: str, owner: str) -> None:
        try:
            self._release(key, owner)
        except (alert_store._Held, StoreUnavailable) as error:
            logger.warning("%s: lock not released (%s); it expires with this invocation", key, error)


def mention_role() -> str | None:
    role = settings.optional("ALERT_MENTION_ROLE")
    return role if role.isdigit() else None


def mention(message: dict[str, Any], role: str | None) -> dict[str, Any]:
    if not role:
        return message
    content = f"<@&{role}> {message.get('content') or ''}".strip()
    return {**message, "content": content, "allowed_mentions": {"roles": [role]}}


def quiet(message: dict[str, Any]) -> dict[str, Any]:
    return {**discord.quiet(message), "allowed_mentions": discord.NO_MENTIONS}


_ = Claim
