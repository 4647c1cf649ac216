"""``run_one(scenario, seed, replication)``: the unit of work every executor maps.

Returns tables only; writing them is :mod:`sim.experiment.store`'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sim.analysis.metrics import summarise
from sim.model.config import Scenario
from sim.model.records import assignments_frame, readiness_frame
from sim.model.response import ResponseModel
from sim.model.vocab import LandUse

#: Simulated seconds between progress callbacks inside one replication.
PROGRESS_CHUNK_S = 3600.0


@dataclass(frozen=True)
class RunTables:
    incidents: pd.DataFrame  # one row per incident per replication (sim.model.records columns)
    assignments: pd.DataFrame  # one row per responder commitment
    summary: pd.DataFrame  # tidy long summary (sim.analysis.metrics.summarise)
    readiness: pd.DataFrame  # one row per MEU readiness test
    layout_cells: pd.DataFrame  # the city raster, one row per cell per layout
    layout_sites: pd.DataFrame  # police stations and MEU sites, per layout


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
        model.advance_to(model.time + PROGRESS_CHUNK_S)
        if progress is not None:
            progress(min(model.time / model.end_s, 1.0))
    return model


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
    """Replications 0..R-1 of one scenario, in order, and their summary."""
    if replications < 1:
        raise ValueError(f"replications must be >= 1, got {replications}")
    parts = []
    layouts: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}
    for r in range(replications):
        step = None
        if progress is not None:
            step = lambda f, r=r: progress((r + f) / replications)  # noqa: E731
        model = simulate(scenario, seed, r, step)
        if model.layout not in layouts:
            layouts[model.layout] = layout_tables(model)
        parts.append(tables_of(model))
    inc, asg, ready = (pd.concat(p, ignore_index=True) for p in zip(*parts, strict=True))
    cells, sites = (pd.concat(p, ignore_index=True) for p in zip(*layouts.values(), strict=True))
    return RunTables(inc, asg, summarise(inc, scenario.tiers), ready, cells, sites)


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
