"""jiefang optimize (issue 14), the second half: the sparse MCLP statement, LSCP, p-median and
police posts, each checked against enumeration on a small city or against spopt's own model
on the same matrix."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import yaml
from scipy import sparse

from sim.interface.cli import main
from sim.model.config import by_hour
from sim.model.vocab import LandUse
from sim.planning.candidates import candidate_cells, pin_layout, post_cells
from sim.planning.coverage import NEVER_COST, CoverageProblem, build_problem
from sim.planning.demand import cell_demand, time_slots
from sim.planning.evaluate import with_sites
from sim.planning.plan import PlanRequest, check_request, objective_tiers
from tests.conftest import assert_run_reproduces_optimised_arm
from tests.test_optimize import REACH_M, SUB, mutual, small

pytestmark = pytest.mark.filterwarnings("ignore:Constructing LpVariable:DeprecationWarning")


def police_city(**overrides):
    """Slow cars with rush hours, so that one station cannot cover the small city."""
    travel = {
        "drive_m_s": 1.5,
        "congestion_by_hour": [1.0] * 7 + [2.0] * 3 + [1.0] * 7 + [2.0] * 3 + [1.0] * 4,
    }
    return small(police={"stations": 1, "grids": 6, "units": 2}, travel=travel, **overrides)


def tier_named(sc, name):
    return next(t for t in sc.tiers if t.name == name)


def point_times(layout, tier, responder, cells):
    """Per candidate cell: (points, slots) time to each demand point as a share of the target
    (inf: out of reach or closed), computed point by point and quarter-hour by quarter-hour
    without the planner's merging, time classes or KD-tree; and the points' weights."""
    sc, city = layout.scenario, layout.city
    w = city.width
    demand = cell_demand(sc, city, tier, responder)
    slots = time_slots(sc)
    hours = (np.arange(slots.size) + 0.5) / 4
    k = 1 if responder == "police" else SUB  # police demand sits at cell centres
    points, weights = [], []
    for cell in np.flatnonzero(demand > 0):
        for i in range(k):
            for j in range(k):
                points.append(((cell % w + (i + 0.5) / k) * 100, (cell // w + (j + 0.5) / k) * 100))
                weights.append(demand[cell] / k**2)
    points, weights = np.array(points), np.array(weights)
    out = {}
    for cell in cells:
        xy = city.cell_centre(np.array([cell % w]), np.array([cell // w])).reshape(1, 2)
        d = np.array([city.pair_distances(xy, city.bank_of(xy), p[None], None)[0] for p in points])
        if responder == "police":
            lag = float(sc.police.call_handling.quantile(np.array([0.5]))[0])
            speed = sc.travel.drive_m_s / np.array(
                [by_hour(sc.travel.congestion_by_hour)[int(h)] for h in hours]
            )
            t = (lag + d[:, None] / speed[None, :]) / tier.target_s
        else:
            t = (30 + d[:, None] / sc.travel.run_with_equipment_m_s) / tier.target_s
            t = np.where(d[:, None] <= REACH_M, t, np.inf)  # within coverage_radius_m
            use = LandUse(int(city.land_use.reshape(-1)[cell])).name.lower()
            span = sc.meus.opening_hours.get(use)
            if span is not None:
                t = np.where(((hours >= span[0]) & (hours < span[1]))[None, :], t, np.inf)
        out[int(cell)] = t
    return out, weights[:, None] * slots[None, :]


def fixture(sc, responder, seed):
    police = responder == "police"
    layout = pin_layout(sc, seed=seed, stations=police)
    tier = tier_named(layout.scenario, "police" if police else "mutual")
    cands = post_cells(layout.city) if police else candidate_cells(layout.scenario, layout.city)
    base = layout.station_flat if police else layout.base_flat
    times, w = point_times(layout, tier, responder, [*cands.tolist(), *base.tolist()])
    best_base = np.full(w.shape, np.inf)
    for c in base.tolist():
        best_base = np.minimum(best_base, times[c])
    return layout, tier, cands, times, w, best_base


def covered_by(cells, times, w, best_base):
    best = np.full(w.shape, np.inf)
    for c in cells:
        best = np.minimum(best, times[c])
    return float((w * ((best <= 1 + 1e-12) & (best_base > 1 + 1e-12))).sum())


def weighted_time(cells, times, w, best_base):
    best = np.minimum(best_base, NEVER_COST)
    for c in cells:
        best = np.minimum(best, times[c])
    return float((w * best).sum())


def random_problem(rng, rows, cols, density):
    cover = rng.random((rows, cols)) < density
    cover[np.arange(rows), rng.integers(0, cols, rows)] = True  # every row coverable
    cost = np.where(cover, rng.uniform(0.1, 1.0, (rows, cols)), np.inf)
    m = sparse.csr_matrix(np.where(cover, cost, 0.0))
    return CoverageProblem(m, rng.uniform(0.1, 3.0, rows), np.arange(cols), 1.0, 0.0, ("t",))


# ---------------------------------------------------------------- fast
@pytest.mark.slow  # spopt's import alone takes seconds
@pytest.mark.parametrize("seed", range(6))
def test_the_sparse_mclp_and_lscp_give_spopts_optimum_on_the_same_matrix(seed):
    from sim.planning.optimize import solve_lscp, solve_mclp

    rng = np.random.default_rng(seed)
    problem = random_problem(rng, int(rng.integers(20, 60)), int(rng.integers(8, 20)), 0.12)
    for n in (1, 3, 5):
        dense = solve_mclp(problem, n, sparse=False)
        thin = solve_mclp(problem, n, sparse=True)
        assert (dense.statement, thin.statement) == ("spopt", "sparse")
        assert thin.objective == pytest.approx(dense.objective, rel=1e-9)
        assert thin.covered_per_day == pytest.approx(dense.covered_per_day, rel=1e-9)
    dense, thin = solve_lscp(problem, sparse=False), solve_lscp(problem, sparse=True)
    assert dense.needed == thin.needed and thin.covered_per_day == pytest.approx(
        problem.weights.sum()
    )


@pytest.mark.slow
def test_the_whole_city_mclp_is_stated_sparse_past_the_dense_limit(monkeypatch):
    import sim.planning.optimize as optimize

    sc = small()
    layout = pin_layout(sc, seed=1)
    cands = candidate_cells(layout.scenario, layout.city)
    problem = build_problem(layout, cands, [(mutual(layout.scenario), "meu_team")], SUB)
    monkeypatch.setattr(optimize, "SPOPT_DENSE_ENTRIES", 10)
    thin = optimize.solve_mclp(problem, 2)
    monkeypatch.setattr(optimize, "SPOPT_DENSE_ENTRIES", 10**9)
    dense = optimize.solve_mclp(problem, 2)
    assert (thin.statement, dense.statement) == ("sparse", "spopt")
    assert thin.objective == pytest.approx(dense.objective, rel=1e-9) and dense.objective > 0


def test_a_pmedian_too_large_for_spopt_is_refused(monkeypatch):
    import sim.planning.coverage as coverage
    from sim.model.config import ScenarioError
    from sim.planning.optimize import solve_pmedian

    sc = small()
    layout = pin_layout(sc, seed=1)
    cands = candidate_cells(layout.scenario, layout.city)
    problem = build_problem(layout, cands, [(mutual(layout.scenario), "meu_team")], SUB, True)
    monkeypatch.setattr(coverage, "MAX_MATRIX_ENTRIES", 10)
    with pytest.raises(ScenarioError, match=r"coverage matrix would have .* entries"):
        solve_pmedian(problem, 2)


@pytest.mark.parametrize("seed", [1, 4])
def test_police_coverage_matrix_is_exact_for_any_placement(seed):
    sc = police_city()
    layout, tier, cands, times, w, best_base = fixture(sc, "police", seed)
    problem = build_problem(layout, cands, [(tier, "police")], SUB)
    col_of = {int(c): j for j, c in enumerate(problem.columns)}
    sets = list(itertools.combinations(cands.tolist(), 2))[:30]
    got = [problem.covered([col_of[c] for c in s if c in col_of]) for s in sets]
    want = [covered_by(s, times, w, best_base) for s in sets]
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert max(want) > 0
    assert problem.base_per_day == pytest.approx(float((w * (best_base <= 1 + 1e-12)).sum()))


def test_a_police_post_is_a_station_with_a_unit_on_the_same_city():
    from sim.model.response import ResponseModel

    sc = police_city()
    layout = pin_layout(sc, seed=2, stations=True)
    drawn = ResponseModel(sc.with_changes({"layout": "fixed"}), seed=2)
    pinned = ResponseModel(layout.scenario, seed=2)
    assert np.array_equal(drawn.city.station_xy, pinned.city.station_xy)
    assert np.array_equal(drawn.city.grid_of_cell, pinned.city.grid_of_cell)
    more = ResponseModel(
        with_sites(layout, post_cells(layout.city)[:2], "x", "police_posts"), seed=2
    )
    assert more.city.station_xy.shape[0] == 3 and len(more.police.state) == 4
    assert np.array_equal(more.city.land_use, pinned.city.land_use)
    assert np.array_equal(more.incidents.xy, pinned.incidents.xy)  # common random numbers


def test_request_defaults_follow_the_kind():
    sc = police_city(volunteers={"count": 50})
    assert check_request(sc, PlanRequest("meus", 1)).objective == "mutual"
    req = check_request(sc, PlanRequest("police_posts", 1))
    assert (req.objective, req.method) == ("police", "mclp")
    assert check_request(sc, PlanRequest("volunteers", 5)).method == "recruit"
    assert [t.name for t, _ in objective_tiers(sc, "police", "police_posts")] == ["police"]


@pytest.mark.parametrize("scenario_overrides, add, extra, message", [
    ({}, "police_posts=2", ["--objective", "mutual"], "police posts serve the police tier only"),
    ({}, "meus=2", ["--objective", "police"], "MEUs do not serve the police tier"),
    ({}, "volunteers=20", [], "the scenario has no volunteers (volunteers.count: 0)"),
    ({"meus": {"count": 0}}, "meus=2", [], "the scenario has no MEUs (meus.count: 0)"),
    ({"police": {"units": 0}}, "police_posts=1", [], "has no police units"),
    ({"volunteers": {"count": 50}}, "volunteers=20", ["--method", "lscp"], "--method lscp with --add volunteers"),
    ({"volunteers": {"count": 50}}, "volunteers=20", ["--candidates", "c.csv"], "--candidates with --add volunteers"),
    ({"volunteers": {"count": 50}}, "volunteers=20", ["--objective", "police"], "--add volunteers with --objective police"),
    ({}, "police_posts=4", [], "at most 3 more"),
    ({}, "police_posts=1", ["--method", "pmedian", "--objective", "self"], "police posts serve the police tier only"),
    ({}, "meus=100000", ["--method", "lscp"], "candidate cells"),
])  # fmt: skip
def test_bad_requests_exit_2_with_one_line(
    tmp_path, capsys, scenario_overrides, add, extra, message
):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small(**scenario_overrides).model_dump(mode="json")))
    code = main(["optimize", str(path), "--add", add, *extra, "--out", str(tmp_path / "o"), "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_police_candidates_on_water_or_outside_are_refused(tmp_path, capsys):
    sc = police_city()
    layout = pin_layout(sc, seed=0)
    row, col = (int(v[0]) for v in np.nonzero(layout.city.land_use == LandUse.WATER))
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    for text, message in [(f"col,row\n{col},{row}\n", "on water or a bridge"),
                          ("col,row\n-1,2\n", "outside the city")]:  # fmt: skip
        (tmp_path / "c.csv").write_text(text)
        code = main(["optimize", str(path), "--add", "police_posts=1", "--candidates",
                     str(tmp_path / "c.csv"), "--out", str(tmp_path / "o"), "-q"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- slow (spopt, simulation)
def _best_by_enumeration(cands, n, value, maximise=True):
    values = {s: value(s) for s in itertools.combinations(cands.tolist(), n)}
    best = max(values.values()) if maximise else min(values.values())
    return best, values


@pytest.mark.slow
@pytest.mark.parametrize(
    "responder, seed, n", [("meu_team", 1, 2), ("police", 3, 2), ("police", 5, 1)]
)
def test_every_method_finds_the_best_placement_known_by_enumeration(responder, seed, n):
    from sim.planning.optimize import solve_lscp, solve_mclp, solve_pmedian

    sc = police_city()
    layout, tier, cands, times, w, best_base = fixture(sc, responder, seed)
    pairs = [(tier, responder)]
    if responder == "police":  # fewer candidates: enumeration stays quick
        cands = cands[:: max(1, cands.size // 12)]
    problem = build_problem(layout, cands, pairs, SUB)

    # MCLP: the most demand newly covered.
    best, values = _best_by_enumeration(cands, n, lambda s: covered_by(s, times, w, best_base))
    assert max(values.values()) > min(values.values())  # the choice matters
    for thin in (False, True):
        got = solve_mclp(problem, n, sparse=thin)
        assert got.covered_per_day == pytest.approx(best, rel=1e-9)
        assert covered_by(
            problem.columns[got.chosen].tolist(), times, w, best_base
        ) == pytest.approx(best)

    # LSCP: the fewest sites that cover all the demand any candidate can cover.
    everything = covered_by(cands.tolist(), times, w, best_base)
    k = next(k for k in range(1, cands.size + 1)
             if any(covered_by(s, times, w, best_base) >= everything * (1 - 1e-12)
                    for s in itertools.combinations(cands.tolist(), k)))  # fmt: skip
    for thin in (False, True):
        got = solve_lscp(problem, sparse=thin)
        assert got.needed == k
        assert covered_by(
            problem.columns[got.chosen].tolist(), times, w, best_base
        ) == pytest.approx(everything)

    # p-median: the least demand-weighted time, the existing units counting.
    costly = build_problem(layout, cands, pairs, SUB, costs=True)
    best, values = _best_by_enumeration(
        cands, n, lambda s: weighted_time(s, times, w, best_base), False
    )
    assert max(values.values()) > min(values.values())
    got = solve_pmedian(costly, n)
    assert got.weighted_cost == pytest.approx(best, rel=1e-9)
    chosen = costly.columns[got.chosen].tolist()
    chosen += [c for c in cands.tolist() if c not in chosen][: n - len(chosen)]
    assert weighted_time(chosen, times, w, best_base) == pytest.approx(best, rel=1e-9)


@pytest.mark.slow
def test_reported_pmedian_and_lscp_equal_spopts_objective_on_the_same_matrix():
    import pulp
    from spopt.locate import LSCP, PMedian

    from sim.planning.optimize import solve_lscp, solve_pmedian

    sc = small(city={"width": 16, "height": 12})
    layout = pin_layout(sc, seed=2)
    cands = candidate_cells(layout.scenario, layout.city)
    pairs = [(mutual(layout.scenario), "meu_team")]
    costly = build_problem(layout, cands, pairs, SUB, costs=True)
    got = solve_pmedian(costly, 3)
    model = PMedian.from_cost_matrix(costly.cost, costly.weights, p_facilities=3)
    model.solve(pulp.HiGHS(msg=False), results=False)
    assert got.objective == pytest.approx(pulp.value(model.problem.objective), rel=1e-9)
    assert got.weighted_cost == pytest.approx(got.objective + costly.fixed, rel=1e-12)
    problem = build_problem(layout, cands, pairs, SUB)
    got = solve_lscp(problem)
    model = LSCP.from_cost_matrix(problem.cost, service_radius=1.0)
    model.solve(pulp.HiGHS(msg=False), results=False)
    assert got.needed == round(pulp.value(model.problem.objective))


@pytest.mark.slow
def test_lscp_reports_what_it_needs_against_the_budget(tmp_path, capsys):
    import json

    import pandas as pd

    sc = police_city(horizon_hours=24.0)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    args = ["--method", "lscp", "--seed", "1", "-r", "2", "--random-arms", "1", "-q"]
    assert (
        main(
            ["optimize", str(path), "--add", "police_posts=5", *args, "--out", str(tmp_path / "a")]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "needs 18 police posts, more than the budget of 5" in err and len(err.splitlines()) == 1
    n = candidate_cells(pin_layout(sc, 1).scenario, pin_layout(sc, 1).city).size
    out = tmp_path / "b"
    assert main(["optimize", str(path), "--add", f"meus={n}", *args, "--out", str(out)]) == 0
    meta = json.loads((out / "manifest.json").read_text())["optimize"]
    placed = pd.read_csv(out / "placement.csv")
    assert 0 < meta["lscp_needed"] == meta["placed"] == len(placed) < n
    assert meta["covered_by_new_per_day"] > 0 and meta["statement"] == "spopt"


@pytest.mark.slow
@pytest.mark.parametrize("method", ["mclp", "pmedian", "sim"])
def test_optimize_police_posts_writes_a_runnable_plan(tmp_path, capsys, method):
    import pandas as pd

    sc = police_city(horizon_hours=48.0)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    out = tmp_path / "plan"
    assert main(["optimize", str(path), "--add", "police_posts=5", "--method", method, "--seed", "1",
                 "-r", "2", "--random-arms", "1", "--search-evaluations", "3",
                 "--search-replications", "1", "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "police_posts" in printed
    placement = pd.read_csv(out / "placement.csv")
    plan = yaml.safe_load((out / "optimised.yaml").read_text())
    assert len(plan["police"]["station_cells"]) == 1 + len(placement)
    assert plan["police"]["units"] == 2 + len(placement)
    ev = pd.read_csv(out / "evaluation.csv")
    assert {"base", "optimised", "random-1"} <= set(ev["arm"])
    assert_run_reproduces_optimised_arm(out, tmp_path / "run", seed=1)


# ---------------------------------------------------------------- volunteers
def volunteer_city(**overrides):
    return small(
        volunteers={"count": 60, "on_duty_share": 0.2, "alert_radius_m": 250.0}, **overrides
    )


def test_recruitment_marginal_value_is_the_derivative_of_the_gain():
    from sim.planning.recruit import build_recruit_problem, mutual_tier

    layout = pin_layout(volunteer_city(), seed=1)
    problem = build_recruit_problem(layout, mutual_tier(layout.scenario))
    assert problem.q.data.min() > 0 and problem.q.data.max() <= 1 + 1e-12
    marginal = problem.marginal()
    assert marginal.max() > 0
    for c in np.argsort(-marginal)[:5].tolist():
        x = np.zeros(problem.cells.size)
        x[c] = 1e-4
        assert problem.gain(x) / 1e-4 == pytest.approx(marginal[c], rel=1e-3)
    # Today's volunteers: the expected helpers at a point are volunteers x duty x acceptance
    # x the share of patrol positions in reach, summed over home cells.
    assert problem.lam0.max() > 0


@pytest.mark.slow
def test_recruitment_allocation_is_as_good_as_enumeration_finds(capsys):
    from sim.planning.recruit import allocate, build_recruit_problem, by_residents, mutual_tier

    layout = pin_layout(volunteer_city(), seed=1)
    problem = build_recruit_problem(layout, mutual_tier(layout.scenario))
    n = 2
    got = problem.gain(allocate(problem, n).astype(float))
    best = 0.0
    for pair in itertools.combinations_with_replacement(range(problem.cells.size), n):
        x = np.bincount(np.array(pair), minlength=problem.cells.size).astype(float)
        best = max(best, problem.gain(x))
    assert got == pytest.approx(best, rel=1e-3)
    assert got > problem.gain(by_residents(problem, n).astype(float))


@pytest.mark.slow
def test_optimize_volunteers_writes_a_recruitment_map_and_a_runnable_plan(tmp_path, capsys):
    import pandas as pd

    sc = volunteer_city(horizon_hours=48.0)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
    out = tmp_path / "plan"
    assert main(["optimize", str(path), "--add", "volunteers=30", "--seed", "1", "-r", "2",
                 "--out", str(out)]) == 0  # fmt: skip
    assert "recruited where the map says" in capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert {"recruitment.csv", "recruitment.geojson", "recruitment.png", "optimised.yaml",
            "evaluation.csv", "manifest.json"} <= names  # fmt: skip
    table = pd.read_csv(out / "recruitment.csv")
    assert table["recruit"].sum() == 30 and table["by_residents"].sum() == 30
    assert (table.loc[table["recruit"] > 0, "marginal_per_100"] > 0).all()
    plan = yaml.safe_load((out / "optimised.yaml").read_text())
    # The map's allocation by cell (volunteers.recruited); count keeps the base's 60.
    assert sum(k for _, _, k in plan["volunteers"]["recruited"]) == 30
    ev = pd.read_csv(out / "evaluation.csv")
    assert {"base", "optimised", "by-residents", "random-mean"} <= set(ev["arm"])
    assert_run_reproduces_optimised_arm(out, tmp_path / "run", seed=1)
