"""jiefang optimize (issue 14): coverage, MCLP, evaluation, outputs and errors.

The small city below has a river with one bridge, MEUs at two kinds of site (one closed at
night) and an exact mobilisation delay, so coverage depends on water, opening hours and the
model's own travel. Its candidate sites are few enough to enumerate every placement.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.analysis.stats import paired_difference
from sim.interface.cli import main
from sim.model.config import ScenarioError
from sim.model.response import ResponseModel
from sim.model.vocab import LandUse
from sim.planning.candidates import candidate_cells, pin_layout, random_placement
from sim.planning.coverage import build_problem
from sim.planning.demand import cell_demand, kind_rates_per_day, time_slots
from sim.planning.evaluate import arm_compliance, evaluation_table, with_sites
from sim.planning.plan import PlanRequest, objective_tiers, plan_placement
from tests.conftest import assert_run_reproduces_optimised_arm, scenario

SUB = 2  # demand points per cell side in these tests
REACH_M = 250.0  # min(coverage radius 250 m, (180 s - 30 s mobilisation) x 2 m/s = 300 m)


def small(**overrides):
    base = {
        "city": {
            "width": 10, "height": 8, "cell_size_m": 100.0, "population": 8000,
            "land_use_shares": {"commercial": 0.1, "urban_village": 0.1},
            "rivers": [{"axis": "horizontal", "position": 0.5, "width_cells": 1, "bridges": 1}],
        },
        "meus": {
            "count": 2, "members_per_unit": 4, "on_duty_share": 0.5, "team_size": 1,
            "site_shares": {"commercial": 0.5, "urban_village": 0.5},
            "opening_hours": {"commercial": [8, 20]}, "coverage_radius_m": REACH_M,
            "mobilisation": {"dist": "fixed", "value": 30},
        },
        "incidents": {"rate_per_day": 40.0, "hourly_profile": [0.5] * 8 + [1.5] * 12 + [0.5] * 4},
    }  # fmt: skip
    from sim.model.config import deep_merge

    return scenario(**deep_merge(base, overrides))


def mutual(sc):
    return next(t for t in sc.tiers if t.name == "mutual")


def brute_force_coverage(layout, tier, cells_sets):
    """Demand per day newly covered by each set of added cells, computed point by point
    and quarter-hour by quarter-hour (no merging, no time classes, no search tree)."""
    sc, city = layout.scenario, layout.city
    w = city.width
    demand = cell_demand(sc, city, tier, "meu_team")
    slots = time_slots(sc)
    hours = (np.arange(slots.size) + 0.5) / 4

    def open_at(cell):
        use = LandUse(int(city.land_use.reshape(-1)[cell])).name.lower()
        span = sc.meus.opening_hours.get(use)
        if span is None:
            return np.ones(hours.size, bool)
        return (hours >= span[0]) & (hours < span[1])

    points, weights = [], []
    for cell in np.flatnonzero(demand > 0):
        for i in range(SUB):
            for j in range(SUB):
                points.append(
                    ((cell % w + (i + 0.5) / SUB) * 100, (cell // w + (j + 0.5) / SUB) * 100)
                )
                weights.append(demand[cell] / SUB**2)
    points, weights = np.array(points), np.array(weights)

    def reach(cell):
        xy = city.cell_centre(np.array([cell % w]), np.array([cell // w])).reshape(1, 2)
        d = np.array([city.pair_distances(xy, city.bank_of(xy), p[None], None)[0] for p in points])
        ok = (d <= REACH_M) & (30 + d / sc.travel.run_with_equipment_m_s <= tier.target_s)
        return ok[:, None] & open_at(cell)[None, :]  # (points, slots)

    base = np.zeros((len(points), slots.size), bool)
    for cell in layout.base_flat:
        base |= reach(cell)
    cache = {}
    out = []
    for cells in cells_sets:
        cover = np.zeros_like(base)
        for c in cells:
            if c not in cache:
                cache[c] = reach(c)
            cover |= cache[c]
        out.append(float((weights[:, None] * slots[None, :] * (cover & ~base)).sum()))
    return out


# ---------------------------------------------------------------- fast
def test_demand_is_the_incident_generators_rate_and_cells():
    sc = small(incidents={"probes_per_day": 10.0})
    layout = pin_layout(sc, seed=3)
    tier = mutual(layout.scenario).model_copy(update={"scope": "all"})
    demand = cell_demand(layout.scenario, layout.city, tier, "meu_team")
    assert demand.sum() == pytest.approx(50.0)  # 40 incidents and 10 probes a day
    assert kind_rates_per_day(layout.scenario) == {"disturbance": pytest.approx(50.0)}
    model = ResponseModel(layout.scenario.with_changes({"horizon_hours": 2400.0}), seed=3)
    col, row = model.city.cell_of(model.incidents.xy)
    drawn = np.bincount(row * model.city.width + col, minlength=demand.size)
    # Incidents fall where the demand says (100 days: the drawn counts follow the weights).
    assert np.corrcoef(drawn, demand)[0, 1] > 0.95
    reported = cell_demand(layout.scenario, layout.city, mutual(layout.scenario), "meu_team")
    assert reported.sum() == pytest.approx(50.0 * 0.9)  # call probability, no cameras


def test_the_pinned_layout_is_the_models_layout_with_the_same_units():
    sc = small()
    layout = pin_layout(sc, seed=5)
    drawn = ResponseModel(sc.with_changes({"layout": "fixed"}), seed=5, replication=2)
    pinned = ResponseModel(layout.scenario, seed=5, replication=2)
    assert np.array_equal(drawn.city.land_use, pinned.city.land_use)
    assert np.array_equal(drawn.meus.members, pinned.meus.members)
    col, row = drawn.city.cell_of(drawn.meus.xy)
    assert np.array_equal(np.stack([col, row], 1), layout.base_cells)
    more = ResponseModel(with_sites(layout, np.array([3, 4]), "more"), seed=5, replication=2)
    assert np.array_equal(more.incidents.xy, pinned.incidents.xy)  # common random numbers
    assert np.array_equal(more.meus.members[:2], pinned.meus.members)
    assert len(more.meus) == 4


def test_merged_coverage_matrix_is_exact_for_any_placement():
    sc = small()
    layout = pin_layout(sc, seed=1)
    cands = candidate_cells(layout.scenario, layout.city)
    tier = mutual(layout.scenario)
    problem = build_problem(layout, cands, [(tier, "meu_team")], subdivide=SUB)
    assert problem.weights.size < problem.columns.size * 20  # merged: far fewer than points
    sets = [tuple(int(c) for c in s) for s in itertools.combinations(cands.tolist(), 2)][:40]
    expected = brute_force_coverage(layout, tier, sets)
    col_of = {int(c): j for j, c in enumerate(problem.columns)}
    got = [problem.covered([col_of[c] for c in s if c in col_of]) for s in sets]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert max(expected) > 0


def test_random_placements_come_from_the_planning_stream():
    sc = small()
    layout = pin_layout(sc, seed=1)
    cands = candidate_cells(layout.scenario, layout.city)
    a = random_placement(layout.scenario, layout.city, cands, 4, seed=1, arm=1)
    assert np.array_equal(a, random_placement(layout.scenario, layout.city, cands, 4, 1, 1))
    assert not np.array_equal(a, random_placement(layout.scenario, layout.city, cands, 4, 1, 2))
    assert len(set(a.tolist())) == 4 and set(a.tolist()) <= set(cands.tolist())


def test_evaluation_rows_are_paired_differences_from_the_base():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.4, 0.6, 10)
    arms = {"base": base, "optimised": base + rng.normal(0.05, 0.01, 10),
            "random-1": base + rng.normal(0.01, 0.02, 10), "random-2": base + 0.02}  # fmt: skip
    per_rep = pd.concat([
        pd.DataFrame({"arm": a, "replication": range(10), "tier": "mutual", "n": 50, "compliance": v})
        for a, v in arms.items()
    ])  # fmt: skip
    table = evaluation_table(per_rep, {"base": 0, "optimised": 3}).set_index("arm")
    diff, half = paired_difference(base, arms["optimised"])
    row = table.loc["optimised"]
    assert (row.diff_vs_base, row.ci_low, row.ci_high) == pytest.approx(
        (diff, diff - half, diff + half)
    )
    assert row.compliance == pytest.approx(arms["optimised"].mean())
    mean_random = (arms["random-1"] + arms["random-2"]) / 2
    diff, half = paired_difference(mean_random, arms["optimised"])
    assert (row.diff_vs_random_mean, row.ci_random_low, row.ci_random_high) == pytest.approx(
        (diff, diff - half, diff + half)
    )
    assert np.isnan(table.loc["random-1", "diff_vs_random_mean"])
    assert table.loc["random-mean", "compliance"] == pytest.approx(mean_random.mean())
    assert list(table.index) == ["base", "optimised", "random-1", "random-2", "random-mean"]


@pytest.mark.parametrize("add, objective, message", [
    ("firefighters=2", "mutual", "unknown kind"),
    ("police_posts=2", "mutual", "police posts serve the police tier only"),
    ("volunteers=2", "mutual", "the scenario has no volunteers"),
    ("meus=100000", "mutual", "candidate cells"),
    ("meus=2", "police", "MEUs do not serve the police tier"),
])  # fmt: skip
def test_bad_requests_are_one_clear_error(tmp_path, capsys, add, objective, message):
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small().model_dump(mode="json")))
    code = main(["optimize", str(path), "--add", add, "--objective", objective,
                 "--out", str(tmp_path / "out"), "-q"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_adding_meus_where_no_incident_calls_for_them_is_an_error(tmp_path, capsys):
    sc = small(incidents={"kinds": {"theft": {"share": 1, "meu_teams": 0, "self_rescue": False}}})
    path = tmp_path / "no-meus.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    assert main(["optimize", str(path), "--add", "meus=2", "--out", str(tmp_path / "o")]) == 2
    assert "could change nothing" in capsys.readouterr().err
    with pytest.raises(ScenarioError, match="no tier named 'self'"):
        objective_tiers(sc, "self")  # no kind has self-rescue: the default table drops it


def test_an_add_without_a_count_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["optimize", "x.yaml", "--add", "meus"])
    assert stop.value.code == 2
    assert "KIND=N" in capsys.readouterr().err


# ---------------------------------------------------------------- slow (spopt, simulation)
@pytest.mark.slow
@pytest.mark.parametrize("seed, n", [(1, 2), (4, 3)])
def test_mclp_finds_the_best_placement_known_by_enumeration(seed, n):
    sc = small()
    layout = pin_layout(sc, seed=seed)
    cands = candidate_cells(layout.scenario, layout.city)
    tier = mutual(layout.scenario)
    problem = build_problem(layout, cands, [(tier, "meu_team")], subdivide=SUB)
    from sim.planning.optimize import solve_mclp

    solution = solve_mclp(problem, n)
    every = [tuple(s) for s in itertools.combinations(cands.tolist(), n)]
    values = brute_force_coverage(layout, tier, every)
    chosen = tuple(problem.columns[solution.chosen].tolist())
    assert solution.covered_per_day == pytest.approx(max(values), rel=1e-9)
    assert brute_force_coverage(layout, tier, [chosen])[0] == pytest.approx(max(values), rel=1e-9)
    assert max(values) > min(values)  # the choice matters


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")
def test_reported_coverage_equals_spopts_objective_on_the_same_matrix():
    import pulp
    from spopt.locate import MCLP

    from sim.planning.optimize import solve_mclp

    sc = small(city={"width": 16, "height": 12})
    layout = pin_layout(sc, seed=2)
    problem = build_problem(layout, candidate_cells(layout.scenario, layout.city),
                            [(mutual(layout.scenario), "meu_team")])  # fmt: skip
    solution = solve_mclp(problem, 3)
    model = MCLP.from_cost_matrix(problem.cost, problem.weights, service_radius=1.0, p_facilities=3)
    model.solve(pulp.HiGHS(msg=False), results=True)
    assert solution.covered_per_day == pytest.approx(pulp.value(model.problem.objective), rel=1e-9)
    assert solution.objective == pytest.approx(solution.covered_per_day, rel=1e-12)
    covered = [i for i, clients in enumerate(model.cli2fac) if clients]
    assert problem.weights[covered].sum() == pytest.approx(solution.covered_per_day, rel=1e-9)


@pytest.mark.slow
def test_optimize_writes_its_files_and_run_reproduces_the_optimised_arm(tmp_path, capsys):
    sc = small(horizon_hours=72.0)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    out = tmp_path / "plan"
    assert main(["optimize", str(path), "--add", "meus=3", "--seed", "2", "-r", "3",
                 "--random-arms", "2", "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "optimised" in printed and "random-mean" in printed
    names = {p.name for p in out.iterdir()}
    assert {"placement.csv", "placement.geojson", "optimised.yaml", "evaluation.csv",
            "per_replication.csv", "placement.png", "manifest.json"} <= names  # fmt: skip
    placement = pd.read_csv(out / "placement.csv")
    assert len(placement) == 3 and placement[["col", "row"]].drop_duplicates().shape[0] == 3
    geo = yaml.safe_load((out / "placement.geojson").read_text())
    assert [f["geometry"]["coordinates"] for f in geo["features"]] == placement[
        ["x_m", "y_m"]
    ].values.tolist()
    ev = pd.read_csv(out / "evaluation.csv")
    assert list(ev.columns[:6]) == [
        "arm",
        "tier",
        "compliance",
        "diff_vs_base",
        "ci_low",
        "ci_high",
    ]
    assert set(ev["arm"]) == {"base", "optimised", "random-1", "random-2", "random-mean"}
    assert_run_reproduces_optimised_arm(out, tmp_path / "run", seed=2)


@pytest.mark.slow
def test_plan_adds_sites_the_coverage_model_values(tmp_path):
    sc = small(horizon_hours=48.0)
    result = plan_placement(sc, PlanRequest("meus", 2, replications=2, random_arms=1, seed=1))
    assert result.solution.covered_per_day > 0
    assert math.isclose(result.solution.objective, result.solution.covered_per_day, rel_tol=1e-9)
    assert result.optimised.meus.count == sc.meus.count + 2
    assert result.optimised.meus.site_cells[:2] == result.layout.base_cells.tolist()


@pytest.mark.slow
def test_simulation_in_the_loop_finds_the_best_single_site_known_by_enumeration():
    """One new unit and every candidate as an alternative: the local search must end at the
    candidate whose simulated score (incidents helped in time on the search replications,
    the same incidents for every candidate) is the best of all, found here by enumeration."""
    sc = small(horizon_hours=96.0)
    req = PlanRequest("meus", 1, method="sim", seed=3, replications=2, random_arms=1,
                      search_replications=3, search_evaluations=1000, search_alternatives=1000)  # fmt: skip
    result = plan_placement(sc, req)
    layout = result.layout

    def score(cell):
        table = arm_compliance(with_sites(layout, np.array([cell]), "x"), 3, 3, first=2)
        return table[table["tier"] == "mutual"].groupby("replication")["met"].sum().mean()

    scores = {int(c): score(int(c)) for c in result.candidates}
    assert max(scores.values()) > min(scores.values())  # the choice matters
    assert scores[int(result.added[0])] == max(scores.values())
    assert result.search is not None and result.search.score == max(scores.values())
    assert result.search.evaluations <= len(scores)


def test_candidate_files_are_read_and_checked(tmp_path, capsys):
    sc = small()
    layout = pin_layout(sc, seed=0)
    city = layout.city
    from sim.planning.candidates import read_candidates

    good = tmp_path / "c.csv"
    good.write_text("col,row\n1,1\n2,1\n1,1\n")
    assert read_candidates(good, city).tolist() == [city.width + 1, city.width + 2]
    metres = tmp_path / "m.csv"
    metres.write_text("x_m,y_m,name\n150,150,a\n250.5,199,b\n")
    assert read_candidates(metres, city).tolist() == [city.width + 1, city.width + 2]
    geo = tmp_path / "c.geojson"
    geo.write_text(
        '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [150, 150]}}]}'
    )
    assert read_candidates(geo, city).tolist() == [city.width + 1]

    water_row, water_col = (int(v[0]) for v in np.nonzero(city.land_use == LandUse.WATER))
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    cases = {
        "outside.csv": ("col,row\n1,1\n10,2\n", "line 3: cell [10, 2] is outside the city (10 x 8 cells)"),
        "water.csv": (f"col,row\n{water_col},{water_row}\n", f"line 2: cell [{water_col}, {water_row}] is on water or a bridge"),
        "words.csv": ("col,row\none,1\n", "line 2: col and row must be numbers"),
        "columns.csv": ("a,b\n1,1\n", "expected columns col,row"),
        "few.csv": ("col,row\n1,1\n", "more than the 1 candidate cells in the candidate file"),
        "bad.geojson": ('{"type": "FeatureCollection", "features": [{"geometry": {"type": "LineString"}}]}', "feature 1: expected a Point"),
    }  # fmt: skip
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        code = main(["optimize", str(path), "--add", "meus=2", "--candidates", str(tmp_path / name),
                     "--out", str(tmp_path / "out"), "-q"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2, name
        assert message in err and len(err.strip().splitlines()) == 1, (name, err)
