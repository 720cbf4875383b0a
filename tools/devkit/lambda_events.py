"""Lambda events as API Gateway, SQS and SNS deliver them, and a Lambda context.

Standard library only, so a cold-start measurement can import it before its clock starts.
"""

import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

from tools.devkit.names import ACCOUNT_ID, ALERT_TOPIC_ARN, REGION, STATS_QUEUE_ARN

DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_SECONDS = 60


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that the handlers (ours and the baseline's) read."""

    function_name: str = "bench-function"
    memory_limit_in_mb: int = DEFAULT_MEMORY_MB
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/[$LATEST]{os.getpid()}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000


def api_event(method: str, resource: str, path: str, query: dict[str, str] | None = None) -> dict[str, Any]:
    """A REST API proxy event, with the single- and multi-value query parameters API Gateway sends."""
    path_parameters = None
    if "{" in resource:
        name = resource[resource.index("{") + 1 : resource.index("}")]
        path_parameters = {name: path.rsplit("/", 1)[-1]}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"host": "stats.example", "origin": "https://godbolt.org"},
        "multiValueHeaders": {"host": ["stats.example"], "origin": ["https://godbolt.org"]},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{path}",
            "stage": "api",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def pageload_event(sponsors: int) -> dict[str, Any]:
    """``POST /pageload?icons=...`` as the front end sends it (``icons=`` even with no sponsor shown)."""
    icons = ",".join(f"sponsor{n}" for n in range(sponsors))
    return api_event("POST", "/pageload", "/pageload", {"icons": icons})


def build_event(compiler: str) -> dict[str, Any]:
    return api_event("GET", "/compiler-build/{compiler}", f"/compiler-build/{compiler}")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str = STATS_QUEUE_ARN) -> dict[str, Any]:
    """The event Lambda's SQS poller passes: one record per message, as ReceiveMessage gave it."""
    return {"Records": [_sqs_record(message, queue_arn) for message in messages]}


def sqs_event_of_bodies(bodies: list[str], queue_arn: str = STATS_QUEUE_ARN) -> dict[str, Any]:
    """An SQS event for message bodies that were never on a queue."""
    messages = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": f"handle-{n}",
            "Body": body,
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
        }
        for n, body in enumerate(bodies)
    ]
    return sqs_event(messages, queue_arn)


def sns_event(notification: dict[str, Any], subscription_arn: str = f"{ALERT_TOPIC_ARN}:local") -> dict[str, Any]:
    """The event SNS passes to a subscribed function, from the notification JSON SNS puts on a queue."""
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": subscription_arn,
                "Sns": {
                    "Type": notification.get("Type", "Notification"),
                    "MessageId": notification.get("MessageId") or str(uuid.uuid4()),
                    "TopicArn": notification.get("TopicArn", ALERT_TOPIC_ARN),
                    "Subject": notification.get("Subject"),  # null when published without one
                    "Message": notification.get("Message", ""),
                    "Timestamp": notification.get("Timestamp"),
                    "SignatureVersion": notification.get("SignatureVersion"),
                    "Signature": notification.get("Signature"),
                    # The queue copy spells these ...URL; the Lambda event spells them ...Url.
                    "SigningCertUrl": notification.get("SigningCertURL"),
                    "UnsubscribeUrl": notification.get("UnsubscribeURL"),
                    "MessageAttributes": notification.get("MessageAttributes", {}),
                },
            }
        ]
    }


def alarm_event(alarm: dict[str, Any], subject: str | None = None, message_id: str | None = None) -> dict[str, Any]:
    """An SNS event carrying a CloudWatch alarm notification."""
    return sns_event(
        {
            "MessageId": message_id or str(uuid.uuid4()),
            "Subject": subject,
            "Message": json.dumps(alarm),
            "Timestamp": alarm.get("StateChangeTime"),
        }
    )


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        # The app publishes no message attributes; Lambda then sends an empty mapping.
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


# A threshold alarm with every field the seed's parser reads.
ALARM = {
    "AlarmName": "Traffic",
    "AlarmDescription": "A high amount of traffic",
    "AWSAccountId": ACCOUNT_ID,
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (30.0).",
    "StateChangeTime": "2026-11-24T03:04:05.000+0000",
    "Region": "US East (N. Virginia)",
    "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:Traffic",
    "OldStateValue": "OK",
    "Trigger": {
        "MetricName": "RequestCount",
        "Namespace": "AWS/ApplicationELB",
        "StatisticType": "Statistic",
        "Statistic": "SUM",
        "Dimensions": [{"value": "app/GccExplorerApp/4a4513393260c7c5", "name": "LoadBalancer"}],
        "Period": 300,
        "EvaluationPeriods": 3,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "Threshold": 30,
    },
}


def scheduled_event(event_id: str | None = None, time: str | None = None, rule: str = "watch-builds") -> dict[str, Any]:
    """The event EventBridge's schedule hands a function (``time``: ISO 8601 Z, default now)."""
    from datetime import UTC, datetime

    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{rule}"],
        "detail": {},
    }
