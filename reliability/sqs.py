"""SQS helpers for the suite: draining a queue, and Lambda's event source mapping in miniature."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from local_stack.resources import queue_arn


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


@dataclass
class Delivery:
    """One invocation by the event source mapping: how many messages, and what the handler raised."""

    messages: int
    error: BaseException | None = None


class EventSourceMapping:
    """Lambda's SQS event source mapping, one step at a time, for in-process tests.

    Receives up to ``batch_size`` messages (10 per ReceiveMessage, as the poller does), invokes
    with the event Lambda would build, deletes the batch if the handler returned; if it raised,
    the batch stays in flight until its visibility timeout, which here passes at once (so a
    test need not wait 660 s). The queue's redrive policy then moves a message to the
    dead-letter queue after ``maxReceiveCount`` receives, as SQS does.
    """

    def __init__(self, sqs: Any, queue_url: str, invoke: Callable[[dict[str, Any]], Any], batch_size: int = 100):
        self.sqs = sqs
        self.queue_url = queue_url
        self.invoke = invoke
        self.batch_size = batch_size
        self.queue_arn = queue_arn(sqs, queue_url)

    def deliver_once(self) -> Delivery | None:
        from local_stack.events import sqs_event

        messages: list[dict[str, Any]] = []
        while len(messages) < self.batch_size:
            received = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            messages.extend(received)
        if not messages:
            return None
        try:
            self.invoke(sqs_event(messages, self.queue_arn))
        except Exception as error:  # noqa: BLE001 (Lambda fails the batch whatever the handler raised)
            self._change_visibility(messages, 0)
            return Delivery(len(messages), error)
        self._delete(messages)
        return Delivery(len(messages))

    def run(self, max_deliveries: int = 100) -> list[Delivery]:
        """Deliver until the queue is empty (bounded); every delivery made."""
        deliveries = []
        for _ in range(max_deliveries):
            delivery = self.deliver_once()
            if delivery is None:
                return deliveries
            deliveries.append(delivery)
        raise AssertionError(f"the queue did not empty in {max_deliveries} deliveries")

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)]
            self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def _change_visibility(self, messages: list[dict[str, Any]], seconds: int) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                for i, m in enumerate(chunk)
            ]
            self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
