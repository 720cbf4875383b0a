"""The graph of the metric behind a CloudWatch alarm, as CloudWatch renders it (``GetMetricWidgetImage``).

``widget(alarm)`` turns the alarm dict of a notification (the SNS ``Message``, or what
``alerts.alarm_from_message`` makes of an EventBridge alarm event) into the ``MetricWidget`` JSON
that CloudWatch documents: the alarm's metric or metric-math queries with their ids, the
threshold as a horizontal annotation, the state change as a vertical one, and a window with the
alarm's period. ``render(factory, alarm)`` asks CloudWatch for the PNG and never raises: the
graph is best effort, and without it the alert still goes out.

Decisions (the README's Alerts section repeats them):

- **Window**: the ``lead`` before the change is 20 evaluation windows (20 x period x evaluation
  periods: what the alarm looked at, and enough before it to tell a spike from a slope), at
  least 3 hours (a 1-minute alarm still shows the hours before) and at most 7 days (a 6-hour
  billing alarm shows five days), at the alarm's own period, and never more than 720 points
  (more points than the image has pixel columns add nothing). The window ends now, or at most
  ``lead`` after the change when the notification is old (a retry, a replay), so the change
  never sits at an edge it should not. ``marks`` (an incident's earlier changes) stretch it
  back to show them, up to 1,440 points or 14 days in all.
- **Composite alarms**: no graph. The notification names the triggering child but not its metric;
  drawing it would need ``DescribeAlarms`` (another permission, another call inside the
  deadline, another way to fail), and a child with actions sends its own notification, with
  its own graph.
- **Region**: from ``AlarmArn`` (the payload's ``Region`` is a display name); ``AWS/Billing``
  metrics exist only in us-east-1.
- **Threshold** and **change time** are explicit annotations: ``annotations.alarms`` is
  documented for dashboards only. An anomaly-band alarm has no fixed threshold: its band is drawn
  instead, as CloudWatch draws it for ``ANOMALY_DETECTION_BAND``.
- **Storm bound**: at most ``RenderBudget.limit`` images a minute per process (``chalicelib.factory``
  keeps one budget a process), and none for a
  minute after CloudWatch throttled us or timed out (the API allows 20 calls a second per
  account; an alarm storm must not spend the forwarder's time on graphs).

Standard library only; the boto3 client is passed in (``chalicelib.aws.client``).
"""

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib import alerts, values

logger = logging.getLogger(__name__)

WIDTH, HEIGHT = 600, 300  # Discord shows embed images at up to 400 px wide; 600 stays sharp on HiDPI
MIN_LEAD = timedelta(hours=3)
MAX_LEAD = timedelta(days=7)
LEAD_WINDOWS = 20
MAX_POINTS = 1440
MAX_IMAGE_BYTES = 1 << 20  # CloudWatch's are ~20-60 KB; anything near a megabyte is not a graph we asked for
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
THRESHOLD_COLOUR = "#d62728"  # CloudWatch's own alarm red
CHANGE_COLOUR = "#7f7f7f"
BILLING_NAMESPACE = "AWS/Billing"
BILLING_REGION = "us-east-1"
_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
# Trigger.Statistic arrives upper case; the widget takes the names GetMetricData uses.
STATISTICS = {
    "AVERAGE": "Average",
    "SUM": "Sum",
    "SAMPLE_COUNT": "SampleCount",
    "SAMPLECOUNT": "SampleCount",
    "MINIMUM": "Minimum",
    "MAXIMUM": "Maximum",
}
# Which side of the threshold is the alarm's: shaded, as in the CloudWatch console.
_FILL = {
    "GreaterThanThreshold": "above",
    "GreaterThanOrEqualToThreshold": "above",
    "LessThanThreshold": "below",
    "LessThanOrEqualToThreshold": "below",
}
_SYMBOL = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def widget(
    alarm: Mapping[str, Any],
    *,
    now: datetime | None = None,
    marks: Sequence[tuple[datetime, str]] = (),
    width: int = WIDTH,
    height: int = HEIGHT,
) -> dict[str, Any] | None:
    """The ``MetricWidget`` for ``alarm``, or None when it has no metric to draw (composite, malformed).

    ``marks`` are extra vertical annotations, (time, label), e.g. when an incident started, for
    the graph that replaces the first one on recovery; the window stretches back to show them.
    """
    trigger = alarm.get("Trigger")
    if not isinstance(trigger, Mapping) or alarm.get("AlarmRule"):
        return None
    metrics = _metric_math(trigger) if trigger.get("Metrics") else _single_metric(trigger)
    if not metrics:
        return None
    period = _period(trigger, metrics)
    changed = values.parse_time(alarm.get("StateChangeTime")) or (now or datetime.now(UTC))
    start, end = _window(changed, now or datetime.now(UTC), period, trigger, [when for when, _ in marks])
    state = alerts.text_of(alarm.get("NewStateValue")) or "state change"
    vertical = [{"value": _iso(changed), "label": state, "color": CHANGE_COLOUR}]
    vertical += [{"value": _iso(when), "label": label, "color": CHANGE_COLOUR} for when, label in marks]
    annotations: dict[str, Any] = {"vertical": sorted(vertical, key=lambda a: a["value"])}
    threshold = values.number(trigger.get("Threshold"))
    if threshold is not None and not trigger.get("ThresholdMetricId"):
        comparison = alerts.text_of(trigger.get("ComparisonOperator"))
        horizontal: dict[str, Any] = {
            "value": threshold,
            "label": f"threshold {_SYMBOL.get(comparison, '')} {threshold:g}".replace("  ", " "),
            "color": THRESHOLD_COLOUR,
        }
        if comparison in _FILL:
            horizontal["fill"] = _FILL[comparison]
        annotations["horizontal"] = [horizontal]
    name = alerts.text_of(alarm.get("AlarmName")) or "alarm"
    return {
        "metrics": metrics,
        "annotations": annotations,
        "title": name[:200],
        "view": "timeSeries",
        "stacked": False,
        "period": period,
        "start": _iso(start),
        "end": _iso(end),
        "timezone": "+0000",
        "width": max(1, min(int(width), 2000)),
        "height": max(1, min(int(height), 2000)),
        "legend": {"position": "bottom"},
    }


def region(alarm: Mapping[str, Any]) -> str:
    """Where the graph must be drawn: the alarm's region, or us-east-1 for billing metrics."""
    if _namespaces(alarm) & {BILLING_NAMESPACE}:
        return BILLING_REGION
    return alerts.alarm_region(dict(alarm))


def metric_count(metric_widget: Mapping[str, Any]) -> int:
    """How many metrics CloudWatch bills this image for: every query and expression in it."""
    return len(metric_widget.get("metrics") or [])


@dataclass
class RenderBudget:
    """At most ``limit`` images a ``per_seconds`` window, and none for ``cooldown`` after a throttle."""

    limit: int = 10
    per_seconds: float = 60.0
    cooldown: float = 60.0
    clock: Callable[[], float] = time.monotonic
    _times: list[float] = field(default_factory=list)
    _quiet_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> str | None:
        """None if an image may be asked for now (and counts it), else why not."""
        with self._lock:
            now = self.clock()
            if now < self._quiet_until:
                return "CloudWatch throttled or timed out a moment ago"
            self._times = [t for t in self._times if now - t < self.per_seconds]
            if len(self._times) >= self.limit:
                return f"already {self.limit} graphs in the last {self.per_seconds:g} s"
            self._times.append(now)
            return None

    def back_off(self) -> None:
        with self._lock:
            self._quiet_until = self.clock() + self.cooldown

    def reset(self) -> None:
        with self._lock:
            self._times.clear()
            self._quiet_until = 0.0


# Error codes and exception names after which asking again at once only makes the storm worse.
_BACK_OFF = ("Throttl", "TooManyRequests", "RequestLimitExceeded", "Timeout", "SlowDown")


def render(
    cloudwatch: Callable[[str], Any],
    alarm: Mapping[str, Any],
    *,
    now: datetime | None = None,
    marks: Sequence[tuple[datetime, str]] = (),
    width: int = WIDTH,
    height: int = HEIGHT,
    budget: RenderBudget,
) -> bytes | None:
    """The PNG of ``alarm``'s metric, or None (logged) if there is none or CloudWatch did not give one.

    ``cloudwatch(region)`` gives the client for a region (``lambda r: aws.client("cloudwatch",
    region=r)``); its timeouts bound the call (one attempt, 1 + 4 s). Never raises.
    """
    name = alerts.text_of(alarm.get("AlarmName"))[:200]
    try:
        metric_widget = widget(alarm, now=now, marks=marks, width=width, height=height)
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError):
        logger.exception("no graph for alarm %r: its trigger could not be read", name)
        return None
    if metric_widget is None:
        return None
    refused = budget.take()
    if refused:
        logger.warning("no graph for alarm %r: %s", name, refused)
        return None
    where = region(alarm)
    try:
        response = cloudwatch(where).get_metric_widget_image(
            MetricWidget=json.dumps(metric_widget, separators=(",", ":")), OutputFormat="png"
        )
        image = response["MetricWidgetImage"]
    except Exception as error:  # noqa: BLE001 (best effort: no failure of the graph may cost the alert)
        problem = _describe(error)
        if any(marker in problem for marker in _BACK_OFF):
            budget.back_off()
        logger.warning("no graph for alarm %r in %s: %s", name, where, problem)
        return None
    if not isinstance(image, bytes | bytearray) or not bytes(image).startswith(PNG_SIGNATURE):
        logger.warning("no graph for alarm %r: CloudWatch's answer is not a PNG", name)
        return None
    if len(image) > MAX_IMAGE_BYTES:
        logger.warning("no graph for alarm %r: the image is %d bytes, over %d", name, len(image), MAX_IMAGE_BYTES)
        return None
    logger.info("graph for alarm %r: %d bytes, %d metric(s)", name, len(image), metric_count(metric_widget))
    return bytes(image)


def filename(alarm: Mapping[str, Any]) -> str:
    """A Discord-safe attachment name for the alarm's graph (``attachment://`` takes [A-Za-z0-9_.-])."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", alerts.text_of(alarm.get("AlarmName"))).strip("-.")[:80]
    return f"{stem or 'alarm'}.png"


# The widget's parts


def _single_metric(trigger: Mapping[str, Any]) -> list[list[Any]]:
    namespace = alerts.text_of(trigger.get("Namespace"))
    name = alerts.text_of(trigger.get("MetricName"))
    if not namespace or not name:
        return []
    options: dict[str, Any] = {"id": "m1", "label": name}
    stat = _stat(trigger.get("ExtendedStatistic") or trigger.get("Statistic"))
    if stat:
        options["stat"] = stat
    period = _positive_int(trigger.get("Period"))
    if period:
        options["period"] = period
    return [[namespace, name, *_dimensions(trigger.get("Dimensions")), options]]


def _metric_math(trigger: Mapping[str, Any]) -> list[list[Any]]:
    queries = [q for q in trigger.get("Metrics") or [] if isinstance(q, Mapping)]
    ids = _widget_ids(queries)
    metrics: list[list[Any]] = []
    for query, query_id in zip(queries, ids, strict=True):
        options: dict[str, Any] = {"id": query_id}
        label = alerts.text_of(query.get("Label"))
        if label:
            options["label"] = label
        if query.get("ReturnData") is False:
            options["visible"] = False  # an input of the expression: fetched, not drawn
        period = _positive_int(query.get("Period"))
        expression = query.get("Expression")
        if isinstance(expression, str) and expression.strip():
            if period:
                options["period"] = period
            metrics.append([{"expression": expression, **options}])
            continue
        stat = query.get("MetricStat")
        if not isinstance(stat, Mapping) or not isinstance(stat.get("Metric"), Mapping):
            continue
        metric = stat["Metric"]
        namespace = alerts.text_of(metric.get("Namespace"))
        name = alerts.text_of(metric.get("MetricName"))
        if not namespace or not name:
            continue
        statistic = _stat(stat.get("Stat"))
        if statistic:
            options["stat"] = statistic
        period = _positive_int(stat.get("Period")) or period
        if period:
            options["period"] = period
        if query.get("AccountId"):
            options["accountId"] = alerts.text_of(query["AccountId"])
        options.setdefault("label", name)
        metrics.append([namespace, name, *_dimensions(metric.get("Dimensions")), options])
    return metrics


def _widget_ids(queries: list[Mapping[str, Any]]) -> list[str]:
    """The queries' own ids (expressions refer to them), or mN where one is not a valid widget id."""
    taken = {alerts.text_of(q.get("Id")) for q in queries}
    ids: list[str] = []
    counter = 0
    for query in queries:
        own = alerts.text_of(query.get("Id"))
        if _ID.match(own) and own not in ids:
            ids.append(own)
            continue
        # EventBridge alarm events carry UUIDs as ids; the widget wants [a-z][a-zA-Z0-9_]*.
        counter += 1
        while f"m{counter}" in taken or f"m{counter}" in ids:
            counter += 1
        ids.append(f"m{counter}")
    return ids


def _dimensions(value: Any) -> list[str]:
    """name, value, name, value...: SNS writes {name, value}, EventBridge {Name, Value} or a mapping."""
    if isinstance(value, Mapping):
        pairs: Iterable[tuple[Any, Any]] = value.items()
    elif isinstance(value, list):
        pairs = [
            (d.get("name", d.get("Name")), d.get("value", d.get("Value"))) for d in value if isinstance(d, Mapping)
        ]
    else:
        return []
    flat: list[str] = []
    for name, dimension_value in pairs:
        if name is not None and dimension_value is not None:
            flat += [alerts.text_of(name), alerts.text_of(dimension_value)]
    return flat


def _stat(value: Any) -> str | None:
    text = alerts.text_of(value).strip()
    if not text:
        return None
    return STATISTICS.get(text.upper().replace(" ", ""), text)


def _period(trigger: Mapping[str, Any], metrics: list[list[Any]]) -> int:
    periods = [_positive_int(trigger.get("Period"))]
    periods += [options.get("period") for *_, options in metrics if isinstance(options, dict)]
    return min(next((p for p in periods if p), 300), int(MAX_LEAD.total_seconds()))


def _window(
    changed: datetime, now: datetime, period: int, trigger: Mapping[str, Any], marks: list[datetime]
) -> tuple[datetime, datetime]:
    evaluations = min(_positive_int(trigger.get("EvaluationPeriods")) or 1, 10_000)
    step = timedelta(seconds=period)
    lead = max(MIN_LEAD, min(LEAD_WINDOWS * evaluations * step, MAX_LEAD))
    lead = min(lead, MAX_POINTS // 2 * step)  # half the points before the change, at most half after
    end = changed + max(min(now - changed, lead), step)
    start = min([changed, *marks]) - lead
    # Marks far back (a long incident) cannot widen it past the caps: the newest part is kept.
    return max(start, end - min(2 * MAX_LEAD, MAX_POINTS * step)), end


def _namespaces(alarm: Mapping[str, Any]) -> set[str]:
    trigger = alarm.get("Trigger")
    if not isinstance(trigger, Mapping):
        return set()
    found = {alerts.text_of(trigger.get("Namespace"))}
    for query in trigger.get("Metrics") or []:
        stat = query.get("MetricStat") if isinstance(query, Mapping) else None
        metric = stat.get("Metric") if isinstance(stat, Mapping) else None
        if isinstance(metric, Mapping):
            found.add(alerts.text_of(metric.get("Namespace")))
    return found - {""}


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _positive_int(value: Any) -> int | None:
    number = values.number(value)
    # No CloudWatch period or count comes near 2**31; larger is a malformed payload.
    return int(number) if number and 0 < number < 2**31 else None


def _describe(error: BaseException) -> str:
    # botocore's ClientError carries the service's code; other errors (timeouts) are named by class.
    response = getattr(error, "response", None)
    if isinstance(response, Mapping):
        code = alerts.text_of((response.get("Error") or {}).get("Code"))
        message = alerts.text_of((response.get("Error") or {}).get("Message"))
        if code:
            return f"{code}: {message[:200]}"
    return type(error).__name__
