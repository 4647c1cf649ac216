"""Sweep files: a base scenario, parameters to vary, replications and a seed -> run tasks.

A sweep file (YAML) looks like::

    name: subdistrict-staffing
    base: guangzhou-2023-subdistrict.yaml   # relative to the sweep file
    seed: 0
    replications: 5
    set: {horizon_hours: 24}                # fixed changes at every point
    grid:                                   # full product of these
      volunteers.count: [0, 2000, 4000]
      meus.count: {from: 0, to: 270, step: 90}
    lhs:                                    # Latin-hypercube sample, crossed with the grid
      samples: 8
      ranges:
        volunteers.acceptance: {low: 0.2, high: 0.8}
    baseline:                               # what differences are taken against
      volunteers.count: 2000                # (default: the base scenario's own values)

Replication ``r`` of every point runs with ``(seed, r)``, so every point sees the same
incident stream in replication ``r`` (common random numbers) whenever the varied keys leave
the city and the incidents alone.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, ValidationError, model_validator
from scipy.stats import qmc

from sim.geo.scenario import load_scenario
from sim.model import budget as budgets
from sim.model.catalogue import locate
from sim.model.config import (
    Scenario,
    ScenarioError,
    Strict,
    _short,
    _show_path,
    check_path_text,
    format_validation_error,
    read_yaml_mapping,
)

Scalar = bool | int | float | str


class Span(Strict):
    """Evenly spaced values from ``from`` to ``to`` (inclusive), by ``step`` or ``num``."""

    start: int | float = Field(alias="from")
    stop: int | float = Field(alias="to")
    step: int | float | None = Field(None, gt=0)
    num: int | None = Field(None, ge=1, le=100_000)
    integer: bool | None = Field(None, description="default: true when from, to, step are whole")

    @model_validator(mode="after")
    def _one_spacing(self):
        if (self.step is None) == (self.num is None):
            raise ValueError("give exactly one of step or num")
        if self.stop < self.start:
            raise ValueError(f"to ({self.stop}) must be >= from ({self.start})")
        if self.step is not None and (self.stop - self.start) / self.step > 100_000:
            raise ValueError("more than 100,000 values")
        return self

    def count(self) -> int:
        """Number of values, without building them."""
        if self.num is not None:
            return self.num
        return math.floor((self.stop - self.start) / self._step() + 1e-9) + 1

    def _step(self) -> int | float:
        # The validator ensures a step whenever num is not given.
        if self.step is None:
            raise ValueError("give exactly one of step or num")
        return self.step

    def values(self) -> list[Scalar]:
        vals: np.ndarray
        if self.num is not None:
            vals = np.linspace(self.start, self.stop, self.num)
        else:
            step = self._step()
            n = int(np.floor((self.stop - self.start) / step + 1e-9)) + 1
            vals = self.start + step * np.arange(n)
        whole = all(isinstance(v, int) for v in (self.start, self.stop, self.step))
        if self.integer or (self.integer is None and whole):
            return [round(v) for v in vals.tolist()]
        return [float(v) for v in vals]


class Range(Strict):
    low: float
    high: float
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self):
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self

    def scale(self, u: np.ndarray) -> list[Scalar]:
        """Map uniforms in [0, 1) onto the range (integers: each value equally likely)."""
        if self.integer:
            lo, hi = int(np.ceil(self.low)), int(np.floor(self.high))
            return [int(v) for v in np.minimum(lo + np.floor(u * (hi - lo + 1)), hi)]
        return [float(v) for v in self.low + u * (self.high - self.low)]


class Lhs(Strict):
    samples: int = Field(ge=1, le=100_000)
    ranges: dict[str, Range] = Field(min_length=1)


class SweepSpec(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    base: str = Field(description="scenario file, relative to the sweep file")
    seed: int = Field(0, ge=0)
    replications: int = Field(5, ge=1, le=100_000)
    set: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, Span | Annotated[list[Any], Field(min_length=1)]] = Field(
        default_factory=dict, description="key path -> list of values, or a span"
    )
    lhs: Lhs | None = None
    baseline: dict[str, Any] = Field(
        default_factory=dict,
        description="varied key path -> value of the arm every point is compared with; "
        "keys left out take the base scenario's own value (after `set`)",
    )

    @model_validator(mode="after")
    def _distinct_keys(self):
        seen: dict[str, str] = {}
        for where, keys in (("set", self.set), ("grid", self.grid),
                            ("lhs.ranges", self.lhs.ranges if self.lhs else {})):  # fmt: skip
            for key in keys:
                if key in seen:
                    raise ValueError(f"{key} appears in both {seen[key]} and {where}")
                seen[key] = where
        return self


@dataclass(frozen=True)
class Point:
    point_id: int
    values: dict[str, Scalar]  # varied key path -> value
    scenario: Scenario


#: ``point_id`` of the baseline arm when it is none of the grid points: it runs as an extra
#: arm, stored and resumed like every point, and is left out of ``points.parquet``.
BASELINE_ARM = -1


@dataclass(frozen=True)
class Task:
    point_id: int
    replication: int
    seed: int
    scenario: Scenario
    key: str  # content address of (resolved scenario, seed, replication)


@dataclass(frozen=True)
class Sweep:
    spec: SweepSpec
    source: Path
    base: Scenario
    points: tuple[Point, ...]
    #: The arm differences are taken against: a grid point (its own id) or, when no grid
    #: point has its scenario, an extra arm with id BASELINE_ARM. None only for a Sweep built
    #: by hand without one; then point 0 is the baseline, as before baselines existed.
    baseline: Point | None = None
    #: ``--set`` (key, value) pairs applied to the base scenario (recorded in the manifest).
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def varied(self) -> list[str]:
        return list(self.points[0].values) if self.points else []

    @property
    def arms(self) -> tuple[Point, ...]:
        """Every point that runs: the grid points, then the baseline if it is an extra arm."""
        if self.baseline is not None and self.baseline.point_id == BASELINE_ARM:
            return (*self.points, self.baseline)
        return self.points

    @property
    def baseline_id(self) -> int:
        return self.baseline.point_id if self.baseline is not None else 0

    def tasks(self) -> list[Task]:
        seed, reps = self.spec.seed, self.spec.replications
        out = []
        for p in self.arms:  # each map read and each scenario dumped once per point
            keys = run_keys(p.scenario, seed, reps, files_read(p.scenario))
            out += [Task(p.point_id, r, seed, p.scenario, keys[r]) for r in range(reps)]
        return out


def run_key(
    scenario: Scenario, seed: int, replication: int, files: dict[str, str] | None = None
) -> str:
    """Content address of a run: same resolved scenario, seed and replication, and the same
    bytes in every file the scenario reads (the map), same key. A file's path alone would let
    a resumed sweep reuse runs made before the file was edited. ``files`` is
    :func:`files_read` of the scenario when the caller already has it."""
    files = files_read(scenario) if files is None else files
    return run_keys(scenario, seed, replication + 1, files)[replication]


def run_keys(scenario: Scenario, seed: int, replications: int, files: dict[str, str]) -> list[str]:
    """:func:`run_key` of replications 0..n-1, dumping the scenario once."""

    # The JSON of {"files", "replication", "scenario", "seed"} with sorted keys, written
    # around the scenario's JSON so that the scenario is encoded once, not per replication.
    def text(value: Any) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    head = f'{{"files":{text(files)},' if files else "{"  # no files: keys stay as they were
    tail = f',"scenario":{text(scenario.model_dump(mode="json"))},"seed":{text(seed)}}}'
    return [
        hashlib.sha256(f'{head}"replication":{text(r)}{tail}'.encode()).hexdigest()[:20]
        for r in range(replications)
    ]


def files_read(scenario: Scenario) -> dict[str, str]:
    """key path -> SHA-256 of the content of each file the scenario reads."""
    out = {}
    if scenario.city.map_file is not None:
        path = scenario.city.map_file
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
        except OSError as err:
            raise ScenarioError(f"city.map_file: cannot read {path} ({err.strerror})") from None
        out["city.map_file"] = digest.hexdigest()
    if scenario.incidents.replay is not None:  # hashed when it was read (sim.model.replay)
        out["incidents.replay"] = scenario.replay.sha256
    return out


def design_points(spec: SweepSpec) -> list[dict[str, Scalar]]:
    """The varied values of every point: the grid's product, crossed with the LHS sample."""
    grid_keys = list(spec.grid)
    grid_values = [v.values() if isinstance(v, Span) else list(v) for v in spec.grid.values()]
    grid = [dict(zip(grid_keys, combo, strict=True)) for combo in itertools.product(*grid_values)]
    if spec.lhs is None:
        return grid
    keys = list(spec.lhs.ranges)
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(0xD5,)))
    u = qmc.LatinHypercube(d=len(keys), seed=rng).random(spec.lhs.samples)
    columns = [spec.lhs.ranges[k].scale(u[:, j]) for j, k in enumerate(keys)]
    sample = [dict(zip(keys, row, strict=True)) for row in zip(*columns, strict=True)]
    return [{**g, **s} for g in grid for s in sample]


def count_points(spec: SweepSpec) -> int:
    """Points of a sweep, counted without building them (a grid may multiply to 1e15)."""
    n = 1
    for v in spec.grid.values():
        n *= v.count() if isinstance(v, Span) else len(v)
    return n * (spec.lhs.samples if spec.lhs else 1)


def _largest_changes(spec: SweepSpec) -> dict[str, Any]:
    """Each varied number at its largest: the costliest point, for the work estimate."""
    top: dict[str, Any] = {}
    for key, v in spec.grid.items():
        values = [v.start, v.stop] if isinstance(v, Span) else v
        numbers = [x for x in values if isinstance(x, int | float) and not isinstance(x, bool)]
        if numbers:
            top[key] = max(numbers)
    for key, r in (spec.lhs.ranges if spec.lhs else {}).items():
        top[key] = math.floor(r.high) if r.integer else r.high
    return top


def load_sweep(
    path: str | Path, *, budget: budgets.Budget | None = None, workers: int = 1,
    overrides: Sequence[tuple[str, Any]] = (),
) -> Sweep:  # fmt: skip
    """Load a sweep file (or a shipped sweep by name) and validate it and every point's
    scenario before anything runs.

    The work the sweep asks for (points x replications, and its costliest point) is
    estimated before any point is built and refused over ``budget`` (see :mod:`sim.model.budget`).
    ``overrides``: ``--set`` (key, value) pairs applied to the base scenario, before the
    sweep's own ``set:`` and grid.
    """
    source = _show_path(path)
    path = locate(path, kind="sweep")
    raw = read_yaml_mapping(path, source)
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(format_validation_error(source, err)) from None
    check_path_text(spec.base, f"{source}: base")
    try:
        # The base is another file (or a shipped scenario by name): none of its text is
        # echoed (it may be any file).
        base_path = locate(spec.base, path.parent)
        # A shipped base is named by its name in messages, not by its path in the package.
        shipped = base_path != path.parent / spec.base
        base = load_scenario(spec.base if shipped else base_path, budget=budget, own=False,
                             overrides=overrides)  # fmt: skip
    except ScenarioError as err:
        raise ScenarioError(f"{source}: base: {err}") from None
    budget = budget or budgets.Budget.from_env()
    n_points = count_points(spec)
    try:
        worst = base.with_changes({**spec.set, **_largest_changes(spec)})
    except ScenarioError:
        worst = base  # an invalid point is reported below, point by point
    estimate = budgets.sweep_estimate(n_points, spec.replications, worst, workers)
    budgets.check(estimate, budget, source, "grid")
    points = []
    for i, values in enumerate(design_points(spec)):
        changes = {**spec.set, **values}
        try:
            scenario = base.with_changes(changes)
        except ScenarioError as err:
            detail = str(err).replace("<changes>: ", "")
            shown = ", ".join(f"{_short(k, 40)}: {_short(v, 40)}" for k, v in values.items())
            raise ScenarioError(f"{source}: point {i} {{{shown}}}: {detail}") from None
        points.append(Point(i, values, scenario))
    baseline = baseline_point(spec, base, points, source)
    if baseline is not None and baseline.point_id == BASELINE_ARM:
        # The extra arm is one more point to run, and may be costlier than the grid's
        # costliest (a baseline above every grid value): the budget counts both.
        arm = budgets.sweep_estimate(1, spec.replications, baseline.scenario, workers)
        both = budgets.Estimate(
            max(estimate.memory_bytes, arm.memory_bytes),  # workers hold one run at a time
            estimate.cpu_seconds + arm.cpu_seconds,
            f"{estimate.what}; and the baseline arm x {spec.replications:,} replications: "
            f"{budgets.replication_estimate(baseline.scenario).what}",
        )
        budgets.check(both, budget, source, "baseline")
    return Sweep(spec, path, base, tuple(points), baseline, tuple(overrides))


def _value_at(raw: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at the dotted key path ``path`` of a dumped scenario."""
    node = raw
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _kind_of_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list or mapping"


def _design_values(spec: SweepSpec, key: str) -> list[Any]:
    """The values the sweep file gives ``key`` (a grid list or span, or an LHS range)."""
    if key in spec.grid:
        v = spec.grid[key]
        return [v.start, v.stop] if isinstance(v, Span) else list(v)
    r = spec.lhs.ranges[key] if spec.lhs else None
    return [r.low, r.high] if r is not None else []


_PLAIN_KEY = re.compile(r"[a-z0-9_]{1,40}(\.[a-z0-9_]{1,40}){0,5}")


def baseline_point(
    spec: SweepSpec, base: Scenario, points: list[Point], source: str
) -> Point | None:
    """The arm every point is compared with: ``baseline:`` over the base scenario's own
    values of the varied keys (after ``set``). Checked strictly, each problem one error
    naming the file and ``baseline.<key>``: a key the sweep does not vary, a value of
    another kind than the key's grid values, a value the scenario refuses."""
    if not points:
        return None
    varied = list(points[0].values)
    own = base.with_changes(spec.set).model_dump(mode="python") if spec.set else None
    raw = own if own is not None else base.model_dump(mode="python")
    shown_varied = ", ".join(varied)
    for key, value in spec.baseline.items():
        # A plain key path is shown as written; anything else quoted and cut (it is echoed).
        shown = key if _PLAIN_KEY.fullmatch(key) else _short(key, 60)
        where = f"{source}: baseline.{shown}"
        if key not in varied:
            found, _ = _value_at(raw, key)
            what = "not varied by this sweep" if found else "unknown key"
            raise ScenarioError(f"{where}: {what}; baseline takes keys of grid or lhs "
                                f"({shown_varied})")  # fmt: skip
        want = {_kind_of_value(v) for v in _design_values(spec, key)}
        got = _kind_of_value(value)
        if got not in want:
            expected = " or ".join(sorted(want))
            raise ScenarioError(f"{where}: expected {expected} like the sweep's values of "
                                f"this key (got {_short(value, 40)})")  # fmt: skip
        if (
            isinstance(value, float)
            and not value.is_integer()
            and all(
                isinstance(v, int) and not isinstance(v, bool) for v in _design_values(spec, key)
            )
        ):
            raise ScenarioError(f"{where}: expected a whole number like the sweep's values "
                                f"of this key (got {_short(value, 40)})")  # fmt: skip
    values: dict[str, Scalar] = {}
    for key in varied:
        if key in spec.baseline:
            values[key] = spec.baseline[key]
        else:
            _, values[key] = _value_at(raw, key)
    try:
        scenario = base.with_changes({**spec.set, **values})
    except ScenarioError as err:
        lines = str(err).replace("<changes>: ", "").splitlines()
        raise ScenarioError("\n".join(f"{source}: baseline.{line}" for line in lines)) from None
    for p in points:  # a grid point with the same scenario is the baseline: no extra arm
        if p.scenario == scenario:
            return p
    return Point(BASELINE_ARM, values, scenario)
