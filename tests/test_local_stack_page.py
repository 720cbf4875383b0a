"""`make local`'s alerts page and banner, on the shared stack (which relays to ``stack_webhook``, as with WEBHOOK_URL).

The banner names the page beside the API, the page shows what the forwarder posted while the
"real" webhook still gets it, and every "Try" line of the banner runs as printed, with the AWS
CLI on PATH and without it (a fresh machine has none: nothing in the project installs it).
"""

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import requests

import app as stats_app
from tests.local_stack_helpers import ARCHIVE_TIMEOUT, wait_until_alerts_are_delivered
from tools.devkit import names
from tools.devkit.discord.fake import DiscordFake
from tools.devkit.net import eventually
from tools.local_stack import launcher, resources
from tools.local_stack.stack import READY_LINE, try_commands

ROOT = Path(__file__).parents[1]


def feed(stack: launcher.StackProcess) -> dict[str, Any]:
    response = requests.get(f"{stack.discord_url}_fake/messages", timeout=10)
    response.raise_for_status()
    return response.json()


def test_the_ready_line_names_the_page_and_a_line_without_it_still_parses() -> None:
    api, aws, page = "http://127.0.0.1:8000", "http://127.0.0.1:5000", "http://127.0.0.1:8001/"
    line = f"07:00:00.000 [stack] {READY_LINE.format(api=api, aws=aws, page=page)}"
    assert launcher.READY.search(line).groups() == (api, aws, page)
    earlier = f"07:00:00.000 [stack] ready: API {api}, AWS emulator {aws}"
    assert launcher.READY.search(earlier).groups() == (api, aws, None)


def test_the_banner_shows_the_alerts_page_beside_the_api(stack: launcher.StackProcess) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", stack.discord_url), stack.discord_url
    lines = stack.output.splitlines()
    (api_line,) = [n for n, line in enumerate(lines) if line.startswith(f"  API           {stack.api_url} ")]
    assert lines[api_line + 1].startswith(f"  alerts page   {stack.discord_url} ")
    assert "forward_alert -> Discord: the alerts page, and WEBHOOK_URL" in stack.output

    page = requests.get(stack.discord_url, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<title>#alerts" in page.text


def test_an_alarm_shows_on_the_page_and_still_reaches_the_real_webhook(
    stack: launcher.StackProcess, stack_webhook: DiscordFake
) -> None:
    name = f"PageCheck{uuid.uuid4().hex[:8]}"
    sample = json.loads((ROOT / "tests" / "events" / "threshold-alarm.json").read_text())
    # An alarm of its own (incidents are kept by AlarmArn): the shared stack has seen the sample already.
    alarm = {**sample, "AlarmName": name, "AlarmArn": sample["AlarmArn"].rsplit(":", 1)[0] + f":{name}"}
    stack.client("sns").publish(TopicArn=names.ALERT_TOPIC_ARN, Subject=f'ALARM: "{name}"', Message=json.dumps(alarm))
    title = f"{name}: ALARM"  # an incident message's title: the alarm and its state

    def titled(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [p for p in payloads if any(e.get("title") == title for e in p.get("embeds", []))]

    shown = eventually(
        lambda: titled([m["payload"] for m in feed(stack)["messages"]]), ARCHIVE_TIMEOUT, "the alarm on the page"
    )
    delivered = eventually(
        lambda: titled([m.payload for m in stack_webhook.channel()]), ARCHIVE_TIMEOUT, "the alarm at the webhook"
    )
    assert shown == delivered
    assert feed(stack)["relaying"] is True
    wait_until_alerts_are_delivered(stack)


def test_every_try_line_of_the_banner_works_with_or_without_the_aws_cli(
    stack: launcher.StackProcess, stack_webhook: DiscordFake
) -> None:
    found = resources.Resources(stats_queue_url="", alert_topic_arn=names.ALERT_TOPIC_ARN)
    aws_port = int(stack.aws_endpoint.rsplit(":", 1)[1])
    # The build watch's line is there once the app has the watch; it runs the real handler.
    watch = (stack.github_url, stack.discord_url) if "watch_builds" in stats_app.app.handler_map else None
    printed = try_commands(
        stack.api_url,
        stack.aws_endpoint,
        found,
        aws_cli=shutil.which("aws") is not None,
        aws_port=aws_port,
        watch=watch,
    )
    assert "\n".join(f"  {line}" if line else "" for line in printed) in stack.output

    # A fresh shell: no AWS settings of ours; and, for the second run, no AWS CLI on PATH.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    path = environment["PATH"].split(os.pathsep)
    without_cli = os.pathsep.join(d for d in path if not os.access(os.path.join(d, "aws"), os.X_OK))
    variants = [(False, without_cli)] + ([(True, environment["PATH"])] if shutil.which("aws") else [])
    for aws_cli, search_path in variants:
        commands = try_commands(
            stack.api_url, stack.aws_endpoint, found, aws_cli=aws_cli, aws_port=aws_port, watch=watch
        )
        assert any(line.startswith("aws ") for line in commands) == aws_cli
        # Typed in order into one shell, as a person would; -x names the line that failed.
        result = subprocess.run(
            ["bash", "-c", "set -euxo pipefail\n" + "\n".join(commands)],
            cwd=ROOT,
            env={**environment, "PATH": search_path},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
        assert "Ok" in result.stdout  # the page load

    # The plain messages the lines published reach the channel (and nothing stays queued for later tests).
    hello = {"Hello from boto3"} | ({"Hello from the AWS CLI"} if len(variants) == 2 else set())

    def greeted() -> bool:
        said = {e.get("description") for m in stack_webhook.channel() for e in m.payload.get("embeds", [])}
        return hello <= said

    eventually(greeted, ARCHIVE_TIMEOUT, f"{hello} in the channel")
    wait_until_alerts_are_delivered(stack)
