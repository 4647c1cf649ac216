"""What ``jiefang optimize`` writes: placement.csv, placement.geojson, optimised.yaml,
evaluation.csv, per_replication.csv, placement.png and manifest.json (tables and text here;
files are written by the command, atomically)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.plots import plt, tier_colour
from sim.geo.crs import frame_of
from sim.model.vocab import LandUse
from sim.planning.candidates import cells_of
from sim.planning.plan import PlanResult, share_of

PLACEMENT_COLUMNS = ["site", "col", "row", "x_m", "y_m", "land_use", "covers_per_day",
                     "only_it_per_day"]  # fmt: skip


def placement_table(result: PlanResult) -> pd.DataFrame:
    """One row per new site: its cell, centre (scenario metres: x east, y south of the city's
    north-west corner), land use, and the counted incidents a day it newly covers (alone, and
    in all, some of them also covered by another new site)."""
    city, problem = result.layout.city, result.problem
    cells = cells_of(city, result.added)
    xy = city.cell_centre(cells[:, 0], cells[:, 1]).reshape(-1, 2)
    col_of = {int(c): j for j, c in enumerate(problem.columns.tolist())}
    covers = problem.covers
    chosen = [col_of[int(c)] for c in result.added if int(c) in col_of]
    hits = (np.asarray(covers[:, chosen].sum(axis=1)).reshape(-1) if chosen
            else np.zeros(covers.shape[0]))  # fmt: skip
    rows = []
    for k, flat in enumerate(result.added.tolist()):
        j = col_of.get(int(flat))
        mine = (covers[:, [j]].toarray().reshape(-1) if j is not None
                else np.zeros(covers.shape[0], bool))  # fmt: skip
        rows.append({
            "site": k + 1, "col": int(cells[k, 0]), "row": int(cells[k, 1]),
            "x_m": float(xy[k, 0]), "y_m": float(xy[k, 1]),
            "land_use": LandUse(int(city.land_use[cells[k, 1], cells[k, 0]])).label,
            "covers_per_day": float(problem.weights[mine].sum()),
            "only_it_per_day": float(problem.weights[mine & (hits == 1)].sum()),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=PLACEMENT_COLUMNS)


def placement_geojson(result: PlanResult, table: pd.DataFrame) -> dict:
    """The new sites as GeoJSON points: in longitude/latitude (WGS 84, as GeoJSON expects)
    where the city is placed on the Earth (``city.crs``; the geo extra), else in the
    scenario's metres (a synthetic city has no geographic reference system: x east and y
    south of its north-west corner)."""
    frame = frame_of(result.layout.scenario.city)
    if frame is not None and len(table):
        lon, lat = frame.to_lonlat(table["x_m"].to_numpy(), table["y_m"].to_numpy())
        coords = [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)]
        system = (f"WGS 84 longitude/latitude (EPSG:4326); x_m/y_m: metres of the grid in "
                  f"{frame.crs} from its north-west corner")  # fmt: skip
    else:
        coords = [[row.x_m, row.y_m] for row in table.itertuples(index=False)]
        cell = result.layout.city.cell_size_m
        system = ("scenario metres: x east, y south of the city's north-west corner "
                  f"(cells of {cell:g} m; no geographic CRS)")  # fmt: skip
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": xy},
            "properties": {
                k: getattr(row, k)
                for k in PLACEMENT_COLUMNS
                if frame is not None or k not in ("x_m", "y_m")
            },
        }
        for xy, row in zip(coords, table.itertuples(index=False), strict=True)
    ]
    return {
        "type": "FeatureCollection",
        "name": f"{result.layout.scenario.name}: {result.added.size} new "
        f"{result.request.kind} ({result.request.objective})",
        "coordinate_system": system,
        "features": features,
    }


def optimised_yaml(result: PlanResult, source: Path, out: Path) -> str:
    """The input scenario extended with the new sites and the pinned layout."""
    req, sc, layout = result.request, result.optimised, result.layout
    rel = os.path.relpath(os.path.abspath(source), os.path.abspath(out))
    police = req.kind == "police_posts"
    base = (layout.station_cells if police else layout.base_cells).tolist()
    added = cells_of(layout.city, result.added).tolist()
    what = "police posts" if police else "MEUs"
    about = (f"{layout.scenario.name} with {len(added)} {what} placed by jiefang optimize "
             f"(objective {req.objective}, method {req.method})")  # fmt: skip
    lines = [
        f"# Written by `jiefang optimize` (--add {req.kind}={req.budget} --objective "
        f"{req.objective} --method {req.method} --seed {req.seed}).",
        f"# The sites are cells of layout 0 of seed {req.seed}: run it with the same seed,",
        f"#   jiefang run {out}/optimised.yaml --seed {req.seed}",
        f"# ({req.replications} replications reproduce the optimised arm of evaluation.csv).",
        f"extends: {json.dumps(rel)}",
        f"name: {json.dumps(sc.name)}",
        f"description: {json.dumps(about)}",
        "layout: fixed",
        f"replications: {req.replications}",
    ]

    def cells(rows, note):
        return [f"    - [{c}, {r}]" + (f"  # {note}" if i == 0 else "")
                for i, (c, r) in enumerate(rows)]  # fmt: skip

    meus = layout.base_cells.tolist()
    if police:
        lines += ["police:", f"  stations: {sc.police.stations}",
                  f"  units: {sc.police.units}  # one more on duty at each new post",
                  "  stations_file: null  # the cells below replace the scenario's file, if any",
                  "  station_cells:  # [column, row]"]  # fmt: skip
        lines += cells(base, "the scenario's own") + cells(added, "new: jiefang optimize")
        added = []
    if meus:
        lines += ["meus:", f"  count: {sc.meus.count}",
                  "  sites_file: null  # the cells below replace the scenario's file, if any",
                  "  site_cells:  # [column, row]"]  # fmt: skip
        lines += cells(meus, "the scenario's own") + cells(added, "new: jiefang optimize")
    return "\n".join(lines) + "\n"


def summary_text(result: PlanResult) -> str:
    """The short table printed at the end: compliance by arm and tier, paired differences."""
    ev = result.evaluation
    tiers = [t for t in ev["tier"].unique()]
    arms = ["base", "optimised", "random-mean"]
    lines = [f"{'arm':<12}" + "".join(f"  {t:>24}" for t in tiers)]
    for arm in arms:
        sub = ev[ev["arm"] == arm].set_index("tier")
        if sub.empty:
            continue
        cells = []
        for t in tiers:
            r = sub.loc[t]
            text = f"{r.compliance:.1%}"
            if arm != "base":
                low, high = r.ci_low * 100, r.ci_high * 100
                text += f" ({r.diff_vs_base * 100:+.1f} [{low:+.1f}, {high:+.1f}])"
            cells.append(f"  {text:>24}")
        lines.append(f"{arm:<12}" + "".join(cells))
    vr = result.vs_random.set_index("tier")
    if not vr.empty:
        lines.append(
            "optimised - random mean, pp (paired 95 % CI): "
            + ", ".join(f"{t} {vr.loc[t, 'diff'] * 100:+.1f} [{vr.loc[t, 'ci_low'] * 100:+.1f}, "
                        f"{vr.loc[t, 'ci_high'] * 100:+.1f}]" for t in tiers if t in vr.index)
        )  # fmt: skip
    return "\n".join(lines)


def figure(result: PlanResult):
    """Left: the city (residents, the scenario's MEUs, the new sites, demand the objective
    still misses); right: each arm's paired difference from the base, by tier, with 95 % CI."""
    city, layout = result.layout.city, result.layout
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5), dpi=110,
                                 gridspec_kw={"width_ratios": [1.1, 1]})  # fmt: skip
    w, h = city.extent_m
    water = city.land_use == LandUse.WATER
    img = np.where(water, np.nan, city.population)
    ax.imshow(img, extent=(0, w, h, 0), cmap="Greys", alpha=0.6)
    ax.imshow(np.where(water, 1.0, np.nan), extent=(0, w, h, 0), cmap="Blues", vmin=0, vmax=1.5)
    s = city.cell_size_m
    police = result.request.kind == "police_posts"
    own = layout.station_cells if police else layout.base_cells
    base = city.cell_centre(own[:, 0], own[:, 1]).reshape(-1, 2)
    new = cells_of(city, result.added)
    new_xy = city.cell_centre(new[:, 0], new[:, 1]).reshape(-1, 2)
    what = "police stations" if police else "MEUs"
    ax.scatter(base[:, 0], base[:, 1], s=10, c="#0072B2", label=f"{what} ({len(base)})")
    ax.scatter(new_xy[:, 0], new_xy[:, 1], s=60, marker="*", c="#D55E00",
               label=f"new sites ({len(new_xy)})")  # fmt: skip
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_xlabel(f"x (m; cells of {s:g} m)")
    ax.set_ylabel("y (m, south)")
    total = result.problem.total_per_day
    base_share = share_of(result.problem.base_per_day, total)
    new_share = share_of(result.solution.covered_per_day, total)
    ax.set_title(f"{result.request.objective} demand within the target by the coverage model: "
                 f"{what} {base_share:.0%}, new sites +{new_share:.0%}", fontsize=9)  # fmt: skip
    ax.legend(fontsize=7, loc="lower right")

    ev = result.evaluation[result.evaluation["arm"] != "base"]
    arms = [a for a in ev["arm"].unique()]
    tiers = list(ev["tier"].unique())
    width = 0.8 / max(len(tiers), 1)
    for i, tier in enumerate(tiers):
        sub = ev[ev["tier"] == tier].set_index("arm").reindex(arms)
        y = np.arange(len(arms)) + (i - (len(tiers) - 1) / 2) * width
        d = sub["diff_vs_base"].to_numpy(float) * 100
        err = np.vstack([d - sub["ci_low"].to_numpy(float) * 100,
                         sub["ci_high"].to_numpy(float) * 100 - d])  # fmt: skip
        bx.barh(y, d, height=width, xerr=err, color=tier_colour(tier), label=tier,
                error_kw={"lw": 0.8})  # fmt: skip
    bx.axvline(0, color="black", lw=0.8)
    bx.set_yticks(np.arange(len(arms)), arms)
    bx.invert_yaxis()
    bx.set_xlabel("compliance minus base, percentage points (paired 95 % CI)")
    bx.set_title(f"{result.request.replications} replications, common random numbers", fontsize=9)
    bx.grid(axis="x", alpha=0.3)
    bx.legend(fontsize=7)
    kind = "police posts" if police else "MEUs"
    fig.suptitle(f"{layout.scenario.name}: +{len(new)} {kind} (objective "
                 f"{result.request.objective}, method {result.request.method}, seed "
                 f"{result.request.seed})")  # fmt: skip
    fig.tight_layout()
    return fig
