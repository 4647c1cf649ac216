"""Two checkouts side by side: model CPU of the same cases, runs interleaved (issue 13).

    python benchmarks/bench_ab.py BASE_CHECKOUT [--repeat 3] [--cases city-day ...]

On a shared machine absolute times drift with other load, so a change is measured against
the code before it in the same session: each case runs in a fresh process per checkout
and seed, alternating which checkout goes first, and the ratio of the medians is printed.
``BASE_CHECKOUT`` is any directory holding the project at another commit, e.g.
``git worktree add /tmp/base 6539457`` or ``git archive 6539457 | tar -x -C /tmp/base``.

Cases: ``city-day`` and ``subdistrict-year`` (benchmarks/bench_scale.py: build + event loop
+ records), ``mmc-0.8`` and ``mmc-1.1`` (benchmarks/bench_peers.py's M/M/10 with
``--calls`` calls; the same model CPU), ``simpy-0.8`` and ``simpy-1.1`` (SimPy on that
queue, run in both checkouts alike: a control for the host's drift).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CASES = ["city-day", "subdistrict-year", "mmc-0.8", "mmc-1.1", "simpy-0.8"]

# Runs in the checkout under test (its own sim and benchmarks): prints one JSON line.
CHILD = """
import json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/benchmarks"]
case, seed, calls = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if case.startswith("simpy"):
    import bench_peers
    n, cpu, _ = bench_peers.run_simpy(bench_peers.Queue(10, float(case[6:]), calls), seed)
    print(json.dumps({"n": n, "cpu": cpu}))
    raise SystemExit
from sim.model.response import ResponseModel
if case.startswith("mmc"):
    import bench_peers
    sc = bench_peers.mmc_scenario(bench_peers.Queue(10, float(case[4:]), calls))
else:
    import bench_scale
    sc = bench_scale._scenario(case)
c0 = time.process_time()
model = ResponseModel(sc, seed=seed)
c1 = time.process_time()
model.advance_to(model.end_s)
c2 = time.process_time()
n = len(model.records())
c3 = time.process_time()
print(json.dumps({"n": n, "cpu": c3 - c0, "build": c1 - c0, "loop": c2 - c1,
                  "records": c3 - c2}))
"""


def run(checkout: Path, case: str, seed: int, calls: int) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(checkout), case, str(seed), str(calls)],
        capture_output=True, text=True, check=True, cwd=checkout,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="the other checkout (the 'before')")
    parser.add_argument("--repeat", type=int, default=3, help="seeds per case (default 3)")
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES)
    parser.add_argument("--calls", type=int, default=100_000, help="M/M/10 calls per run")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    sides = {"before": args.base.resolve(), "after": ROOT}
    results: dict[str, dict[str, list[dict]]] = {}
    for case in args.cases:
        rows: dict[str, list[dict]] = {"before": [], "after": []}
        for seed in range(args.repeat):
            for side in ["before", "after"] if seed % 2 == 0 else ["after", "before"]:
                rows[side].append(run(sides[side], case, seed, args.calls))
        results[case] = rows
        med = {s: statistics.median(r["cpu"] for r in rows[s]) for s in rows}
        parts = ""
        if "loop" in rows["after"][0]:
            parts = "  " + "  ".join(
                f"{s}: build {statistics.median(r['build'] for r in rows[s]):.2f} + loop "
                f"{statistics.median(r['loop'] for r in rows[s]):.2f} + records "
                f"{statistics.median(r['records'] for r in rows[s]):.2f}"
                for s in rows
            )
        print(f"{case:<18} {rows['after'][0]['n']:>7} calls/incidents  CPU before "
              f"{med['before']:7.3f} s  after {med['after']:7.3f} s  after/before "
              f"{med['after'] / med['before']:5.3f}{parts}", flush=True)  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
