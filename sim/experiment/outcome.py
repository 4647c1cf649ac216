"""One run's outcome, made where the run ran: its headline metrics and the bytes the sweep
store keeps. Workers call this so that the sweep driver only writes what comes back (issue
13: the driver's metrics and Parquet encoding were 90 % of its CPU per run)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.metrics import per_replication
from sim.experiment.sweep import Task

METRICS = ("compliance", "p50_s", "p90_s", "p95_s")


def run_metrics(incidents: pd.DataFrame, tiers=None) -> dict[str, float]:
    """One run's headline metrics: ``<tier>_<metric>`` for every tier on its own clock, plus
    counts (real incidents, probes, the share never reported)."""
    counted = incidents[~incidents["in_warmup"]]
    out: dict[str, float] = {
        "incidents": float((~counted["probe"]).sum()),
        "probes": float(counted["probe"].sum()),
        "never_reported_share": float(counted["alerted_s"].isna().mean())
        if len(counted)
        else np.nan,
        "open_share": float((counted["status"] == "open").mean()) if len(counted) else np.nan,
    }
    table = per_replication(incidents.assign(replication=0), tiers)
    for row in table[table["own_clock"]].itertuples(index=False):
        for metric in METRICS:
            value = getattr(row, metric)
            if not (row.tier == "joint" and metric != "compliance"):
                out[f"{row.tier}_{metric}"] = float(value)
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
        record.update(run_metrics(incidents, task.scenario.tiers))
    return record
