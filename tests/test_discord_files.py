"""Messages with files: multipart/form-data as Discord parses it, for posts and for edits.

Everything goes over HTTP to the Discord fake, which parses ``payload_json`` and ``files[n]`` as
Discord does and keeps, on an edit, only the attachments the edit lists.
"""

import email.parser
import email.policy
import json
from typing import Any

import pytest
import requests

from chalicelib import alerts, discord
from chalicelib.webhook import Webhook, encode, send
from devkit.discord_fake import DiscordFake, Reply

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # every byte value, CR and LF included
GRAPH = discord.File("SiteTooSlow.png", PNG)
ALERT = alerts.Alert(title="CloudWatch Alert - SiteTooSlow!", description="d", colour=alerts.RED, url="https://x.test")


def poster(url: str) -> Webhook:
    return Webhook(url, sleep=lambda seconds: None, timeout=(1.0, 2.0))


def message_with_graph(file: discord.File = GRAPH) -> dict[str, Any]:
    return discord.with_image(discord.payload(ALERT), file)


def test_a_message_with_an_image_is_multipart_as_discord_parses_it() -> None:
    with DiscordFake() as receiver:
        poster(receiver.url).post(message_with_graph(), discord.fallback_payload(ALERT), files=[GRAPH])

    (post,) = receiver.posts
    assert post.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert post.files == {"SiteTooSlow.png": PNG}, "the file arrives byte for byte"
    assert post.payload["attachments"] == [{"id": 0, "filename": "SiteTooSlow.png"}]
    (embed,) = post.payload["embeds"]
    assert embed["image"] == {"url": "attachment://SiteTooSlow.png"}
    assert embed["title"] == "CloudWatch Alert - SiteTooSlow!"
    assert post.query == {"wait": "true"}
    (shown,) = receiver.channel()
    assert shown.files == {"SiteTooSlow.png": PNG}


def test_the_body_is_what_discord_documents() -> None:
    body, content_type = encode(message_with_graph(), [GRAPH])

    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = list(parsed.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == ["payload_json", "files[0]"]
    assert parts[0].get_content_type() == "application/json"
    assert json.loads(parts[0].get_payload(decode=True)) == message_with_graph()
    assert parts[1].get_filename() == "SiteTooSlow.png"
    assert parts[1].get_content_type() == "image/png"
    assert parts[1].get_payload(decode=True) == PNG


def test_no_image_means_no_multipart() -> None:
    body, content_type = encode(discord.payload(ALERT))
    assert content_type == "application/json"
    assert json.loads(body) == discord.payload(ALERT)
    with DiscordFake() as receiver:
        poster(receiver.url).post(discord.payload(ALERT))
    (post,) = receiver.posts
    assert post.headers["Content-Type"] == "application/json"
    assert post.files == {}


def test_files_must_be_listed_in_attachments() -> None:
    listed = message_with_graph()
    other = discord.File("other.png", PNG)
    with pytest.raises(ValueError, match=r"files\[0\] \(other.png\) is not listed"):
        encode(listed, [other])
    with pytest.raises(ValueError, match="unsafe attachment name"):
        encode(discord.payload(ALERT), [discord.File('a".png', PNG)])
    # Without an attachments list, encode writes the one the files need.
    body, _ = encode(discord.payload(ALERT), [GRAPH, other])
    assert b'"attachments": [{"id": 0, "filename": "SiteTooSlow.png"}, {"id": 1, "filename": "other.png"}]' in body


def test_with_image_leaves_the_message_it_was_given_alone() -> None:
    message = discord.payload(ALERT)
    before = json.dumps(message)
    discord.with_image(message, GRAPH)
    assert json.dumps(message) == before
    with pytest.raises(ValueError, match="no embed"):
        discord.with_image(discord.fallback_payload(ALERT), GRAPH)


@pytest.mark.parametrize("status", [400, 413])
def test_the_plain_fallback_carries_no_files(status: int) -> None:
    with DiscordFake() as receiver:
        receiver.script = [Reply(status, {"message": "Invalid Form Body", "code": 50035})]
        poster(receiver.url).post(message_with_graph(), discord.fallback_payload(ALERT), files=[GRAPH])

    first, fallback = receiver.posts
    assert first.files == {"SiteTooSlow.png": PNG}
    assert fallback.headers["Content-Type"] == "application/json"
    assert fallback.files == {}
    assert fallback.payload == discord.fallback_payload(ALERT)
    assert "attachment://" not in json.dumps(fallback.payload)


def test_a_retried_post_sends_its_files_again() -> None:
    with DiscordFake() as receiver:
        receiver.script = [Reply(502)]
        poster(receiver.url).post(message_with_graph(), files=[GRAPH])
    assert [post.files for post in receiver.posts] == [{"SiteTooSlow.png": PNG}] * 2
    assert len(receiver.channel()) == 1


def edit(url: str, message_id: str, message: dict[str, Any], files: list[discord.File]) -> requests.Response:
    target = url.split("?", maxsplit=1)[0] + f"/messages/{message_id}"
    with requests.Session() as session:
        return send(session, "PATCH", target, message, files, (1.0, 2.0))


def test_an_edit_replaces_the_graph_by_listing_only_the_new_upload() -> None:
    recovered = discord.File("SiteTooSlow.png", PNG[:-1] + b"\x01")
    with DiscordFake() as receiver:
        poster(receiver.url).post(message_with_graph(), files=[GRAPH])
        (message,) = receiver.channel()

        response = edit(receiver.url, message.id, message_with_graph(recovered), [recovered])

    assert response.status_code == 200
    (patch,) = receiver.edits
    assert patch.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert patch.payload["attachments"] == [{"id": 0, "filename": "SiteTooSlow.png"}]
    (shown,) = receiver.channel()
    assert shown.files == {"SiteTooSlow.png": recovered.data}, "one graph, the new one"
    assert response.json()["attachments"] == [
        {"id": "0", "filename": "SiteTooSlow.png", "size": len(recovered.data), "url": "attachment://SiteTooSlow.png"}
    ]
    assert shown.payload["embeds"][0]["image"] == {"url": "attachment://SiteTooSlow.png"}


def test_an_edit_without_a_graph_drops_the_old_one_and_its_reference() -> None:
    with DiscordFake() as receiver:
        poster(receiver.url).post(message_with_graph(), files=[GRAPH])
        (message,) = receiver.channel()

        response = edit(receiver.url, message.id, discord.without_image(message_with_graph()), [])

    assert response.status_code == 200
    (patch,) = receiver.edits
    assert patch.headers["Content-Type"] == "application/json"
    assert patch.payload["attachments"] == []
    (shown,) = receiver.channel()
    assert shown.files == {}
    assert "attachment://" not in json.dumps(shown.payload), "no reference to a file that is gone"
