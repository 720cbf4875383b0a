"""Publish a sample CloudWatch alarm to the alert topic in the emulator.

``python -m tools.local_stack.alarm [--endpoint-url URL] [--state ALARM|OK|INSUFFICIENT_DATA] [--name NAME]
[--save-graph PATH]``: the message is what CloudWatch publishes for production's ``SiteTooSlow`` alarm
(or the same alarm under another name: an incident of its own), so the forwarder handles it as it
would a real one. The alarm itself lives in the emulator's CloudWatch, so each
run is a transition from the state the last one left (``OldStateValue``), later than the last
(``StateChangeTime``); asking for the state it is already in publishes nothing, as CloudWatch
publishes only changes. Try ALARM, OK, ALARM: one message, edited, and a notifying "in ALARM again"
follow-up in place of the quiet "OK again" one.

First the metric it watches gets its datapoints up to now (``tools.local_stack.seed.response_times``):
a slowdown over the threshold for ALARM, back to normal otherwise, so the emulator's
GetMetricWidgetImage draws what led to the change. ``--save-graph`` also writes that graph, as
``chalicelib.graphs`` asks for it, to a PNG file.
"""

import argparse
import json
import os
import sys
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib import graphs, settings
from tools.devkit import names, net
from tools.devkit.names import ACCOUNT_ID, HOST, REGION
from tools.local_stack import seed

TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{settings.ALERT_TOPIC_NAME}"
SLOWDOWN = timedelta(minutes=6)  # how long the site has been slow when the ALARM is published
# Transitions run seconds apart are placed this far apart on the alarm's clock: the graph then has
# room to show the metric cross back, and the ALARM and OK marks do not print on top of each other.
MIN_GAP = timedelta(minutes=5)
NAME = "SiteTooSlow"


def site_too_slow(state: str, now: datetime, old: str | None = None, name: str = NAME) -> dict[str, Any]:
    """The SiteTooSlow alarm (p90 of the load balancer's response time), named ``name``, entering ``state``."""
    crossed = state == "ALARM"
    return {
        "AlarmName": name,
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
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT_ID}:alarm:{name}",
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


def current_state(cloudwatch: Any, name: str = NAME) -> tuple[str, datetime | None]:
    """The alarm's state in the emulator's CloudWatch (created, in OK, the first time) and when it began."""
    found = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    if not found:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
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
    parser = argparse.ArgumentParser(prog="python -m tools.local_stack.alarm", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default=default_endpoint, help="the emulator (default: %(default)s)")
    parser.add_argument("--state", choices=["ALARM", "OK", "INSUFFICIENT_DATA"], default="ALARM")
    parser.add_argument("--name", default=NAME, help="another name is another incident (default: %(default)s)")
    parser.add_argument("--save-graph", type=Path, metavar="PATH", help="also write the alarm's graph to this PNG")
    args = parser.parse_args(argv)
    problem = unreachable(args.endpoint_url)
    if problem:
        print(f"python -m tools.local_stack.alarm: {problem}", file=sys.stderr)
        return 2

    cloudwatch: Any = names.client("cloudwatch", args.endpoint_url)
    name = args.name
    old, since = current_state(cloudwatch, name)
    if old == args.state:
        print(f"{name} is already {old}: CloudWatch publishes only changes of state, so nothing was published")
        return 0
    now = datetime.now(UTC)
    if since is not None and now < since + MIN_GAP:
        now = since + MIN_GAP  # later than the one before, by enough for the graph to show both
    seed_datapoints(cloudwatch, args.state, now, since)
    alarm = site_too_slow(args.state, now, old, name)
    sns: Any = names.client("sns", args.endpoint_url)
    response = sns.publish(
        TopicArn=TOPIC_ARN,
        Subject=f'{args.state}: "{name}" in US East (N. Virginia)',
        Message=json.dumps(alarm),
    )
    cloudwatch.set_alarm_state(
        AlarmName=name,
        StateValue=args.state,
        StateReason=alarm["NewStateReason"],
        StateReasonData=json.dumps({"StateChangeTime": now.isoformat()}),
    )
    print(
        f"published {old} → {args.state} for {name} to {TOPIC_ARN} (message id {response['MessageId']}), "
        f"changed at {now:%H:%M:%S} UTC"
        + (f", {MIN_GAP.seconds // 60} minutes after the last change" if since and now == since + MIN_GAP else "")
    )
    if args.save_graph:
        image = graphs.render(lambda region: cloudwatch, alarm, now=now, budget=graphs.RenderBudget())
        if image is None:
            print("no graph: see the log line above", file=sys.stderr)
            return 1
        args.save_graph.write_bytes(image)
        print(f"graph written to {args.save_graph} ({len(image)} bytes)")
    return 0


def unreachable(endpoint: str) -> str | None:
    """Why nothing can be published at ``endpoint`` (in one line), or None when something listens there."""
    parts = urllib.parse.urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"--endpoint-url {endpoint!r} is not an http(s) URL"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if net.accepts(port, parts.hostname):
        return None
    return (
        f"no AWS emulator at {endpoint}: start the local stack first (make local, or make emulator), or, "
        "if it runs on another port, give the same AWS_PORT here (or --endpoint-url)"
    )


def seed_datapoints(cloudwatch: Any, state: str, now: datetime, since: datetime | None = None) -> None:
    """Normal response times from the newest datapoint on; for ALARM, the last minutes slow.

    ``since``, the last transition, bounds what is written: its graph runs a period past it
    (``chalicelib.graphs``), and may be drawn after this run, so this transition's datapoints start
    after that and the earlier graph still ends as its transition did.
    """
    start = seed.next_unseeded_minute(cloudwatch, now)
    if since is not None:
        # Each minute's datapoint is stamped at :30 (tools.local_stack.seed), so the first one after since + 60 s.
        start = max(start, _minute_at_or_after(since + timedelta(seconds=30)))
    if state != "ALARM":
        seed.write_metrics(cloudwatch, seed.response_times(start, now))
        return
    slow_from = now - SLOWDOWN if since is None else max(now - SLOWDOWN, start)
    seed.write_metrics(cloudwatch, seed.response_times(start, slow_from))
    # Minutes the stack already seeded get the slow samples on top: their p90 goes over the threshold too.
    seed.write_metrics(cloudwatch, seed.response_times(slow_from, now, slow_from))


def _minute_at_or_after(when: datetime) -> datetime:
    minute = when.astimezone(UTC).replace(second=0, microsecond=0)
    return minute if minute == when else minute + timedelta(minutes=1)


if __name__ == "__main__":
    sys.exit(main())
