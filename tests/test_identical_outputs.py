"""Optimisations leave results identical, byte for byte, for the same seed (issue 13 rule).

Each case runs a scenario chosen to exercise one part of the model (a queue that grows, river
crossings, probes and sudden incidents, every dispatch and move-up policy, MEUs and
volunteers, readiness tests) and hashes its tables written as CSV (floats in full precision).
The digests in tests/data/reference_digests.json were written by the model before any
optimisation; a change that moves any figure of any table fails here. To refresh them after a
deliberate change of the model (never for an optimisation):

    .venv/bin/python -m tests.test_identical_outputs --write
"""

from __future__ import annotations

import hashlib
import json
import sys

import pandas as pd
import pytest

from sim.geo.scenario import load_scenario
from sim.model.config import Scenario
from sim.model.frames import assignments_frame, incidents_frame, readiness_frame
from sim.model.response import ResponseModel
from tests.conftest import ROOT, SCENARIOS, scenario

DIGESTS = ROOT / "tests" / "data" / "reference_digests.json"
FIXED = lambda s: {"dist": "fixed", "value": s}  # noqa: E731


def _overloaded_queue():
    # rho = 1.1 on 3 units for 12 hours: the waiting line grows and is served in order.
    return scenario(
        horizon_hours=12.0, drain_hours=24.0,
        police={"stations": 1, "grids": 4, "units": 3, "patrol_when_idle": False},
        incidents={"rate_per_day": 3 * 1.1 * 86400 / 1800.0, "call_delay": FIXED(0.0),
                   "kinds": {"call": {"share": 1.0, "self_rescue": False, "volunteers": False,
                                      "meu_teams": 0, "police_units": 1, "call_probability": 1.0,
                                      "handling": {"dist": "exponential", "mean_s": 1800.0}}}},
    )  # fmt: skip


def _file(name: str, **changes):
    sc = load_scenario(SCENARIOS / name)
    return sc.with_changes(changes) if changes else sc


CASES = {
    "demo": lambda: _file("demo.yaml", horizon_hours=24.0),
    "river-crossings": lambda: _file("chigang.yaml", horizon_hours=48.0),
    "subdistrict-probes-sudden": lambda: _file("guangzhou-2023-subdistrict.yaml"),
    "overloaded-queue": _overloaded_queue,
    "own-grid-first": lambda: _file(
        "demo.yaml", horizon_hours=24.0, **{"police.dispatch": "own_grid_first"}
    ),
    # One station, two grids, four units: grids go uncovered and units move up.
    "move-up": lambda: scenario(
        police={"stations": 1, "grids": 2, "units": 4, "move_up": "uncovered_longest"},
        incidents={"rate_per_day": 80.0},
    ),
}


def table_digests(sc: Scenario, seed: int = 11) -> dict[str, str]:
    """SHA-256 of each table of replications 0 and 1, written as CSV with full floats."""
    out = {}
    for replication in (0, 1):
        model = ResponseModel(sc, seed=seed, replication=replication)
        records = model.run()
        tables = {
            "incidents": incidents_frame(records),
            "assignments": assignments_frame(model.assignments),
            "readiness": readiness_frame(model.readiness),
        }
        for table, frame in tables.items():
            text = pd.DataFrame(frame).to_csv(index=False, float_format=repr)
            out[f"{replication}/{table}"] = hashlib.sha256(text.encode()).hexdigest()
    return out


def digests(name: str) -> dict[str, str]:
    return table_digests(CASES[name]())


@pytest.mark.parametrize("name", sorted(CASES))
def test_tables_are_identical_to_the_reference(name):
    reference = json.loads(DIGESTS.read_text())[name]
    assert digests(name) == reference


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: python -m tests.test_identical_outputs --write")
    DIGESTS.write_text(json.dumps({n: digests(n) for n in sorted(CASES)}, indent=1) + "\n")
    print(f"wrote {DIGESTS}")
