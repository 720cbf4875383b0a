"""Lambda events as API Gateway, SQS and SNS deliver them, and a Lambda context: the same for both sides."""

import json
import uuid
from dataclasses import dataclass
from typing import Any

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:CompilerExplorerStats"
TOPIC_ARN = "arn:aws:sns:us-east-1:000000000000:CompilerExplorerAlert"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that either side reads."""

    function_name: str = "bench-function"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:bench-function"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


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


def sqs_event(bodies: list[str]) -> dict[str, Any]:
    records = [
        {
            "messageId": str(uuid.uuid4()),
            "receiptHandle": f"handle-{n}",
            "body": body,
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": QUEUE_ARN,
            "awsRegion": "us-east-1",
        }
        for n, body in enumerate(bodies)
    ]
    return {"Records": records}


def sns_event(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"{TOPIC_ARN}:sub",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": TOPIC_ARN,
                    "Subject": 'ALARM: "Traffic" in US East (N. Virginia)',
                    "Message": json.dumps(message),
                    "Timestamp": "2026-11-24T03:04:05.000Z",
                    "MessageAttributes": {},
                },
            }
        ]
    }


# A threshold alarm with every field the seed's parser reads.
ALARM = {
    "AlarmName": "Traffic",
    "AlarmDescription": "A high amount of traffic",
    "AWSAccountId": "000000000000",
    "NewStateValue": "ALARM",
    "NewStateReason": "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (30.0).",
    "StateChangeTime": "2026-11-24T03:04:05.000+0000",
    "Region": "US East (N. Virginia)",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:Traffic",
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
