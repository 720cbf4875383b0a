"""Lambda's asynchronous invocation (how SNS invokes ``forward_alert``), for in-process tests.

The first attempt plus ``MaximumRetryAttempts`` retries; when every attempt raised, Lambda sends
an on-failure record to the destination: the queue ``resources/stateful.yaml`` declares, with
the retry count ``resources/wiring.yaml`` sets. The record has the shape Lambda documents.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from deploy import template


@dataclass
class AsyncOutcome:
    attempts: int
    errors: list[BaseException] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return len(self.errors) < self.attempts


def retry_attempts() -> int:
    """MaximumRetryAttempts of the alert function, as the merged template sets it."""
    config = template.merge_template("prod")["Resources"]["ForwardAlertInvokeConfig"]["Properties"]
    return int(config["MaximumRetryAttempts"])


def invoke_async(
    invoke: Callable[[dict[str, Any]], Any],
    event: dict[str, Any],
    *,
    sqs: Any,
    destination_url: str,
    function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:compiler-explorer-stats-prod-forward_alert",
) -> AsyncOutcome:
    """Invoke until one attempt returns (at most 1 + retries); on exhaustion, the on-failure record."""
    outcome = AsyncOutcome(attempts=0)
    for _ in range(1 + retry_attempts()):
        outcome.attempts += 1
        try:
            invoke(event)
        except Exception as error:  # noqa: BLE001 (any exception fails an invocation)
            outcome.errors.append(error)
            continue
        return outcome
    last = outcome.errors[-1]
    record = {
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": outcome.attempts,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": str(last), "errorType": type(last).__name__},
    }
    sqs.send_message(QueueUrl=destination_url, MessageBody=json.dumps(record))
    return outcome
