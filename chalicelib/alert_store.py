"""The forwarder's state in DynamoDB (``ALERT_STATE_TABLE``): conditional writes, written here.

One table, partition key ``pk`` (S) only, two kinds of item:

- ``delivery#<SNS MessageId>``: one SNS message being or having been handled (``status``
  in_progress or done), and the Discord message it posted when it is not an alarm. Kept a day
  (TTL ``expires_at``): SNS and Lambda retry for hours, not days.
- ``alarm#<AlarmArn>``: the alarm's ``incidents.AlarmState`` as JSON (last transition, latest
  incident, Discord work owed). No TTL while an incident is open or work is owed; 7 days after that.

Both are claimed the way Powertools' idempotency utility claims a request: a conditional write
takes a lock (``lock_owner``, ``lock_expires``) that expires when the claiming invocation must have
ended, so a crashed one never blocks the retry; a failed one gives its claim back at once (a
delivery that posted nothing is deleted, as Powertools deletes the record). The alarm lock
serialises every invocation about one alarm: concurrent SNS deliveries of its transitions are
applied one after the other, each on the state the previous one saved. Written by hand rather than
with Powertools: it is a few calls, and the per-alarm lock and owed work are not what it offers.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.incidents import AlarmState

logger = logging.getLogger(__name__)

DELIVERY_TTL_SECONDS = 24 * 3600
INCIDENT_TTL_SECONDS = 7 * 24 * 3600  # after the incident closed: later OKs still find it
LOCK_WAIT_SECONDS = 5.0  # for another invocation's claim, and again for its alarm lock; then Lambda retries us
_CONDITION_FAILED = "ConditionalCheckFailedException"


class StoreUnavailable(RuntimeError):
    """DynamoDB could not be reached or refused the call: the state is unknown."""


class Busy(RuntimeError):
    """Another invocation holds the delivery or the alarm for longer than we wait; Lambda retries us."""


@dataclass
class Claim:
    key: str
    owner: str
    posted: str | None = None  # the Discord message an earlier attempt posted for this delivery


class AlertStore:
    def __init__(
        self,
        client: Any,
        table: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        wait_seconds: float = LOCK_WAIT_SECONDS,
    ) -> None:
        self._client = client
        self._table = table
        self._clock = clock
        self._sleep = sleep
        self._wait_seconds = wait_seconds
        self._failed = False  # once a call has failed, giving claims back would only time out again

    # ---- deliveries --------------------------------------------------------------------------

    def claim_delivery(self, sns_message_id: str, owner: str, lock_seconds: float) -> Claim | None:
        """The claim on this SNS message, or None if it was delivered already (a redelivery)."""
        key = f"delivery#{sns_message_id}"
        self._failed = False

        def attempt() -> Claim | bool | None:
            now = self._clock()
            lock = {"lock_owner": {"S": owner}, "lock_expires": _number(now + lock_seconds)}
            try:
                self._call(
                    "put_item",
                    Item={
                        **_key(key),
                        **lock,
                        "status": {"S": "in_progress"},
                        "expires_at": _number(int(now + DELIVERY_TTL_SECONDS)),
                    },
                    ConditionExpression="attribute_not_exists(pk)",
                )
                return Claim(key, owner)
            except _Held:
                pass
            item = self._call("get_item", Key=_key(key), ConsistentRead=True).get("Item", {})
            if not item:
                return False  # given back (deleted) just now: claim it afresh
            if item.get("status", {}).get("S") == "done":
                return None
            expires = item.get("lock_expires", {}).get("N")
            if expires is not None and float(expires) >= now:
                return False  # in progress elsewhere: wait for it
            # Given back, or its invocation died: take it over, keeping what it posted.
            condition, seen = "attribute_not_exists(lock_expires)", {}
            if expires is not None:
                condition, seen = "lock_expires = :seen", {":seen": {"N": expires}}
            try:
                answer = self._call(
                    "update_item",
                    Key=_key(key),
                    UpdateExpression="SET lock_owner = :me, lock_expires = :until",
                    ConditionExpression=f"#status = :progress AND {condition}",
                    ExpressionAttributeNames={"#status": "status"},
                    ExpressionAttributeValues={
                        ":me": lock["lock_owner"],
                        ":until": lock["lock_expires"],
                        ":progress": {"S": "in_progress"},
                        **seen,
                    },
                    ReturnValues="ALL_NEW",
                )
            except _Held:
                return False  # someone else took it over first
            return Claim(key, owner, answer.get("Attributes", {}).get("posted", {}).get("S"))

        return self._waiting(attempt, f"SNS message {sns_message_id}")

    def record_post(self, claim: Claim, discord_message_id: str) -> None:
        """Remember what this delivery posted, before anything else can fail: a retry edits it instead."""
        self._call(
            "update_item",
            Key=_key(claim.key),
            UpdateExpression="SET posted = :id",
            ExpressionAttributeValues={":id": {"S": discord_message_id}},
        )
        claim.posted = discord_message_id

    def finish_delivery(self, claim: Claim) -> None:
        try:
            self._call(
                "update_item",
                Key=_key(claim.key),
                UpdateExpression="SET #status = :done REMOVE lock_owner, lock_expires",
                ConditionExpression="lock_owner = :me",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":done": {"S": "done"}, ":me": {"S": claim.owner}},
            )
        except _Held:
            # Our lock ran out and a retry took the delivery over: it finds the work done.
            logger.warning("%s: claim lost before it was marked done", claim.key)

    def abandon_delivery(self, claim: Claim) -> None:
        """Give the claim back after a failure, so Lambda's retry need not wait for it to expire."""
        try:
            if self._failed:
                raise StoreUnavailable("not tried: the store failed earlier in this delivery")
            if claim.posted is None:
                self._call(
                    "delete_item",
                    Key=_key(claim.key),
                    ConditionExpression="lock_owner = :me",
                    ExpressionAttributeValues={":me": {"S": claim.owner}},
                )
            else:
                self._release(claim.key, claim.owner)
        except (_Held, StoreUnavailable) as error:
            logger.warning("%s: claim not given back (%s); it expires with this invocation", claim.key, error)

    # ---- alarms ------------------------------------------------------------------------------

    def lock_alarm(self, arn: str, owner: str, lock_seconds: float) -> AlarmState:
        """Hold the alarm (waiting a while for whoever holds it) and return its state."""
        key = f"alarm#{arn}"

        def attempt() -> AlarmState | bool:
            now = self._clock()
            try:
                answer = self._call(
                    "update_item",
                    Key=_key(key),
                    UpdateExpression="SET lock_owner = :me, lock_expires = :until",
                    ConditionExpression="attribute_not_exists(lock_owner) OR lock_expires < :now",
                    ExpressionAttributeValues={
                        ":me": {"S": owner},
                        ":until": _number(now + lock_seconds),
                        ":now": _number(now),
                    },
                    ReturnValues="ALL_NEW",
                )
            except _Held:
                return False
            stored = answer.get("Attributes", {}).get("state", {}).get("S")
            try:
                return AlarmState.from_json(stored)
            except (ValueError, KeyError, TypeError, AttributeError):
                # Unreadable (a bug, a hand edit): start afresh rather than fail this alarm for ever.
                logger.exception("alarm %s: stored state unreadable; starting from none", arn)
                return AlarmState()

        state = self._waiting(attempt, f"alarm {arn}")
        assert state is not None  # noqa: S101 (an alarm lock never answers "done")
        return state

    def save_alarm(self, arn: str, owner: str, state: AlarmState, *, release: bool) -> None:
        """Store ``state``, still holding the alarm unless ``release``; Busy if we no longer hold it."""
        sets, removes = ["#state = :state"], ["lock_owner", "lock_expires"] if release else []
        values: dict[str, Any] = {":state": {"S": state.to_json()}, ":me": {"S": owner}}
        if state.open or state.owed:
            removes.append("expires_at")  # kept while the incident lasts, however long
        else:
            sets.append("expires_at = :ttl")
            values[":ttl"] = _number(int(self._clock() + INCIDENT_TTL_SECONDS))
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._call(
                "update_item",
                Key=_key(f"alarm#{arn}"),
                UpdateExpression=expression,
                ConditionExpression="lock_owner = :me",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
            )
        except _Held:
            raise Busy(f"alarm {arn}: our lock ran out and another invocation holds it") from None

    def unlock_alarm(self, arn: str, owner: str) -> None:
        try:
            self._release(f"alarm#{arn}", owner)
        except (_Held, StoreUnavailable) as error:
            logger.warning("alarm %s: lock not released (%s); it expires with this invocation", arn, error)

    # ---- plumbing ----------------------------------------------------------------------------

    def _release(self, key: str, owner: str) -> None:
        if self._failed:
            raise StoreUnavailable("not tried: the store failed earlier in this delivery")
        self._call(
            "update_item",
            Key=_key(key),
            UpdateExpression="REMOVE lock_owner, lock_expires",
            ConditionExpression="lock_owner = :me",
            ExpressionAttributeValues={":me": {"S": owner}},
        )

    def _waiting(self, attempt: Callable[[], Any], what: str) -> Any:
        give_up = self._clock() + self._wait_seconds
        pause = 0.05
        while True:
            result = attempt()
            if result is not False:
                return result
            if self._clock() + pause > give_up:
                raise Busy(f"{what} is held by another invocation; Lambda will retry")
            self._sleep(pause)
            pause = min(pause * 2, 1.0)

    def _call(self, operation: str, **parameters: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        parameters.setdefault("TableName", self._table)
        try:
            return getattr(self._client, operation)(**parameters)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                raise _Held from None
            self._failed = True
            raise StoreUnavailable(f"DynamoDB {operation}: {error}") from error
        except BotoCoreError as error:
            self._failed = True
            raise StoreUnavailable(f"DynamoDB {operation}: {type(error).__name__}") from error


class _Held(Exception):
    """A condition failed: someone else holds the item (or it is not in the state we asked for)."""


def _key(key: str) -> dict[str, Any]:
    return {"pk": {"S": key}}


def _number(value: float) -> dict[str, str]:
    return {"N": f"{value:.3f}" if isinstance(value, float) else str(value)}
