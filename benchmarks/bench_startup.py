"""Issue 23's start-up figures for two checkouts side by side, interleaved run by run.

    python benchmarks/bench_startup.py --before /tmp/base [--repeat 5]

``--before`` is another checkout (e.g. ``git archive <commit> | tar -x -C /tmp/base``); this
one is "after", measured with a cache folder set (``JIEFANG_CACHE_DIR``, a temporary folder:
the city kept on disk by the first round) and without (the default). Each
figure is the CPU (user + system) of a child process, as ``python -m benchmarks`` takes it:
``jiefang run guangzhou-2023 -r 1 -q``, the city day's model built the first time in a
process (``benchmarks --child model``) and ``import sim.interface.cli,
sim.planning.optimize`` less an empty interpreter. Medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CITY = "scenarios/guangzhou-2023.yaml"


def _cpu(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd, check=True, cwd=cwd, capture_output=True, text=True,
                         env={**os.environ, **env})  # fmt: skip
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime, out.stdout


def one_round(cwd: Path, env: dict[str, str], imports: bool) -> dict[str, float]:
    """One of each figure for the checkout at ``cwd``."""
    py = sys.executable
    got = {}
    if imports:
        empty = _cpu([py, "-c", "pass"], cwd, env)[0]
        statement = "import sim.interface.cli, sim.planning.optimize"
        got["optimize-import"] = _cpu([py, "-c", statement], cwd, env)[0] - empty
    with tempfile.TemporaryDirectory() as tmp:
        run = [py, "-m", "sim", "run", CITY, "-r", "1", "-q", "--out", f"{tmp}/day"]
        got["run-day"] = _cpu(run, cwd, env)[0]
    child = [py, "-m", "benchmarks", "--child", "model", json.dumps([CITY, {}, 0])]
    got["build"] = json.loads(_cpu(child, cwd, env)[1].strip().splitlines()[-1])["build_cpu_s"]
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="the other checkout")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    off = {"JIEFANG_CACHE_DIR": "off"}
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        on = {"JIEFANG_CACHE_DIR": cache}
        trees = [("before", args.before.resolve(), off, True), ("after", ROOT, off, True),
                 ("after, JIEFANG_CACHE_DIR set", ROOT, on, False)]  # fmt: skip
        rows: dict[str, dict[str, list[float]]] = {name: {} for name, *_ in trees}
        for _ in range(args.repeat):
            for name, cwd, env, imports in trees:
                for key, value in one_round(cwd, env, imports).items():
                    rows[name].setdefault(key, []).append(value)
    for name, figures in rows.items():
        shown = ", ".join(f"{k} {statistics.median(v):.2f} s ({' '.join(f'{x:.2f}' for x in v)})"
                          for k, v in figures.items())  # fmt: skip
        print(f"{name}: {shown}")


if __name__ == "__main__":
    main()
