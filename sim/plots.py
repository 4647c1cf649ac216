"""Figures drawn from result tables alone (never from a live model).

Tier colours come from the Okabe-Ito colour-blind-safe palette and are the same in every
figure.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.metrics import TARGETS, ecdf, tier_times
from sim.store import atomic_write_bytes

TIER_COLOURS = {"self": "#E69F00", "mutual": "#0072B2", "police": "#009E73", "joint": "#CC79A7"}
TIER_LABELS = {
    "self": "self-rescue (1 min)",
    "mutual": "mutual rescue (3 min)",
    "police": "police on site (5 min)",
}


def ecdf_series(incidents: pd.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per tier, the pooled ECDF points (minutes, share) that the figure draws."""
    times = tier_times(incidents)
    return {
        tier: ecdf(times.loc[times["tier"] == tier, "time_s"].to_numpy() / 60.0)
        for tier in TIER_LABELS
        if (times["tier"] == tier).any()
    }


def response_ecdf(incidents: pd.DataFrame, title: str, max_minutes: float = 20.0):
    """ECDF of time to each tier from occurrence, with the 1/3/5-minute marks."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    for tier, (x, _) in ecdf_series(incidents).items():
        colour = TIER_COLOURS[tier]
        step_ecdf(ax, x, max_minutes, color=colour, lw=2, label=TIER_LABELS[tier])
        mark = TARGETS[tier] / 60.0
        share = float(np.mean(x <= mark)) if x.size else float("nan")
        ax.axvline(mark, color=colour, lw=1, ls="--", alpha=0.8)
        ax.annotate(
            f"{share:.0%}", (mark, share), xytext=(4, -12), textcoords="offset points",
            color=colour, fontsize=9, fontweight="bold",
        )  # fmt: skip
    ax.set_xlim(0, max_minutes)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time from occurrence (minutes)")
    ax.set_ylabel("share of incidents helped")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", frameon=True)
    fig.tight_layout()
    return fig


def step_ecdf(ax, values: np.ndarray, right: float | None = None, **style) -> None:
    """Draw the empirical CDF of ``values`` (inf = never) as a step line from 0 to ``right``."""
    x, f = ecdf(values)
    finite = np.isfinite(x)
    if right is None:
        right = float(x[finite].max()) if finite.any() else 1.0
    top = f[finite][-1] if finite.any() else 0.0
    xs = np.concatenate([[0.0], x[finite], [right]])
    fs = np.concatenate([[0.0], f[finite], [top]])
    ax.step(xs, fs, where="post", **style)


def save_figure(fig, path: Path) -> None:
    """Write a figure atomically; the format follows the suffix (.png or .svg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip("."))
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
