"""SQS helpers for the suite: draining a queue, and Lambda's event source mapping in miniature."""

from typing import Any


def drain(sqs: Any, queue_url: str, into: list[str] | None = None) -> int:
    """Receive and delete every visible message (10 a call); return how many, appending bodies to ``into``."""
    count = 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not messages:
            return count
        if into is not None:
            into.extend(message["Body"] for message in messages)
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        count += len(messages)
