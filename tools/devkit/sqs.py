"""Queue helpers: drain a queue, delete or release messages in SQS's batches of ten, a queue's ARN."""

from collections.abc import Iterator
from typing import Any

BATCH_LIMIT = 10  # ReceiveMessage hands out, and the batch calls take, at most 10 messages


def queue_arn(sqs: Any, url: str) -> str:
    """The ARN of the queue at ``url``, as an event source mapping or a subscription names it."""
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain(sqs: Any, queue_url: str, into: list[str] | None = None) -> int:
    """Receive and delete every visible message; how many, with their bodies appended to ``into``."""
    count = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=BATCH_LIMIT, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return count
        if into is not None:
            into.extend(message["Body"] for message in messages)
        delete(sqs, queue_url, messages)
        count += len(messages)


def bodies(sqs: Any, queue_url: str) -> list[str]:
    """Every message body now on the queue, received and deleted."""
    found: list[str] = []
    drain(sqs, queue_url, into=found)
    return found


def delete(sqs: Any, queue_url: str, messages: list[dict[str, Any]]) -> int:
    """Delete received messages; how many SQS failed to delete (they will be delivered again)."""
    failed = 0
    for chunk in _chunks(messages):
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
        failed += len(sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries).get("Failed") or [])
    return failed


def release(sqs: Any, queue_url: str, messages: list[dict[str, Any]], seconds: int = 0) -> None:
    """Make received messages visible again after ``seconds``, as a failed invocation leaves them."""
    for chunk in _chunks(messages):
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
            for i, m in enumerate(chunk)
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def _chunks(messages: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(messages), BATCH_LIMIT):
        yield messages[start : start + BATCH_LIMIT]
