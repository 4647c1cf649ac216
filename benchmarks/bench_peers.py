"""jiefang against its peers on their own ground: the police-only M/M/c queue (issue 13).

    python benchmarks/bench_peers.py [--calls 100000] [--repeat 3] [--json PATH]
    python benchmarks/bench_peers.py --profile [--rho 0.8 1.1] [--top 25]

The same queue (c = 10 units, exponential service of mean 600 s, Poisson calls at offered
load rho = 0.8 and 1.1, 100,000 calls) is simulated in one process by

* jiefang: a police-only scenario through the public API (:class:`sim.model.config.Scenario`,
  :class:`sim.model.response.ResponseModel`), built as ``tests/validation/cases.py`` builds its
  Erlang C case: every call and the station in one 10 m cell, instant call handling and
  driving, exponential on-scene times. Timed: model build + event loop + records. The run
  takes the compiled police loop (sim/model/police_kernel.py, numba, the ``fast`` extra);
  ``jiefang-py`` is the same run in the Python loop the compiled one is tested against.
  What the compiled loop costs a process before its first call (numba's compilation into
  an empty cache, or loading it from the cache) is measured first in child processes and
  printed apart; this process warms up once before the timed runs.
* SimPy (idiomatic: a ``Resource`` of c servers and one process per call),
* Ciw (``ciw.Simulation`` of one M/M/c node, records included),
* a plain ``heapq`` loop (the floor: what an event loop in Python costs at the least),

in interleaved repeats (the order rotates each repeat) so that the host's drift hits all
alike. Each run is checked against theory before its time counts:

* rho < 1: P(wait) = Erlang C(c, a) and E[wait] = C / (c mu - lambda), with batch means
  (20 contiguous batches of the post-warm-up calls, ALPHA = 0.001, as in
  ``tests/validation/cases.py``);
* rho >= 1: once the queue has built up every server is always busy, so service starts in a
  window of length L are Poisson with mean c mu L (normal interval at ALPHA), and every
  post-warm-up call waits.

``--profile`` runs jiefang's queue alone under cProfile (CPU clock) instead and prints
where the time goes, then again with the main parts (nearest-unit search, ``_serve_queue``,
records) timed directly, without cProfile's overhead.

Prints calls per CPU-second (``time.process_time``; medians over repeats), jiefang / SimPy
(target >= 1) and the cost per call at rho = 1.1 over that at rho = 0.8 (target <= 1.3),
then (unless ``--skip-model``) the model-CPU targets of the same issue measured by
``bench_scale.py`` in child processes: city day <= 1.5 s, sub-district year <= 0.6 s; each
target with its ratio to the target.
Needs the ``bench`` extra: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import platform
import random
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
# Measure the checkout this file is in, not whichever `sim` the environment installed.
sys.path.insert(0, str(ROOT))
ALPHA = 0.001
BATCHES = 20
UNITS = 10
MEAN_SERVICE_S = 600.0
WARMUP_S = 48 * 3600.0  # as tests/validation/cases.py
TAIL_S = 2 * 3600.0  # checks ignore calls of the last 2 h (some still waiting at the end)
TARGET_VS_SIMPY = 1.0  # issue 13: jiefang calls/CPU-s at least SimPy's
TARGET_OVERLOAD = 1.3  # issue 13: cost per call at rho 1.1 within 1.3x of rho 0.8
#: Issue 13's model-CPU targets, run by benchmarks/bench_scale.py (a child process each):
#: case -> (what, target s).
MODEL_TARGETS = {
    "city-day": ("city day, model CPU (build + loop + records)", 1.5),
    "subdistrict-year": ("sub-district year, model CPU", 0.6),
}


@dataclass(frozen=True)
class Queue:
    """An M/M/c: ``calls`` expected arrivals at offered load ``rho``."""

    units: int
    rho: float
    calls: int

    @property
    def mu(self) -> float:
        return 1 / MEAN_SERVICE_S

    @property
    def lam(self) -> float:
        return self.rho * self.units * self.mu

    @property
    def horizon_s(self) -> float:
        return self.calls / self.lam


@dataclass(frozen=True)
class Outcome:
    """What a simulator hands back: per call (arrival order) arrival and service start
    (NaN: not started by the horizon)."""

    arrival_s: np.ndarray
    start_s: np.ndarray


@dataclass(frozen=True)
class Check:
    formula: str
    expected: float
    simulated: float
    half_width: float

    @property
    def passed(self) -> bool:
        if self.half_width == 0:
            return self.simulated == self.expected
        return abs(self.simulated - self.expected) <= self.half_width


# ------------------------------------------------------------------ theory
def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load a = lambda / mu < c."""
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (head + tail)


def batch_interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and batch-means half-width at level 1 - ALPHA."""
    batches = np.array([b.mean() for b in np.array_split(values, BATCHES)])
    half = stats.t.ppf(1 - ALPHA / 2, BATCHES - 1) * batches.std(ddof=1) / math.sqrt(BATCHES)
    return float(values.mean()), float(half)


def checks(q: Queue, out: Outcome) -> list[Check]:
    """The run against theory (see the module docstring)."""
    end = q.horizon_s - TAIL_S
    keep = (out.arrival_s >= WARMUP_S) & (out.arrival_s < end)
    order = np.argsort(out.arrival_s[keep], kind="stable")
    wait = (out.start_s[keep] - out.arrival_s[keep])[order]
    if q.rho < 1:
        if np.isnan(wait).any():
            raise AssertionError("a call of the checked window was never served")
        c = erlang_c(q.units, q.lam / q.mu)
        return [
            Check("P(wait) = Erlang C", c, *batch_interval((wait > 0).astype(float))),
            Check("E[wait] = C / (c mu - lambda), s", c / (q.units * q.mu - q.lam),
                  *batch_interval(wait)),
        ]  # fmt: skip
    started = out.start_s[(out.start_s >= WARMUP_S) & (out.start_s < end)]
    mean = q.units * q.mu * (end - WARMUP_S)
    return [
        Check("service starts = c mu L (servers never idle)", mean, float(started.size),
              stats.norm.ppf(1 - ALPHA / 2) * math.sqrt(mean)),
        # Calls not served by the horizon (NaN) waited too.
        Check("P(wait) = 1", 1.0, float(np.mean(np.nan_to_num(wait, nan=np.inf) > 0)), 0.0),
    ]  # fmt: skip


# ------------------------------------------------------------------ the simulators
def mmc_scenario(q: Queue):
    """The queue as a jiefang scenario: police only, every call and the station in one 10 m
    cell, instant call handling and driving, exponential on-scene times (the construction
    of ``tests/validation/cases.py``'s ``queue_scenario``, with no drain: every simulator
    stops taking and serving calls at the horizon)."""
    from sim.model.config import Scenario

    fixed0 = {"dist": "fixed", "value": 0.0}
    return Scenario.model_validate({
        "name": f"M/M/{q.units} at rho {q.rho}",
        "horizon_hours": q.horizon_s / 3600,
        "warmup_hours": WARMUP_S / 3600,
        "drain_hours": 0.0,
        "replications": 1,
        "city": {"width": 1, "height": 1, "cell_size_m": 10.0, "population": 100,
                 "land_use_shares": {}},
        "police": {"stations": 1, "grids": 1, "units": q.units, "station_cells": [[0, 0]],
                   "patrol_when_idle": False, "call_handling": fixed0},
        "travel": {"drive_m_s": 1e6},
        "incidents": {
            "rate_per_day": q.lam * 86400,
            "call_delay": fixed0,
            "kinds": {"call": {"share": 1.0, "self_rescue": False, "volunteers": False,
                               "meu_teams": 0, "police_units": 1, "call_probability": 1.0,
                               "handling": {"dist": "exponential", "mean_s": MEAN_SERVICE_S}}},
        },
    })  # fmt: skip


def run_jiefang(q: Queue, seed: int, kernel: bool = True) -> tuple[int, float, Outcome]:
    """Build, run and take the records; returns (calls, CPU s, outcome). ``kernel``: the
    compiled police loop (sim/model/police_kernel.py; needs the fast extra) or the Python
    loop it is tested against."""
    from sim.model.response import ResponseModel

    if kernel:
        from sim.model import police_kernel

        if not police_kernel.available():
            raise SystemExit(f"the compiled loop cannot run: {police_kernel.why_not_here()}")
    sc = mmc_scenario(q)  # configuration, not simulation: outside the timed part
    ResponseModel.KERNEL = kernel  # forced either way (not the automatic choice)
    c0 = time.process_time()
    model = ResponseModel(sc, seed=seed)
    records = model.run()
    cpu = time.process_time() - c0
    ResponseModel.KERNEL = None
    if kernel != (model.kernel_calls > 0):
        raise AssertionError(f"asked for kernel={kernel}, ran {model.kernel_calls} kernel calls")
    arrival = np.array([r.police_call_s for r in records])
    start = np.array([r.police_dispatched_s for r in records])
    return len(records), cpu, Outcome(arrival, start)


def run_simpy(q: Queue, seed: int) -> tuple[int, float, Outcome]:
    import simpy

    c0 = time.process_time()
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=q.units)
    arrival: list[float] = []
    start: list[float] = []

    def call(env, k):
        with servers.request() as req:
            yield req
            start[k] = env.now
            yield env.timeout(rng.expovariate(q.mu))

    def source(env):
        k = 0
        while True:
            yield env.timeout(rng.expovariate(q.lam))
            arrival.append(env.now)
            start.append(math.nan)
            env.process(call(env, k))
            k += 1

    env.process(source(env))
    env.run(until=q.horizon_s)
    cpu = time.process_time() - c0
    return len(arrival), cpu, Outcome(np.array(arrival), np.array(start))


def run_ciw(q: Queue, seed: int) -> tuple[int, float, Outcome]:
    import ciw

    c0 = time.process_time()
    ciw.seed(seed)
    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(rate=q.lam)],
        service_distributions=[ciw.dists.Exponential(rate=q.mu)],
        number_of_servers=[q.units],
    )
    sim = ciw.Simulation(network)
    sim.simulate_until_max_time(q.horizon_s)
    records = sim.get_all_records()
    cpu = time.process_time() - c0
    # Records are of calls served to the end; the rest are still in the node.
    arrival = [r.arrival_date for r in records]
    start = [r.service_start_date for r in records]
    for ind in sim.nodes[1].all_individuals:
        arrival.append(ind.arrival_date)
        served = ind.service_start_date is not False
        start.append(ind.service_start_date if served else math.nan)
    return len(arrival), cpu, Outcome(np.array(arrival, float), np.array(start, float))


def run_heapq(q: Queue, seed: int) -> tuple[int, float, Outcome]:
    """The floor: arrivals drawn on the fly, a heap of departures, a FIFO of waiting calls."""
    c0 = time.process_time()
    rng = random.Random(seed)
    expo, lam, mu, end = rng.expovariate, q.lam, q.mu, q.horizon_s
    arrival: list[float] = []
    start: list[float] = []
    departures: list[float] = []
    waiting: deque[int] = deque()
    free = q.units
    t_next = expo(lam)
    while True:
        if departures and departures[0] <= t_next:
            t = heapq.heappop(departures)
            if t > end:
                break
            if waiting:
                start[waiting.popleft()] = t
                heapq.heappush(departures, t + expo(mu))
            else:
                free += 1
        else:
            t = t_next
            if t > end:
                break
            arrival.append(t)
            if free:
                free -= 1
                start.append(t)
                heapq.heappush(departures, t + expo(mu))
            else:
                start.append(math.nan)
                waiting.append(len(arrival) - 1)
            t_next = t + expo(lam)
    cpu = time.process_time() - c0
    return len(arrival), cpu, Outcome(np.array(arrival), np.array(start))


SIMULATORS: dict[str, Callable[[Queue, int], tuple[int, float, Outcome]]] = {
    "jiefang": run_jiefang,
    "jiefang-py": lambda q, seed: run_jiefang(q, seed, kernel=False),
    "simpy": run_simpy,
    "ciw": run_ciw,
    "heapq": run_heapq,
}


# ------------------------------------------------------------------ driver
def profile(q: Queue, top: int) -> None:
    """jiefang's run of the queue under cProfile on the CPU clock."""
    import cProfile

    from bench_scale import print_profile, run_timed  # this folder is on sys.path as a script

    from sim.model.response import ResponseModel

    sc = mmc_scenario(q)
    prof = cProfile.Profile(time.process_time)
    prof.enable()
    ResponseModel(sc, seed=0).run()
    prof.disable()
    print_profile(prof, f"jiefang M/M/{q.units}, rho {q.rho}, {q.calls:,} calls", top)
    run_timed(sc, 0)


def measure(q: Queue, names: list[str], repeat: int, seed0: int = 0) -> dict[str, list[dict]]:
    """Interleaved repeats; each run checked against theory. Raises on a failed check."""
    rows: dict[str, list[dict]] = {n: [] for n in names}
    for rep in range(repeat):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            calls, cpu, out = SIMULATORS[name](q, seed0 + rep)
            found = checks(q, out)
            for ch in found:
                if not ch.passed:
                    raise AssertionError(f"{name}, rho {q.rho}, seed {seed0 + rep}: {ch}")
            rows[name].append({"seed": seed0 + rep, "calls": calls, "cpu_s": cpu,
                               "calls_per_cpu_s": calls / cpu,
                               "checks": [asdict(c) for c in found]})  # fmt: skip
            print(f"  rho {q.rho:.1f} {name:<8} seed {seed0 + rep}: {calls:>7} calls "
                  f"{cpu:7.2f} s CPU = {calls / cpu:>10,.0f} calls/CPU-s; "
                  + "; ".join(f"{c.formula}: {c.simulated:.4g} vs {c.expected:.4g} "
                              f"(+-{c.half_width:.2g})" for c in found),
                  flush=True)  # fmt: skip
    return rows


#: A child process's first police-only run (with the import of the compiled loop's module,
#: which imports numba), then a second: the difference is what the compiled loop costs a
#: process before its first call (numba's import, and its compilation or its cache's load).
_WARMUP_CHILD = """
import sys, time
c0 = time.process_time()
sys.path.insert(0, {bench!r}); sys.path.insert(0, {root!r})
from bench_peers import Queue, run_jiefang
c1 = time.process_time()
if {kernel}:
    import sim.model.police_kernel  # numba's import and the loop's decoration
loading = time.process_time() - c1
first = loading + run_jiefang(Queue(10, 0.8, 10_000), 0, kernel={kernel})[1]
second = run_jiefang(Queue(10, 0.8, 10_000), 1, kernel={kernel})[1]
print(time.process_time() - c0, first, second)
"""


def warm_up_cost() -> dict[str, float]:
    """CPU a fresh process pays before its first compiled call, measured in child processes
    (a 10,000-call M/M/10 run twice; first run less second run): with an empty numba cache
    (compiling, once per install or source change), then with that cache (every later
    process), and for the Python loop (the same first-run cost without numba)."""
    import subprocess
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**__import__("os").environ, "NUMBA_CACHE_DIR": cache}
        for label, kernel in (("compile (empty cache)", True), ("cached", True),
                              ("python loop", False)):  # fmt: skip
            code = _WARMUP_CHILD.format(bench=str(ROOT / "benchmarks"), root=str(ROOT),
                                        kernel=kernel)  # fmt: skip
            run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True, cwd=ROOT, env=env)  # fmt: skip
            total, first, second = map(float, run.stdout.split())
            out[label] = first - second
            print(
                f"  {label:<22} first run {first:6.2f} s, second {second:6.3f} s CPU: "
                f"warm-up {first - second:6.2f} s (child total {total:.2f} s)",
                flush=True,
            )
    return out


def model_cpu(repeat: int) -> dict[str, list[float]]:
    """Model CPU (build + loop + records) of each :data:`MODEL_TARGETS` case, one child
    process per run (``bench_scale.py --child``), seeds 0 .. repeat - 1."""
    import subprocess

    out: dict[str, list[float]] = {}
    for case in MODEL_TARGETS:
        for seed in range(repeat):
            run = subprocess.run(
                [sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), "--child", case,
                 "--seed", str(seed)], capture_output=True, text=True, check=True, cwd=ROOT,
            )  # fmt: skip
            row = json.loads(run.stdout.strip().splitlines()[-1])
            out.setdefault(case, []).append(row["cpu_s"])
            print(f"  {case:<18} seed {seed}: {row['incidents']} incidents, CPU build "
                  f"{row['build_cpu_s']:.2f} + loop {row['loop_cpu_s']:.2f} + records "
                  f"{row['records_cpu_s']:.2f} = {row['cpu_s']:.2f} s", flush=True)  # fmt: skip
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000, help="expected calls per run")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved repeats (default 3)")
    parser.add_argument("--rho", type=float, nargs="+", default=[0.8, 1.1])
    parser.add_argument("--only", nargs="+", choices=list(SIMULATORS), default=list(SIMULATORS))
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--profile", action="store_true", help="cProfile jiefang instead")
    parser.add_argument("--top", type=int, default=25, help="functions shown by --profile")
    parser.add_argument("--skip-model", action="store_true",
                        help="no city-day / sub-district-year runs (bench_scale.py)")  # fmt: skip
    args = parser.parse_args()
    if args.profile:
        for rho in args.rho:
            profile(Queue(UNITS, rho, args.calls), args.top)
        return 0
    results = {}
    warm = {}
    if "jiefang" in args.only:
        print("compiled police loop: warm-up per process (child processes)")
        warm = warm_up_cost()
        run_jiefang(Queue(UNITS, 0.8, 10_000), 0)  # this process's warm-up, outside the timing
    for rho in args.rho:
        results[rho] = measure(Queue(UNITS, rho, args.calls), args.only, args.repeat)
    rate = {rho: {n: statistics.median(r["calls_per_cpu_s"] for r in rows)
                  for n, rows in res.items()} for rho, res in results.items()}  # fmt: skip
    print(f"\nM/M/{UNITS}, {args.calls:,} calls, medians of {args.repeat} interleaved repeats "
          "(calls per CPU-second; jiefang = build + run + records)")  # fmt: skip
    for rho, r in rate.items():
        line = "  ".join(f"{n} {v:>10,.0f}" for n, v in r.items())
        print(f"  rho {rho:.1f}: {line}")
    targets = []
    for rho, r in rate.items():
        if "jiefang" in r and "simpy" in r:
            ratio = r["jiefang"] / r["simpy"]
            targets.append((f"jiefang / SimPy calls per CPU-s, rho {rho:.1f}", ratio,
                            f">= {TARGET_VS_SIMPY}", ratio >= TARGET_VS_SIMPY))  # fmt: skip
    if 0.8 in rate and 1.1 in rate:
        for n in rate[0.8]:
            ratio = rate[0.8][n] / rate[1.1][n]  # cost per call at 1.1 over that at 0.8
            target = f"<= {TARGET_OVERLOAD}" if n == "jiefang" else "(peer)"
            targets.append((f"{n}: cost per call rho 1.1 / rho 0.8", ratio, target,
                            ratio <= TARGET_OVERLOAD if n == "jiefang" else None))  # fmt: skip
    model = {} if args.skip_model else model_cpu(args.repeat)
    if "jiefang" in rate.get(0.8, {}) and "jiefang-py" in rate.get(0.8, {}):
        for rho, r in rate.items():
            print(f"  compiled / Python loop, rho {rho:.1f}: "
                  f"{r['jiefang'] / r['jiefang-py']:.2f}x the calls per CPU-s")  # fmt: skip
    print("\nissue 13 targets")
    for what, value, target, met in targets:
        verdict = "" if met is None else ("met" if met else "NOT MET")
        if what.startswith("jiefang / SimPy"):
            verdict += f" (ratio to target {value / TARGET_VS_SIMPY:.2f})"
        elif met is not None:
            verdict += f" (ratio to target {value / TARGET_OVERLOAD:.2f})"
        print(f"  {what:<46} {value:6.2f}  target {target:<6} {verdict}")
    for case, cpu in model.items():
        what, target = MODEL_TARGETS[case]
        ratio = statistics.median(cpu) / target
        print(f"  {what:<46} {statistics.median(cpu):6.2f} s target <= {target:g} s "
              f"{'met' if ratio <= 1 else 'NOT MET'} (ratio to target {ratio:.2f}; "
              + ", ".join(f"{c:.2f}" for c in cpu) + " s)")  # fmt: skip
    if args.json:
        import ciw
        import simpy

        machine = {"python": platform.python_version(), "machine": platform.machine(),
                   "cpus": __import__("os").cpu_count(), "simpy": simpy.__version__,
                   "ciw": ciw.__version__}  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(
            {"machine": machine, "calls": args.calls, "rate": {str(k): v for k, v in rate.items()},
             "warm_up_cpu_s": warm,
             "runs": {str(k): v for k, v in results.items()}}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
