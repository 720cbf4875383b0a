"""Every AWS notification readable: EventBridge envelopes, alarms that arrive as events, and AWS's plain text.

The samples in tests/events/ follow the examples each service documents (the pages are in
SOURCES), with this project's account and resources; test_alerts.py's validity test runs over
every one of them.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib import alerts, discord

EVENTS = Path(__file__).parent / "events"

# Where each sample's shape comes from.
SOURCES = {
    "eventbridge-guardduty-finding.json": "GuardDuty User Guide: EventBridge event format for GuardDuty findings",
    "eventbridge-health-issue.json": "AWS Health User Guide: AWS Health events EventBridge schema (samples)",
    "eventbridge-securityhub-finding.json": "Security Hub User Guide: EventBridge event formats; ASFF",
    "eventbridge-codepipeline-failed.json": "CodePipeline User Guide: Monitoring CodePipeline events",
    "eventbridge-codebuild-failed.json": "CodeBuild User Guide: Build notifications input format reference",
    "eventbridge-alarm-state-change.json": "CloudWatch User Guide: Alarm events and EventBridge (single-metric alarm)",
    "eventbridge-alarm-composite.json": "CloudWatch User Guide: Alarm events and EventBridge (composite alarm)",
    "eventbridge-scheduled-event.json": "EventBridge User Guide: rules that run on a schedule",
    "budgets-notification.txt": "AWS Cost Management User Guide: Budgets notifications to an Amazon SNS topic",
    "backup-notification.txt": "AWS Backup Developer Guide: Using Amazon SNS to track AWS Backup events",
    "cloudformation-stack-notification.txt": "CloudFormation User Guide: stack notification options (SNS message)",
}
EARLIER_SAMPLES = {
    "anomaly-band-alarm.json",
    "billing-alarm.json",
    "composite-null-description.json",
    "elb-instance-event.json",
    "extended-statistic-ok.json",
    "metric-math-insufficient-data.json",
    "plain-text.txt",
    "threshold-alarm.json",
}


def load(name: str) -> str:
    return (EVENTS / name).read_text()


def event(name: str) -> dict[str, Any]:
    return json.loads(load(name))


def embed_of(message: str, subject: str | None = None) -> dict[str, Any]:
    (embed,) = discord.payload(alerts.parse_message(message, subject))["embeds"]
    return embed


def fields_of(embed: dict[str, Any]) -> dict[str, str]:
    return {field["name"]: field["value"] for field in embed["fields"]}


def test_every_sample_says_where_its_shape_comes_from() -> None:
    assert {p.name for p in EVENTS.iterdir()} == EARLIER_SAMPLES | set(SOURCES)


@pytest.mark.parametrize(
    ("sample", "title", "colour", "url"),
    [
        (
            "eventbridge-guardduty-finding.json",
            "GuardDuty Finding: 203.0.113.77 is performing SSH brute force attacks against i-016dea8095930f564.",
            alerts.RED,
            "https://us-east-1.console.aws.amazon.com/guardduty/home?region=us-east-1"
            "#/findings?macros=current&fId=16afba5c5c43e07c9e3e5e2e544e95df",
        ),
        (
            "eventbridge-health-issue.json",
            "AWS Health Event: ELASTICLOADBALANCING AWS_ELASTICLOADBALANCING_OPERATIONAL_ISSUE",
            alerts.RED,
            "https://health.aws.amazon.com/health/home#/account/event-log?eventID=arn%3Aaws%3Ahealth%3Aus-east-1",
        ),
        (
            "eventbridge-securityhub-finding.json",
            "Security Hub Findings - Imported: S3.8 S3 general purpose buckets should block public access",
            alerts.RED,
            "https://us-east-1.console.aws.amazon.com/securityhub/home?region=us-east-1#/findings",
        ),
        (
            "eventbridge-codepipeline-failed.json",
            "CodePipeline Pipeline Execution State Change: compiler-explorer-stats FAILED",
            alerts.RED,
            "https://us-east-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/compiler-explorer-stats"
            "/executions/12345678-1234-5678-abcd-12345678abcd/timeline?region=us-east-1",
        ),
        (
            "eventbridge-codebuild-failed.json",
            "CodeBuild Build State Change: compiler-explorer-stats FAILED",
            alerts.RED,
            "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/projects/compiler-explorer-stats/build/"
            "compiler-explorer-stats%3Ac6b1d2a3-4e5f-4a6b-9c7d-8e9f0a1b2c3d/?region=us-east-1",
        ),
        (
            "eventbridge-scheduled-event.json",
            "Scheduled Event: nightly-build-check",
            alerts.GREY,
            "https://us-east-1.console.aws.amazon.com/events/home?region=us-east-1"
            "#/eventbus/default/rules/nightly-build-check",
        ),
    ],
)
def test_an_eventbridge_event_is_titled_coloured_and_linked_by_what_it_says(
    sample: str, title: str, colour: int, url: str
) -> None:
    source = event(sample)
    embed = embed_of(load(sample))

    assert embed["title"] == title
    assert embed["color"] == colour
    assert embed["url"].startswith(url)
    fields = fields_of(embed)
    assert fields["Source"] == source["source"]
    assert fields["Account"] == "052730242331"
    assert fields["Region"] == "us-east-1"
    assert fields["Time"] == source["time"].replace("T", " ").replace("Z", " UTC")
    for resource in source["resources"]:
        assert resource in fields["Resources"]
    assert embed["footer"]["text"] == "052730242331 · us-east-1"
    # The raw event is still there, below, in a closed code block.
    assert embed["description"].startswith("```json\n{\n")
    assert embed["description"].endswith("\n```")
    assert f'"detail-type": "{source["detail-type"]}"' in embed["description"]


def test_the_summary_says_what_happened() -> None:
    summary = fields_of(embed_of(load("eventbridge-guardduty-finding.json")))["Summary"]
    assert "Brute force attacks are used" in summary
    assert "Type: UnauthorizedAccess:EC2/SSHBruteForce" in summary
    assert "Severity: 8 (high)" in summary

    health = fields_of(embed_of(load("eventbridge-health-issue.json")))["Summary"]
    assert health.startswith("We are investigating increased error rates")
    assert "Category: issue · Status: open · Affected region: us-east-1" in health

    hub = fields_of(embed_of(load("eventbridge-securityhub-finding.json")))["Summary"]
    assert "Severity: HIGH · Security Hub · NEW" in hub
    assert "Resources: arn:aws:s3:::compiler-explorer-logs" in hub

    build = fields_of(embed_of(load("eventbridge-codebuild-failed.json")))["Summary"]
    assert "Initiated by: codepipeline/compiler-explorer-stats" in build


# (sample, where the event states its severity, what it says, the colour): GuardDuty's number, Health's
# category, Security Hub's label.
GUARDDUTY, HEALTH, HUB = ("detail", "severity"), ("detail", "eventTypeCategory"), ("detail", "findings", 0, "Severity")
SEVERITIES = [
    *(
        ("eventbridge-guardduty-finding.json", GUARDDUTY, value, colour)
        for value, colour in [(8.9, alerts.RED), (7, alerts.RED), (5.5, alerts.AMBER), (2, alerts.GREY)]
    ),
    *(
        ("eventbridge-health-issue.json", HEALTH, value, colour)
        for value, colour in [
            ("issue", alerts.RED),
            ("scheduledChange", alerts.AMBER),
            ("accountNotification", alerts.GREY),
        ]
    ),
    *(
        ("eventbridge-securityhub-finding.json", (*HUB, "Label"), value, colour)
        for value, colour in [
            ("CRITICAL", alerts.RED),
            ("HIGH", alerts.RED),
            ("MEDIUM", alerts.AMBER),
            ("LOW", alerts.GREY),
            ("INFORMATIONAL", alerts.GREY),
        ]
    ),
]


@pytest.mark.parametrize(
    ("sample", "path", "value", "colour"), SEVERITIES, ids=[f"{case[0][12:-5]}-{case[2]}" for case in SEVERITIES]
)
def test_what_an_event_says_of_its_severity_sets_the_colour(
    sample: str, path: tuple[str | int, ...], value: Any, colour: int
) -> None:
    document = event(sample)
    *parents, last = path
    holder: Any = document
    for key in parents:
        holder = holder[key]
    holder[last] = value
    assert embed_of(json.dumps(document))["color"] == colour


def test_a_custom_event_gets_the_envelope_and_the_neutral_colour() -> None:
    custom = {
        "version": "0",
        "id": "1",
        "detail-type": "Nightly build finished",
        "source": "compiler-explorer.builds",
        "account": "052730242331",
        "time": "2026-11-24T04:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::bucket/{n}" for n in range(12)],
        "detail": {"title": "gcc trunk", "status": "FAILED", "duration": 3021, "log": {"nested": True}},
    }
    embed = embed_of(json.dumps(custom))
    assert embed["title"] == "Nightly build finished: gcc trunk"
    assert embed["color"] == alerts.GREY
    assert "url" not in embed
    fields = fields_of(embed)
    assert fields["Summary"] == "status: FAILED\nduration: 3021"
    assert fields["Resources"].endswith("arn:aws:s3:::bucket/4\n… and 7 more")


def test_a_region_that_is_not_a_region_makes_no_link() -> None:
    finding = event("eventbridge-guardduty-finding.json")
    finding["region"] = "evil.example/x?"
    embed = embed_of(json.dumps(finding))
    assert "url" not in embed
    assert "Region" not in fields_of(embed)


def test_a_huge_event_still_fits_with_its_code_block_closed() -> None:
    hub = event("eventbridge-securityhub-finding.json")
    hub["detail"]["findings"] *= 60
    hub["detail"]["findings"][0]["Description"] = "d" * 5000
    hub["resources"] = ["r" * 900] * 40
    message = discord.payload(alerts.parse_message(json.dumps(hub)))
    (embed,) = message["embeds"]
    assert embed["description"].endswith("…\n```")
    assert "and 59 more finding(s)" in fields_of(embed)["Summary"]
    total = sum(len(t) for t in [embed["title"], embed["description"], embed["footer"]["text"]])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    assert len(embed["fields"]) == 6, "no field had to be dropped for the code block"


# Alarms that arrive as EventBridge events


def test_an_alarm_state_change_event_becomes_the_classic_alarm() -> None:
    alarm = alerts.alarm_from_message(load("eventbridge-alarm-state-change.json"))

    assert alarm is not None
    assert alarm["AlarmName"] == "SiteTooSlow"
    assert alarm["NewStateValue"] == "ALARM"
    assert alarm["OldStateValue"] == "OK"
    assert alarm["StateChangeTime"] == "2026-11-24T02:15:04.011+0000"
    assert alarm["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:052730242331:alarm:SiteTooSlow"
    assert alarm["AWSAccountId"] == "052730242331"
    assert alarm["AlarmDescription"] == "p90 response time of godbolt.org over 2 seconds"
    assert alarm["NewStateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints [2.73")
    assert alarm["Trigger"] == {
        "MetricName": "TargetResponseTime",
        "Namespace": "AWS/ApplicationELB",
        "Dimensions": [{"name": "LoadBalancer", "value": "app/GccExplorerApp/4a4513393260c7c5"}],
        "Period": 60,
        "StatisticType": "ExtendedStatistic",
        "ExtendedStatistic": "p90",
        "Threshold": 2.0,
        "EvaluationPeriods": 1,
    }


def test_a_composite_alarm_event_keeps_its_rule_and_triggering_child() -> None:
    alarm = alerts.alarm_from_message(load("eventbridge-alarm-composite.json"))
    assert alarm is not None
    assert alarm["AlarmRule"] == "ALARM(SiteTooSlow) OR ALARM(High5xx_godbolt.org)"
    assert alarm["TriggeringChildren"] == [
        {
            "Arn": "arn:aws:cloudwatch:us-east-1:052730242331:alarm:SiteTooSlow",
            "State": {"value": "ALARM", "timestamp": "2026-11-24T02:15:04.011+0000"},
        }
    ]
    assert "Trigger" not in alarm


def test_a_metric_math_alarm_event_keeps_its_queries_and_ids() -> None:
    source = event("eventbridge-alarm-state-change.json")
    source["detail"]["configuration"]["metrics"] = [
        {"id": "e1", "expression": "m1 / m2 * 100", "label": "error %", "returnData": True},
        {
            "id": "m1",
            "metricStat": {
                "metric": {"namespace": "AWS/CloudFront", "name": "5xxErrorRate", "dimensions": {"Region": "Global"}},
                "period": 300,
                "stat": "Average",
            },
            "returnData": False,
        },
    ]
    alarm = alerts.alarm_from_message(json.dumps(source))
    assert alarm is not None
    assert alarm["Trigger"]["Metrics"] == [
        {"Id": "e1", "ReturnData": True, "Label": "error %", "Expression": "m1 / m2 * 100"},
        {
            "Id": "m1",
            "ReturnData": False,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/CloudFront",
                    "MetricName": "5xxErrorRate",
                    "Dimensions": [{"name": "Region", "value": "Global"}],
                },
                "Period": 300,
                "Stat": "Average",
            },
        },
    ]
    assert alarm["Trigger"]["Period"] == 300


def test_an_alarm_event_goes_through_the_alarm_path() -> None:
    classic = embed_of(load("extended-statistic-ok.json"))
    embed = embed_of(load("eventbridge-alarm-state-change.json"))
    assert embed["title"] == "CloudWatch Alert - SiteTooSlow!"
    assert embed["color"] == alerts.RED
    assert embed["url"] == alerts.console_url("SiteTooSlow", "us-east-1")
    assert set(fields_of(embed)) == set(fields_of(classic))
    assert "AWS/ApplicationELB TargetResponseTime (p90, 60 s)" in fields_of(embed)["Metric"]


@pytest.mark.parametrize(
    "sample", ["threshold-alarm.json", "anomaly-band-alarm.json", "composite-null-description.json"]
)
def test_a_classic_alarm_is_its_own_alarm_dict(sample: str) -> None:
    assert alerts.alarm_from_message(load(sample)) == json.loads(load(sample))
    assert alerts.alarm_from_message(json.loads(load(sample))) == json.loads(load(sample))


@pytest.mark.parametrize(
    "message",
    [
        "plain text",
        "",
        "[" * 10_000,
        "null",
        json.dumps(["AlarmName"]),
        load("eventbridge-guardduty-finding.json"),
        load("elb-instance-event.json"),
        # Only CloudWatch's own source is an alarm.
        load("eventbridge-alarm-state-change.json").replace('"aws.cloudwatch"', '"my.app"'),
    ],
)
def test_anything_else_is_not_an_alarm(message: str) -> None:
    assert alerts.alarm_from_message(message) is None


def test_an_alarm_event_of_the_wrong_shape_still_becomes_an_alert() -> None:
    odd = event("eventbridge-alarm-state-change.json")
    odd["detail"] = {"state": "ALARM", "configuration": {"metrics": ["x", {"metricStat": 1}]}, "alarmName": ["A"]}
    alarm = alerts.alarm_from_message(json.dumps(odd))
    assert alarm is not None
    assert alarm["AlarmName"] == '["A"]'
    embed = embed_of(json.dumps(odd))
    assert embed["title"] == 'CloudWatch Alert - ["A"]!'


# Plain text from AWS services


def test_plain_text_is_titled_by_its_subject_or_else_its_first_line() -> None:
    budget = embed_of(load("budgets-notification.txt"))
    assert budget["title"] == "AWS Budget Notification November 24, 2026"
    assert budget["description"] == load("budgets-notification.txt").strip()
    assert budget["color"] == alerts.GREY

    subject = "AWS Budgets: Monthly-1500 has exceeded your alert threshold"
    assert embed_of(load("budgets-notification.txt"), subject)["title"] == subject

    backup = embed_of(load("backup-notification.txt"), "Notification from AWS Backup")
    assert backup["title"] == "Notification from AWS Backup"
    assert backup["description"] == load("backup-notification.txt")

    assert embed_of("\n\n  second line is the first\nthird")["title"] == "second line is the first"


def test_a_cloudformation_stack_notification_says_which_stack_did_what() -> None:
    text = load("cloudformation-stack-notification.txt")
    embed = embed_of(text, "AWS CloudFormation Notification")

    assert embed["title"] == "CloudFormation compiler-explorer-stats-prod: ApiHandler UPDATE_FAILED"
    assert embed["color"] == alerts.RED
    assert embed["description"] == text.strip()
    assert embed["url"].startswith(
        "https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/events?stackId=arn%3Aaws"
    )
    fields = fields_of(embed)
    assert fields["Status"] == "UPDATE_FAILED"
    assert fields["Resource"] == "ApiHandler (AWS::Lambda::Function)"
    assert fields["Reason"].startswith("Resource handler returned message")
    assert embed["footer"]["text"] == "AWS CloudFormation Notification"

    done = text.replace("UPDATE_FAILED", "UPDATE_COMPLETE").replace("LogicalResourceId='ApiHandler'", "")
    stack = embed_of(done.replace("LogicalResourceId=", "X="))
    assert stack["color"] == alerts.GREEN


def test_hostile_envelopes_still_give_a_valid_payload() -> None:
    cases: list[Any] = [
        {"detail-type": "x", "source": None},
        {"detail-type": "", "source": "aws.guardduty", "detail": {"severity": "high", "title": ["t"]}},
        {"detail-type": "GuardDuty Finding", "source": "aws.guardduty", "detail": {"severity": 1e400}},
        {"detail-type": "x", "source": "aws.securityhub", "detail": {"findings": [{"Severity": "HIGH"}, 3]}},
        {"detail-type": "x", "source": "aws.health", "detail": {"eventDescription": ["x", {"language": 1}]}},
        {"detail-type": "x", "source": "aws.codebuild", "detail": {"build-id": 5, "additional-information": []}},
        {"detail-type": "Scheduled Event", "source": "aws.events", "resources": "rule/x", "time": 5},
        {"detail-type": "@everyone" * 100, "source": "aws.events", "detail": {"title": "\U0001f525" * 3000}},
    ]
    for case in cases:
        message = discord.payload(alerts.parse_message(json.dumps(case)))
        (embed,) = message["embeds"]
        assert embed["title"].strip()
        assert message["allowed_mentions"] == {"parse": []}
