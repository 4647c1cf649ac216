"""``run_one(scenario, seed, replication)``: the unit of work every executor maps.

Returns tables only; writing them is :mod:`sim.store`'s job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from sim.config import Scenario
from sim.metrics import summarise
from sim.model import ResponseModel
from sim.records import assignments_frame, incidents_frame

#: Simulated seconds between progress callbacks inside one replication.
PROGRESS_CHUNK_S = 3600.0


@dataclass(frozen=True)
class RunTables:
    incidents: pd.DataFrame  # one row per incident per replication (sim.records columns)
    assignments: pd.DataFrame  # one row per responder commitment
    summary: pd.DataFrame  # tidy long summary (sim.metrics.summarise)


def run_one(
    scenario: Scenario,
    seed: int,
    replication: int = 0,
    progress: Callable[[float], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate one replication; returns (incidents, assignments) with a replication column.

    ``progress`` is called with the fraction of simulated time done, now and then.
    """
    model = ResponseModel(scenario, seed=seed, replication=replication)
    while not model.finished:
        model.advance_to(model.time + PROGRESS_CHUNK_S)
        if progress is not None:
            progress(min(model.time / model.end_s, 1.0))
    incidents = incidents_frame(model.records())
    assignments = assignments_frame(model.assignments)
    incidents.insert(0, "replication", replication)
    assignments.insert(0, "replication", replication)
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
    incidents, assignments = [], []
    for r in range(replications):
        step = None
        if progress is not None:
            step = lambda f, r=r: progress((r + f) / replications)  # noqa: E731
        inc, asg = run_one(scenario, seed, r, step)
        incidents.append(inc)
        assignments.append(asg)
    inc = pd.concat(incidents, ignore_index=True)
    asg = pd.concat(assignments, ignore_index=True)
    return RunTables(inc, asg, summarise(inc))
