"""The emulator's GetMetricWidgetImage: real PNGs drawn from the datapoints moto holds, over HTTP."""

import base64
import io
import json
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import botocore.exceptions
import pytest
import requests
from PIL import Image

from tools.devkit import names, widget_image

THRESHOLD = (214, 39, 40)  # "#d62728"
LINE = (31, 119, 180)  # the first of the palette, "#1f77b4"
DIMENSIONS = [{"Name": "LoadBalancer", "Value": "app/GccExplorerApp/0a1b2c3d4e5f6789"}]


def seed(boto: Any, now: datetime, spike: float = 3.5) -> None:
    """An hour of one value a minute: 1.0, then ``spike`` for the last ten minutes."""
    data = [
        {
            "MetricName": "TargetResponseTime",
            "Dimensions": DIMENSIONS,
            "Timestamp": now - timedelta(minutes=m),
            "Value": spike if m <= 10 else 1.0,
        }
        for m in range(60, 0, -1)
    ]
    for start in range(0, len(data), 20):
        boto("cloudwatch").put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[start : start + 20])


def widget(now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "metrics": [
            [
                "AWS/ApplicationELB",
                "TargetResponseTime",
                "LoadBalancer",
                DIMENSIONS[0]["Value"],
                {"id": "m1", "stat": "Maximum"},
            ]
        ],
        "annotations": {
            "horizontal": [{"value": 3.0, "label": "threshold > 3", "color": "#d62728", "fill": "above"}],
            "vertical": [{"value": (now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"), "label": "ALARM"}],
        },
        "period": 60,
        "start": (now - timedelta(hours=1, minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "end": (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "width": 640,
        "height": 320,
        "title": "SiteTooSlow",
        "yAxis": {"left": {"min": 0, "max": 4}},
        **extra,
    }


def image_of(boto: Any, metric_widget: dict[str, Any]) -> Image.Image:
    response = boto("cloudwatch").get_metric_widget_image(MetricWidget=json.dumps(metric_widget), OutputFormat="png")
    data = response["MetricWidgetImage"]
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return Image.open(io.BytesIO(data)).convert("RGB")


def rows_of(picture: Image.Image, colour: tuple[int, int, int], share: float) -> list[int]:
    """Rows of the plot area where at least ``share`` of the pixels are exactly ``colour``."""
    left, top, right, bottom = widget_image.plot_box(*picture.size)
    pixels = picture.load()
    found = []
    for y in range(top, bottom + 1):
        hits = sum(1 for x in range(left + 1, right - 1) if pixels[x, y] == colour)
        if hits >= share * (right - left - 2):
            found.append(y)
    return found


@pytest.mark.parametrize(("width", "height"), [(640, 320), (600, 300), (400, 250)])
def test_the_image_is_a_png_of_the_requested_size_and_not_blank(boto: Any, width: int, height: int) -> None:
    now = datetime.now(UTC)
    seed(boto, now)

    picture = image_of(boto, widget(now, width=width, height=height))

    assert picture.size == (width, height)
    colours = picture.getcolors(maxcolors=width * height)
    assert colours is not None
    not_white = sum(count for count, colour in colours if colour != (255, 255, 255))
    assert not_white > 0.05 * width * height
    assert len(colours) > 20
    assert any(colour == LINE for _, colour in colours), "the metric is drawn"


def test_the_threshold_is_drawn_where_it_belongs(boto: Any) -> None:
    now = datetime.now(UTC)
    seed(boto, now)

    picture = image_of(boto, widget(now))

    _, top, _, bottom = widget_image.plot_box(*picture.size)
    expected = top + (4 - 3) / (4 - 0) * (bottom - top)  # y = 3 on an axis from 0 (bottom) to 4 (top)
    rows = rows_of(picture, THRESHOLD, share=0.6)
    assert rows, "a threshold-coloured line across the plot"
    assert len(rows) <= widget_image.ANNOTATION_PIXELS
    assert abs(sum(rows) / len(rows) - expected) <= 1.5


def test_the_spike_is_drawn_above_the_threshold_and_the_calm_below(boto: Any) -> None:
    now = datetime.now(UTC)
    seed(boto, now)

    picture = image_of(boto, widget(now))

    threshold_row = rows_of(picture, THRESHOLD, share=0.6)[0]
    pixels = picture.load()
    left, top, right, bottom = widget_image.plot_box(*picture.size)
    line = [(x, y) for x in range(left, right) for y in range(top, bottom) if pixels[x, y] == LINE]
    middle = left + (right - left) // 2
    assert any(y < threshold_row for x, y in line if x > middle), "the last minutes are over 3"
    assert all(y > threshold_row for x, y in line if x < middle), "the hour before is under it"


def test_without_a_y_axis_the_range_fits_data_and_threshold(boto: Any) -> None:
    now = datetime.now(UTC)
    seed(boto, now, spike=2.0)
    metric_widget = widget(now)
    del metric_widget["yAxis"]

    picture = image_of(boto, metric_widget)

    low, high = widget_image.y_range(
        metric_widget, widget_image.series(metric_widget, widget_image.moto_datapoints(names.REGION), now)
    )
    assert (low, round(high, 6)) == (0.0, 3.3), "0 to the threshold plus a tenth"
    _, top, _, bottom = widget_image.plot_box(*picture.size)
    expected = top + (high - 3) / (high - low) * (bottom - top)
    rows = rows_of(picture, THRESHOLD, share=0.6)
    assert rows and abs(sum(rows) / len(rows) - expected) <= 1.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metrics": []}, "metrics must be an array of 1 to 100"),
        ({"metrics": [["AWS/ApplicationELB"]]}, "namespace, metric name, then dimension name/value pairs"),
        ({"metrics": [["A", "B", {"id": "m1"}], ["A", "C", {"id": "m1"}]]}, "id 'm1' is used twice"),
        ({"metrics": [["A", "B", {"id": "Upper"}]]}, "must start with a lower-case letter"),
        ({"metrics": [[{"expression": "m1 * 2", "id": "e1"}]]}, "refers to 'm1'"),
        ({"width": 5000}, "width must be an integer from 1 to 2000"),
        ({"start": "yesterday"}, "neither an ISO 8601 time"),
        ({"metrics": [["A", "B", {"stat": "tm90"}]]}, "not emulated"),
    ],
)
def test_a_malformed_widget_is_refused_as_cloudwatch_refuses_it(
    boto: Any, change: dict[str, Any], message: str
) -> None:
    metric_widget = {**widget(datetime.now(UTC)), **change}
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        boto("cloudwatch").get_metric_widget_image(MetricWidget=json.dumps(metric_widget))
    assert caught.value.response["Error"]["Code"] == "InvalidParameterInput"
    assert message in caught.value.response["Error"]["Message"]


def test_the_query_protocol_of_older_botocores_is_answered_too(moto_endpoint: str, boto: Any) -> None:
    now = datetime.now(UTC)
    seed(boto, now)
    response = requests.post(
        moto_endpoint,
        data={"Action": "GetMetricWidgetImage", "Version": "2010-08-01", "MetricWidget": json.dumps(widget(now))},
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261124/us-east-1/monitoring/aws4_request"},
        timeout=30,
    )
    assert response.status_code == 200
    encoded = re.search(r"<MetricWidgetImage>([^<]+)</MetricWidgetImage>", response.text)
    assert encoded is not None
    assert Image.open(io.BytesIO(base64.b64decode(encoded[1]))).size == (640, 320)


def test_other_cloudwatch_calls_still_reach_moto(boto: Any) -> None:
    now = datetime.now(UTC)
    seed(boto, now)
    listed = boto("cloudwatch").list_metrics(Namespace="AWS/ApplicationELB")["Metrics"]
    assert [m["MetricName"] for m in listed] == ["TargetResponseTime"]


def datum(minutes: int, value: float) -> Any:
    when = datetime(2026, 11, 24, 2, 0, tzinfo=UTC) + timedelta(minutes=minutes)
    dimensions = [SimpleNamespace(name="LoadBalancer", value="lb")]
    return SimpleNamespace(namespace="N", name="M", dimensions=dimensions, timestamp=when, value=value)


def test_statistics_percentiles_and_expressions_are_computed_per_period() -> None:
    points = [datum(0, v) for v in range(1, 11)] + [datum(1, 5.0), datum(1, 7.0)]
    metric_widget = {
        "metrics": [
            ["N", "M", "LoadBalancer", "lb", {"id": "p", "stat": "p90", "period": 60}],
            ["N", "M", "LoadBalancer", "lb", {"id": "n", "stat": "SampleCount", "period": 60, "visible": False}],
            ["N", "M", "LoadBalancer", "lb", {"id": "a", "stat": "Average", "period": 60}],
            ["N", "M", "LoadBalancer", "other", {"id": "none", "stat": "Sum", "period": 60}],
            [{"expression": "IF(n > 5, p, 0) + 1", "id": "e"}],
            [{"expression": "ANOMALY_DETECTION_BAND(a, 2)", "id": "band"}],
        ],
        "start": "2026-11-24T02:00:00Z",
        "end": "2026-11-24T02:05:00Z",
    }
    found = {s.id: s for s in widget_image.series(metric_widget, points, datetime(2026, 11, 24, 3, tzinfo=UTC))}
    first, second = datetime(2026, 11, 24, 2, 0, tzinfo=UTC), datetime(2026, 11, 24, 2, 1, tzinfo=UTC)
    assert found["p"].points == {first: 9.0, second: 7.0}
    assert found["n"].points == {first: 10, second: 2}
    assert found["n"].visible is False
    assert found["a"].points == {first: 5.5, second: 6.0}
    assert found["none"].points == {}, "dimensions must match exactly"
    assert found["e"].points == {first: 10.0, second: 1.0}
    band = found["band"].band
    assert band is not None
    assert band[0][second] < 6.0 < band[1][second]


def test_the_local_stacks_sample_alarm_produces_a_real_graph(
    moto_endpoint: str, boto: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tools.local_stack import alarm, seed

    now = datetime.now(UTC)
    seed.write_metrics(boto("cloudwatch"), seed.response_times(now - seed.METRIC_HISTORY, now))  # as the stack does
    boto("sns").create_topic(Name=names.ALERT_TOPIC)
    saved = tmp_path / "alarm.png"

    assert alarm.main(["--endpoint-url", moto_endpoint, "--save-graph", str(saved)]) == 0

    assert "published OK → ALARM for SiteTooSlow" in capsys.readouterr().out
    picture = Image.open(saved).convert("RGB")
    assert picture.size == (600, 300)
    (threshold_row, *_) = rows_of(picture, THRESHOLD, share=0.5)
    left, top, right, bottom = widget_image.plot_box(*picture.size)
    pixels = picture.load()
    line = [(x, y) for x in range(left, right) for y in range(top, bottom) if pixels[x, y] == LINE]
    recent = left + (right - left) * 0.95
    assert any(y < threshold_row for x, y in line if x > recent), "the slowdown crosses the threshold"
    assert all(y > threshold_row for x, y in line if x < left + (right - left) * 0.8), "the hours before do not"
