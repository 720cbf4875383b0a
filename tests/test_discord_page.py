"""The Discord fake's page in headless Chromium (Debian's): the channel drawn as Discord's client draws it.

The real forwarder (Chalice's test client invoking ``forward_alert``, posting to the fake) publishes
an alarm, its recovery, a plain-text message and a JSON one; an incident message is then posted by
hand as the forwarder posts one with its graph (multipart, a PNG, ``attachment://graph.png``),
edited in place when it recovers and followed by a quiet (``SUPPRESS_NOTIFICATIONS``) message. The
README's picture is the real flow end to end: the forwarder with its state table, and the graphs
moto's emulator draws. The page is open before most messages arrive, so it must pick them up by
itself. Everything is checked on what the page shows; the browser reaches nothing but the fake
(the avatar is answered locally).
"""

import json
import math
import struct
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from chalicelib import alerts, discord
from tests.test_browser import CHROMIUM, CHROMIUM_FLAGS, MISSING
from tools.devkit.discord.fake import SUPPRESS_NOTIFICATIONS, DiscordFake, Message, Reply
from tools.devkit.lambda_events import alarm_event, sns_event
from tools.local_stack import seed
from tools.local_stack.alarm import site_too_slow

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=MISSING)

BUILD = Path(__file__).parents[1] / "build"
READER_ZONE = "Asia/Kolkata"  # UTC+05:30: a page that showed UTC, or the server's zone, would be wrong here
WAIT_MS = 30_000
ALARM_AT = datetime(2026, 11, 24, 3, 4, 5, tzinfo=UTC)
RECOVERED_AT = ALARM_AT + timedelta(minutes=20)


def png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int]]) -> bytes:
    """A real PNG (8-bit RGB), from a function giving each pixel's colour."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def graph_png(width: int = 480, height: int = 200) -> bytes:
    """A small alarm graph: a metric crossing a red threshold, on a grid."""

    def value(x: float) -> float:
        spike = 0.45 * math.sin((x - 280) / 120 * math.pi) if 280 < x < 400 else 0.0
        return 0.35 + 0.08 * math.sin(x / 23) + spike

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        level = 1 - y / height
        slope = (value(x + 1) - value(x - 1)) / 2 * height
        if abs(level - value(x)) * height < 1.6 * math.sqrt(1 + slope * slope):
            return (0x1F, 0x77, 0xB4)
        if abs(level - 0.7) * height < 1:
            return (0xD6, 0x27, 0x28)
        return (0xE6, 0xE6, 0xE6) if x % 60 == 0 or y % 50 == 0 else (0xFF, 0xFF, 0xFF)

    return png(width, height, pixel)


GRAPH = graph_png()
AVATAR = png(64, 64, lambda x, y: (0xFF, 0x99, 0x00) if (x - 32) ** 2 + (y - 32) ** 2 < 900 else (0x23, 0x2F, 0x3E))


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Debian's Chromium in the reader's time zone; requests leaving loopback are refused and listed."""
    from playwright.sync_api import sync_playwright

    outside: list[str] = []

    def route(route: Any) -> None:
        url = route.request.url
        if url == discord.AVATAR_URL:
            route.fulfill(status=200, content_type="image/png", body=AVATAR)
        elif urllib.parse.urlsplit(url).hostname == "127.0.0.1" or url.startswith("data:"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            timezone_id=READER_ZONE,
            locale="en-GB",
            viewport={"width": 1000, "height": 900},
        )
        context.route("**/*", route)
        try:
            yield context
        finally:
            context.close()
    assert not outside, f"the page fetched from outside this machine: {outside}"


def open_page(browser: Any, fake: DiscordFake) -> tuple[Any, list[str]]:
    """The page, and the errors its console and scripts report."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(fake.page_url)
    return page, errors


def description(message: Message) -> str:
    embeds = message.payload.get("embeds") or [{}]
    return embeds[0].get("description", "")


def post(fake: DiscordFake, payload: dict[str, Any], files: dict[str, bytes] | None = None) -> str:
    """Post as the forwarder does (``?wait=true``, no mentions; multipart with files); the message id."""
    payload = {"allowed_mentions": discord.NO_MENTIONS, **payload}
    if files:
        response = requests.post(
            f"{fake.url}?wait=true",
            data={"payload_json": json.dumps(payload)},
            files={f"files[{n}]": (name, data, "image/png") for n, (name, data) in enumerate(files.items())},
            timeout=10,
        )
    else:
        response = requests.post(f"{fake.url}?wait=true", json=payload, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def forward(client: Any, event: dict[str, Any]) -> None:
    client.lambda_.invoke("forward_alert", event)


def rgb(colour: int) -> str:
    return f"rgb({colour >> 16}, {(colour >> 8) & 0xFF}, {colour & 0xFF})"


def local(moment: datetime, pattern: str) -> str:
    return moment.astimezone(ZoneInfo(READER_ZONE)).strftime(pattern)


def wait_for_messages(page: Any, fake: DiscordFake) -> list[Message]:
    """Until the page shows every message the channel holds now, in the channel's order."""
    channel = fake.channel()
    expected = [m.id for m in channel]
    page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll('#messages > .message')].map(n => n.dataset.messageId))"
        " === JSON.stringify(ids)",
        arg=expected,
        timeout=WAIT_MS,
    )
    return channel


def check_embeds(page: Any, message: Message) -> None:
    """Each embed of ``message`` as Discord draws it: colour bar, title (a link with a url), fields, footer."""
    node = page.locator(f"#message-{message.id}")
    embeds = message.payload.get("embeds", [])
    assert node.locator(":scope > .message-body > .embeds > .embed").count() == len(embeds)
    for n, embed in enumerate(embeds):
        shown = node.locator(":scope > .message-body > .embeds > .embed").nth(n)
        assert shown.evaluate("e => getComputedStyle(e).borderLeftColor") == rgb(embed["color"])
        assert shown.evaluate("e => getComputedStyle(e).borderLeftWidth") == "4px"
        title = shown.locator(".embed-title")
        assert title.text_content() == embed["title"]
        if embed.get("url"):
            assert title.locator("a").get_attribute("href") == embed["url"]
        else:
            assert title.locator("a").count() == 0
        names = shown.locator(".embed-field-name").all_text_contents()
        values = shown.locator(".embed-field-value").all_text_contents()
        assert names == [f["name"] for f in embed.get("fields", [])]
        assert values == [f["value"] for f in embed.get("fields", [])]
        if "footer" in embed:
            assert shown.locator(".embed-footer-text").text_content().startswith(embed["footer"]["text"])


def test_the_page_shows_the_channel_as_discord_does(client: Any, webhook: DiscordFake, browser: Any) -> None:
    forward(client, alarm_event(site_too_slow("ALARM", ALARM_AT), 'ALARM: "SiteTooSlow"'))
    page, errors = open_page(browser, webhook)
    wait_for_messages(page, webhook)

    # The rest arrives while the page is open: it must show them without being reloaded.
    forward(client, alarm_event(site_too_slow("OK", RECOVERED_AT), 'OK: "SiteTooSlow"'))
    forward(client, sns_event({"Message": "Hello from the AWS CLI"}))
    forward(client, sns_event({"Message": json.dumps({"source": "aws.health", "detail": {"code": "x"}})}))
    incident = discord.payload(alerts.parse_message(json.dumps(site_too_slow("ALARM", ALARM_AT))))
    incident["embeds"][0]["image"] = {"url": "attachment://graph.png"}
    incident_id = post(webhook, incident, {"graph.png": GRAPH})
    recovered = discord.payload(alerts.parse_message(json.dumps(site_too_slow("OK", RECOVERED_AT))))
    recovered["embeds"][0]["image"] = {"url": "attachment://graph.png"}
    edit = discord.as_edit(recovered) | {"attachments": [{"id": "0", "filename": "graph.png"}]}
    assert requests.patch(f"{webhook.url}/messages/{incident_id}", json=edit, timeout=10).status_code == 200
    follow_up = {
        "username": discord.USERNAME,
        "avatar_url": discord.AVATAR_URL,
        "content": f"**SiteTooSlow** is OK again: [the alarm]({recovered['embeds'][0]['url']}) cleared, see `p90`.",
        "flags": SUPPRESS_NOTIFICATIONS,
        "allowed_mentions": discord.NO_MENTIONS,
    }
    quiet_id = post(webhook, follow_up)
    channel = wait_for_messages(page, webhook)
    assert len(channel) >= 6

    # Every message: its embeds with their colour bars, titles, links, fields and footers.
    for message in channel:
        check_embeds(page, message)

    # The sender: the webhook's username, the APP tag and the avatar from avatar_url.
    first = page.locator(f"#message-{channel[0].id}")
    assert first.locator(".username").text_content() == discord.USERNAME
    assert first.locator(".app-tag").text_content() == "APP"
    assert first.locator("img.avatar").get_attribute("src") == discord.AVATAR_URL
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 64", arg=first.locator("img.avatar").element_handle()
    )
    # Discord groups a sender's messages within minutes under one header; each still has its time on hover.
    assert page.locator(f"#message-{channel[1].id} .username").count() == 0
    assert page.locator(f"#message-{channel[1].id} .gutter-time").count() == 1

    # Times in the reader's time zone: the message's own, and the embed's (the alarm's change time).
    stamp = first.locator(".message-header time.timestamp")
    assert stamp.get_attribute("datetime") == channel[0].created.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
    assert stamp.text_content().endswith(local(channel[0].created, "%H:%M"))
    footer = first.locator(".embed-footer-text").text_content()
    assert footer.endswith(f" • {local(ALARM_AT, '%d/%m/%Y %H:%M')}"), footer
    assert local(ALARM_AT, "%H:%M") == "08:34"

    # Markdown as Discord draws it: a masked link, bold, inline code, a fenced code block.
    text = first.locator(".embed-description")
    assert text.text_content() == "A cloudwatch alarm has posted to the SNS notification channel"
    assert text.locator("a").get_attribute("href") == channel[0].payload["embeds"][0]["url"]
    assert text.locator("a").text_content() == "cloudwatch alarm"
    quiet = page.locator(f"#message-{quiet_id}")
    assert quiet.locator(".content strong").text_content() == "SiteTooSlow"
    assert quiet.locator(".content code.inline-code").text_content() == "p90"
    assert quiet.locator(".content a").get_attribute("href") == recovered["embeds"][0]["url"]
    assert quiet.locator(".content").text_content() == "SiteTooSlow is OK again: the alarm cleared, see p90."
    (json_message,) = [m for m in channel if "```json" in description(m)]
    block = page.locator(f"#message-{json_message.id} .embed-description pre.code-block")
    assert block.get_attribute("data-language") == "json"
    code = description(json_message).removeprefix("```json\n").removesuffix("\n```")
    assert block.locator("code").text_content() == code
    assert "```" not in page.locator(f"#message-{json_message.id}").text_content()
    (plain,) = [m for m in channel if description(m) == "Hello from the AWS CLI"]
    assert (
        page.locator(f"#message-{plain.id} .embed-title").text_content() == "Hello from the AWS CLI"
    )  # plain text is titled by its first line

    # The incident: green now, "(edited)", and one click shows the red version it was first posted as.
    shown = page.locator(f"#message-{incident_id}")
    current = shown.locator(":scope > .message-body > .embeds > .embed")
    assert current.evaluate("e => getComputedStyle(e).borderLeftColor") == rgb(alerts.GREEN)
    assert shown.locator(".edited").text_content() == "(edited)"
    for message in channel:
        assert page.locator(f"#message-{message.id} .edited").count() == (1 if message.id == incident_id else 0)
    versions = shown.locator(".versions")
    assert versions.is_hidden()
    shown.locator(".edited").click()
    versions.wait_for(state="visible", timeout=WAIT_MS)
    assert versions.locator(".version").count() == 1
    earlier = versions.locator(".version .embed")
    assert earlier.evaluate("e => getComputedStyle(e).borderLeftColor") == rgb(alerts.RED)
    states = dict(
        zip(
            earlier.locator(".embed-field-name").all_text_contents(),
            earlier.locator(".embed-field-value").all_text_contents(),
            strict=True,
        )
    )
    assert states["State"] == "OK → ALARM"
    assert "ALARM → OK" in current.locator(".embed-field-value").all_text_contents()

    # The graph: the embed's attachment://graph.png is the PNG uploaded with the message, drawn in the embed.
    image = current.locator("img.embed-image")
    source = image.get_attribute("src")
    assert source.startswith(f"/_fake/attachments/{incident_id}/graph.png?v=")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 480", arg=image.element_handle(), timeout=WAIT_MS
    )
    assert image.evaluate("img => img.naturalHeight") == 200
    assert requests.get(urllib.parse.urljoin(webhook.page_url, source), timeout=10).content == GRAPH

    # Quiet: the follow-up is marked, and nothing else is.
    assert quiet.locator(".quiet-badge").text_content() == "quiet"
    # The follow-up, and the recovery the forwarder posted without state (no ALERT_STATE_TABLE here): quiet too.
    assert page.locator(".quiet-badge").count() == 2

    assert page.locator("#status").text_content() == "live"
    assert not errors
    # For a person to look at: the whole channel, the earlier version open.
    BUILD.mkdir(exist_ok=True)
    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(BUILD / "discord-page.png"), full_page=True)


def seed_the_slowdown(
    cloudwatch: Any, start: datetime, slow_from: datetime, calm_from: datetime, end: datetime
) -> None:
    """SiteTooSlow's metric in moto (tools.local_stack.seed's samples): calm, slow from ``slow_from``, calm again."""
    seed.write_metrics(cloudwatch, seed.response_times(start, min(slow_from, end)))
    if end > slow_from:
        seed.write_metrics(cloudwatch, seed.response_times(slow_from, min(calm_from, end), slow_from))
    if end > calm_from:
        seed.write_metrics(cloudwatch, seed.response_times(calm_from, end))


def test_an_incident_shows_as_one_message_turned_green_with_its_graph_and_a_quiet_follow_up(
    client: Any, webhook: DiscordFake, alert_table: str, boto: Any, browser: Any
) -> None:
    """What `make local` shows after an alarm and its recovery (the README's picture, build/alerts-page.png).

    The real flow: the forwarder with its state table, and the emulator's GetMetricWidgetImage
    drawing the graph from the metric's datapoints, seeded as `python -m tools.local_stack.alarm` seeds them.
    """
    cloudwatch = boto("cloudwatch")
    recovered = datetime.now(UTC)
    opened = recovered - timedelta(minutes=20)
    slowdown = (opened - seed.METRIC_HISTORY, opened - timedelta(minutes=6), recovered - timedelta(minutes=4))
    page, errors = open_page(browser, webhook)

    seed_the_slowdown(cloudwatch, *slowdown, opened)
    forward(client, alarm_event(site_too_slow("ALARM", opened), 'ALARM: "SiteTooSlow" in US East (N. Virginia)'))
    (posted,) = wait_for_messages(page, webhook)
    embed = page.locator(f"#message-{posted.id} > .message-body > .embeds > .embed")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=embed.locator("img.embed-image").element_handle()
    )
    alarm_graph = embed.locator("img.embed-image").get_attribute("src")

    seed_the_slowdown(cloudwatch, *slowdown, recovered)
    forward(client, alarm_event(site_too_slow("OK", recovered, "ALARM"), 'OK: "SiteTooSlow" in US East (N. Virginia)'))
    incident, follow_up = wait_for_messages(page, webhook)
    assert incident.id == posted.id and len(incident.versions) == 1, "one message, edited"
    shown, quiet = page.locator(f"#message-{incident.id}"), page.locator(f"#message-{follow_up.id}")
    # The edit reached the open page: green now, "(edited)", and the recovered graph in place of the first.
    shown.locator(".edited").wait_for(timeout=WAIT_MS)
    embed = shown.locator(":scope > .message-body > .embeds > .embed")
    assert embed.evaluate("e => getComputedStyle(e).borderLeftColor") == rgb(alerts.GREEN)
    assert embed.locator(".embed-title").text_content() == "SiteTooSlow: OK (recovered)"
    image = embed.locator("img.embed-image")
    page.wait_for_function(
        "([img, old]) => img.getAttribute('src') !== old && img.complete && img.naturalWidth === 600",
        arg=[image.element_handle(), alarm_graph],
        timeout=WAIT_MS,
    )
    assert image.evaluate("img => img.naturalHeight") == 300
    (graph,) = incident.files.values()
    assert requests.get(urllib.parse.urljoin(webhook.page_url, image.get_attribute("src")), timeout=10).content == graph
    assert shown.locator(".username").text_content() == discord.USERNAME
    # The follow-up: quiet, and a link to the incident message.
    assert quiet.locator(".quiet-badge").is_visible() and shown.locator(".quiet-badge").count() == 0
    assert quiet.locator(".content").text_content().startswith("✅ SiteTooSlow is OK again after 20 min in ALARM")
    # Its jump link scrolls to the incident on this page (and flashes it), as Discord's client does.
    jump = quiet.locator(".content a")
    assert jump.get_attribute("href") == f"#message-{incident.id}" and jump.get_attribute("target") is None
    assert jump.get_attribute("title").startswith("https://discord.com/channels/")
    page.set_viewport_size({"width": 760, "height": 300})
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    jump.click()
    page.wait_for_function(
        "id => document.getElementById(id).classList.contains('jumped')", arg=f"message-{incident.id}"
    )
    assert shown.evaluate("node => node.getBoundingClientRect().bottom > 0 && node.getBoundingClientRect().top < 300")
    assert page.url == webhook.page_url or page.url.startswith(webhook.page_url + "#")
    assert not errors
    page.set_viewport_size({"width": 760, "height": 900})
    page.mouse.move(0, 0)
    page.evaluate("window.scrollTo(0, 0)")
    BUILD.mkdir(exist_ok=True)
    page.screenshot(path=str(BUILD / "alerts-page.png"), full_page=True)


def test_what_a_message_says_is_shown_never_run(client: Any, webhook: DiscordFake, browser: Any) -> None:
    attack = (
        '<script>window.pwned = "script"</script> <img src=x onerror="window.pwned = \'img\'"> @everyone @here '
        "[click me](javascript:window.pwned='link') <javascript:window.pwned='angle'>"
    )
    forward(client, sns_event({"Message": attack, "Subject": "<b>bold?</b>"}))
    post(
        webhook,
        {
            "username": "<img src=x onerror=\"window.pwned='name'\">",
            "avatar_url": "javascript:window.pwned='avatar'",
            "content": attack,
            "embeds": [
                {
                    "title": "<script>window.pwned='title'</script>",
                    "url": 'https://example.com/"onmouseover="window.pwned=\'title\'"',
                    "description": attack,
                    "color": 0xFF0000,
                    "fields": [{"name": "<i>name</i>", "value": attack, "inline": True}],
                    "image": {"url": "javascript:window.pwned='image'"},
                    "footer": {"text": "<script>window.pwned='footer'</script>"},
                }
            ],
            "allowed_mentions": discord.NO_MENTIONS,
        },
    )
    page, errors = open_page(browser, webhook)
    forwarded, posted = wait_for_messages(page, webhook)

    assert page.evaluate("typeof window.pwned") == "undefined"
    shown = page.locator(f"#message-{posted.id}")
    # The text is there, literally, as the sender wrote it.
    assert shown.locator(".content").text_content() == attack
    assert shown.locator(".username").text_content() == "<img src=x onerror=\"window.pwned='name'\">"
    assert shown.locator(".embed-title").text_content() == "<script>window.pwned='title'</script>"
    assert shown.locator(".embed-description").text_content() == attack
    assert shown.locator(".embed-field-name").text_content() == "<i>name</i>"
    assert shown.locator(".embed-field-value").text_content() == attack
    assert shown.locator(".embed-footer-text").text_content() == "<script>window.pwned='footer'</script>"
    assert page.locator(f"#message-{forwarded.id} .embed-description").text_content() == attack
    assert page.locator(f"#message-{forwarded.id} .embed-title").text_content() == "<b>bold?</b>"
    # ... and none of it became markup: no script, no image, no javascript: link, @everyone is plain text.
    messages = page.locator("#messages")
    assert messages.locator("script, b, i, iframe, object").count() == 0
    assert messages.locator(".content img, .embed img").count() == 0
    hrefs = messages.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert all(href.startswith(("https://", "http://")) for href in hrefs), hrefs
    assert shown.locator(".content").evaluate("e => e.innerText").count("@everyone @here") == 1
    # The sender's avatar was not a URL the page may load: Discord's default avatar stands in.
    assert shown.locator(".avatar-default").count() == 1
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert not errors


def test_the_feed_and_attachments_the_page_reads(webhook: DiscordFake) -> None:
    payload = {"content": "first", "embeds": [{"title": "graph", "image": {"url": "attachment://graph.png"}}]}
    message_id = post(webhook, payload, {"graph.png": GRAPH, "report.html": b"<script>alert(1)</script>"})
    response = requests.patch(
        f"{webhook.url}/messages/{message_id}",
        json={"content": "second", "allowed_mentions": {"parse": []}},
        timeout=10,
    )
    assert response.status_code == 200
    quiet_id = post(webhook, {"content": "quiet one", "flags": SUPPRESS_NOTIFICATIONS})
    gone_id = post(webhook, {"content": "deleted"})
    assert requests.delete(f"{webhook.url}/messages/{gone_id}", timeout=10).status_code == 204
    requests_before = len(webhook.requests)
    webhook.script = [Reply(500, {"message": "scripted"})]

    feed = requests.get(f"{webhook.page_url}_fake/messages", timeout=10)
    assert feed.headers["Content-Type"] == "application/json"
    assert feed.headers["Cache-Control"] == "no-store"
    first, quiet = feed.json()["messages"]
    assert first["id"] == message_id
    assert first["payload"]["content"] == "second"
    assert [v["content"] for v in first["versions"]] == ["first"]
    assert datetime.fromisoformat(first["edited"]) >= datetime.fromisoformat(first["created"])
    assert (first["quiet"], quiet["id"], quiet["quiet"], quiet["edited"]) == (False, quiet_id, True, None)
    assert [(a["filename"], a["size"], a["image"]) for a in first["attachments"]] == [
        ("graph.png", len(GRAPH), True),
        ("report.html", 25, False),
    ]

    image = requests.get(webhook.page_url.rstrip("/") + first["attachments"][0]["url"], timeout=10)
    assert (image.status_code, image.headers["Content-Type"], image.content) == (200, "image/png", GRAPH)
    # A file that is not an image is a download, never a page of this origin that could run.
    html = requests.get(webhook.page_url.rstrip("/") + first["attachments"][1]["url"], timeout=10)
    assert html.headers["Content-Type"] == "application/octet-stream"
    assert html.headers["Content-Disposition"].startswith("attachment")
    assert html.headers["X-Content-Type-Options"] == "nosniff"
    missing = requests.get(f"{webhook.page_url}_fake/attachments/{gone_id}/graph.png", timeout=10)
    assert missing.status_code == 404

    index = requests.get(webhook.page_url, timeout=10)
    assert index.headers["Content-Type"].startswith("text/html")
    policy = index.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    for asset in ("page.js", "page.css"):
        assert requests.get(f"{webhook.page_url}{asset}", timeout=10).status_code == 200

    # The page's requests are not webhook requests: not recorded, and no scripted reply spent on them.
    assert len(webhook.requests) == requests_before
    assert requests.post(webhook.url, json={"content": "x"}, timeout=10).status_code == 500
