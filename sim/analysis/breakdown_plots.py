"""Figures of the breakdown tables (sim.analysis.breakdown): per tier, a map of compliance by
planning zone (counts beside it, zones under the minimum count hatched) and an hour-of-day
profile with its 95 % band. Drawn from the tables alone."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sim.analysis.plots import tier_colour, tier_label


def _figure(figsize: tuple[float, float]) -> Figure:
    """A figure pyplot does not hold: a report draws two per tier, and pyplot keeps every
    figure it made until closed (it warned past 20 on the city preset's report)."""
    return Figure(figsize=figsize, dpi=110)


#: Zones at most whose counts are written inside them (more would be unreadable).
MAX_LABELLED_ZONES = 150


def _clock_text(tier: str, clock: str) -> str:
    return "every tier that counts it met" if tier == "joint" else f"timed from {clock}"


def _zone_raster(rows: pd.DataFrame, column: str) -> np.ndarray:
    high, wide = int(rows["zone_row"].max()) + 1, int(rows["zone_col"].max()) + 1
    out = np.full((high, wide), np.nan)
    out[rows["zone_row"].to_numpy(int), rows["zone_col"].to_numpy(int)] = rows[column].to_numpy(
        float
    )
    return out


def _zone_edges(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Zone edges in km east and south of the north-west corner (edge zones clipped)."""
    by_col = rows.drop_duplicates("zone_col").sort_values("zone_col")
    by_row = rows.drop_duplicates("zone_row").sort_values("zone_row")
    xs = np.r_[0.0, np.cumsum(by_col["width_m"].to_numpy(float))] / 1000
    ys = np.r_[0.0, np.cumsum(by_row["height_m"].to_numpy(float))] / 1000
    return xs, ys


def zone_map(area: pd.DataFrame, tier: str, title: str, tiers=None, frame=None):
    """Compliance of ``tier`` by planning zone (left) and the incidents it counted there
    (right); zones with fewer than the minimum count are hatched and show no share. Edge
    zones are drawn clipped to the city."""
    from matplotlib.patches import Patch, Rectangle
    from matplotlib.ticker import MaxNLocator

    rows = area[area["tier"] == tier]
    if rows.empty:
        raise ValueError(f"breakdown_area has no rows for tier {tier!r}")
    xs, ys = _zone_edges(rows)
    share = _zone_raster(rows, "compliance") * 100
    counts = _zone_raster(rows, "incidents")
    xlabel, ylabel = "km east", "km south"
    if frame is not None:  # CRS km: northing grows north
        xs, ys = frame.origin_e / 1000 + xs, frame.origin_n / 1000 - ys
        xlabel, ylabel = f"easting (km, {frame.crs})", f"northing (km, {frame.crs})"
    width_km, height_km = abs(xs[-1] - xs[0]), abs(ys[-1] - ys[0])
    fig = _figure(figsize=(12, 5.6 * height_km / max(width_km, 1e-9) + 1.8))
    axes = fig.subplots(1, 2)
    edges = {"edgecolors": "#999999", "linewidth": 0.3} if len(rows) <= 2500 else {}
    im = axes[0].pcolormesh(xs, ys, np.ma.masked_invalid(share), cmap="RdYlGn", vmin=0,
                            vmax=100, **edges)  # fmt: skip
    fig.colorbar(im, ax=axes[0], shrink=0.8, label="compliance, %")
    im2 = axes[1].pcolormesh(xs, ys, counts, cmap="Greys", vmin=0, **edges)
    fig.colorbar(im2, ax=axes[1], shrink=0.8, label="counted incidents (all replications)")
    few = rows[rows["too_few"].astype(bool)]
    minimum = int(rows["min_incidents"].iloc[0])
    for ax in axes:
        for c, r in zip(few["zone_col"], few["zone_row"], strict=True):
            x0, x1 = sorted((xs[c], xs[c + 1]))
            y0, y1 = sorted((ys[r], ys[r + 1]))
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="none",
                                   edgecolor="#777777", hatch="///", linewidth=0.0))  # fmt: skip
        ax.set_xlim(min(xs), max(xs))
        if frame is None:
            ax.set_ylim(max(ys), min(ys))  # south grows down the page
        else:
            ax.set_ylim(min(ys), max(ys))
        ax.set_aspect("equal")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    if len(rows) <= MAX_LABELLED_ZONES:
        for r in rows.itertuples(index=False):
            cx = (xs[r.zone_col] + xs[r.zone_col + 1]) / 2
            cy = (ys[r.zone_row] + ys[r.zone_row + 1]) / 2
            axes[0].text(cx, cy, f"{int(r.incidents)}", ha="center", va="center", fontsize=7)
    clock = rows["clock"].iloc[0]
    axes[0].set_title(f"compliance ({_clock_text(tier, clock)}); numbers: counted incidents",
                      fontsize=8)  # fmt: skip
    axes[1].set_title("counted incidents per zone", fontsize=8)
    handles: list[Any] = [Patch(facecolor="white", edgecolor="#777777", hatch="///",
                                label=f"fewer than {minimum} incidents: no share")]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=1, fontsize=8, frameon=False)
    shown = int((~rows["too_few"].astype(bool)).sum())
    zone_m = float(rows["zone_m"].iloc[0])
    label = tier_label(tier, tiers) if tier != "joint" else "joint"
    fig.suptitle(f"{title}\n{label}: zones of {zone_m:g} m; {shown} of {len(rows)} zones "
                 f"with at least {minimum} incidents", fontsize=9)  # fmt: skip
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def hour_band(hour: pd.DataFrame, tier: str, title: str, tiers=None):
    """Compliance of ``tier`` by hour of day with its 95 % band (bars: counted incidents per
    replication); hours with fewer than the minimum count are marked, not drawn."""
    rows = hour[hour["tier"] == tier].sort_values("hour")
    if rows.empty:
        raise ValueError(f"breakdown_hour has no rows for tier {tier!r}")
    fig = _figure(figsize=(8, 4.2))
    ax = fig.subplots()
    ax2 = ax.twinx()
    ax2.bar(rows["hour"], rows["incidents_per_replication"], color="#DDDDDD", zorder=0,
            label="counted incidents per replication")  # fmt: skip
    ax2.set_ylabel("counted incidents per replication")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    colour = tier_colour(tier, tiers) if tier != "joint" else "#000000"
    ok = ~rows["too_few"].astype(bool)
    share = np.where(ok, rows["compliance"] * 100, np.nan)
    ax.fill_between(rows["hour"], np.where(ok, rows["ci95_low"] * 100, np.nan),
                    np.where(ok, rows["ci95_high"] * 100, np.nan), color=colour, alpha=0.2,
                    step="mid", label="95 % interval")  # fmt: skip
    ax.plot(rows["hour"], share, marker="o", ms=3, color=colour, label="compliance")
    few = rows[~ok]
    if len(few):
        ax.scatter(few["hour"], np.zeros(len(few)) + 1, marker="x", color="#777777",
                   label=f"fewer than {int(rows['min_incidents'].iloc[0])} incidents")  # fmt: skip
    ax.set_xlim(-0.5, 23.5)
    ax.set_ylim(0, 100)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("hour of day the incident happened")
    ax.set_ylabel("compliance, %")
    clock = rows["clock"].iloc[0]
    label = tier_label(tier, tiers) if tier != "joint" else f"joint ({_clock_text(tier, clock)})"
    ax.set_title(f"{title}\n{label}: compliance by the hour the incident happened", fontsize=9)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15),
              ncol=4, frameon=False)  # fmt: skip
    fig.tight_layout()
    return fig


def breakdown_figures(tables: dict[str, pd.DataFrame], name: str, tiers=None,
                      frame=None) -> dict[str, Any]:  # fmt: skip
    """Per tier (and joint): ``zones_<tier>`` (the zone map) and ``hours_<tier>`` (the hour
    profile), from a run's breakdown tables."""
    figures: dict[str, Any] = {}
    area, hour = tables.get("breakdown_area"), tables.get("breakdown_hour")
    names = list(dict.fromkeys(hour["tier"])) if hour is not None else []
    for tier in names:
        if area is not None and (area["tier"] == tier).any():
            figures[f"zones_{tier}"] = zone_map(area, tier, f"{name}: where", tiers, frame)
        figures[f"hours_{tier}"] = hour_band(hour, tier, f"{name}: when", tiers)
    return figures
