"""Publish a sample CloudWatch alarm to the alert topic in the emulator.

``python -m local_stack.alarm [--endpoint-url URL] [--state ALARM|OK|INSUFFICIENT_DATA] [--save-graph PATH]``:
the message is what CloudWatch publishes for production's ``SiteTooSlow`` alarm, so the forwarder
handles it as it would a real one. The alarm itself lives in the emulator's CloudWatch, so each
run is a transition from the state the last one left (``OldStateValue``), later than the last
(``StateChangeTime``); asking for the state it is already in publishes nothing, as CloudWatch
publishes only changes. Try ALARM, OK, ALARM: one message, edited, and a notifying "in ALARM again"
follow-up in place of the quiet "OK again" one.

First the metric it watches gets its datapoints up to now (``local_stack.seed.response_times``):
a slowdown over the threshold for ALARM, back to normal otherwise, so the emulator's
GetMetricWidgetImage draws what led to the change. ``--save-graph`` also writes that graph, as
``chalicelib.graphs`` asks for it, to a PNG file.
"""

import argparse
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib import graphs, settings
from devkit import names
from devkit.names import ACCOUNT_ID, HOST, REGION
from local_stack import seed

TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{settings.ALERT_TOPIC_NAME}"
SLOWDOWN = timedelta(minutes=6)  # how long the site has been slow when the ALARM is published
NAME = "SiteTooSlow"


def site_too_slow(state: str, now: datetime, old: str | None = None) -> dict[str, Any]:
    """The SiteTooSlow alarm (p90 of the load balancer's response time) entering ``state`` from ``old``."""
    crossed = state == "ALARM"
    return {
        "AlarmName": "SiteTooSlow",
        "AlarmDescription": "p90 response time of godbolt.org over 2 seconds",
        "AWSAccountId": ACCOUNT_ID,
        "AlarmConfigurationUpdatedTimestamp": "2026-01-12T10:02:11.404+0000",
        "NewStateValue": state,
        "NewStateReason": (
            f"Threshold Crossed: 1 out of the last 1 datapoints [{2.73 if crossed else 0.41} "
            f"({now:%d/%m/%y %H:%M:%S})] was {'greater' if crossed else 'not greater'} than the threshold (2.0)."
        ),
        "StateChangeTime": now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:SiteTooSlow",
        "OldStateValue": old or ("OK" if crossed else "ALARM"),
        "OKActions": [],
        "AlarmActions": [TOPIC_ARN],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "TargetResponseTime",
            "Namespace": "AWS/ApplicationELB",
            "StatisticType": "ExtendedStatistic",
            "ExtendedStatistic": "p90",
            "Unit": None,
            "Dimensions": [{"value": seed.LOAD_BALANCER, "name": "LoadBalancer"}],
            "Period": 60,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 2.0,
            "TreatMissingData": "missing",
            "EvaluateLowSampleCountPercentile": "",
        },
    }


def current_state(cloudwatch: Any) -> tuple[str, datetime | None]:
    """SiteTooSlow's state in the emulator's CloudWatch (created, in OK, the first time) and when it began."""
    found = cloudwatch.describe_alarms(AlarmNames=[NAME])["MetricAlarms"]
    if not found:
        cloudwatch.put_metric_alarm(
            AlarmName=NAME,
            Namespace="AWS/ApplicationELB",
            MetricName="TargetResponseTime",
            ExtendedStatistic="p90",
            Period=60,
            EvaluationPeriods=1,
            Threshold=2.0,
            ComparisonOperator="GreaterThanThreshold",
            AlarmActions=[TOPIC_ARN],
            OKActions=[TOPIC_ARN],
        )
        return "OK", None
    alarm = found[0]
    published = json.loads(alarm.get("StateReasonData") or "{}").get("StateChangeTime")
    return alarm["StateValue"], datetime.fromisoformat(published) if published else None


def main(argv: list[str] | None = None) -> int:
    default_endpoint = os.environ.get("AWS_ENDPOINT_URL") or f"http://{HOST}:{os.environ.get('AWS_PORT') or 5000}"
    parser = argparse.ArgumentParser(prog="python -m local_stack.alarm", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default=default_endpoint, help="the emulator (default: %(default)s)")
    parser.add_argument("--state", choices=["ALARM", "OK", "INSUFFICIENT_DATA"], default="ALARM")
    parser.add_argument("--save-graph", type=Path, metavar="PATH", help="also write the alarm's graph to this PNG")
    args = parser.parse_args(argv)

    cloudwatch: Any = names.client("cloudwatch", args.endpoint_url)
    old, since = current_state(cloudwatch)
    if old == args.state:
        print(f"{NAME} is already {old}: CloudWatch publishes only changes of state, so nothing was published")
        return 0
    now = datetime.now(UTC)
    if since is not None and now <= since:
        now = since + timedelta(milliseconds=1)  # a transition is always later than the one before
    seed_datapoints(cloudwatch, args.state, now)
    alarm = site_too_slow(args.state, now, old)
    sns: Any = names.client("sns", args.endpoint_url)
    response = sns.publish(
        TopicArn=TOPIC_ARN,
        Subject=f'{args.state}: "{NAME}" in US East (N. Virginia)',
        Message=json.dumps(alarm),
    )
    cloudwatch.set_alarm_state(
        AlarmName=NAME,
        StateValue=args.state,
        StateReason=alarm["NewStateReason"],
        StateReasonData=json.dumps({"StateChangeTime": now.isoformat()}),
    )
    print(f"published {old} → {args.state} for {NAME} to {TOPIC_ARN} (message id {response['MessageId']})")
    if args.save_graph:
        image = graphs.render(lambda region: cloudwatch, alarm, now=now, budget=graphs.RenderBudget())
        if image is None:
            print("no graph: see the log line above", file=sys.stderr)
            return 1
        args.save_graph.write_bytes(image)
        print(f"graph written to {args.save_graph} ({len(image)} bytes)")
    return 0


def seed_datapoints(cloudwatch: Any, state: str, now: datetime) -> None:
    """Normal response times from the newest datapoint on; for ALARM, the last minutes slow."""
    start = seed.next_unseeded_minute(cloudwatch, now)
    if state != "ALARM":
        seed.write_metrics(cloudwatch, seed.response_times(start, now))
        return
    slow_from = now - SLOWDOWN
    seed.write_metrics(cloudwatch, seed.response_times(start, slow_from))
    # Minutes the stack already seeded get the slow samples on top: their p90 goes over the threshold too.
    seed.write_metrics(cloudwatch, seed.response_times(slow_from, now, slow_from))


if __name__ == "__main__":
    sys.exit(main())
