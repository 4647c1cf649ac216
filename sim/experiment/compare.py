"""Compare two runs: the difference of each metric with its 95 % CI, and overlaid ECDFs.

Runs with the same seed and replications saw the same incidents when their city and
incident settings agree (common random numbers): the difference is then paired by
replication (paired t). Otherwise the replications are independent (Welch t).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sim.analysis.metrics import as_tiers, per_replication, tier_times
from sim.analysis.plots import plt, step_ecdf, tier_colour, tier_label
from sim.analysis.stats import paired_difference, welch_difference
from sim.experiment.results import open_run

METRICS = ("compliance", "p50_s", "p90_s")


def _load(folder: Path) -> tuple[pd.DataFrame, dict]:
    run = open_run(folder)
    return run.incidents, run.manifest


def same_incidents(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    cols = ["replication", "incident_id", "occurred_s", "x_m", "y_m", "kind"]
    if len(a) != len(b):
        return False
    return a[cols].reset_index(drop=True).equals(b[cols].reset_index(drop=True))


def compare(folder_a: Path, folder_b: Path) -> tuple[pd.DataFrame, bool]:
    """Table of (tier, metric, a mean, b mean, difference b - a, CI half-width, method).

    Only tiers defined alike in both runs are compared (name, target, responders, clock,
    scope: runs may measure different tier tables), and ``joint`` only when the two tables
    are the same; ``table.attrs["not_compared"]`` says what was left out."""
    inc_a, meta_a = _load(folder_a)
    inc_b, meta_b = _load(folder_b)
    paired = same_incidents(inc_a, inc_b)
    tiers_a, tiers_b = _tiers(meta_a), _tiers(meta_b)
    pa, pb = per_replication(inc_a, tiers_a), per_replication(inc_b, tiers_b)
    pa, pb = pa[pa["own_clock"]], pb[pb["own_clock"]]
    table_a, table_b = as_tiers(tiers_a), as_tiers(tiers_b)
    names = [t.name for t in table_a if t in table_b]
    left_out = (
        [t.name for t in table_a if t not in table_b],
        [t.name for t in table_b if t not in table_a],
    )
    rows = []
    for tier in [*names, *(["joint"] if table_a == table_b else [])]:
        for metric in METRICS:
            if tier == "joint" and metric != "compliance":
                continue
            x = pa[pa.tier == tier].set_index("replication")[metric].astype(float)
            y = pb[pb.tier == tier].set_index("replication")[metric].astype(float)
            if x.empty or y.empty:
                continue
            diff, half, method = _difference(x, y, paired)
            rows.append({
                "tier": tier, "metric": metric, "a": x.mean(), "b": y.mean(),
                "difference": diff, "ci95_half_width": half, "method": method,
            })  # fmt: skip
    table = pd.DataFrame(rows)
    if any(left_out):
        table.attrs["not_compared"] = (
            f"tier tables differ: not compared (A only: {', '.join(left_out[0]) or 'none'}; "
            f"B only: {', '.join(left_out[1]) or 'none'}; a tier of one name defined apart "
            "is in both lists), nor joint"
        )
    return table, paired


def _tiers(meta: dict):
    return (meta.get("scenario") or {}).get("tiers")


def _difference(x: pd.Series, y: pd.Series, paired: bool) -> tuple[float, float, str]:
    """``y - x`` with its 95 % half-width: paired t by replication, else Welch t."""
    if paired:
        diff, half = paired_difference(x.reindex(y.index).to_numpy(), y.to_numpy())
        return diff, half, "paired t"
    diff, half = welch_difference(x.to_numpy(), y.to_numpy())
    return diff, half, "Welch t"


def overlay_ecdf(folder_a: Path, folder_b: Path, labels: tuple[str, str]):

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
    marks = set()
    for folder, label, style in ((folder_a, labels[0], "--"), (folder_b, labels[1], "-")):
        inc, meta = _load(folder)
        tiers = _tiers(meta)
        t = tier_times(inc, tiers)
        for tier in as_tiers(tiers):
            marks.add(tier.target_s / 60)
            v = t.loc[t.tier == tier.name, "time_s"].to_numpy() / 60
            if v.size:
                step_ecdf(ax, v, 20.0, color=tier_colour(tier.name, tiers), ls=style, lw=1.8,
                          label=f"{label}: {tier_label(tier.name, tiers)}")  # fmt: skip
    for minutes in sorted(marks):
        ax.axvline(minutes, color="grey", lw=0.8, ls=":")
    ax.set_xlim(0, 20)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time on each tier's clock (minutes)")
    ax.set_ylabel("share of incidents helped")
    ax.set_title(f"{labels[0]} (dashed) against {labels[1]} (solid)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
