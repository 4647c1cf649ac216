"""Equity: how the worst places fare against the rest, per tier.

Two comparisons per tier (and the joint standard), each on the tier's own clock over the
incidents it counts after the warm-up:

- ``worst_zones``: the worst decile of planning zones (the tenth, at least one, of the zones
  with at least ``min_incidents`` counted incidents, lowest pooled compliance first) against
  every other zone. The decile is picked from the same run it is measured on, so its gap is
  the gap of the zones that did worst here (a selection the interval does not undo); in
  :func:`equity_change` the zones are picked from run A and held fixed for B.
- ``land_use``: incidents in the focus land use (urban villages by default) against the rest.

Per replication, each group's share met (no share where the group or the rest has fewer
than ``min_incidents`` counted incidents in all: ``too_few``); the group's compliance is the
mean over
replications with the summary's interval (:func:`sim.analysis.stats.proportion_ci`), and the
gap (group minus rest) is the mean of the per-replication gaps with its paired Student-t
interval, clipped to [-1, 1]. :func:`equity_change` gives B minus A of each group's share,
paired by replication (common random numbers: the same seeds saw the same incidents).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from sim.analysis.breakdown import (
    Settings,
    city_zones,
    focus_land_use,
    own_clock_times,
    with_zones,
)
from sim.analysis.stats import paired_difference, proportion_ci

#: Share of eligible zones in the worst group.
WORST_SHARE = 0.1
COLUMNS = ["tier", "clock", "comparison", "group", "zones", "group_incidents", "rest_incidents",
           "group_compliance", "group_ci95_low", "group_ci95_high", "rest_compliance",
           "rest_ci95_low", "rest_ci95_high", "gap", "gap_ci95_low", "gap_ci95_high",
           "pairs", "too_few"]  # fmt: skip


def worst_zones(area: pd.DataFrame, tier: str) -> list[int]:
    """Zone ids of the worst decile for ``tier`` in a breakdown_area table (empty when fewer
    than two zones have enough incidents: no rest to compare with)."""
    rows = area[(area["tier"] == tier) & ~area["too_few"].astype(bool)]
    if len(rows) < 2:
        return []
    k = max(1, math.ceil(WORST_SHARE * len(rows)))
    rows = rows.sort_values(["compliance", "incidents"], ascending=[True, False], kind="stable")
    return [int(z) for z in rows["zone"].head(k)]


def _per_replication(times: pd.DataFrame, inside: np.ndarray, reps: np.ndarray):
    """Per replication in ``reps``: (n, met) inside the group and outside it."""
    r = times["replication"].to_numpy()
    met = times["met"].to_numpy(bool)
    index = {int(x): i for i, x in enumerate(reps)}
    at = np.array([index[int(x)] for x in r], dtype=np.int64) if len(r) else np.zeros(0, int)
    out = []
    for mask in (inside, ~inside):
        n = np.bincount(at[mask], minlength=len(reps)).astype(float)
        m = np.bincount(at[mask], weights=met[mask].astype(float), minlength=len(reps))
        out.append((n, m))
    return out


def _share(n: np.ndarray, met: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, met / np.maximum(n, 1), np.nan)


def _row(tier: str, clock: str, comparison: str, group: str, zones: str, parts,
         min_incidents: int) -> tuple:  # fmt: skip
    (n_in, m_in), (n_out, m_out) = parts
    s_in, s_out = _share(n_in, m_in), _share(n_out, m_out)
    few = min(n_in.sum(), n_out.sum()) < min_incidents
    if few:  # a share of so few is noise: the row says so instead
        s_in = s_out = np.full(len(n_in), np.nan)
    g = proportion_ci(s_in, n_in)
    r = proportion_ci(s_out, n_out)
    gap, half = paired_difference(s_out, s_in)  # group minus rest, within each replication
    low, high = (max(gap - half, -1.0), min(gap + half, 1.0)) if math.isfinite(half) else (
        math.nan, math.nan)  # fmt: skip
    pairs = int(np.count_nonzero(np.isfinite(s_in) & np.isfinite(s_out)))
    return (tier, clock, comparison, group, zones, int(n_in.sum()), int(n_out.sum()), *g, *r,
            gap, low, high, pairs, bool(few))  # fmt: skip


def _times(incidents: pd.DataFrame, tiers, cells: pd.DataFrame, settings: Settings):
    zones = city_zones(cells, settings.zone_cells)
    inc = with_zones(incidents, zones)
    return own_clock_times(inc, tiers, ["zone", "land_use"])


def equity_table(
    incidents: pd.DataFrame, tiers, cells: pd.DataFrame, settings: Settings, area: pd.DataFrame
) -> pd.DataFrame:
    """Per tier (and joint), the worst decile of zones and the focus land use against the
    rest (columns :data:`COLUMNS`; see the module docstring). ``area``: the run's
    breakdown_area table (it picks the worst zones)."""
    focus = focus_land_use(cells, settings.focus_land_use)
    times = _times(incidents, tiers, cells, settings)
    reps = np.unique(times["replication"].to_numpy()) if len(times) else np.zeros(0, int)
    rows = []
    for (tier, clock), sub in times.groupby(["tier", "clock"], sort=False):
        worst = worst_zones(area, str(tier))
        if worst:
            inside = sub["zone"].isin(worst).to_numpy()
            label = f"worst {len(worst)} of {_eligible(area, str(tier))} zones"
            rows.append(_row(str(tier), str(clock), "worst_zones", label,
                             ",".join(map(str, worst)), _per_replication(sub, inside, reps),
                             settings.min_incidents))  # fmt: skip
        if focus is not None:
            inside = (sub["land_use"].astype(str) == focus).to_numpy()
            rows.append(
                _row(
                    str(tier),
                    str(clock),
                    "land_use",
                    focus,
                    "",
                    _per_replication(sub, inside, reps),
                    settings.min_incidents,
                )
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def _eligible(area: pd.DataFrame, tier: str) -> int:
    return int(((area["tier"] == tier) & ~area["too_few"].astype(bool)).sum())


CHANGE_COLUMNS = ["tier", "clock", "comparison", "group", "zones", "a", "b", "difference",
                  "ci95_low", "ci95_high", "pairs"]  # fmt: skip


def equity_change(
    a: pd.DataFrame,
    b: pd.DataFrame,
    tiers,
    cells: pd.DataFrame,
    settings: Settings,
    area_a: pd.DataFrame,
) -> pd.DataFrame:
    """B minus A for the worst places: per tier, the compliance of A's worst decile of zones
    (held fixed) and of the focus land use, in A and in B (means over the replications
    both have incidents there), and B - A paired by replication with its 95 % interval
    (clipped to [-1, 1]); also the rest of the city for contrast."""
    focus = focus_land_use(cells, settings.focus_land_use)
    ta, tb = _times(a, tiers, cells, settings), _times(b, tiers, cells, settings)
    reps = np.union1d(ta["replication"].to_numpy(), tb["replication"].to_numpy())
    rows = []
    for (tier, clock), sa in ta.groupby(["tier", "clock"], sort=False):
        sb = tb[(tb["tier"] == tier) & (tb["clock"] == clock)]
        groups = []
        worst = worst_zones(area_a, str(tier))
        if worst:
            ids = ",".join(map(str, worst))
            groups.append(
                (
                    "worst_zones",
                    f"A's worst {len(worst)} zones",
                    ids,
                    lambda t, w=worst: t["zone"].isin(w),
                )
            )
        if focus is not None:
            groups.append(("land_use", focus, "",
                           lambda t, f=focus: t["land_use"].astype(str) == f))  # fmt: skip
        for comparison, label, zones, pick in groups:
            for name, flip in ((label, False), (f"rest of the city ({comparison})", True)):
                shares = []
                for t in (sa, sb):
                    inside = pick(t).to_numpy()
                    parts = _per_replication(t, ~inside if flip else inside, reps)
                    shares.append(_share(*parts[0]))
                diff, half = paired_difference(shares[0], shares[1])
                low, high = (max(diff - half, -1.0), min(diff + half, 1.0)) \
                    if math.isfinite(half) else (math.nan, math.nan)  # fmt: skip
                both = np.isfinite(shares[0]) & np.isfinite(shares[1])
                pairs = int(np.count_nonzero(both))
                # A and B over the replications paired, so that B - A is their difference.
                rows.append((str(tier), str(clock), comparison, name, zones,
                             float(shares[0][both].mean()) if pairs else math.nan,
                             float(shares[1][both].mean()) if pairs else math.nan,
                             diff, low, high, pairs))  # fmt: skip
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)
