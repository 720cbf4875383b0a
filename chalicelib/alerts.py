"""What an SNS message on the alert topic says, as a neutral ``Alert``.

CloudWatch alarms (metric, extended statistic, metric math, anomaly band, composite), the ELB
instance events another function publishes, any other JSON, and plain text are all understood;
anything else a topic can carry still becomes an alert. No length limits here: fitting the
alert into a Discord message is ``discord``'s job.
"""

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.text import cut

DEFAULT_REGION = "us-east-1"
ALARM_ARN = re.compile(r"arn:aws[\w-]*:cloudwatch:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):")

RED = 15610675  # the colour the old forwarder used for everything
GREEN = 3066993
AMBER = 15105570
GREY = 9807270
CODE_BLOCK_UNITS = 3500  # leaves room in the 4096 for the fences, in chalicelib.text's units
_DEFUSED_FENCE = "`\u200b``"
STATE_COLOURS = {"ALARM": RED, "OK": GREEN, "INSUFFICIENT_DATA": AMBER}


@dataclass
class Alert:
    title: str
    description: str
    colour: int
    fields: list[tuple[str, str]] = field(default_factory=list)
    url: str | None = None
    timestamp: str | None = None  # ISO 8601, shown by Discord in the reader's time zone
    footer: str | None = None


def parse_message(message: str, subject: str | None = None) -> Alert:
    """The alert an SNS notification's ``Message`` (and optional ``Subject``) describes."""
    try:
        document = json.loads(message)
    except (ValueError, RecursionError):
        return plain_alert(message, subject)
    if isinstance(document, dict) and "AlarmName" in document and "NewStateValue" in document:
        return _alarm_alert(document)
    if isinstance(document, dict) and "ElbInstanceType" in document:
        return _elb_alert(document)
    return _json_alert(document, message, subject)


def console_url(alarm_name: str, region: str) -> str:
    """The alarm's page in the CloudWatch console of its own region."""
    name = urllib.parse.quote(alarm_name, safe="")
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{name}"


def alarm_region(alarm: dict[str, Any]) -> str:
    match = ALARM_ARN.match(_text(alarm.get("AlarmArn")))
    return match["region"] if match else DEFAULT_REGION


def _alarm_alert(alarm: dict[str, Any]) -> Alert:
    name = _text(alarm.get("AlarmName")) or "(unnamed alarm)"
    region = alarm_region(alarm)
    url = console_url(name, region)
    new_state = _text(alarm.get("NewStateValue"))
    old_state = _text(alarm.get("OldStateValue"))
    changed_at = _parse_time(alarm.get("StateChangeTime"))
    fields = [
        ("Description", _text(alarm.get("AlarmDescription")) or "(no description)"),
        ("Event", _text(alarm.get("NewStateReason")) or "(no reason given)"),
        ("State", f"{old_state or '?'} → {new_state or '?'}"),
    ]
    if changed_at:
        fields.append(("Changed at", changed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")))
    if alarm.get("AlarmRule"):
        fields.append(("Rule", _text(alarm["AlarmRule"])))
    trigger = alarm.get("Trigger")
    if isinstance(trigger, dict):
        fields.append(("Metric", _describe_trigger(trigger)))
    account = _text(alarm.get("AWSAccountId"))
    return Alert(
        title=f"CloudWatch Alert - {name}!",
        description=f"A [cloudwatch alarm]({url}) has posted to the SNS notification channel",
        colour=STATE_COLOURS.get(new_state, GREY),
        fields=fields,
        url=url,
        timestamp=changed_at.isoformat() if changed_at else None,
        footer=f"{account} · {region}" if account else region,
    )


def _describe_trigger(trigger: dict[str, Any]) -> str:
    comparison = _text(trigger.get("ComparisonOperator"))
    threshold = trigger.get("Threshold")
    condition = f"{comparison} {threshold}" if threshold is not None else comparison
    metrics = trigger.get("Metrics")
    if isinstance(metrics, list) and metrics:
        # Metric math and anomaly bands: the expression that is compared, then its inputs.
        lines = []
        threshold_id = trigger.get("ThresholdMetricId")
        for metric in metrics:
            if not isinstance(metric, dict):
                continue
            label = _text(metric.get("Id"))
            if metric.get("Expression"):
                marker = " (threshold)" if label == threshold_id else ""
                lines.append(f"{label} = {_text(metric['Expression'])}{marker}")
            else:
                stat = _mapping(metric.get("MetricStat"))
                inner = _mapping(stat.get("Metric"))
                lines.append(
                    f"{label} = {_text(inner.get('Namespace'))} {_text(inner.get('MetricName'))} "
                    f"({_text(stat.get('Stat'))}, {stat.get('Period')} s)"
                )
        return "\n".join([*lines, condition])
    statistic = trigger.get("ExtendedStatistic") or trigger.get("Statistic")
    dimensions = ", ".join(
        f"{_text(d.get('name'))}={_text(d.get('value'))}"
        for d in _sequence(trigger.get("Dimensions"))
        if isinstance(d, dict)
    )
    summary = f"{_text(trigger.get('Namespace'))} {_text(trigger.get('MetricName'))}"
    if statistic:
        summary += f" ({_text(statistic)}, {trigger.get('Period')} s)"
    if dimensions:
        summary += f"\n{dimensions}"
    return f"{summary}\n{condition}"


def _elb_alert(event: dict[str, Any]) -> Alert:
    return Alert(
        title=f"ELB instance event: {_text(event.get('ElbInstanceType'))}",
        description=_text(event.get("Cause")) or "(no cause given)",
        colour=AMBER,
        fields=[
            ("Environment", _text(event.get("Environment")) or "?"),
            ("Instance", _text(event.get("Instance")) or "?"),
        ],
    )


def _json_alert(document: Any, message: str, subject: str | None) -> Alert:
    try:
        pretty = json.dumps(document, indent=2, ensure_ascii=False)
    except RecursionError:
        pretty = message  # nested too deeply to re-indent: show it as it came
    return Alert(title=subject or "Alert", description=_code_block(pretty, "json"), colour=GREY)


def plain_alert(message: str, subject: str | None = None) -> Alert:
    """The message as it came, for when it could not be understood any better."""
    return Alert(title=subject or "Alert", description=message or "(empty message)", colour=GREY)


def _code_block(text: str, language: str) -> str:
    # A fence inside the text would end the block early; a zero-width space defuses it. The text
    # is cut here, inside the fences, so that the block stays closed within Discord's limits.
    text = text.replace("```", _DEFUSED_FENCE)
    return f"```{language}\n{cut(text, CODE_BLOCK_UNITS)}\n```"


def _mapping(value: Any) -> dict[str, Any]:
    # Anyone can publish to the topic: a field of the wrong type must not lose the alert.
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _parse_time(value: Any) -> datetime | None:
    # CloudWatch writes "2026-11-24T02:15:04.011+0000", which fromisoformat reads on 3.11.
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
