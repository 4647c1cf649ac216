"""One run's outcome, made where the run ran: its headline metrics and the bytes the sweep
store keeps. Workers call this so that the sweep driver only writes what comes back (issue
13: the driver's metrics and Parquet encoding were 90 % of its CPU per run)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.breakdown import DEFAULT_FOCUS
from sim.analysis.equity import WORST_SHARE
from sim.analysis.metrics import (
    _of_class_and_kind,
    as_tiers,
    counted,
    empirical_quantile,
    per_replication,
    times_on_own_clock,
)
from sim.experiment.sweep import Task
from sim.model.zones import default_zone_cells

METRICS = ("compliance", "p50_s", "p90_s", "p95_s")
#: Equity measures of a sweep run (issue 25): the worst decile of zones and the focus land
#: use, each tier's share met over the incidents of its kinds there (fixed denominators).
EQUITY_MEASURES = ("worst_zones_share", "focus_share")
#: Every per-tier measure a sweep's tables carry.
SWEEP_MEASURES = (*METRICS, *EQUITY_MEASURES)


class _Columns(dict):
    """The incidents past the warm-up as arrays, each column taken when first read (the
    tiers' rules, sim.model.tiers, take a mapping of arrays): they read columns one at a
    time, and on a run of a few hundred incidents a DataFrame's column access cost more than
    the rules (a sweep's run, 13 of 70 ms under cProfile)."""

    def __init__(self, incidents: pd.DataFrame) -> None:
        super().__init__()
        self.frame = incidents
        self.keep = ~incidents["in_warmup"].to_numpy(bool)
        self.rows = int(np.count_nonzero(self.keep))

    def __missing__(self, name: str) -> np.ndarray:
        value = self[name] = np.asarray(self.frame[name])[self.keep]
        return value

    def __contains__(self, name: object) -> bool:
        return name in self.frame.columns


def run_metrics(incidents: pd.DataFrame, tiers=None, places=None) -> dict[str, float]:
    """One run's headline metrics: ``<tier>_<metric>`` for every tier on its own clock, plus
    counts (real incidents, probes, the share never reported). With ``places`` (the
    scenario), also the equity measures :data:`EQUITY_MEASURES`."""
    cols = _Columns(incidents)
    out = _headline(incidents, tiers, cols)
    if places is not None:
        out |= _equity(cols, tiers, places)
    return out


def _headline(incidents: pd.DataFrame, tiers, cols: _Columns) -> dict[str, float]:
    probe = cols["probe"].astype(bool)
    out: dict[str, float] = {
        "incidents": float(np.count_nonzero(~probe)),
        "probes": float(np.count_nonzero(probe)),
        "never_reported_share": float(np.isnan(cols["alerted_s"].astype(float)).mean())
        if cols.rows
        else np.nan,
        "open_share": float((cols["status"] == "open").mean()) if cols.rows else np.nan,
    }
    fast = _own_clock_metrics(cols, tiers)
    if fast is not None:
        return _fixed_denominators(out | fast, cols, tiers)
    table = per_replication(incidents.assign(replication=0), tiers)
    for row in table[table["own_clock"]].itertuples(index=False):
        for metric in METRICS:
            value = getattr(row, metric)
            if not (row.tier == "joint" and metric != "compliance"):
                out[f"{row.tier}_{metric}"] = float(value)
    return _fixed_denominators(out, cols, tiers)


def _fixed_denominators(out: dict[str, float], df: _Columns, tiers) -> dict[str, float]:
    """A sweep's shares keep a fixed denominator: ``<tier>_compliance`` becomes the share of
    the incidents of the tier's class and kinds (``<tier>_incidents``, before its scope:
    present on scene, reported) that it reached within its target. An incident outside the
    scope counts as not met, so more staff (more incidents with someone on scene) can never
    show as less self-rescue; the run summary's share of the scope is ``<tier>_compliance``
    divided by ``<tier>_scope_share``. The joint standard: of the incidents some tier applies to,
    those every such tier counted and met."""
    union = np.zeros(df.rows, bool)
    joint_ok = np.ones(df.rows, bool)
    for tier in as_tiers(tiers):
        of_kind, met = _reached(df, tier)
        mask = counted(df, tier)
        union |= of_kind
        joint_ok &= ~of_kind | met
        key = f"{tier.name}_compliance"
        if key in out:
            n = int(np.count_nonzero(of_kind))
            out[key] = float(np.count_nonzero(met) / n)
            out[f"{tier.name}_incidents"] = float(n)
            out[f"{tier.name}_scope_share"] = float(np.count_nonzero(mask) / n)
    if "joint_compliance" in out:
        n = int(np.count_nonzero(union))
        out["joint_compliance"] = float(np.count_nonzero(joint_ok & union) / n)
        out["joint_incidents"] = float(n)
    return out


def _own_clock_metrics(df: _Columns, tiers) -> dict[str, float] | None:
    """``<tier>_<metric>`` of one run straight from the columns, the same numbers in the
    same order as :func:`per_replication`'s own-clock rows (tiers by name, then joint; a
    tier that counts nothing has none), at a fraction of the cost: per_replication builds a
    long table of every tier on every clock and groups it, 45 % of a week's run in a
    worker. None when incident ids repeat (per_replication would merge them)."""
    ids = df["incident_id"]
    if len(np.unique(ids)) != len(ids):
        return None
    per_tier: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for tier in as_tiers(tiers):
        if tier.name == "joint" or tier.name in per_tier:
            return None  # names the long table would merge with another row
        mask = counted(df, tier)
        if mask.any():
            time_s = times_on_own_clock(df, tier)
            per_tier[tier.name] = (mask, time_s)
    out: dict[str, float] = {}
    joint_met = np.ones(df.rows, bool)
    joint_counted = np.zeros(df.rows, bool)
    targets = {t.name: t.target_s for t in as_tiers(tiers)}
    for name in sorted(per_tier):
        mask, time_s = per_tier[name]
        met = time_s <= targets[name]
        out[f"{name}_compliance"] = float(np.count_nonzero(met) / len(met))
        for metric in METRICS[1:]:
            out[f"{name}_{metric}"] = empirical_quantile(time_s, int(metric[1:3]) / 100)
        joint_met[np.flatnonzero(mask)[~met]] = False
        joint_counted |= mask
    if joint_counted.any():
        n = np.count_nonzero(joint_counted)
        out["joint_compliance"] = float(np.count_nonzero(joint_met & joint_counted) / n)
    return out


def _reached(df: _Columns, tier) -> tuple[np.ndarray, np.ndarray]:
    """(incidents of the tier's class and kinds, those it counted and met within target).
    The first ignores the tier's scope (present on scene, reported): staffing changes it."""
    of_kind = _of_class_and_kind(df, tier.model_copy(update={"scope": "all"}))
    mask = counted(df, tier)
    met = np.zeros(df.rows, bool)
    if mask.any():
        met[mask] = times_on_own_clock(df, tier) <= tier.target_s
    return of_kind, met


def _equity(df: _Columns, tiers, scenario) -> dict[str, float]:
    """``<tier>_worst_zones_share``: of the incidents of the tier's kinds in this run's worst
    tenth of planning zones (zones with at least breakdown.min_incidents of them, at least
    one zone; lowest share first), the share met; ``<tier>_focus_share``: the same in the
    focus land use (urban villages by default). NaN where there are not enough."""
    settings = scenario.breakdown
    size = settings.zone_cells or default_zone_cells(scenario.city.cell_size_m)
    zone_m = size * scenario.city.cell_size_m
    col = np.floor_divide(np.asarray(df["x_m"], float), zone_m).astype(np.int64)
    row = np.floor_divide(np.asarray(df["y_m"], float), zone_m).astype(np.int64)
    zone = row * (int(col.max(initial=0)) + 1) + col
    focus = np.asarray(df["land_use"]).astype(str) == (settings.focus_land_use or DEFAULT_FOCUS)
    out: dict[str, float] = {}
    for tier in as_tiers(tiers):
        of_kind, met = _reached(df, tier)
        if not of_kind.any():
            continue
        n = pd.Series(of_kind.astype(int)).groupby(zone).sum()
        m = pd.Series((met & of_kind).astype(int)).groupby(zone).sum()
        ok = n >= settings.min_incidents
        share = (m[ok] / n[ok]).sort_values(kind="stable")
        worst = share.index[: max(1, math.ceil(WORST_SHARE * len(share)))] if len(share) > 1 \
            else []  # fmt: skip
        inside = np.isin(zone, np.asarray(worst, dtype=np.int64)) & of_kind
        out[f"{tier.name}_worst_zones_share"] = (
            float(np.count_nonzero(met & inside) / np.count_nonzero(inside))
            if inside.any() else math.nan
        )  # fmt: skip
        where = focus & of_kind
        enough = np.count_nonzero(where) >= settings.min_incidents
        out[f"{tier.name}_focus_share"] = (
            float(np.count_nonzero(met & where) / np.count_nonzero(where)) if enough else math.nan
        )
    return out


def run_record(
    task: Task, error: str | None, wall_s: float, incidents: pd.DataFrame | None
) -> dict:
    """The one-row record of a run: who it is, how it ended, and its metrics."""
    record: dict[str, Any] = {
        "key": task.key,
        "point_id": task.point_id,
        "replication": task.replication,
        "seed": task.seed,
        "status": "ok" if error is None else "error",
        "error": error or "",
        "wall_s": wall_s,
    }
    if incidents is not None:
        record.update(run_metrics(incidents, task.scenario.tiers, task.scenario))
    return record
