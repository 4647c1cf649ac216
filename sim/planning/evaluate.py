"""Judge placements by simulation: base vs optimised vs random placements of the same budget.

Every arm is the same pinned layout (layout 0 of the seed, the scenario's own units at their
cells) with its own added sites, run over replications ``0..R-1`` of the same seed: the
incidents, probes and responder draws of replication ``r`` are the same in every arm (common
random numbers), so each arm's difference from the base is paired by replication
(:func:`sim.analysis.stats.paired_difference`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from sim.analysis.metrics import per_replication
from sim.analysis.stats import paired_difference
from sim.experiment.runner import simulate
from sim.model.config import Scenario
from sim.planning.candidates import PlanningLayout, cells_of

EVALUATION_COLUMNS = ["arm", "tier", "compliance", "diff_vs_base", "ci_low", "ci_high",
                      "diff_vs_random_mean", "ci_random_low", "ci_random_high",
                      "replications", "incidents", "added_sites"]  # fmt: skip


#: Police units on duty at each new police post.
UNITS_PER_POST = 1


def with_sites(
    layout: PlanningLayout, flat_cells: np.ndarray, name: str, kind: str = "meus"
) -> Scenario:
    """The pinned scenario with MEUs (or police posts: a station with
    :data:`UNITS_PER_POST` more units on duty each) added at these cells, after its own."""
    sc = layout.scenario
    added = cells_of(layout.city, flat_cells).tolist()
    if not added:
        return sc.with_changes({"name": name})
    if kind == "police_posts":
        return sc.with_changes({
            "name": name,
            "police.stations": sc.police.stations + len(added),
            "police.units": sc.police.units + UNITS_PER_POST * len(added),
            "police.station_cells": [*layout.station_cells.tolist(), *added],
        })  # fmt: skip
    return sc.with_changes({
        "name": name,
        "meus.count": sc.meus.count + len(added),
        "meus.site_cells": [*layout.base_cells.tolist(), *added],
    })  # fmt: skip


def arm_compliance(
    scenario: Scenario, seed: int, replications: int,
    progress: Callable[[], None] | None = None, first: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """Per (replication, tier): counted incidents, incidents within the target (``met``) and
    compliance on the tier's own clock (and ``joint``), as ``jiefang run`` reports them, for
    replications ``first .. first + replications - 1``."""
    frames = []
    for r in range(first, first + replications):
        inc = simulate(scenario, seed, r).incidents_table()
        inc.insert(0, "replication", r)
        frames.append(inc)
        if progress is not None:
            progress()
    table = per_replication(pd.concat(frames, ignore_index=True), scenario.tiers)
    table = table[table["own_clock"].astype(bool)]
    return table[["replication", "tier", "n", "met", "compliance"]].reset_index(drop=True)


def evaluation_table(per_rep: pd.DataFrame, added: dict[str, int]) -> pd.DataFrame:
    """One row per (arm, tier): mean compliance over replications and the paired difference
    from the base arm with its 95 % interval; ``random-mean`` is the mean of the random
    arms, replication by replication. The base and optimised arms also get their paired
    difference from ``random-mean`` (``diff_vs_random_mean``, ``ci_random_low``,
    ``ci_random_high``; NaN for the random arms). ``per_rep``: columns arm, replication,
    tier, n, compliance."""
    wide = per_rep.pivot_table(index=["tier", "replication"], columns="arm", values="compliance")
    counts = per_rep.groupby(["arm", "tier"])["n"].sum()
    randoms = [a for a in wide.columns if str(a).startswith("random-")]
    if randoms:
        wide["random-mean"] = wide[randoms].mean(axis=1)
    others = [a for a in per_rep["arm"].unique() if a != "base" and a not in randoms]
    arms = ["base", *others, *sorted(randoms, key=lambda a: int(a.split("-")[1]))]
    if randoms:
        arms.append("random-mean")
    rows = []
    for tier in wide.index.get_level_values("tier").unique():
        sub = wide.loc[tier]
        base = sub["base"].to_numpy(float)
        for arm in arms:
            values = sub[arm].to_numpy(float)
            diff, half = paired_difference(base, values)
            vs_random = (math.nan, math.nan)
            if randoms and not arm.startswith("random-"):
                vs_random = paired_difference(sub["random-mean"].to_numpy(float), values)
            if arm == "random-mean":  # counted incidents of one random arm, on average
                n = round(sum(counts.get((a, tier), 0) for a in randoms) / len(randoms))
            else:
                n = int(counts.get((arm, tier), 0))
            rows.append({
                "arm": arm, "tier": tier, "compliance": _mean_of_counted(values),
                "diff_vs_base": diff if arm != "base" else 0.0,
                "ci_low": diff - half if arm != "base" else 0.0,
                "ci_high": diff + half if arm != "base" else 0.0,
                "diff_vs_random_mean": vs_random[0],
                "ci_random_low": vs_random[0] - vs_random[1],
                "ci_random_high": vs_random[0] + vs_random[1],
                "replications": int(np.isfinite(values).sum()), "incidents": n,
                "added_sites": added.get(arm, 0),
            })  # fmt: skip
    return pd.DataFrame(rows, columns=EVALUATION_COLUMNS)


def _mean_of_counted(values: np.ndarray) -> float:
    """Mean over the replications where the tier counted an incident (NaN: none did, e.g. a
    tier no incident of the run calls for), without numpy's empty-slice warning."""
    counted = values[~np.isnan(values)]
    return float(counted.mean()) if counted.size else math.nan


def optimised_vs_random(per_rep: pd.DataFrame) -> pd.DataFrame:
    """Per tier: the optimised arm minus the mean of the random arms, paired by replication
    (mean and 95 % interval)."""
    wide = per_rep.pivot_table(index=["tier", "replication"], columns="arm", values="compliance")
    randoms = [a for a in wide.columns if str(a).startswith("random-")]
    rows = []
    for tier in wide.index.get_level_values("tier").unique():
        sub = wide.loc[tier]
        if not randoms:
            continue
        diff, half = paired_difference(
            sub[randoms].mean(axis=1).to_numpy(float), sub["optimised"].to_numpy(float)
        )
        rows.append({"tier": tier, "diff": diff, "ci_low": diff - half, "ci_high": diff + half})
    return pd.DataFrame(rows, columns=["tier", "diff", "ci_low", "ci_high"])
