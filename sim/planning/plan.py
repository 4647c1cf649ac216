"""``plan_placement``: the whole of ``jiefang optimize`` short of writing files.

Pin the layout, list candidates, build the coverage problem of the objective, solve it, and
judge the placement by simulation against the base and random placements.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from sim.model import budget as budgets
from sim.model.config import Scenario, ScenarioError, TierConfig
from sim.planning.candidates import (
    PlanningLayout,
    candidate_cells,
    pin_layout,
    post_cells,
    random_placement,
    read_candidates,
)
from sim.planning.coverage import CoverageProblem, build_problem, problem_estimate
from sim.planning.demand import served_kinds
from sim.planning.evaluate import (
    arm_compliance,
    evaluation_table,
    optimised_vs_random,
    with_sites,
)
from sim.planning.optimize import Solution, solve_lscp, solve_mclp, solve_pmedian
from sim.planning.search import SearchLog, search

#: What `--add` may name.
KINDS = ("meus", "police_posts", "volunteers")
OBJECTIVES = ("mutual", "self", "police", "joint")
#: Objectives each kind may serve (the first is its default).
KIND_OBJECTIVES = {"meus": ("mutual", "self", "joint"), "police_posts": ("police",),
                   "volunteers": ("mutual",)}  # fmt: skip
#: Methods that place sites; volunteers are recruited by cell instead (``recruit``).
SITE_METHODS = ("mclp", "lscp", "pmedian", "sim")
#: The responder each built-in tier counts, by kind of unit added.
_RESPONDERS = {"meus": ("meu_team", "meu_staff"), "police_posts": ("police",),
               "volunteers": ("volunteer",)}  # fmt: skip
_NAMES = {"meus": "MEUs", "police_posts": "police posts", "volunteers": "volunteers"}


@dataclass(frozen=True)
class PlanRequest:
    kind: str
    budget: int
    objective: str | None = None  # default: the kind's own (KIND_OBJECTIVES)
    method: str | None = None  # default: mclp (sites), recruit (volunteers)
    seed: int = 0
    replications: int = 10
    random_arms: int = 5
    subdivide: int = 4
    search_replications: int = 4  # --method sim: replications R .. R + S - 1 score a placement
    search_evaluations: int = 40  # --method sim: placements simulated at most
    search_alternatives: int = 4  # --method sim: candidates tried in place of each site
    candidates_file: str | None = None  # CSV or GeoJSON of candidate cells (default: the city's)


@dataclass
class PlanResult:
    request: PlanRequest
    layout: PlanningLayout
    candidates: np.ndarray  # flat cells
    problem: CoverageProblem
    solution: Solution
    added: np.ndarray  # flat cells of the new sites, in column order
    arms: dict[str, Scenario]
    per_replication: pd.DataFrame
    evaluation: pd.DataFrame
    vs_random: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    search: SearchLog | None = None

    @property
    def optimised(self) -> Scenario:
        return self.arms["optimised"]


def objective_tiers(
    scenario: Scenario, objective: str, kind: str = "meus"
) -> list[tuple[TierConfig, str]]:
    """(tier, responder) pairs the objective covers for the kind added; a clear error when
    the kind serves none."""
    by_name = {t.name: t for t in scenario.tiers}
    if objective not in KIND_OBJECTIVES[kind]:
        why = {
            "meus": "MEUs do not serve the police tier",
            "police_posts": "police posts serve the police tier only",
            "volunteers": "recruited volunteers are planned for mutual rescue",
        }[kind]
        raise ScenarioError(
            f"--add {kind} with --objective {objective}: {why} "
            f"(use --objective {' or '.join(KIND_OBJECTIVES[kind])})"
        )
    names = [n for n in ("self", "mutual") if n in by_name] if objective == "joint" else [objective]
    if names == ["police"] and "police" not in by_name:
        # A tier table that names its police tier otherwise (guangzhou-2024: street, at 10
        # minutes; police-1-3-5: police_1, _3, _5): the police-only tier with the longest target
        police = [t for t in scenario.tiers if t.responders == ["police"]]
        if police:
            names = [max(police, key=lambda t: t.target_s).name]
    pairs = []
    for name in names:
        tier = by_name.get(name)
        if tier is None:
            raise ScenarioError(
                f"--objective {name}: the scenario has no tier named {name!r} "
                f"(its tiers: {', '.join(by_name)})"
            )
        for r in [r for r in tier.responders if r in _RESPONDERS[kind]]:
            if served_kinds(scenario, tier, r):
                pairs.append((tier, r))
    if not pairs:
        calls = {"meus": "MEUs (meu_teams > 0, or self_rescue for staff on site)",
                 "police_posts": "police (police_units > 0)",
                 "volunteers": "volunteers (volunteers: true)"}[kind]  # fmt: skip
        raise ScenarioError(
            f"--add {kind} with --objective {objective}: no incident kind the "
            f"{' and '.join(names)} tier counts calls for {calls}, so {_NAMES[kind]} could "
            "change nothing"
        )
    return pairs


def check_plan_budget(scenario: Scenario, req: PlanRequest, source: str, budget) -> None:
    """Refuse, before any layout is built, a coverage problem whose estimate (with the city
    it is built on) is over ``budget`` (a :class:`sim.model.budget.Budget`, the flags of
    ``run`` and ``sweep``): one message with the estimate, as for a run."""
    if req.kind == "volunteers":
        return  # a recruitment map is by cell: no coverage matrix
    assert req.objective is not None
    pairs = objective_tiers(scenario, req.objective, req.kind)
    subdivide = 1 if req.method == "pmedian" else req.subdivide
    memory, cpu, what = problem_estimate(scenario, pairs, subdivide)
    city = budgets.run_estimate(scenario, 1)  # the interpreter and the city it is built on
    estimate = budgets.Estimate(city.memory_bytes + memory, city.cpu_seconds + cpu, what)
    budgets.check(estimate, budget, source, key=f"--add {req.kind}={req.budget}")


def _has_kind(scenario: Scenario, kind: str) -> bool:
    if kind == "meus":
        return scenario.meus.count > 0
    if kind == "police_posts":
        return scenario.police.units > 0
    return scenario.volunteers.count > 0


_LACKS = {"meus": "no MEUs (meus.count: 0)", "police_posts": "no police units (police.units: 0)",
          "volunteers": "no volunteers (volunteers.count: 0)"}  # fmt: skip


def check_request(scenario: Scenario, req: PlanRequest) -> PlanRequest:
    """The request with its defaults filled in, or one clear :class:`ScenarioError`."""
    if req.kind not in KINDS:
        raise ScenarioError(f"--add {req.kind}: unknown kind; known: {', '.join(KINDS)}")
    if req.budget < 1:
        raise ScenarioError(f"--add {req.kind}={req.budget}: the budget must be at least 1")
    if not _has_kind(scenario, req.kind):
        raise ScenarioError(
            f"--add {req.kind}: the scenario has {_LACKS[req.kind]}; jiefang optimize adds to "
            "a kind of unit the scenario has"
        )
    objective = req.objective or KIND_OBJECTIVES[req.kind][0]
    if objective not in OBJECTIVES:
        raise ScenarioError(f"--objective {objective}: expected one of {', '.join(OBJECTIVES)}")
    method = req.method
    if req.kind == "volunteers":
        if method not in (None, "recruit"):
            raise ScenarioError(
                f"--method {method} with --add volunteers: volunteers are recruited by "
                "neighbourhood, not placed at sites; leave --method out (a recruitment map)"
            )
        if req.candidates_file is not None:
            raise ScenarioError(
                "--candidates with --add volunteers: volunteers are recruited by "
                "neighbourhood, not placed at candidate sites; leave --candidates out"
            )
        method = "recruit"
    elif method is None:
        method = "mclp"
    elif method not in SITE_METHODS:
        raise ScenarioError(f"--method {method}: unknown; use {', '.join(SITE_METHODS)}")
    objective_tiers(scenario, objective, req.kind)  # raises on a combination that cannot help
    if req.kind == "police_posts":
        free = scenario.police.grids - scenario.police.stations
        if req.budget > free:
            raise ScenarioError(
                f"--add police_posts={req.budget}: the scenario has {scenario.police.stations} "
                f"stations and {scenario.police.grids} police grids; a post is a station, and "
                f"stations may not outnumber grids, so at most {free} more"
            )
    return replace(req, objective=objective, method=method)


def plan_placement(
    scenario: Scenario,
    req: PlanRequest,
    say: Callable[[str], None] = lambda _: None,
    tick: Callable[[], None] | None = None,
) -> PlanResult:
    """Plan and evaluate; ``say`` gets a line per step, ``tick`` one call per simulation."""
    req = check_request(scenario, req)
    assert req.objective is not None and req.method is not None
    if req.kind == "volunteers":
        raise ScenarioError("--add volunteers: use sim.planning.recruit.plan_recruitment")
    pairs = objective_tiers(scenario, req.objective, req.kind)
    police = req.kind == "police_posts"
    timings = {}
    t0 = time.perf_counter()
    layout = pin_layout(scenario, req.seed, stations=police)
    cands = _candidates(layout, req)
    existing = (f"{len(layout.station_flat)} police stations" if police
                else f"{len(layout.base_cells)} MEUs")  # fmt: skip
    say(f"layout of seed {req.seed}: {layout.city.width} x {layout.city.height} cells, "
        f"{existing}, {cands.size} candidate cells")  # fmt: skip
    # p-median has a variable per (row, candidate): its demand sits at cell centres.
    pmedian = req.method == "pmedian"
    problem = build_problem(layout, cands, pairs, 1 if pmedian else req.subdivide, costs=pmedian)
    timings["coverage_s"] = time.perf_counter() - t0
    say(f"coverage: {problem.weights.size} demand rows x {problem.columns.size} useful "
        f"candidates ({problem.matrix.nnz} pairs); the {existing} cover "
        f"{share_of(problem.base_per_day, problem.total_per_day):.1%} of demand")  # fmt: skip
    t1 = time.perf_counter()
    solution, added = _solve(problem, req, cands, layout)
    timings["solve_s"] = time.perf_counter() - t1
    say(_solution_line(solution, problem, req, added.size))
    log = None
    if req.method == "sim":
        t3 = time.perf_counter()
        added, log = _search_by_simulation(layout, problem, added, cands, pairs, req, say, tick)
        timings["search_s"] = time.perf_counter() - t3
    arms = _arms(scenario, layout, cands, added, req)
    t2 = time.perf_counter()
    say(f"evaluating {len(arms)} arms x {req.replications} replications (common random numbers)")
    frames = [
        arm_compliance(sc, req.seed, req.replications, tick).assign(arm=name)
        for name, sc in arms.items()
    ]
    per_rep = pd.concat(frames, ignore_index=True)
    timings["evaluate_s"] = time.perf_counter() - t2
    counts = {name: 0 if name == "base" else int(added.size) for name in [*arms, "random-mean"]}
    evaluation = evaluation_table(per_rep, counts)
    return PlanResult(
        req, layout, cands, problem, solution, added, arms, per_rep, evaluation,
        optimised_vs_random(per_rep), timings, log,
    )  # fmt: skip


def _candidates(layout: PlanningLayout, req: PlanRequest) -> np.ndarray:
    """The flat cells a new unit may go to: the candidate file's, else for police posts the
    land cells without a station, else the populated cells of the MEU site uses."""
    police = req.kind == "police_posts"
    if req.candidates_file is not None:
        cands = read_candidates(Path(req.candidates_file), layout.city, layout.scenario)
        if police:
            cands = np.setdiff1d(cands, layout.station_flat)
    elif police:
        cands = post_cells(layout.city)
    else:
        cands = candidate_cells(layout.scenario, layout.city)
    if req.budget > cands.size:
        where = ("in the candidate file" if req.candidates_file else
                 "in this layout (populated land cells without a station)" if police else
                 "in this layout (populated cells of the uses in meus.site_shares)")  # fmt: skip
        raise ScenarioError(
            f"--add {req.kind}={req.budget}: more than the {cands.size} candidate cells "
            f"{where}; one new unit per cell"
        )
    return cands


def _search_by_simulation(
    layout: PlanningLayout,
    problem: CoverageProblem,
    added: np.ndarray,
    cands: np.ndarray,
    pairs: list[tuple[TierConfig, str]],
    req: PlanRequest,
    say: Callable[[str], None],
    tick: Callable[[], None] | None,
) -> tuple[np.ndarray, SearchLog]:
    """``--method sim``: swaps from the MCLP placement, kept when simulation scores them
    better, on replications after those the arms are evaluated on."""
    say(f"simulation in the loop: swaps from the MCLP placement, scored on replications "
        f"{req.replications}..{req.replications + req.search_replications - 1}, at most "
        f"{req.search_evaluations} placements")  # fmt: skip
    names = list(dict.fromkeys(t.name for t, _ in pairs))
    added, log = search(
        layout, problem, added, cands, names, req.seed, first=req.replications,
        replications=req.search_replications, evaluations=req.search_evaluations,
        alternatives=req.search_alternatives, tick=tick, kind=req.kind,
    )  # fmt: skip
    say(f"search: {log.evaluations} placements simulated, {log.accepted} swaps kept; "
        f"{' + '.join(names)} helped in time per replication {log.start_score:.2f} -> "
        f"{log.score:.2f}")  # fmt: skip
    return added, log


def _arms(
    scenario: Scenario,
    layout: PlanningLayout,
    cands: np.ndarray,
    added: np.ndarray,
    req: PlanRequest,
) -> dict[str, Scenario]:
    """The scenarios evaluated: the base layout, it with the optimised sites, and with as
    many sites placed at random (``req.random_arms`` draws)."""
    arms = {
        "base": layout.scenario.with_changes({"name": f"{scenario.name}-base"}),
        "optimised": with_sites(layout, added, f"{scenario.name}-optimised", req.kind),
    }
    for k in range(1, req.random_arms + 1):
        cells = random_placement(layout.scenario, layout.city, cands, added.size, req.seed, k,
                                 by_site_shares=req.kind != "police_posts")  # fmt: skip
        arms[f"random-{k}"] = with_sites(layout, cells, f"{scenario.name}-random-{k}", req.kind)
    return arms


def _solve(
    problem: CoverageProblem, req: PlanRequest, cands, layout
) -> tuple[Solution, np.ndarray]:
    """Solve by the request's method; returns the solution and the flat cells to add."""
    if req.method == "lscp":
        solution = solve_lscp(problem)
        assert solution.needed is not None
        if solution.needed > req.budget:
            raise ScenarioError(
                f"--method lscp: covering all the {req.objective} demand any candidate can "
                f"cover needs {solution.needed} {_NAMES[req.kind]}, more than the budget of "
                f"{req.budget}; raise the budget, or use --method mclp to cover the most with "
                f"{req.budget}"
            )
        return solution, problem.columns[solution.chosen]
    if req.method == "pmedian":
        solution = solve_pmedian(problem, req.budget)
    else:
        solution = solve_mclp(problem, req.budget)
    added = problem.columns[solution.chosen]
    if added.size < req.budget:  # more units than useful candidates: fill by residents
        rest = np.setdiff1d(cands, added)
        demand = layout.city.population.reshape(-1)[rest]
        added = np.concatenate(
            [added, rest[np.argsort(-demand, kind="stable")][: req.budget - added.size]]
        )
    return solution, added


def _solution_line(solution: Solution, problem: CoverageProblem, req: PlanRequest, n: int) -> str:
    share = share_of(solution.covered_per_day, problem.total_per_day)
    assert req.method is not None
    name = "MCLP" if req.method == "sim" else req.method.upper()
    head = f"{name} ({solution.status}, {solution.statement})"
    if req.method == "lscp":
        return (f"{head}: {solution.needed} {_NAMES[req.kind]} cover all the demand any "
                f"candidate can cover (+{share:.1%} of demand; budget {req.budget}, "
                f"{req.budget - n} left unplaced)")  # fmt: skip
    if req.method == "pmedian":
        return (f"{head}: {n} new sites; demand-weighted time "
                f"{solution.weighted_cost:.4g} target-days (from "
                f"{problem.weighted_cost([]):.4g}); +{share:.1%} of demand within the "
                "target")  # fmt: skip
    return (f"{head}: {n} new sites cover {solution.covered_per_day:.4g} more counted "
            f"incidents a day ({share:.1%} of demand)")  # fmt: skip


def share_of(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0
