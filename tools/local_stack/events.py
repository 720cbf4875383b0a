"""The event runtime: what Lambda's SQS event source mapping and SNS do for the app's handlers.

Run as ``python -m tools.local_stack.events`` (the stack starts it, and starts a new one if it dies).
For each of the app's event sources it polls a queue in the emulator and calls the handler
from ``app.handler_map`` with a real-shaped event and a Lambda context, as Lambda would:

- SQS (``archive_stats``): batches of up to the handler's ``batch_size`` (100), invoked when
  full or when the first message has waited ``LOCAL_BATCH_WINDOW`` seconds (production: 300).
  The batch is deleted only after the handler returned; if it raised, the messages stay and
  come back after the queue's visibility timeout, and the handler sees them again.
- SNS (``forward_alert``): the topic's subscribed delivery queue, one record per invocation.
  A failed event comes back after the visibility timeout; after three attempts it moves to
  the dead-letter queue, as Lambda drops (or dead-letters) an async event after two retries.

On SIGTERM it stops taking its time: the batch it holds is invoked at once, then everything
still queued, until the queues are empty or ``LOCAL_DRAIN_SECONDS`` have passed.
"""

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from chalice import Chalice
from chalice.app import SNSEventConfig, SQSEventConfig
from chalice.config import Config

from tools.devkit import process
from tools.devkit import sqs as sqs_tools
from tools.devkit.lambda_events import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_SECONDS, LambdaContext, sns_event, sqs_event
from tools.devkit.names import ACCOUNT_ID, REGION
from tools.local_stack import applocal, resources
from tools.local_stack.options import STAGE, Options

logger = logging.getLogger("tools.local_stack.events")

LONG_POLL_SECONDS = 1  # short enough to notice a stop request promptly


def lambda_context(config: Config, handler: str) -> LambdaContext:
    """A context like Lambda's for the deployed function Chalice would name ``<app>-<stage>-<handler>``."""
    scoped = config.scope(config.chalice_stage, handler)
    return LambdaContext(
        function_name=f"{config.app_name}-{config.chalice_stage}-{handler}",
        memory_limit_in_mb=scoped.lambda_memory_size or DEFAULT_MEMORY_MB,
        timeout_seconds=scoped.lambda_timeout or DEFAULT_TIMEOUT_SECONDS,
    )


class Function:
    """One of the app's event handlers, invoked the way the Lambda runtime invokes it."""

    def __init__(self, app: Chalice, config: Config, name: str) -> None:
        self.name = name
        self._handler = app.handler_map[name]
        self._config = config

    def invoke(self, event: dict[str, Any]) -> bool:
        """Run the handler on ``event``; False (and the error logged) if it raised."""
        try:
            self._handler(event, lambda_context(self._config, self.name))
        except Exception:  # like Lambda: any exception fails the invocation, whatever it is
            logger.exception("%s failed on %d record(s)", self.name, len(event["Records"]))
            return False
        return True


class QueuePoller(threading.Thread):
    """Reads one queue and feeds a function; subclasses decide how messages become invocations."""

    def __init__(self, sqs: Any, queue_url: str, function: Function, stopping: threading.Event, drain_seconds: float):
        super().__init__(name=f"poll-{function.name}", daemon=True)
        self.sqs = sqs
        self.queue_url = queue_url
        self.function = function
        self.stopping = stopping
        self.drain_seconds = drain_seconds
        self.queue_arn = sqs_tools.queue_arn(sqs, queue_url)

    def receive(self, limit: int, wait_seconds: int) -> list[dict[str, Any]]:
        return self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=max(1, min(limit, sqs_tools.BATCH_LIMIT)),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])

    def delete(self, messages: list[dict[str, Any]]) -> None:
        failed = sqs_tools.delete(self.sqs, self.queue_url, messages)
        if failed:
            # As on AWS: those messages will be delivered again (at least once).
            logger.warning("%s: %d message(s) not deleted and will come back", self.function.name, failed)

    def run(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        while True:
            try:
                self.poll()
                return
            except (BotoCoreError, ClientError) as error:
                # The emulator going away mid-poll: retry while running, give up when stopping.
                if self.stopping.is_set():
                    logger.warning("%s: queue unreachable while stopping: %s", self.function.name, error)
                    return
                logger.warning("%s: queue unreachable, retrying: %s", self.function.name, error)
                self.stopping.wait(1)

    def poll(self) -> None:
        raise NotImplementedError


class SqsBatchPoller(QueuePoller):
    """Lambda's SQS event source mapping: batches of up to ``batch_size``, at most ``window`` s old."""

    def __init__(self, *args: Any, batch_size: int, window: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_size = batch_size
        self.window = window
        self.held: list[dict[str, Any]] = []
        self.first_held_at = 0.0

    def poll(self) -> None:
        while not self.stopping.is_set():
            if not self.held:
                self.hold(self.receive(self.batch_size, LONG_POLL_SECONDS))
                continue
            left = self.window - (time.monotonic() - self.first_held_at)
            if len(self.held) >= self.batch_size or left <= 0:
                self.deliver()
            elif left >= LONG_POLL_SECONDS:
                self.hold(self.receive(self.batch_size - len(self.held), LONG_POLL_SECONDS))
            else:
                # Under a second left: SQS waits whole seconds, so look and nap instead.
                received = self.receive(self.batch_size - len(self.held), 0)
                self.hold(received)
                if not received:
                    self.stopping.wait(min(left, 0.05))
        self.drain()

    def hold(self, messages: list[dict[str, Any]]) -> None:
        if messages and not self.held:
            self.first_held_at = time.monotonic()
        self.held.extend(messages)

    def deliver(self) -> int:
        batch, self.held = self.held[: self.batch_size], self.held[self.batch_size :]
        if self.held:
            self.first_held_at = time.monotonic()
        if self.function.invoke(sqs_event(batch, self.queue_arn)):
            self.delete(batch)
            return len(batch)
        logger.warning(
            "%s: batch of %d left on the queue; it comes back after the visibility timeout",
            self.function.name,
            len(batch),
        )
        return 0

    def drain(self) -> None:
        deadline = time.monotonic() + self.drain_seconds
        delivered = 0
        while time.monotonic() < deadline:
            received: list[dict[str, Any]] = []
            if len(self.held) < self.batch_size:
                received = self.receive(self.batch_size - len(self.held), 0)
                self.held.extend(received)
            if not self.held:
                break
            if len(self.held) >= self.batch_size or not received:
                delivered += self.deliver()
        if self.held:
            logger.warning(
                "%s: %d message(s) not delivered before the drain deadline", self.function.name, len(self.held)
            )
        logger.info("%s: drained, %d message(s) delivered on the way out", self.function.name, delivered)


class SnsPoller(QueuePoller):
    """SNS's push to a subscribed function: one notification per invocation."""

    def __init__(self, *args: Any, subscription_arn: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscription_arn = subscription_arn

    def poll(self) -> None:
        while not self.stopping.is_set():
            for message in self.receive(sqs_tools.BATCH_LIMIT, LONG_POLL_SECONDS):
                self.deliver(message)
        deadline = time.monotonic() + self.drain_seconds
        while time.monotonic() < deadline:
            messages = self.receive(sqs_tools.BATCH_LIMIT, 0)
            if not messages:
                break
            for message in messages:
                self.deliver(message)

    def deliver(self, message: dict[str, Any]) -> None:
        try:
            notification = json.loads(message["Body"])
        except ValueError:
            notification = None
        if not isinstance(notification, dict) or "Message" not in notification:
            # Sent to the delivery queue directly rather than published: treat the body as the message.
            notification = {"MessageId": message["MessageId"], "Message": message["Body"]}
        if self.function.invoke(sns_event(notification, self.subscription_arn)):
            self.delete([message])
            return
        attempt = message.get("Attributes", {}).get("ApproximateReceiveCount", "?")
        logger.warning(
            "%s: attempt %s of %d failed; retried after the visibility timeout, then dead-lettered",
            self.function.name,
            attempt,
            resources.ALERT_ATTEMPTS,
        )


def pollers(
    app: Chalice, config: Config, client: Callable[[str], Any], options: Options, stopping: threading.Event
) -> list[QueuePoller]:
    """One poller per event source of the app, reading the queues ``resources.provision`` made."""
    sqs, sns = client("sqs"), client("sns")
    found: list[QueuePoller] = []
    for source in app.event_sources:
        function = Function(app, config, source.name)
        common = {"function": function, "stopping": stopping, "drain_seconds": options.drain_seconds}
        if isinstance(source, SQSEventConfig) and source.queue:
            url = sqs.get_queue_url(QueueName=source.queue)["QueueUrl"]
            # Production's window (300 s) is too long to wait for at a desk: the local one caps it.
            window = min(float(source.maximum_batching_window_in_seconds or 0), options.batch_window)
            found.append(SqsBatchPoller(sqs, url, batch_size=source.batch_size, window=window, **common))
        elif isinstance(source, SNSEventConfig):
            url = sqs.get_queue_url(QueueName=resources.delivery_queue_name(source.topic, source.name))["QueueUrl"]
            poller = SnsPoller(sqs, url, subscription_arn="", **common)
            poller.subscription_arn = _subscription_arn(sns, source.topic, poller.queue_arn)
            found.append(poller)
    return found


def _subscription_arn(sns: Any, topic: str, queue_arn: str) -> str:
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{topic}"
    for subscription in sns.list_subscriptions_by_topic(TopicArn=topic_arn).get("Subscriptions", []):
        if subscription.get("Endpoint") == queue_arn:
            return subscription["SubscriptionArn"]
    return f"{topic_arn}:local"


def main() -> int:
    stopping = process.stop_event()
    process.exit_with_parent()
    process.log_to_stdout("events")
    options = Options.from_env()
    import boto3

    app, config = applocal.load(STAGE)
    session = boto3.session.Session()
    running = pollers(app, config, lambda service: session.client(service, region_name=REGION), options, stopping)
    for poller in running:
        poller.start()
    logger.info(
        "runtime ready (pid %d): %s",
        os.getpid(),
        "; ".join(f"{p.function.name} <- {p.queue_url.rsplit('/', 1)[-1]}" for p in running),
    )
    stopping.wait()
    logger.info("stopping: delivering what is still queued")
    deadline = time.monotonic() + options.drain_seconds + 2
    for poller in running:
        poller.join(timeout=max(0.0, deadline - time.monotonic()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
