"""``plan_placement``: the whole of ``jiefang optimize`` short of writing files.

Pin the layout, list candidates, build the coverage problem of the objective, solve it, and
judge the placement by simulation against the base and random placements.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sim.model.config import Scenario, ScenarioError, TierConfig
from sim.planning.candidates import (
    PlanningLayout,
    candidate_cells,
    pin_layout,
    random_placement,
    read_candidates,
)
from sim.planning.coverage import CoverageProblem, build_problem
from sim.planning.demand import served_kinds
from sim.planning.evaluate import (
    arm_compliance,
    evaluation_table,
    optimised_vs_random,
    with_sites,
)
from sim.planning.optimize import Solution, solve_mclp
from sim.planning.search import SearchLog, search

#: What `--add` may name, and what is implemented.
KINDS = ("meus", "police_posts", "volunteers")
IMPLEMENTED = ("meus",)
OBJECTIVES = ("mutual", "self", "police", "joint")
#: The MEU responder each built-in tier counts.
_MEU_RESPONDER = {"mutual": "meu_team", "self": "meu_staff"}


@dataclass(frozen=True)
class PlanRequest:
    kind: str
    budget: int
    objective: str = "mutual"
    method: str = "mclp"
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


def objective_tiers(scenario: Scenario, objective: str) -> list[tuple[TierConfig, str]]:
    """(tier, MEU responder) pairs the objective covers; a clear error when MEUs serve none."""
    by_name = {t.name: t for t in scenario.tiers}
    if objective == "police":
        raise ScenarioError(
            "--objective police: MEUs do not serve the police tier; police posts "
            "(--add police_posts) are not implemented yet"
        )
    names = [n for n in ("self", "mutual") if n in by_name] if objective == "joint" else [objective]
    pairs = []
    for name in names:
        tier = by_name.get(name)
        if tier is None:
            raise ScenarioError(
                f"--objective {name}: the scenario has no tier named {name!r} "
                f"(its tiers: {', '.join(by_name)})"
            )
        responders = [r for r in tier.responders if r in ("meu_team", "meu_staff")]
        for r in responders:
            if served_kinds(scenario, tier, r):
                pairs.append((tier, r))
    if not pairs:
        raise ScenarioError(
            f"--add meus with --objective {objective}: no incident kind the "
            f"{' and '.join(names)} tier counts calls for MEUs (meu_teams > 0, or self_rescue "
            "for staff on site), so MEUs could change nothing"
        )
    return pairs


def check_request(scenario: Scenario, req: PlanRequest) -> None:
    if req.kind not in KINDS:
        raise ScenarioError(f"--add {req.kind}: unknown kind; known: {', '.join(KINDS)}")
    if req.kind not in IMPLEMENTED:
        raise ScenarioError(
            f"--add {req.kind}: not implemented yet; "
            f"jiefang optimize places {', '.join(IMPLEMENTED)}"
        )
    if req.method not in ("mclp", "sim"):
        raise ScenarioError(f"--method {req.method}: unknown; use mclp or sim")
    if req.budget < 1:
        raise ScenarioError(f"--add {req.kind}={req.budget}: the budget must be at least 1")
    if req.objective not in OBJECTIVES:
        raise ScenarioError(f"--objective {req.objective}: expected one of {', '.join(OBJECTIVES)}")


def plan_placement(
    scenario: Scenario,
    req: PlanRequest,
    say: Callable[[str], None] = lambda _: None,
    tick: Callable[[], None] | None = None,
) -> PlanResult:
    """Plan and evaluate; ``say`` gets a line per step, ``tick`` one call per simulation."""
    check_request(scenario, req)
    pairs = objective_tiers(scenario, req.objective)
    timings = {}
    t0 = time.perf_counter()
    layout = pin_layout(scenario, req.seed)
    if req.candidates_file is None:
        cands = candidate_cells(layout.scenario, layout.city)
    else:
        cands = read_candidates(Path(req.candidates_file), layout.city)
    if req.budget > cands.size:
        raise ScenarioError(
            f"--add meus={req.budget}: more than the {cands.size} candidate cells "
            + (
                "in the candidate file"
                if req.candidates_file
                else "in this layout (populated cells of the uses in meus.site_shares)"
            )
            + "; one new unit per cell"
        )
    say(f"layout of seed {req.seed}: {layout.city.width} x {layout.city.height} cells, "
        f"{len(layout.base_cells)} MEUs, {cands.size} candidate cells")  # fmt: skip
    problem = build_problem(layout, cands, pairs, req.subdivide)
    timings["coverage_s"] = time.perf_counter() - t0
    say(f"coverage: {problem.weights.size} demand rows x {problem.columns.size} useful "
        f"candidates; the {len(layout.base_cells)} MEUs cover "
        f"{share_of(problem.base_per_day, problem.total_per_day):.1%} of demand")  # fmt: skip
    t1 = time.perf_counter()
    solution = solve_mclp(problem, req.budget)
    added = problem.columns[solution.chosen]
    if added.size < req.budget:  # more units than useful candidates: fill by demand nearby
        rest = np.setdiff1d(cands, added)
        demand = layout.city.population.reshape(-1)[rest]
        added = np.concatenate(
            [added, rest[np.argsort(-demand, kind="stable")][: req.budget - added.size]]
        )
    timings["solve_s"] = time.perf_counter() - t1
    say(f"MCLP ({solution.status}): {req.budget} new sites cover "
        f"{solution.covered_per_day:.4g} more counted incidents a day "
        f"({share_of(solution.covered_per_day, problem.total_per_day):.1%} of demand)")  # fmt: skip
    log = None
    if req.method == "sim":
        t3 = time.perf_counter()
        say(f"simulation in the loop: swaps from the MCLP placement, scored on replications "
            f"{req.replications}..{req.replications + req.search_replications - 1}, at most "
            f"{req.search_evaluations} placements")  # fmt: skip
        names = list(dict.fromkeys(t.name for t, _ in pairs))
        added, log = search(
            layout, problem, added, cands, names, req.seed, first=req.replications,
            replications=req.search_replications, evaluations=req.search_evaluations,
            alternatives=req.search_alternatives, tick=tick,
        )  # fmt: skip
        timings["search_s"] = time.perf_counter() - t3
        say(f"search: {log.evaluations} placements simulated, {log.accepted} swaps kept; "
            f"{' + '.join(names)} helped in time per replication {log.start_score:.2f} -> "
            f"{log.score:.2f}")  # fmt: skip
    arms = {"base": layout.scenario.with_changes({"name": f"{scenario.name}-base"}),
            "optimised": with_sites(layout, added, f"{scenario.name}-optimised")}  # fmt: skip
    for k in range(1, req.random_arms + 1):
        cells = random_placement(layout.scenario, layout.city, cands, req.budget, req.seed, k)
        arms[f"random-{k}"] = with_sites(layout, cells, f"{scenario.name}-random-{k}")
    t2 = time.perf_counter()
    say(f"evaluating {len(arms)} arms x {req.replications} replications (common random numbers)")
    frames = [
        arm_compliance(sc, req.seed, req.replications, tick).assign(arm=name)
        for name, sc in arms.items()
    ]
    per_rep = pd.concat(frames, ignore_index=True)
    timings["evaluate_s"] = time.perf_counter() - t2
    counts = {name: 0 if name == "base" else req.budget for name in [*arms, "random-mean"]}
    evaluation = evaluation_table(per_rep, counts)
    return PlanResult(
        req, layout, cands, problem, solution, added, arms, per_rep, evaluation,
        optimised_vs_random(per_rep), timings, log,
    )  # fmt: skip


def share_of(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0
