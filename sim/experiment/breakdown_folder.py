"""``jiefang breakdown``: the breakdown tables of an existing run folder, recomputed with
other zones, minimum count or focus land use, into a folder of their own.

The run folder is read only through its manifest (:mod:`sim.experiment.results`); a folder
written before the layout tables existed cannot be cut into zones, which is one
:class:`~sim.experiment.results.ResultsError` (exit 2), never a traceback or an empty table.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from sim.analysis.breakdown import TABLES, Settings, breakdowns, worst
from sim.analysis.equity import equity_change, equity_table, worst_zones
from sim.experiment.results import ResultsError, open_run
from sim.experiment.store import RunFolder, sha256, write_csv, write_json, write_parquet


def folder_breakdowns(
    folder: Path,
    zone_cells: int | None = None,
    min_incidents: int | None = None,
    focus_land_use: str | None = None,
) -> tuple[dict[str, pd.DataFrame], Settings, dict]:
    """The breakdown and equity tables of the run in ``folder``; settings not given come
    from the run's scenario. Returns (tables by manifest name, settings, run manifest)."""
    run = open_run(folder)
    if run.layout_cells is None or not len(run.layout_cells):
        raise ResultsError(
            f"{folder}: written by an older jiefang (its manifest lists no layout_cells): "
            "a breakdown by zone needs the layout; run the scenario again with this version"
        )
    settings = Settings.of((run.manifest.get("scenario") or {}).get("breakdown"))
    if zone_cells is not None:
        settings = replace(settings, zone_cells=zone_cells)
    if min_incidents is not None:
        settings = replace(settings, min_incidents=min_incidents)
    if focus_land_use is not None:
        settings = replace(settings, focus_land_use=focus_land_use)
    tiers = (run.manifest.get("scenario") or {}).get("tiers")
    cells = run.layout_cells
    first = cells[cells["layout"] == cells["layout"].iloc[0]]
    tables = breakdowns(run.incidents, tiers, first, settings, int(run.manifest["replications"]))
    tables["breakdown_equity"] = equity_table(run.incidents, tiers, first, settings,
                                              tables["breakdown_area"])  # fmt: skip
    return tables, settings, run.manifest


def write_breakdown_folder(folder: Path, out: Path, **settings) -> dict[str, pd.DataFrame]:
    """Write the tables of :func:`folder_breakdowns` and a manifest into ``out`` (replaced
    whole, as a run folder is)."""
    tables, used, meta = folder_breakdowns(folder, **settings)
    cells = open_run(folder).layout_cells
    with RunFolder(Path(out)) as staging:
        files = {}
        for name, table in tables.items():
            file = TABLES[name][0] if name in TABLES else f"{name}.parquet"
            files[name] = staging / file
            write_parquet(table, files[name])
        for tier, table in candidate_cells(tables["breakdown_area"], cells).items():
            files[f"candidates_{tier}"] = staging / f"candidates_{tier}.csv"
            write_csv(table, files[f"candidates_{tier}"])
        write_json({"breakdown": {"run": str(folder), "zone_cells": used.zone_cells,
                                  "min_incidents": used.min_incidents,
                                  "focus_land_use": used.focus_land_use,
                                  "run_seed": meta.get("seed"),
                                  "run_replications": meta.get("replications")},
                    "files": {n: {"path": p.name, "sha256": sha256(p)} for n, p in files.items()}},
                   staging / "manifest.json")  # fmt: skip
    return tables


def candidate_cells(area: pd.DataFrame, cells: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per tier, the land cells (col, row) of its worst tenth of zones, as `jiefang optimize
    --candidates` reads them: new units placed there target where the tier fails most."""
    first = cells[cells["layout"] == cells["layout"].iloc[0]]
    land = first[~first["land_use"].astype(str).isin(["water", "bridge"])]
    size = round(float(area["zone_m"].iloc[0]) / float(first["cell_size_m"].iloc[0]))
    wide = int(area["zone_col"].max()) + 1
    zone = (land["row"] // size) * wide + land["col"] // size
    out = {}
    for tier in dict.fromkeys(area["tier"]):
        worst = worst_zones(area, str(tier))
        if worst:
            at = land[zone.isin(worst).to_numpy()]
            out[str(tier)] = at[["col", "row"]].reset_index(drop=True)
    return out


def worst_text(tables: dict[str, pd.DataFrame], count: int = 3) -> str:
    """Per tier, the zones and hours where it is met least (printed by the command)."""
    lines = []
    hour, area = tables["breakdown_hour"], tables["breakdown_area"]
    tiers = list(dict.fromkeys(hour["tier"]))
    w = max(8, *(len(str(t)) for t in tiers)) if tiers else 8  # names of any tier table
    for tier in tiers:
        zones = worst(area, ["zone", "zone_col", "zone_row"], tier, count)
        hours = worst(hour, ["hour"], tier, count)
        z = ", ".join(f"zone {int(r.zone)} (col {int(r.zone_col)}, row {int(r.zone_row)}) "
                      f"{r.compliance:.0%}" for r in zones.itertuples())  # fmt: skip
        z = z or "no zone has enough"
        h = ", ".join(f"{int(r.hour):02d}:00 {r.compliance:.0%}" for r in hours.itertuples()) \
            or "no hour has enough"  # fmt: skip
        lines.append(f"{tier:<{w}} worst zones: {z}; worst hours: {h}")
    return "\n".join(lines)


def compare_equity(folder_a: Path, folder_b: Path) -> pd.DataFrame | None:
    """What B does for A's worst places: :func:`sim.analysis.equity.equity_change` with A's
    zones, settings and worst decile (None when A has no layout tables to cut into zones:
    a folder from an older version)."""
    run_a, run_b = open_run(folder_a), open_run(folder_b)
    cells = run_a.layout_cells
    if cells is None or not len(cells):
        return None
    scenario = run_a.manifest.get("scenario") or {}
    settings = Settings.of(scenario.get("breakdown"))
    first = cells[cells["layout"] == cells["layout"].iloc[0]]
    tiers = scenario.get("tiers")
    area = breakdowns(run_a.incidents, tiers, first, settings,
                      int(run_a.manifest["replications"]))["breakdown_area"]  # fmt: skip
    return equity_change(run_a.incidents, run_b.incidents, tiers, first, settings, area)


def equity_change_text(table: pd.DataFrame) -> str:
    """The equity rows of `jiefang compare`, one line each."""
    w = max(7, *(len(str(t)) for t in table["tier"])) if len(table) else 7
    lines = [f"  {'tier':<{w}} {'group':<34} {'A':>7} {'B':>7}   B - A (95% CI)"]
    for r in table.itertuples(index=False):
        a = "-" if pd.isna(r.a) else f"{r.a:.1%}"
        b = "-" if pd.isna(r.b) else f"{r.b:.1%}"
        if pd.isna(r.difference):
            diff = "-"
        elif pd.isna(r.ci95_low):
            diff = f"{r.difference * 100:+.1f} pp (n={r.pairs}, no interval)"
        else:
            diff = (f"{r.difference * 100:+.1f} pp ({r.ci95_low * 100:+.1f} to "
                    f"{r.ci95_high * 100:+.1f})")  # fmt: skip
        lines.append(f"  {r.tier:<{w}} {str(r.group)[:34]:<34} {a:>7} {b:>7}   {diff}")
    return "\n".join(lines)
