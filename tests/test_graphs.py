"""The alarm's graph: the MetricWidget built from every alarm shape, and rendering it best effort.

Widgets are checked against CloudWatch's documented MetricWidget structure (checked here,
independently of the builder); rendering runs against the moto server over HTTP, with the fault
proxy in front of it for errors, throttles, hangs and oversized answers.
"""

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib import alerts, aws, graphs, values
from devkit import names
from devkit.widget_image import problems
from reliability import faultproxy

EVENTS = Path(__file__).parent / "events"
ALARMS = sorted(p.name for p in EVENTS.glob("*.json") if alerts.alarm_from_message(p.read_text()))
NOW = datetime(2026, 11, 24, 2, 20, tzinfo=UTC)
ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
STATS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}


def alarm_of(name: str) -> dict[str, Any]:
    alarm = alerts.alarm_from_message((EVENTS / name).read_text())
    assert alarm is not None
    return alarm


def assert_documented_widget(widget: dict[str, Any]) -> None:
    """CloudWatch's "Metric Widget Structure and Syntax", as far as this builder uses it."""
    metrics = widget["metrics"]
    assert isinstance(metrics, list) and 1 <= len(metrics) <= 100
    ids: list[str] = []
    expressions: list[str] = []
    for metric in metrics:
        assert isinstance(metric, list) and metric
        *names_, options = metric
        assert isinstance(options, dict), "each metric ends with its rendering properties"
        if "expression" in options:
            assert names_ == [], "an expression is alone in its array"
            expressions.append(options["expression"])
        else:
            assert len(names_) >= 2 and len(names_) % 2 == 0, "namespace, name, then dimension name/value pairs"
            assert all(isinstance(part, str) and part for part in names_)
            stat = options.get("stat", "Average")
            assert stat in STATS or re.match(r"^(p|tm|tc|ts|wm|pr)\d", stat), stat
        assert set(options) <= {"id", "label", "stat", "period", "visible", "color", "yAxis", "accountId", "expression"}
        if "period" in options:
            assert options["period"] in (1, 5, 10, 30) or options["period"] % 60 == 0
        if "id" in options:
            assert ID.match(options["id"]), options["id"]
            ids.append(options["id"])
    assert len(ids) == len(set(ids)), "ids are unique"
    for expression in expressions:
        for name in set(re.findall(r"\b[a-z][a-zA-Z0-9_]*\b", expression)):
            assert name in ids, f"{expression} refers to {name}"
    assert 1 <= widget["width"] <= 2000 and 1 <= widget["height"] <= 2000
    assert widget["period"] in (1, 5, 10, 30) or widget["period"] % 60 == 0
    for key in ("start", "end"):
        datetime.fromisoformat(widget[key].replace("Z", "+00:00"))
    assert widget["start"] < widget["end"]
    annotations = widget["annotations"]
    assert "alarms" not in annotations, "annotations.alarms is documented for dashboards only"
    for item in annotations.get("horizontal", []):
        assert isinstance(item["value"], float | int)
        assert item.get("fill", "above") in ("above", "below")
    for item in annotations["vertical"]:
        datetime.fromisoformat(item["value"].replace("Z", "+00:00"))
    assert problems(widget) == [], "the emulator accepts what CloudWatch documents"


@pytest.mark.parametrize("sample", ALARMS)
def test_every_alarm_with_a_metric_gets_a_documented_widget(sample: str) -> None:
    alarm = alarm_of(sample)
    widget = graphs.widget(alarm, now=NOW)
    if alarm.get("AlarmRule"):
        assert widget is None, "composite alarms get no graph"
        return
    assert widget is not None
    assert_documented_widget(widget)
    assert widget["title"] == alarm["AlarmName"]
    (change,) = widget["annotations"]["vertical"]
    assert change["label"] == alarm["NewStateValue"]
    changed = values.parse_time(alarm["StateChangeTime"])
    assert changed is not None
    assert change["value"] == changed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert widget["start"] < change["value"] < widget["end"]


def test_a_single_metric_alarm_maps_its_statistic_and_dimensions() -> None:
    widget = graphs.widget(alarm_of("threshold-alarm.json"), now=NOW)
    assert widget is not None
    assert widget["metrics"] == [
        [
            "AWS/ApplicationELB",
            "RequestCount",
            "LoadBalancer",
            "app/GccExplorerApp/4a4513393260c7c5",
            {"id": "m1", "label": "RequestCount", "stat": "Sum", "period": 300},
        ]
    ]
    assert widget["annotations"]["horizontal"] == [
        {"value": 30.0, "label": "threshold >= 30", "color": graphs.THRESHOLD_COLOUR, "fill": "above"}
    ]


@pytest.mark.parametrize(
    ("statistic", "stat"),
    [("AVERAGE", "Average"), ("SUM", "Sum"), ("SAMPLE_COUNT", "SampleCount"), ("MINIMUM", "Minimum"),
     ("MAXIMUM", "Maximum"), ("Average", "Average")],
)  # fmt: skip
def test_upper_case_statistics_become_the_widgets_names(statistic: str, stat: str) -> None:
    alarm = alarm_of("threshold-alarm.json")
    alarm["Trigger"]["Statistic"] = statistic
    widget = graphs.widget(alarm, now=NOW)
    assert widget is not None
    assert widget["metrics"][0][-1]["stat"] == stat


def test_a_percentile_alarm_uses_its_extended_statistic() -> None:
    widget = graphs.widget(alarm_of("extended-statistic-ok.json"), now=NOW)
    assert widget is not None
    assert widget["metrics"][0][-1] == {"id": "m1", "label": "TargetResponseTime", "stat": "p90", "period": 900}
    assert widget["annotations"]["horizontal"][0]["value"] == 4.0


def test_metric_math_keeps_ids_and_hides_what_returns_no_data() -> None:
    widget = graphs.widget(alarm_of("metric-math-insufficient-data.json"), now=NOW)
    assert widget is not None
    expression, rate, requests = widget["metrics"]
    assert expression == [
        {
            "expression": "IF(total_requests_per_5m > 100, error_rate, 0)",
            "id": "errors_once_over_threshold",
            "label": "Error rate (assuming we have enough traffic)",
        }
    ]
    assert rate[:2] == ["AWS/CloudFront", "5xxErrorRate"]
    assert rate[2:6] == ["DistributionId", "E1XAMPLE0DIST", "Region", "Global"]
    assert rate[-1] == {"id": "error_rate", "visible": False, "stat": "Average", "period": 300, "label": "5xxErrorRate"}
    assert requests[-1]["id"] == "total_requests_per_5m"
    assert requests[-1]["visible"] is False
    assert requests[-1]["stat"] == "Sum"


def test_an_anomaly_band_is_drawn_and_has_no_fixed_threshold() -> None:
    widget = graphs.widget(alarm_of("anomaly-band-alarm.json"), now=NOW)
    assert widget is not None
    metric, band = widget["metrics"]
    assert metric[-1]["id"] == "m1"
    assert band == [{"expression": "ANOMALY_DETECTION_BAND(m1,10)", "id": "e1", "label": "RequestCount (Expected)"}]
    assert "horizontal" not in widget["annotations"]


def test_an_eventbridge_alarms_uuid_ids_become_widget_ids() -> None:
    widget = graphs.widget(alarm_of("eventbridge-alarm-state-change.json"), now=NOW)
    assert widget is not None
    assert widget["metrics"][0][-1]["id"] == "m1"
    assert widget["metrics"][0][-1]["stat"] == "p90"

    source = json.loads((EVENTS / "eventbridge-alarm-state-change.json").read_text())
    metric = source["detail"]["configuration"]["metrics"][0]
    source["detail"]["configuration"]["metrics"] = [
        {**metric, "returnData": False},
        {"id": "m1", "expression": "m1", "returnData": True},  # a user's m1 keeps its name
    ]
    math = graphs.widget(alerts.alarm_from_message(json.dumps(source)) or {}, now=NOW)
    assert math is not None
    assert [m[-1]["id"] for m in math["metrics"]] == ["m2", "m1"]


def test_composite_alarms_get_no_graph() -> None:
    assert graphs.widget(alarm_of("composite-null-description.json"), now=NOW) is None
    assert graphs.widget(alarm_of("eventbridge-alarm-composite.json"), now=NOW) is None


def test_the_region_is_the_alarms_and_billing_is_in_us_east_1() -> None:
    alarm = alarm_of("threshold-alarm.json")
    alarm["AlarmArn"] = "arn:aws:cloudwatch:eu-west-2:052730242331:alarm:Traffic"
    alarm["Region"] = "EU (London)"
    assert graphs.region(alarm) == "eu-west-2"

    billing = alarm_of("billing-alarm.json")
    billing["AlarmArn"] = "arn:aws:cloudwatch:eu-west-2:052730242331:alarm:Budget_1500"
    assert graphs.region(billing) == "us-east-1"


@pytest.mark.parametrize(
    ("period", "evaluations", "lead"),
    [
        (60, 1, timedelta(hours=3)),  # at least 3 hours
        (300, 3, timedelta(hours=5)),  # 20 evaluation windows
        (900, 2, timedelta(hours=10)),
        (21600, 1, timedelta(days=5)),  # billing
        (86400, 5, timedelta(days=7)),  # at most a week
        (1, 1, timedelta(seconds=720)),  # at most 720 points at the alarm's period
    ],
)
def test_the_window_shows_what_led_up_to_the_change(period: int, evaluations: int, lead: timedelta) -> None:
    alarm = alarm_of("threshold-alarm.json")
    alarm["Trigger"].update(Period=period, EvaluationPeriods=evaluations)
    changed = datetime(2026, 11, 24, 2, 15, 4, tzinfo=UTC)
    alarm["StateChangeTime"] = "2026-11-24T02:15:04.000+0000"

    widget = graphs.widget(alarm, now=changed + timedelta(seconds=30))
    assert widget is not None

    start = datetime.fromisoformat(widget["start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(widget["end"].replace("Z", "+00:00"))
    assert changed - start == lead
    assert end - changed == timedelta(seconds=max(30, period)), "it ends now, and at least a period on"
    assert widget["period"] == period
    assert widget["metrics"][0][-1]["period"] == period


def test_an_old_notification_shows_the_change_with_as_much_after_it_as_before() -> None:
    widget = graphs.widget(alarm_of("threshold-alarm.json"), now=NOW)  # a change in 2020
    assert widget is not None
    assert widget["start"] == "2020-10-09T16:32:10Z"
    assert widget["end"] == "2020-10-10T02:32:10Z"


def test_marks_stretch_the_window_back_and_are_drawn() -> None:
    alarm = alarm_of("extended-statistic-ok.json")  # OK at 02:47, period 900 x 2: 10 h lead
    began = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    widget = graphs.widget(alarm, now=NOW + timedelta(hours=1), marks=[(began, "ALARM")])
    assert widget is not None
    assert widget["start"] == "2026-11-23T10:00:00Z"
    assert [(a["value"], a["label"]) for a in widget["annotations"]["vertical"]] == [
        ("2026-11-23T20:00:00Z", "ALARM"),
        ("2026-11-24T02:47:03Z", "OK"),
    ]


@pytest.mark.parametrize(
    "trigger",
    [
        None,
        "x",
        {},
        {"Namespace": "AWS/EC2"},
        {"Namespace": ["x"], "MetricName": {"a": 1}, "Dimensions": "x", "Period": "sixty", "Threshold": "high"},
        {"Namespace": "A", "MetricName": "B", "Dimensions": [{"name": "n"}, 5, {"Name": "N", "Value": 1}]},
        {"Metrics": [5, {"Id": "UPPER", "MetricStat": {"Metric": "x"}}, {"Expression": ""}]},
        {"Metrics": [{"Id": "a", "Expression": "b + 1"}]},
        {"Namespace": "A", "MetricName": "B", "Period": -5, "EvaluationPeriods": 1e300, "Threshold": float("nan")},
    ],
)
def test_a_trigger_of_the_wrong_shape_gives_no_graph_or_a_valid_one(trigger: Any) -> None:
    alarm = {**alarm_of("threshold-alarm.json"), "Trigger": trigger}
    widget = graphs.widget(alarm, now=NOW)
    if widget is not None:
        assert widget["metrics"]
        json.dumps(widget, allow_nan=False)


def test_the_attachment_name_is_one_discord_accepts() -> None:
    assert graphs.filename({"AlarmName": "High5xx_godbolt.org"}) == "High5xx_godbolt.org.png"
    assert graphs.filename({"AlarmName": "High 5xx (godbolt.org)/eu"}) == "High-5xx-godbolt.org-eu.png"
    assert graphs.filename({"AlarmName": "../\"'"}) == "alarm.png"


# Rendering, over HTTP


def seed_response_times(endpoint: str, now: datetime, region: str = names.REGION) -> None:
    """TargetResponseTime samples for SiteTooSlow: calm, then over 2 s in the last minutes."""
    import boto3

    cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=region)
    data = [
        {
            "MetricName": "TargetResponseTime",
            "Dimensions": [{"Name": "LoadBalancer", "Value": "app/GccExplorerApp/0a1b2c3d4e5f6789"}],
            "Timestamp": now - timedelta(minutes=minutes),
            "Values": [0.3, 0.4, 0.5, 2.5 if minutes < 5 else 0.6],
            "Counts": [5, 3, 1, 1],
            "Unit": "Seconds",
        }
        for minutes in range(60, 0, -1)
    ]
    for start in range(0, len(data), 20):
        cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[start : start + 20])


def site_too_slow(now: datetime) -> dict[str, Any]:
    from local_stack.alarm import site_too_slow as alarm

    return alarm("ALARM", now)


def cloudwatch(region: str) -> Any:
    return aws.client("cloudwatch", region=region)


def test_the_graph_is_rendered_in_the_alarms_region(proxy: faultproxy.FaultProxy, moto_endpoint: str) -> None:
    now = datetime.now(UTC)
    seed_response_times(moto_endpoint, now, region="eu-west-2")
    alarm = site_too_slow(now)
    alarm["AlarmArn"] = alarm["AlarmArn"].replace(":us-east-1:", ":eu-west-2:")
    seen: list[tuple[faultproxy.Exchange, faultproxy.Answer]] = []
    proxy.add(faultproxy.Rule(faultproxy.action("GetMetricWidgetImage"), faultproxy.record(seen)))

    image = graphs.render(cloudwatch, alarm, budget=graphs.RenderBudget())

    assert image is not None and image.startswith(graphs.PNG_SIGNATURE)
    ((request, answer),) = seen
    assert "/eu-west-2/monitoring/aws4_request" in request.header("Authorization")
    expected = graphs.widget(alarm, now=now)
    assert expected is not None
    assert json.loads(request.json()["MetricWidget"])["metrics"] == expected["metrics"]
    assert answer.status == 200


def test_the_client_is_made_in_the_region_asked_for_with_one_bounded_attempt() -> None:
    london = aws.client("cloudwatch", region="eu-west-2")
    assert london.meta.region_name == "eu-west-2"
    assert aws.client("cloudwatch", region="eu-west-2") is london
    assert aws.client("cloudwatch").meta.region_name == names.REGION
    assert aws.client("cloudwatch") is not london
    config = london.meta.config
    assert (config.connect_timeout, config.read_timeout) == (1, 4)
    assert config.retries["total_max_attempts"] == 1
    assert aws.client("ssm") is aws.client("ssm"), "other callers are unchanged"


def test_an_alarm_storm_stops_asking_for_graphs(proxy: faultproxy.FaultProxy, moto_endpoint: str) -> None:
    now = datetime.now(UTC)
    seed_response_times(moto_endpoint, now)
    clock = [0.0]
    budget = graphs.RenderBudget(limit=3, per_seconds=60, clock=lambda: clock[0])

    images = [graphs.render(cloudwatch, site_too_slow(now), budget=budget) for _ in range(5)]

    assert [image is not None for image in images] == [True, True, True, False, False]
    assert proxy.count("GetMetricWidgetImage") == 3
    clock[0] = 61.0
    assert graphs.render(cloudwatch, site_too_slow(now), budget=budget) is not None


def test_a_composite_alarm_asks_nothing(proxy: faultproxy.FaultProxy) -> None:
    assert graphs.render(cloudwatch, alarm_of("composite-null-description.json"), budget=graphs.RenderBudget()) is None
    assert proxy.count("GetMetricWidgetImage") == 0
