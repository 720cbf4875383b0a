"""Hostile input: thousands of generated requests and alert messages.

Never a 5xx, never a traceback in a response, nothing queued for a rejected page load, exactly
the right messages for an accepted one; every alert becomes Discord messages within Discord's
limits, with mentions off. What reached the queue is seen by a recording proxy in front of moto
(and drained from moto at the end); what reached Discord by a local webhook receiver.
"""

import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tools.devkit import discord_limits, faultproxy
from tools.devkit.discord.fake import DiscordFake, Reply
from tools.devkit.sqs import drain
from tools.reliability import FULL, scale

# The spec, restated here (not imported from chalicelib) so the oracle is independent.
SPONSOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
COMPILER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
MAX_SPONSORS = 32


def hypothesis_settings(quick: int, full: int) -> settings:
    # Quick mode is derandomised so CI is repeatable; `make reliability` explores afresh.
    return settings(
        max_examples=scale(quick, full),
        deadline=None,
        derandomize=not FULL,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


@pytest.fixture
def recorded(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, Any]]]:
    """Every SendMessageBatch the app makes, as it reached moto (the app talks to moto through a proxy)."""
    from chalicelib import aws

    sent: list[tuple[Any, Any]] = []
    with faultproxy.FaultProxy(moto_endpoint) as proxy:
        proxy.add(faultproxy.Rule(faultproxy.action("SendMessageBatch"), faultproxy.record(sent)))
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        aws.reset()
        yield sent
    aws.reset()


def queued_messages(sent: list[tuple[Any, Any]]) -> list[tuple[str, str]]:
    """(type, value) of every message moto accepted, in order."""
    messages = []
    for exchange, answer in sent:
        assert answer.status == 200
        accepted = {entry["Id"] for entry in json.loads(answer.body).get("Successful", [])}
        for entry in exchange.json()["Entries"]:
            if entry["Id"] in accepted:
                body = json.loads(entry["MessageBody"])
                messages.append((body["type"], body["value"]))
    return messages


def assert_clean(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.body[:500])
    body = response.body if isinstance(response.body, bytes) else str(response.body).encode()
    assert b"Traceback" not in body
    assert b'File "' not in body
    assert b"InternalServerError" not in body


# ---- POST /pageload ---------------------------------------------------------------------------

ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
VALID_ID = st.builds(str.__add__, st.sampled_from(ALNUM), st.text(alphabet=ALNUM + "_.-", max_size=63))
POPULAR_ID = st.sampled_from(["intel", "google", "jetbrains", "solid_sands", "a", "A.b-c_d"])
BAD_ID = st.one_of(
    st.text(max_size=70),  # control characters, non-ASCII, punctuation
    VALID_ID.map(lambda s: s + "\n"),  # Python's `$` would let this through
    st.builds(lambda valid, extra: (valid * 80)[:64] + extra, VALID_ID, st.text(ALNUM, min_size=1, max_size=5)),
    st.sampled_from(["_x", "-x", ".x", "a b", "a/b", "../etc/passwd", "é", "\x00", "a\u200b", "intel\r\n"]),
)
ICON = st.one_of(POPULAR_ID, VALID_ID, BAD_ID, st.just(""))
BAD_ESCAPES = ["%", "%G1", "%ZZ", "%C3%28", "%FF", "%2", "%%", "%25C3%2528", "%ED%A0%80", "%00"]


@st.composite
def icons_query_value(draw: st.DrawFn) -> str:
    """One ``icons`` value, encoded the ways callers (and attackers) encode it."""
    if draw(st.integers(0, 9)) == 0:  # around the 32-id cap (rarer: each costs a dozen SQS calls)
        distinct = draw(st.integers(MAX_SPONSORS - 2, MAX_SPONSORS + 3))
        ids = draw(st.permutations([f"sponsor{n}" for n in range(distinct)] + draw(st.lists(POPULAR_ID, max_size=4))))
    else:
        ids = draw(st.lists(ICON, max_size=8))
    value = ",".join(ids)
    style = draw(st.sampled_from(["plain", "commas-encoded", "still-encoded", "raw", "bad-escape"]))
    if style == "plain":
        return urllib.parse.quote(value, safe=",")
    if style == "commas-encoded":
        return urllib.parse.quote(value, safe="")
    if style == "still-encoded":  # as the old load balancer passed it on: the app sees %2C
        return urllib.parse.quote(urllib.parse.quote(value, safe=""), safe="")
    if style == "raw":
        return value
    encoded = urllib.parse.quote(value, safe=",")
    at = draw(st.integers(0, len(encoded)))
    return encoded[:at] + draw(st.sampled_from(BAD_ESCAPES)) + encoded[at:]


@st.composite
def pageload_requests(draw: st.DrawFn) -> tuple[str, str, dict[str, str], bytes]:
    params = [f"icons={v}" for v in draw(st.lists(icons_query_value(), max_size=3))]
    params += draw(st.lists(st.sampled_from(["x=1", "icons", "=", "&&", "icons=", "a=%ZZ", "é=ü"]), max_size=3))
    if draw(st.integers(0, 9)) == 0:
        params.append("pad=" + "x" * draw(st.integers(1_000, 200_000)))  # huge query string
    params = draw(st.permutations(params))
    path = "/pageload" + ("?" + "&".join(params) if params or draw(st.booleans()) else "")
    # No OPTIONS: API Gateway answers preflights itself (checked in test_reliability_security.py),
    # and Chalice's test client cannot read their empty body.
    method = draw(st.sampled_from(["POST"] * 12 + ["GET", "PUT", "DELETE", "PATCH", "HEAD"]))
    content_type = draw(
        st.sampled_from(
            [None] * 5
            + ["application/x-www-form-urlencoded; charset=UTF-8"] * 3
            + [
                "text/plain;charset=UTF-8",
                "application/json",
                "application/octet-stream",
                "multipart/form-data; boundary=xyz",
                "text/html",
                "\x00/\u00e9",
            ]
        )
    )
    headers = {"Content-Type": content_type} if content_type is not None else {}
    body = draw(
        st.one_of(st.just(b""), st.binary(max_size=300), st.just(b'{"icons": "intel"}'), st.just(b"x" * 70_000))
    )
    return method, path, headers, body


def expected_sponsors(path: str) -> list[str] | None:
    """The sponsors a request records, or None if it must be refused (the spec, independently)."""
    query = urllib.parse.urlparse(path).query
    # What the gateway hands the function: the query string decoded once (API Gateway does this).
    values = urllib.parse.parse_qs(query, keep_blank_values=True).get("icons", [])
    sponsors: list[str] = []
    for value in values:
        if "%" in value:  # still encoded, as the load balancer used to pass it: decode once
            try:
                value = urllib.parse.unquote(value, errors="strict")
            except UnicodeDecodeError:
                return None
        for sponsor in value.split(","):
            if not sponsor or sponsor in sponsors:
                continue
            if not SPONSOR_ID.fullmatch(sponsor):
                return None
            sponsors.append(sponsor)
    return sponsors if len(sponsors) <= MAX_SPONSORS else None


def test_generated_page_loads_are_answered_cleanly_and_queue_exactly_what_they_accept(
    client: Client, queue_url: str, recorded: list[tuple[Any, Any]], boto: Any
) -> None:
    sqs = boto("sqs")
    counts = {"queued": 0, "drained": 0}
    seen = {"accepted": 0, "refused": 0, "other": 0}

    @given(pageload_requests())
    @hypothesis_settings(quick=1_000, full=6_000)
    def check(request: tuple[str, str, dict[str, str], bytes]) -> None:
        method, path, headers, body = request
        recorded.clear()

        response = client.http.request(method, path, headers=headers, body=body)

        assert_clean(response)
        queued = queued_messages(recorded)
        counts["queued"] += len(queued)
        if counts["queued"] - counts["drained"] > 100:  # moto slows down as a queue grows
            counts["drained"] += drain(sqs, queue_url)
        if method != "POST":  # every Content-Type is a page load (sendBeacon sends any)
            assert response.status_code == 405
            assert queued == []
            seen["other"] += 1
            return
        sponsors = expected_sponsors(path)
        if sponsors is None:
            assert response.status_code == 400, (path[:300], response.body[:300])
            assert response.headers["Content-Type"].startswith("text/plain")
            assert queued == [], "a refused page load queued messages"
            seen["refused"] += 1
        else:
            assert response.status_code == 200, (path[:300], response.body[:300])
            assert queued == [("PageLoad", "")] + [("SponsorView", s) for s in sponsors]
            seen["accepted"] += 1

    check()
    # What the proxy saw accepted is exactly what is on the queue: nothing more, nothing less.
    assert counts["drained"] + drain(sqs, queue_url) == counts["queued"]
    # The generator must really exercise both outcomes, or this test proves little.
    assert seen["accepted"] > 100 and seen["refused"] > 100 and seen["other"] > 20, seen


@pytest.mark.parametrize("query", ["x=1", "utm_source=news", "icon=intel", "=", "ICONS=intel"])
def test_other_query_parameters_without_icons_are_a_page_load_without_sponsors(
    client: Client, queue_url: str, recorded: list[tuple[Any, Any]], query: str
) -> None:
    # Found by the generator above: Chalice's getlist raises KeyError for a missing name (a 500).
    response = client.http.post(f"/pageload?{query}")

    assert response.status_code == 200
    assert queued_messages(recorded) == [("PageLoad", "")]


# ---- GET /compiler-build/{compiler} -------------------------------------------------------------

VALID_COMPILER = st.builds(str.__add__, st.sampled_from(ALNUM), st.text(alphabet=ALNUM + "_.+-", max_size=127))
COMPILER_SEGMENT = st.one_of(
    st.sampled_from(["gcc", "clang_p2996", "clang.thephd.dev", "SPIRV-Tools", "g%2B%2B", "gcc%0A", "%67cc"]),
    VALID_COMPILER,
    VALID_COMPILER.map(lambda name: urllib.parse.quote(name, safe="")),
    st.builds(lambda valid, extra: (valid * 130)[:128] + extra, VALID_COMPILER, st.text(ALNUM, min_size=1, max_size=5)),
    st.text(max_size=40).map(lambda text: urllib.parse.quote(text, safe="")),
    st.text(max_size=40),
    st.sampled_from(["..", ".", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "%2F", "%00", "a%ZZ", "%C3%28", "gcc;rm", "*"]),
    st.sampled_from(["gcc%2Ftrunk", "gcc%2F..%2F..%2Fpageload", "clang%00", "gcc%20trunk", "gcc%0A", "gcc%252F"]),
)


@st.composite
def build_requests(draw: st.DrawFn) -> tuple[str, str, bytes]:
    segment = draw(COMPILER_SEGMENT)
    shape = draw(st.sampled_from(["plain"] * 6 + ["extra", "double-slash", "dot-dot", "query", "trailing"]))
    path = {
        "plain": f"/compiler-build/{segment}",
        "extra": f"/compiler-build/{segment}/{draw(COMPILER_SEGMENT)}",
        "double-slash": f"/compiler-build//{segment}",
        "dot-dot": f"/compiler-build/../pageload?icons={segment}",
        "query": f"/compiler-build/{segment}?{draw(st.text(max_size=50))}",
        "trailing": f"/compiler-build/{segment}/",
    }[shape]
    method = draw(st.sampled_from(["GET"] * 8 + ["POST", "PUT", "DELETE"]))
    body = draw(st.one_of(st.just(b""), st.binary(max_size=100)))
    return method, path, body


def captured_compiler(path: str) -> str | None:
    """The raw {compiler} path segment if the path routes to the build endpoint at all."""
    route = urllib.parse.urlparse(path).path
    if route != "/" and route.endswith("/"):
        route = route[:-1]
    parts = route.split("/")
    if len(parts) == 3 and parts[:2] == ["", "compiler-build"]:
        return parts[2]
    return None


def test_generated_build_lookups_never_fail_and_refuse_every_bad_name(
    client: Client, table: str, boto: Any, recorded: list[tuple[Any, Any]]
) -> None:
    boto("dynamodb").put_item(
        TableName=table,
        Item={
            "compiler": {"S": "gcc"},
            "timestamp": {"S": "2026-11-24T03:12:45+00:00"},
            "status": {"S": "OK"},
            "duration": {"N": "12"},
        },
    )
    seen = {"ok": 0, "refused": 0, "unrouted": 0}

    @given(build_requests())
    @hypothesis_settings(quick=1_000, full=4_000)
    def check(request: tuple[str, str, bytes]) -> None:
        method, path, body = request
        response = client.http.request(method, path, headers={}, body=body)

        assert_clean(response)
        segment = captured_compiler(path)
        if segment is None:
            assert response.status_code in (403, 404, 405) or path.startswith("/compiler-build/../"), path
            seen["unrouted"] += 1
            return
        if method != "GET":
            assert response.status_code == 405
            return
        name = urllib.parse.unquote(segment) if "%" in segment else segment
        if COMPILER_NAME.fullmatch(name):
            assert response.status_code == 200, (path, response.body)
            answer = json.loads(response.body)
            assert set(answer) == {"last_success", "last_build"}
            if name == "gcc":
                assert answer["last_build"]["timestamp"] == "2026-11-24T03:12:45+00:00"
            seen["ok"] += 1
        else:
            assert response.status_code == 400, (path, response.body)
            assert set(json.loads(response.body)) == {"error"}
            seen["refused"] += 1

    check()
    assert recorded == [], "a build lookup queued a page load"
    assert seen["ok"] > 50 and seen["refused"] > 50 and seen["unrouted"] > 10, seen


# ---- alerts ---------------------------------------------------------------------------------------

JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
JSON_VALUE = st.recursive(
    JSON_SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
)
PIECES = [
    "@everyone",
    "@here",
    "<@123456789012345678>",
    "<@&987654321>",
    "**bold**",
    "```",
    "`",
    "||spoiler||",
    "[link](https://example.invalid)",
    "> quote\n",
    "# heading\n",
    "\u200b",
    "\u202e",
    "e\u0301",
    "😀",
    "𝕏",
    "中文",
    "\n",
    "\t",
    " ",
    "\\",
    '"',
]
NASTY_TEXT = st.lists(st.sampled_from(PIECES) | st.text(max_size=8), max_size=60).map("".join)
HUGE_TEXT = st.builds(lambda piece, count: piece * count, st.sampled_from([*PIECES, "x"]), st.integers(300, 120_000))
NASTY_VALUE = st.one_of(NASTY_TEXT, JSON_VALUE, HUGE_TEXT)


def nested(depth: int, kind: str) -> str:
    return "[" * depth + "]" * depth if kind == "list" else '{"a":' * depth + "1" + "}" * depth


ALARM = st.fixed_dictionaries(
    {"AlarmName": NASTY_VALUE, "NewStateValue": st.sampled_from(["ALARM", "OK", "INSUFFICIENT_DATA"]) | NASTY_VALUE},
    optional={
        "AlarmDescription": NASTY_VALUE,
        "NewStateReason": NASTY_VALUE,
        "OldStateValue": NASTY_VALUE,
        "StateChangeTime": st.sampled_from(["2026-11-24T02:15:04.011+0000", "yesterday", ""]) | JSON_VALUE,
        "AlarmArn": st.sampled_from(["arn:aws:cloudwatch:eu-west-1:1:alarm:x", "arn:aws:cloudwatch:x"]) | NASTY_VALUE,
        "AWSAccountId": NASTY_VALUE,
        "AlarmRule": NASTY_VALUE,
        "Trigger": st.one_of(
            JSON_VALUE,
            st.fixed_dictionaries(
                {},
                optional={
                    "MetricName": NASTY_VALUE,
                    "Namespace": NASTY_VALUE,
                    "Statistic": NASTY_VALUE,
                    "Dimensions": st.lists(JSON_VALUE, max_size=30) | JSON_VALUE,
                    "Metrics": st.lists(
                        JSON_VALUE
                        | st.fixed_dictionaries(
                            {"Id": NASTY_VALUE},
                            optional={"Expression": NASTY_VALUE, "MetricStat": JSON_VALUE, "Label": NASTY_VALUE},
                        ),
                        max_size=30,
                    ),
                    "ThresholdMetricId": NASTY_VALUE,
                    "Threshold": JSON_VALUE,
                    "ComparisonOperator": NASTY_VALUE,
                },
            ),
        ),
    },
)
ELB_EVENT = st.fixed_dictionaries(
    {"ElbInstanceType": NASTY_VALUE},
    optional={"Environment": NASTY_VALUE, "Cause": NASTY_VALUE, "Instance": NASTY_VALUE},
)
ALERT_MESSAGE = st.one_of(
    NASTY_TEXT,
    HUGE_TEXT,
    st.builds(lambda count: "@everyone " * count, st.integers(1, 120_000)),
    st.builds(lambda size: "x" * size, st.sampled_from([1_048_576, 262_144])),  # a megabyte, SNS's maximum
    JSON_VALUE.map(json.dumps),
    st.builds(nested, st.integers(1, 150_000), st.sampled_from(["list", "dict"])),
    ALARM.map(lambda alarm: json.dumps(alarm, ensure_ascii=False)),
    ELB_EVENT.map(json.dumps),
    st.just(""),
    st.text(max_size=200),
)


MALFORMED_TRIGGERS = [
    # Found by the generator (full mode): a metric whose MetricStat is not an object crashed the
    # forwarder, so the alarm never reached Discord.
    {"Metrics": [{"Id": "m1", "MetricStat": [None]}]},
    {"Metrics": [{"Id": "m1", "MetricStat": "p90"}]},
    {"Metrics": [{"Id": "m1", "MetricStat": {"Metric": ["AWS/ELB"], "Stat": "p90"}}]},
    {"MetricName": "Latency", "Dimensions": 5},
    {"MetricName": "Latency", "Dimensions": True},
    {"MetricName": "Latency", "Dimensions": {"name": "LoadBalancer"}},
]


@pytest.mark.parametrize("trigger", MALFORMED_TRIGGERS, ids=lambda trigger: json.dumps(trigger)[:60])
def test_an_alarm_with_a_malformed_trigger_still_reaches_discord(client: Client, trigger: dict[str, Any]) -> None:
    alarm = {"AlarmName": "SiteTooSlow", "NewStateValue": "ALARM", "Trigger": trigger}
    with DiscordFake() as discord, pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEBHOOK_URL", discord.url)
        client.lambda_.invoke("forward_alert", client.events.generate_sns_event(json.dumps(alarm)))

        (post,) = discord.posts
        assert discord_limits.problems(post.json) == []
        assert post.json["embeds"][0]["title"] == "CloudWatch Alert - SiteTooSlow!"


def test_every_generated_alert_reaches_discord_as_valid_messages_with_mentions_off(client: Client) -> None:
    sizes: list[int] = []
    with DiscordFake() as discord:

        @given(ALERT_MESSAGE, st.none() | NASTY_TEXT)
        @hypothesis_settings(quick=250, full=2_000)
        def check(message: str, subject: str | None) -> None:
            # Discord first refuses the embed (400), so both the embed and the plain fallback are sent.
            sizes.append(len(message))
            discord.requests.clear()
            discord.script[:] = [Reply(400, {"code": 50035, "message": "Invalid Form Body"}), Reply()]

            client.lambda_.invoke("forward_alert", client.events.generate_sns_event(message, subject=subject))

            assert [post.query for post in discord.posts] == [{"wait": "true"}, {"wait": "true"}]
            embed_message, fallback = (post.json for post in discord.posts)
            assert discord_limits.problems(embed_message) == [], embed_message
            assert len(embed_message["embeds"]) == 1
            assert discord_limits.problems(fallback) == [], fallback
            assert "embeds" not in fallback
            assert discord.channel()[-1].payload == fallback, "the fake (Discord's limits) kept the fallback"

        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("WEBHOOK_URL", discord.url)
            check()
    # The generator must really produce megabyte messages, or the size limits are untested.
    assert max(sizes) >= 1_048_576 and sum(size > 100_000 for size in sizes) >= 10
