"""``volunteers.recruited``: volunteers recruited by cell (the recruitment map of
``jiefang optimize --add volunteers=N``), placed in their cells and judged by simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.interface.cli import main
from sim.model.frames import incidents_frame
from sim.model.response import ResponseModel
from sim.model.vocab import LandUse
from tests.conftest import assert_run_reproduces_optimised_arm
from tests.test_optimize_methods import volunteer_city

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")

RECRUITED = [[1, 1, 5], [2, 6, 4], [1, 1, 2], [7, 2, 0]]


def _run(sc, seed=3, replication=1):
    model = ResponseModel(sc, seed=seed, replication=replication)
    return model, incidents_frame(model.run())


def test_recruited_volunteers_live_in_their_cells_after_the_others():
    sc = volunteer_city(horizon_hours=24.0)
    grown = sc.with_changes({"volunteers.recruited": RECRUITED})
    assert grown.volunteers.total == 60 + 11
    plain, inc = _run(sc)
    model, inc2 = _run(grown)
    pool = model.volunteers
    assert len(pool) == 71
    # The volunteers spread by residents are those of the plain scenario, draw for draw.
    assert np.array_equal(pool.home_xy[:60], plain.volunteers.home_xy)
    assert np.array_equal(pool.duty_rank[:60], plain.volunteers.duty_rank)
    col, row = model.city.cell_of(pool.home_xy[60:])
    got = pd.Series(list(zip(col.tolist(), row.tolist(), strict=True))).value_counts().to_dict()
    assert got == {(1, 1): 7, (2, 6): 4}
    # Homes are spread within the cell, not at its centre.
    assert np.unique(pool.home_xy[60:], axis=0).shape[0] == 11
    # A staffing-only change: the incidents are the same (common random numbers).
    cols = ["incident_id", "occurred_s", "x_m", "y_m", "kind", "alerted_s", "police_call_s"]
    assert inc[cols].equals(inc2[cols])


def test_an_empty_recruited_list_changes_nothing():
    sc = volunteer_city(horizon_hours=24.0)
    _, a = _run(sc)
    _, b = _run(sc.with_changes({"volunteers.recruited": []}))
    assert a.to_csv(float_format=repr) == b.to_csv(float_format=repr)


def test_recruits_are_the_same_whatever_the_count_spread_by_residents():
    sc = volunteer_city(horizon_hours=24.0)
    one = ResponseModel(sc.with_changes({"volunteers.recruited": RECRUITED}), seed=3).volunteers
    two = ResponseModel(
        sc.with_changes({"volunteers.recruited": RECRUITED, "volunteers.count": 90}), seed=3
    ).volunteers
    assert np.array_equal(one.home_xy[60:], two.home_xy[90:])
    assert np.array_equal(one.duty_rank[60:], two.duty_rank[90:])


def test_bad_recruited_cells_exit_2_with_one_line(tmp_path, capsys):
    sc = volunteer_city(horizon_hours=6.0)
    city = ResponseModel(sc, seed=0).city
    water_row, water_col = (int(v[0]) for v in np.nonzero(city.land_use == LandUse.WATER))
    cases = {
        "outside": ([[1, 1, 2], [10, 2, 1]], "volunteers.recruited.1: [10, 2] is outside the "
                    "city (10 x 8 cells)"),
        "water": ([[water_col, water_row, 3]], f"volunteers.recruited.0: [{water_col}, "
                  f"{water_row}] is on water or a bridge, not on land"),
        "shape": ([[1, 1]], "entries must be [column, row, count] >= 0"),
        "negative": ([[1, 1, -2]], "entries must be [column, row, count] >= 0"),
    }  # fmt: skip
    for name, (cells, message) in cases.items():
        raw = sc.model_dump(mode="json")
        raw["volunteers"]["recruited"] = cells
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(raw))
        code = main(["run", str(path), "--out", str(tmp_path / name), "-q", "--no-plot"])
        err = capsys.readouterr().err
        assert code == 2, name
        assert message in err and f"{name}.yaml" in err, (name, err)
        assert len(err.strip().splitlines()) == 1, (name, err)
        assert not (tmp_path / name).exists()


def test_optimize_volunteers_judges_the_map_by_simulation(tmp_path, capsys):
    sc = volunteer_city(horizon_hours=24.0)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    out = tmp_path / "plan"
    assert main(["optimize", str(path), "--add", "volunteers=30", "--seed", "1", "-r", "2",
                 "--random-arms", "2", "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "map - by-residents" in printed and "map - random-mean" in printed
    table = pd.read_csv(out / "recruitment.csv")
    assert table["recruit"].sum() == 30
    plan = yaml.safe_load((out / "optimised.yaml").read_text())
    # The map's allocation, by cell, in the scenario key; volunteers.count is unchanged.
    assert "count" not in plan["volunteers"]
    want = {(int(t.col), int(t.row)): int(t.recruit) for t in table.itertuples() if t.recruit}
    assert {(c, r): k for c, r, k in plan["volunteers"]["recruited"]} == want
    ev = pd.read_csv(out / "evaluation.csv")
    assert set(ev["arm"]) == {"base", "optimised", "by-residents", "random-1", "random-2",
                              "random-mean"}  # fmt: skip
    assert (ev.loc[ev["arm"] != "base", "added_sites"] == 30).all()
    per_rep = pd.read_csv(out / "per_replication.csv")
    assert per_rep.groupby("arm")["replication"].nunique().eq(2).all()
    # The arms differ (the map's recruits are simulated, not N more by residents).
    wide = per_rep.pivot_table(index=["tier", "replication"], columns="arm", values="compliance")
    assert not np.allclose(wide["optimised"], wide["by-residents"], equal_nan=True)
    assert_run_reproduces_optimised_arm(out, tmp_path / "run", seed=1)


def test_random_allocations_move_the_maps_counts_to_populated_cells():
    from sim.planning.candidates import pin_layout
    from sim.planning.recruit import (
        allocate,
        build_recruit_problem,
        mutual_tier,
        random_allocation,
    )

    layout = pin_layout(volunteer_city(), seed=1)
    problem = build_recruit_problem(layout, mutual_tier(layout.scenario))
    recruits = allocate(problem, 40)
    a, b = (random_allocation(problem, recruits, 1, k) for k in (1, 2))
    for x in (a, b):
        assert sorted(x[x > 0].tolist()) == sorted(recruits[recruits > 0].tolist())
        assert (problem.residents[x > 0] > 0).all()
    assert not np.array_equal(a, b)
    assert np.array_equal(a, random_allocation(problem, recruits, 1, 1))


def test_the_map_counts_a_scenarios_own_recruits_as_todays_volunteers():
    from sim.planning.candidates import pin_layout
    from sim.planning.recruit import build_recruit_problem, mutual_tier, recruited_cells

    sc = volunteer_city()
    layout = pin_layout(sc, seed=1)
    plain = build_recruit_problem(layout, mutual_tier(sc))
    own = pin_layout(sc.with_changes({"volunteers.recruited": [[1, 1, 30]]}), seed=1)
    problem = build_recruit_problem(own, mutual_tier(sc))
    at = np.flatnonzero(problem.cells == own.city.width + 1)
    assert problem.today.sum() == pytest.approx(plain.today.sum() + 30)
    assert problem.today[at] == pytest.approx(plain.today[at] + 30)
    assert problem.helped() > plain.helped()
    # optimised.yaml keeps the scenario's own entries first, then adds the map's.
    x = np.zeros(problem.cells.size, np.int64)
    x[at] = 4
    assert recruited_cells(own.scenario, own.city, problem, x) == [[1, 1, 30], [1, 1, 4]]
