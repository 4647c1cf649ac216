"""Soak: the whole city over a long horizon, resident memory sampled every simulated 6 hours.

    python benchmarks/soak.py [--days 7] [--json results/bench/soak.json]

Memory should be flat after warm-up apart from the records themselves (one incident record
and a few assignment tuples per incident, which the run must keep to report them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def soak(days: float, scenario_path: Path = ROOT / "scenarios" / "guangzhou-2023.yaml"):
    from sim.geo.scenario import load_scenario
    from sim.model.response import ResponseModel

    sc = load_scenario(scenario_path).with_changes({"horizon_hours": days * 24.0})
    started = time.perf_counter()
    model = ResponseModel(sc, seed=0)
    samples = [(0.0, rss_mb(), 0, 0)]
    while not model.finished:
        model.advance_to(model.time + 6 * 3600.0)
        happened = model.live_counts()["incidents"]
        samples.append((model.time / 86400, rss_mb(), happened, len(model.assignments)))
    return {"days": days, "incidents": len(model.incidents), "wall_s": time.perf_counter()
            - started, "samples": samples}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = soak(args.days)
    for day, mb, incidents, assignments in result["samples"]:
        print(f"day {day:5.2f}: {mb:7.1f} MB resident, {incidents:>7} incidents, "
              f"{assignments:>8} assignments")  # fmt: skip
    print(f"{result['incidents']} incidents in {result['wall_s']:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
