"""The state store as any engine uses it (the alert forwarder, the build watch): against moto's DynamoDB."""

import time
from typing import Any

import pytest

from chalicelib import aws
from chalicelib.state_store import Busy, StateStore
from devkit import names


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def item(boto: Any, key: str) -> dict[str, Any]:
    return boto("dynamodb").get_item(TableName=names.ALERT_STATE_TABLE, Key={"pk": {"S": key}}).get("Item", {})


@pytest.fixture
def store(alert_table: str) -> tuple[StateStore, Clock]:
    clock = Clock()
    return StateStore(aws.client("dynamodb-alerts"), alert_table, clock=clock, sleep=clock.sleep), clock


def test_any_key_is_locked_loaded_and_saved_by_one_owner_at_a_time(store: Any, boto: Any) -> None:
    states, clock = store
    assert states.lock("watch#builds", "first", 30) is None, "nothing saved yet"
    with pytest.raises(Busy):
        states.lock("watch#builds", "second", 30)  # waits its 5 s (on the fake clock), then defers to Lambda
    states.save("watch#builds", "first", '{"open": 0}', release=False, keep=False)
    assert "expires_at" in item(boto, "watch#builds")
    states.save("watch#builds", "first", '{"open": 1}', release=False, keep=True)
    assert "expires_at" not in item(boto, "watch#builds") and item(boto, "watch#builds")["lock_owner"]["S"] == "first"

    states.save("watch#builds", "first", '{"open": 0}', release=True, keep=False)
    saved = item(boto, "watch#builds")
    assert "lock_owner" not in saved
    assert abs(float(saved["expires_at"]["N"]) - (clock.now + 7 * 86400)) < 5
    assert states.lock("watch#builds", "second", 30) == '{"open": 0}'
    with pytest.raises(Busy):
        states.save("watch#builds", "first", "{}", release=True, keep=True)  # no longer ours
    states.unlock("watch#builds", "second")
    assert "lock_owner" not in item(boto, "watch#builds")


def test_a_lock_whose_invocation_died_is_taken_over_once_it_expires(store: Any) -> None:
    states, clock = store
    states.lock("alarm#x", "crashed", 30)
    clock.now += 31
    assert states.lock("alarm#x", "retry", 30) is None


def test_a_delivery_is_claimed_once_by_any_idempotency_key(store: Any, boto: Any) -> None:
    states, _ = store
    claim = states.claim_delivery("scheduled-event-id", "run-1", 30)
    assert claim is not None
    states.record_post(claim, "1234")
    states.abandon_delivery(claim)  # failed after posting: given back, keeping what it posted
    again = states.claim_delivery("scheduled-event-id", "run-2", 30)
    assert again is not None and again.posted == "1234"
    states.finish_delivery(again)
    assert states.claim_delivery("scheduled-event-id", "run-3", 30) is None, "done: a retry changes nothing"
    assert item(boto, "delivery#scheduled-event-id")["status"]["S"] == "done"
