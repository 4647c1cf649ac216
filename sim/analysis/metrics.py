"""Metrics derived from incident records and the scenario's tier table.

All functions are pure: DataFrames in, DataFrames out. Definitions (docs/model.md,
"Definitions", says the same in words):

- A tier (:class:`sim.model.config.TierConfig`) counts the incidents of its class (sudden, routine
  or all; probes are sudden) whose kind calls for one of its responders, narrowed by its
  scope: ``all``; ``reported`` (an alert was raised); ``on_scene`` (one of its on-site
  responders was at the scene when it happened).
- A tier's time is the earliest arrival of any of its responders, measured on the tier's
  clock: from occurrence, from the alert, or from the first police dispatch. A counted
  incident the tier never reached has time ``inf``: a failure for compliance, and a percentile
  is ``inf`` ("never") when more than that share was never reached.
- ``joint``: an incident meets the standard when every tier that counts it is met.
- Outcome shares per tier, of the incidents of its class and kinds (before the
  ``reported`` condition): never reported; reported but still waiting at the end of the run;
  reported, cleared, and never reached by the tier.

Across replications each replication gives one value of each metric. Percentiles: their
mean with a Student-t 95 % interval. Proportions: the mean of the replication shares, with an
interval that stays honest at 0 and 1: the hull of the Student-t interval over replications
(which carries the between-replication spread: layouts, incidents, behaviour) and the Wilson
score interval of the pooled counts (which is never empty at 0 % or 100 %).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.stats import mean_ci, proportion_ci, wilson  # noqa: F401  (re-exported)
from sim.model.config import TierConfig
from sim.model.tiers import (  # noqa: F401  (re-exported: the definitions live in the model)
    ARRIVAL_COLUMN,
    CLOCK_COLUMN,
    PRESENT_COLUMN,
    _calls_for,
    _col,
    _has,
    _of_class_and_kind,
    _rows,
    arrival_s,
    as_tiers,
    clocks_of,
    counted,
    times_on_own_clock,
)

PERCENTILES = (50, 90, 95)
OUTCOMES = ("never_reported_share", "waiting_at_end_share", "never_reached_share")
CARRIED = ("kind", "land_use", "hour", "station_distance_m")


def tier_times(
    incidents: pd.DataFrame,
    tiers: Sequence[Any] | None = None,
    by: Sequence[str] = (),
    *,
    include_warmup: bool = False,
    all_clocks: bool = False,
    carry: bool = True,
) -> pd.DataFrame:
    """Long table: one row per (incident, tier[, clock]) the tier counts.

    Columns: replication (if present), incident_id, the carried columns (kind, land_use, hour,
    station_distance_m; not with ``carry`` False) and ``by``, tier, clock, own_clock (the
    tier's own clock), time_s (inf: never reached), met (within the tier's target). With
    ``all_clocks`` every clock the tier can be read on gets its rows; otherwise only the
    tier's own clock.
    """
    df = incidents
    # The warm-up is left out of each tier's rows, not copied out of the whole table first
    # (a city year's table has 2.5 million rows; a tier counts a few per cent of them).
    after = None if include_warmup else ~incidents["in_warmup"].to_numpy(bool)
    keep = [c for c in ("replication",) if c in df.columns] + ["incident_id"]
    carried = (c for c in CARRIED if carry and c in df.columns)
    keep = list(dict.fromkeys([*keep, *carried, *by]))
    parts = []
    for tier in as_tiers(tiers):
        mask = counted(df, tier)
        if after is not None:
            mask &= after
        sub = df.loc[mask, keep]
        arrived = arrival_s(df.loc[mask], tier)
        for clock in clocks_of(tier) if all_clocks else [tier.clock]:
            start = df.loc[mask, CLOCK_COLUMN[clock]].to_numpy(float)
            t = arrived - start
            part = sub.copy()
            part["tier"] = tier.name
            part["clock"] = clock
            part["own_clock"] = clock == tier.clock
            part["time_s"] = np.where(np.isnan(t), np.inf, t)
            part["met"] = part["time_s"].to_numpy() <= tier.target_s
            parts.append(part)
    if not parts:
        empty = df.loc[[], keep].assign(tier="", clock="", own_clock=False, time_s=0.0, met=False)
        return empty
    return pd.concat(parts, ignore_index=True)


def joint_compliance(incidents: pd.DataFrame, tiers=None, by: Sequence[str] = ()) -> pd.DataFrame:
    """Per incident: whether every tier that counts it met its target (own clocks)."""
    return _joint_from_times(tier_times(incidents, tiers, by), by)


def _joint_from_times(times: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    times = times.loc[times["own_clock"].astype(bool)]
    keys = [c for c in ("replication",) if c in times.columns] + ["incident_id"]
    carried = [c for c in dict.fromkeys([*CARRIED, *by]) if c not in keys and c in times.columns]
    joint = times.groupby(keys, sort=True, observed=True).agg(
        met=("met", "all"), **{c: (c, "first") for c in carried}
    )
    joint = joint.reset_index()
    joint["tier"] = "joint"
    joint["clock"] = "own"
    return joint


def per_replication(
    incidents: pd.DataFrame, tiers=None, by: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per (replication, *by, tier, clock): n, met (count), compliance, P50/P90/P95 (s).

    Every tier on every clock it can be read on; ``own_clock`` marks the tier's own. The
    ``joint`` tier (clock ``own``) has compliance only.
    """
    by = list(by or [])
    if "replication" not in incidents.columns:
        incidents = incidents.assign(replication=0)
    # Nothing here reads the carried columns (a city year: ~40 MB less at its summary).
    times = tier_times(incidents, tiers, by, all_clocks=True, carry=False)
    keys = ["replication", *by, "tier", "clock"]
    grouped = times.groupby(keys, sort=True, observed=True)
    table = grouped.agg(n=("time_s", "size"), met=("met", "sum"), own_clock=("own_clock", "first"))
    table = table.reset_index()
    table["compliance"] = table["met"] / table["n"]
    for p in PERCENTILES:
        table[f"p{p}_s"] = (
            grouped["time_s"].agg(lambda x, q=p / 100: empirical_quantile(x, q)).to_numpy()
        )
    joint = _joint_from_times(times, by)
    jt = joint.groupby(["replication", *by, "tier", "clock"], sort=True, observed=True)["met"]
    jt = jt.agg(n="size", met="sum").reset_index()
    jt["compliance"] = jt["met"] / jt["n"]
    jt["own_clock"] = True
    return pd.concat([table, jt], ignore_index=True)


def outcome_shares(incidents: pd.DataFrame, tiers=None) -> pd.DataFrame:
    """Per (replication, tier): of the incidents of the tier's class and kinds, the share
    never reported, reported but still waiting at the end, and reported, cleared and never
    reached by the tier. Columns: replication, tier, n, and the three shares."""
    if "replication" not in incidents.columns:
        incidents = incidents.assign(replication=0)
    df = incidents
    after = ~incidents["in_warmup"].to_numpy(bool)  # per tier, not a copy of the whole table
    rows = []
    for tier in as_tiers(tiers):
        mask = _of_class_and_kind(df, tier) & after
        sub = df.loc[mask]
        reported = sub["alerted_s"].notna().to_numpy()
        missed = np.isnan(arrival_s(sub, tier))
        still_open = (sub["status"] == "open").to_numpy()
        frame = pd.DataFrame({
            "replication": sub["replication"].to_numpy(),
            "never_reported_share": ~reported,
            "waiting_at_end_share": reported & missed & still_open,
            "never_reached_share": reported & missed & ~still_open,
        })  # fmt: skip
        agg = frame.groupby("replication", sort=True).agg(
            n=("never_reported_share", "size"), **{o: (o, "mean") for o in OUTCOMES}
        )
        rows.append(agg.reset_index().assign(tier=tier.name))
    if not rows:
        return pd.DataFrame(columns=["replication", "tier", "n", *OUTCOMES])
    return pd.concat(rows, ignore_index=True)


SUMMARY_COLUMNS = ["tier", "clock", "own_clock", "metric", "mean", "ci95_low", "ci95_high",
                   "ci95_half_width", "replications", "incidents"]  # fmt: skip


def across_replications(per_rep: pd.DataFrame, by: Sequence[str] | None = None) -> pd.DataFrame:
    """Tidy long summary: one row per (*by, tier, clock, metric): mean over replications and
    its 95 % interval (``ci95_low``, ``ci95_high``; ``ci95_half_width`` = half its width)."""
    by = list(by or [])
    metrics = ["compliance", *(f"p{p}_s" for p in PERCENTILES)]
    rows = []
    for key, grp in per_rep.groupby([*by, "tier", "clock"], sort=True, observed=True):
        n = grp["n"].to_numpy(dtype=float)
        for metric in metrics:
            if key[-2] == "joint" and metric != "compliance":
                continue
            values = grp[metric].to_numpy(dtype=float)
            if metric == "compliance":
                mean, low, high = proportion_ci(values, n)
            else:
                mean, half = mean_ci(values)
                low, high = mean - half, mean + half
            rows.append((*key, bool(grp["own_clock"].iloc[0]), metric, mean, low, high,
                         (high - low) / 2, len(grp), int(n.sum())))  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, *SUMMARY_COLUMNS])


def _outcome_rows(outcomes: pd.DataFrame, tiers: list[TierConfig]) -> pd.DataFrame:
    rows = []
    own = {t.name: t.clock for t in tiers}
    for tier, grp in outcomes.groupby("tier", sort=False):
        n = grp["n"].to_numpy(dtype=float)
        for metric in OUTCOMES:
            mean, low, high = proportion_ci(grp[metric].to_numpy(dtype=float), n)
            rows.append((tier, own[tier], True, metric, mean, low, high, (high - low) / 2,
                         len(grp), int(n.sum())))  # fmt: skip
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def summarise(incidents: pd.DataFrame, tiers=None) -> pd.DataFrame:
    """The run summary: all counted incidents, then by incident kind, then the outcome
    shares, as one tidy table (columns ``scope``, ``kind`` and :data:`SUMMARY_COLUMNS`)."""
    tiers = as_tiers(tiers)
    if "replication" not in incidents.columns:
        incidents = incidents.assign(replication=0)
    overall = across_replications(per_replication(incidents, tiers)).assign(scope="all", kind="")
    by_kind = across_replications(per_replication(incidents, tiers, ["kind"]), ["kind"])
    by_kind = by_kind.assign(scope="kind")
    outcomes = _outcome_rows(outcome_shares(incidents, tiers), tiers).assign(scope="all", kind="")
    cols = ["scope", "kind", *SUMMARY_COLUMNS]
    return pd.concat([overall[cols], by_kind[cols], outcomes[cols]], ignore_index=True)


def empirical_quantile(values, q: float) -> float:
    """The smallest sample value x with ECDF(x) >= q (no interpolation, so ``inf`` is exact)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return float("nan")
    return float(np.quantile(values, q, method="inverted_cdf"))


def ecdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF points (x sorted, F(x) = rank / n) including never-arrived as +inf."""
    x = np.sort(np.asarray(values, dtype=float))
    return x, np.arange(1, x.size + 1) / max(x.size, 1)


def tier_order(names) -> list[str]:
    """Distinct tier names in the order of the tiers of help (self, mutual, police, others,
    joint last), as every figure and table lists them."""
    rank = {"self": 0, "mutual": 1, "police": 2, "joint": 99}
    distinct = list(dict.fromkeys(names))
    return sorted(distinct, key=lambda t: (rank.get(t, 50), distinct.index(t)))
