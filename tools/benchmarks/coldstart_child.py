"""One cold start, in a fresh interpreter, as Lambda runs it: init at full CPU, then the invocations.

Run by ``tools.benchmarks.coldstart`` as
``python -m tools.benchmarks.coldstart_child TARGET EVENT_FILE OUT_FILE [QUOTA_PROCS] [WARM_CALLS] [MEMORY_MB]``.
Init is the import of the function's module (with ``_HANDLER`` set by the parent, as Lambda sets
it). Then, when QUOTA_PROCS names a cgroup's ``cgroup.procs``, the process moves itself into that
group, whose CPU quota is the function's share, before its first invocation; then come
WARM_CALLS more invocations of the same event. Target ``project:import`` only imports ``app``,
as tests and ``chalice local`` do. EVENT_FILE holds one event, or a list of them for the
invocations in turn. Only the standard library's smallest modules are loaded before the clock
starts, and the events are read first, so the clock covers exactly Lambda's init and invocations.
"""

import json
import os
import sys
import time

WATCHED = ("boto3", "botocore", "requests", "aws_embedded_metrics", "aiohttp")


class Context:
    """What either side reads from Lambda's context object."""

    function_name = "bench-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench-function"

    def __init__(self, memory_limit_in_mb: int) -> None:
        self.memory_limit_in_mb = memory_limit_in_mb

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def loaded() -> list[str]:
    return [name for name in WATCHED if name in sys.modules]


def peak_rss_kb() -> int:
    """This process's peak resident memory (VmHWM).

    Not ``ru_maxrss``: Linux carries it over ``exec`` from the forked parent, so every child
    would report the benchmark's own size.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    target, event_file, out_file = sys.argv[1:4]
    quota_procs = sys.argv[4] if len(sys.argv) > 4 else ""
    warm_calls = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    memory_mb = int(sys.argv[6]) if len(sys.argv) > 6 else 256
    events = None
    if target != "project:import":
        with open(event_file) as source:
            read = json.load(source)
        events = read if isinstance(read, list) else [read]
    side, function = target.split(":", 1)

    start, start_cpu = time.perf_counter(), time.process_time()
    if side == "project":
        import app as module

        entry_points = {"archiver": "archive_stats", "forwarder": "forward_alert", "watch": "watch_builds"}
        handler = getattr(module, entry_points.get(function.removesuffix("-ssm"), "app"))
    elif function == "forwarder":
        from tools.benchmarks.baseline import cloudwatch_to_discord as module

        handler = module.lambda_handler
    else:
        from tools.benchmarks.baseline import stats as module

        handler = module.lambda_handler
    imported, imported_cpu = time.perf_counter(), time.process_time()
    after_import = loaded()
    report = {
        "init_ms": (imported - start) * 1000,
        "init_cpu_ms": (imported_cpu - start_cpu) * 1000,
        "modules_after_import": after_import,
    }
    if events is not None:
        if quota_procs:
            # Lambda's init is over: from here on this process runs at the function's CPU share.
            with open(quota_procs, "w") as procs:
                procs.write(str(os.getpid()))
        context = Context(memory_mb)
        call, call_cpu = time.perf_counter(), time.process_time()
        results = [handler(events[0], context)]
        finished, finished_cpu = time.perf_counter(), time.process_time()
        warm_ms, warm_cpu_ms = [], []
        for number in range(1, 1 + warm_calls):
            warm, warm_cpu = time.perf_counter(), time.process_time()
            results.append(handler(events[number % len(events)], context))
            warm_ms.append((time.perf_counter() - warm) * 1000)
            warm_cpu_ms.append((time.process_time() - warm_cpu) * 1000)
        report |= {
            "first_call_ms": (finished - call) * 1000,
            "first_call_cpu_ms": (finished_cpu - call_cpu) * 1000,
            "total_ms": (imported - start + finished - call) * 1000,
            "warm_ms": warm_ms,
            "warm_cpu_ms": warm_cpu_ms,
            "modules_after_call": loaded(),
            "results": results,
        }
        if side == "project":
            from chalicelib import aws

            report["clients_after_call"] = aws.built()
    report["peak_rss_kb"] = peak_rss_kb()
    with open(out_file, "w") as sink:
        json.dump(report, sink)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: under a 128 MB quota it takes longer than the run it follows,
    # and nothing after the report is measured.
    os._exit(0)
