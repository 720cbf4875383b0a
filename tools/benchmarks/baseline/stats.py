"""The seed's ``stats`` function, re-created: page loads, build lookups and the SQS archiver in one handler.

What it keeps from the seed, on purpose, because that is what is being measured:
- boto3, botocore and aws-embedded-metrics are imported at module level, so every cold start
  pays for all of them whatever the event;
- each HTTP invocation makes a new SQS *and* a new DynamoDB client (each SQS one a new S3
  client) unless clients are passed in, as the seed's handlers allowed;
- a page load is one ``SendMessage`` per message, one after another;
- a build lookup is two ``Limit=100`` newest-first queries, one filtered on ``status = OK``,
  so an OK build more than 100 items back is never found.
"""

import json
import logging
import os
import urllib.parse
from datetime import UTC, datetime
from typing import Any

import aws_embedded_metrics
import boto3
import botocore.client

logger = logging.getLogger(__name__)

RECORD_KEY = "Records"
QUERY_LIMIT = 100
STATIC_HEADERS = {"Content-Type": "text/plain; charset=utf-8", "Access-Control-Allow-Origin": "*"}
BUILD_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "max-age: 180, must-revalidate",
    "Access-Control-Allow-Origin": "*",
}
Client = botocore.client.BaseClient


@aws_embedded_metrics.metric_scope
def lambda_handler(
    event: dict[str, Any],
    context: Any,
    metrics: Any,
    sqs_client: Client | None = None,
    dynamo_client: Client | None = None,
    s3_client: Client | None = None,
) -> dict[str, Any] | None:
    """The one entry point: SQS batches go to the archiver, everything else is HTTP."""
    metrics.set_namespace("CompilerExplorer")
    logger.info("Received new lambda event %s", event)
    if RECORD_KEY in event:
        return handle_sqs(event, context, s3_client)
    return handle_http(event, metrics, sqs_client, dynamo_client)


def handle_sqs(event: dict[str, Any], context: Any, s3_client: Client | None = None) -> None:
    s3_client = s3_client or boto3.client("s3")
    now = datetime.now(UTC)
    key = f"stats/{context.function_name}-{now.strftime('%Y-%m-%d-%H:%M:%S.%f')}.log"
    body = "\n".join(record["body"] for record in event[RECORD_KEY])
    s3_client.put_object(Bucket=os.environ["S3_BUCKET_NAME"], Body=body, Key=key)


def handle_http(
    event: dict[str, Any], metrics: Any, sqs_client: Client | None = None, dynamo_client: Client | None = None
) -> dict[str, Any]:
    # Both clients, whichever route the request takes: the seed built them before routing.
    sqs_client = sqs_client or boto3.client("sqs")
    dynamo_client = dynamo_client or boto3.client("dynamodb")
    now = datetime.now(UTC)
    path = event["path"].split("/")[1:]
    method = event["httpMethod"]
    if path == ["pageload"] and method == "POST":
        return handle_pageload(event, metrics, now, os.environ["SQS_STATS_QUEUE"], sqs_client)
    if len(path) == 2 and path[0] == "compiler-build" and method == "GET":
        return handle_compiler_stats(path[1], os.environ["COMPILER_BUILD_TABLE"], dynamo_client)
    return _response(404, "Not found", STATIC_HEADERS)


def handle_pageload(event: dict[str, Any], metrics: Any, now: datetime, queue_url: str, sqs: Client) -> dict[str, Any]:
    date, time_of_day = now.strftime("%Y-%m-%d"), now.strftime("%H:%M:%S")

    def send(kind: str, value: str) -> None:
        body = json.dumps({"type": kind, "date": date, "time": time_of_day, "value": value}, sort_keys=True)
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)

    send("PageLoad", "")
    icons = urllib.parse.unquote_plus((event.get("queryStringParameters") or {}).get("icons", ""))
    sponsors = [sponsor for sponsor in icons.split(",") if sponsor]
    for sponsor in sponsors:
        send("SponsorView", sponsor)
    metrics.set_property("sponsors", sponsors)
    metrics.put_metric("PageLoad", 1)
    return _response(200, "Ok", STATIC_HEADERS)


def handle_compiler_stats(compiler: str, table: str, dynamodb: Client) -> dict[str, Any]:
    result = {
        "last_success": _newest(compiler, table, dynamodb, status="OK"),
        "last_build": _newest(compiler, table, dynamodb, status=None),
    }
    return _response(200, json.dumps(result), BUILD_HEADERS)


def _newest(compiler: str, table: str, dynamodb: Client, status: str | None) -> dict[str, Any] | None:
    params: dict[str, Any] = {
        "TableName": table,
        "Limit": QUERY_LIMIT,
        "ScanIndexForward": False,
        "KeyConditionExpression": "#key = :compiler",
        "ExpressionAttributeNames": {"#key": "compiler"},
        "ExpressionAttributeValues": {":compiler": {"S": compiler}},
    }
    if status is not None:
        params["FilterExpression"] = "#status = :status_filter"
        params["ExpressionAttributeNames"]["#status"] = "status"
        params["ExpressionAttributeValues"][":status_filter"] = {"S": status}
    found = dynamodb.query(**params)
    if not found["Count"]:
        return None
    item = found["Items"][0]
    return {
        "path": item["path"]["S"],
        "github_run_id": item["github_run_id"]["S"],
        "timestamp": item["timestamp"]["S"],
        "duration": int(item["duration"]["N"]),
    }


def _response(status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
    return {"statusCode": status, "isBase64Encoded": False, "headers": headers, "body": body}
