"""A scripted month of Compiler Explorer-like alert traffic, and how SNS and Lambda deliver it.

``month(quick)`` gives every SNS publication (each CloudWatch transition, twice now and then, and
the other messages the topic carries) and the order in which the forwarder is invoked on them:
waves of invocations that run at the same time, with redeliveries (same MessageId), second
publications of one transition (new MessageId), a transition whose first attempt never ran and
that Lambda retries after newer ones, invocations that fail (Discord rate limits) and are retried
after the next transition, and invocations whose instance dies right after its post.

The month (November 2026, UTC): ``SiteTooSlow`` with two short incidents, a recovery whose
ALARM arrives after it, and an evening of flapping a dozen times in an hour; a
``High5xx_godbolt.org`` incident and its recovery, and one that is back in ALARM 20 minutes
after its recovery; ``TrafficAnomaly`` with INSUFFICIENT_DATA gaps,
one inside an incident; the 24 ``Budget_*`` billing alarms on one metric, crossed one after
another, all reset to OK on the 1st; ELB instance events, a console test and other JSON.
``quick`` keeps a few of each kind.
"""

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from local_stack.alarm import site_too_slow

ACCOUNT = "052730242331"
REGION = "us-east-1"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:CompilerExplorerAlert"
MONTH = datetime(2026, 11, 1, tzinfo=UTC)
BUDGETS = [f"Budget_{250 * n}" for n in range(1, 25)]
CONCURRENCY = 8  # invocations at once in a concurrent wave: SNS invokes Lambda in parallel


@dataclass(frozen=True)
class Publication:
    """One SNS message on the topic."""

    message_id: str
    message: str
    subject: str | None
    alarm: str | None = None  # the alarm a CloudWatch transition is of
    step: tuple[int, str, str] | None = None  # (StateChangeTime in ms, old state, new state)


@dataclass
class Delivery:
    """One invocation SNS makes of the forwarder (Lambda's own retries are the harness's)."""

    publication: Publication
    kind: str = "first"  # first, redelivery, second publication, late
    fault: str | None = None  # None, "crash after post", "rate limited POST", "rate limited PATCH"


@dataclass
class Scenario:
    publications: list[Publication]
    waves: list[list[Delivery]]
    flap_window_ms: int = 30 * 60 * 1000
    notes: list[str] = field(default_factory=list)

    @property
    def deliveries(self) -> list[Delivery]:
        return [delivery for wave in self.waves for delivery in wave]

    def transitions(self) -> dict[str, list[tuple[int, str, str]]]:
        """Every alarm's distinct transitions in StateChangeTime order: the truth to check against."""
        found: dict[str, set[tuple[int, str, str]]] = {}
        for publication in self.publications:
            if publication.alarm and publication.step:
                found.setdefault(publication.alarm, set()).add(publication.step)
        return {alarm: sorted(steps) for alarm, steps in found.items()}

    def others(self) -> list[Publication]:
        return [p for p in self.publications if p.alarm is None]


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 (a repeatable script, not a secret)
        self.publications: list[Publication] = []
        self.timeline: list[tuple[datetime, Publication]] = []
        self.state: dict[str, str] = {}

    def message_id(self) -> str:
        return (
            f"{self.rng.getrandbits(32):08x}-{self.rng.getrandbits(16):04x}-5ae2-9964-{self.rng.getrandbits(48):012x}"
        )

    def transition(self, alarm: dict[str, Any], new: str, at: datetime) -> Publication:
        name = alarm["AlarmName"]
        old = self.state.get(name, "OK")
        self.state[name] = new
        document = {
            **alarm,
            "NewStateValue": new,
            "OldStateValue": old,
            "NewStateReason": f"{_reason(new)} ({at:%d/%m/%y %H:%M:%S})",
            "StateChangeTime": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}+0000",
        }
        publication = Publication(
            self.message_id(),
            json.dumps(document),
            f'{new}: "{name}" in US East (N. Virginia)',
            name,
            (int(at.timestamp() * 1000), old, new),
        )
        self.add(at, publication)
        return publication

    def other(self, message: str, subject: str | None, at: datetime) -> Publication:
        publication = Publication(self.message_id(), message, subject)
        self.add(at, publication)
        return publication

    def add(self, at: datetime, publication: Publication) -> None:
        self.publications.append(publication)
        self.timeline.append((at, publication))

    def again(self, publication: Publication) -> Publication:
        """CloudWatch publishing the same transition a second time: same message, new MessageId."""
        copy = Publication(
            self.message_id(), publication.message, publication.subject, publication.alarm, publication.step
        )
        self.publications.append(copy)
        return copy


def month(quick: bool = False) -> Scenario:
    """The scripted month (``quick``: a few of each kind, for the smoke test)."""
    b = _Builder(seed=2026)
    site = site_too_slow("OK", MONTH)
    waves: list[list[Delivery]] = []

    def one(publication: Publication, kind: str = "first", fault: str | None = None) -> None:
        waves.append([Delivery(publication, kind, fault)])

    def together(deliveries: list[Delivery]) -> None:
        for start in range(0, len(deliveries), CONCURRENCY):
            waves.append(deliveries[start : start + CONCURRENCY])

    day = lambda d, h=0, m=0, s=0.0: MONTH + timedelta(days=d - 1, hours=h, minutes=m, seconds=s)  # noqa: E731

    # A console test on the 2nd: plain text, pings as it always did, delivered twice by SNS.
    text = b.other("Hello from the AWS CLI", "Console test", day(2, 9, 15))
    one(text)
    one(text, "redelivery")

    # SiteTooSlow's first incident; its instance dies right after posting the alarm.
    opening = b.transition(site, "ALARM", day(4, 10))
    one(opening, fault="crash after post")
    one(b.transition(site, "OK", day(4, 10, 22)))

    # High5xx_godbolt.org: an incident and its recovery, published twice; the recovery's instance
    # dies after its follow-up.
    high5xx = _high_5xx()
    one(b.transition(high5xx, "ALARM", day(8, 2, 14)))
    recovery = b.transition(high5xx, "OK", day(8, 2, 41))
    one(recovery, fault="crash after post")
    one(b.again(recovery), "second publication")

    # High5xx_godbolt.org again on the 16th: it recovers, and 20 minutes later it is back (the
    # maintainer who read "OK" must hear of it), then recovers for good.
    one(b.transition(high5xx, "ALARM", day(16, 3)))
    one(b.transition(high5xx, "OK", day(16, 3, 10)))
    one(b.transition(high5xx, "ALARM", day(16, 3, 30)))
    one(b.transition(high5xx, "OK", day(16, 3, 50)))

    # TrafficAnomaly: INSUFFICIENT_DATA gaps at night, one inside an incident, whose opening
    # post is rate limited and retried after the gap that followed it.
    anomaly = _traffic_anomaly()

    def gap(gap_day: int) -> None:
        one(b.transition(anomaly, "INSUFFICIENT_DATA", day(gap_day, 4)))
        one(b.transition(anomaly, "OK", day(gap_day, 4, 25)))

    for gap_day in [3] if quick else [3, 10]:
        gap(gap_day)
    one(b.transition(anomaly, "ALARM", day(14, 20)), fault="rate limited POST")
    one(b.transition(anomaly, "INSUFFICIENT_DATA", day(14, 20, 15)))
    one(b.transition(anomaly, "ALARM", day(14, 20, 35)))
    one(b.transition(anomaly, "OK", day(14, 21, 5)))
    for gap_day in [17] if quick else [17, 24]:
        gap(gap_day)

    # SiteTooSlow flapping in and out a dozen times in an hour. SNS invokes in parallel: a
    # transition's second publication and redeliveries come at the same moment as it, and once a
    # recovery and the next ALARM together. One reopening is rate limited (retried after the next
    # recovery), and one recovery's first attempt never ran (Lambda retries it after the next ALARM).
    late_ok: Publication | None = None
    for flap in range(12):
        alarm = b.transition(site, "ALARM", day(12, 18, 5 * flap))
        ok = b.transition(site, "OK", day(12, 18, 5 * flap + 2, 30))
        if flap == 4:
            one(alarm, fault="rate limited PATCH")
        elif flap == 6:
            waves.append(
                [Delivery(alarm), Delivery(b.again(alarm), "second publication"), *[Delivery(alarm, "redelivery")] * 2]
            )
        elif flap == 9:
            waves[-1].append(Delivery(alarm))  # at once with the previous recovery
        else:
            waves.append([Delivery(alarm)] + ([Delivery(b.again(alarm), "second publication")] if flap == 2 else []))
        if late_ok is not None:
            one(late_ok, "late")
            late_ok = None
        if flap == 7:
            late_ok = ok
            continue
        waves.append([Delivery(ok)] + ([Delivery(ok, "redelivery")] if flap % 3 == 1 else []))

    if not quick:
        # Two short incidents on the 20th, more than the flap window apart; the first one's OK
        # is handled before its ALARM (the ALARM's first attempt never ran).
        first_alarm = b.transition(site, "ALARM", day(20, 7, 30))
        one(b.transition(site, "OK", day(20, 7, 34)))
        one(first_alarm, "late")
        one(b.transition(site, "ALARM", day(20, 9)))
        one(b.transition(site, "OK", day(20, 9, 10)))
        # ELB instance events, one of them redelivered, one whose instance dies after its post.
        for number, elb_day in enumerate([5, 11, 19, 26]):
            event = b.other(_elb_event(number), None, day(elb_day, 13, 7))
            one(event, fault="crash after post" if number == 1 else None)
            if number == 2:
                one(event, "redelivery")
        one(b.other(json.dumps({"source": "aws.health", "detail-type": "AWS Health Event"}), None, day(22, 6)))

    # The Budget_* ladder: crossed one after another as the month's bill grows, then all reset
    # to OK on the 1st, at once.
    budgets = BUDGETS[:6] if quick else BUDGETS
    crossings = []
    for number, name in enumerate(budgets):
        crossed = day(1) + timedelta(days=29 * (number + 0.5) / len(budgets))
        crossings.append(b.transition(_budget(name, 250.0 * (number + 1)), "ALARM", crossed))
        one(crossings[-1])
        if number == 3:
            one(b.again(crossings[-1]), "second publication")
    reset: list[Delivery] = []
    for number, name in enumerate(budgets):
        ok = b.transition(_budget(name, 250.0 * (number + 1)), "OK", day(31, 0, 5, number * 0.001))
        reset.append(Delivery(ok))
        if number % 5 == 0:
            reset.append(Delivery(ok, "redelivery"))
    together(reset)

    return Scenario(b.publications, waves)


def _reason(state: str) -> str:
    return {
        "ALARM": "Threshold Crossed: 1 datapoint was greater than the threshold",
        "OK": "Threshold Crossed: 1 datapoint was not greater than the threshold",
        "INSUFFICIENT_DATA": "Insufficient Data: 1 datapoint was unknown",
    }[state]


def _alarm(name: str, description: str | None, trigger: dict[str, Any]) -> dict[str, Any]:
    return {
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": "2026-01-12T10:02:11.404+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "OKActions": [],
        "AlarmActions": [TOPIC_ARN],
        "InsufficientDataActions": [],
        "Trigger": trigger,
    }


def _high_5xx() -> dict[str, Any]:
    metric = {
        "Namespace": "AWS/ApplicationELB",
        "Dimensions": [{"value": "app/GccExplorerApp/0a1b", "name": "LoadBalancer"}],
    }
    return _alarm(
        "High5xx_godbolt.org",
        "More than 5% of godbolt.org requests answered 5xx",
        {
            "Metrics": [
                {"Id": "errors_once_over_threshold", "Expression": "IF(total_requests_per_5m > 100, error_rate, 0)"},
                {
                    "Id": "total_requests_per_5m",
                    "MetricStat": {"Metric": {**metric, "MetricName": "RequestCount"}, "Period": 300, "Stat": "Sum"},
                },
            ],
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": 5.0,
            "EvaluationPeriods": 2,
        },
    )


def _traffic_anomaly() -> dict[str, Any]:
    return _alarm(
        "TrafficAnomaly",
        "Traffic outside its usual band",
        {
            "Metrics": [
                {
                    "Id": "m1",
                    "MetricStat": {
                        "Metric": {"Namespace": "AWS/CloudFront", "MetricName": "Requests"},
                        "Period": 300,
                        "Stat": "Sum",
                    },
                },
                {"Id": "e1", "Expression": "ANOMALY_DETECTION_BAND(m1,10)"},
            ],
            "ThresholdMetricId": "e1",
            "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold",
            "EvaluationPeriods": 3,
        },
    )


def _budget(name: str, threshold: float) -> dict[str, Any]:
    return _alarm(
        name,
        f"We've now spent ${threshold:.0f}",
        {
            "MetricName": "EstimatedCharges",
            "Namespace": "AWS/Billing",
            "StatisticType": "Statistic",
            "Statistic": "MAXIMUM",
            "Dimensions": [{"value": "USD", "name": "Currency"}],
            "Period": 21600,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": threshold,
        },
    )


def _elb_event(number: int) -> str:
    return json.dumps(
        {
            "ElbInstanceType": "FailedHealthCheck",
            "Environment": "prod",
            "Cause": f"Instance failed its health check {number + 1} times and was taken out of service",
            "Instance": f"i-0{number}6dea8095930f564",
        }
    )
