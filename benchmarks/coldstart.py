"""Row 3: each function's cold start as Lambda runs it, in fresh processes, beside the baseline's.

Each run is a new interpreter (``benchmarks.coldstart_child``) with ``_HANDLER`` set as Lambda
sets it. It imports the function's module at full CPU (Lambda's init) and then, for a throttled
run, moves itself into a cgroup whose CPU quota is the function's memory/1769 of one vCPU
(``benchmarks.throttle``) before its first invocation. Unthrottled runs of the same targets give
each phase's CPU time, from which a *modelled* figure is computed for every memory size: init as
measured, plus the first call's CPU time divided by the share, plus its time off the CPU
(waiting on AWS or the webhook, which a quota does not stretch). Where no cgroup can be made,
the modelled figures are all there is.

Project runs also make ``warm_calls`` more invocations after the first, for the memory table.
The runs of all targets are interleaved; the first round only warms the disk cache and compiles
bytecode, and is thrown away when there is more than one.

The forwarder runs as production does: with its state table (``ALERT_STATE_TABLE``, a table of
the bench's moto) and its alarm graphs (the emulator's GetMetricWidgetImage). Each of its
invocations, cold or warm, is a new alarm opening an incident: stored, drawn and posted, never a
redelivery that the state store would stop at once.
"""

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import aws_setup, throttle
from chalicelib import graphs
from devkit.discord_fake import DiscordFake
from devkit.lambda_events import ALARM, alarm_event, build_event, pageload_event, sqs_event_of_bodies
from devkit.moto import MotoProcess as Emulator
from devkit.names import ALERT_STATE_TABLE, REGION
from local_stack import resources

ROOT = Path(__file__).resolve().parent.parent
PAGELOAD_SPONSORS = 3
ARCHIVE_BATCH = 100
# Lambda's x86 on-demand prices (us-east-1); init is billed as duration since August 2025.
PRICE_PER_GB_SECOND = 0.0000166667
PRICE_PER_MILLION_REQUESTS = 0.20
PRODUCTION_MEMORY_MB = 128  # production's stats function today
MEMORY_TABLE_SIZES = (128, 256, 512)
# (target, what it is); the baseline's counterpart of each project target is on the same line.
PAIRS = (
    ("project:pageload", "baseline:pageload", f"API: page load, {PAGELOAD_SPONSORS} sponsors"),
    ("project:build", "baseline:build", "API: build lookup"),
    ("project:archiver", "baseline:archiver", f"archiver: batch of {ARCHIVE_BATCH}"),
    ("project:forwarder", "baseline:forwarder", "alert forwarder, WEBHOOK_URL set, state and graph"),
    ("project:forwarder-ssm", "baseline:forwarder", "alert forwarder, URL read from SSM, state and graph"),
)
TARGETS = tuple(dict.fromkeys(target for pair in PAIRS for target in pair[:2]))
# Which Chalice function (its memory in .chalice/config.json) each case is.
FUNCTIONS = {
    "pageload": "api_handler",
    "build": "api_handler",
    "archiver": "archive_stats",
    "forwarder": "forward_alert",
    "forwarder-ssm": "forward_alert",
}
# _HANDLER as Lambda sets it: the project's from `chalice package`, the seed's file names.
HANDLERS = {
    "project:pageload": "app.app",
    "project:build": "app.app",
    "project:archiver": "app.archive_stats",
    "project:forwarder": "app.forward_alert",
    "project:forwarder-ssm": "app.forward_alert",
    "baseline:pageload": "stats.lambda_handler",
    "baseline:build": "stats.lambda_handler",
    "baseline:archiver": "stats.lambda_handler",
    "baseline:forwarder": "cloudwatch_to_discord.lambda_handler",
}
COLDSTART_ALERT_TABLE = f"{ALERT_STATE_TABLE}-coldstart"
# An alarm opening an incident: its delivery claimed, the alarm locked, the state saved before
# the post and after it, the delivery marked done; and its graph.
NEW_INCIDENT = {"dynamodb:PutItem": 1, "dynamodb:UpdateItem": 4, "monitoring:GetMetricWidgetImage": 1}
# AWS requests one invocation sends (the SSM read happens once a process).
PER_INVOCATION = {
    "project:pageload": {"sqs:SendMessageBatch": 1},
    "project:build": {"dynamodb:Query": 1},
    "project:archiver": {"s3:PutObject": 1},
    "project:forwarder": NEW_INCIDENT,
    "project:forwarder-ssm": NEW_INCIDENT,
}
ONCE = {"project:forwarder-ssm": {"ssm:GetParameter": 1}}


def configured_memory(stage: str = "prod") -> dict[str, int]:
    """Each Chalice function's ``lambda_memory_size`` in .chalice/config.json."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    functions = config["stages"][stage]["lambda_functions"]
    return {name: settings["lambda_memory_size"] for name, settings in functions.items()}


def expected_requests(target: str, invocations: int) -> dict[str, int]:
    """What a cold process of ``target`` sends to AWS in ``invocations`` calls: init sends nothing."""
    counts = Counter({op: n * invocations for op, n in PER_INVOCATION[target].items()})
    counts.update(ONCE.get(target, {}))
    if "monitoring:GetMetricWidgetImage" in counts:
        # A process asks for at most graphs.RenderBudget().limit images a minute: the rest go without one.
        limit = graphs.RenderBudget().limit
        counts["monitoring:GetMetricWidgetImage"] = min(counts["monitoring:GetMetricWidgetImage"], limit)
    return dict(counts)


def modelled_ms(wall_ms: float, cpu_ms: float, memory_mb: int) -> float:
    """A call's time at ``memory_mb``'s share: its CPU time stretched, its waiting time as it was."""
    return cpu_ms / throttle.share(memory_mb) + max(0.0, wall_ms - cpu_ms)


def cost_per_million(duration_ms: float, memory_mb: int) -> float:
    """Dollars per million invocations of ``duration_ms`` each (billed in whole ms) at ``memory_mb``."""
    gb_seconds = memory_mb / 1024 * math.ceil(duration_ms) / 1000
    return 1e6 * gb_seconds * PRICE_PER_GB_SECOND + PRICE_PER_MILLION_REQUESTS


def _events(compiler: str) -> dict[str, dict[str, Any]]:
    bodies = [
        json.dumps({"date": "2026-11-24", "time": "03:04:05", "type": "PageLoad", "value": ""}, sort_keys=True)
    ] * ARCHIVE_BATCH
    return {
        "pageload": pageload_event(PAGELOAD_SPONSORS),
        "build": build_event(compiler),
        "archiver": sqs_event_of_bodies(bodies),
        "forwarder": alarm_event(ALARM),
        "forwarder-ssm": alarm_event(ALARM),
    }


def forwarder_events(run: int, invocations: int) -> list[dict[str, Any]]:
    """One event per invocation of a forwarder process: each a new alarm, so each opens an incident."""
    events = []
    for call in range(invocations):
        name = f"{ALARM['AlarmName']}-{run}-{call}"
        alarm = {**ALARM, "AlarmName": name, "AlarmArn": ALARM["AlarmArn"].rsplit(":", 1)[0] + f":{name}"}
        events.append(alarm_event(alarm, message_id=f"coldstart-{run}-{call}"))
    return events


def _warm_the_renderer() -> None:
    """One graph before any is measured: the emulator's first loads its plotting library (seconds)."""
    widget = graphs.widget(ALARM)
    aws_setup.setup_client("cloudwatch").get_metric_widget_image(MetricWidget=json.dumps(widget))


def _object_count() -> int:
    listing = aws_setup.setup_client("s3").list_objects_v2(Bucket=aws_setup.BUCKET, Prefix="stats/")
    return listing.get("KeyCount", 0)


def _run(
    target: str,
    event_file: Path,
    env: dict[str, str],
    workdir: Path,
    quota: throttle.Quota | None = None,
    warm_calls: int = 0,
    memory_mb: int = 256,
) -> dict[str, Any]:
    out_file = workdir / "report.json"
    out_file.unlink(missing_ok=True)
    args = [target, str(event_file), str(out_file), str(quota.procs) if quota else "", str(warm_calls), str(memory_mb)]
    child = subprocess.run(  # noqa: S603 (our interpreter, our module)
        [sys.executable, "-m", "benchmarks.coldstart_child", *args],
        cwd=ROOT,
        env={**env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=180,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"cold start of {target} failed:\n{child.stderr[-3000:]}")
    return json.loads(out_file.read_text())


def _plan(runs_memory: dict[str, int], quotas: throttle.Quotas | None, full: bool) -> list[tuple[str, int | None]]:
    """(target, memory to throttle to, or None) for one round: every target unthrottled, then throttled."""
    plan: list[tuple[str, int | None]] = [(target, None) for target in TARGETS]
    if quotas is None:
        return plan
    for target in TARGETS:
        sizes = {runs_memory[target], PRODUCTION_MEMORY_MB}
        if full and target.startswith("project:"):
            sizes |= set(MEMORY_TABLE_SIZES)
        plan += [(target, size) for size in sorted(sizes)]
    return plan


def coldstart_rows(
    emulator: Emulator,
    runs: int,
    expected_build: dict[str, str | None],
    compiler: str,
    full: bool,
    warm_calls: int,
    use_cgroup: bool = True,
) -> dict[str, Any]:
    """Throttled, unthrottled and modelled cold starts of every entry point, and the memory table."""
    memory = configured_memory()
    runs_memory = {target: memory[FUNCTIONS[target.split(":", 1)[1]]] for target in TARGETS}
    # The baseline runs at the memory of the project function it is compared with.
    for project, baseline, _ in PAIRS:
        runs_memory[baseline] = runs_memory[project]
    sizes = {PRODUCTION_MEMORY_MB, *runs_memory.values(), *(MEMORY_TABLE_SIZES if full else ())}
    queue_url = aws_setup.create_queue(f"{aws_setup.QUEUE}-coldstart")
    aws_setup.create_bucket()
    resources.create_alert_state_table(aws_setup.setup_client("dynamodb"), COLDSTART_ALERT_TABLE)
    _warm_the_renderer()
    reports: dict[tuple[str, int | None], list[dict[str, Any]]] = {}
    checks: dict[str, list[bool]] = {target: [] for target in TARGETS}
    requests_ok: dict[str, list[bool]] = {target: [] for target in TARGETS if target in PER_INVOCATION}
    plain_imports: list[dict[str, Any]] = []
    rounds = runs + 1 if runs > 1 else runs
    with (
        throttle.open_quotas(sizes if use_cgroup else ()) as quotas,
        DiscordFake() as webhook,
        tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp,
    ):
        groups = [str(quota.path) for quota in quotas.by_memory.values()] if quotas else []
        workdir = Path(tmp)
        aws_setup.put_webhook_parameter(webhook.url)
        base_env = {
            **{k: v for k, v in os.environ.items() if k != "_HANDLER"},
            "SQS_STATS_QUEUE": queue_url,
            "WEBHOOK_URL": webhook.url,
        }
        envs = {target: {**base_env, "_HANDLER": HANDLERS[target]} for target in TARGETS}
        envs["project:forwarder-ssm"] = {
            **{k: v for k, v in envs["project:forwarder-ssm"].items() if k != "WEBHOOK_URL"},
            "WEBHOOK_URL_PARAMETER": aws_setup.WEBHOOK_PARAMETER,
        }
        for target in ("project:forwarder", "project:forwarder-ssm"):
            envs[target] |= {"ALERT_STATE_TABLE": COLDSTART_ALERT_TABLE, "AWS_REGION": REGION}
        event_files = {}
        for function, event in _events(compiler).items():
            event_files[function] = workdir / f"{function}.json"
            event_files[function].write_text(json.dumps(event))
        plan = _plan(runs_memory, quotas, full)
        forwarder_runs = 0
        for round_number in range(rounds):
            kept = round_number > 0 or rounds == 1
            plain = _run("project:import", workdir / "none", base_env, workdir)
            if kept:
                plain_imports.append(plain)
            for target, size in plan:
                function = target.split(":", 1)[1]
                warm = warm_calls if target.startswith("project:") else 0
                if function.startswith("forwarder"):
                    forwarder_runs += 1
                    event_files[function].write_text(json.dumps(forwarder_events(forwarder_runs, 1 + warm)))
                objects, posts, before = _object_count(), len(webhook.posts), emulator.counts()
                report = _run(
                    target,
                    event_files[function],
                    envs[target],
                    workdir,
                    quotas.by_memory[size] if quotas and size else None,
                    warm,
                    size or runs_memory[target],
                )
                sent = {op: n for op, n in (emulator.counts() - before).items() if n}
                report["aws_requests"] = sent
                if target in requests_ok:
                    requests_ok[target].append(sent == expected_requests(target, 1 + warm))
                checks[target].append(
                    _did_its_work(function, report, objects, posts, webhook, queue_url, expected_build, 1 + warm)
                )
                if kept:
                    reports.setdefault((target, size), []).append(report)
        mechanism = quotas.mechanism if quotas else None
        quota_us = {str(m): q.quota_us for m, q in quotas.by_memory.items()} if quotas else {}
    return {
        "throttle": {
            "mechanism": mechanism,
            "period_us": throttle.PERIOD_US,
            "quota_us": quota_us,
            "groups": groups,
            "groups_left": [group for group in groups if Path(group).exists()],
        },
        "plain_import": {
            "processes": len(plain_imports),
            "import_ms": round(statistics.median(r["init_ms"] for r in plain_imports), 1),
            "modules": sorted({m for r in plain_imports for m in r["modules_after_import"]}),
        },
        "rows": [
            _row(project, baseline, label, reports, runs_memory, checks, requests_ok)
            for project, baseline, label in PAIRS
        ],
        "memory": _memory_rows(reports, sorted(sizes if quotas else {*sizes, *MEMORY_TABLE_SIZES}), mechanism),
    }


def _row(
    project: str,
    baseline: str,
    label: str,
    reports: dict[tuple[str, int | None], list[dict[str, Any]]],
    runs_memory: dict[str, int],
    checks: dict[str, list[bool]],
    requests_ok: dict[str, list[bool]],
) -> dict[str, Any]:
    configured = runs_memory[project]
    row: dict[str, Any] = {
        "function": label,
        "project_target": project,
        "baseline_target": baseline,
        "memory_mb": configured,
        "did_its_work": {"project": all(checks[project]), "baseline": all(checks[baseline])},
        "aws_requests_as_invocations": all(requests_ok.get(project, [True])),
    }
    sides = {"project": project, "baseline": baseline}
    unthrottled = {side: _summary(reports[(target, None)]) for side, target in sides.items()}
    row["unthrottled"] = unthrottled | {"ratio_total": _ratio(unthrottled, "total_ms")}
    row["throttled"], row["modelled"] = {}, {}
    for size in sorted({configured, PRODUCTION_MEMORY_MB}):
        if all((target, size) in reports for target in sides.values()):
            measured = {side: _summary(reports[(target, size)]) for side, target in sides.items()}
            row["throttled"][str(size)] = measured | {"ratio_total": _ratio(measured, "total_ms")}
        modelled = {side: _modelled(reports[(target, None)], size) for side, target in sides.items()}
        row["modelled"][str(size)] = modelled | {"ratio_total": _ratio(modelled, "total_ms")}
    return row


def _ratio(sides: dict[str, dict[str, Any]], key: str) -> float:
    return round(sides["project"][key] / sides["baseline"][key], 3)


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def _summary(reports: list[dict[str, Any]]) -> dict[str, Any]:
    summary = {
        "processes": len(reports),
        **{
            key: _median([report[key] for report in reports])
            for key in ("init_ms", "init_cpu_ms", "first_call_ms", "first_call_cpu_ms", "total_ms")
        },
        "peak_rss_mb": round(statistics.median(report["peak_rss_kb"] for report in reports) / 1024, 1),
        # The union over every process: a module loaded in any one of them counts.
        "modules_after_import": sorted({m for report in reports for m in report["modules_after_import"]}),
        "modules_after_call": sorted({m for report in reports for m in report["modules_after_call"]}),
        # The project's boto3 clients (chalicelib.aws.built()) once its calls are done.
        "clients_after_call": sorted({c for report in reports for c in report.get("clients_after_call", [])}),
        "aws_requests": reports[-1]["aws_requests"],
    }
    warm = [ms for report in reports for ms in report["warm_ms"]]
    if warm:
        summary["warm_ms"] = _median(warm)
    return summary


def _modelled(reports: list[dict[str, Any]], memory_mb: int) -> dict[str, Any]:
    """Medians over the unthrottled processes of what each would have taken at ``memory_mb``."""
    cold, warm = _durations(reports, memory_mb)
    modelled = {
        "init_ms": _median([r["init_ms"] for r in reports]),
        "first_call_ms": _median([total - r["init_ms"] for total, r in zip(cold, reports, strict=True)]),
        "total_ms": _median(cold),
    }
    if warm:
        modelled["warm_ms"] = _median(warm)
    return modelled


def _durations(reports: list[dict[str, Any]], modelled_at: int | None = None) -> tuple[list[float], list[float]]:
    """(cold, warm): every process's init + first call and every warm call, measured or modelled."""
    if modelled_at is None:
        return [r["total_ms"] for r in reports], [ms for r in reports for ms in r["warm_ms"]]
    cold = [r["init_ms"] + modelled_ms(r["first_call_ms"], r["first_call_cpu_ms"], modelled_at) for r in reports]
    warm = [
        modelled_ms(wall, cpu, modelled_at)
        for r in reports
        for wall, cpu in zip(r["warm_ms"], r["warm_cpu_ms"], strict=True)
    ]
    return cold, warm


def _mean_cost(durations: list[float], memory_mb: int) -> float | None:
    # The bill is the sum of every invocation's: a mean, not a median (warm calls under a quota
    # are bimodal, either inside one CFS period or waiting for the next).
    if not durations:
        return None
    return round(statistics.fmean(cost_per_million(ms, memory_mb) for ms in durations), 4)


def _memory_rows(
    reports: dict[tuple[str, int | None], list[dict[str, Any]]], sizes: list[int], mechanism: str | None
) -> list[dict[str, Any]]:
    """Per project case and memory size: cold and warm latency, and dollars per million invocations."""
    rows = []
    for project, _, label in PAIRS:
        unthrottled = reports[(project, None)]
        for size in sizes:
            if (project, size) in reports:
                measured = reports[(project, size)]
                (cold, warm), source, peak = _durations(measured), f"throttled ({mechanism})", measured
            else:
                (cold, warm), source, peak = _durations(unthrottled, size), "modelled", unthrottled
            rows.append(
                {
                    "function": label,
                    "lambda_function": FUNCTIONS[project.split(":", 1)[1]],
                    "target": project,
                    "memory_mb": size,
                    "source": source,
                    "cold_ms": _median(cold),
                    "warm_ms": _median(warm) if warm else None,
                    "peak_rss_mb": round(statistics.median(r["peak_rss_kb"] for r in peak) / 1024, 1),
                    "cold_cost_per_million": _mean_cost(cold, size),
                    "warm_cost_per_million": _mean_cost(warm, size),
                }
            )
    return rows


def _did_its_work(
    function: str,
    report: dict[str, Any],
    objects_before: int,
    posts_before: int,
    webhook: DiscordFake,
    queue_url: str,
    expected_build: dict[str, str | None],
    invocations: int,
) -> bool:
    """Whether every invocation really reached the queue, the table, the bucket or the webhook."""
    results = report["results"]
    if len(results) != invocations:
        return False
    if function == "pageload":
        queued = aws_setup.queue_length(queue_url)
        aws_setup.purge_queue(queue_url)
        return all(r["statusCode"] == 200 for r in results) and queued == invocations * (1 + PAGELOAD_SPONSORS)
    if function == "build":
        for result in results:
            body = json.loads(result["body"])
            answer = {key: (body[key] or {}).get("timestamp") for key in ("last_success", "last_build")}
            if result["statusCode"] != 200 or answer != expected_build:
                return False
        return True
    if function == "archiver":
        return _object_count() == objects_before + invocations
    # The receiver records a post before it answers it, so every post is in by now.
    posts = webhook.posts[posts_before:]
    if len(posts) != invocations:
        return False
    # The project's alarms go out with their graph (the emulator always draws one), as many as the
    # process's storm budget allows (graphs.RenderBudget: 10 a minute), and the rest without one.
    graphed = sum(1 for post in posts if post.files)
    return not report.get("clients_after_call") or graphed == min(len(posts), graphs.RenderBudget().limit)
