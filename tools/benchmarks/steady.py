"""Rows 1 and 2: page loads and build lookups on warm functions, this project beside the baseline.

Both sides are called the way Lambda calls them, with the same API Gateway event: this project
through ``app.app`` (Chalice's routing, the real handler), the baseline through its
``lambda_handler``. Three variants are timed in alternating blocks:

- ``project``: this project, its process-wide clients warm;
- ``baseline``: the seed's strategy with clients made once and reused, as its handlers allowed,
  so that the comparison is about the requests and not about client reuse (the fair ratio);
- ``seed``: the seed as it ran, a new SQS and DynamoDB client on every invocation.
"""

import functools
import json
import os
from collections.abc import Callable
from typing import Any

from tools.benchmarks import aws_setup
from tools.benchmarks.timing import interleaved, quiet_stdout, ratio
from tools.devkit.lambda_events import LambdaContext, build_event, pageload_event
from tools.devkit.moto import MotoProcess as Emulator

SPONSOR_CASES = (0, 3, 9)
HISTORY_CASES = (("newest-ok", 0), ("ok-5-back", 5), ("ok-150-back", 150))
CONTEXT = LambdaContext(function_name="compiler-explorer-stats-dev")


def _variants(event: dict[str, Any]) -> dict[str, Callable[[], Any]]:
    import boto3

    import app as stats_app
    from tools.benchmarks.baseline import stats as baseline

    sqs, dynamodb = boto3.client("sqs"), boto3.client("dynamodb")
    return {
        "project": lambda: stats_app.app(event, CONTEXT),
        "baseline": lambda: baseline.lambda_handler(event, CONTEXT, sqs_client=sqs, dynamo_client=dynamodb),
        "seed": lambda: baseline.lambda_handler(event, CONTEXT),
    }


def _warm_up(variants: dict[str, Callable[[], Any]], times: int) -> None:
    with quiet_stdout():
        for _ in range(times):
            for call in variants.values():
                call()


def pageload_rows(emulator: Emulator, calls: int, warm_up: int) -> list[dict[str, Any]]:
    """Each sponsor count: requests per page load, latency, and every message on the queue."""
    rows = []
    queues = {name: aws_setup.create_queue(f"{aws_setup.QUEUE}-{name}") for name in ("project", "baseline", "seed")}
    os.environ["SQS_STATS_QUEUE"] = queues["project"]
    _warm_up(_variants(pageload_event(3)), warm_up)
    for url in queues.values():
        aws_setup.purge_queue(url)
    for sponsors in SPONSOR_CASES:
        variants = _variants(pageload_event(sponsors))
        queued = dict.fromkeys(variants, 0)

        def use_queue(name: str) -> None:
            os.environ["SQS_STATS_QUEUE"] = queues[name]

        def count_and_empty(name: str, queued: dict[str, int] = queued) -> None:
            # moto's SendMessage slows down as its queue grows (it scans every message), which real
            # SQS does not: each call starts on an empty queue, and what it queued is counted.
            queued[name] += aws_setup.queue_length(queues[name])
            aws_setup.purge_queue(queues[name])

        samples = interleaved(emulator, variants, calls, before_block=use_queue, after_call=count_and_empty)
        row: dict[str, Any] = {"sponsors": sponsors}
        for name, sample in samples.items():
            row[name] = {
                **sample.summary(),
                "all_200": all(result["statusCode"] == 200 for result in sample.results),
                "messages_queued": queued[name],
                "messages_expected": sample.calls * (1 + sponsors),
            }
        row["ratio_median"] = ratio(row["project"]["median_ms"], row["baseline"]["median_ms"])
        row["ratio_median_vs_seed"] = ratio(row["project"]["median_ms"], row["seed"]["median_ms"])
        rows.append(row)
    return rows


def _answer(result: dict[str, Any]) -> dict[str, str | None]:
    body = json.loads(result["body"])
    return {key: (body[key] or {}).get("timestamp") for key in ("last_success", "last_build")}


class CapacityRecorder:
    """Asks each Query for its consumed capacity and notes what it read (botocore's event hooks)."""

    def __init__(self) -> None:
        self.queries: list[dict[str, Any]] = []

    def attach(self, client: Any) -> None:
        client.meta.events.register("provide-client-params.dynamodb.Query", self._ask, unique_id="bench-ask")
        client.meta.events.register("after-call.dynamodb.Query", self._note, unique_id="bench-note")

    def detach(self, client: Any) -> None:
        client.meta.events.unregister("provide-client-params.dynamodb.Query", unique_id="bench-ask")
        client.meta.events.unregister("after-call.dynamodb.Query", unique_id="bench-note")

    def _ask(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        params["ReturnConsumedCapacity"] = "TOTAL"
        context["bench_start_key"] = params.get("ExclusiveStartKey")

    def _note(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        self.queries.append(
            {
                "start_key": context.get("bench_start_key"),
                "scanned": parsed.get("ScannedCount", 0),
                "reported_units": (parsed.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0),
            }
        )


def _capacity(call: Callable[[], Any], client: Any, history: aws_setup.History) -> dict[str, Any]:
    recorder = CapacityRecorder()
    recorder.attach(client)
    try:
        with quiet_stdout():
            call()
    finally:
        recorder.detach(client)
    modelled = sum(
        aws_setup.modelled_read_units(history.items_after(q["start_key"], q["scanned"])) for q in recorder.queries
    )
    return {
        "queries": len(recorder.queries),
        "items_read": sum(q["scanned"] for q in recorder.queries),
        "reported_capacity_units": sum(q["reported_units"] for q in recorder.queries),
        "modelled_rcu": modelled,
    }


def build_rows(emulator: Emulator, calls: int, warm_up: int) -> list[dict[str, Any]]:
    """Each history: requests per lookup, capacity, latency, and whether the answer is right."""
    import boto3

    from chalicelib import aws
    from tools.benchmarks.baseline import stats as baseline

    aws_setup.create_table()
    histories = [aws_setup.make_history(name, back) for name, back in HISTORY_CASES]
    for history in histories:
        aws_setup.write_history(history)
    _warm_up(_variants(build_event(histories[0].compiler)), warm_up)

    rows = []
    for history in histories:
        event = build_event(history.compiler)
        variants = _variants(event)
        samples = interleaved(emulator, variants, calls)
        row: dict[str, Any] = {"history": history.compiler, "failures_since_last_ok": history.failures_since_ok}
        row["expected"] = history.expected
        for name, sample in samples.items():
            answers = [_answer(result) for result in sample.results if result["statusCode"] == 200]
            row[name] = {
                **sample.summary(),
                "correct": len(answers) == sample.calls and all(a == history.expected for a in answers),
                "answer": answers[0] if answers else None,
            }
        project_client = aws.client("dynamodb")
        baseline_client = boto3.client("dynamodb")
        row["project"]["capacity"] = _capacity(variants["project"], project_client, history)
        row["baseline"]["capacity"] = _capacity(
            functools.partial(baseline.lambda_handler, event, CONTEXT, dynamo_client=baseline_client),
            baseline_client,
            history,
        )
        row["ratio_median"] = ratio(row["project"]["median_ms"], row["baseline"]["median_ms"])
        row["ratio_median_vs_seed"] = ratio(row["project"]["median_ms"], row["seed"]["median_ms"])
        rows.append(row)
    return rows
