"""The production-named resources, created in the emulator the way production has them.

Queue and topic names come from the app's own event sources, so the stack follows the app.
Each SNS event source gets a queue subscribed to its topic: the event runtime reads it to
hand SNS events to the handler (moto has no Lambda to push to), with a dead-letter queue
after three attempts, as Lambda gives up on an asynchronous event after two retries.
"""

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from chalice import Chalice
from chalice.app import SNSEventConfig, SQSEventConfig

from chalicelib import settings
from tools.devkit.names import ALERT_STATE_TABLE, ARCHIVE_BUCKET, BUILD_TABLE, WEBHOOK_PARAMETER
from tools.devkit.sqs import queue_arn
from tools.local_stack.options import Options

logger = logging.getLogger(__name__)

ALERT_ATTEMPTS = 3
# Production's stats queue: 1 KiB messages, kept 10 minutes.
STATS_QUEUE_ATTRIBUTES = {"MaximumMessageSize": "1024", "MessageRetentionPeriod": "600"}


def delivery_queue_name(topic: str, handler: str) -> str:
    """The queue subscribed to ``topic`` that feeds ``handler``."""
    return f"{topic}-to-{handler}"


@dataclass
class Resources:
    stats_queue_url: str
    alert_topic_arn: str
    queue_urls: dict[str, str] = field(default_factory=dict)  # every queue by name, delivery queues too
    table: str = BUILD_TABLE
    bucket: str = ARCHIVE_BUCKET
    alert_state_table: str = ALERT_STATE_TABLE


def provision(client: Any, app: Chalice, options: Options, webhook_url: str) -> Resources:
    """Create queues, tables, bucket, topics with their delivery queues, and the webhook parameter."""
    sqs, sns = client("sqs"), client("sns")
    visibility = {"VisibilityTimeout": str(options.visibility_timeout)}
    queue_urls: dict[str, str] = {}
    topic_arns: dict[str, str] = {}
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig) and source.queue:
            attributes = {**visibility, **(STATS_QUEUE_ATTRIBUTES if source.queue == settings.STATS_QUEUE_NAME else {})}
            queue_urls[source.queue] = sqs.create_queue(QueueName=source.queue, Attributes=attributes)["QueueUrl"]
        elif isinstance(source, SNSEventConfig):
            topic_arns[source.topic] = sns.create_topic(Name=source.topic)["TopicArn"]
            name = delivery_queue_name(source.topic, source.name)
            failed_url = sqs.create_queue(QueueName=f"{name}-failed")["QueueUrl"]
            redrive = {"deadLetterTargetArn": queue_arn(sqs, failed_url), "maxReceiveCount": str(ALERT_ATTEMPTS)}
            url = sqs.create_queue(QueueName=name, Attributes={**visibility, "RedrivePolicy": json.dumps(redrive)})[
                "QueueUrl"
            ]
            sns.subscribe(TopicArn=topic_arns[source.topic], Protocol="sqs", Endpoint=queue_arn(sqs, url))
            queue_urls[name], queue_urls[f"{name}-failed"] = url, failed_url

    create_build_table(client("dynamodb"))
    create_alert_state_table(client("dynamodb"))
    client("s3").create_bucket(Bucket=ARCHIVE_BUCKET)
    # Production keeps the webhook URL in SSM; the forwarder reads it from there here too.
    client("ssm").put_parameter(Name=WEBHOOK_PARAMETER, Value=webhook_url, Type="SecureString", Overwrite=True)
    logger.info(
        "created %s, tables %s and %s, bucket %s",
        ", ".join(sorted(queue_urls)),
        BUILD_TABLE,
        ALERT_STATE_TABLE,
        ARCHIVE_BUCKET,
    )
    return Resources(
        stats_queue_url=queue_urls[settings.STATS_QUEUE_NAME],
        alert_topic_arn=topic_arns[settings.ALERT_TOPIC_NAME],
        queue_urls=queue_urls,
    )


def create_build_table(dynamodb: Any, name: str = BUILD_TABLE) -> None:
    """The build table as production has it: on demand, hash key compiler, range key timestamp."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "compiler", "KeyType": "HASH"},
            {"AttributeName": "timestamp", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "compiler", "AttributeType": "S"},
            {"AttributeName": "timestamp", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def create_alert_state_table(dynamodb: Any, name: str = ALERT_STATE_TABLE) -> None:
    """The forwarder's state table as resources/stateful.yaml declares it: on demand, key pk, TTL expires_at."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
