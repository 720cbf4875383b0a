"""The Discord webhook (chalicelib.webhook) against the Discord fake: retries, rate limits, the
plain fallback, edits, deletes and jump links, within one deadline, on an injected clock."""

from typing import Any

import pytest
import requests

from chalicelib import discord
from chalicelib.webhook import DeliveryError, MessageGone, Webhook
from tools.devkit.discord.fake import CHANNEL_ID, GUILD_ID, DiscordFake, Reply
from tools.devkit.net import eventually, free_port


class Clock:
    """A fake monotonic clock that advances only when the poster sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def poster(url: str, clock: Clock, **options: Any) -> Webhook:
    return Webhook(url, sleep=clock.sleep, clock=clock, timeout=(1.0, 1.0), **options)


MESSAGE = {"content": "real", "allowed_mentions": {"parse": []}}
FALLBACK = {"content": "plain", "allowed_mentions": {"parse": []}}


@pytest.mark.parametrize("reply", [Reply(200, {"id": "1"}), Reply(204), Reply(201, {})])
def test_any_2xx_is_delivered(reply: Reply) -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [reply]
        poster(receiver.url, clock).post(MESSAGE, FALLBACK)
    assert [post.json for post in receiver.posts] == [MESSAGE]
    assert receiver.posts[0].query == {"wait": "true"}
    assert receiver.posts[0].headers["Content-Type"] == "application/json"


def test_wait_true_is_added_to_a_url_with_a_query() -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        poster(receiver.url + "?thread_id=42&wait=false", clock).post(MESSAGE)
    assert receiver.posts[0].target.endswith("?thread_id=42&wait=true")


@pytest.mark.parametrize(
    ("limited", "wait"),
    [
        (Reply(429, {"retry_after": 2.5, "global": False}), 2.5),
        # As a proxy in front of Discord may answer: no JSON, only the header.
        (Reply(429, headers={"Retry-After": "4"}), 4.0),
    ],
    ids=["retry_after in the body", "Retry-After header only"],
)
def test_a_429_waits_as_long_as_it_asks_then_retries(limited: Reply, wait: float) -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [limited, Reply(200, {"id": "1"})]
        poster(receiver.url, clock).post(MESSAGE)
    assert len(receiver.posts) == 2
    assert clock.sleeps == [wait]


def test_a_429_asking_for_too_long_raises_at_once() -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [Reply(429, {"retry_after": 600})]
        with pytest.raises(DeliveryError, match="rate limit"):
            poster(receiver.url, clock).post(MESSAGE)
    assert len(receiver.posts) == 1


def test_5xx_and_hangs_are_retried_with_backoff_and_delivered_once() -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [Reply(500), Reply(502), Reply(200, delay=3.0), Reply(204)]
        poster(receiver.url, clock).post(MESSAGE)
    assert len(receiver.posts) == 4
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_a_400_falls_back_once_to_the_plain_message() -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [Reply(400, {"code": 50035, "message": "Invalid Form Body"}), Reply(200, {"id": "1"})]
        poster(receiver.url, clock).post(MESSAGE, FALLBACK)
    assert [post.json for post in receiver.posts] == [MESSAGE, FALLBACK]


def test_a_400_for_the_fallback_too_raises() -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [Reply(400, {"message": "bad"}), Reply(400, {"message": "still bad"})]
        with pytest.raises(DeliveryError, match="HTTP 400"):
            poster(receiver.url, clock).post(MESSAGE, FALLBACK)
    assert len(receiver.posts) == 2


def test_a_deleted_webhook_is_not_retried() -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [Reply(404, {"message": "Unknown Webhook", "code": 10015})]
        with pytest.raises(DeliveryError, match="HTTP 404"):
            poster(receiver.url, clock).post(MESSAGE, FALLBACK)
    assert len(receiver.posts) == 1
    assert clock.sleeps == []


def test_persistent_5xx_gives_up_and_raises() -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [Reply(503)] * 10
        with pytest.raises(DeliveryError, match="not delivered after 4 attempts"):
            poster(receiver.url, clock, max_attempts=4, deadline_seconds=1000).post(MESSAGE)
    assert len(receiver.posts) == 4


def test_the_deadline_bounds_the_retries() -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [Reply(500)] * 10
        with pytest.raises(DeliveryError):
            poster(receiver.url, clock, deadline_seconds=5).post(MESSAGE)
    assert sum(clock.sleeps) <= 5


def test_an_unreachable_webhook_raises_without_leaking_its_url() -> None:
    clock = Clock()
    url = f"http://127.0.0.1:{free_port()}/api/webhooks/1/very-secret-token"
    with pytest.raises(DeliveryError) as caught:
        poster(url, clock, max_attempts=3).post(MESSAGE)
    assert "ConnectionError" in str(caught.value)
    assert "very-secret-token" not in str(caught.value)
    assert clock.sleeps == [0.5, 1.0]


def test_a_400_after_many_failures_still_gets_its_fallback() -> None:
    clock = Clock()
    with DiscordFake() as receiver:
        receiver.script = [Reply(500), Reply(500), Reply(400, {"message": "bad embed"}), Reply(200, {"id": "1"})]
        poster(receiver.url, clock, max_attempts=3, deadline_seconds=1000).post(MESSAGE, FALLBACK)
    assert [post.json for post in receiver.posts] == [MESSAGE, MESSAGE, MESSAGE, FALLBACK]


# ---- edits, deletes, links ------------------------------------------------------------


def test_the_client_edits_deletes_and_links_messages_as_discord_expects(caplog: Any) -> None:
    caplog.set_level("INFO", logger="chalicelib.webhook")
    with DiscordFake() as fake:
        hook = Webhook(fake.url + "?thread_id=7")
        message = {"content": "", "embeds": [{"title": "first"}], "allowed_mentions": {"parse": []}}
        posted = hook.post(message)
        hook.edit(posted["id"], {**message, "embeds": [{"title": "second"}]})
        assert hook.jump_url(posted["id"]) == f"https://discord.com/channels/{GUILD_ID}/{CHANNEL_ID}/{posted['id']}"
        hook.delete(posted["id"])
        with pytest.raises(MessageGone):
            hook.edit(posted["id"], message)

    patch = fake.edits[0]
    assert patch.path.endswith(f"/messages/{posted['id']}") and patch.query == {"thread_id": "7"}
    assert patch.json == {"content": "", "embeds": [{"title": "second"}], "allowed_mentions": {"parse": []}}
    assert fake.messages[posted["id"]].deleted
    # Every request logs what it did in words, the look-up of the webhook (GET) too.
    done = [r.getMessage().split(" (HTTP")[0] for r in caplog.records if "(HTTP 2" in r.getMessage()]
    assert done == [
        "alert delivered to Discord",
        "Discord message edited",
        "Discord webhook looked up",
        "Discord message deleted",
    ]


@pytest.mark.parametrize(("retry_after", "delivered"), [(20.0, True), (39.5, False)])
def test_an_edit_rate_limit_is_honoured_however_long_if_it_fits_the_deadline(
    retry_after: float, delivered: bool
) -> None:
    clock = Clock()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    message = {"content": "x", "allowed_mentions": {"parse": []}}
    with DiscordFake() as fake:
        # Longer than a post would wait (15 s), within the 40 s deadline: an edit waits it out.
        hook = Webhook(fake.url, sleep=sleep, clock=clock, timeout=(1.0, 1.0))
        posted = hook.post(message)
        fake.script[:] = [Reply.edit_rate_limited(retry_after)]
        if delivered:
            hook.edit(posted["id"], {**message, "content": "y"})
        else:
            with pytest.raises(DeliveryError, match="30046"):
                hook.edit(posted["id"], {**message, "content": "y"})

    assert slept == ([retry_after] if delivered else [])
    assert fake.messages[posted["id"]].payload["content"] == ("y" if delivered else "x")


def test_the_fake_refuses_an_edit_that_would_ping_and_keeps_the_flags_of_a_quiet_post() -> None:
    with DiscordFake() as fake:
        body = discord.quiet({"content": "hello", "allowed_mentions": {"parse": []}})
        saved = requests.post(fake.url, params={"wait": "true"}, json=body, timeout=5).json()
        refused = requests.patch(f"{fake.url}/messages/{saved['id']}", json={"content": "@everyone"}, timeout=5)
        unknown = requests.patch(f"{fake.url}/messages/1", json=body, timeout=5)

    assert saved["flags"] == discord.SUPPRESS_NOTIFICATIONS and fake.messages[saved["id"]].quiet
    assert refused.status_code == 400 and fake.messages[saved["id"]].payload["content"] == "hello"
    assert (unknown.status_code, unknown.json()["code"]) == (404, 10008)


# The poster with short timeouts and backoff, so a hang runs in seconds.
QUICK_POSTER = {"timeout": (1.0, 0.3), "backoff_seconds": 0.01, "max_retry_after": 1.0, "max_attempts": 6}


def test_a_hang_after_discord_saved_the_alert_posts_it_twice() -> None:
    # Where alert duplicates come from (see README): Discord kept the message but its answer
    # came after our timeout, so the poster sends it again.
    with DiscordFake() as receiver:
        receiver.script[:] = [Reply(delay=2.0), Reply()]
        Webhook(receiver.url, **QUICK_POSTER).post({"content": "alert", "allowed_mentions": {"parse": []}})
        # The slow answer's message lands once its delay is over.
        eventually(lambda: len(receiver.channel()) == 2, 10, "both copies in the channel")
