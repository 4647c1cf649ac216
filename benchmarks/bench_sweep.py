"""Sweep throughput: the example sweep (12 points x 5 replications) by executor and workers.

    python benchmarks/bench_sweep.py [--workers 1 2 4 8 16] [--dask] [--json PATH]
    python benchmarks/bench_sweep.py --profile [--top 25]

Each configuration runs the whole sweep into a fresh folder and reports runs per second,
parallel efficiency (speed-up over one worker divided by the worker count) and CPU time:
the driver's own (``time.process_time`` of this process: storing each run, its metrics and
the sweep tables; with one worker it runs the models too) and the workers' (CPU of child
processes, imports included). It also measures a worker's start-up (CPU of a fresh
interpreter importing what a worker imports) and ends with the issue-13 targets and their
ratios: driver CPU per run <= 3 ms (with worker processes), 2-worker efficiency >= 0.85.
The example sweep's runs are one simulated week each, the length the target names.

``--profile`` times the driver's parts (metrics, store, sweep tables) one by one instead.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SWEEP = ROOT / "scenarios" / "sweeps" / "subdistrict-staffing.yaml"
TARGET_DRIVER_S = 0.003  # issue 13: driver CPU per run
TARGET_EFFICIENCY = 0.85  # issue 13: 2 workers, one-week runs


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def worker_startup_cpu(repeat: int = 3) -> float:
    """CPU of a fresh interpreter importing what a spawned worker imports (sim.experiment.executors:
    the model, numpy, scipy, pandas, Mesa), median of ``repeat``."""
    values = []
    for _ in range(repeat):
        before = _children_cpu()
        subprocess.run(
            [sys.executable, "-c", "import sim.experiment.executors"], check=True, cwd=ROOT
        )
        values.append(_children_cpu() - before)
    return sorted(values)[len(values) // 2]


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
    parser.add_argument("--profile", action="store_true", help="time the driver's parts instead")
    args = parser.parse_args()

    from sim.experiment.batch import run_sweep
    from sim.experiment.sweep import load_sweep

    sweep = load_sweep(args.sweep)
    if args.horizon_hours is not None:
        sweep = _with_horizon(sweep, args.horizon_hours)
    runs = len(sweep.points) * sweep.spec.replications
    if args.profile:
        return profile(sweep)
    configs = [("processes" if w > 1 else "sequential", w, None) for w in args.workers]
    if args.dask:
        configs += [("dask-local", w, "local") for w in args.workers]
    rows, base = [], {}
    for name, workers, scheduler in configs:
        out = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
        cpu0, kids0 = time.process_time(), _children_cpu()
        started = time.perf_counter()
        run_sweep(sweep, out, workers=workers, scheduler=scheduler)
        wall = time.perf_counter() - started
        driver_cpu, workers_cpu = time.process_time() - cpu0, _children_cpu() - kids0
        shutil.rmtree(out, ignore_errors=True)
        rate = runs / wall
        family = "dask" if scheduler else "local"
        if workers == 1:
            base[family] = rate
        eff = rate / (base.get(family, rate) * workers) if family in base else float("nan")
        rows.append({"executor": name, "workers": workers, "runs": runs, "wall_s": wall,
                     "runs_per_s": rate, "parallel_efficiency": eff,
                     "driver_cpu_s": driver_cpu, "workers_cpu_s": workers_cpu})  # fmt: skip
        print(f"{name:<11} workers {workers:>2}: {runs} runs in {wall:6.2f} s = "
              f"{rate:6.2f} runs/s, efficiency {eff:5.2f}; CPU per run: driver "
              f"{driver_cpu / runs * 1e3:6.1f} ms, workers {workers_cpu / runs * 1e3:6.1f} ms",
              flush=True)  # fmt: skip
    startup = worker_startup_cpu()
    print(f"worker start-up (imports of a spawned worker): {startup:.2f} s CPU")
    print("\nissue 13 targets (ratio = figure / target; efficiency: target / figure)")
    for row in rows:
        if row["executor"] == "processes":
            per_run = row["driver_cpu_s"] / row["runs"]
            ratio = per_run / TARGET_DRIVER_S
            print(f"  driver CPU per run, {row['workers']} workers: {per_run * 1e3:6.1f} ms  "
                  f"target <= {TARGET_DRIVER_S * 1e3:g} ms  ratio {ratio:5.2f}  "
                  f"{'met' if ratio <= 1 else 'NOT MET'}")  # fmt: skip
        if row["executor"] == "processes" and row["workers"] == 2:
            eff = row["parallel_efficiency"]
            ratio = TARGET_EFFICIENCY / eff
            print(f"  2-worker efficiency: {eff:5.2f}  target >= {TARGET_EFFICIENCY}  "
                  f"ratio {ratio:5.2f}  {'met' if ratio <= 1 else 'NOT MET'}")  # fmt: skip
            seq = [r for r in rows if r["executor"] == "sequential"]
            if seq:
                # CPU-bound ceiling, immune to other load on the host: the wall time of w
                # workers is at least max(driver CPU, workers' CPU / w, all CPU / cores).
                cores, w = os.cpu_count() or 1, row["workers"]
                drv, wrk = row["driver_cpu_s"], row["workers_cpu_s"]
                floor = max(drv, wrk / w, (drv + wrk) / cores)
                ceiling = (seq[0]["driver_cpu_s"] + seq[0]["workers_cpu_s"]) / (w * floor)
                print(f"  2-worker efficiency, CPU-bound ceiling on {cores} cores: "
                      f"{ceiling:5.2f} (from the CPU per run above)")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows,
                                         "worker_startup_cpu_s": startup}, indent=2))  # fmt: skip
    return 0


def profile(sweep) -> int:
    """Where the driver's CPU goes, part by part, on one real run's incidents (each part
    timed alone on ``time.process_time``, repeated over the sweep's run count): the run's
    metrics (``run_metrics``), storing it (``SweepStore.save``: two fsynced Parquet files),
    and the sweep tables rebuilt at the end. cProfile is no use here: the driver's time is
    spent between generator resumptions and in a pool manager thread."""
    from sim.experiment.batch import _record, sweep_tables
    from sim.experiment.executors import run_task
    from sim.experiment.store import SweepStore

    tasks = sweep.tasks()
    result = run_task(tasks[0])
    out = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    store = SweepStore(out)
    parts = {"metrics (run_metrics)": 0.0, "store (save, fsynced)": 0.0}
    for task in tasks:
        incidents = result.incidents.copy()
        c0 = time.process_time()
        record = _record(task, result)
        c1 = time.process_time()
        incidents.insert(0, "point_id", task.point_id)
        store.save(task.key, record | {"key": task.key}, incidents)
        c2 = time.process_time()
        parts["metrics (run_metrics)"] += c1 - c0
        parts["store (save, fsynced)"] += c2 - c1
    c0 = time.process_time()
    sweep_tables(sweep, store)
    parts["sweep tables (once, at the end)"] = time.process_time() - c0
    shutil.rmtree(out, ignore_errors=True)
    total = sum(parts.values())
    n = len(tasks)
    print(f"driver CPU by part over {n} runs ({len(result.incidents)} incidents per run):")
    for what, cpu in parts.items():
        print(f"  {what:<32} {cpu / n * 1e3:7.1f} ms per run  {cpu / total:6.1%}")
    print(f"  {'total':<32} {total / n * 1e3:7.1f} ms per run")
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
