"""tools/devkit/moto.py's two patches to moto's internals still apply to the installed moto, and still agree
with the behaviour they replace; after a moto upgrade, these fail before a slow or racy emulator does.

- SQS (``_bounded_receive_cost``): moto 5.2.5's ``SQSBackend.receive_message`` calls
  ``is_message_valid_based_on_retention_period`` for every message it hands out, which computes
  every queue attribute, three of them by counting all the queue's messages: receiving gets slower
  as the queue grows. The patch reads only the retention period; the rule is moto's.
- DynamoDB (``atomic_dynamodb_writes``): moto checks a write's condition, then writes, without a
  lock, so two concurrent conditional writes can both pass; DynamoDB applies each atomically, and
  the alert forwarder's locks rely on that. The patch serialises moto's write methods.
"""

import inspect
from collections.abc import Iterator

import pytest
from moto.dynamodb.models import DynamoDBBackend
from moto.sqs.models import SQSBackend, sqs_backends

from tools.devkit import moto

RETENTION_CHECK = "is_message_valid_based_on_retention_period"


@pytest.fixture
def moto_sqs_unpatched(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's own retention check, restored after the test for the session's moto server."""
    monkeypatch.setattr(SQSBackend, RETENTION_CHECK, getattr(SQSBackend, RETENTION_CHECK))
    yield


def test_moto_still_checks_retention_where_the_patch_replaces_it(moto_sqs_unpatched: None) -> None:
    original = getattr(SQSBackend, RETENTION_CHECK)
    assert f"self.{RETENTION_CHECK}(" in inspect.getsource(SQSBackend.receive_message)

    moto._bounded_receive_cost()

    assert getattr(SQSBackend, RETENTION_CHECK) is not original


@pytest.mark.parametrize("age_seconds", [0, 599, 601, 10_000])
def test_the_faster_retention_check_agrees_with_motos(moto_sqs_unpatched: None, age_seconds: int) -> None:
    original = getattr(SQSBackend, RETENTION_CHECK)
    backend = sqs_backends["111111111111"]["us-east-1"]  # an account no other test uses
    backend.create_queue("retention-check", MessageRetentionPeriod="600")
    try:
        message = backend.send_message("retention-check", "body")
        message.sent_timestamp -= age_seconds * 1000
        expected = original(backend, "retention-check", message)
        moto._bounded_receive_cost()
        assert getattr(SQSBackend, RETENTION_CHECK)(backend, "retention-check", message) == expected
        assert expected == (age_seconds < 600)
    finally:
        backend.delete_queue("retention-check")


def test_every_dynamodb_write_moto_has_is_serialised(moto_endpoint: str) -> None:
    # The session's moto (conftest) was started through tools.devkit.moto, which applies the patch.
    for name in moto._DYNAMODB_WRITES:
        method = getattr(DynamoDBBackend, name, None)
        assert method is not None, (
            f"moto's DynamoDBBackend has no {name} any more: tools.devkit.moto cannot serialise it"
        )
        assert getattr(method, "_devkit_atomic", False), name
    # A write method moto grew since is one the lock does not cover.
    item_methods = {name for name, _ in inspect.getmembers(DynamoDBBackend) if name.endswith(("_item", "_items"))}
    reads = {"get_item", "batch_get_item", "transact_get_items"}
    assert item_methods - reads == set(moto._DYNAMODB_WRITES)
