"""Metrics derived from incident records: tier times, percentiles, 1-3-5 compliance, CIs.

All functions are pure: DataFrames in, DataFrames out. Every tier time is measured from the
incident's occurrence (the victim's wait, detection included). An incident where a tier
applies but never arrived counts as a failure of that tier, and as an infinite time in
percentiles (so a percentile is ``inf`` when more than that share never got the tier).

Statistics across replications: each replication gives one value of each metric; the
summary is their mean with a Student-t 95 % confidence half-width (replications are
independent; NaN when there is only one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from sim.vocab import TIER_TARGET_S, Tier

#: Tier -> (record column holding its arrival time, column telling whether it applies).
TIERS = {
    Tier.SELF.value: ("self_rescue_s", "self_rescue_applies"),
    Tier.MUTUAL.value: ("mutual_s", "mutual_applies"),
    Tier.POLICE.value: ("first_police_s", "police_applies"),
}
TARGETS = {t.value: s for t, s in TIER_TARGET_S.items()}
PERCENTILES = (50, 90, 95)


def tier_times(incidents: pd.DataFrame, by: list[str] | tuple = ()) -> pd.DataFrame:
    """Long table: one row per (incident, applicable tier) with its time from occurrence, s.

    Columns: replication (if present), incident_id, kind, tier, time_s (inf: never arrived),
    met (bool: within the tier's target), plus land_use, hour, station_distance_m and any
    further record columns named in ``by``. Incidents in the warm-up are dropped.
    """
    df = incidents[~incidents["in_warmup"]].copy()
    df["mutual_s"] = df[["first_meu_s", "first_volunteer_s"]].min(axis=1, skipna=True)
    df["police_applies"] = df["police_needed"] > 0
    keep = [c for c in ("replication",) if c in df.columns]
    keep += ["incident_id", "kind", "land_use", "hour", "station_distance_m"]
    keep += [c for c in by if c not in keep]
    parts = []
    for tier, (col, applies) in TIERS.items():
        part = df.loc[df[applies], keep].copy()
        t = (df.loc[df[applies], col] - df.loc[df[applies], "occurred_s"]).to_numpy()
        part["tier"] = tier
        part["time_s"] = np.where(np.isnan(t), np.inf, t)
        part["met"] = part["time_s"] <= TARGETS[tier]
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    return out


def joint_compliance(incidents: pd.DataFrame, by: list[str] | tuple = ()) -> pd.DataFrame:
    """Per incident: whether every applicable tier met its target (the full 1-3-5 standard)."""
    return _joint_from_times(tier_times(incidents, by), by)


def _joint_from_times(times: pd.DataFrame, by: list[str] | tuple) -> pd.DataFrame:
    keys = [c for c in ("replication",) if c in times.columns] + ["incident_id"]
    carried = ["kind", "land_use", "hour", "station_distance_m"]
    carried += [c for c in by if c not in carried]
    joint = times.groupby(keys, sort=True, observed=True).agg(
        met=("met", "all"), **{c: (c, "first") for c in carried}
    )
    joint = joint.reset_index()
    joint["tier"] = "joint"
    return joint


def per_replication(incidents: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """One row per (replication, *by, tier): n, compliance, P50/P90/P95 (s).

    The ``joint`` tier has compliance only.
    """
    by = list(by or [])
    if "replication" not in incidents.columns:
        incidents = incidents.assign(replication=0)
    times = tier_times(incidents, by)
    keys = ["replication", *by, "tier"]
    rows = times.groupby(keys, sort=True, observed=True)["time_s"]
    table = rows.agg(n="size").reset_index()
    table["compliance"] = times.groupby(keys, sort=True, observed=True)["met"].mean().to_numpy()
    for p in PERCENTILES:
        table[f"p{p}_s"] = rows.agg(lambda x, q=p / 100: empirical_quantile(x, q)).to_numpy()
    joint = _joint_from_times(times, by)
    jt = joint.groupby(["replication", *by, "tier"], sort=True, observed=True)["met"]
    jt = jt.agg(["size", "mean"])
    jt = jt.reset_index().rename(columns={"size": "n", "mean": "compliance"})
    return pd.concat([table, jt], ignore_index=True)


def across_replications(per_rep: pd.DataFrame, by: list[str] | None = None) -> pd.DataFrame:
    """Tidy long summary: one row per (*by, tier, metric) with mean and 95 % CI half-width."""
    by = list(by or [])
    metrics = ["compliance", *(f"p{p}_s" for p in PERCENTILES)]
    long = per_rep.melt(
        id_vars=["replication", *by, "tier", "n"], value_vars=metrics, var_name="metric"
    ).dropna(subset=["value"], how="all")
    long = long[~((long["tier"] == "joint") & (long["metric"] != "compliance"))]
    rows = []
    for key, grp in long.groupby([*by, "tier", "metric"], sort=True):
        mean, half = mean_ci(grp["value"].to_numpy(dtype=float))
        rows.append((*key, mean, half, len(grp), int(grp["n"].sum())))
    cols = [*by, "tier", "metric", "mean", "ci95_half_width", "replications", "incidents"]
    return pd.DataFrame(rows, columns=cols)


def empirical_quantile(values, q: float) -> float:
    """The smallest sample value x with ECDF(x) >= q (no interpolation, so ``inf`` is exact)."""
    return float(np.quantile(np.asarray(values, dtype=float), q, method="inverted_cdf"))


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Mean and Student-t confidence half-width of independent replication values."""
    values = np.asarray(values, dtype=float)
    n = values.size
    if n == 0:
        return float("nan"), float("nan")
    mean = float(np.mean(values))
    if n < 2 or not np.all(np.isfinite(values)):
        return mean, float("nan")
    sd = float(np.std(values, ddof=1))
    return mean, float(stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n))


def summarise(incidents: pd.DataFrame) -> pd.DataFrame:
    """The run summary: all incidents, then by incident kind, as one tidy table."""
    if "replication" not in incidents.columns:
        incidents = incidents.assign(replication=0)
    overall = across_replications(per_replication(incidents)).assign(scope="all", kind="")
    by_kind = across_replications(per_replication(incidents, ["kind"]), ["kind"])
    by_kind = by_kind.assign(scope="kind")
    cols = ["scope", "kind", "tier", "metric", "mean", "ci95_half_width", "replications",
            "incidents"]  # fmt: skip
    return pd.concat([overall[cols], by_kind[cols]], ignore_index=True)


def ecdf(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical CDF points (x sorted, F(x) = rank / n) including never-arrived as +inf."""
    x = np.sort(np.asarray(values, dtype=float))
    return x, np.arange(1, x.size + 1) / max(x.size, 1)
