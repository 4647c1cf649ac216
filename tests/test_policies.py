"""Dispatch and move-up policies: what each does differently, on small cities with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from sim.geo.scenario import load_scenario
from sim.model.config import ScenarioError
from sim.model.policies import (
    AvailableUnits,
    Call,
    NearestUnit,
    OwnGridFirst,
    UncoveredLongest,
)
from sim.model.response import ResponseModel
from sim.model.vocab import UnitState
from tests.conftest import run, scenario

STRIP = {
    "width": 12, "height": 3, "cell_size_m": 100.0, "population": 3600,
    "background_density": 1.0, "land_use_shares": {},
    "centres": [{"x": 0.5, "y": 0.5, "weight": 1.0, "scale_km": 1000.0}],
}  # fmt: skip


def _strip_model(seed: int) -> ResponseModel:
    sc = scenario(
        city=STRIP,
        police={"stations": 2, "grids": 2, "units": 2, "patrol_when_idle": False,
                "station_cells": [[0, 1], [11, 1]]},
    )  # fmt: skip
    return ResponseModel(sc, seed=seed)


def _a_cell_whose_own_unit_is_not_nearest():
    """A layout and cell where the unit patrolling the cell's grid is not the nearest."""
    for seed in range(40):
        model = _strip_model(seed)
        fleet, city = model.police, model.city
        for row in range(city.height):
            for col in range(city.width):
                grid = int(city.grid_of_cell[row, col])
                scene = city.cell_centre(col, row)
                dist = np.abs(fleet.station_xy - scene).sum(axis=1)
                own = [u for u in range(2) if fleet.covers(u, grid)]
                if own and dist[own[0]] > dist.min() + 1.0:
                    return model, scene, grid, own[0], int(np.argmin(dist)), dist
    pytest.fail("no layout puts a cell nearer to another grid's unit")


def _choose(policy, fleet, scene, grid, need, available=None):
    """``policy``'s choice for a call at ``scene`` (bank 0) among ``available`` units (the
    others made busy first)."""
    if available is not None:
        for u in np.setdiff1d(np.arange(len(fleet)), available).tolist():
            fleet.set_state(u, UnitState.EN_ROUTE)
    call = Call(incident=0, t=0.0, scene=scene, bank=0, grid=grid, need=need)
    units, travel = policy.choose(call, AvailableUnits(fleet, call))
    return np.asarray(units).tolist(), np.asarray(travel, float)


def test_nearest_sends_the_nearer_unit_and_own_grid_first_the_grids_own():
    model, scene, grid, own, nearer, dist = _a_cell_whose_own_unit_is_not_nearest()
    fleet = model.police
    speed = fleet.travel.drive_m_s
    units, travel = _choose(NearestUnit(), fleet, scene, grid, 1)
    assert units == [nearer] and travel[0] == pytest.approx(dist[nearer] / speed)
    units, travel = _choose(OwnGridFirst(), fleet, scene, grid, 1)
    assert units == [own] and travel[0] == pytest.approx(dist[own] / speed)
    # Two units needed: the grid's own first, then the nearest of the others.
    assert _choose(OwnGridFirst(), fleet, scene, grid, 2)[0] == [own, nearer]
    assert _choose(NearestUnit(), fleet, scene, grid, 2)[0] == [nearer, own]
    # The own unit busy: the call still gets the other one.
    assert _choose(OwnGridFirst(), fleet, scene, grid, 1, np.array([nearer]))[0] == [nearer]


def _covering_share(policy: str) -> float:
    sc = load_scenario_sub().with_changes({"police.dispatch": policy})
    model, df, asg = run(sc, seed=3)
    police = asg[asg["responder"] == "police"]
    grids = df.set_index("incident_id")["police_grid"]
    return float(np.mean([model.police.covers(int(u), int(grids[i]))
                          for u, i in zip(police["responder_id"], police["incident_id"],
                                          strict=True)]))  # fmt: skip


def load_scenario_sub():
    from tests.conftest import SCENARIOS

    return load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml").with_changes(
        {"horizon_hours": 72.0, "warmup_hours": 0.0}
    )


def test_own_grid_first_sends_grid_units_more_often_than_nearest():
    nearest, own = _covering_share("nearest"), _covering_share("own_grid_first")
    assert own > nearest + 0.1, (own, nearest)


# ---------------------------------------------------------------- move-up
def _four_grid_model() -> ResponseModel:
    sc = scenario(city=STRIP | {"width": 20, "height": 20, "population": 40000},
                  police={"stations": 1, "grids": 4, "units": 4, "move_up": "uncovered_longest"})  # fmt: skip
    return ResponseModel(sc, seed=2)


def test_move_up_covers_the_grid_left_uncovered_and_hands_it_back():
    model = _four_grid_model()
    fleet, policy = model.police, UncoveredLongest()
    # One station, four grids, four units: unit u of rank u patrols grid u alone.
    assert [g.tolist() for g in fleet.beat_grids] == [[0], [1], [2], [3]]
    owner = {int(fleet.beat_grids[u][0]): u for u in range(4)}
    # Two grids' units go busy, first grid 2's then grid 0's: both grids uncovered.
    fleet.set_state(owner[2], UnitState.EN_ROUTE)
    policy.rebalance(fleet, 10.0)
    fleet.set_state(owner[0], UnitState.EN_ROUTE)
    policy.rebalance(fleet, 20.0)
    # Only two idle units are left, each its own beat's sole cover: no donor can be spared.
    assert fleet.relocated == {}
    assert policy.uncovered_since == {2: 10.0, 0: 20.0}
    # A fifth unit's worth of slack: grid 1's unit comes back with a second unit on grid 1.
    fleet.set_state(owner[2], UnitState.AVAILABLE)
    policy.rebalance(fleet, 30.0)
    assert fleet.relocated == {} and set(policy.uncovered_since) == {0}


def test_move_up_sends_an_idle_unit_when_a_grid_has_two():
    sc = scenario(city=STRIP | {"width": 20, "height": 20, "population": 40000},
                  police={"stations": 1, "grids": 2, "units": 4, "move_up": "uncovered_longest"})  # fmt: skip
    model = ResponseModel(sc, seed=2)
    fleet, policy = model.police, UncoveredLongest()
    by_grid = {}
    for u in range(4):
        by_grid.setdefault(int(fleet.beat_grids[u][0]), []).append(u)
    assert sorted(len(v) for v in by_grid.values()) == [2, 2]
    g0, g1 = sorted(by_grid)
    for u in by_grid[g0]:  # grid g0 loses both its units
        fleet.set_state(u, UnitState.EN_ROUTE)
    policy.rebalance(fleet, 5.0)
    moved = list(fleet.relocated)
    assert len(moved) == 1 and moved[0] in by_grid[g1] and fleet.relocated[moved[0]] == g0
    # The moved unit now patrols g0: its spot lies in g0's cells at every leg.
    city = model.city
    for leg in range(20):
        spot = fleet.spots_at(leg * sc.police.patrol_leg_s + 1.0)[0][moved[0]]
        col, row = city.cell_of(spot)
        assert city.grid_of_cell[row, col] == g0
    # g0's own unit is back: the moved unit returns to its beat.
    fleet.set_state(by_grid[g0][0], UnitState.AVAILABLE)
    policy.rebalance(fleet, 50.0)
    assert fleet.relocated == {}


def test_move_up_brings_help_nearer_to_a_stripped_grid():
    """With both units of one grid busy, the nearest idle unit to points of that grid is
    nearer on average when one unit moves up than when every unit keeps its beat."""
    sc = scenario(city=STRIP | {"width": 20, "height": 20, "population": 40000},
                  police={"stations": 1, "grids": 2, "units": 4})  # fmt: skip
    rng = np.random.default_rng(0)
    means = {}
    for move in (False, True):
        fleet = ResponseModel(sc, seed=2).police
        by_grid = {}
        for u in range(4):
            by_grid.setdefault(int(fleet.beat_grids[u][0]), []).append(u)
        g0 = min(by_grid)
        for u in by_grid[g0]:
            fleet.set_state(u, UnitState.EN_ROUTE)
        if move:
            UncoveredLongest().rebalance(fleet, 0.0)
        cells = fleet.grid_cells[g0]
        d = []
        for leg in range(300):
            cell = cells[rng.integers(cells.size)]
            scene = np.array([(cell % 20 + 0.5) * 100.0, (cell // 20 + 0.5) * 100.0])
            d.append(fleet.nearest(fleet.available(), leg * 900.0 + 1, scene, 0, 1)[1][0])
        means[move] = float(np.mean(d))
    assert means[True] < 0.8 * means[False], means


@pytest.mark.parametrize("key", ["police.dispatch", "police.move_up"])
def test_unknown_policy_is_a_clear_error(tmp_path, key):
    section, name = key.split(".")
    path = tmp_path / "s.yaml"
    path.write_text(f"name: t\n{section}: {{{name}: teleport}}\n")
    with pytest.raises(ScenarioError, match=rf"{key}.*unknown policy 'teleport'"):
        load_scenario(path)


def test_a_patrol_spot_is_a_uniform_point_of_the_beat_or_the_station_without_one():
    """PoliceFleet.patrol_spots: a unit whose beat has land patrols a point of one of its
    beat's cells (the cell drawn uniformly, then the point in it); a unit whose beat has no
    land (beat_count 0) stays at its station. The same draws give the same spots."""
    model = ResponseModel(scenario(police={"stations": 2, "grids": 6, "units": 8}), seed=4)
    fleet, city = model.police, model.city
    ids = np.tile(np.arange(len(fleet)), 3)
    legs = np.repeat(np.arange(5, 8), len(fleet))
    spots = fleet.patrol_spots(ids, legs)
    col = (spots[:, 0] // city.cell_size_m).astype(np.int64)
    row = (spots[:, 1] // city.cell_size_m).astype(np.int64)
    for k, u in enumerate(ids.tolist()):
        beat = fleet.beat_cells[fleet.beat_start[u] : fleet.beat_start[u] + fleet.beat_count[u]]
        assert row[k] * city.width + col[k] in set(beat.tolist()), (k, u)
    np.testing.assert_array_equal(fleet.patrol_spots(ids, legs), spots)  # the same draws
    fleet.beat_count = fleet.beat_count.copy()
    fleet.beat_count[[1, 4]] = 0  # beats without land
    beatless = fleet.patrol_spots(ids, legs)
    at_station = np.isin(ids, [1, 4])
    np.testing.assert_array_equal(beatless[at_station], fleet.station_xy[ids[at_station]])
    np.testing.assert_array_equal(beatless[~at_station], spots[~at_station])
