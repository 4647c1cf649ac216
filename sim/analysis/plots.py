"""Figures drawn from result tables alone (never from a live model).

Tier colours come from the Okabe-Ito colour-blind-safe palette and are the same in every
figure.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sim.analysis.metrics import as_tiers, ecdf, per_replication, tier_order, tier_times
from sim.analysis.values import shown as shown_value
from sim.files import atomic_write_bytes

TIER_COLOURS = {"self": "#E69F00", "mutual": "#0072B2", "police": "#009E73", "joint": "#CC79A7"}
#: Okabe-Ito colours left for tiers a scenario adds.
_MORE_COLOURS = ["#D55E00", "#56B4E9", "#F0E442", "#000000", "#999999"]
TIER_LABELS = {
    "self": "self-rescue (1 min)",
    "mutual": "mutual rescue (3 min)",
    "police": "police on site (5 min)",
}
_CLOCK_WORDS = {"occurrence": "from occurrence", "alert": "from alert",
                "dispatch": "from dispatch"}  # fmt: skip


def tier_colour(name: str, tiers=None) -> str:
    if name in TIER_COLOURS:
        return TIER_COLOURS[name]
    extra = [t.name for t in as_tiers(tiers) if t.name not in TIER_COLOURS]
    return _MORE_COLOURS[extra.index(name) % len(_MORE_COLOURS)] if name in extra else "#777777"


def tier_label(name: str, tiers=None) -> str:
    """A tier's legend label: name, target and clock, from the tier table."""
    for t in as_tiers(tiers):
        if t.name == name:
            word = {"self": "self-rescue", "mutual": "mutual rescue",
                    "police": "police on site"}.get(name, name.replace("_", " "))  # fmt: skip
            return f"{word} ({t.target_s / 60:g} min {_CLOCK_WORDS[t.clock]})"
    return "all tiers (joint)" if name == "joint" else name


def tier_target_min(name: str, tiers=None) -> float:
    return next(t.target_s for t in as_tiers(tiers) if t.name == name) / 60.0


def ecdf_series(incidents: pd.DataFrame, tiers=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per tier, the pooled ECDF points (minutes on the tier's clock, share) drawn."""
    times = tier_times(incidents, tiers)
    return {
        t.name: ecdf(times.loc[times["tier"] == t.name, "time_s"].to_numpy() / 60.0)
        for t in as_tiers(tiers)
        if (times["tier"] == t.name).any()
    }


def mark_compliance(incidents: pd.DataFrame, tiers=None) -> dict[str, float]:
    """Compliance at each tier's mark, as in the summary: the mean over replications."""
    inc = incidents if "replication" in incidents else incidents.assign(replication=0)
    per = per_replication(inc, tiers)
    per = per[per["own_clock"]]
    return per.groupby("tier")["compliance"].mean().to_dict()


def response_ecdf(incidents: pd.DataFrame, title: str, tiers=None, max_minutes: float = 20.0):
    """ECDF of time to each tier on its own clock, with each tier's target marked."""
    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    shares = mark_compliance(incidents, tiers)
    for tier, (x, _) in ecdf_series(incidents, tiers).items():
        colour = tier_colour(tier, tiers)
        step_ecdf(ax, x, max_minutes, color=colour, lw=2, label=tier_label(tier, tiers))
        mark = tier_target_min(tier, tiers)
        share = shares[tier]
        ax.axvline(mark, color=colour, lw=1, ls="--", alpha=0.8)
        ax.annotate(
            f"{share:.0%}", (mark, share), xytext=(4, -12), textcoords="offset points",
            color=colour, fontsize=9, fontweight="bold",
        )  # fmt: skip
    ax.set_xlim(0, max_minutes)
    ax.set_ylim(0, 1.02)
    # Each tier is drawn on its own clock (the legend names it), not all from occurrence.
    ax.set_xlabel("time on each tier's own clock (minutes; clock in the legend)")
    ax.set_ylabel("share of counted incidents helped")
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


# ---------------------------------------------------------------- run figures
def replication_band(incidents: pd.DataFrame, tier: str, grid_min: np.ndarray, tiers=None):
    """Per replication ECDF on a grid of minutes -> (low, high) envelope across replications."""
    times = tier_times(incidents, tiers)
    times = times[times["tier"] == tier]
    rows = []
    for _, grp in times.groupby("replication"):
        x = np.sort(grp["time_s"].to_numpy() / 60.0)
        rows.append(np.searchsorted(x, grid_min, side="right") / max(x.size, 1))
    curves = np.array(rows)
    return curves.min(axis=0), curves.max(axis=0)


def response_ecdf_bands(incidents: pd.DataFrame, title: str, tiers=None,
                        max_minutes: float = 20.0):  # fmt: skip
    """The ECDF figure, with the envelope of the replications' own ECDFs shaded."""
    fig = response_ecdf(incidents, title, tiers, max_minutes)
    ax = fig.axes[0]
    if incidents["replication"].nunique() > 1:
        grid = np.linspace(0, max_minutes, 401)
        for tier in ecdf_series(incidents, tiers):
            lo, hi = replication_band(incidents, tier, grid, tiers)
            ax.fill_between(grid, lo, hi, step="post", color=tier_colour(tier, tiers),
                            alpha=0.15, lw=0)  # fmt: skip
        ax.set_title(title + " (band: range over replications)", fontsize=10)
    return fig


#: A kind's times are drawn as a violin from this many reached incidents; below, as points.
MIN_VIOLIN = 10


def by_kind(incidents: pd.DataFrame, title: str, table=None, cap_minutes: float = 30.0):
    """Time to each tier by incident kind, from the incidents the tier reached: a violin (at
    least MIN_VIOLIN of them) or the points themselves, times past the cap drawn at the cap.
    Beside each kind: how many incidents the tier counts and the share it never reached
    (never is a share, not a time)."""
    from matplotlib.transforms import blended_transform_factory

    times = tier_times(incidents, table)
    tiers = [t.name for t in as_tiers(table) if (times["tier"] == t.name).any()]
    kinds = sorted(times["kind"].unique())
    fig, axes = plt.subplots(1, len(tiers), figsize=(4.6 * len(tiers), 4.2), dpi=110,
                             sharey=True, squeeze=False)  # fmt: skip
    for ax, tier in zip(axes[0], tiers, strict=True):
        colour = tier_colour(tier, table)
        data, rows = [], []
        right = blended_transform_factory(ax.transAxes, ax.transData)
        for k, kind in enumerate(kinds):  # same row for a kind in every panel
            t = times[(times["tier"] == tier) & (times["kind"] == kind)]["time_s"].to_numpy() / 60
            if not len(t):
                continue
            reached = np.minimum(t[np.isfinite(t)], cap_minutes)
            if reached.size >= MIN_VIOLIN:
                data.append(reached)
                rows.append(k + 1)
            elif reached.size:
                ax.plot(reached, np.full(reached.size, k + 1), "o", ms=3, color=colour, alpha=0.7)
            never = 1 - reached.size / t.size
            ax.text(0.99, k + 1.3, f"n={t.size}, never {never:.0%}", transform=right,
                    ha="right", va="center", fontsize=7)  # fmt: skip
        if data:
            parts = ax.violinplot(data, positions=rows, orientation="horizontal", showmedians=True)
            for body in parts["bodies"]:
                body.set_facecolor(colour)
                body.set_alpha(0.5)
        ax.set_yticks(np.arange(1, len(kinds) + 1), kinds)
        ax.set_ylim(0.5, len(kinds) + 0.5)
        ax.axvline(tier_target_min(tier, table), color="black", ls="--", lw=1)
        ax.set_xlim(0, cap_minutes * 1.02)
        ax.set_xlabel(f"minutes on the tier's clock, incidents reached (> {cap_minutes:.0f}: "
                      f"at {cap_minutes:.0f})", fontsize=8)  # fmt: skip
        ax.set_title(tier_label(tier, table), color=colour, fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def hour_profile(incidents: pd.DataFrame, title: str, tiers=None):
    """Incidents per hour of day (bars) and median time to each tier by hour (lines)."""
    counted = incidents[~incidents["in_warmup"]]
    days = max(counted["occurred_s"].max() / 86400.0, 1.0) if len(counted) else 1.0
    reps = max(counted["replication"].nunique(), 1)
    demand = counted.groupby("hour").size().reindex(range(24), fill_value=0) / (days * reps)
    times = tier_times(incidents, tiers)
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    ax.bar(range(24), demand.to_numpy(), color="#BBBBBB", label="incidents per hour")
    ax.set_xlabel("hour of day")
    ax.set_ylabel("incidents per hour (mean)")
    ax2 = ax.twinx()
    for tier in [t.name for t in as_tiers(tiers)]:
        t = times[times["tier"] == tier]
        if not len(t):
            continue
        med = t.groupby("hour")["time_s"].median().reindex(range(24)) / 60.0
        ax2.plot(range(24), med.replace(np.inf, np.nan), marker="o", ms=3,
                 color=tier_colour(tier, tiers),
                 label=f"median, {tier_label(tier, tiers)}")  # fmt: skip
    ax2.set_ylabel("median time on each tier's clock (minutes)")
    ax2.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax2.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=8, loc="upper left")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def median_help_by_cell(incidents: pd.DataFrame, cells: pd.DataFrame) -> np.ndarray:
    """Raster (rows x cols) of the median minutes to first help of incidents in each cell
    (NaN: no incident; inf: none of them got help)."""
    return help_by_block(incidents, cells, 1)[0]


def help_by_block(
    incidents: pd.DataFrame, cells: pd.DataFrame, block: int
) -> tuple[np.ndarray, np.ndarray]:
    """(median minutes to first help, incidents) per square block of ``block`` x ``block``
    cells, counted incidents (after the warm-up) only; a median is NaN where a block has no
    incident and inf where more than half of its incidents never got help."""
    size = float(cells["cell_size_m"].iloc[0])
    h, w = int(cells["row"].max()) + 1, int(cells["col"].max()) + 1
    bh, bw = -(-h // block), -(-w // block)
    counted = incidents[~incidents["in_warmup"]]
    col = (counted["x_m"] // size).astype(int).clip(0, w - 1) // block
    row = (counted["y_m"] // size).astype(int).clip(0, h - 1) // block
    minutes = ((counted["first_help_s"] - counted["occurred_s"]) / 60.0).fillna(np.inf)
    grouped = minutes.groupby([row, col])
    med, n = grouped.median(), grouped.size()
    raster = np.full((bh, bw), np.nan)
    counts = np.zeros((bh, bw), int)
    raster[med.index.get_level_values(0), med.index.get_level_values(1)] = med.to_numpy()
    counts[n.index.get_level_values(0), n.index.get_level_values(1)] = n.to_numpy()
    return raster, counts


#: A block of the city map is coloured only with at least this many incidents: a median of
#: fewer is mostly noise (one day of a sub-district is 214 incidents on 1,102 cells).
MIN_BLOCK_INCIDENTS = 10
#: Block sides tried for the city map, in cells, smallest first.
BLOCK_SIDES = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64)


def map_block(incidents: pd.DataFrame, cells: pd.DataFrame,
              min_count: int = MIN_BLOCK_INCIDENTS) -> int:  # fmt: skip
    """The city map's block side in cells: the smallest of :data:`BLOCK_SIDES` at which
    the blocks that have incidents hold at least ``min_count`` of them on average, so most
    blocks drawn pass the minimum-count rule (the largest side when none does)."""
    h, w = int(cells["row"].max()) + 1, int(cells["col"].max()) + 1
    sides = [b for b in BLOCK_SIDES if b <= max(h, w)] or [1]
    for side in sides:
        counts = help_by_block(incidents, cells, side)[1]
        held = counts[counts > 0]
        if held.size and held.mean() >= min_count:
            return side
    return sides[-1]


def city_map(incidents: pd.DataFrame, cells: pd.DataFrame, sites: pd.DataFrame, title: str,
             min_count: int = MIN_BLOCK_INCIDENTS, frame=None):  # fmt: skip
    """Median time to first help per block of cells (blocks as small as the incidents allow,
    :func:`map_block`), coloured only where a block has at least ``min_count`` incidents;
    water, police stations and MEUs drawn; the legend outside the map.

    ``frame``: the city's :class:`sim.geo.crs.GridFrame`, if it has one: axes are then the
    CRS's easting and northing in km instead of km east and south of the grid's corner."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    if "layout" in cells.columns:  # per-replication layouts: draw the first one
        first = cells["layout"].min()
        cells = cells[cells["layout"] == first]
        sites = sites[sites["layout"] == first]
        if "layout" in incidents.columns:
            incidents = incidents[incidents["layout"] == first]
    size = float(cells["cell_size_m"].iloc[0])
    h, w = int(cells["row"].max()) + 1, int(cells["col"].max()) + 1
    block = map_block(incidents, cells, min_count)
    raster, counts = help_by_block(incidents, cells, block)
    sparse = (counts > 0) & (counts < min_count)
    water = np.zeros((h, w), bool)
    wet = cells["land_use"].isin(["water"])
    water[cells.loc[wet, "row"], cells.loc[wet, "col"]] = True
    extent = (0, w * size / 1000, h * size / 1000, 0)
    block_extent = (0, raster.shape[1] * block * size / 1000,
                    raster.shape[0] * block * size / 1000, 0)  # fmt: skip
    # Site positions in the axes' units: km east/south, or CRS km (northing grows north).
    east, south = (lambda x: x / 1000), (lambda y: y / 1000)
    if frame is not None:
        e0, n0 = frame.origin_e / 1000, frame.origin_n / 1000
        extent = (e0, e0 + w * size / 1000, n0 - h * size / 1000, n0)
        # Blocks at the edge may reach past the map: their raster is drawn to the block grid.
        block_extent = (e0, e0 + raster.shape[1] * block * size / 1000,
                        n0 - raster.shape[0] * block * size / 1000, n0)  # fmt: skip
        east, south = (lambda x: e0 + x / 1000), (lambda y: n0 - y / 1000)
    fig, ax = plt.subplots(figsize=(7.5, 6.6 * h / max(w, 1) + 1.2), dpi=110)
    shown = np.where(np.isinf(raster), 30.0, np.minimum(raster, 30.0))
    shown[counts < min_count] = np.nan
    im = ax.imshow(shown, cmap="viridis_r", vmin=0, vmax=15, extent=block_extent,
                   interpolation="nearest")  # fmt: skip
    ax.imshow(np.where(sparse, 1.0, np.nan), cmap=ListedColormap(["#dddddd"]),
              extent=block_extent, interpolation="nearest")  # fmt: skip
    ax.imshow(np.where(water, 1.0, np.nan), cmap=ListedColormap(["#9ecae1"]), extent=extent,
              interpolation="nearest")  # fmt: skip
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    handles: list[Any] = [Patch(color="#9ecae1", label="water"),
               Patch(color="#dddddd", label=f"fewer than {min_count} incidents")]  # fmt: skip
    meu = sites[sites["site"] == "meu"]
    if len(meu):
        handles.append(ax.scatter(east(meu["x_m"]), south(meu["y_m"]), s=4, c="#E69F00",
                                  label="MEU", linewidths=0))  # fmt: skip
    st = sites[sites["site"] == "police_station"]
    handles.append(ax.scatter(east(st["x_m"]), south(st["y_m"]), s=40, marker="^",
                              c="#D55E00", edgecolors="black", label="police station"))  # fmt: skip
    fig.colorbar(im, ax=ax, shrink=0.8,
                 label="median minutes to first help, from occurrence (15+ capped)")  # fmt: skip
    if frame is None:
        ax.set_xlabel("km east")
        ax.set_ylabel("km south")
    else:
        ax.set_xlabel(f"easting (km, {frame.crs})")
        ax.set_ylabel(f"northing (km, {frame.crs})")
    side_m = block * size
    ax.set_title(f"{title}\nblocks of {block} x {block} cells ({side_m:g} m); blocks with at "
                 f"least {min_count} incidents coloured", fontsize=9)  # fmt: skip
    # Below the map, outside it: a legend inside would hide the cells under it.
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4,
              fontsize=8, frameon=False)  # fmt: skip
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- sweep figures
def sweep_tiers(points: pd.DataFrame, suffix: str) -> list[tuple[str, str]]:
    """(metric, tier) for every tier a sweep's points table carries ``<tier><suffix>`` for."""
    names = dict.fromkeys(m for m in points["metric"] if m.endswith(suffix))
    return [(m, m[: -len(suffix)]) for m in names]


#: Panels at most in a faceted sweep figure (the rest are left out, and the title says so).
MAX_FACETS = 12


def sweep_panels(
    points: pd.DataFrame, others: list[str]
) -> list[tuple[dict[str, object], pd.DataFrame]]:
    """The panels of a sweep figure: one per combination of the varied keys after the first
    of ``others`` (the third and later varied keys), each with the points drawn in it and the
    values that define it. With at most one other key, one panel holds every point."""
    facets = list(others[1:])
    if not facets:
        return [({}, points)]
    panels = []
    for key, grp in points.groupby(facets, sort=_sortable(points, facets)):
        values = key if isinstance(key, tuple) else (key,)
        panels.append((dict(zip(facets, values, strict=True)), grp))
    return panels


#: Lines at most in a compliance panel that still get their 95 % bands: with more, the
#: bands would fill the panel, and only the lines are drawn (the caption says so).
MAX_BANDS = 4

#: What a sweep compliance figure drew, for its caption: set on the figure by
#: :func:`sweep_compliance` (``p90_panel``, ``bands``, ``facets``).
DRAWN = "jiefang_drawn"


def drawn(fig) -> dict[str, object]:
    """What a figure drew (:data:`DRAWN`), for its caption; empty when it says nothing."""
    notes = getattr(fig, DRAWN, None)
    return notes if isinstance(notes, dict) else {}


def _legend_below(fig, axes) -> float:
    """One legend of every labelled line in ``axes``, below the panels (never over the
    data); returns the share of the figure's height it takes."""
    handles: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if not handles:
        return 0.0
    ncol = min(len(handles), 3)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol,
               fontsize=6, bbox_to_anchor=(0.5, 0.0))  # fmt: skip
    rows = -(-len(handles) // ncol)
    # The room the legend takes, as a share of the figure's height (a row is about 0.13 in).
    return min((0.3 + 0.13 * rows) / fig.get_figheight(), 0.5)


def share_band(sub: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """A share's 95 % band in %, inside [0, 100]: the points table's ci95_low..ci95_high
    (sweeps written before it had them: mean -+ half-width, clipped)."""
    if {"ci95_low", "ci95_high"} <= set(sub.columns):
        low, high = sub["ci95_low"].fillna(sub["mean"]), sub["ci95_high"].fillna(sub["mean"])
    else:
        half = sub["ci95_half_width"].fillna(0)
        low, high = sub["mean"] - half, sub["mean"] + half
    return (np.clip(low.to_numpy(float), 0, 1) * 100, np.clip(high.to_numpy(float), 0, 1) * 100)


def sweep_compliance(points: pd.DataFrame, param: str, others: list[str], title: str):
    """Compliance of each tier, and each tier's P90, against one varied key, with 95 % CI
    bands (dropped when a panel has more than :data:`MAX_BANDS` lines); one line per value
    of the next varied key; the legend below the panels. With three or more varied keys,
    one panel of compliance per combination of the third and later keys (facets), and no
    P90 panel: points are never joined across facets. What was drawn is set on the figure
    (:func:`drawn`) for its caption."""
    panels = sweep_panels(points, others)
    cats = categories(points, param)  # a key of lists: its labels as categories
    if len(panels) > 1:
        return _sweep_facets(panels, param, others[0], title, cats)
    groups = points.groupby(others, sort=_sortable(points, others)) if others else [((), points)]
    groups = list(groups)
    bands = len(groups) * len(sweep_tiers(points, "_compliance")) <= MAX_BANDS
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    styles = ["-", "--", ":", "-."]
    for g, (key, grp) in enumerate(groups):
        values = key if isinstance(key, tuple) else (key,)
        tag = ", ".join(f"{o}={tick_text(v)}" for o, v in zip(others, values, strict=False))
        for metric, tier in sweep_tiers(points, "_compliance"):
            sub, x = _along(grp[grp["metric"] == metric], param, cats)
            if not len(sub):
                continue
            y = sub["mean"] * 100
            axes[0].plot(x, y, styles[g % 4], marker="o", ms=3, color=tier_colour(tier),
                         label=f"{tier}" + (f" ({tag})" if tag else ""))  # fmt: skip
            if bands:
                axes[0].fill_between(x, *share_band(sub), color=tier_colour(tier), alpha=0.12)
        for metric, tier in sweep_tiers(points, "_p90_s"):
            sub = grp[grp["metric"] == metric]
            # P90 = never: more than 10 % never reached
            sub, x = _along(sub[np.isfinite(sub["mean"])], param, cats)
            if not len(sub):
                continue
            y = sub["mean"] / 60
            e = sub["ci95_half_width"].fillna(0) / 60
            axes[1].plot(x, y, styles[g % 4], marker="o", ms=3, color=tier_colour(tier),
                         label=f"{tier} P90" + (f" ({tag})" if tag else ""))  # fmt: skip
            if bands:
                axes[1].fill_between(x, y - e, y + e, color=tier_colour(tier), alpha=0.12)
    axes[0].set_ylabel("within target on the tier's own clock (%"
                       + (", 95 % CI)" if bands else ")"))  # fmt: skip
    axes[0].set_ylim(0, 100)
    axes[1].set_ylabel("P90 time on the tier's clock (minutes" + (", 95 % CI)" if bands else ")"))
    axes[1].set_title("points where more than 10 % never got the tier are left out",
                      fontsize=8)  # fmt: skip
    if not axes[1].lines:
        axes[1].text(0.5, 0.5, "P90 is 'never' at every point:\nmore than 10 % of incidents\n"
                     "never got the tier", ha="center", va="center",
                     transform=axes[1].transAxes)  # fmt: skip
    for ax in axes:
        ax.set_xlabel(param)
        _category_ticks(ax, cats)
        ax.grid(alpha=0.3)
    room = _legend_below(fig, axes)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, room, 1, 1))
    setattr(fig, DRAWN, {"p90_panel": True, "bands": bands, "facets": 1})
    return fig


def _sweep_facets(panels, param: str, line_key: str, title: str, cats=None):
    shown = panels[:MAX_FACETS]
    ncols = min(3, len(shown))
    nrows = -(-len(shown) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), dpi=110,
                             sharey=True, squeeze=False)  # fmt: skip
    styles = ["-", "--", ":", "-."]
    lines = max(grp[line_key].nunique() * len(sweep_tiers(grp, "_compliance"))
                for _, grp in shown)  # fmt: skip
    bands = lines <= MAX_BANDS
    for ax, (facet, grp) in zip(axes.ravel(), shown, strict=False):
        for g, (value, line) in enumerate(grp.groupby(line_key, sort=_sortable(grp, [line_key]))):
            for metric, tier in sweep_tiers(grp, "_compliance"):
                sub, x = _along(line[line["metric"] == metric], param, cats)
                if not len(sub):
                    continue
                y = sub["mean"] * 100
                ax.plot(x, y, styles[g % 4], marker="o", ms=3, color=tier_colour(tier),
                        label=f"{tier} ({line_key}={tick_text(value)})")  # fmt: skip
                if bands:
                    ax.fill_between(x, *share_band(sub), color=tier_colour(tier), alpha=0.12)
        ax.set_title(", ".join(f"{k}={tick_text(v)}" for k, v in facet.items()), fontsize=8)
        ax.set_xlabel(param, fontsize=8)
        _category_ticks(ax, cats, fontsize=7)
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(shown) :]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("within target (%" + (", 95 % CI)" if bands else ")"))
    room = _legend_below(fig, axes.ravel()[: len(shown)])
    more = f" (first {len(shown)} of {len(panels)} panels)" if len(panels) > len(shown) else ""
    fig.suptitle(title + more)
    fig.tight_layout(rect=(0, room, 1, 1))
    setattr(fig, DRAWN, {"p90_panel": False, "bands": bands, "facets": len(shown)})
    return fig


def tick_text(value) -> str:
    """A varied value as a tick label: 4 significant digits (Latin-hypercube values carry 16);
    a list (an hourly profile) or its label shortened, ``[0.05 x8, 0.3 x8, 0.1 x8]``."""
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    return str(shown_value(value))


def categories(table: pd.DataFrame, key: str) -> dict[object, int] | None:
    """Positions on the x axis of a key whose values are labels or text (lists of hourly
    shares, a key mixing lists and numbers): its distinct values in the order the table
    first has them (point order: the order of the sweep file), at 0, 1, 2, ... None for a
    numeric key, which keeps its numeric axis."""
    column = table[key]
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return None
    return {v: i for i, v in enumerate(dict.fromkeys(column.dropna()))}


def _sortable(table: pd.DataFrame, keys: list[str]) -> bool:
    """Whether lines and panels go in sorted order of ``keys``: yes for numbers; for labels
    (lists) in the order of the table, which is the sweep file's (sorting JSON text would
    put ``[0.05,...]`` before ``[0.1,...]`` whatever the file says)."""
    return all(categories(table, k) is None for k in keys)


def _along(rows: pd.DataFrame, key: str, cats: dict[object, int] | None):
    """``rows`` sorted along the x axis and their x: the value of a numeric key, or the
    position of a category."""
    x = (rows[key].map(cats) if cats is not None else rows[key]).to_numpy(float)
    order = np.argsort(x, kind="stable")
    return rows.iloc[order], x[order]


def _category_ticks(ax, cats: dict[object, int] | None, fontsize: float = 8) -> None:
    """Label a category axis with the short texts; long ones slanted so they do not overlap."""
    if cats is None:
        return
    labels = [tick_text(v) for v in cats]
    slant = sum(map(len, labels)) > 40
    ax.set_xticks(list(cats.values()), labels, fontsize=fontsize, rotation=20 if slant else 0,
                  ha="right" if slant else "center")  # fmt: skip
    ax.set_xlim(-0.5, len(cats) - 0.5)


def sweep_heatmap(points: pd.DataFrame, x: str, y: str, metric: str, title: str):
    """Mean of one metric over a two-key grid."""
    sub = points[points["metric"] == metric].pivot_table(index=y, columns=x, values="mean")
    # Labels (lists of hourly shares) in the sweep file's order, not alphabetically.
    for axis, key in ((1, x), (0, y)):
        cats = categories(points, key)
        if cats is not None:
            sub = sub.reindex([c for c in cats if c in sub.axes[axis]], axis=axis)
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    values = sub.to_numpy() * 100
    finite = values[np.isfinite(values)]
    # The colour scale spans the values drawn (5-13 % is not one colour on a 0-100 scale).
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 100.0)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    im = ax.imshow(values, cmap="viridis", origin="lower", aspect="auto", vmin=low, vmax=high)
    ticks = [tick_text(c) for c in sub.columns]
    slant = sum(map(len, ticks)) > 40  # profiles' labels would overlap side by side
    ax.set_xticks(range(len(sub.columns)), ticks, rotation=20 if slant else 0,
                  ha="right" if slant else "center")  # fmt: skip
    ax.set_yticks(range(len(sub.index)), [tick_text(i) for i in sub.index])
    middle = (low + high) / 2
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.1f}" if high - low < 10 else f"{v:.0f}", ha="center", va="center",
                color="white" if v < middle else "black", fontsize=8)  # fmt: skip
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(im, ax=ax, label=f"{metric} (%, each tier on its own clock)")
    ax.set_title(title)
    fig.tight_layout()
    return fig


#: Lines at most in a difference figure's panel (one per combination of the other keys).
MAX_LINES = 10


def difference_lines(
    paired: pd.DataFrame, param: str, others: list[str], tier: str
) -> list[tuple[str, pd.DataFrame]]:
    """The lines of one tier's panel of :func:`sweep_difference`: (label, rows sorted by
    ``param``), one per combination of the other varied keys, so that points are joined
    only along ``param`` with every other key held fixed."""
    rows = paired[(paired["measure"] == "compliance") & (paired["tier"] == tier)]
    if not others:
        return [("", _along(rows, param, categories(paired, param))[0])]
    lines = []
    for key, grp in rows.groupby(others, sort=_sortable(rows, others)):
        values = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{k}={tick_text(v)}" for k, v in zip(others, values, strict=True))
        lines.append((label, _along(grp, param, categories(paired, param))[0]))
    return lines


def sweep_difference(paired: pd.DataFrame, param: str, others: list[str], title: str):
    """Each tier's compliance minus the baseline's against one varied key, in percentage
    points, with the paired 95 % interval (common random numbers, clipped to the possible
    range -100..+100 pp) as error bars; one line per combination of the other varied keys,
    legend below the panels; each tier's panel has its own y axis."""
    tiers = tier_order(paired.loc[paired["measure"] == "compliance", "tier"])
    # Each panel its own y axis: one tier's differences can be ten times another's, and a
    # shared axis would flatten every other panel.
    fig, axes = plt.subplots(1, len(tiers), figsize=(3.6 * len(tiers) + 0.6, 4.2), dpi=110,
                             sharey=False, squeeze=False)  # fmt: skip
    colours = plt.get_cmap("viridis")
    by_tier = {tier: difference_lines(paired, param, others, tier) for tier in tiers}
    # One colour and one sideways shift per combination of the other keys, the same in
    # every panel (a tier may lack a combination: no incident it counts there).
    labels_all = list(dict.fromkeys(label for lines in by_tier.values() for label, _ in lines))
    total = len(labels_all)
    kept = labels_all[:MAX_LINES]
    slot = {label: g for g, label in enumerate(kept)}
    cats = categories(paired, param)  # a key of lists: its labels at 0, 1, 2, ...
    xs = (
        paired[param].map(cats)
        if cats is not None
        else pd.to_numeric(paired[param], errors="coerce")
    )
    # Lines are shifted sideways by up to 2 % of the x range, so that lines with the same
    # values (a key that does not matter for a tier) do not hide each other's error bars.
    span = float(xs.max() - xs.min()) if xs.notna().any() else 0.0
    for ax, tier in zip(axes[0], tiers, strict=True):
        for label, sub in by_tier[tier]:
            if label not in slot:
                continue
            g = slot[label]
            y = sub["diff"].to_numpy(float) * 100
            low = y - sub["ci_low"].to_numpy(float) * 100
            high = sub["ci_high"].to_numpy(float) * 100 - y
            colour = colours(g / max(len(kept) - 1, 1)) if others else tier_colour(tier)
            x = (sub[param].map(cats) if cats is not None
                 else pd.to_numeric(sub[param], errors="coerce")).to_numpy(float)  # fmt: skip
            if len(kept) > 1:
                x = x + (g / (len(kept) - 1) - 0.5) * 0.04 * span
            ax.errorbar(x, y, yerr=np.nan_to_num(np.vstack([low, high])), marker="o", ms=3,
                        capsize=2, lw=1.2, color=colour, label=label or None)  # fmt: skip
        ax.axhline(0, color="black", lw=0.8)
        ax.set_title(tier_label(tier), color=tier_colour(tier), fontsize=9)
        ax.set_xlabel(param, fontsize=8)
        _category_ticks(ax, cats, fontsize=7)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("compliance minus baseline (pp, paired 95 % CI, clipped)",
                          fontsize=8)  # fmt: skip
    from matplotlib.lines import Line2D

    # Every combination drawn, whichever panels it appears in.
    handles = [Line2D([], [], color=colours(g / max(len(kept) - 1, 1)), marker="o", ms=3,
                      label=label) for label, g in slot.items() if label]  # fmt: skip
    labels = [str(h.get_label()) for h in handles]
    if handles:  # below the panels: never over the points
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=7,
                   bbox_to_anchor=(0.5, 0.0))  # fmt: skip
    more = f" (first {MAX_LINES} of {total} lines)" if total > MAX_LINES else ""
    fig.suptitle(title + more, fontsize=10)
    fig.tight_layout(rect=(0, 0.08 + 0.03 * ((len(labels) - 1) // 4) if handles else 0, 1, 1))
    return fig
