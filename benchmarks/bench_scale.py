"""Scale benchmark: the whole city for a day and one sub-district for a year.

Each case runs in its own process so that peak memory is that case's alone. Prints wall
time (build = city, responders and incident stream; run = the event loop and the records),
peak resident memory and incidents per second, and optionally writes them as JSON.

    python benchmarks/bench_scale.py [--repeat 3] [--json results/bench/scale.json]

Targets (issue 2): city day <= 20 s and <= 2 GB; sub-district year <= 2 s, on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "city-day": ("scenarios/guangzhou-2023.yaml", {}),
    "subdistrict-year": (
        "scenarios/guangzhou-2023-subdistrict.yaml",
        {"horizon_hours": 8760.0, "warmup_hours": 0.0},
    ),
    # The same sub-district at Baota's reported demand: 89 police calls a week (seed 004).
    "subdistrict-year-89-per-week": (
        "scenarios/guangzhou-2023-subdistrict.yaml",
        {"horizon_hours": 8760.0, "warmup_hours": 0.0, "incidents.rate_per_day": 89 / 7},
    ),
}


def measure(case: str, seed: int) -> dict:
    """Run one case in this process and report its figures."""
    from sim.config import load_scenario
    from sim.model import ResponseModel

    path, changes = CASES[case]
    scenario = (
        load_scenario(ROOT / path).with_changes(changes) if changes else load_scenario(ROOT / path)
    )
    c0 = time.process_time()
    t0 = time.perf_counter()
    model = ResponseModel(scenario, seed=seed)
    t1 = time.perf_counter()
    records = model.run()
    t2 = time.perf_counter()
    cpu = time.process_time() - c0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "case": case,
        "seed": seed,
        "incidents": len(records),
        "build_s": t1 - t0,
        "run_s": t2 - t1,
        "total_s": t2 - t0,
        "cpu_s": cpu,  # less sensitive than wall time to other load on a shared machine
        "peak_rss_mb": peak_kb / 1024,
        "incidents_per_s": len(records) / (t2 - t0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case (default 3)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.seed)))
        return 0
    rows = []
    for case in args.cases:
        for rep in range(args.repeat):
            out = subprocess.run(
                [sys.executable, __file__, "--child", case, "--seed", str(rep)],
                capture_output=True, text=True, check=True, cwd=ROOT,
            )  # fmt: skip
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{case:<28} seed {rep}: {row['incidents']:>6} incidents  "
                f"build {row['build_s']:6.2f} s  run {row['run_s']:6.2f} s  "
                f"total {row['total_s']:6.2f} s (cpu {row['cpu_s']:6.2f} s)  "
                f"peak {row['peak_rss_mb']:7.0f} MB  "
                f"{row['incidents_per_s']:8.0f} incidents/s",
                flush=True,
            )
    machine = {"python": platform.python_version(), "machine": platform.machine(),
               "processor": platform.processor(), "cpus": __import__("os").cpu_count()}  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "runs": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
