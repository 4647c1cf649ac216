"""Writing a run folder: what ``jiefang run`` leaves in ``--out``, for library users too.

The folder is staged and swapped in whole (:class:`~sim.experiment.store.RunFolder`): a
reader sees the previous complete run or the new one, never a mix. Records stream to disk in
chunks as the replications settle them, so a city year fits in memory; a table short
enough is written whole, byte for byte as before streaming existed. Files:

    incidents.parquet, assignments.parquet   the immutable records (docs/model.md)
    readiness.parquet                        unannounced MEU readiness tests, if any
    layout_cells.parquet, layout_sites.parquet  each replication's synthetic layout
    summary.csv, summary.json                the tidy summary and the summary document
    breakdown_hour/area/landuse/kind.parquet each tier by hour, zone, land use and kind;
    breakdown_equity.parquet                 worst zones and the focus land use against the
                                             rest (sim.analysis.breakdown, .equity)
    response_ecdf.png                        unless ``plot=False``
    layers.gpkg, sites.geojson               only where the city has a frame (city.crs):
                                             sim.analysis.layers; incidents.parquet then has
                                             lon/lat too
    manifest.json                            scenario, seed, environment, SHA-256 of each file,
                                             and per replication whether the compiled loop
                                             ran it and why not (``compiled_loop``)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.breakdown import PLACE_COLUMNS, TABLES, Settings, breakdowns, occurred_kinds
from sim.analysis.equity import equity_table
from sim.analysis.layers import (
    INCIDENT_LAYER_COLUMNS,
    layout_geo,
    with_lonlat,
    write_layers,
    write_zone_layers,
)
from sim.analysis.metrics import as_tiers, summarise
from sim.analysis.summary import EVERY_ROW_COLUMNS, summary_document
from sim.experiment import runner
from sim.experiment.runner import RunTables
from sim.experiment.store import (
    RunFolder,
    TableStream,
    manifest,
    write_csv,
    write_json,
    write_parquet,
)
from sim.experiment.streams import release_freed_memory
from sim.geo.crs import GridFrame, frame_of
from sim.model.config import Scenario
from sim.model.tiers import of_any_tier
from sim.model.vocab import HelpSource


def write_run(
    scenario: Scenario,
    seed: int,
    replications: int,
    out: Path,
    *,
    progress: Callable[[float], None] | None = None,
    plot: bool = True,
    source_file: str | None = None,
    command: Sequence[str] | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
) -> tuple[RunTables, float]:
    """Run replications ``0..replications-1`` of ``(scenario, seed)`` into the folder ``out``.

    Args:
        scenario: a validated scenario.
        seed: the run's seed (>= 0).
        replications: how many replications (>= 1).
        out: the run folder; replaced whole if it holds an earlier run.
        progress: called with the fraction done, 0-1.
        plot: also draw response_ecdf.png.
        source_file: recorded in the manifest (the scenario file the run came from).
        command: recorded in the manifest (the command line the run came from).
        overrides: the ``--set`` (key, value) pairs the scenario was loaded with; recorded in
            the manifest as ``overrides`` (the scenario recorded there already has them).

    Returns the tables and the wall-clock seconds the replications took (records streamed
    to disk included). When the incidents were streamed (a table of ``streams.STREAM_ROWS``
    rows or more), ``tables.incidents`` holds every incident read back from disk in the
    columns the summary document reads of them all
    (:data:`sim.analysis.summary.EVERY_ROW_COLUMNS`; with a frame, the breakdowns' and GIS
    layers' too); the file has them all.
    """
    if replications < 1:
        raise ValueError(f"replications must be >= 1, got {replications}")
    # Entering checks, locks and probes `out` before the simulation.
    with RunFolder(Path(out)) as staging:
        started = time.perf_counter()
        files = {
            "incidents": staging / "incidents.parquet",
            "assignments": staging / "assignments.parquet",
            "summary_table": staging / "summary.csv",
            "summary": staging / "summary.json",
        }
        # Only a city placed on the Earth gets lon/lat and GIS layers: a grid run's files
        # stay as they were, and no geo library is imported for it.
        frame = frame_of(scenario.city)
        simulated = _simulate(scenario, seed, replications, files, frame, progress)
        tables = simulated.tables
        elapsed = time.perf_counter() - started
        _write_places(scenario, replications, simulated, staging, files, frame)
        write_csv(tables.summary, files["summary_table"])
        write_json(summary_document(scenario, seed, replications, tables), files["summary"])
        if plot:
            files["ecdf_plot"] = staging / "response_ecdf.png"
            _draw_ecdf(scenario, replications, simulated.counted, files["ecdf_plot"])
        extra: dict[str, Any] = {"overrides": dict(overrides),
                                 "compiled_loop": simulated.compiled_loop.replications}  # fmt: skip
        if scenario.incidents.replay is not None:  # what the replayed incidents came from
            extra["replay"] = {"path": scenario.replay.source, "sha256": scenario.replay.sha256}
        meta = manifest(scenario, seed, replications, files, source_file=source_file,
                        command=list(command) if command is not None else None,
                        wall_time_s=round(elapsed, 3), **extra)  # fmt: skip
        write_json(meta, staging / "manifest.json")
    return tables, elapsed


@dataclass
class _Simulated:
    """A run's tables and what came with them: the incidents some tier counts (``counted``:
    every column of a table written whole, the breakdowns' of one streamed) and the kinds
    that occurred after the warm-up."""

    tables: RunTables
    layouts: list
    compiled_loop: CompiledLoopRecord
    counted: Any
    kinds: list[str]


def _simulate(
    scenario: Scenario,
    seed: int,
    replications: int,
    files: dict[str, Path],
    frame: GridFrame | None,
    progress: Callable[[float], None] | None,
) -> _Simulated:
    """Run the replications, streaming the records into ``files`` as they settle (so that
    a city year fits in memory), and summarise them."""
    incidents_out = TableStream(files["incidents"])
    assignments_out = TableStream(files["assignments"])
    layouts: list = []
    compiled_loop = CompiledLoopRecord()
    on_layout = None
    if frame is not None:

        def on_layout(model) -> None:
            layouts.append(layout_geo(model))

    def on_chunk(incidents, assignments) -> None:
        if frame is not None:
            incidents = with_lonlat(incidents, frame)
        incidents_out.add(incidents)
        assignments_out.add(assignments)

    try:
        readiness, cells, sites = runner.stream_replications(
            scenario, seed, replications, on_chunk, progress, on_layout, compiled_loop.note
        )
        incidents = incidents_out.close()
        assignments = assignments_out.close()
        release_freed_memory()  # the Arrow buffers of tables written whole
    finally:
        incidents_out.abort()
        assignments_out.abort()
    # The tiers' figures (summary, breakdowns, ECDF) from the incidents some tier counts
    # alone: the same figures (tests/test_breakdown.py), at a fraction of a city year's
    # memory; the kinds that occurred are taken from them all.
    tiers = as_tiers(scenario.tiers)
    if incidents is None:
        incidents, counted, kinds = _read_back(incidents_out, tiers, frame)
    else:
        counted = incidents.loc[of_any_tier(incidents, tiers)]
        kinds = occurred_kinds(incidents)
    tables = RunTables(incidents, assignments, summarise(counted, scenario.tiers),
                       readiness, cells, sites)  # fmt: skip
    return _Simulated(tables, layouts, compiled_loop, counted, kinds)


def _read_back(
    incidents_out: TableStream, tiers: list, frame: GridFrame | None
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """A streamed incidents table read back once, a row group at a time, without the model:
    every incident in the columns the summary document reads of them all (with a frame, the
    breakdowns' and GIS layers' columns: the layers' tier figures are per cell), the
    incidents some tier counts in the breakdowns' columns, and the kinds that occurred. On a
    city year that is 2.4 million rows of a few columns and about 110,000 of thirty, not 2.4
    million of thirty (the run's peak once the model is gone)."""
    columns = incidents_out.columns
    of_counted = breakdown_columns(columns)
    of_every = set(EVERY_ROW_COLUMNS)
    if frame is not None:
        of_every |= set(INCIDENT_LAYER_COLUMNS) | set(of_counted)
    wanted = set(of_counted) | of_every
    every_columns = [c for c in columns if c in of_every]
    every, counted, kinds = [], [], set()
    compact = {c: t for c, t in _EVERY_ROW_TYPES.items() if c in every_columns and frame is None}
    for part in incidents_out.row_groups([c for c in columns if c in wanted]):
        counted.append(part.loc[of_any_tier(part, tiers), of_counted])
        every.append(part[every_columns].astype(compact))
        kinds.update(occurred_kinds(part))
    every_row, counted_rows = _joined(every), _joined(counted)
    # The row groups' frames are gone: their pages back to the system now (the city year's
    # summary phase then starts ~170 MiB lower), not left to the end of the run.
    release_freed_memory()
    return every_row, counted_rows, sorted(kinds)


#: Smaller types, without loss, of the columns a streamed run keeps of every incident (on a
#: city without a geographic frame): a city year's 2.4 million rows take ~50 MB less.
_EVERY_ROW_TYPES = {
    "replication": np.int32,
    "meu_teams_sent": np.int32,
    "volunteers_sent": np.int32,
    "self_rescue_by": pd.CategoricalDtype(["", *(h.value for h in HelpSource)]),
}


def _joined(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Row groups read back, as one table; the list is emptied (the parts go with it)."""
    joined = pd.concat(parts, ignore_index=True)
    parts.clear()
    return joined


def _write_places(
    scenario: Scenario,
    replications: int,
    simulated: _Simulated,
    staging: Path,
    files: dict[str, Path],
    frame: GridFrame | None,
) -> None:
    """The files of where and when: readiness tests, layouts, breakdowns and, for a city
    with a frame, its GIS layers."""
    tables = simulated.tables
    if len(tables.readiness):
        files["readiness"] = staging / "readiness.parquet"
        write_parquet(tables.readiness, files["readiness"])
    files["layout_cells"] = staging / "layout_cells.parquet"
    files["layout_sites"] = staging / "layout_sites.parquet"
    write_parquet(tables.layout_cells, files["layout_cells"])
    write_parquet(tables.layout_sites, files["layout_sites"])
    tables_of_places = _write_breakdowns(scenario, replications, simulated.counted,
                                         simulated.kinds, tables.layout_cells, staging,
                                         files)  # fmt: skip
    if frame is not None:  # the layers' columns of every incident are in tables.incidents
        files.update(write_layers(staging, scenario, frame, tables.incidents, simulated.layouts))
        write_zone_layers(files["layers"], frame, tables_of_places["breakdown_area"],
                          scenario.tiers)  # fmt: skip


class CompiledLoopRecord:
    """Per replication, how much of the run the compiled loop took and why not the rest
    (``ResponseModel.compiled_record``): the manifest's ``compiled_loop``, printed by
    ``jiefang run -v`` (:func:`compiled_loop_lines`)."""

    def __init__(self) -> None:
        self.replications: list[dict[str, Any]] = []

    def note(self, model) -> None:
        self.replications.append({"replication": model.replication, **model.compiled_record()})


def compiled_loop_lines(manifest: dict[str, Any]) -> list[str]:
    """What a run folder's manifest says of the compiled loop, a line per replication:
    ``replication 0: 0 of 9 advance calls compiled; not compiled: responders other than
    police (9)``."""
    lines = []
    for rep in manifest.get("compiled_loop", []):
        why = "; ".join(f"{reason} ({calls})" for reason, calls in rep["why_not_compiled"].items())
        lines.append(f"replication {rep['replication']}: {rep['compiled_calls']} of "
                     f"{rep['advance_calls']} advance calls compiled"
                     + (f"; not compiled: {why}" if why else ""))  # fmt: skip
    return lines


#: Incident columns that the tiers' figures (summary.csv, the ECDF plot) never read: the
#: counted incidents of a streamed table are read back without them, bar the breakdowns'
#: places (the carried ones, land use, hour, station distance, would be copied into every
#: row of the tier-times table too).
SUMMARY_UNREAD = (
    "x_m", "y_m", "land_use", "police_grid", "station_distance_m", "hour", "layout",
    "detected_by", "police_call_s", "police_wait_s", "last_police_s", "cleared_s",
    "first_help_s", "first_help_by", "volunteers_within_3min",
)  # fmt: skip


def breakdown_columns(columns: Sequence[str]) -> list[str]:
    """The columns of an incidents table that the tiers' figures and breakdowns read, in
    order: those the summary reads and the incident's place and hour."""
    return [c for c in columns if c not in SUMMARY_UNREAD or c in PLACE_COLUMNS]


def _write_breakdowns(scenario: Scenario, replications: int, incidents, kinds, cells,
                      staging: Path, files: dict) -> dict:  # fmt: skip
    """breakdown_hour/area/landuse/kind.parquet and breakdown_equity.parquet (docs/outputs.md)
    from the incidents (those some tier counts suffice), the kinds that occurred and the
    first layout's cells; returns the tables."""
    first = cells[cells["layout"] == cells["layout"].iloc[0]]
    settings = Settings.of(scenario.breakdown)
    out = breakdowns(incidents, scenario.tiers, first, settings, replications, kinds)
    for name, (file, _) in TABLES.items():
        files[name] = staging / file
        write_parquet(out[name], files[name])
    files["breakdown_equity"] = staging / "breakdown_equity.parquet"
    write_parquet(equity_table(incidents, scenario.tiers, first, settings,
                               out["breakdown_area"]), files["breakdown_equity"])  # fmt: skip
    return out


def _draw_ecdf(scenario: Scenario, replications: int, incidents, path: Path) -> None:
    from sim.analysis.plots import response_ecdf, save_figure

    title = f"{scenario.name}: time to help ({replications} replication{'s' * (replications > 1)})"
    save_figure(response_ecdf(incidents, title, scenario.tiers), path)
