"""What an SNS message on the alert topic says, as a neutral ``Alert``.

CloudWatch alarms (metric, extended statistic, metric math, anomaly band, composite), whether
CloudWatch published them or EventBridge did ("CloudWatch Alarm State Change"), AWS services'
EventBridge events (GuardDuty, Health, Security Hub, CodePipeline, CodeBuild, schedules and any
other), the ELB instance events another function publishes, any other JSON, and plain text (AWS
Budgets, Backup, CloudFormation) are all understood; anything else a topic can carry still
becomes an alert. No length limits here: fitting the alert into a Discord message is
``discord``'s job.
"""

import json
import logging
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from chalicelib import values
from chalicelib.aws import DEFAULT_REGION
from chalicelib.incidents import STATES, Transition
from chalicelib.text import cut

logger = logging.getLogger(__name__)

ALARM_ARN = re.compile(r"arn:aws[\w-]*:cloudwatch:(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+):")
REGION_CODE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
ALARM_EVENT = "CloudWatch Alarm State Change"

RED = 15610675  # the colour the old forwarder used for everything
GREEN = 3066993
AMBER = 15105570
GREY = 9807270
RESOURCES_SHOWN = 5
PROSE_UNITS = 600  # a finding's own description, so the facts after it still fit in the summary field
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
    # Raw text shown after the description as a code block, as much of it as fits (chalicelib.discord).
    code: str | None = None
    code_language: str = "json"


@dataclass(frozen=True)
class AlarmMessage:
    """A CloudWatch alarm's state change, as the dict CloudWatch publishes to SNS (EventBridge's
    "CloudWatch Alarm State Change" event is turned into the same dict)."""

    alarm: dict[str, Any]
    # The state change to order and apply, or None when the message lacks an ARN, a state or a
    # time: then it is posted once, as it is, rather than mis-ordered.
    transition: Transition | None


@dataclass(frozen=True)
class EventBridgeEvent:
    event: dict[str, Any]
    text: str


@dataclass(frozen=True)
class ElbEvent:
    event: dict[str, Any]


@dataclass(frozen=True)
class OtherJson:
    document: Any
    text: str


@dataclass(frozen=True)
class Text:
    text: str


Notification = AlarmMessage | EventBridgeEvent | ElbEvent | OtherJson | Text


def recognise(message: str, published: str | None = None) -> Notification:
    """What an SNS ``Message`` is, read once; ``published`` (SNS's Timestamp) orders an alarm
    message that carries no StateChangeTime."""
    try:
        document = json.loads(message)
    except (ValueError, RecursionError):
        return Text(message)
    alarm = _as_alarm(document)
    if alarm is not None:
        # The state keeps the message an incident is drawn from: for an event, the dict it became.
        text = message if alarm is document else json.dumps(alarm, ensure_ascii=False)
        return AlarmMessage(alarm, _transition(alarm, text, published))
    if isinstance(document, dict) and "ElbInstanceType" in document:
        return ElbEvent(document)
    if is_event(document):
        return EventBridgeEvent(document, message)
    return OtherJson(document, message)


def alert_of(notification: Notification, subject: str | None = None) -> Alert:
    """The alert a recognised notification describes."""
    match notification:
        case AlarmMessage(alarm=alarm):
            return _alarm_alert(alarm)
        case ElbEvent(event=event):
            return _elb_alert(event)
        case EventBridgeEvent(event=event, text=text):
            return _event_alert(event, text)
        case OtherJson(document=document, text=text):
            return _json_alert(document, text, subject)
        case Text(text=text):
            return text_alert(text, subject)


# What a message shaped in a way the recogniser or formatter never saw may raise.
_UNFORESEEN = (AttributeError, KeyError, TypeError, ValueError, RecursionError)


def recognise_safely(message: str, published: str | None = None) -> Notification:
    """``recognise``, never raising: what it cannot read is forwarded as text (and the error logged)."""
    try:
        return recognise(message, published)
    except _UNFORESEEN:
        logger.exception("could not recognise the alert; forwarding it as plain text")
        return Text(message)


def alert_safely(notification: Notification, message: str, subject: str | None = None) -> Alert:
    """``alert_of``, never raising: an alert that cannot be formatted still reaches the maintainers, as text."""
    try:
        return alert_of(notification, subject)
    except _UNFORESEEN:
        logger.exception("could not format the alert; forwarding it as plain text")
        return plain_alert(message, subject)


def parse_message(message: str, subject: str | None = None) -> Alert:
    """The alert an SNS notification's ``Message`` (and optional ``Subject``) describes."""
    return alert_of(recognise(message), subject)


def alarm_from_message(message: str | Mapping[str, Any]) -> dict[str, Any] | None:
    """The classic CloudWatch alarm dict (``AlarmName``, ``NewStateValue``, ``Trigger``...) a message
    carries, whether CloudWatch published it to SNS or it is EventBridge's "CloudWatch Alarm State
    Change" event; None for anything else."""
    if isinstance(message, Mapping):
        return _as_alarm(dict(message))
    found = recognise(message)
    return found.alarm if isinstance(found, AlarmMessage) else None


def is_event(document: Any) -> bool:
    """Whether ``document`` is an EventBridge event envelope: a ``detail-type`` with its ``detail``
    (or its ``source``). Re-publishers and other tools' fixtures often leave ``source`` out."""
    return (
        isinstance(document, dict)
        and isinstance(document.get("detail-type"), str)
        and ("detail" in document or "source" in document)
    )


def _as_alarm(document: Any) -> dict[str, Any] | None:
    if not isinstance(document, dict):
        return None
    if "AlarmName" in document and "NewStateValue" in document:
        return document
    if (
        is_event(document)
        and document.get("detail-type") == ALARM_EVENT
        and document.get("source", "aws.cloudwatch") == "aws.cloudwatch"
        and isinstance(document.get("detail"), dict)
    ):
        return alarm_from_event(document)
    return None


def _transition(alarm: dict[str, Any], message: str, published: str | None) -> Transition | None:
    arn, name, new = alarm.get("AlarmArn"), alarm.get("AlarmName"), alarm.get("NewStateValue")
    if not isinstance(arn, str) or not arn or not isinstance(name, str) or new not in STATES:
        return None
    at = values.millis(alarm.get("StateChangeTime")) or values.millis(published)
    if at is None:
        return None
    old = alarm.get("OldStateValue")
    return Transition(arn, name, old if isinstance(old, str) else "?", new, at, message)


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
    changed_at = values.parse_time(alarm.get("StateChangeTime"))
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


def alarm_from_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """EventBridge's "CloudWatch Alarm State Change" as the dict CloudWatch publishes to SNS.

    The event has no comparison operator and gives the threshold only in ``state.reasonData``,
    so the Trigger carries what the event says and leaves the rest out.
    """
    detail = _mapping(event.get("detail"))
    configuration = _mapping(detail.get("configuration"))
    state, previous = _mapping(detail.get("state")), _mapping(detail.get("previousState"))
    reason_data = _json_object(state.get("reasonData"))
    name = text_of(detail.get("alarmName"))
    region = text_of(event.get("region"))
    account = text_of(event.get("account"))
    resources = [text_of(r) for r in _sequence(event.get("resources"))]
    arn = next((r for r in resources if ALARM_ARN.match(r)), f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}")
    alarm: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": configuration.get("description"),
        "AWSAccountId": account,
        "NewStateValue": text_of(state.get("value")),
        "NewStateReason": text_of(state.get("reason")),
        "StateChangeTime": text_of(state.get("timestamp")) or text_of(event.get("time")),
        "Region": region,
        "AlarmArn": arn,
        "OldStateValue": text_of(previous.get("value")),
    }
    if configuration.get("alarmRule"):
        alarm["AlarmRule"] = text_of(configuration["alarmRule"])
        alarm["TriggeringChildren"] = [
            {"Arn": text_of(child.get("arn")), "State": _mapping(child.get("state"))}
            for child in _sequence(reason_data.get("triggeringAlarms"))
            if isinstance(child, dict)
        ]
        return alarm
    queries = [q for q in _sequence(configuration.get("metrics")) if isinstance(q, dict)]
    trigger: dict[str, Any] = {}
    if len(queries) == 1 and isinstance(queries[0].get("metricStat"), dict):
        stat = _mapping(queries[0]["metricStat"])
        metric = _mapping(stat.get("metric"))
        statistic = text_of(stat.get("stat"))
        trigger = {
            "MetricName": text_of(metric.get("name")),
            "Namespace": text_of(metric.get("namespace")),
            "Dimensions": _dimension_list(metric.get("dimensions")),
            "Period": stat.get("period"),
        }
        if re.match(r"^(p|tm|tc|ts|wm|pr)\d", statistic.lower()):
            trigger.update(StatisticType="ExtendedStatistic", ExtendedStatistic=statistic)
        else:
            trigger.update(StatisticType="Statistic", Statistic=statistic)
    elif queries:
        trigger = {"Metrics": [_classic_query(q) for q in queries]}
        periods = [q["MetricStat"]["Period"] for q in trigger["Metrics"] if "MetricStat" in q]
        if periods:
            trigger["Period"] = periods[0]
    if reason_data.get("threshold") is not None:
        trigger["Threshold"] = reason_data["threshold"]
    evaluated = _sequence(reason_data.get("evaluatedDatapoints"))
    if evaluated:
        trigger["EvaluationPeriods"] = len(evaluated)
    if trigger:
        alarm["Trigger"] = trigger
    return alarm


def _classic_query(query: dict[str, Any]) -> dict[str, Any]:
    classic: dict[str, Any] = {"Id": text_of(query.get("id")), "ReturnData": query.get("returnData", True)}
    if query.get("label"):
        classic["Label"] = text_of(query["label"])
    if query.get("expression"):
        classic["Expression"] = text_of(query["expression"])
        return classic
    stat = _mapping(query.get("metricStat"))
    metric = _mapping(stat.get("metric"))
    classic["MetricStat"] = {
        "Metric": {
            "Namespace": text_of(metric.get("namespace")),
            "MetricName": text_of(metric.get("name")),
            "Dimensions": _dimension_list(metric.get("dimensions")),
        },
        "Period": stat.get("period"),
        "Stat": text_of(stat.get("stat")),
    }
    return classic


def _dimension_list(value: Any) -> list[dict[str, str]]:
    # EventBridge writes dimensions as a mapping; the SNS payload as a list of {name, value}.
    if isinstance(value, dict):
        return [{"name": text_of(k), "value": text_of(v)} for k, v in value.items()]
    return [d for d in _sequence(value) if isinstance(d, dict)]


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
    return Alert(title=subject or "Alert", description="", code=pretty, colour=GREY)


def plain_alert(message: str, subject: str | None = None) -> Alert:
    """The message as it came, for when it could not be understood any better."""
    return Alert(title=subject or "Alert", description=message or "(empty message)", colour=GREY)


def text_alert(message: str, subject: str | None = None) -> Alert:
    """A plain-text notification (AWS Budgets, Backup, CloudFormation...): its text, titled by
    ``Subject`` or else its first line; a CloudFormation stack event also says which stack did what."""
    stack = _cloudformation_fields(message)
    if stack.get("StackId") and stack.get("ResourceStatus"):
        return _stack_alert(message, subject, stack)
    first_line = next((line.strip() for line in message.splitlines() if line.strip()), "")
    return Alert(title=subject or first_line or "Alert", description=message or "(empty message)", colour=GREY)


_STACK_LINE = re.compile(r"^(?P<key>[A-Za-z]+)='(?P<value>.*)'$")


def _cloudformation_fields(message: str) -> dict[str, str]:
    # CloudFormation's stack notifications are lines of Key='value'.
    if "StackId='" not in message[:2000]:
        return {}
    fields: dict[str, str] = {}
    for line in message.splitlines():
        match = _STACK_LINE.match(line.strip())
        if match:
            fields[match["key"]] = match["value"]
    return fields


def _stack_alert(message: str, subject: str | None, stack: dict[str, str]) -> Alert:
    status = stack["ResourceStatus"]
    name = stack.get("StackName") or "stack"
    resource = stack.get("LogicalResourceId") or name
    if "FAILED" in status or "ROLLBACK" in status:
        colour = RED
    elif status.endswith("_COMPLETE"):
        colour = GREEN
    else:
        colour = GREY
    region = _arn_region(stack["StackId"])
    url = None
    if region:
        stack_id = urllib.parse.quote(stack["StackId"], safe="")
        url = (
            f"https://{region}.console.aws.amazon.com/cloudformation/home?region={region}"
            f"#/stacks/events?stackId={stack_id}"
        )
    when = values.parse_time(stack.get("Timestamp"))
    fields = [("Status", status), ("Resource", f"{resource} ({stack.get('ResourceType') or '?'})")]
    if stack.get("ResourceStatusReason"):
        fields.append(("Reason", stack["ResourceStatusReason"]))
    return Alert(
        title=f"CloudFormation {name}: {resource} {status}" if resource != name else f"CloudFormation {name}: {status}",
        description=message,
        colour=colour,
        fields=fields,
        url=url,
        timestamp=when.isoformat() if when else None,
        footer=subject or None,
    )


# EventBridge events


@dataclass
class _Summary:
    headline: str = ""
    text: str = ""
    colour: int = GREY
    url: str | None = None


def _event_alert(event: dict[str, Any], message: str) -> Alert:
    detail = _mapping(event.get("detail"))
    detail_type = text_of(event.get("detail-type")).strip() or "AWS event"
    source = text_of(event.get("source"))
    region = text_of(event.get("region"))
    region = region if REGION_CODE.match(region) else ""
    summarise = _SUMMARIES.get(source, _generic_summary)
    summary = summarise(detail_type, detail, region, event)
    fields: list[tuple[str, str]] = []
    if summary.text:
        fields.append(("Summary", summary.text))
    fields.append(("Source", source or "?"))
    account = text_of(event.get("account"))
    if account:
        fields.append(("Account", account))
    if region:
        fields.append(("Region", region))
    when = values.parse_time(event.get("time"))
    if when:
        fields.append(("Time", when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")))
    resources = [text_of(r) for r in _sequence(event.get("resources"))]
    if resources:
        shown = resources[:RESOURCES_SHOWN]
        more = len(resources) - len(shown)
        fields.append(("Resources", "\n".join(shown + ([f"… and {more} more"] if more else []))))
    try:
        pretty = json.dumps(event, indent=2, ensure_ascii=False)
    except RecursionError:
        pretty = message
    return Alert(
        title=f"{detail_type}: {summary.headline}" if summary.headline else detail_type,
        description="",
        code=pretty,
        colour=summary.colour,
        fields=fields,
        url=summary.url,
        timestamp=when.isoformat() if when else None,
        footer=" · ".join(part for part in (account, region) if part) or None,
    )


def _lines(parts: list[str]) -> str:
    return "\n".join(part for part in parts if part)


def _console(region: str, service: str, fragment: str = "") -> str | None:
    if not region:
        return None
    return f"https://{region}.console.aws.amazon.com/{service}/home?region={region}{fragment}"


def _guardduty(detail_type: str, detail: dict[str, Any], region: str, event: dict[str, Any]) -> _Summary:
    severity = values.number(detail.get("severity"))
    colour = GREY if severity is None else RED if severity >= 7 else AMBER if severity >= 4 else GREY
    lines = [cut(text_of(detail.get("description")).strip(), PROSE_UNITS)]
    if detail.get("type"):
        lines.append(f"Type: {text_of(detail['type'])}")
    if severity is not None:
        lines.append(f"Severity: {severity:g} ({'high' if severity >= 7 else 'medium' if severity >= 4 else 'low'})")
    finding = urllib.parse.quote(text_of(detail.get("id")), safe="")
    fragment = f"#/findings?macros=current&fId={finding}" if finding else "#/findings"
    return _Summary(text_of(detail.get("title")), _lines(lines), colour, _console(region, "guardduty", fragment))


_HEALTH_COLOURS = {"issue": RED, "scheduledChange": AMBER, "accountNotification": GREY, "investigation": AMBER}


def _health(detail_type: str, detail: dict[str, Any], region: str, event: dict[str, Any]) -> _Summary:
    category = text_of(detail.get("eventTypeCategory"))
    descriptions = [d for d in _sequence(detail.get("eventDescription")) if isinstance(d, dict)]
    english = next((d for d in descriptions if text_of(d.get("language")).startswith("en")), None)
    described = english or (descriptions[0] if descriptions else {})
    lines = [cut(text_of(described.get("latestDescription")).strip(), PROSE_UNITS)]
    facts = [
        f"{label}: {text_of(detail[key])}"
        for key, label in (
            ("eventTypeCategory", "Category"),
            ("statusCode", "Status"),
            ("eventRegion", "Affected region"),
            ("startTime", "Starts"),
        )
        if detail.get(key)
    ]
    lines.append(" · ".join(facts))
    service = text_of(detail.get("service"))
    code = text_of(detail.get("eventTypeCode"))
    arn = urllib.parse.quote(text_of(detail.get("eventArn")), safe="")
    url = f"https://health.aws.amazon.com/health/home#/account/event-log?eventID={arn}" if arn else None
    return _Summary(" ".join(x for x in (service, code) if x), _lines(lines), _HEALTH_COLOURS.get(category, GREY), url)


def _security_hub(detail_type: str, detail: dict[str, Any], region: str, event: dict[str, Any]) -> _Summary:
    findings = [f for f in _sequence(detail.get("findings")) if isinstance(f, dict)]
    if not findings:
        return _generic_summary(detail_type, detail, region, event)
    finding = findings[0]
    label = text_of(_mapping(finding.get("Severity")).get("Label")).upper()
    colour = RED if label in ("CRITICAL", "HIGH") else AMBER if label == "MEDIUM" else GREY
    resources = ", ".join(
        text_of(r.get("Id")) for r in _sequence(finding.get("Resources"))[:3] if isinstance(r, dict) and r.get("Id")
    )
    lines = [
        cut(text_of(finding.get("Description")).strip(), PROSE_UNITS),
        " · ".join(
            x
            for x in (
                f"Severity: {label}" if label else "",
                text_of(finding.get("ProductName")),
                text_of(_mapping(finding.get("Workflow")).get("Status")),
            )
            if x
        ),
        f"Resources: {resources}" if resources else "",
    ]
    if len(findings) > 1:
        lines.append(f"and {len(findings) - 1} more finding(s)")
    return _Summary(text_of(finding.get("Title")), _lines(lines), colour, _console(region, "securityhub", "#/findings"))


_PIPELINE_COLOURS = {
    "FAILED": RED,
    "FAULT": RED,
    "TIMED_OUT": RED,
    "SUCCEEDED": GREEN,
    "STOPPED": AMBER,
    "CANCELED": AMBER,
    "SUPERSEDED": GREY,
}


def _codepipeline(detail_type: str, detail: dict[str, Any], region: str, event: dict[str, Any]) -> _Summary:
    pipeline = text_of(detail.get("pipeline"))
    state = text_of(detail.get("state"))
    execution = text_of(detail.get("execution-id"))
    where = " / ".join(text_of(detail[k]) for k in ("stage", "action") if detail.get(k))
    lines = [f"Execution {execution}" if execution else "", f"At {where}" if where else ""]
    url = None
    if region and pipeline and execution:
        url = (
            f"https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/"
            f"{urllib.parse.quote(pipeline, safe='')}/executions/{urllib.parse.quote(execution, safe='')}"
            f"/timeline?region={region}"
        )
    headline = " ".join(x for x in (pipeline, where, state) if x)
    return _Summary(headline, _lines(lines), _PIPELINE_COLOURS.get(state, GREY), url)


def _codebuild(detail_type: str, detail: dict[str, Any], region: str, event: dict[str, Any]) -> _Summary:
    project = text_of(detail.get("project-name"))
    status = text_of(detail.get("build-status") or detail.get("completed-phase-status"))
    build_arn = text_of(detail.get("build-id"))
    build = build_arn.split(":build/", 1)[-1] if ":build/" in build_arn else build_arn
    info = _mapping(detail.get("additional-information"))
    lines = [
        f"Build {build}" if build else "",
        f"Phase: {text_of(detail['current-phase'])}" if detail.get("current-phase") else "",
        f"Initiated by: {text_of(info['initiator'])}" if info.get("initiator") else "",
    ]
    url = None
    if region and project and build:
        url = (
            f"https://{region}.console.aws.amazon.com/codesuite/codebuild/projects/"
            f"{urllib.parse.quote(project, safe='')}/build/{urllib.parse.quote(build, safe='')}/?region={region}"
        )
    return _Summary(
        " ".join(x for x in (project, status) if x), _lines(lines), _PIPELINE_COLOURS.get(status, GREY), url
    )


def _schedule(detail_type: str, detail: dict[str, Any], region: str, event: dict[str, Any]) -> _Summary:
    if detail_type != "Scheduled Event":
        return _generic_summary(detail_type, detail, region, event)
    rule_arn = next((text_of(r) for r in _sequence(event.get("resources")) if ":rule/" in text_of(r)), "")
    rule = rule_arn.split(":rule/", 1)[-1]
    bus, _, name = rule.rpartition("/")
    url = _console(region, "events", f"#/eventbus/{bus or 'default'}/rules/{urllib.parse.quote(name, safe='')}")
    return _Summary(name, f"Rule {rule} fired on its schedule" if rule else "", GREY, url if rule else None)


def _generic_summary(detail_type: str, detail: dict[str, Any], region: str, event: dict[str, Any]) -> _Summary:
    headline = next(
        (text_of(detail[k]) for k in ("title", "Title", "name", "Name") if isinstance(detail.get(k), str)), ""
    )
    facts = [
        f"{key}: {text_of(value)}"
        for key, value in detail.items()
        if isinstance(value, str | int | float | bool) and key not in ("title", "Title")
    ][:8]
    return _Summary(headline, "\n".join(facts))


_SUMMARIES: dict[str, Callable[[str, dict[str, Any], str, dict[str, Any]], _Summary]] = {
    "aws.guardduty": _guardduty,
    "aws.health": _health,
    "aws.securityhub": _security_hub,
    "aws.codepipeline": _codepipeline,
    "aws.codebuild": _codebuild,
    "aws.events": _schedule,
}


def _mapping(value: Any) -> dict[str, Any]:
    # Anyone can publish to the topic: a field of the wrong type must not lose the alert.
    return value if isinstance(value, dict) else {}


def _sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text_of(value: Any) -> str:
    """``value`` as text: a string as it is, nothing as "", anything else as JSON."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


_text = text_of


def _json_object(value: Any) -> dict[str, Any]:
    # state.reasonData is JSON inside a string.
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _arn_region(arn: str) -> str:
    parts = arn.split(":")
    return parts[3] if len(parts) > 4 and REGION_CODE.match(parts[3]) else ""
