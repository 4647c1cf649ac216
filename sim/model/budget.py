"""Work and memory a scenario or a sweep will need, estimated before anything is built.

A small file can ask for unbounded work: ``incidents.rate_per_day: 1e300``,
``police.grids: 1e7``, a sweep grid of 1e15 points. Each is found here from the
configuration alone, in microseconds, and refused with the estimate when it exceeds the
budget. The estimates are deliberately generous upper bounds (within a small factor of what
the model needs on the 2-core development machine), so what fits the budget runs.

The default budget is ``DEFAULT_MEMORY_GB`` of memory and ``DEFAULT_CPU_MINUTES`` of CPU
time per command. Raise it with ``jiefang run/sweep --budget-memory-gb G
--budget-cpu-minutes M``, or with the environment variables ``JIEFANG_BUDGET_MEMORY_GB`` and
``JIEFANG_BUDGET_CPU_MINUTES`` (the flags win).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sim.model.config.errors import ScenarioError

if TYPE_CHECKING:
    from sim.model.config.scenario import Scenario

DEFAULT_MEMORY_GB = 4.0
DEFAULT_CPU_MINUTES = 600.0
ENV_MEMORY, ENV_CPU = "JIEFANG_BUDGET_MEMORY_GB", "JIEFANG_BUDGET_CPU_MINUTES"

# Costs, measured on the development machine and rounded up (bytes, CPU seconds).
_BYTES_PER_CELL = 200  # rasters, distance transforms, k-d tree queries over all cells
# The model's incident stream, ledger and per-incident arrays (~0.24 KB at build on the city
# year since issue 23's third session: int32 counts, codes for text, readiness tests as
# columns) and what a run streaming its records adds by its end (row groups in flight, memory
# the allocator keeps): the city year's simulation peaked at 919 MiB, ~0.3 KB per incident
# over the interpreter, the city and the fleets (docs/performance.md), rounded up.
_BYTES_PER_INCIDENT = 400
# The incidents table a run holds before it streams: `jiefang run` holds up to STREAM_ROWS rows
# (sim.experiment.streams, the same number) and writes a shorter table whole; a sweep's run
# holds its table whole. ~0.6 KB a row with its chunks' transients (the city month), rounded up.
_BYTES_PER_HELD_ROW = 800
_HELD_ROWS = 32_768
# `jiefang run` reads every replication's incident table back for its summary and breakdowns
# (once, a row group at a time: every row in the summary document's columns, the rows some
# tier counts in the breakdowns'): ~0.26 KB per row at that phase's peak over the base (the
# city year's 2.42 million rows: 885 MiB RSS; issue 23), rounded up. A city placed on the
# Earth keeps every row in the breakdowns' and GIS layers' columns (33, ~0.26 KB a row of
# frame against 0.05), costed as the whole read-back was before (~0.45 KB, rounded up).
_BYTES_PER_SUMMARY_ROW = 300
_BYTES_PER_SUMMARY_ROW_WITH_FRAME = 600
_BYTES_PER_VOLUNTEER = 200
_BYTES_PER_UNIT = 1_000  # MEUs and police units (agents)
_BYTES_PER_POINT = 40_000  # a validated scenario per sweep point
_BYTES_PER_TASK = 400  # a sweep task and its key
_BASE_BYTES = 300e6  # the interpreter with numpy, pandas, mesa
_CPU_PER_INCIDENT = 1e-3
_CPU_PER_CELL = 2e-6
_CPU_PER_RIVER_STEP = 1e-5  # carving a river, per cell along it
_CPU_PER_BRIDGE_CELL = 5e-9  # each bridge looks at the whole raster once
_CPU_PER_VOLUNTEER = 3e-6
_CPU_PER_GRID = 3e-5
_CPU_PER_TASK = 2e-4  # building a sweep task and its content key


class BudgetError(ValueError):
    pass


@dataclass(frozen=True)
class Budget:
    memory_gb: float = DEFAULT_MEMORY_GB
    cpu_minutes: float = DEFAULT_CPU_MINUTES

    @classmethod
    def from_env(cls, memory_gb: float | None = None, cpu_minutes: float | None = None):
        """The budget: explicit values, else the environment variables, else the defaults."""
        return cls(
            memory_gb if memory_gb is not None else _env(ENV_MEMORY, DEFAULT_MEMORY_GB),
            cpu_minutes if cpu_minutes is not None else _env(ENV_CPU, DEFAULT_CPU_MINUTES),
        )


def _env(name: str, default: float) -> float:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise ScenarioError(f"environment variable {name}: expected a number > 0")
    return value


@dataclass(frozen=True)
class Estimate:
    memory_bytes: float
    cpu_seconds: float
    what: str  # the quantities behind it, for the message
    key: str = ""  # the key path that contributes most

    def describe(self) -> str:
        return (
            f"about {_gb(self.memory_bytes)} of memory and {_minutes(self.cpu_seconds)} "
            f"of CPU time ({self.what})"
        )


def _gb(n: float) -> str:
    return f"{n / 1e9:.3g} GB" if n < 1e15 else f"{n / 1e9:.1e} GB"


def _minutes(s: float) -> str:
    return f"{s / 60:.3g} CPU-minutes" if s < 1e12 else f"{s / 60:.1e} CPU-minutes"


def _f(x: float) -> float:
    """A float for any count (a YAML integer may have hundreds of digits)."""
    try:
        return float(x)
    except OverflowError:
        return math.inf


def _count(x: float) -> str:
    return f"{x:,.0f}" if x < 1e12 else f"{x:.2g}"


def _incidents(sc: Scenario) -> float:
    """Incidents expected per replication: generated ones, a replay file's rows, or both."""
    generated = sc.incidents.rate_per_day * (sc.horizon_hours / 24.0)
    replay = sc._replay  # read at load time, before this estimate
    if replay is None:
        return generated
    return len(replay) + (generated if sc.incidents.replay_mode == "add" else 0.0)


def replication_estimate(sc: Scenario, streamed: bool = False) -> Estimate:
    """One replication of ``sc``: building its city and responders, and simulating it, its
    incidents table held whole (a sweep's run) or, ``streamed``, at most ``_HELD_ROWS`` rows
    of it at a time (`jiefang run`)."""
    city = sc.city
    if city.map_file is not None:
        try:  # the map file's size bounds its cells (read and checked at load)
            cells = float(os.stat(city.map_file).st_size)
        except OSError:
            cells = 1.0
        along = math.sqrt(cells)
    else:
        cells = _f(city.width) * _f(city.height)
        along = _f(max(city.width, city.height))
    bridges = sum(_f(r.bridges) for r in city.rivers)
    # Rivers across each other cut the land into up to (h + 1) x (v + 1) banks; linking
    # bridges through banks costs banks x bridges^2.
    h_rivers = sum(r.axis == "horizontal" for r in city.rivers)
    banks = (h_rivers + 1.0) * (len(city.rivers) - h_rivers + 1.0)
    incidents = _incidents(sc)
    days = (_f(sc.horizon_hours) + _f(sc.drain_hours)) / 24.0 + 1.0  # whole days, at most
    # Recruited volunteers (volunteers.recruited) cost what the others cost.
    vol, meus, police = _f(sc.volunteers.total), _f(sc.meus.count), sc.police
    units, grids, stations = _f(police.units), _f(police.grids), _f(police.stations)
    # (key path that drives it, memory bytes, CPU seconds)
    terms = [
        ("city", cells * _BYTES_PER_CELL + bridges * bridges * 16 + banks * bridges * 9,
         cells * _CPU_PER_CELL + len(city.rivers) * along * _CPU_PER_RIVER_STEP
         + bridges * cells * _CPU_PER_BRIDGE_CELL + bridges**3 * 1e-9
         + banks * bridges * bridges * 1e-8),
        ("incidents.rate_per_day", incidents * _BYTES_PER_INCIDENT
         + (min(incidents, _HELD_ROWS) if streamed else incidents) * _BYTES_PER_HELD_ROW,
         incidents * (_CPU_PER_INCIDENT + bridges * bridges * 3e-6)),
        ("volunteers.count", vol * _BYTES_PER_VOLUNTEER, vol * _CPU_PER_VOLUNTEER),
        # members on post, drawn per unit per day (int8 unless a unit has more than 127
        # members: sim.model.responders.meus.roster_dtype; costed at 2 bytes)
        ("meus.count", meus * (_BYTES_PER_UNIT + 2.0 * days), meus * days * 1e-7),
        ("police.units", units * _BYTES_PER_UNIT, 0.0),
        ("police.grids", grids * (100.0 + 8.0 * stations),
         grids * (_CPU_PER_GRID + stations * 1e-8)),
    ]  # fmt: skip
    memory = sum(t[1] for t in terms)
    cpu = sum(t[2] for t in terms)
    memory, cpu = (math.inf if math.isnan(v) else v for v in (memory, cpu))
    driver = max(terms, key=lambda t: max(t[1] / _BASE_BYTES, t[2]))[0]
    parts = [f"{_count(incidents)} incidents", f"{_count(cells)} cells"]
    if city.rivers:
        parts.append(f"{len(city.rivers)} rivers with {_count(bridges)} bridges")
    if vol:
        parts.append(f"{_count(vol)} volunteers")
    if grids > 1:
        parts.append(f"{_count(grids)} police grids")
    return Estimate(memory, cpu, ", ".join(parts) + " per replication", driver)


def run_estimate(sc: Scenario, replications: int) -> Estimate:
    """``jiefang run``: one replication at a time, its records streamed to disk; then every
    replication's incident table read back for the summary (the model is gone by then)."""
    one = replication_estimate(sc, streamed=True)
    incidents = _incidents(sc)
    per_row = _BYTES_PER_SUMMARY_ROW_WITH_FRAME if sc.city.has_frame else _BYTES_PER_SUMMARY_ROW
    summary = replications * incidents * per_row
    memory = _BASE_BYTES + max(one.memory_bytes, summary)
    return Estimate(memory, one.cpu_seconds * replications, f"{one.what}, x{replications:,}",
                    one.key)  # fmt: skip


def sweep_estimate(points: int, replications: int, worst: Scenario, workers: int = 1):
    """A sweep: its points and tasks in memory, one run per worker at a time, every run."""
    one = replication_estimate(worst)
    n = _f(points)  # a grid of many keys multiplies past any float
    tasks = n * replications
    memory = (
        _BASE_BYTES + n * _BYTES_PER_POINT + tasks * _BYTES_PER_TASK
        + workers * (_BASE_BYTES + one.memory_bytes)
    )  # fmt: skip
    cpu = tasks * (one.cpu_seconds + _CPU_PER_TASK)
    what = f"{_count(n)} points x {replications:,} replications; largest point: {one.what}"
    return Estimate(memory, cpu, what, one.key)


def check(estimate: Estimate, budget: Budget, source: str, key: str | None = None) -> None:
    """Refuse an estimate over the budget with one message that gives the estimate."""
    over = []
    if not estimate.memory_bytes <= budget.memory_gb * 1e9:
        over.append(f"memory budget of {budget.memory_gb:g} GB")
    if not estimate.cpu_seconds <= budget.cpu_minutes * 60:
        over.append(f"CPU budget of {budget.cpu_minutes:g} CPU-minutes")
    if over:
        raise ScenarioError(
            f"{source}: {key or estimate.key}: needs {estimate.describe()}, over the "
            f"{' and the '.join(over)}; if that is really meant, raise the budget with "
            f"--budget-memory-gb / --budget-cpu-minutes (or {ENV_MEMORY} / {ENV_CPU})"
        )


def check_scenario(sc: Scenario, source: str, budget: Budget | None = None) -> None:
    """Called by the loader: what a `jiefang run` of one replication of the file would need,
    its records streamed and then read back for the summary (whichever phase is larger; a
    sweep's runs are checked by :func:`sweep_estimate`, which holds their tables whole)."""
    check(run_estimate(sc, 1), budget or Budget.from_env(), source)


def check_run(sc: Scenario, replications: int, source: str, budget: Budget | None = None):
    """``jiefang run``: every replication, records of all of them in memory at the end."""
    estimate = run_estimate(sc, replications)
    check(estimate, budget or Budget.from_env(), source)
