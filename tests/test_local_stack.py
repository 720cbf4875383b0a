"""`make local`, started as a subprocess on free ports, checked through what reaches the emulator.

One stack serves most tests (archive, builds, alerts, a failed batch, a killed runtime) and is
stopped with SIGINT (Ctrl-C) at the end; a second one is stopped with SIGTERM while it holds a
batch, and the emulator's own request recording shows what the final flush wrote to S3.
"""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.parse
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.local_stack_helpers import (
    ARCHIVE_KEY,
    ARCHIVE_TIMEOUT,
    STOP_SECONDS,
    VISIBILITY_TIMEOUT,
    body,
    check_page_load,
    expected_build,
    history,
    unique_sponsors,
    wait_until_alerts_are_delivered,
)
from tools.devkit import archive, names, net
from tools.devkit.discord.fake import DiscordFake, Message
from tools.devkit.names import ARCHIVE_BUCKET as BUCKET
from tools.devkit.net import eventually
from tools.local_stack import launcher, seed

EVENTS = Path(__file__).parent / "events"
archive_of = archive.objects


def test_page_load_reaches_the_archive_byte_exact(stack: launcher.StackProcess) -> None:
    sponsors = unique_sponsors(3)
    before = datetime.now(UTC)
    response = requests.post(f"{stack.api_url}/pageload", params={"icons": ",".join(sponsors)}, timeout=10)
    after = datetime.now(UTC)
    assert (response.status_code, response.text) == (200, "Ok")

    s3 = stack.client("s3")
    objects = eventually(
        lambda: (found := archive_of(s3)) and any(sponsors[-1].encode() in data for data in found.values()) and found,
        ARCHIVE_TIMEOUT,
        "the page load archived under stats/",
    )
    check_page_load(objects, sponsors, before, after)


@pytest.mark.parametrize(
    "compiler", ["gcc", "clang", "clang.thephd.dev", "clang_p2996", "SPIRV-Tools", "circle", "never-built"]
)
def test_build_query_answers_from_the_seeded_history(stack: launcher.StackProcess, compiler: str) -> None:
    items = history(stack.client("dynamodb"), compiler)
    newest_ok = next((item for item in items if item["status"]["S"] == "OK"), None)

    response = requests.get(f"{stack.api_url}/compiler-build/{compiler}", timeout=10)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.json() == {
        "last_success": expected_build(newest_ok),
        "last_build": expected_build(items[0] if items else None),
    }


def test_seeded_history_has_the_cases_the_api_must_handle(stack: launcher.StackProcess) -> None:
    dynamodb = stack.client("dynamodb")
    for compiler in ("gcc", "clang", "clang.thephd.dev"):
        assert len(history(dynamodb, compiler)) >= 100, compiler
    streak = history(dynamodb, "clang_p2996")
    first_ok = next(n for n, item in enumerate(streak) if item["status"]["S"] == "OK")
    assert first_ok > 100, "clang_p2996 needs more than 100 non-OK builds newer than its newest OK one"
    assert all(item["status"]["S"] != "OK" for item in history(dynamodb, "SPIRV-Tools"))
    assert any("github_run_id" not in item for item in history(dynamodb, "circle"))
    for item in streak[:3] + history(dynamodb, "circle")[:1]:
        datetime.strptime(item["timestamp"]["S"], "%Y-%m-%dT%H:%M:%S+00:00")  # `date -u -Iseconds`
        assert item["path"]["S"] == "" or item["path"]["S"].startswith("s3://")
        assert item["status"]["S"] in {"OK", "FAILED", "SKIPPED"}


def test_published_alarm_reaches_the_webhook_as_a_discord_message(
    stack: launcher.StackProcess, stack_webhook: DiscordFake
) -> None:
    alarm = json.loads((EVENTS / "threshold-alarm.json").read_text())
    already = len(stack_webhook.posts)
    stack.client("sns").publish(
        TopicArn=names.ALERT_TOPIC_ARN,
        Subject=f'ALARM: "{alarm["AlarmName"]}"',
        Message=json.dumps(alarm),
    )

    # The fake applies Discord's limits: a message in its channel is one Discord would have accepted.
    # (Its request is listed before it is saved: waiting for the message, the request is there.)
    def ours() -> list[Message]:
        return [m for m in stack_webhook.channel() if f"alarm/{alarm['AlarmName']}" in json.dumps(m.payload)]

    (saved,) = eventually(ours, ARCHIVE_TIMEOUT, "the alarm's message in the channel")
    (post,) = [p for p in stack_webhook.posts[already:] if p.json == saved.payload]
    assert post.query["wait"] == "true"
    # With its graph, drawn by the emulator's GetMetricWidgetImage: Discord's multipart form.
    assert post.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    embed = saved.payload["embeds"][0]
    # Recognised as a CloudWatch alarm (not shown as text): it links to the alarm in the console.
    assert embed["url"].endswith(f"alarm/{alarm['AlarmName']}")
    (graph,) = saved.files
    assert embed["image"] == {"url": f"attachment://{graph}"} and saved.files[graph].startswith(b"\x89PNG")


def test_an_alarm_its_recovery_and_its_return_are_one_edited_message_and_a_notifying_follow_up(
    stack: launcher.StackProcess, stack_webhook: DiscordFake
) -> None:
    already = set(stack_webhook.messages)
    # An alarm of its own: the shared stack's SiteTooSlow may be in an incident of another test's.
    name = f"SiteTooSlow{uuid.uuid4().hex[:8]}"
    command = [sys.executable, "-m", "tools.local_stack.alarm", "--endpoint-url", stack.aws_endpoint, "--name", name]
    printed = []
    for state in ("ALARM", "OK", "ALARM"):  # the commands the banner prints, as a developer runs them
        run = subprocess.run(
            [*command, "--state", state],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        printed.append(run.stdout)

    def shown() -> list[Message]:
        # The end of the third transition: its edit comes before its note replaces the recovery's.
        new = [m for m in stack_webhook.channel() if m.id not in already and name in json.dumps(m.payload)]
        ended = len(new) == 2 and len(new[0].versions) == 2 and "ALARM again" in new[1].payload.get("content", "")
        return new if ended else []

    incident, follow_up = eventually(shown, ARCHIVE_TIMEOUT, "the incident edited twice and its ALARM-again note")
    # The return to ALARM pings, in place of the recovery's quiet note: the channel ends saying ALARM.
    assert not incident.quiet and not follow_up.quiet
    assert f"`{name}` is in ALARM again, 2nd time in" in follow_up.payload["content"]
    ours = [m for m in stack_webhook.messages.values() if m.id not in already and name in m.payload.get("content", "")]
    (replaced,) = [m for m in ours if m.deleted]
    assert replaced.quiet and "is OK again" in replaced.payload["content"]
    embed = incident.payload["embeds"][0]
    assert embed["title"] == f"{name}: ALARM" and "flapped 1 time" in embed["description"]
    assert [line.split("` ", 1)[1] for line in embed["description"].splitlines() if line.startswith("`")] == [
        "OK → ALARM",
        "ALARM → OK",
        "OK → ALARM",
    ]
    assert incident.id in follow_up.payload["content"]
    # Every version showed the graph of its moment; the message keeps only the latest one.
    assert list(incident.files) == [f"{name}.png"] and incident.files[f"{name}.png"].startswith(b"\x89PNG")
    for version in [*incident.versions, incident.payload]:
        assert version["embeds"][0]["image"] == {"url": f"attachment://{name}.png"}
    assert follow_up.files == {}
    # Each run is a transition from the state the last one left, and a later one.
    assert [line.split(" for ", 1)[0] for line in printed] == [
        "published OK → ALARM",
        "published ALARM → OK",
        "published OK → ALARM",
    ]
    assert (
        "already ALARM"
        in subprocess.run(
            command,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )


def test_the_local_watch_reports_the_broken_builds_once_and_never_the_healthy_ones(
    stack: launcher.StackProcess, stack_webhook: DiscordFake
) -> None:
    urls = ["--endpoint-url", stack.aws_endpoint, "--github-url", stack.github_url, "--page-url", stack.discord_url]

    def run() -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tools.local_stack.watch", *urls],
            cwd=Path(__file__).parents[1],
            env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        (line,) = result.stdout.splitlines()
        return line

    first = run()
    assert first.startswith("watch_builds ran in ") and stack.discord_url in first
    # Whichever run announced them (the banner's Try line may have run first), one notifying post names
    # exactly the entries seed.py broke; the open list is quiet.
    broken = {w.name for w in seed.WATCHED if w.expect}
    announced = [m for m in stack_webhook.channel() if not m.quiet and "Build watch" in json.dumps(m.payload)]
    (announcement,) = announced
    text = json.dumps(announcement.payload).replace("\\\\_", "_")
    named = {w.name for w in seed.WATCHED if re.search(rf"\*\*{re.escape(w.name)}\*\*", text)}
    assert named == broken
    assert "nothing new in Discord" in run()


def test_failed_batch_comes_back_and_is_archived(stack: launcher.StackProcess) -> None:
    s3, sqs = stack.client("s3"), stack.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=names.STATS_QUEUE)["QueueUrl"]
    # Without its bucket the archiver's PutObject fails, as it would if S3 refused the write.
    for key in archive_of(s3):
        s3.delete_object(Bucket=BUCKET, Key=key)
    s3.delete_bucket(Bucket=BUCKET)
    mark = len(stack.lines)
    sponsors = unique_sponsors(2)
    before = datetime.now(UTC)
    try:
        response = requests.post(f"{stack.api_url}/pageload", params={"icons": ",".join(sponsors)}, timeout=10)
        after = datetime.now(UTC)
        assert response.status_code == 200
        stack.wait_for_line(r"\[events\] archive_stats failed", ARCHIVE_TIMEOUT, after=mark)
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        # At least this page load's three messages: the stack is shared, and may hold others too.
        assert int(attributes["ApproximateNumberOfMessagesNotVisible"]) >= 3, "the failed batch must stay queued"
    finally:
        s3.create_bucket(Bucket=BUCKET)

    objects = eventually(
        lambda: (found := archive_of(s3)) and found, VISIBILITY_TIMEOUT + ARCHIVE_TIMEOUT, "the batch archived on retry"
    )
    check_page_load(objects, sponsors, before, after)


def test_a_killed_event_runtime_is_replaced(stack: launcher.StackProcess) -> None:
    old = stack.kill_runtime()
    new = stack.wait_for_runtime(other_than=old)
    # The killed runtime is gone (reaped by the stack), and the one now polling is another process.
    eventually(lambda: not Path(f"/proc/{old}").exists(), ARCHIVE_TIMEOUT, f"the killed runtime {old} to be reaped")
    assert Path(f"/proc/{new}").exists()
    stack.wait_for_line(r"\[stack\] the event runtime exited \(killed by SIGKILL\)", ARCHIVE_TIMEOUT)
    sponsors = unique_sponsors(1)
    before = datetime.now(UTC)
    requests.post(f"{stack.api_url}/pageload", params={"icons": sponsors[0]}, timeout=10).raise_for_status()
    after = datetime.now(UTC)

    s3 = stack.client("s3")
    objects = eventually(
        lambda: (found := archive_of(s3)) and any(sponsors[0].encode() in data for data in found.values()) and found,
        ARCHIVE_TIMEOUT,
        "the page load archived by the new runtime",
    )
    check_page_load(objects, sponsors, before, after)


def test_sigterm_flushes_the_queue_into_the_archive_and_exits_0(tmp_path: Path) -> None:
    recording = tmp_path / "emulator-requests.jsonl"
    # A window far longer than the test: only the final flush can archive these page loads.
    kept = tmp_path / "kept"
    stack = launcher.start(
        batch_window=60,
        visibility_timeout=120,
        archive_copy=str(kept),
        env={
            "MOTO_ENABLE_RECORDING": "true",
            "MOTO_RECORDER_FILEPATH": str(recording),
            "LOCAL_DISCORD_JSON": "1",
        },
    )
    try:
        sponsors = unique_sponsors(4)
        for sponsor in sponsors:
            requests.post(f"{stack.api_url}/pageload", params={"icons": sponsor}, timeout=10).raise_for_status()
        sqs = stack.client("sqs")
        queue_url = sqs.get_queue_url(QueueName=names.STATS_QUEUE)["QueueUrl"]
        eventually(
            lambda: (
                sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"][
                    "ApproximateNumberOfMessagesNotVisible"
                ]
                == "8"
            ),
            ARCHIVE_TIMEOUT,
            "the runtime holding the batch",
        )
        assert archive_of(stack.client("s3")) == {}

        # The alarm command the banner prints; asked for (LOCAL_DISCORD_JSON=1), the message's JSON follows its line.
        subprocess.run(
            [sys.executable, "-m", "tools.local_stack.alarm", "--endpoint-url", stack.aws_endpoint],
            check=True,
            capture_output=True,
            timeout=60,
        )
        stack.wait_for_line(r"\[discord\] Discord POST message \d+: pings, SiteTooSlow.png", ARCHIVE_TIMEOUT)
        stack.wait_for_line(r'"title": "SiteTooSlow: ALARM"', ARCHIVE_TIMEOUT)
        emulator_pid, runtime_pid = _emulator_pid(stack), stack.runtime_pid
    finally:
        code = stack.stop(signal.SIGTERM, timeout=STOP_SECONDS)

    assert code == 0, stack.output[-3000:]
    after_signal = stack.output.split("SIGTERM received", 1)[1]
    assert "Traceback" not in after_signal
    assert "archived 8 messages" in after_signal
    for pid in (emulator_pid, runtime_pid):
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} left behind"

    # What the emulator was sent: one PutObject under stats/ with all eight lines.
    puts = [
        entry
        for entry in map(json.loads, recording.read_text().splitlines())
        if entry["method"] == "PUT" and urllib.parse.urlsplit(entry["url"]).path.startswith(f"/{BUCKET}/stats/")
    ]
    assert len(puts) == 1
    key = urllib.parse.unquote(urllib.parse.urlsplit(puts[0]["url"]).path.removeprefix(f"/{BUCKET}/"))
    assert ARCHIVE_KEY.fullmatch(key)
    data = base64.b64decode(puts[0]["body"]) if puts[0]["body_encoded"] else puts[0]["body"].encode()
    lines = data.decode().split("\n")
    first = json.loads(lines[0])
    date, time_of_day = first["date"], first["time"]
    for sponsor in sponsors:
        assert sum(1 for line in lines if f'"{sponsor}"' in line) == 1
        sponsor_line = next(line for line in lines if f'"{sponsor}"' in line)
        stamp = json.loads(sponsor_line)
        assert sponsor_line == body("SponsorView", sponsor, stamp["date"], stamp["time"])
    assert lines.count(body("PageLoad", "", date, time_of_day)) >= 1
    assert len(lines) == 8
    # The archive lived in the emulator's memory; the copy made on the way out holds the same bytes.
    assert (kept / key).read_bytes() == data
    assert f"copied the archive's 1 object(s) to {kept}/" in after_signal


def test_a_second_stack_on_the_same_ports_says_one_is_running_and_where(stack: launcher.StackProcess) -> None:
    ports = {
        "PORT": stack.api_url.rsplit(":", 1)[1],
        "AWS_PORT": stack.aws_endpoint.rsplit(":", 1)[1],
        "DISCORD_PORT": stack.discord_url.rstrip("/").rsplit(":", 1)[1],
    }
    result = subprocess.run(
        [sys.executable, "-m", "tools.local_stack"],
        env={**os.environ, **ports},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    (said,) = [line for line in result.stdout.splitlines() if "[stack] a local stack is already running" in line]
    assert f"API {stack.api_url}, AWS emulator {stack.aws_endpoint}, alerts page {stack.discord_url}" in said
    assert "kill " in said and "is in use" not in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_each_discord_call_is_one_line_with_its_page_address(stack: launcher.StackProcess) -> None:
    mark = len(stack.lines)
    stack.client("sns").publish(TopicArn=names.ALERT_TOPIC_ARN, Subject="One line", Message="for each call")
    line = stack.wait_for_line(r"\[discord\] Discord POST message (\d+): .*", ARCHIVE_TIMEOUT, after=mark)
    assert line[0].endswith(f"{stack.discord_url}#message-{line[1]}")
    # Without LOCAL_DISCORD_JSON=1 no message's JSON is printed.
    assert '"embeds"' not in stack.output
    wait_until_alerts_are_delivered(stack)  # nothing of this test's still on its way when the next one looks


def test_the_launcher_tries_fresh_ports_when_one_it_picked_is_taken_before_the_stack_binds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        picks = iter([busy])
        pick = net.free_port
        monkeypatch.setattr(net, "free_port", lambda: next(picks, None) or pick())
        with launcher.running() as stack:
            used = [stack.api_url, stack.aws_endpoint, stack.discord_url, stack.github_url]
            assert not any(url.rstrip("/").endswith(f":{busy}") for url in used)


def test_a_busy_port_is_reported_without_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "tools.local_stack"],
            env={**os.environ, "PORT": str(port), "AWS_PORT": str(net.free_port())},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"127.0.0.1:{port} is in use: set PORT to a free port" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def _emulator_pid(stack: launcher.StackProcess) -> int:
    port = urllib.parse.urlsplit(stack.aws_endpoint).port
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"tools.devkit.moto" in command and str(port).encode() in command:
                return int(entry.name)
    raise AssertionError("no emulator process found")
