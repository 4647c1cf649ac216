"""Dispatch and queue optimisations leave results identical, byte for byte (issue 13 rule).

Cases the six of tests/test_identical_outputs.py do not reach: the many-unit dispatch path
(more than ``SMALL_FLEET`` available units) with rivers, ties between units at one station,
calls no unit can reach (a river without bridges) waiting in the queue, calls that need
several units, both dispatch policies and move-up on a many-unit city, and the M/M/c of
benchmarks/bench_peers.py below and above saturation. Same hashing as
tests/test_identical_outputs.py; the digests in tests/data/reference_digests_dispatch.json
were written at commit 6539457, before any issue-13 change. To refresh them after a
deliberate change of the model (never for an optimisation):

    .venv/bin/python -m tests.test_identical_dispatch --write
"""

from __future__ import annotations

import json
import sys

import pytest

from tests.conftest import ROOT, SCENARIOS, scenario
from tests.test_identical_outputs import table_digests

DIGESTS = ROOT / "tests" / "data" / "reference_digests_dispatch.json"
FIXED = lambda s: {"dist": "fixed", "value": s}  # noqa: E731


def _mmc(rho: float, calls: int):
    """benchmarks/bench_peers.py's M/M/10 (no drain), ``calls`` expected calls."""
    lam = rho * 10 / 600.0
    return scenario(
        horizon_hours=calls / lam / 3600, warmup_hours=48.0, drain_hours=0.0,
        city={"width": 1, "height": 1, "cell_size_m": 10.0, "population": 100,
              "land_use_shares": {}},
        police={"stations": 1, "grids": 1, "units": 10, "station_cells": [[0, 0]],
                "patrol_when_idle": False, "call_handling": FIXED(0.0)},
        travel={"drive_m_s": 1e6},
        incidents={"rate_per_day": lam * 86400, "call_delay": FIXED(0.0),
                   "kinds": {"call": {"share": 1.0, "self_rescue": False, "volunteers": False,
                                      "meu_teams": 0, "police_units": 1,
                                      "call_probability": 1.0,
                                      "handling": {"dist": "exponential",
                                                   "mean_s": 600.0}}}},
    )  # fmt: skip


def _divided_city(units: int, patrol: bool, per_unit_day: float = 30.0, **police):
    """Four banks: a bridged river across and an unbridged one down the middle, so calls on
    the far side of the second river from every station wait for ever; overloaded in the
    afternoon, so the queue grows (``per_unit_day`` calls per unit and day); kinds that need one, two and three units."""
    return scenario(
        horizon_hours=10.0, warmup_hours=1.0, drain_hours=4.0,
        city={"width": 50, "height": 40, "cell_size_m": 200.0, "population": 300000,
              "rivers": [{"axis": "horizontal", "position": 0.5, "width_cells": 2,
                          "meander_cells": 3, "bridges": 3},
                         {"axis": "vertical", "position": 0.8, "width_cells": 2,
                          "meander_cells": 1, "bridges": 0}]},
        police={"stations": 5, "grids": 30, "units": units, "patrol_when_idle": patrol,
                "car_share": 0.6, **police},
        travel={"congestion_by_hour": [1.0] * 12 + [1.6] * 12},
        incidents={"rate_per_day": per_unit_day * units,
                   "kinds": {"one": {"share": 3.0, "priority": 3, "self_rescue": False,
                                     "volunteers": False, "meu_teams": 0, "police_units": 1},
                             "two": {"share": 1.0, "priority": 1, "self_rescue": False,
                                     "volunteers": False, "meu_teams": 0, "police_units": 2},
                             "three": {"share": 0.3, "priority": 0, "self_rescue": False,
                                       "volunteers": False, "meu_teams": 0,
                                       "police_units": 3}}},
    )  # fmt: skip


def _city(hours: float, **changes):
    from sim.geo.scenario import load_scenario

    sc = load_scenario(SCENARIOS / "guangzhou-2023.yaml")
    return sc.with_changes({"horizon_hours": hours, "drain_hours": 2.0, **changes})


CASES = {
    "mmc-rho-0.8": lambda: _mmc(0.8, 6000),
    "mmc-rho-1.1": lambda: _mmc(1.1, 6000),
    "divided-many-patrol": lambda: _divided_city(60, True, 22.0),
    "divided-many-patrol-busy": lambda: _divided_city(60, True),
    "divided-many-ties": lambda: _divided_city(60, False),
    "divided-many-own-grid": lambda: _divided_city(60, True, 22.0, dispatch="own_grid_first"),
    "divided-many-own-grid-busy": lambda: _divided_city(60, True, dispatch="own_grid_first"),
    "divided-many-move-up": lambda: _divided_city(40, True, move_up="uncovered_longest"),
    "divided-few": lambda: _divided_city(8, True),
    "divided-few-own-grid": lambda: _divided_city(8, False, dispatch="own_grid_first"),
    "city-hours": lambda: _city(5.0),
    "city-hours-own-grid": lambda: _city(4.0, **{"police.dispatch": "own_grid_first"}),
}


def digests(name: str) -> dict[str, str]:
    return table_digests(CASES[name]())


SLOW = {"city-hours", "city-hours-own-grid"}  # whole-city builds: seconds each


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(CASES)]
)
def test_tables_are_identical_to_the_reference(name):
    reference = json.loads(DIGESTS.read_text())[name]
    assert digests(name) == reference


if __name__ == "__main__":
    if "--write" not in sys.argv:
        sys.exit("usage: python -m tests.test_identical_dispatch --write")
    DIGESTS.write_text(json.dumps({n: digests(n) for n in sorted(CASES)}, indent=1) + "\n")
    print(f"wrote {DIGESTS}")
