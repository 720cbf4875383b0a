"""Row 3: each function's cold start, in fresh processes, beside the baseline's.

Each run is a new interpreter (``benchmarks.coldstart_child``) that imports the function's
module and handles one event, against the same emulator as the other rows. The runs of all
targets are interleaved; the first round only warms the disk cache and compiles bytecode, and
is thrown away when there is more than one.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import aws_setup
from devkit.discord_fake import DiscordFake
from devkit.lambda_events import ALARM, alarm_event, build_event, pageload_event, sqs_event_of_bodies

ROOT = Path(__file__).resolve().parent.parent
PAGELOAD_SPONSORS = 3
ARCHIVE_BATCH = 100
# (target, what it is); the baseline's counterpart of each project target is on the same line.
PAIRS = (
    ("project:pageload", "baseline:pageload", f"API: page load, {PAGELOAD_SPONSORS} sponsors"),
    ("project:build", "baseline:build", "API: build lookup"),
    ("project:archiver", "baseline:archiver", f"archiver: batch of {ARCHIVE_BATCH}"),
    ("project:forwarder", "baseline:forwarder", "alert forwarder, WEBHOOK_URL set"),
    ("project:forwarder-ssm", "baseline:forwarder", "alert forwarder, URL read from SSM"),
)
TARGETS = tuple(dict.fromkeys(target for pair in PAIRS for target in pair[:2]))


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


def _object_count() -> int:
    listing = aws_setup.setup_client("s3").list_objects_v2(Bucket=aws_setup.BUCKET, Prefix="stats/")
    return listing.get("KeyCount", 0)


def _run(target: str, event_file: Path, env: dict[str, str], workdir: Path) -> dict[str, Any]:
    out_file = workdir / "report.json"
    out_file.unlink(missing_ok=True)
    started = time.perf_counter()
    child = subprocess.run(  # noqa: S603 (our interpreter, our module)
        [sys.executable, "-m", "benchmarks.coldstart_child", target, str(event_file), str(out_file)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"cold start of {target} failed:\n{child.stderr[-3000:]}")
    report = json.loads(out_file.read_text())
    report["process_ms"] = (time.perf_counter() - started) * 1000
    return report


def coldstart_rows(runs: int, expected_build: dict[str, str | None], compiler: str) -> list[dict[str, Any]]:
    """Median import-plus-first-call and peak memory of ``runs`` fresh processes per target."""
    queue_url = aws_setup.create_queue(f"{aws_setup.QUEUE}-coldstart")
    aws_setup.create_bucket()
    reports: dict[str, list[dict[str, Any]]] = {target: [] for target in TARGETS}
    checks: dict[str, list[bool]] = {target: [] for target in TARGETS}
    rounds = runs + 1 if runs > 1 else runs
    with DiscordFake() as webhook, tempfile.TemporaryDirectory(prefix="bench-coldstart-") as tmp:
        workdir = Path(tmp)
        aws_setup.put_webhook_parameter(webhook.url)
        base_env = {**os.environ, "SQS_STATS_QUEUE": queue_url, "WEBHOOK_URL": webhook.url}
        envs = {target: base_env for target in TARGETS}
        envs["project:forwarder-ssm"] = {
            **{k: v for k, v in base_env.items() if k != "WEBHOOK_URL"},
            "WEBHOOK_URL_PARAMETER": aws_setup.WEBHOOK_PARAMETER,
        }
        event_files = {}
        for function, event in _events(compiler).items():
            event_files[function] = workdir / f"{function}.json"
            event_files[function].write_text(json.dumps(event))
        for round_number in range(rounds):
            for target in TARGETS:
                function = target.split(":", 1)[1]
                objects, posts = _object_count(), len(webhook.posts)
                report = _run(target, event_files[function], envs[target], workdir)
                checks[target].append(
                    _did_its_work(function, report, objects, posts, webhook, queue_url, expected_build)
                )
                if round_number > 0 or rounds == 1:
                    reports[target].append(report)
    rows = []
    for project, baseline, label in PAIRS:
        row = {"function": label, "project_target": project, "baseline_target": baseline}
        for side, target in (("project", project), ("baseline", baseline)):
            row[side] = _summary(reports[target]) | {"did_its_work": all(checks[target])}
        row["ratio_total"] = round(row["project"]["total_ms"] / row["baseline"]["total_ms"], 3)
        rows.append(row)
    return rows


def _did_its_work(
    function: str,
    report: dict[str, Any],
    objects_before: int,
    posts_before: int,
    webhook: DiscordFake,
    queue_url: str,
    expected_build: dict[str, str | None],
) -> bool:
    """Whether the invocation really reached the queue, the table, the bucket or the webhook."""
    result = report["result"]
    if function == "pageload":
        queued = aws_setup.queue_length(queue_url)
        aws_setup.purge_queue(queue_url)
        return result["statusCode"] == 200 and queued == 1 + PAGELOAD_SPONSORS
    if function == "build":
        body = json.loads(result["body"])
        answer = {key: (body[key] or {}).get("timestamp") for key in ("last_success", "last_build")}
        return result["statusCode"] == 200 and answer == expected_build
    if function == "archiver":
        return _object_count() == objects_before + 1
    return len(webhook.posts) == posts_before + 1


def _summary(reports: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        return round(statistics.median(report[key] for report in reports), 1)

    return {
        "processes": len(reports),
        "import_ms": median("import_ms"),
        "first_call_ms": median("first_call_ms"),
        "total_ms": median("total_ms"),
        "process_ms": median("process_ms"),
        "peak_rss_mb": round(statistics.median(report["peak_rss_kb"] for report in reports) / 1024, 1),
        # The union over every process: a module loaded in any one of them counts.
        "modules_after_import": sorted({m for report in reports for m in report["modules_after_import"]}),
        "modules_after_call": sorted({m for report in reports for m in report["modules_after_call"]}),
    }
