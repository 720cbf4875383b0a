"""One cold start, in a fresh interpreter: import a function's module, invoke it once, report.

Run by ``benchmarks.coldstart`` as ``python -m benchmarks.coldstart_child TARGET EVENT_FILE OUT_FILE``.
Only the standard library's smallest modules are loaded before the clock starts; the event is
read first, so the clock covers exactly what Lambda's init and first invocation would.
"""

import json
import sys
import time

WATCHED = ("boto3", "botocore", "requests", "aws_embedded_metrics", "aiohttp")


class Context:
    """What either side reads from Lambda's context object."""

    function_name = "bench-function"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench-function"

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
    with open(event_file) as source:
        event = json.load(source)
    side, function = target.split(":", 1)

    start = time.perf_counter()
    if side == "project":
        import app as module

        handler = {"archiver": module.archive_stats, "forwarder": module.forward_alert}.get(
            function.removesuffix("-ssm"), module.app
        )
    elif function == "forwarder":
        from benchmarks.baseline import cloudwatch_to_discord as module

        handler = module.lambda_handler
    else:
        from benchmarks.baseline import stats as module

        handler = module.lambda_handler
    imported = time.perf_counter()
    after_import = loaded()
    result = handler(event, Context())
    finished = time.perf_counter()

    report = {
        "import_ms": (imported - start) * 1000,
        "first_call_ms": (finished - imported) * 1000,
        "total_ms": (finished - start) * 1000,
        "peak_rss_kb": peak_rss_kb(),
        "modules_after_import": after_import,
        "modules_after_call": loaded(),
        "result": result,
    }
    with open(out_file, "w") as sink:
        json.dump(report, sink)


if __name__ == "__main__":
    main()
