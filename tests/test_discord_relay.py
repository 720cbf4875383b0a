"""The Discord fake in front of a real webhook (`make local` with WEBHOOK_URL): posts also reach it, as before.

A second ``DiscordFake`` stands in for the real webhook; the forwarder's own poster
(``Webhook``) talks to the relay, so what it sees is what it would see from Discord.
"""

import json
from typing import Any

import pytest
import requests

from chalicelib import discord
from chalicelib.webhook import DeliveryError, Webhook
from devkit.discord_fake import DiscordFake, Reply
from devkit.discord_relay import RelayingDiscordFake
from devkit.net import free_port

MESSAGE = {"username": "AWS", "content": "hello", "allowed_mentions": discord.NO_MENTIONS}
FALLBACK = {"username": "AWS", "content": "plain", "allowed_mentions": discord.NO_MENTIONS}


def poster(url: str) -> Webhook:
    return Webhook(url, sleep=lambda seconds: None)


def contents(fake: DiscordFake) -> list[Any]:
    return [m.payload.get("content") for m in fake.channel()]


def test_a_post_reaches_the_real_webhook_and_the_page() -> None:
    with DiscordFake() as real, RelayingDiscordFake(real.url) as relay:
        poster(relay.url).post(MESSAGE, FALLBACK)
        assert contents(real) == contents(relay) == ["hello"]
        assert real.posts[0].query == {"wait": "true"}
        assert requests.get(f"{relay.page_url}_fake/messages", timeout=10).json()["relaying"] is True


def test_an_edit_of_the_fakes_message_edits_the_real_one() -> None:
    with DiscordFake() as real, RelayingDiscordFake(real.url) as relay:
        # The real channel already holds messages, so its ids and the fake's differ.
        for n in range(2):
            requests.post(f"{real.url}?wait=true", json={**MESSAGE, "content": f"older {n}"}, timeout=10)
        answer = requests.post(f"{relay.url}?wait=true", json=MESSAGE, timeout=10)
        assert answer.status_code == 200
        fake_id = answer.json()["id"]
        assert fake_id in relay.messages and fake_id in real.messages  # same numbering, other messages

        edited = requests.patch(
            f"{relay.url}/messages/{fake_id}", json={"content": "edited", "allowed_mentions": {"parse": []}}, timeout=10
        )
        assert edited.status_code == 200
        assert edited.json()["id"] == fake_id
        assert contents(real) == ["older 0", "older 1", "edited"]
        assert contents(relay) == ["edited"]
        assert [v["content"] for v in real.channel()[2].versions] == ["hello"]

        assert requests.delete(f"{relay.url}/messages/{fake_id}", timeout=10).status_code == 204
        assert contents(real) == ["older 0", "older 1"]
        assert contents(relay) == []


def test_files_are_relayed_as_sent() -> None:
    with DiscordFake() as real, RelayingDiscordFake(real.url) as relay:
        payload = {**MESSAGE, "embeds": [{"title": "graph", "image": {"url": "attachment://graph.png"}}]}
        response = requests.post(
            f"{relay.url}?wait=true",
            data={"payload_json": json.dumps(payload)},
            files={"files[0]": ("graph.png", b"\x89PNG not really", "image/png")},
            timeout=10,
        )
        assert response.status_code == 200
        assert real.channel()[0].files == relay.channel()[0].files == {"graph.png": b"\x89PNG not really"}


def test_the_sender_gets_the_real_webhooks_refusals_and_retries_as_it_would() -> None:
    with DiscordFake() as real, RelayingDiscordFake(real.url) as relay:
        real.script = [
            Reply(429, {"message": "rate limited", "retry_after": 0.25, "global": False}, {"Retry-After": "1"})
        ]
        answer = requests.post(f"{relay.url}?wait=true", json=MESSAGE, timeout=10)
        assert (answer.status_code, answer.headers["Retry-After"], answer.json()["retry_after"]) == (429, "1", 0.25)
        assert contents(relay) == []  # the real channel refused it: the page does not show it either

        real.script = [Reply(500, {"message": "oops"})]
        poster(relay.url).post(MESSAGE, FALLBACK)  # retried after the 500, as against Discord
        assert contents(real) == contents(relay) == ["hello"]

        real.script = [Reply(400, {"message": "Invalid Form Body", "code": 50035})]
        poster(relay.url).post(MESSAGE, FALLBACK)  # the 400 gets its plain fallback, as against Discord
        assert contents(real) == contents(relay) == ["hello", "plain"]


def test_an_unreachable_webhook_is_a_502_the_sender_retries() -> None:
    with RelayingDiscordFake(f"http://127.0.0.1:{free_port()}/api/webhooks/1/very-secret-token") as relay:
        answer = requests.post(f"{relay.url}?wait=true", json=MESSAGE, timeout=10)
        assert answer.status_code == 502
        assert "very-secret-token" not in answer.text
        assert contents(relay) == []
        with pytest.raises(DeliveryError, match="HTTP 502"):
            Webhook(relay.url, sleep=lambda seconds: None, max_attempts=2).post(MESSAGE)


def test_a_message_it_never_relayed_is_unknown_without_asking_the_real_webhook() -> None:
    with DiscordFake() as real, RelayingDiscordFake(real.url) as relay:
        answer = requests.patch(
            f"{relay.url}/messages/999", json={"content": "x", "allowed_mentions": {"parse": []}}, timeout=10
        )
        assert (answer.status_code, answer.json()["code"]) == (404, 10008)
        assert real.requests == []


def test_a_webhook_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        RelayingDiscordFake("discord.com/api/webhooks/1/x")
