"""`python -m tools.benchmarks.logbytes`: the bytes of CloudWatch Logs one page load, archive batch and alert write.

Each case runs the handler once in this process (Chalice's test client, moto in-process, the
Discord fake), and counts what Lambda's Python runtime would send to CloudWatch Logs: every line
printed (the EMF record), every log record of the app in the runtime's text format
(``[INFO]\\t<ISO time>\\t<request id>\\t<message>\\n``), and the platform's START, END and REPORT lines
(a cold start's REPORT adds ``Init Duration``). Ingestion is priced at CloudWatch Logs' standard
$0.50 per GB (us-east-1); storage ($0.03 per GB-month, compressed) is left out.
"""

import contextlib
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

INGESTION_PER_GB = 0.50
REQUEST_ID = "8f5e3c1e-6b1a-4d4c-9f53-2a7a0b1c2d3e"
RUNTIME_PREFIX = f"[INFO]\t2026-12-06T21:00:00.000Z\t{REQUEST_ID}\t"
PLATFORM = [
    f"START RequestId: {REQUEST_ID} Version: $LATEST",
    f"END RequestId: {REQUEST_ID}",
    f"REPORT RequestId: {REQUEST_ID}\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 256 MB\t"
    "Max Memory Used: 58 MB\t",
]


def platform_bytes() -> int:
    return sum(len(line) + 1 for line in PLATFORM)


@contextlib.contextmanager
def captured() -> Iterator[dict[str, int]]:
    """Bytes printed to stdout and bytes the app's log records would take, while the block runs."""
    counts = {"printed": 0, "logged": 0, "lines": 0}

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            counts["logged"] += len((RUNTIME_PREFIX + record.getMessage() + "\n").encode())
            counts["lines"] += 1

    handler = Count()
    logging.getLogger("chalicelib").addHandler(handler)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            yield counts
    finally:
        logging.getLogger("chalicelib").removeHandler(handler)
        counts["printed"] = len(out.getvalue().encode())
        counts["lines"] += out.getvalue().count("\n")


def measure(endpoint: str) -> dict[str, dict[str, Any]]:
    from chalice.test import Client

    import app
    from tools.devkit import names
    from tools.devkit.discord.fake import DiscordFake
    from tools.devkit.lambda_events import alarm_event
    from tools.local_stack import alarm, resources

    s3, sqs, dynamodb = (names.client(s, endpoint) for s in ("s3", "sqs", "dynamodb"))
    queue = sqs.create_queue(QueueName=names.STATS_QUEUE)["QueueUrl"]  # type: ignore[attr-defined]
    s3.create_bucket(Bucket=names.ARCHIVE_BUCKET)  # type: ignore[attr-defined]
    resources.create_build_table(dynamodb)
    resources.create_alert_state_table(dynamodb)
    os.environ.update(
        {
            "SQS_STATS_QUEUE": queue,
            "S3_BUCKET_NAME": names.ARCHIVE_BUCKET,
            "COMPILER_BUILD_TABLE": names.BUILD_TABLE,
            "ALERT_STATE_TABLE": names.ALERT_STATE_TABLE,
            "AWS_EMF_ENVIRONMENT": "Lambda",
        }
    )
    results: dict[str, dict[str, Any]] = {}
    with Client(app.app, stage_name="bench") as client, DiscordFake() as webhook:
        os.environ["WEBHOOK_URL"] = webhook.url
        bodies = [
            json.dumps(
                {"date": "2026-12-06", "time": "21:00:00", "type": "SponsorView", "value": f"s{n}"}, sort_keys=True
            )
            for n in range(100)
        ]
        now = datetime.now(UTC)
        alarm.seed_datapoints(names.client("cloudwatch", endpoint), "ALARM", now)
        cases: dict[str, Callable[[], object]] = {
            "page load, 3 sponsors": lambda: client.http.post("/pageload?icons=intel,jetbrains,solidsands"),
            "build lookup": lambda: client.http.get("/compiler-build/gcc"),
            "archive batch of 100": lambda: client.lambda_.invoke(
                "archive_stats", client.events.generate_sqs_event(queue_name=names.STATS_QUEUE, message_bodies=bodies)
            ),
            "alert write (ALARM with state and graph)": lambda: client.lambda_.invoke(
                "forward_alert", alarm_event(alarm.site_too_slow("ALARM", now))
            ),
            "alert write (its recovery)": lambda: client.lambda_.invoke(
                "forward_alert", alarm_event(alarm.site_too_slow("OK", now + timedelta(minutes=5), "ALARM"))
            ),
        }
        for name, run in cases.items():
            with captured() as counts:
                run()
            total = counts["printed"] + counts["logged"] + platform_bytes()
            results[name] = {
                **counts,
                "platform": platform_bytes(),
                "total": total,
                "dollars_per_million": round(total * 1_000_000 / 1e9 * INGESTION_PER_GB, 3),
            }
    return results


def main() -> int:
    from tools.devkit import moto, names

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request lines are not the app's
    with moto.in_process() as endpoint:
        os.environ.update(names.aws_environment(endpoint))
        results = measure(endpoint)
    for name, row in results.items():
        print(
            f"{name}: {row['total']} bytes ({row['printed']} printed, {row['logged']} logged in "
            f"{row['lines']} lines, {row['platform']} Lambda's own), ${row['dollars_per_million']} per million",
            file=sys.stderr,
        )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
