"""State in DynamoDB (``ALERT_STATE_TABLE``) for the engines that post to Discord: conditional writes.

One table, partition key ``pk`` (S) only, two kinds of item, both for any engine (the alert
forwarder, the build watch):

- ``delivery#<idempotency key>``: one piece of input (an SNS MessageId, a scheduled event's id)
  being or having been handled (``status`` in_progress or done), and the Discord message it
  posted, if any. Kept a day (TTL ``expires_at``): SNS and Lambda retry for hours, not days.
- any other key (``alarm#<AlarmArn>``, the build watch's own): a state machine's state as text
  (``state``), held by one invocation at a time. No TTL while the caller says ``keep``;
  ``ttl_seconds`` (7 days) after that.

Both are claimed the way Powertools' idempotency utility claims a request: a conditional write
takes a lock (``lock_owner``, ``lock_expires``) that expires when the claiming invocation must have
ended, so a crashed one never blocks the retry; a failed one gives its claim back at once (a
delivery that posted nothing is deleted, as Powertools deletes the record). The state lock
serialises every invocation about one key: concurrent deliveries of an alarm's transitions are
applied one after the other, each on the state the previous one saved. Written by hand rather than
with Powertools: it is a few calls, and the per-key lock and owed work are not what it offers.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DELIVERY_TTL_SECONDS = 24 * 3600
STATE_TTL_SECONDS = 7 * 24 * 3600  # once nothing is open: later transitions still find it
LOCK_WAIT_SECONDS = 5.0  # for another invocation's claim, and again for its state lock; then Lambda retries us
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


class StateStore:
    """One table's deliveries and states. Built for one invocation (``factory``): after a call fails,
    it stops trying the calls that only give claims back, which would time out in the same way."""

    def __init__(
        self,
        client: Any,
        table: str,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        wait_seconds: float = LOCK_WAIT_SECONDS,
        ttl_seconds: float = STATE_TTL_SECONDS,
    ) -> None:
        self._client = client
        self._table = table
        self._clock = clock
        self._sleep = sleep
        self._wait_seconds = wait_seconds
        self._ttl_seconds = ttl_seconds
        self._failed = False

    # ---- deliveries --------------------------------------------------------------------------

    def claim_delivery(self, idempotency_key: str, owner: str, lock_seconds: float) -> Claim | None:
        """The claim on this input (an SNS MessageId, an event id), or None if it was handled already."""
        key = f"delivery#{idempotency_key}"
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

        claimed: Claim | None = self._waiting(attempt, key)
        return claimed

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

    # ---- state: one item per key, held by one invocation at a time ------------------------------

    def lock(self, key: str, owner: str, lock_seconds: float) -> str | None:
        """Hold ``key`` (waiting a while for whoever holds it); the text last saved under it, or None."""

        def attempt() -> tuple[str | None] | bool:
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
            return (answer.get("Attributes", {}).get("state", {}).get("S"),)

        held: tuple[str | None] = self._waiting(attempt, key)
        return held[0]

    def save(self, key: str, owner: str, text: str, *, release: bool, keep: bool) -> None:
        """Store ``text`` under ``key``, still holding it unless ``release``; Busy if we no longer hold it.

        ``keep``: no expiry (an open incident, owed work); otherwise the item expires after ``ttl_seconds``.
        """
        sets, removes = ["#state = :state"], ["lock_owner", "lock_expires"] if release else []
        values: dict[str, Any] = {":state": {"S": text}, ":me": {"S": owner}}
        if keep:
            removes.append("expires_at")  # kept while it matters, however long
        else:
            sets.append("expires_at = :ttl")
            values[":ttl"] = _number(int(self._clock() + self._ttl_seconds))
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._call(
                "update_item",
                Key=_key(key),
                UpdateExpression=expression,
                ConditionExpression="lock_owner = :me",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=values,
            )
        except _Held:
            raise Busy(f"{key}: our lock ran out and another invocation holds it") from None

    def unlock(self, key: str, owner: str) -> None:
        """Give ``key`` back without saving; never raises (the lock expires with the invocation anyway)."""
        try:
            self._release(key, owner)
        except (_Held, StoreUnavailable) as error:
            logger.warning("%s: lock not released (%s); it expires with this invocation", key, error)

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
            answer: dict[str, Any] = getattr(self._client, operation)(**parameters)
            return answer
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
