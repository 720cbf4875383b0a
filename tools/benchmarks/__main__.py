"""`python -m tools.benchmarks [--quick] [--output FILE]`: every row, one table, and results.json.

Full mode is `make bench` (a few minutes on 2 cores); ``--quick`` (`make bench BENCH_ARGS=--quick`)
runs a few iterations of each row, for checking the structural targets in under two minutes. Either
exits 1 when a structural target (``report.targets``) is missed.
"""

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from tools.benchmarks import aws_setup, report
from tools.devkit.moto import MotoProcess

RESULTS = Path(__file__).resolve().parent / "results.json"
# (steady calls per variant per case: page load, build lookup; warm-up calls; cold-start
# processes per target and memory size, and the warm calls each project one makes after its
# first; throughput clients and page loads per client; the whole scripted month of alerts, or a
# few of each kind; the build watch's year of 99 entries, or 26 days of 12)
FULL = {
    "pageload_calls": 200,
    "build_calls": 100,
    "warm_up": 20,
    "cold_runs": 7,
    "cold_warm_calls": 10,
    "clients": 4,
    "per_client": 50,
    "alert_month": 1,
    "watch_year": 1,
}
QUICK = {
    "pageload_calls": 5,
    "build_calls": 5,
    "warm_up": 2,
    "cold_runs": 1,
    "cold_warm_calls": 2,
    "clients": 2,
    "per_client": 3,
    "alert_month": 0,
    "watch_year": 0,
}


def machine() -> dict[str, Any]:
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "moto": metadata.version("moto"),
        "boto3": metadata.version("boto3"),
        "chalice": metadata.version("chalice"),
    }


def run(
    settings: dict[str, int],
    package: bool,
    throughput: bool,
    full: bool,
    cgroup: bool = True,
    built_zip: Path | None = None,
) -> dict[str, Any]:
    results: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine()}
    started = time.perf_counter()
    # The benchmark empties its queues after every call; real SQS allows a purge a minute.
    environment = {**os.environ, "MOTO_SQS_ENFORCE_STRICT_QUEUE_PURGE_BEHAVIOUR": "false"}
    with MotoProcess(count=True, env=environment) as emulator:
        aws_setup.set_environment(emulator.endpoint)
        # Imported only now: aws-embedded-metrics reads AWS_EMF_ENVIRONMENT when first imported.
        from tools.benchmarks import coldstart, steady

        print("row 1: page loads ...", file=sys.stderr, flush=True)
        results["pageload"] = steady.pageload_rows(emulator, settings["pageload_calls"], settings["warm_up"])
        print("row 2: build lookups ...", file=sys.stderr, flush=True)
        results["build"] = steady.build_rows(emulator, settings["build_calls"], settings["warm_up"])
        print("row 3: cold starts, throttled as on Lambda ...", file=sys.stderr, flush=True)
        first = results["build"][0]
        results["coldstart"] = coldstart.coldstart_rows(
            emulator,
            settings["cold_runs"],
            first["expected"],
            first["history"],
            full,
            settings["cold_warm_calls"],
            use_cgroup=cgroup,
        )
        from tools.benchmarks.noise import noise_row

        print("row 6: alert noise, a scripted month ...", file=sys.stderr, flush=True)
        results["noise"] = noise_row(emulator, quick=not settings["alert_month"])
        from tools.benchmarks.build_watch import build_watch_row

        print("row 7: build watch, a year of nightly builds ...", file=sys.stderr, flush=True)
        results["build_watch"] = build_watch_row(
            emulator, quick=not settings["watch_year"], cold_runs=settings["cold_runs"], use_cgroup=cgroup
        )
    if package:
        from tools.benchmarks.package import package_row

        print("row 4: chalice package ...", file=sys.stderr, flush=True)
        results["package"] = package_row(built_zip=built_zip)
    if throughput:
        from tools.benchmarks.throughput import throughput_row

        print("row 5: local stack throughput ...", file=sys.stderr, flush=True)
        results["throughput"] = throughput_row(settings["clients"], settings["per_client"])
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few iterations of each row (structure only)")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--no-package", action="store_true", help="skip row 4 (chalice package)")
    parser.add_argument("--zip", type=Path, help="row 4 takes this deployment.zip apart instead of packaging one")
    parser.add_argument("--no-throughput", action="store_true", help="skip row 5 (the local stack)")
    parser.add_argument(
        "--no-cgroup",
        action="store_true",
        help="row 3 without CPU quotas: modelled figures only, as where none can be made",
    )
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else FULL
    results = run(
        settings,
        package=not args.no_package,
        throughput=not args.no_throughput,
        full=not args.quick,
        cgroup=not args.no_cgroup,
        built_zip=args.zip,
    )
    results["mode"] = "quick" if args.quick else "full"
    results["settings"] = settings
    found = report.targets(results)
    results["targets"] = report.as_json(found)
    results["table"] = report.table(results)
    results["memory_table"] = report.memory_table(results)
    args.output.write_text(json.dumps(results, indent=2) + "\n")

    info = results["machine"]
    print(
        f"\n{info['nproc']} × {info['cpu_model']}, Python {info['python']}, moto {info['moto']}; "
        f"{results['mode']} run, {results['seconds']} s\n"
    )
    print(results["table"])
    throttle = results["coldstart"]["throttle"]
    how = (
        f"throttled with {throttle['mechanism']}, {throttle['period_us'] // 1000} ms period"
        if throttle["mechanism"]
        else "modelled: no cgroup"
    )
    print(f"\nCold start and cost by memory size ({how}; x86 on-demand prices, init billed):")
    print(results["memory_table"])
    print("\nTargets:\n" + report.target_lines(found))
    print(f"\nwritten to {args.output}")
    missed = [t.name for t in found if t.kind == "structural" and not t.met]
    if missed:
        print(f"\n{len(missed)} structural target(s) missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
