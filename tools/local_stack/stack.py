"""`python -m tools.local_stack`: emulator, resources, seed data, event runtime and API, in that order.

Processes: this one (the API on Chalice's local server, the Discord fake, supervision),
the emulator (``tools.devkit.moto``) and the event runtime (``tools.local_stack.events``). The
children run in sessions of their own and end when this process's pipes to them close, so
Ctrl-C or SIGTERM to this process group reaches only this process, which then stops things
in the order that loses nothing: the API, then the runtime (which flushes the queues into
the archive), then the emulator.
"""

import argparse
import dataclasses
import functools
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalice.app import SQSEventConfig

from chalicelib import settings
from tools.devkit import archive, names, net, process
from tools.devkit.discord.fake import DiscordFake, Message
from tools.devkit.discord.relay import RelayingDiscordFake
from tools.devkit.github_fake import GitHubFake
from tools.devkit.github_fake import Request as GitHubRequest
from tools.devkit.names import ACCOUNT_ID, GITHUB_TOKEN_PARAMETER, HOST, REGION, WEBHOOK_PARAMETER
from tools.devkit.process import OutputProcess
from tools.local_stack import applocal, registry, resources, seed, watch
from tools.local_stack.api import ApiServer
from tools.local_stack.launcher import RUNTIME_READY
from tools.local_stack.options import STAGE, OptionError, Options

logger = logging.getLogger("tools.local_stack.stack")
discord_logger = logging.getLogger("tools.local_stack.discord")
github_logger = logging.getLogger("tools.local_stack.github")
GITHUB_TOKEN = "local-github-token"  # noqa: S105 (the GitHub fake's own; the watch reads it from SSM)

READY_LINE = "ready: API {api}, AWS emulator {aws}, alerts page {page}"  # the launcher waits for this line
NO_API = "none"  # the ready line's API with --no-api
CHALICE_LOCAL = ".venv/bin/chalice local --stage local"
# The local stage of .chalice/config.json points chalice local at the emulator on this port.
CHALICE_LOCAL_AWS_PORT = 5000
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
        ports = self.ports()
        already = registry.using(ports)
        if already:
            raise StartupError(
                f"a local stack is already running ({already[0].describe()}); use that one, stop it (Ctrl-C in "
                f"its terminal, or kill {already[0].pid}), or start this one with other "
                f"{', '.join(sorted(ports))}"
            )
        for name, port in ports.items():
            _require_free_port(name, port)
        app, config = applocal.load(STAGE)
        os.environ.update(self._environment(config.environment_variables))
        self.emulator = Child("tools.devkit.moto", "--port", str(options.aws_port)).start()
        self._wait_for(lambda: net.accepts(options.aws_port), self.emulator, "the AWS emulator")
        if self.stopping.is_set():
            return False

        # The forwarder always posts to the Discord fake, whose page shows the channel. With WEBHOOK_URL
        # set, the fake passes every request on to it and answers as it does (tools.devkit.discord.relay).
        # WEBHOOK_URL leaves the environment: the forwarder reads the fake's URL from SSM, as in production.
        upstream = os.environ.pop("WEBHOOK_URL", "").strip()
        echo = functools.partial(
            _print_message, page=options.discord_url, relayed=bool(upstream), with_json=options.discord_json
        )
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
            "GitHub fake at %s: compilers.yaml with %d daily builds for the build watch "
            "(python -m tools.local_stack.watch)",
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
        if options.api:
            try:
                self.api = ApiServer(app, config, HOST, options.port).start()
            except OSError as error:
                raise StartupError(f"cannot serve the API on {HOST}:{options.port}: {error}") from None
        ready = READY_LINE.format(
            api=options.api_url if options.api else NO_API, aws=options.aws_endpoint, page=options.discord_url
        )
        registry.register(registry.Running(os.getpid(), os.getcwd(), self.ports(), ready.split(": ", 1)[1]))
        print(self.banner(app, self.resources, sorted(_names(items))), flush=True)
        # Last: the launcher (and whoever reads the terminal) takes this line to mean everything is out.
        logger.info(ready)
        return True

    def ports(self) -> dict[str, int]:
        """The ports this stack serves on, by the variable that sets each."""
        options = self.options
        ports = {"AWS_PORT": options.aws_port, "DISCORD_PORT": options.discord_port, "GITHUB_PORT": options.github_port}
        return {**ports, "PORT": options.port} if options.api else ports

    def start_runtime(self) -> Child:
        self._runtime_ready.clear()
        self.runtime = Child("tools.local_stack.events", on_line=self._watch_runtime).start()
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
            self.copy_archive()
        if self.printer:
            self.printer.close()
        if self.github:
            self.github.close()
        if self.emulator:
            self.emulator.stop(EMULATOR_STOP_SECONDS)
        registry.unregister(os.getpid())
        logger.info("stopped")

    def copy_archive(self) -> None:
        """The archive lives in the emulator's memory: keep a copy of its objects (LOCAL_ARCHIVE_COPY)."""
        if not self.options.archive_copy or self.resources is None:
            return
        target = Path(self.options.archive_copy)
        try:
            objects = archive.objects(_client_factory()("s3"), self.resources.bucket)
            for key, data in objects.items():
                path = target / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        except Exception as error:  # noqa: BLE001 (a copy that fails must not stop the shutdown)
            logger.warning("could not copy the archive to %s/: %s", target, error)
            return
        if objects:
            logger.info(
                "copied the archive's %d object(s) to %s/ (the emulator's copy goes with it)", len(objects), target
            )

    def banner(self, app: Any, found: resources.Resources, compilers: list[str]) -> str:
        options = self.options
        api, aws = options.api_url if options.api else "http://127.0.0.1:8000", options.aws_endpoint
        batch = next(s for s in app.event_sources if isinstance(s, SQSEventConfig))
        window = min(options.batch_window, batch.maximum_batching_window_in_seconds)
        relayed = isinstance(self.printer, RelayingDiscordFake)
        webhook = "the alerts page, and WEBHOOK_URL" if relayed else "the alerts page (WEBHOOK_URL is not set)"
        aws_cli = shutil.which("aws") is not None
        lines = try_commands(
            api, aws, found, aws_cli=aws_cli, aws_port=options.aws_port, watch=watch_urls(app, options)
        )
        commands = "\n".join(f"  {line}" if line else "" for line in lines)
        standing_in = "" if aws_cli else " (no AWS CLI on PATH: boto3 stands in for it)"
        if options.api:
            api_line = f"{api}    front end: pageloadUrl={api}/pageload"
        elif options.aws_port == CHALICE_LOCAL_AWS_PORT:
            api_line = f"not served here: run {CHALICE_LOCAL} (it serves {api} against this emulator)"
        else:
            api_line = (
                f"not served here; {CHALICE_LOCAL} expects the emulator on port {CHALICE_LOCAL_AWS_PORT} "
                f"(.chalice/config.json), this one is on {options.aws_port}"
            )
        json_hint = "" if options.discord_json else "; LOCAL_DISCORD_JSON=1 prints each message's JSON too"
        kept = (
            f"the archive lives in the emulator's memory; on shutdown a copy goes to {options.archive_copy}/"
            if options.archive_copy
            else "the archive lives in the emulator's memory and is gone when it stops (LOCAL_ARCHIVE_COPY is empty)"
        )
        return f"""
Compiler Explorer stats and alerts, running locally (stage "{STAGE}", AWS emulated by moto, no AWS account).

  API           {api_line}
  alerts page   {options.discord_url}   the Discord channel the forwarder posts to, drawn as Discord shows it, live
  AWS emulator  {aws}    region {REGION}, any credentials (e.g. testing/testing)
  page loads    queue {settings.STATS_QUEUE_NAME} -> archive_stats, up to {batch.batch_size} a batch, \
every {window:g} s -> s3://{found.bucket}/stats/
  archive       {kept}
  alerts        topic {found.alert_topic_arn} -> forward_alert -> Discord: {webhook}
                one line here per Discord call{json_hint}
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
    api: str,
    aws: str,
    found: resources.Resources,
    *,
    aws_cli: bool,
    aws_port: int = CHALICE_LOCAL_AWS_PORT,
    watch: tuple[str, str] | None = None,
) -> list[str]:
    """The banner's "Try" lines, one shell command each ("" between groups).

    ``watch``: the GitHub fake's URL and the alerts page, when the app has the build watch to run.

    The AWS CLI's only when it is installed (``aws_cli``): the development requirements do not
    install it, and each line must work on a fresh machine. The alarm lines are the README's,
    with ``AWS_PORT=`` in front when the emulator is not on the default port.
    """
    alarm = ".venv/bin/python -m tools.local_stack.alarm"
    if aws_port != CHALICE_LOCAL_AWS_PORT:
        alarm = f"AWS_PORT={aws_port} {alarm}"
    list_archive = (
        f"import boto3; s3 = boto3.client('s3', endpoint_url='{aws}'); "
        f"print([o['Key'] for o in s3.list_objects_v2(Bucket='{found.bucket}').get('Contents', [])])"
    )
    lines = [
        f"curl -X POST '{api}/pageload?icons=intel,jetbrains'",
        f"curl {api}/compiler-build/gcc",
        alarm,
        f"{alarm} --state OK",
        "",
        f"export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION={REGION}",
    ]
    if watch:
        github, page = watch
        run = (
            f".venv/bin/python -m tools.local_stack.watch --endpoint-url {aws} --github-url {github} --page-url {page}"
        )
        lines.insert(4, run)
    if aws_cli:
        topic = found.alert_topic_arn
        lines += [
            f"aws --endpoint-url {aws} s3 ls --recursive s3://{found.bucket}/",
            f"aws --endpoint-url {aws} sns publish --topic-arn {topic} --subject 'Test from the AWS CLI' "
            "--message 'Hello from the AWS CLI'",
        ]
    else:
        publish = (
            f"import boto3; sns = boto3.client('sns', endpoint_url='{aws}'); "
            f"sns.publish(TopicArn='{found.alert_topic_arn}', Subject='Test from boto3', Message='Hello from boto3')"
        )
        lines.append(f'.venv/bin/python -c "{publish}"')
    lines.append(f'.venv/bin/python -c "{list_archive}"')
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.local_stack", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--no-api",
        action="store_true",
        help=f"everything but the API: the emulator with its resources and history, the event runtime and the "
        f"Discord fake, for {CHALICE_LOCAL} (make emulator)",
    )
    args = parser.parse_args(argv)
    stopping = threading.Event()
    signals: list[int] = []

    def on_stop(signum: int, frame: object) -> None:
        signals.append(signum)
        stopping.set()

    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)
    process.log_to_stdout(
        "stack", {"chalicelib": "api", "tools.local_stack.api": "api", "tools.local_stack.discord": "discord"}
    )
    try:
        options = dataclasses.replace(Options.from_env(), api=not args.no_api)
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


def discord_line(what: str, message: Message, page: str, relayed: bool = False) -> str:
    """One line for one Discord call: the method, the message, whether anyone was notified, where to see it."""
    # What a Discord user would notice: a post pings, a quiet post is only a badge, an edit notifies nobody.
    method, notice = {
        "posted": ("POST", "quiet (SUPPRESS_NOTIFICATIONS)" if message.quiet else "pings"),
        "edited": ("PATCH", "quiet (an edit notifies nobody)"),
        "deleted": ("DELETE", "quiet"),
        "fetched": ("GET", "quiet"),
    }.get(what, (what.upper(), "quiet"))
    files = (
        "".join(f", {name} ({len(data):,} bytes)" for name, data in message.files.items()) if what != "fetched" else ""
    )
    relay = ", relayed to WEBHOOK_URL" if relayed else ""
    return f"Discord {method} message {message.id}: {notice}{files}{relay}; {page}#message-{message.id}"


def _print_message(what: str, message: Message, page: str, relayed: bool = False, with_json: bool = False) -> None:
    line = discord_line(what, message, page, relayed)
    if with_json and what in ("posted", "edited"):
        line += "\n" + json.dumps(message.payload, indent=2, ensure_ascii=False)
    discord_logger.info("%s", line)


def _print_github_request(request: GitHubRequest) -> None:
    answer = str(request.status) if request.status else "no answer"
    query = "&".join(f"{k}={v}" for k, v in request.query.items())
    github_logger.info("GitHub: %s %s%s -> %s", request.method, request.path, f"?{query}" if query else "", answer)
