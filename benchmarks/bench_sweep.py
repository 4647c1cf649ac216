"""Sweep throughput: the example sweep (12 points x 5 replications) by executor and workers.

    python benchmarks/bench_sweep.py [--workers 1 2 4 8 16] [--dask] [--json PATH]

Each configuration runs the whole sweep into a fresh folder and reports runs per second and
parallel efficiency (speed-up over one worker divided by the worker count).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "scenarios" / "sweeps" / "subdistrict-staffing.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--dask", action="store_true", help="also time a Dask LocalCluster")
    parser.add_argument("--sweep", type=Path, default=SWEEP)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--horizon-hours", type=float, default=None,
        help="override each run's horizon (longer runs amortise worker start-up)",
    )  # fmt: skip
    args = parser.parse_args()

    from sim.batch import run_sweep
    from sim.sweep import load_sweep

    sweep = load_sweep(args.sweep)
    if args.horizon_hours is not None:
        sweep = _with_horizon(sweep, args.horizon_hours)
    runs = len(sweep.points) * sweep.spec.replications
    configs = [("processes" if w > 1 else "sequential", w, None) for w in args.workers]
    if args.dask:
        configs += [("dask-local", w, "local") for w in args.workers]
    rows, base = [], {}
    for name, workers, scheduler in configs:
        out = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
        started = time.perf_counter()
        run_sweep(sweep, out, workers=workers, scheduler=scheduler)
        wall = time.perf_counter() - started
        shutil.rmtree(out, ignore_errors=True)
        rate = runs / wall
        family = "dask" if scheduler else "local"
        if workers == 1:
            base[family] = rate
        eff = rate / (base.get(family, rate) * workers) if family in base else float("nan")
        rows.append({"executor": name, "workers": workers, "runs": runs, "wall_s": wall,
                     "runs_per_s": rate, "parallel_efficiency": eff})  # fmt: skip
        print(f"{name:<11} workers {workers:>2}: {runs} runs in {wall:6.2f} s = "
              f"{rate:6.2f} runs/s, efficiency {eff:5.2f}", flush=True)  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2))
    return 0


def _with_horizon(sweep, hours: float):
    """The same sweep with every point's horizon replaced."""
    from dataclasses import replace

    points = tuple(
        replace(p, scenario=p.scenario.with_changes({"horizon_hours": hours})) for p in sweep.points
    )
    return replace(sweep, points=points)


if __name__ == "__main__":
    sys.exit(main())
