"""`python -m local_stack`: emulator, resources, seed data, event runtime and API, in that order.

Processes: this one (the API on Chalice's local server, the Discord fake, supervision),
the emulator (``devkit.moto``) and the event runtime (``local_stack.events``). The
children run in sessions of their own and end when this process's pipes to them close, so
Ctrl-C or SIGTERM to this process group reaches only this process, which then stops things
in the order that loses nothing: the API, then the runtime (which flushes the queues into
the archive), then the emulator.
"""

import functools
import json
import logging
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalice.app import SQSEventConfig

from chalicelib import settings
from devkit import names, net, process
from devkit.discord_fake import DiscordFake, Message
from devkit.discord_relay import RelayingDiscordFake
from devkit.github_fake import GitHubFake
from devkit.github_fake import Request as GitHubRequest
from devkit.names import ACCOUNT_ID, GITHUB_TOKEN_PARAMETER, HOST, REGION, WEBHOOK_PARAMETER
from devkit.process import OutputProcess
from local_stack import applocal, resources, seed, watch
from local_stack.api import ApiServer
from local_stack.options import STAGE, OptionError, Options

logger = logging.getLogger("local_stack.stack")
discord_logger = logging.getLogger("local_stack.discord")
github_logger = logging.getLogger("local_stack.github")
GITHUB_TOKEN = "local-github-token"  # noqa: S105 (the GitHub fake's own; the watch reads it from SSM)

READY_LINE = "ready: API {api}, AWS emulator {aws}, alerts page {page}"  # the launcher waits for this line
RUNTIME_READY = re.compile(r"\[events\] runtime ready \(pid (\d+)\)")
STARTUP_SECONDS = 60
API_GRACE_SECONDS = 2.0
RUNTIME_FLUSH_START_SECONDS = 5.0
EMULATOR_STOP_SECONDS = 2.0
# A runtime that keeps dying is restarted less and less often, as Lambda backs off too.
RESTART_BACKOFF = (1.0, 2.0, 5.0, 10.0, 30.0)
HEALTHY_SECONDS = 30.0


class StartupError(RuntimeError):
    """The stack could not start; the message says why, and no traceback is needed."""


class Child:
    """A child process in its own session: stdin is its lifeline, its output is relayed to ours."""

    def __init__(self, module: str, *args: str, on_line: Callable[[str], None] | None = None) -> None:
        self.module = module
        self._args = args
        self._on_line = on_line
        self.process: OutputProcess | None = None

    def start(self) -> "Child":
        self.process = OutputProcess.python(self.module, *self._args, lifeline=True, on_line=self._relay)
        return self

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def exited(self) -> int | None:
        """The exit code (negative: the signal that ended it), or None while it runs."""
        return self.process.exited() if self.process else None

    def stop(self, timeout: float) -> int | None:
        """SIGTERM, up to ``timeout`` seconds to finish, then SIGKILL; the exit code."""
        if self.process is None:
            return None
        if self.process.exited() is None and timeout > 0:
            code = self.process.stop(timeout)
            if code == -signal.SIGKILL:
                logger.warning("%s did not stop within %.0f s and was killed", self.module, timeout)
            return code
        return self.process.stop(0.1)

    def _relay(self, line: str) -> None:
        try:
            sys.stdout.write(line)
        except (OSError, ValueError):
            pass  # our stdout is gone (say, `make local | head`): keep reading so the child never blocks
        if self._on_line:
            self._on_line(line)


class Stack:
    def __init__(self, options: Options, stopping: threading.Event) -> None:
        self.options = options
        self.stopping = stopping
        self.exit_code = 0
        self.emulator: Child | None = None
        self.runtime: Child | None = None
        self.api: ApiServer | None = None
        self.printer: DiscordFake | None = None
        self.github: GitHubFake | None = None
        self.resources: resources.Resources | None = None
        self._runtime_ready = threading.Event()

    # Starting

    def start(self) -> bool:
        """Bring everything up; False if a stop was asked for on the way."""
        options = self.options
        for name, port in (
            ("AWS_PORT", options.aws_port),
            ("PORT", options.port),
            ("DISCORD_PORT", options.discord_port),
            ("GITHUB_PORT", options.github_port),
        ):
            _require_free_port(name, port)
        app, config = applocal.load(STAGE)
        os.environ.update(self._environment(config.environment_variables))
        self.emulator = Child("devkit.moto", "--port", str(options.aws_port)).start()
        self._wait_for(lambda: net.accepts(options.aws_port), self.emulator, "the AWS emulator")
        if self.stopping.is_set():
            return False

        # The forwarder always posts to the Discord fake, whose page shows the channel. With WEBHOOK_URL
        # set, the fake passes every request on to it and answers as it does (devkit.discord_relay).
        # WEBHOOK_URL leaves the environment: the forwarder reads the fake's URL from SSM, as in production.
        upstream = os.environ.pop("WEBHOOK_URL", "").strip()
        echo = functools.partial(_print_message, relayed=bool(upstream))
        try:
            if upstream:
                self.printer = RelayingDiscordFake(upstream, echo=echo, port=options.discord_port)
            else:
                self.printer = DiscordFake(echo=echo, port=options.discord_port)
        except ValueError:
            raise StartupError("WEBHOOK_URL is not an http(s) URL") from None
        except OSError as error:
            raise StartupError(f"cannot serve the Discord fake on {HOST}:{options.discord_port}: {error}") from None
        webhook_url = self.printer.url
        # The build watch reads GitHub's REST API: here the fake, with the repositories seed.py describes.
        try:
            self.github = GitHubFake(token=GITHUB_TOKEN, port=options.github_port, echo=_print_github_request)
        except OSError as error:
            raise StartupError(f"cannot serve the GitHub fake on {HOST}:{options.github_port}: {error}") from None
        now = datetime.now(UTC)
        seed.github_world(self.github, now)
        client = _client_factory()
        self.resources = resources.provision(client, app, options, webhook_url)
        client("ssm").put_parameter(
            Name=GITHUB_TOKEN_PARAMETER, Value=GITHUB_TOKEN, Type="SecureString", Overwrite=True
        )
        os.environ["SQS_STATS_QUEUE"] = self.resources.stats_queue_url
        items = seed.history(now) + seed.watch_history(now)
        seed.write(client("dynamodb"), self.resources.table, items)
        logger.info("seeded %s with %d builds of %d compilers", self.resources.table, len(items), len(_names(items)))
        logger.info(
            "GitHub fake at %s: compilers.yaml with %d daily builds for the build watch (python -m local_stack.watch)",
            options.github_url,
            len(seed.WATCHED),
        )
        seed.write_metrics(client("cloudwatch"), seed.response_times(now - seed.METRIC_HISTORY, now))
        logger.info("seeded %s %s for the last 3 hours", seed.RESPONSE_NAMESPACE, seed.RESPONSE_METRIC)
        if self.stopping.is_set():
            return False

        self.start_runtime()
        self._wait_for(self._runtime_ready.is_set, self.runtime, "the event runtime")
        if self.stopping.is_set():
            return False
        try:
            self.api = ApiServer(app, config, HOST, options.port).start()
        except OSError as error:
            raise StartupError(f"cannot serve the API on {HOST}:{options.port}: {error}") from None
        logger.info(READY_LINE.format(api=options.api_url, aws=options.aws_endpoint, page=options.discord_url))
        print(self.banner(app, self.resources, sorted(_names(items))), flush=True)
        return True

    def start_runtime(self) -> Child:
        self._runtime_ready.clear()
        self.runtime = Child("local_stack.events", on_line=self._watch_runtime).start()
        return self.runtime

    def _watch_runtime(self, line: str) -> None:
        if RUNTIME_READY.search(line):
            self._runtime_ready.set()

    def _environment(self, stage_variables: dict[str, str]) -> dict[str, str]:
        """The stage's variables, with what makes every AWS call go to the emulator on top."""
        for name in names.FOREIGN_AWS_VARIABLES:
            os.environ.pop(name, None)
        queue = f"{self.options.aws_endpoint}/{ACCOUNT_ID}/{settings.STATS_QUEUE_NAME}"
        # A GITHUB_TOKEN from the shell would win over the parameter and go to the fake: never send it.
        os.environ.pop("GITHUB_TOKEN", None)
        return {
            **stage_variables,
            **names.aws_environment(self.options.aws_endpoint),
            "SQS_STATS_QUEUE": queue,
            "WEBHOOK_URL_PARAMETER": WEBHOOK_PARAMETER,
            **watch.environment(self.options.github_url),
        }

    def _wait_for(self, ready: Callable[[], bool], child: Child, what: str, seconds: float = STARTUP_SECONDS) -> bool:
        """Wait until ready; False if it took too long or (while starting) a stop was asked for."""
        deadline = time.monotonic() + seconds
        starting = not self.stopping.is_set()
        while not ready():
            code = child.exited()
            if code is not None:
                raise StartupError(f"{what} exited during startup ({_describe_exit(code)}); see its output above")
            if time.monotonic() > deadline:
                if starting:
                    raise StartupError(f"{what} was not ready within {seconds:.0f} s")
                return False
            if starting and self.stopping.is_set():
                return False
            time.sleep(0.05)
        return True

    # Running

    def supervise(self) -> None:
        """Until asked to stop: restart the event runtime when it dies."""
        started = time.monotonic()
        failures = 0
        emulator, runtime = self.emulator, self.runtime
        if emulator is None or runtime is None:
            return
        while not self.stopping.wait(0.2):
            code = emulator.exited()
            if code is not None:
                logger.error("the AWS emulator exited (%s); stopping", _describe_exit(code))
                self.exit_code = 1
                return
            code = runtime.exited()
            if code is None:
                continue
            failures = 0 if time.monotonic() - started > HEALTHY_SECONDS else failures + 1
            delay = RESTART_BACKOFF[min(failures, len(RESTART_BACKOFF) - 1)]
            logger.warning(
                "the event runtime exited (%s); a new one starts in %.0f s, as Lambda would start a new instance",
                _describe_exit(code),
                delay,
            )
            runtime.stop(0)
            if self.stopping.wait(delay):
                return
            runtime = self.start_runtime()
            started = time.monotonic()

    # Stopping

    def stop(self) -> None:
        """API first, then the runtime flushes the queues, then the emulator goes."""
        if self.api:
            left = self.api.stop(API_GRACE_SECONDS)
            if left:
                logger.warning("%d request(s) still in progress after %.0f s", left, API_GRACE_SECONDS)
        if self.resources and self.emulator and self.emulator.exited() is None:
            if self.runtime is None or self.runtime.exited() is not None:
                # Between restarts nobody is polling: a fresh runtime does the final flush.
                runtime = self.start_runtime()
                try:
                    self._wait_for(
                        self._runtime_ready.is_set, runtime, "the event runtime", RUNTIME_FLUSH_START_SECONDS
                    )
                except StartupError as error:
                    logger.warning("no final flush: %s", error)
            logger.info("stopping: archiving what is still queued")
            self.runtime.stop(self.options.drain_seconds + 2)
        if self.printer:
            self.printer.close()
        if self.github:
            self.github.close()
        if self.emulator:
            self.emulator.stop(EMULATOR_STOP_SECONDS)
        logger.info("stopped")

    def banner(self, app: Any, found: resources.Resources, compilers: list[str]) -> str:
        options = self.options
        api, aws = options.api_url, options.aws_endpoint
        batch = next(s for s in app.event_sources if isinstance(s, SQSEventConfig))
        window = min(options.batch_window, batch.maximum_batching_window_in_seconds)
        relayed = isinstance(self.printer, RelayingDiscordFake)
        webhook = "the alerts page, and WEBHOOK_URL" if relayed else "the alerts page (WEBHOOK_URL is not set)"
        aws_cli = shutil.which("aws") is not None
        commands = "\n".join(
            f"  {line}" if line else ""
            for line in try_commands(api, aws, found, aws_cli=aws_cli, watch=watch_urls(app, options))
        )
        standing_in = "" if aws_cli else " (no AWS CLI on PATH: boto3 stands in for it)"
        return f"""
Compiler Explorer stats and alerts, running locally (stage "{STAGE}", AWS emulated by moto, no AWS account).

  API           {api}    front end: pageloadUrl={api}/pageload
  alerts page   {options.discord_url}   the Discord channel the forwarder posts to, drawn as Discord shows it, live
  AWS emulator  {aws}    region {REGION}, any credentials (e.g. testing/testing)
  page loads    queue {settings.STATS_QUEUE_NAME} -> archive_stats, up to {batch.batch_size} a batch, \
every {window:g} s -> s3://{found.bucket}/stats/
  alerts        topic {found.alert_topic_arn} -> forward_alert -> Discord: {webhook}
  builds        table {found.table}: {", ".join(compilers)}
  build watch   GitHub fake {options.github_url}: compilers.yaml with {len(seed.WATCHED)} daily builds, \
{sum(bool(w.expect) for w in seed.WATCHED)} of them broken -> watch_builds -> the alerts page

Try{standing_in}:
{commands}

Ctrl-C stops everything; what is still queued is archived first.
"""


def watch_urls(app: Any, options: Options) -> tuple[str, str] | None:
    """The GitHub fake and the alerts page for the banner's watch line; None while the app has no watch."""
    return (options.github_url, options.discord_url) if watch.HANDLER in app.handler_map else None


def try_commands(
    api: str, aws: str, found: resources.Resources, *, aws_cli: bool, watch: tuple[str, str] | None = None
) -> list[str]:
    """The banner's "Try" lines, one shell command each ("" between groups).

    ``watch``: the GitHub fake's URL and the alerts page, when the app has the build watch to run.

    The AWS CLI's only when it is installed (``aws_cli``): the development requirements do not
    install it, and each line must work on a fresh machine.
    """
    list_archive = (
        f"import boto3; s3 = boto3.client('s3', endpoint_url='{aws}'); "
        f"print([o['Key'] for o in s3.list_objects_v2(Bucket='{found.bucket}').get('Contents', [])])"
    )
    lines = [
        f"curl -X POST '{api}/pageload?icons=intel,jetbrains'",
        f"curl {api}/compiler-build/gcc",
        f".venv/bin/python -m local_stack.alarm --endpoint-url {aws}",
        f".venv/bin/python -m local_stack.alarm --endpoint-url {aws} --state OK",
        "",
        f"export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={REGION}",
    ]
    if watch:
        github, page = watch
        run = f".venv/bin/python -m local_stack.watch --endpoint-url {aws} --github-url {github} --page-url {page}"
        lines.insert(4, run)
    if aws_cli:
        topic = found.alert_topic_arn
        lines += [
            f"aws --endpoint-url {aws} s3 ls --recursive s3://{found.bucket}/",
            f"aws --endpoint-url {aws} sns publish --topic-arn {topic} --message 'Hello from the AWS CLI'",
        ]
    else:
        publish = (
            f"import boto3; sns = boto3.client('sns', endpoint_url='{aws}'); "
            f"sns.publish(TopicArn='{found.alert_topic_arn}', Message='Hello from boto3')"
        )
        lines.append(f'.venv/bin/python -c "{publish}"')
    lines.append(f'.venv/bin/python -c "{list_archive}"')
    return lines


def main() -> int:
    stopping = threading.Event()
    signals: list[int] = []

    def on_stop(signum: int, frame: object) -> None:
        signals.append(signum)
        stopping.set()

    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)
    process.log_to_stdout("stack", {"chalicelib": "api", "local_stack.api": "api", "local_stack.discord": "discord"})
    try:
        options = Options.from_env()
    except OptionError as error:
        logger.error("%s", error)
        return 2

    stack = Stack(options, stopping)
    try:
        if stack.start():
            stack.supervise()
    except StartupError as error:
        logger.error("%s", error)
        stack.exit_code = 2
    finally:
        if signals:
            logger.info("%s received", signal.Signals(signals[0]).name)
        stack.stop()
    return stack.exit_code


def _client_factory() -> Callable[[str], Any]:
    import boto3

    session = boto3.session.Session()
    return lambda service: session.client(service, region_name=REGION)


def _require_free_port(name: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            raise StartupError(f"{HOST}:{port} is in use: set {name} to a free port") from None


def _describe_exit(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def _names(items: list[dict[str, Any]]) -> set[str]:
    return {item["compiler"] for item in items}


def _print_github_request(request: GitHubRequest) -> None:
    answer = str(request.status) if request.status else "no answer"
    query = "&".join(f"{k}={v}" for k, v in request.query.items())
    github_logger.info("GitHub: %s %s%s -> %s", request.method, request.path, f"?{query}" if query else "", answer)


def _print_message(what: str, message: Message, relayed: bool = False) -> None:
    # What a Discord user would notice: a post pings, a quiet post is only a badge, an edit is silent.
    how = {
        "posted": f"POSTED message {message.id}, which pings",
        "edited": f"EDITED message {message.id} in place, which notifies nobody",
        "deleted": f"DELETED message {message.id}",
    }.get(what, f"{what} message {message.id}")
    if what == "posted" and message.quiet:
        how = f"POSTED message {message.id} quietly (SUPPRESS_NOTIFICATIONS: a badge, no notification)"
    shown = "" if what == "deleted" else ":\n" + json.dumps(message.payload, indent=2, ensure_ascii=False)
    files = "".join(f"\nattached: {name} ({len(data)} bytes)" for name, data in message.files.items())
    sent = "also sent to WEBHOOK_URL" if relayed else "printed, not sent: WEBHOOK_URL is not set"
    discord_logger.info("Discord: %s; %s%s%s", how, sent, shown, files)
