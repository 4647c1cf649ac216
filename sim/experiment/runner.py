"""``run_one(scenario, seed, replication)``: the unit of work every executor maps.

Returns tables only; writing them is :mod:`sim.experiment.store`'s job.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.analysis.metrics import summarise
from sim.experiment import disk_cache
from sim.model.config import Scenario
from sim.model.frames import assignments_frame, readiness_frame
from sim.model.response import ResponseModel
from sim.model.vocab import LandUse

# Runs made here keep their city between processes where the user set a folder for it.
disk_cache.install()

#: Simulated seconds between progress callbacks inside one replication, at the least.
PROGRESS_CHUNK_S = 3600.0
#: Incidents occurring between two stops of a replication, at the least (progress, records
#: handed over): each stop costs the compiled loop its state copied out and back in, about
#: 4 ms at city scale against ~12 ms of an hour's events, so a city stops every 7 h or so.
STOP_INCIDENTS = 2_048
#: Settled incidents handed over at a time when records are streamed (bounds the records a
#: run holds: about 8,000 incidents, some 10 MB at city scale, against 0.3 KB per incident
#: that the model itself keeps; 16,384 peaked the city year 21 MiB higher at the same CPU).
STREAM_INCIDENTS = 8_192


@dataclass(frozen=True)
class RunTables:
    """The tables of one run (:func:`run_replications`, ``sim.run``): the files of a run
    folder, held in memory (docs/outputs.md describes every column)."""

    # one row per incident per replication (sim.model.frames columns; write_run's, when the
    # table was streamed to disk, only those its summary reads)
    incidents: pd.DataFrame
    assignments: pd.DataFrame | None  # one row per responder commitment (None: streamed)
    summary: pd.DataFrame  # tidy long summary (sim.analysis.metrics.summarise)
    readiness: pd.DataFrame  # one row per MEU readiness test
    layout_cells: pd.DataFrame  # the city raster, one row per cell per layout
    layout_sites: pd.DataFrame  # police stations and MEU sites, per layout


def next_stop(model: ResponseModel) -> float:
    """Where a replication is advanced to next: an hour on (``PROGRESS_CHUNK_S``), or further
    if fewer than ``STOP_INCIDENTS`` incidents occur in the hour, as far as they reach."""
    return max(model.time + PROGRESS_CHUNK_S, model.occurred_by(STOP_INCIDENTS))


def simulate(
    scenario: Scenario,
    seed: int,
    replication: int = 0,
    progress: Callable[[float], None] | None = None,
) -> ResponseModel:
    """Run one replication to its end and return the finished model.

    ``progress`` is called with the fraction of simulated time done, now and then.
    """
    model = ResponseModel(scenario, seed=seed, replication=replication)
    while not model.finished:
        model.advance_to(next_stop(model))
        if progress is not None:
            progress(min(model.time / model.end_s, 1.0))
    return model


def stream_replications(
    scenario: Scenario,
    seed: int,
    replications: int,
    on_chunk: Callable[[pd.DataFrame, pd.DataFrame], None],
    progress: Callable[[float], None] | None = None,
    on_layout: Callable[[ResponseModel], None] | None = None,
    on_finished: Callable[[ResponseModel], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Replications 0..R-1 in order, their records handed to ``on_chunk(incidents,
    assignments)`` in chunks of settled incidents as the runs go (with the replication
    column), so that no run holds its records to the end. Concatenated in order, the
    chunks are :func:`run_replications`' tables. Returns (readiness tests, layout cells,
    layout sites), which stay small. ``on_layout(model)`` is called with the first model of
    each layout, before it runs (the GIS layers read the layout from it); ``on_finished(model)``
    with each model once it has run (the manifest reads how it ran from it)."""
    if replications < 1:
        raise ValueError(f"replications must be >= 1, got {replications}")
    ready = []
    layouts: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for r in range(replications):
        model = ResponseModel(scenario, seed=seed, replication=r, streamed=True)
        if model.layout not in layouts:
            layouts[model.layout] = layout_tables(model)
            if on_layout is not None:
                on_layout(model)
        while not model.finished:
            model.advance_to(next_stop(model))
            _hand_over(model, on_chunk, STREAM_INCIDENTS)
            if progress is not None:
                progress((r + min(model.time / model.end_s, 1.0)) / replications)
        _hand_over(model, on_chunk, 0)
        if on_finished is not None:
            on_finished(model)
        readiness = readiness_frame(model.readiness)
        readiness.insert(0, "replication", model.replication)
        ready.append(readiness)
        del model  # before the next replication is built: one model at a time
        give_back_memory()
    cells, sites = (pd.concat(p, ignore_index=True) for p in zip(*layouts.values(), strict=True))
    return pd.concat(ready, ignore_index=True), cells, sites


def give_back_memory() -> None:
    """Return freed memory to the system (glibc keeps a finished model's pages otherwise),
    so what comes next (the next replication, the summary of a city year) starts low."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _hand_over(model: ResponseModel, on_chunk, min_incidents: int) -> None:
    chunk = model.take_settled(min_incidents)
    if chunk is None:
        return
    for frame in chunk:
        frame.insert(0, "replication", model.replication)
    on_chunk(*chunk)  # empty at the end of a run with nothing left: it still fixes the columns


def tables_of(model: ResponseModel) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(incidents, assignments, readiness tests) of a finished model, with its replication."""
    frames = (
        model.incidents_table(),
        assignments_frame(model.assignments),
        readiness_frame(model.readiness),
    )
    for frame in frames:
        frame.insert(0, "replication", model.replication)
    return frames


def run_one(
    scenario: Scenario,
    seed: int,
    replication: int = 0,
    progress: Callable[[float], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate one replication; returns (incidents, assignments) with a replication column."""
    incidents, assignments, _ = tables_of(simulate(scenario, seed, replication, progress))
    return incidents, assignments


def run_replications(
    scenario: Scenario,
    seed: int,
    replications: int,
    progress: Callable[[float], None] | None = None,
) -> RunTables:
    """Replications 0..R-1 of one scenario, in order, and their summary (every table held in
    memory; `jiefang run` streams the records to disk instead, see
    :func:`stream_replications`)."""
    incidents: list[pd.DataFrame] = []
    assignments: list[pd.DataFrame] = []

    def keep(inc: pd.DataFrame, asg: pd.DataFrame) -> None:
        incidents.append(inc)
        assignments.append(asg)

    ready, cells, sites = stream_replications(scenario, seed, replications, keep, progress)
    inc, asg = concat_chunks(incidents), concat_chunks(assignments)
    return RunTables(inc, asg, summarise(inc, scenario.tiers), ready, cells, sites)


def concat_chunks(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    """Chunks of one table in order as one table (empty chunks only fix the columns)."""
    rows = [c for c in chunks if len(c)]
    if not rows:
        return chunks[0].iloc[:0].reset_index(drop=True)
    return rows[0] if len(rows) == 1 else pd.concat(rows, ignore_index=True)


def layout_tables(model: ResponseModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's layout as tables: cells (col, row, land use, residents, camera,
    police grid) and sites (police stations and MEUs with their positions in m)."""
    city = model.city
    rows, cols = np.indices(city.land_use.shape)
    labels = np.array([u.label for u in LandUse])
    cells = pd.DataFrame({
        "layout": model.layout, "col": cols.ravel(), "row": rows.ravel(),
        "land_use": labels[city.land_use.ravel()],
        "population": city.population.ravel(), "camera": city.camera.ravel(),
        "police_grid": city.grid_of_cell.ravel(), "cell_size_m": city.cell_size_m,
    })  # fmt: skip
    sites = pd.concat([
        pd.DataFrame({"site": "police_station", "x_m": city.station_xy[:, 0],
                      "y_m": city.station_xy[:, 1]}),
        pd.DataFrame({"site": "meu", "x_m": model.meus.xy[:, 0], "y_m": model.meus.xy[:, 1]}),
    ], ignore_index=True)  # fmt: skip
    sites.insert(0, "layout", model.layout)
    return cells, sites
