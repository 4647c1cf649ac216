"""Every performance target of issue 23, measured side by side in one run.

    python -m benchmarks [--only NAME ...] [--repeat N] [--json PATH]
    python -m benchmarks --smoke          # CI: tiny sizes, correctness checked, nothing timed

Each case runs in its own child process (``python -m benchmarks --child CASE``), so a peak
resident memory is that case's alone and imports are paid where a user pays them. Figures
are CPU time (user + system of the process that did the work; ``time.process_time`` inside
it), never wall time, and ratios are taken between figures of this one run on this one
machine. The table at the end gives, per target, the figure, the target, figure / target
and whether it is met.

``--smoke`` runs every case at a size that takes seconds (a sub-district of a few hours,
M/M/10 of a few thousand calls) and checks what can be checked against theory (the M/M/10
waits against Erlang C, tables non-empty, counts consistent); its figures mean nothing and
the verdict column says so. The suite runs it (tests/test_benchmarks.py).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CITY = "scenarios/guangzhou-2023.yaml"
CITY_YEAR = "scenarios/guangzhou-2023-year.yaml"
SUBDISTRICT = "scenarios/guangzhou-2023-subdistrict.yaml"


@dataclass(frozen=True)
class Target:
    """One line of issue 23's targets: ``figure <= limit`` (or ``>=`` when ``at_least``)."""

    key: str
    what: str
    unit: str
    limit: float
    at_least: bool = False

    def met(self, figure: float) -> bool:
        return figure >= self.limit if self.at_least else figure <= self.limit

    def ratio(self, figure: float) -> float:
        """Figure over target, oriented so that <= 1 is met either way."""
        return self.limit / figure if self.at_least else figure / self.limit


TARGETS = {t.key: t for t in (
    Target("year-cpu", "city year: jiefang run guangzhou-2023-year -r 1, CPU", "s", 60.0),
    Target("year-peak", "city year: peak resident memory", "GB", 1.0),
    Target("growth", "memory growth per incident (6-day run vs 1-day run, records streamed)",
           "B", 500.0),
    Target("event-python", "loop per event on the city mix / bare heapq, Python path", "x", 25.0),
    Target("event-compiled", "loop per event on the city mix / bare heapq, compiled", "x", 10.0),
    Target("mmc", "M/M/10 rho 0.8, default path, calls per CPU-s / SimPy's (worst size)", "x",
           2.0, at_least=True),
    Target("fleet-police", "10x incidents and police: CPU per incident ratio", "x", 1.5),
    Target("fleet-meus", "10x MEUs: CPU per incident ratio", "x", 1.5),
    Target("fleet-volunteers", "10x volunteers: CPU per incident ratio", "x", 1.5),
    Target("volunteer-memory", "10x volunteers: peak memory ratio", "x", 2.0),
    Target("run-day", "jiefang run guangzhou-2023 -r 1, CPU in all", "s", 1.5),
    Target("import", "import sim, CPU", "s", 0.3),
    Target("build", "the city day's model built (city, responders, incidents), CPU", "s", 0.2),
    Target("sweep-run", "sweep: CPU per further run / that run's event loop CPU", "x", 1.5),
    Target("optimize-import", "jiefang optimize's imports, CPU", "s", 0.5),
)}  # fmt: skip


# --- measurements, each in a child process ---------------------------------------------


def _scenario(path: str, changes: dict):
    from sim.geo.scenario import load_scenario

    scenario = load_scenario(ROOT / path)
    return scenario.with_changes(changes) if changes else scenario


def _load_compiled_loop(path: str, changes: dict) -> None:
    """numba and the compiled loop loaded into this process for the scenario at ``path``
    (with ``changes``): the scenario's first two hours on it. numba compiles the loop for
    each set of argument types the scenarios give it (kept in its cache) and, in each
    process, the object-mode block through which the loop hands other responders' events
    to Python, at that block's first use (~0.1 s on the city day: its first run paid that
    in its loop)."""
    from sim.model.response import ResponseModel

    short = {**changes, "horizon_hours": 2.0, "warmup_hours": 0.0, "replications": 1}
    model = ResponseModel(_scenario(path, short), seed=0)
    model.KERNEL = True
    model.advance_to(model.end_s)
    if not model.kernel_calls:
        raise SystemExit(f"the compiled loop could not be loaded: {model.why_not_compiled}")


def model_case(path: str, changes: dict, seed: int = 0, count_events: bool = False,
               stream: bool = False) -> dict:  # fmt: skip
    """Build and run one replication in this process: CPU of the build and of the event
    loop, incidents, peak RSS; with ``count_events`` the events handled (a separate run:
    keeping the trace slows the loop). ``build_again_cpu_s``: a second build of the same model in
    this process, after the run (what a sweep's further runs on the layout pay: the city
    comes from sim.model.city_cache). With ``stream`` the records are taken as `jiefang run`
    takes them (:func:`streamed_run`) and dropped, instead of ``records()`` at the end."""
    from sim.experiment import disk_cache
    from sim.model.response import ResponseModel

    disk_cache.install()  # as `jiefang run` does (kept only where JIEFANG_CACHE_DIR is set)
    if stream:
        return streamed_run(path, changes, seed)

    scenario = _scenario(path, changes)
    if os.environ.get("JIEFANG_KERNEL") == "on":
        _load_compiled_loop(path, changes)  # once a process, before the clock: not the run's
    c0 = time.process_time()
    # Counting: every event the loop handles is in the trace (occurrences read from their
    # array and follow-ons handled at once never touch the heap, so heap pops undercount)
    model = ResponseModel(scenario, seed=seed, trace=count_events)
    c1 = time.process_time()
    model.advance_to(model.end_s)
    c2 = time.process_time()
    events = len(model.trace) if model.trace is not None else 0
    n = len(model.records())
    c3 = time.process_time()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kernel_calls = int(getattr(model, "kernel_calls", 0))
    del model
    c4 = time.process_time()
    ResponseModel(scenario, seed=seed)
    c5 = time.process_time()
    return {"incidents": n, "build_cpu_s": c1 - c0, "loop_cpu_s": c2 - c1,
            "records_cpu_s": c3 - c2, "cpu_s": c3 - c0, "events": events,
            "kernel_calls": kernel_calls, "build_again_cpu_s": c5 - c4,
            "peak_rss_mb": peak}  # fmt: skip


def streamed_run(path: str, changes: dict, seed: int = 0) -> dict:
    """One replication run as `jiefang run` runs it (sim.experiment.runner.stream_replications):
    a stop at a time (sim.experiment.runner.next_stop), the settled incidents handed over as
    tables in chunks (dropped here, written to Parquet there). Incidents, CPU and peak RSS:
    what the model holds per incident while the records stream out."""
    from sim.experiment.runner import STREAM_INCIDENTS, next_stop
    from sim.model.response import ResponseModel

    scenario = _scenario(path, changes)
    c0 = time.process_time()
    model = ResponseModel(scenario, seed=seed, streamed=True)
    while not model.finished:
        model.advance_to(next_stop(model))
        model.take_settled(STREAM_INCIDENTS)
    model.take_settled(0)
    return {"incidents": len(model.incidents), "cpu_s": time.process_time() - c0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}  # fmt: skip


def bare_heapq(events: int, in_flight: int = 2000, seed: int = 0, passes: int = 9) -> dict:
    """A bare heapq event loop: pop the earliest of ``in_flight`` events, push its successor,
    ``events`` times (tuples shaped like the model's: time, kind, sequence, subject, detail).
    A city day's events take it some 30 ms, where one pass varied by 15 % from run to run:
    the median of ``passes`` passes, each on a fresh heap."""
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(60.0, events).tolist()
    kinds = rng.integers(0, 8, events).tolist()
    first = rng.exponential(60.0, in_flight).tolist()
    pop, push = heapq.heappop, heapq.heappush
    cpu = []
    for _ in range(passes):
        heap = [(g, 0, k, k, -1) for k, g in enumerate(first)]
        heapq.heapify(heap)
        c0 = time.process_time()
        for k in range(events):
            t, _kind, _seq, i, d = pop(heap)
            push(heap, (t + gaps[k], kinds[k], in_flight + k, i, d))
        cpu.append(time.process_time() - c0)
    return {"events": events, "cpu_s": statistics.median(cpu)}


def mmc_case(calls: int, seed: int, simulator: str) -> dict:
    """One M/M/10 run at rho 0.8 of ``calls`` expected calls, through benchmarks/bench_peers.py
    (its construction is the validated one). jiefang runs its default path (the automatic
    choice of loop, nothing forced); each run is checked against Erlang C."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_peers as bp

    q = bp.Queue(10, 0.8, calls)
    if simulator == "jiefang":
        from sim.model.response import ResponseModel

        sc = bp.mmc_scenario(q)
        c0 = time.process_time()
        model = ResponseModel(sc, seed=seed)
        records = model.run()
        cpu = time.process_time() - c0
        arrival = np.array([r.police_call_s for r in records])
        start = np.array([r.police_dispatched_s for r in records])
        n, out = len(records), bp.Outcome(arrival, start)
    else:
        n, cpu, out = bp.SIMULATORS[simulator](q, seed)
    failed = [c for c in bp.checks(q, out) if not c.passed]
    return {"calls": n, "cpu_s": cpu, "failed_checks": [str(c) for c in failed]}


def _child_cpu(cmd: list[str]) -> tuple[float, float]:
    """CPU (user + system, s) of ``cmd`` run to its end as a child of this process, and the
    peak resident memory (GB) of this process's children so far (one case per process)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return cpu, after.ru_maxrss * 1024 / 1e9


def run_cli(args: list[str]) -> dict:
    """CPU and peak memory of ``jiefang ARGS`` as a child of this process."""
    cpu, peak = _child_cpu([sys.executable, "-m", "sim", *args])
    return {"cpu_s": cpu, "peak_gb": peak}


def import_cpu(statement: str) -> dict:
    """CPU of a fresh interpreter running ``statement`` minus that of an empty one."""
    ran, empty = (_child_cpu([sys.executable, "-c", code])[0] for code in (statement, "pass"))
    return {"cpu_s": max(0.0, ran - empty)}


CHILDREN: dict[str, Callable[..., dict]] = {
    "model": model_case, "heapq": bare_heapq, "mmc": mmc_case, "cli": run_cli,
    "import": import_cpu,
}  # fmt: skip


def child(kind: str, *args, env: dict[str, str] | None = None) -> dict:
    """Run one measurement in a fresh process (``env``: variables set for it); its JSON
    result."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--child", kind, json.dumps(args)],
        check=True, cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, **env} if env else None,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the targets --------------------------------------------------------------------------


class Sizes:
    """What each case runs: issue 23's sizes, or seconds-long ones for ``--smoke``."""

    def __init__(self, smoke: bool) -> None:
        self.smoke = smoke
        short = {"horizon_hours": 6.0, "warmup_hours": 0.0, "replications": 1}
        self.day = (SUBDISTRICT, short) if smoke else (CITY, {})
        self.year = (SUBDISTRICT, {**short, "horizon_hours": 24.0}) if smoke else (CITY_YEAR, {})
        self.growth = (
            [(SUBDISTRICT, {**short, "horizon_hours": h}) for h in (12.0, 48.0)]
            if smoke
            else [(CITY, {"horizon_hours": h}) for h in (26.0, 146.0)]
        )
        self.mmc_calls = [20_000] if smoke else [10_000, 100_000, 1_000_000]


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def measure_event_cost(sizes: Sizes, repeat: int) -> dict[str, float]:
    path, changes = sizes.day
    counted = child("model", path, changes, 0, True, env={"JIEFANG_KERNEL": "off"})
    bare = [child("heapq", max(counted["events"], 1000)) for _ in range(repeat)]
    bare_per_event = _median(bare, "cpu_s") / max(counted["events"], 1000)
    out = {}
    # Each path forced (the automatic choice keeps a city day in Python: loading numba costs
    # more than it saves there); the compiled loop loaded before the clock starts. The same
    # events either way (the compiled loop's sequence is the Python loop's).
    for key, setting in (("event-python", "off"), ("event-compiled", "on")):
        timed = [child("model", path, changes, seed, env={"JIEFANG_KERNEL": setting})
                 for seed in range(repeat)]  # fmt: skip
        compiled = all(r["kernel_calls"] > 0 for r in timed)
        if compiled != (setting == "on"):
            print(f"  city mix: the {key[6:]} path could not be taken here", flush=True)
            continue
        per_event = _median(timed, "loop_cpu_s") / max(counted["events"], 1)
        out[key] = per_event / bare_per_event
        print(f"  city mix: {counted['events']:,} events, {per_event * 1e6:.2f} us per event "
              f"({key[6:]} path), bare heapq {bare_per_event * 1e6:.3f} us",
              flush=True)  # fmt: skip
    return out


def measure_mmc(sizes: Sizes, repeat: int) -> dict[str, float]:
    import importlib.util

    peers = ["jiefang", "simpy"] if importlib.util.find_spec("simpy") else ["jiefang"]
    if len(peers) == 1:
        print("  SimPy is not installed (the bench extra): jiefang's runs are checked only")
    if not sizes.smoke:
        # The compiled loop is compiled into numba's cache once per install (about 10 s), then
        # loaded by each process (counted in every timed run below): the once is not a run's.
        child("mmc", 100_000, 99, "jiefang")
    worst = float("inf")
    for calls in sizes.mmc_calls:
        rates = {}
        for sim in peers:
            rows = [child("mmc", calls, seed, sim) for seed in range(repeat)]
            for r in rows:
                if r["failed_checks"]:
                    raise SystemExit(f"M/M/10 {sim} {calls} calls failed: {r['failed_checks']}")
            rates[sim] = statistics.median(r["calls"] / r["cpu_s"] for r in rows)
        if "simpy" not in rates:
            print(
                f"  M/M/10 {calls:>9,} calls: jiefang {rates['jiefang']:,.0f} calls/CPU-s; "
                "Erlang C checks passed",
                flush=True,
            )
            continue
        ratio = rates["jiefang"] / rates["simpy"]
        worst = min(worst, ratio)
        print(
            f"  M/M/10 {calls:>9,} calls: jiefang {rates['jiefang']:,.0f} calls/CPU-s, SimPy "
            f"{rates['simpy']:,.0f} ({ratio:.2f}x); Erlang C checks passed",
            flush=True,
        )
    return {"mmc": worst} if worst < float("inf") else {}


def measure_fleets(sizes: Sizes, repeat: int) -> dict[str, float]:
    path, base = sizes.day
    scale = {
        "fleet-police": {"police.units": "x10", "incidents.rate_per_day": "x10"},
        "fleet-meus": {"meus.count": "x10"},
        "fleet-volunteers": {"volunteers.count": "x10"},
    }
    scenario = _scenario(path, base)
    raw = scenario.model_dump(mode="python")

    def value(dotted: str):
        node = raw
        for part in dotted.split("."):
            node = node[part]
        return node

    def per_incident(rows: list[dict]) -> float:
        # The event loop and records: the part that runs per incident (the build is its own
        # target; a 10x fleet built once is a fixed cost, not a per-incident one).
        return statistics.median((r["loop_cpu_s"] + r["records_cpu_s"]) / r["incidents"]
                                 for r in rows)  # fmt: skip

    ref = [child("model", path, base, seed) for seed in range(repeat)]
    out = {}
    for key, changes in scale.items():
        bigger = {**base, **{k: value(k) * 10 for k in changes}}
        for k in ("police.units", "meus.count", "volunteers.count"):
            if k in bigger:
                bigger[k] = int(bigger[k])
        rows = [child("model", path, bigger, seed) for seed in range(repeat)]
        out[key] = per_incident(rows) / per_incident(ref)
        if key == "fleet-volunteers":
            out["volunteer-memory"] = _median(rows, "peak_rss_mb") / _median(ref, "peak_rss_mb")
        print(
            f"  {key}: {per_incident(rows) * 1e6:.1f} us per incident against "
            f"{per_incident(ref) * 1e6:.1f} ({out[key]:.2f}x)",
            flush=True,
        )
    return out


def measure_city(sizes: Sizes, repeat: int) -> dict[str, float]:
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        path, changes = sizes.year
        sets = [a for k, v in changes.items() for a in ("--set", f"{k}={v}")]
        year = child("cli", ["run", path, "-r", "1", "-q", "--no-plot", "--out",
                             f"{tmp}/year", "--budget-cpu-minutes", "1200", *sets])  # fmt: skip
        out["year-cpu"], out["year-peak"] = year["cpu_s"], year["peak_gb"]
        print(f"  year: {year['cpu_s']:.1f} s CPU, peak {year['peak_gb']:.2f} GB", flush=True)
        path, changes = sizes.day
        sets = [a for k, v in changes.items() for a in ("--set", f"{k}={v}")]
        days = [child("cli", ["run", path, "-r", "1", "-q", "--out", f"{tmp}/day{k}", *sets])
                for k in range(repeat)]  # fmt: skip
        out["run-day"] = _median(days, "cpu_s")
    # With a cache folder set (JIEFANG_CACHE_DIR; off unless a user sets it): the first run
    # keeps the city on disk (sim.experiment.disk_cache), the builds measured read it back.
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as cache:
        on = {"JIEFANG_CACHE_DIR": cache}
        for seed in range(repeat):
            child("model", *sizes.day, seed, env=on)
        built = [child("model", *sizes.day, seed, env=on) for seed in range(repeat)]
    out["build"] = _median(built, "build_cpu_s")
    cold = child("model", *sizes.day, 0, env={"JIEFANG_CACHE_DIR": "off"})
    print(
        f"  city day built: {out['build']:.2f} s CPU the first time in a process (city and "
        f"homes read from disk), {cold['build_cpu_s']:.2f} s with nothing kept on disk, "
        f"{_median(built, 'build_again_cpu_s'):.2f} s again (the city cached in memory)",
        flush=True,
    )
    (short, c1), (long, c6) = sizes.growth
    # As `jiefang run` holds a run: records streamed out as incidents settle (the target);
    # and with every record held to the end as Python tuples (`records()`, printed). Both
    # runs of a pair on one path (the automatic choice would load numba, ~110 MB, for the
    # longer run alone): the target's figure is the larger of the two paths'.
    streamed = {}
    for path_name, setting in (("Python", "off"), ("compiled", "on")):
        on = {"JIEFANG_KERNEL": setting}
        one = child("model", short, c1, 0, False, True, env=on)
        six = child("model", long, c6, 0, False, True, env=on)
        streamed[path_name] = _growth(one, six)
    out["growth"] = max(streamed.values())
    held = _growth(child("model", short, c1, env={"JIEFANG_KERNEL": "off"}),
                   child("model", long, c6, env={"JIEFANG_KERNEL": "off"}))  # fmt: skip
    print(f"  memory growth per incident: {streamed['Python']:.0f} B (Python path) and "
          f"{streamed['compiled']:.0f} B (compiled) with the records streamed (jiefang run), "
          f"{held:.0f} B with every record held as a tuple (records(), Python path)",
          flush=True)  # fmt: skip
    out["import"] = statistics.median(child("import", "import sim")["cpu_s"]
                                      for _ in range(max(repeat, 3)))  # fmt: skip
    out["optimize-import"] = statistics.median(
        child("import", "import sim.interface.cli, sim.planning.optimize")["cpu_s"]
        for _ in range(max(repeat, 3))
    )
    return out


def _growth(one: dict, six: dict) -> float:
    """Peak RSS of the longer run less the shorter's, per incident more (B)."""
    grown = (six["peak_rss_mb"] - one["peak_rss_mb"]) * 2**20
    return grown / max(six["incidents"] - one["incidents"], 1)


def measure_sweep(sizes: Sizes, repeat: int) -> dict[str, float]:
    """What a sweep pays per run beyond the run's own event loop. Two sweeps of the city day
    (`jiefang sweep --workers 1`, runs in the driver, two replications of two layouts)
    differ only in their points (2 and 6 values of volunteers.acceptance): the CPU of the
    larger less that of the smaller, over the runs it adds, is the cost of a further run
    (the build, the loop, metrics and Parquet; the imports and each layout's first city are
    paid once per worker, in both). Against: the event-loop CPU of the same runs, each
    measured alone. The whole smaller sweep's CPU per run is printed beside it."""
    path, changes = sizes.day
    small, large = [0.4, 0.5], [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    sets = "".join(f"  {k}: {v}\n" for k, v in changes.items() if k != "replications")
    block = f"set:\n{sets}" if sets else "set: {}\n"
    cpu = {}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        for name, values in (("small", small), ("large", large)):
            sweep = Path(tmp) / f"{name}.yaml"
            # Points x two replications (docs/sweeps.md), each run as `jiefang run` runs it.
            sweep.write_text(
                f"name: bench\nbase: {ROOT / path}\nseed: 0\nreplications: 2\n{block}"
                f"grid:\n  volunteers.acceptance: {values}\n"
            )
            rows = [child("cli", ["sweep", str(sweep), "--workers", "1", "-q", "--out",
                                  f"{tmp}/{name}{k}"]) for k in range(repeat)]  # fmt: skip
            cpu[name] = _median(rows, "cpu_s")
    loop = [child("model", path, {**changes, "volunteers.acceptance": a}, seed)
            for a in small for seed in range(2)]  # fmt: skip
    loop_cpu = statistics.mean(r["loop_cpu_s"] for r in loop)
    further = (cpu["large"] - cpu["small"]) / (2 * (len(large) - len(small)))
    whole = cpu["small"] / (2 * len(small))
    print(f"  sweep: {further:.2f} s CPU per further run, {whole:.2f} s per run of the whole "
          f"{2 * len(small)}-run sweep (imports and first cities included); event loop "
          f"{loop_cpu:.2f} s", flush=True)  # fmt: skip
    return {"sweep-run": further / loop_cpu}


GROUPS = {"event": measure_event_cost, "mmc": measure_mmc, "fleets": measure_fleets,
          "city": measure_city, "sweep": measure_sweep}  # fmt: skip


def report(figures: dict[str, float], smoke: bool) -> None:
    print("\nissue 23 targets (ratio = figure / target, oriented so that <= 1 is met)")
    for key, t in TARGETS.items():
        if key not in figures:
            print(f"  {t.what:<72} {'not measured here':>12}")
            continue
        figure = figures[key]
        verdict = "smoke: not timed" if smoke else ("met" if t.met(figure) else "NOT MET")
        sign = ">=" if t.at_least else "<="
        print(
            f"  {t.what:<72} {figure:10.3f} {t.unit:<2} target {sign} {t.limit:g} {t.unit:<2}"
            f" ratio {t.ratio(figure):6.2f}  {verdict}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", choices=list(GROUPS), default=list(GROUPS))
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure, median (default 3)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, correctness only")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        kind, payload = args.child
        print(json.dumps(CHILDREN[kind](*json.loads(payload))))
        return 0
    sizes = Sizes(args.smoke)
    repeat = 1 if args.smoke else args.repeat
    figures: dict[str, float] = {}
    for name in args.only:
        print(f"{name}:", flush=True)
        figures.update(GROUPS[name](sizes, repeat))
    report(figures, args.smoke)
    if args.json:
        machine = {"python": platform.python_version(), "machine": platform.machine(),
                   "cpus": os.cpu_count()}  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "smoke": args.smoke,
                                         "figures": figures}, indent=2) + "\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
