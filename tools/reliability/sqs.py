"""Lambda's SQS event source mapping in miniature, one synchronous step at a time, for in-process tests.

The local stack's ``events`` runtime models the same mapping as it runs (threads, a batching
window, real visibility timeouts); this one is a step model, so a test controls each delivery.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.devkit import sqs
from tools.devkit.lambda_events import sqs_event


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

    def __init__(self, client: Any, queue_url: str, invoke: Callable[[dict[str, Any]], Any], batch_size: int = 100):
        self.sqs = client
        self.queue_url = queue_url
        self.invoke = invoke
        self.batch_size = batch_size
        self.queue_arn = sqs.queue_arn(client, queue_url)

    def deliver_once(self) -> Delivery | None:
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
            sqs.release(self.sqs, self.queue_url, messages, 0)
            return Delivery(len(messages), error)
        sqs.delete(self.sqs, self.queue_url, messages)
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
