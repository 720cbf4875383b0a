"""The alert forwarder: every SNS message becomes one valid Discord message, and is delivered or raises."""

import json
from pathlib import Path
from typing import Any

import pytest

import app as stats_app
from chalicelib import alerts, aws, discord, factory
from chalicelib.webhook import DeliveryError
from devkit.discord_fake import DiscordFake, Reply
from devkit.net import free_port
from tests.test_webhook import Clock

EVENTS = Path(__file__).parent / "events"
SAMPLES = sorted(EVENTS.iterdir())


def load(name: str) -> str:
    return (EVENTS / name).read_text()


def units(text: str) -> int:
    return len(text.strip().encode("utf-16-le")) // 2


def assert_fits_discord(message: dict[str, Any]) -> None:
    """Discord's documented limits, checked independently of the code that enforces them."""
    assert message["allowed_mentions"] == {"parse": []}
    assert units(message.get("content", "")) <= 2000
    embeds = message.get("embeds", [])
    assert len(embeds) <= 10
    assert embeds or message.get("content", "").strip()
    total = 0
    for embed in embeds:
        texts = [embed.get("title", ""), embed.get("description", ""), embed.get("footer", {}).get("text", "")]
        assert units(texts[0]) <= 256
        assert units(texts[1]) <= 4096
        assert units(texts[2]) <= 2048
        assert len(embed.get("fields", [])) <= 25
        for field in embed.get("fields", []):
            assert 0 < units(field["name"]) <= 256
            assert 0 < units(field["value"]) <= 1024
            texts += [field["name"], field["value"]]
        total += sum(units(text) for text in texts)
    assert total <= 6000


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_every_known_message_gives_a_valid_payload(sample: Path) -> None:
    alert = alerts.parse_message(sample.read_text())
    assert_fits_discord(discord.payload(alert))
    assert_fits_discord(discord.fallback_payload(alert))


@pytest.mark.parametrize(
    ("sample", "title", "colour", "region"),
    [
        ("threshold-alarm.json", "CloudWatch Alert - Traffic!", alerts.RED, "us-east-1"),
        ("anomaly-band-alarm.json", "CloudWatch Alert - TrafficAnomaly!", alerts.RED, "us-east-1"),
        ("extended-statistic-ok.json", "CloudWatch Alert - SiteTooSlow!", alerts.GREEN, "us-east-1"),
        ("billing-alarm.json", "CloudWatch Alert - Budget_1500!", alerts.RED, "us-east-1"),
        ("metric-math-insufficient-data.json", "CloudWatch Alert - High5xx_godbolt.org!", alerts.AMBER, "us-east-1"),
        ("composite-null-description.json", "CloudWatch Alert - SiteDown!", alerts.RED, "us-east-1"),
    ],
)
def test_alarms_keep_the_old_look_coloured_by_state(sample: str, title: str, colour: int, region: str) -> None:
    alarm = json.loads(load(sample))
    message = discord.payload(alerts.parse_message(load(sample)))

    assert message["username"] == "AWS"
    assert message["avatar_url"] == "https://a0.awsstatic.com/libra-css/images/logos/aws_logo_smile_1200x630.png"
    (embed,) = message["embeds"]
    assert embed["title"] == title
    assert embed["color"] == colour
    link = alerts.console_url(alarm["AlarmName"], region)
    assert embed["url"] == link
    assert embed["description"] == f"A [cloudwatch alarm]({link}) has posted to the SNS notification channel"
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Event"] == alarm["NewStateReason"]
    assert fields["State"] == f"{alarm['OldStateValue']} → {alarm['NewStateValue']}"
    assert embed["timestamp"].startswith(alarm["StateChangeTime"][:19])


def test_the_link_goes_to_the_alarms_own_region_with_the_name_encoded() -> None:
    alarm = json.loads(load("threshold-alarm.json"))
    alarm["AlarmName"] = "High 5xx (godbolt.org)/eu"
    alarm["AlarmArn"] = "arn:aws:cloudwatch:eu-west-2:052730242331:alarm:High 5xx (godbolt.org)/eu"

    (embed,) = discord.payload(alerts.parse_message(json.dumps(alarm)))["embeds"]

    assert embed["url"] == (
        "https://eu-west-2.console.aws.amazon.com/cloudwatch/home?region=eu-west-2"
        "#alarmsV2:alarm/High%205xx%20%28godbolt.org%29%2Feu"
    )
    assert embed["footer"]["text"] == "052730242331 · eu-west-2"


def test_a_null_description_is_shown_as_such() -> None:
    (embed,) = discord.payload(alerts.parse_message(load("composite-null-description.json")))["embeds"]
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Description"] == "(no description)"
    assert fields["Rule"] == "ALARM(SiteTooSlow) OR ALARM(High5xx_godbolt.org)"
    assert fields["Changed at"] == "2026-11-24 02:15:04 UTC"


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("threshold-alarm.json", "AWS/ApplicationELB RequestCount (SUM, 300 s)"),
        ("extended-statistic-ok.json", "AWS/ApplicationELB TargetResponseTime (p90, 900 s)"),
        ("anomaly-band-alarm.json", "e1 = ANOMALY_DETECTION_BAND(m1,10) (threshold)"),
        ("metric-math-insufficient-data.json", "errors_once_over_threshold = IF(total_requests_per_5m > 100"),
    ],
)
def test_the_metric_behind_an_alarm_is_described(sample: str, expected: str) -> None:
    (embed,) = discord.payload(alerts.parse_message(load(sample)))["embeds"]
    metric = next(field["value"] for field in embed["fields"] if field["name"] == "Metric")
    assert expected in metric


def test_an_elb_instance_event() -> None:
    (embed,) = discord.payload(alerts.parse_message(load("elb-instance-event.json")))["embeds"]
    assert embed["title"] == "ELB instance event: FailedHealthCheck"
    assert "taken out of service" in embed["description"]
    assert {"name": "Instance", "value": "i-016dea8095930f564", "inline": False} in embed["fields"]


def test_plain_text_and_other_json_are_forwarded_whole() -> None:
    (text,) = discord.payload(alerts.parse_message(load("plain-text.txt"), "Console test"))["embeds"]
    assert text["title"] == "Console test"
    assert text["description"] == load("plain-text.txt").strip()

    (other,) = discord.payload(alerts.parse_message('{"source": "aws.ec2", "detail": [1, 2]}'))["embeds"]
    assert other["title"] == "Alert"
    assert other["description"].startswith("```json\n{\n")
    assert '"source": "aws.ec2"' in other["description"]


@pytest.mark.parametrize(
    "message",
    [
        "x" * 1_000_000,
        "@everyone " * 5000,
        "\U0001f525" * 5000,
        "[" * 100_000,
        json.dumps({"k" * 300: "v" * 5000, "nested": [[[["deep"]]]]}),
        json.dumps({"AlarmName": "A" * 2000, "NewStateValue": "ALARM", "NewStateReason": "r" * 9000}),
        json.dumps({"AlarmName": "x", "NewStateValue": "ALARM", "AlarmDescription": " \n\t "}),
        '"```"' * 2000,
        "",
        "   ",
        "null",
        "[]",
    ],
    ids=[
        "megabyte",
        "everyone",
        "emoji",
        "deep",
        "wide-json",
        "huge-alarm",
        "blank-desc",
        "fences",
        "empty",
        "ws",
        "null",
        "list",
    ],
)
def test_hostile_messages_still_give_one_valid_payload(message: str) -> None:
    assert_fits_discord(discord.payload(alerts.parse_message(message)))


def test_an_alarm_with_more_fields_than_fit_drops_from_the_end() -> None:
    alert = alerts.Alert(title="t", description="d" * 5000, colour=1, fields=[(f"n{i}", "v" * 900) for i in range(40)])
    message = discord.payload(alert)
    assert_fits_discord(message)
    assert message["embeds"][0]["fields"][0] == {"name": "n0", "value": "v" * 900, "inline": False}


@pytest.fixture(autouse=True)
def app_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The sleep and clock of the Webhook app.py builds: the app's retries take no real time."""
    clock = Clock()
    monkeypatch.setattr(stats_app, "alert_engine", factory.Factory(sleep=clock.sleep, monotonic=clock))
    return clock


def sns_event(client: Any, message: str, subject: str = "ALARM") -> dict[str, Any]:
    return client.events.generate_sns_event(message=message, subject=subject)


def test_an_alarm_published_to_the_topic_reaches_discord(client: Any, webhook: DiscordFake) -> None:
    client.lambda_.invoke("forward_alert", sns_event(client, load("threshold-alarm.json")))

    (post,) = webhook.posts
    assert post.query == {"wait": "true"}
    assert post.json["embeds"][0]["title"] == "CloudWatch Alert - Traffic!"
    assert_fits_discord(post.json)


def test_plain_text_from_the_topic_reaches_discord(client: Any, webhook: DiscordFake) -> None:
    client.lambda_.invoke("forward_alert", sns_event(client, "is the alert channel alive?", "Console test"))
    (post,) = webhook.posts
    assert post.json["embeds"][0]["description"] == "is the alert channel alive?"


def test_an_alert_discord_refuses_raises_so_lambda_retries_it(client: Any, webhook: DiscordFake) -> None:
    webhook.script = [Reply(404, {"message": "Unknown Webhook"})]
    with pytest.raises(DeliveryError):
        client.lambda_.invoke("forward_alert", sns_event(client, "hello"))


def test_the_app_retries_discord_with_productions_backoff_and_waits_in_no_real_time(
    client: Any, webhook: DiscordFake, app_clock: Clock
) -> None:
    webhook.script = [Reply(500), Reply(429, {"retry_after": 7.5}), Reply(502), Reply(200, {"id": "1"})]

    client.lambda_.invoke("forward_alert", sns_event(client, "hello"))

    assert [post.json["embeds"][0]["description"] for post in webhook.posts] == ["hello"] * 4
    assert app_clock.sleeps == [0.5, 7.5, 2.0]


def test_webhook_url_wins_over_the_parameter_and_needs_no_ssm(
    client: Any, webhook: DiscordFake, boto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with DiscordFake() as from_ssm:
        boto("ssm").put_parameter(Name="/admin/discord_webhook_url", Value=from_ssm.url, Type="SecureString")
        monkeypatch.setenv("WEBHOOK_URL_PARAMETER", "/admin/discord_webhook_url")
        client.lambda_.invoke("forward_alert", sns_event(client, "first"))
        # With SSM out of reach the alert still goes: WEBHOOK_URL never needed it.
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", f"http://127.0.0.1:{free_port()}")
        aws.reset()
        client.lambda_.invoke("forward_alert", sns_event(client, "second"))

    assert [post.json["embeds"][0]["description"] for post in webhook.posts] == ["first", "second"]
    assert from_ssm.posts == []


def test_no_webhook_configured_raises_a_clear_error(client: Any) -> None:
    with pytest.raises(RuntimeError, match="neither WEBHOOK_URL nor WEBHOOK_URL_PARAMETER is set"):
        client.lambda_.invoke("forward_alert", sns_event(client, "hello"))


def test_the_url_comes_from_ssm_once_per_process(client: Any, boto: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with DiscordFake() as receiver:
        boto("ssm").put_parameter(Name="/admin/discord_webhook_url", Value=receiver.url, Type="SecureString")
        monkeypatch.setenv("WEBHOOK_URL_PARAMETER", "/admin/discord_webhook_url")

        client.lambda_.invoke("forward_alert", sns_event(client, "first"))
        boto("ssm").delete_parameter(Name="/admin/discord_webhook_url")
        client.lambda_.invoke("forward_alert", sns_event(client, "second"))

    assert [post.json["embeds"][0]["description"] for post in receiver.posts] == ["first", "second"]


def test_a_message_the_formatter_trips_over_is_still_forwarded_as_text(
    client: Any, webhook: DiscordFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_formatter(notification: alerts.Notification, subject: str | None = None) -> alerts.Alert:
        raise TypeError("a shape nobody foresaw")

    monkeypatch.setattr(alerts, "alert_of", broken_formatter)
    client.lambda_.invoke("forward_alert", sns_event(client, '{"AlarmName": "Odd", "NewStateValue": []}', "Odd"))

    (post,) = webhook.posts
    assert post.json["embeds"][0]["title"] == "Odd"
    assert post.json["embeds"][0]["description"] == '{"AlarmName": "Odd", "NewStateValue": []}'
    assert_fits_discord(post.json)


def test_json_full_of_emoji_keeps_its_code_block_closed() -> None:
    (embed,) = discord.payload(alerts.parse_message(json.dumps(["\U0001f525" * 3000], ensure_ascii=False)))["embeds"]
    assert embed["description"].startswith("```json\n")
    assert embed["description"].endswith("…\n```")
    assert units(embed["description"]) <= 4096


def test_the_change_time_is_shown_in_utc_whatever_offset_it_came_with() -> None:
    alarm = json.loads(load("threshold-alarm.json"))
    alarm["StateChangeTime"] = "2026-11-24T04:15:04.011+0200"
    (embed,) = discord.payload(alerts.parse_message(json.dumps(alarm)))["embeds"]
    assert {"name": "Changed at", "value": "2026-11-24 02:15:04 UTC", "inline": False} in embed["fields"]


def test_an_ssm_parameter_without_a_url_is_a_clear_configuration_error(
    client: Any, boto: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto("ssm").put_parameter(Name="/admin/discord_webhook_url", Value="changeme", Type="SecureString")
    monkeypatch.setenv("WEBHOOK_URL_PARAMETER", "/admin/discord_webhook_url")
    with pytest.raises(RuntimeError, match="does not hold a webhook URL") as caught:
        client.lambda_.invoke("forward_alert", sns_event(client, "hello"))
    assert "changeme" not in str(caught.value)


def test_an_eventbridge_envelope_without_source_is_still_an_event_and_titled_by_its_detail_type() -> None:
    # As terraform-aws-notify-slack's guardduty_finding_high.json and some re-publishers send it.
    envelope = {"detail-type": "GuardDuty Finding", "detail": {"title": "Unusual API calls", "severity": 8}}
    found = alerts.recognise(json.dumps(envelope))
    assert isinstance(found, alerts.EventBridgeEvent)
    assert alerts.alert_of(found).title == "GuardDuty Finding: Unusual API calls"


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("disk full", alerts.Text),
        ("[1, 2]", alerts.OtherJson),
        ('{"ElbInstanceType": "FailedHealthCheck"}', alerts.ElbEvent),
        ('{"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}', alerts.EventBridgeEvent),
        ('{"AlarmName": "A", "NewStateValue": "ALARM"}', alerts.AlarmMessage),
    ],
)
def test_each_message_is_recognised_once_as_one_kind(message: str, kind: type) -> None:
    assert isinstance(alerts.recognise(message), kind)


def test_an_alarm_and_its_eventbridge_event_are_the_same_transition() -> None:
    sns = alerts.recognise(load("extended-statistic-ok.json"))
    event = json.loads(load("eventbridge-alarm-state-change.json"))
    bridged = alerts.recognise(json.dumps(event))
    assert isinstance(sns, alerts.AlarmMessage) and isinstance(bridged, alerts.AlarmMessage)
    assert bridged.transition is not None and sns.transition is not None
    assert (bridged.transition.arn, bridged.transition.name) == (sns.transition.arn, sns.transition.name)
    assert bridged.transition.new == event["detail"]["state"]["value"]
    no_time = {**json.loads(load("extended-statistic-ok.json")), "StateChangeTime": None}
    unordered = alerts.recognise(json.dumps(no_time))
    assert isinstance(unordered, alerts.AlarmMessage) and unordered.transition is None
