"""``GetMetricWidgetImage`` for moto's emulator, which has none: the widget drawn from moto's datapoints.

``Middleware`` sits in front of moto's WSGI app (``tools.devkit.moto`` puts it there for the tests, the
local stack and the bench). A ``GetMetricWidgetImage`` call, in the JSON protocol botocore speaks
now or the query protocol older botocores speak, is answered here; everything else goes to moto
unchanged. The widget is checked against CloudWatch's documented structure (a malformed one is
CloudWatch's 400 ``InvalidParameterInput``), its metrics are read from what ``PutMetricData``
stored in moto's backend (statistics and percentiles computed here: moto's own GetMetricData
has no percentiles), its expressions evaluated (arithmetic, comparisons, ``IF``,
``ANOMALY_DETECTION_BAND``) and the graph drawn with matplotlib: lines, the anomaly band,
horizontal annotations (thresholds) and vertical ones (state changes), at the requested size.

The layout is fixed so that tests can find things by pixel: the plot area is ``plot_box(width,
height)``, the y axis runs from ``y_range(...)``'s low value at the box's bottom to its high at
the top (the widget's ``yAxis.left.min``/``max`` when given), and horizontal annotations are
drawn without antialiasing, in their exact colour, ``ANNOTATION_PIXELS`` rows thick.
"""

import ast
import base64
import io
import json
import logging
import math
import re
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tools.devkit.names import ACCOUNT_ID, REGION

logger = logging.getLogger("tools.devkit.widget_image")

OPERATION = "GetMetricWidgetImage"
JSON_TARGET = f"GraniteServiceVersion20100801.{OPERATION}"
XML_NAMESPACE = "http://monitoring.amazonaws.com/doc/2010-08-01/"
DPI = 100
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 60, 20, 30, 62  # pixels, whatever the size
ANNOTATION_PIXELS = 2
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
BAND_COLOUR = "#b0b0b0"
DEFAULT_ANNOTATION_COLOUR = "#d62728"
STATISTICS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
_DURATION = re.compile(r"^-?P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?$")
_CREDENTIAL_REGION = re.compile(r"Credential=[^/]+/[^/]+/([^/]+)/")
_render_lock = threading.Lock()


class WidgetError(ValueError):
    """What CloudWatch would answer with a 400 InvalidParameterInput."""


@dataclass
class Series:
    id: str
    label: str
    points: dict[datetime, float] = field(default_factory=dict)
    visible: bool = True
    colour: str | None = None
    band: tuple[dict[datetime, float], dict[datetime, float]] | None = None  # (lower, upper)


# The documented structure


def problems(widget: Any) -> list[str]:
    """What is wrong with ``widget`` by CloudWatch's documented MetricWidget structure (empty: nothing)."""
    if not isinstance(widget, dict):
        return ["the MetricWidget is not a JSON object"]
    found: list[str] = []
    metrics = widget.get("metrics")
    if not isinstance(metrics, list) or not 1 <= len(metrics) <= 100:
        return ["metrics must be an array of 1 to 100 metrics and expressions"]
    ids: list[str] = []
    expressions: list[str] = []
    for index, metric in enumerate(metrics):
        where = f"metrics[{index}]"
        if not isinstance(metric, list) or not metric:
            found.append(f"{where} is not a non-empty array")
            continue
        options = metric[-1] if isinstance(metric[-1], dict) else {}
        names = metric[:-1] if isinstance(metric[-1], dict) else metric
        if "expression" in options:
            if names:
                found.append(f"{where}: an expression stands alone in its array")
            if not isinstance(options["expression"], str) or not options["expression"].strip():
                found.append(f"{where}: the expression is empty")
            else:
                expressions.append(options["expression"])
        else:
            if not all(isinstance(part, str) for part in names):
                found.append(f"{where}: namespace, metric name and dimensions must be strings")
            if len(names) < 2 or len(names) % 2:
                found.append(f"{where}: namespace, metric name, then dimension name/value pairs")
            stat = options.get("stat", widget.get("stat", "Average"))
            if not isinstance(stat, str) or not stat:
                found.append(f"{where}: stat must be a statistic name")
        for key in ("period",):
            if key in options and not (isinstance(options[key], int) and _valid_period(options[key])):
                found.append(f"{where}: period must be 1, 5, 10, 30, 60 or a multiple of 60")
        if "visible" in options and not isinstance(options["visible"], bool):
            found.append(f"{where}: visible must be true or false")
        if "id" in options:
            metric_id = options["id"]
            if not isinstance(metric_id, str) or not _ID.match(metric_id):
                found.append(f"{where}: id {metric_id!r} must start with a lower-case letter")
            elif metric_id in ids:
                found.append(f"{where}: id {metric_id!r} is used twice")
            else:
                ids.append(metric_id)
    for expression in expressions:
        for name in _names_in(expression):
            if name not in ids:
                found.append(f"expression {expression!r} refers to {name!r}, which no metric has as its id")
    for key in ("width", "height"):
        if key in widget and not (isinstance(widget[key], int) and 1 <= widget[key] <= 2000):
            found.append(f"{key} must be an integer from 1 to 2000")
    if "period" in widget and not (isinstance(widget["period"], int) and _valid_period(widget["period"])):
        found.append("period must be 1, 5, 10, 30, 60 or a multiple of 60")
    found += _annotation_problems(widget.get("annotations"))
    for key in ("start", "end"):
        if key in widget:
            try:
                _moment(widget[key], datetime.now(UTC))
            except WidgetError as error:
                found.append(f"{key}: {error}")
    return found


def _annotation_problems(annotations: Any) -> list[str]:
    if annotations is None:
        return []
    if not isinstance(annotations, dict):
        return ["annotations must be an object"]
    found: list[str] = []
    for kind in ("horizontal", "vertical"):
        entries = annotations.get(kind, [])
        if not isinstance(entries, list):
            found.append(f"annotations.{kind} must be an array")
            continue
        for index, entry in enumerate(entries):
            band = entry if isinstance(entry, list) else [entry]
            for item in band:
                if not isinstance(item, dict) or "value" not in item:
                    found.append(f"annotations.{kind}[{index}] needs a value")
                elif kind == "horizontal" and not _is_number(item["value"]):
                    found.append(f"annotations.horizontal[{index}].value must be a number")
                elif kind == "vertical":
                    try:
                        _moment(item["value"], datetime.now(UTC))
                    except WidgetError:
                        found.append(f"annotations.vertical[{index}].value must be an ISO 8601 time")
    return found


def _valid_period(period: int) -> bool:
    return period in (1, 5, 10, 30) or (period > 0 and period % 60 == 0)


def _names_in(expression: str) -> set[str]:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return set()
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} - called


# The data


Datapoints = Callable[[str], Iterable[Any]]


def moto_datapoints(region: str) -> Iterable[Any]:
    """Every datapoint moto holds for the default account in ``region``."""
    from moto.cloudwatch.models import cloudwatch_backends

    return cloudwatch_backends[ACCOUNT_ID][region].get_all_metrics()


def series(widget: dict[str, Any], datapoints: Iterable[Any], now: datetime) -> list[Series]:
    """Each metric and expression of the widget, with its values over the widget's window."""
    start, end = window(widget, now)
    default_period = int(widget.get("period") or 300)
    default_stat = widget.get("stat") or "Average"
    held = [d for d in datapoints if start <= _utc(d.timestamp) < end]
    by_id: dict[str, Series] = {}
    ordered: list[Series] = []
    pending: list[tuple[Series, str]] = []
    for index, metric in enumerate(widget["metrics"]):
        options = metric[-1] if isinstance(metric[-1], dict) else {}
        names = metric[:-1] if isinstance(metric[-1], dict) else metric
        metric_id = options.get("id") or f"_m{index}"
        period = int(options.get("period") or default_period)
        if "expression" in options:
            item = Series(metric_id, options.get("label") or metric_id)
            pending.append((item, options["expression"]))
        else:
            namespace, name, dims = names[0], names[1], dict(zip(names[2::2], names[3::2], strict=True))
            stat = options.get("stat") or default_stat
            item = Series(metric_id, options.get("label") or f"{name} {stat}")
            item.points = _statistics(held, namespace, name, dims, stat, period, start)
        item.visible = options.get("visible", True)
        item.colour = options.get("color")
        by_id[metric_id] = item
        ordered.append(item)
    for item, expression in pending:
        value = _evaluate(expression, by_id)
        if isinstance(value, tuple):
            item.band = value
        elif isinstance(value, dict):
            item.points = value
    return ordered


def window(widget: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    start = _moment(widget.get("start", "-PT3H"), now)
    end = _moment(widget.get("end", "-PT0H"), now)
    if start >= end:
        raise WidgetError("start must be before end")
    return start, end


def _statistics(
    held: list[Any], namespace: str, name: str, dims: dict[str, str], stat: str, period: int, start: datetime
) -> dict[datetime, float]:
    percentile = _PERCENTILE.match(stat)
    if stat not in STATISTICS and not percentile:
        raise WidgetError(f"statistic {stat!r} is not emulated (SampleCount, Average, Sum, Minimum, Maximum, pNN)")
    buckets: dict[datetime, list[Any]] = {}
    for datum in held:
        if datum.namespace != namespace or datum.name != name:
            continue
        if {d.name: d.value for d in datum.dimensions} != dims:
            continue
        offset = int((_utc(datum.timestamp) - start).total_seconds()) // period * period
        buckets.setdefault(start + timedelta(seconds=offset), []).append(datum)
    points: dict[datetime, float] = {}
    for moment, data in sorted(buckets.items()):
        values = [float(d.value) for d in data if hasattr(d, "value")]
        count = len(values) + sum(float(d.sample_count) for d in data if hasattr(d, "sample_count"))
        total = sum(values) + sum(float(d.sum_stat) for d in data if hasattr(d, "sum_stat"))
        lows = values + [float(d.min_stat) for d in data if hasattr(d, "min_stat")]
        highs = values + [float(d.max_stat) for d in data if hasattr(d, "max_stat")]
        if not count:
            continue
        if percentile:
            if not values:
                continue
            ranked = sorted(values)
            rank = max(1, math.ceil(float(percentile[1]) / 100 * len(ranked)))
            points[moment] = ranked[rank - 1]
        else:
            points[moment] = {
                "SampleCount": count,
                "Sum": total,
                "Average": total / count,
                "Minimum": min(lows),
                "Maximum": max(highs),
            }[stat]
    return points


Value = float | dict[datetime, float] | tuple[dict[datetime, float], dict[datetime, float]]


def _evaluate(expression: str, by_id: dict[str, Series]) -> Value:
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as error:
        raise WidgetError(f"expression {expression!r} is not valid: {error.msg}") from None
    return _node(tree.body, by_id, expression)


def _node(node: ast.AST, by_id: dict[str, Series], expression: str) -> Value:
    if isinstance(node, ast.Constant) and _is_number(node.value):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in by_id:
            raise WidgetError(f"{node.id!r} in {expression!r} is not a metric id")
        return by_id[node.id].points
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _combine(lambda a, _: -a, _node(node.operand, by_id, expression), 0.0)
    if isinstance(node, ast.BinOp):
        operations: dict[type, Callable[[float, float], float]] = {
            ast.Add: lambda a, b: a + b,
            ast.Sub: lambda a, b: a - b,
            ast.Mult: lambda a, b: a * b,
            ast.Div: lambda a, b: a / b if b else math.nan,
        }
        if type(node.op) in operations:
            left, right = _node(node.left, by_id, expression), _node(node.right, by_id, expression)
            return _combine(operations[type(node.op)], left, right)
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        comparisons: dict[type, Callable[[float, float], bool]] = {
            ast.Gt: lambda a, b: a > b,
            ast.GtE: lambda a, b: a >= b,
            ast.Lt: lambda a, b: a < b,
            ast.LtE: lambda a, b: a <= b,
            ast.Eq: lambda a, b: a == b,
            ast.NotEq: lambda a, b: a != b,
        }
        if type(node.ops[0]) in comparisons:
            test = comparisons[type(node.ops[0])]
            left = _node(node.left, by_id, expression)
            right = _node(node.comparators[0], by_id, expression)
            return _combine(lambda a, b: float(test(a, b)), left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        arguments = [_node(argument, by_id, expression) for argument in node.args]
        function = node.func.id.upper()
        if function == "IF" and len(arguments) in (2, 3):
            condition, then = arguments[0], arguments[1]
            otherwise = arguments[2] if len(arguments) == 3 else math.nan
            picked = _combine(lambda c, t: t if c else math.nan, condition, then)
            return _combine(lambda p, o: o if math.isnan(p) else p, picked, otherwise)
        if function == "ANOMALY_DETECTION_BAND" and len(arguments) in (1, 2) and isinstance(arguments[0], dict):
            width = float(arguments[1]) if len(arguments) == 2 and isinstance(arguments[1], float) else 2.0
            return _band(arguments[0], width)
        raise WidgetError(f"{node.func.id} in {expression!r} is not emulated")
    raise WidgetError(f"{expression!r} uses syntax that is not emulated")


def _combine(operation: Callable[[float, float], float], left: Value, right: Value) -> Value:
    if isinstance(left, tuple) or isinstance(right, tuple):
        raise WidgetError("a band cannot be computed with")
    if isinstance(left, float) and isinstance(right, float):
        return operation(left, right)
    if isinstance(left, float) and isinstance(right, dict):
        return {t: operation(left, v) for t, v in right.items()}
    if isinstance(left, dict) and isinstance(right, float):
        return {t: operation(v, right) for t, v in left.items()}
    if isinstance(left, dict) and isinstance(right, dict):
        return {t: operation(left[t], right[t]) for t in sorted(left.keys() & right.keys())}
    raise WidgetError("operands that cannot be combined")


def _band(points: dict[datetime, float], width: float) -> tuple[dict[datetime, float], dict[datetime, float]]:
    # A stand-in for CloudWatch's model: the mean of the hour before each point, +- width standard deviations.
    lower: dict[datetime, float] = {}
    upper: dict[datetime, float] = {}
    moments = sorted(points)
    for moment in moments:
        recent = [points[t] for t in moments if moment - timedelta(hours=1) <= t <= moment]
        mean = sum(recent) / len(recent)
        spread = math.sqrt(sum((v - mean) ** 2 for v in recent) / len(recent)) or abs(mean) * 0.05 or 1.0
        lower[moment], upper[moment] = mean - width * spread, mean + width * spread
    return lower, upper


def _moment(value: Any, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise WidgetError(f"{value!r} is not a time")
    duration = _DURATION.match(value.strip())
    if duration and value.strip() not in ("P", "-P"):
        parts = {k: int(v or 0) for k, v in duration.groupdict().items()}
        span = timedelta(weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])
        return now - span
    try:
        return _utc(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        raise WidgetError(f"{value!r} is neither an ISO 8601 time nor a relative one (-PT3H)") from None


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# The picture


def plot_box(width: int, height: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixel edges of the plot area in an image of that size."""
    return MARGIN_LEFT, MARGIN_TOP, width - MARGIN_RIGHT, height - MARGIN_BOTTOM


def y_range(widget: dict[str, Any], drawn: list[Series]) -> tuple[float, float]:
    """The y axis: the widget's yAxis.left min/max where given, else what fits the data and thresholds."""
    values = [v for s in drawn if s.visible for v in s.points.values() if math.isfinite(v)]
    for s in drawn:
        if s.band and s.visible:
            values += [v for side in s.band for v in side.values() if math.isfinite(v)]
    for item in _horizontal(widget):
        values.append(float(item["value"]))
    low = min([0.0, *values])
    high = max(values, default=1.0)
    high = high + (high - low) * 0.1 if high > low else low + 1.0
    axis = ((widget.get("yAxis") or {}).get("left")) or {}
    low = float(axis["min"]) if _is_number(axis.get("min")) else low
    high = float(axis["max"]) if _is_number(axis.get("max")) else high
    return (low, high) if high > low else (low, low + 1.0)


def _horizontal(widget: dict[str, Any]) -> list[dict[str, Any]]:
    entries = ((widget.get("annotations") or {}).get("horizontal")) or []
    flat = [item for entry in entries for item in (entry if isinstance(entry, list) else [entry])]
    return [item for item in flat if item.get("visible", True) and item.get("yAxis", "left") == "left"]


def draw(widget: dict[str, Any], drawn: list[Series], now: datetime) -> bytes:
    """The PNG: exactly width x height pixels."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = int(widget.get("width") or 600), int(widget.get("height") or 400)
    start, end = window(widget, now)
    low, high = y_range(widget, drawn)
    left, top, right, bottom = plot_box(width, height)
    with _render_lock:
        figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
        FigureCanvasAgg(figure)
        axes = figure.add_axes(
            (left / width, (height - bottom) / height, max(right - left, 1) / width, max(bottom - top, 1) / height)
        )
        axes.set_xlim(start, end)  # type: ignore[arg-type]
        axes.set_ylim(low, high)
        axes.grid(True, color="#eeeeee", linewidth=0.8)
        axes.tick_params(labelsize=7, colors="#555555")
        for spine in axes.spines.values():
            spine.set_color("#cccccc")
        locator = mdates.AutoDateLocator(tz=UTC, maxticks=8)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
        colours = iter(PALETTE * 13)
        for item in drawn:
            if not item.visible:
                continue
            if item.band:
                lower, upper = item.band
                moments = sorted(lower)
                axes.fill_between(  # type: ignore[arg-type]
                    moments,
                    [lower[t] for t in moments],
                    [upper[t] for t in moments],
                    color=item.colour or BAND_COLOUR,
                    alpha=0.35,
                    linewidth=0,
                    label=item.label,
                )
                continue
            moments = sorted(t for t, v in item.points.items() if math.isfinite(v))
            axes.plot(  # type: ignore[arg-type]
                moments,
                [item.points[t] for t in moments],
                color=item.colour or next(colours),
                linewidth=1.4,
                marker="o" if len(moments) < 3 else None,
                markersize=3,
                label=item.label,
            )
        for annotation in _horizontal(widget):
            value = float(annotation["value"])
            colour = annotation.get("color") or DEFAULT_ANNOTATION_COLOUR
            if annotation.get("fill") in ("above", "below"):
                span = (value, high) if annotation["fill"] == "above" else (low, value)
                axes.axhspan(*span, color=colour, alpha=0.06, linewidth=0)
            axes.axhline(
                value,
                color=colour,
                linewidth=ANNOTATION_PIXELS * 72 / DPI,
                antialiased=False,
                label=annotation.get("label") or f"{value:g}",
                zorder=5,
            )
        for annotation in ((widget.get("annotations") or {}).get("vertical")) or []:
            for item in annotation if isinstance(annotation, list) else [annotation]:
                if not item.get("visible", True):
                    continue
                moment = _moment(item["value"], now)
                colour = item.get("color") or "#7f7f7f"
                axes.axvline(moment, color=colour, linewidth=1, linestyle=(0, (4, 3)), zorder=4)  # type: ignore[arg-type]
                if item.get("label"):
                    # Right of the line, or left of it when the line is near the right edge.
                    near_end = (moment - start) > (end - start) * 0.8
                    axes.annotate(
                        str(item["label"]),
                        xy=(moment, 1),  # type: ignore[arg-type]
                        xycoords=("data", "axes fraction"),
                        xytext=(-3 if near_end else 3, -10),
                        textcoords="offset points",
                        ha="right" if near_end else "left",
                        fontsize=7,
                        color=colour,
                    )
        if widget.get("title"):
            figure.text(left / width, 1 - 8 / height, str(widget["title"]), fontsize=9, va="top", color="#333333")
        handles, labels = axes.get_legend_handles_labels()
        if handles and (widget.get("legend") or {}).get("position", "bottom") != "hidden":
            figure.legend(
                handles,
                labels,
                loc="lower center",
                ncol=min(len(handles), 4),
                fontsize=7,
                frameon=False,
                bbox_to_anchor=(0.5, 0.0),
            )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render(widget: Any, datapoints: Iterable[Any], now: datetime | None = None) -> bytes:
    """The widget's PNG from ``datapoints``; WidgetError for what CloudWatch would refuse."""
    found = problems(widget)
    if found:
        raise WidgetError("; ".join(found[:5]))
    moment = now or datetime.now(UTC)
    return draw(widget, series(widget, datapoints, moment), moment)


# The wire


class Middleware:
    """Answers GetMetricWidgetImage in front of moto's WSGI ``app``; passes everything else through."""

    def __init__(self, app: Callable[..., Iterable[bytes]], datapoints: Datapoints = moto_datapoints) -> None:
        self.app = app
        self.datapoints = datapoints

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        if environ.get("HTTP_X_AMZ_TARGET") == JSON_TARGET:
            body = _read(environ)
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = {}
            return self._answer(environ, start_response, request, "json")
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            body = _read(environ)
            environ["wsgi.input"] = io.BytesIO(body)  # not ours: moto reads it again
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
            if form.get("Action") == OPERATION:
                return self._answer(environ, start_response, form, "query")
        return self.app(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], start_response: Callable[..., Any], request: Mapping[str, Any], protocol: str
    ) -> Iterable[bytes]:
        match = _CREDENTIAL_REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = match[1] if match else REGION
        try:
            widget = json.loads(request.get("MetricWidget") or "")
        except ValueError:
            return _error(start_response, protocol, "InvalidParameterInput", "MetricWidget is not valid JSON")
        output = request.get("OutputFormat") or "png"
        if output not in ("png", "image/png"):
            return _error(start_response, protocol, "InvalidParameterInput", "OutputFormat must be png")
        try:
            image = render(widget, self.datapoints(region))
        except WidgetError as error:
            logger.warning("GetMetricWidgetImage refused: %s", error)
            return _error(start_response, protocol, "InvalidParameterInput", str(error))
        if output == "image/png":
            return _reply(start_response, "200 OK", "image/png", image)
        encoded = base64.b64encode(image).decode()
        if protocol == "json":
            body = json.dumps({"MetricWidgetImage": encoded}).encode()
            return _reply(start_response, "200 OK", "application/x-amz-json-1.0", body)
        xml = (
            f'<{OPERATION}Response xmlns="{XML_NAMESPACE}"><{OPERATION}Result>'
            f"<MetricWidgetImage>{encoded}</MetricWidgetImage></{OPERATION}Result>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{OPERATION}Response>"
        )
        return _reply(start_response, "200 OK", "text/xml", xml.encode())


def _read(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _reply(
    start_response: Callable[..., Any], status: str, content_type: str, body: bytes, extra: Any = ()
) -> list[bytes]:
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    start_response(status, headers + list(extra))
    return [body]


def _error(start_response: Callable[..., Any], protocol: str, code: str, message: str) -> list[bytes]:
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        extra = [("x-amzn-query-error", f"{code};Sender")]
        return _reply(start_response, "400 Bad Request", "application/x-amz-json-1.0", body, extra)
    escaped = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    xml = (
        f'<ErrorResponse xmlns="{XML_NAMESPACE}"><Error><Type>Sender</Type><Code>{code}</Code>'
        f"<Message>{escaped}</Message></Error><RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return _reply(start_response, "400 Bad Request", "text/xml", xml.encode())
