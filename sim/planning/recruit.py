"""``--add volunteers=N``: where recruiting N more volunteers raises mutual rescue most.

A city cannot place volunteers, but it can recruit by neighbourhood: the answer is a map by
cell. The coverage model follows the model's own volunteers (:mod:`sim.model.dispatch`):

- a volunteer lives uniformly in its home cell and patrols uniformly within
  ``patrol_radius_m`` of home (a square, as :meth:`VolunteerPool.positions` draws it); it is
  on duty in an hour with the hour's ``on_duty_share`` and accepts an alert with
  ``acceptance``;
- it helps an incident in time when its patrol position is within ``alert_radius_m``
  (straight line) and median response delay + travel distance (through bridges) /
  ``volunteer_m_s`` is within the tier's target;
- volunteers are many and independent, so the number who would help in time at a demand
  point is Poisson with mean ``lam = sum over cells of volunteers there x duty x acceptance x
  q(cell, point)``, where ``q`` is the share of the cell's patrol positions (6 x 6 homes and
  offsets per cell) within reach; the point is helped in time with probability
  ``1 - exp(-lam)``;
- demand an MEU already covers (the coverage model of :mod:`.coverage`) is left out, as
  there a volunteer adds nothing by that measure; busy volunteers are not seen.

``marginal_per_100``: incidents a day helped in time per 100 recruits in the cell (the
derivative at today's staffing). The allocation of N maximises the concave expected gain
``sum w (exp(-lam0) - exp(-lam0 - added))``: per demand cell the gain is a concave function
of the recruits that reach it, stated by its tangents at cut points (an outer approximation,
exact at the cut points) in a linear programme solved by HiGHS through PuLP, rounded to whole
volunteers (largest remainders) and scored on the exact expression.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.spatial import cKDTree
from tqdm import tqdm

from sim.analysis.plots import plt, save_figure
from sim.analysis.stats import paired_difference
from sim.experiment.store import atomic_write_bytes, environment, sha256, write_csv, write_json
from sim.model.config import Scenario, ScenarioError, TierConfig, by_hour
from sim.model.overrides import optimised_text
from sim.model.rng import Stream, generator
from sim.planning.candidates import PlanningLayout, pin_layout
from sim.planning.coverage import _median, _pairs, _site_open, service
from sim.planning.demand import SLOTS_PER_HOUR, cell_demand, time_slots
from sim.planning.evaluate import arm_compliance, evaluation_table
from sim.planning.optimize import _quiet_stdout, _solver

#: Tangent points of the linear programme: 0, and CUT_POINTS spaced geometrically from
#: CUT_LOW expected helpers in the busiest time class to CUT_HIGH in the quietest.
CUT_POINTS, CUT_LOW, CUT_HIGH = 12, 0.02, 5.0
#: Homes x offsets per side sampled in each cell for q(cell, point).
SAMPLES = 6
RECRUITMENT_COLUMNS = ["col", "row", "x_m", "y_m", "residents", "volunteers_today",
                       "marginal_per_100", "recruit", "by_residents"]  # fmt: skip


@dataclass(frozen=True, eq=False)
class RecruitProblem:
    cells: np.ndarray  # flat home cells (populated land)
    q: sparse.csr_matrix  # (home cells, demand points): share of patrol positions within reach
    rate: np.ndarray  # (classes,) duty share x acceptance
    weights: np.ndarray  # (points, classes) counted incidents a day MEUs do not cover
    lam0: np.ndarray  # (points, classes) today's mean number who help in time
    today: np.ndarray  # (home cells,) expected volunteers today
    residents: np.ndarray  # (home cells,)
    total_per_day: float  # all counted demand of the tier that calls volunteers

    def gain(self, x: np.ndarray) -> float:
        """Incidents a day newly helped in time with ``x`` recruits per home cell."""
        added = np.asarray(self.q.T @ x).reshape(-1)[:, None] * self.rate[None, :]
        return float((self.weights * np.exp(-self.lam0) * (1 - np.exp(-added))).sum())

    def helped(self) -> float:
        return float((self.weights * (1 - np.exp(-self.lam0))).sum())

    def marginal(self) -> np.ndarray:
        """Per home cell: incidents a day helped in time per recruit (first order)."""
        per_point = (self.weights * np.exp(-self.lam0) * self.rate[None, :]).sum(axis=1)
        return np.asarray(self.q @ per_point).reshape(-1)


def mutual_tier(scenario: Scenario) -> TierConfig:
    return next(t for t in scenario.tiers if t.name == "mutual")


def build_recruit_problem(layout: PlanningLayout, tier: TierConfig) -> RecruitProblem:
    sc, city = layout.scenario, layout.city
    vol = sc.volunteers
    lag = _median(vol.response_delay)
    if tier.clock == "occurrence":
        lag += _median(sc.incidents.call_delay)
    reach = min(vol.alert_radius_m, max(0.0, tier.target_s - lag) * sc.travel.volunteer_m_s)
    demand = cell_demand(sc, city, tier, "volunteer")
    with_meu = cell_demand(sc, city, tier, "volunteer", also="meu_team")
    points = np.flatnonzero(demand > 0)
    pts = city.cell_centre(points % city.width, points // city.width).reshape(-1, 2)
    # Time classes: quarter-hours with the same duty share and the same open MEUs.
    duty = np.repeat(np.asarray(by_hour(vol.on_duty_share)), SLOTS_PER_HOUR)
    base = layout.base_flat
    uses_meu = "meu_team" in tier.responders and base.size > 0
    base_open = _site_open(layout, base, "meu_team") if uses_meu else np.zeros((duty.size, 0))
    key = np.concatenate([base_open, duty[:, None]], axis=1)
    _, first, slot_class = np.unique(key, axis=0, return_index=True, return_inverse=True)
    class_w = np.bincount(slot_class.reshape(-1), weights=time_slots(sc), minlength=first.size)
    meu_cov = np.zeros((points.size, first.size), bool)
    if uses_meu:
        svc = service(layout, tier, "meu_team")
        limit = float(svc.reach(tier.target_s).max())
        s, p, _ = _pairs(layout, base, pts, points, svc, limit)
        for c in range(first.size):
            on = base_open[first[c], s]
            meu_cov[p[on], c] = True
    w_meu = with_meu[points][:, None] * class_w[None, :]
    w_all = demand[points][:, None] * class_w[None, :]
    weights = np.where(meu_cov, w_all - w_meu, w_all)
    # q(home cell, point): patrol positions of a home cell within reach of the point.
    pop = city.population.reshape(-1)
    # Home cells: where the model spreads volunteers (people live there) and any cell the
    # scenario already recruits in (volunteers.recruited), whose recruits help today too.
    own = np.asarray(vol.recruited, dtype=np.int64).reshape(-1, 3)
    own_flat = own[:, 1] * city.width + own[:, 0]
    homes = np.union1d(np.flatnonzero(pop > 0), own_flat)
    r, s_m = vol.patrol_radius_m, city.cell_size_m
    u = (np.arange(SAMPLES) + 0.5) / SAMPLES
    hx, hy = np.meshgrid(u * s_m, u * s_m)  # homes in the cell
    ox, oy = np.meshgrid((2 * u - 1) * r, (2 * u - 1) * r)  # patrol offsets
    rng = np.random.default_rng(0)  # pairs homes with offsets (a Latin square, fixed)
    pairing = rng.permutation(SAMPLES * SAMPLES)
    offs = np.stack([hx.reshape(-1) + ox.reshape(-1)[pairing],
                     hy.reshape(-1) + oy.reshape(-1)[pairing]], axis=1)  # fmt: skip
    corner = np.stack([(homes % city.width) * s_m, (homes // city.width) * s_m], axis=1)
    pos = city.clip((corner[:, None, :] + offs[None, :, :]).reshape(-1, 2))
    owner = np.repeat(np.arange(homes.size), offs.shape[0])
    near = cKDTree(pts).query_ball_point(pos, r=reach + 1e-6)  # straight line
    counts = np.fromiter(map(len, near), dtype=np.int64, count=len(near))
    a = np.repeat(np.arange(pos.shape[0]), counts)
    b = np.fromiter((i for h in near for i in h), dtype=np.int64, count=int(counts.sum()))
    straight = np.hypot(*(pos[a] - pts[b]).T)
    d = city.pair_distances(pos[a], city.bank_of(pos[a]), pts[b], None)
    ok = (straight <= vol.alert_radius_m + 1e-6) & (
        lag + d / sc.travel.volunteer_m_s <= tier.target_s + 1e-9
    )
    q = sparse.csr_matrix(
        (np.full(int(ok.sum()), 1.0 / offs.shape[0]), (owner[a[ok]], b[ok])),
        shape=(homes.size, points.size),
    )
    today = vol.count * pop[homes] / pop[homes].sum()
    np.add.at(today, np.searchsorted(homes, own_flat), own[:, 2].astype(float))
    rate = duty[first] * vol.acceptance
    lam0 = np.asarray(q.T @ today).reshape(-1)[:, None] * rate[None, :]
    return RecruitProblem(homes, q, rate, weights, lam0, today, pop[homes],
                          float(demand.sum()))  # fmt: skip


def allocate(problem: RecruitProblem, n: int, time_limit_s: float = 300.0) -> np.ndarray:
    """Recruits per home cell (whole numbers, summing to ``n``) that maximise the gain: the
    tangent-cut linear programme, solved by HiGHS through PuLP, then largest remainders."""
    import pulp

    marginal = problem.marginal()
    use = np.flatnonzero(marginal > 0)
    if use.size == 0:
        raise ScenarioError(
            "--add volunteers: no cell where a recruit could help the mutual tier in time "
            "(every counted incident is out of volunteers' reach or covered by MEUs)"
        )
    q = problem.q[use].tocsc()
    rows_w = problem.weights * np.exp(-problem.lam0)
    live = np.flatnonzero(rows_w.sum(axis=1) > 0)
    lp = pulp.LpProblem("jiefang_recruit", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x[{c}]", 0) for c in range(use.size)]
    m = {}
    for p in live.tolist():
        col = q[:, p]
        if col.nnz == 0:
            continue
        m[p] = pulp.LpVariable(f"m[{p}]", 0)
        terms = [(x[i], v) for i, v in zip(col.indices.tolist(), col.data.tolist(), strict=True)]
        expr = pulp.LpAffineExpression(terms)
        expr.addterm(m[p], -1)
        lp += pulp.LpConstraint(expr, pulp.LpConstraintEQ, f"m{p}", 0)
    # Per point the gain is concave in m (recruits reaching it): g(m) = sum over classes of
    # a_c (1 - exp(-rate_c m)); z <= g by its tangents at cut points spanning every class.
    rate = problem.rate[problem.rate > 0]
    spaced = np.geomspace(CUT_LOW / rate.max(), CUT_HIGH / rate.min(), CUT_POINTS)
    grid = np.unique(np.concatenate([[0.0], spaced]))
    objective = []
    for p, mp in m.items():
        a = rows_w[p]
        z = pulp.LpVariable(f"z[{p}]", 0)
        objective.append((z, 1.0))
        for cut in grid.tolist():
            e = np.exp(-problem.rate * cut)
            value, slope = float((a * (1 - e)).sum()), float((a * problem.rate * e).sum())
            lp += pulp.LpConstraint(
                pulp.LpAffineExpression([(z, 1), (mp, -slope)]), pulp.LpConstraintLE,
                None, value - slope * cut,
            )  # fmt: skip
    lp += pulp.LpAffineExpression(objective), "gain"
    lp += pulp.LpConstraint(pulp.lpSum(x), pulp.LpConstraintEQ, "budget", n)
    with _quiet_stdout():
        lp.solve(_solver(time_limit_s))
    if pulp.LpStatus[lp.status] != "Optimal":
        raise RuntimeError(f"recruitment LP: {pulp.LpStatus[lp.status]}")
    share = np.zeros(problem.cells.size)
    share[use] = [max(v.value() or 0.0, 0.0) for v in x]
    return largest_remainders(share, n)


def largest_remainders(share: np.ndarray, n: int) -> np.ndarray:
    """Whole numbers summing to ``n``, as near to ``share`` (which sums to ``n``) as can be."""
    floor = np.floor(share + 1e-9).astype(np.int64)
    left = n - int(floor.sum())
    if left > 0:
        order = np.argsort(-(share - floor), kind="stable")
        floor[order[:left]] += 1
    elif left < 0:
        order = np.argsort(share - floor, kind="stable")
        for i in order:
            if left == 0:
                break
            if floor[i] > 0:
                floor[i] -= 1
                left += 1
    return floor


def by_residents(problem: RecruitProblem, n: int) -> np.ndarray:
    """N recruits spread as the model spreads volunteers: by residents (expected, whole)."""
    return largest_remainders(n * problem.residents / problem.residents.sum(), n)


def random_allocation(problem: RecruitProblem, recruits: np.ndarray, seed: int,
                      arm: int) -> np.ndarray:  # fmt: skip
    """The map's allocation moved to random places: its nonzero counts, each on a distinct
    populated home cell drawn uniformly, from the planning stream of ``arm``. The same
    recruits in as many cells, so a random arm differs from the map only in where.

    Args:
        problem: the recruitment problem (home cells and their residents).
        recruits: the map's recruits per home cell (volunteers, whole numbers).
        seed: the command's ``--seed``.
        arm: the random arm's index K (1, 2, ...), the planning stream's replication.
    """
    counts = recruits[recruits > 0]
    populated = np.flatnonzero(problem.residents > 0)
    rng = generator(seed, arm, Stream.PLANNING)
    # More cells than populated ones cannot happen (the map recruits in populated cells).
    cells = rng.choice(populated, size=min(counts.size, populated.size), replace=False)
    out = np.zeros_like(recruits)
    out[cells] = counts[: cells.size]
    return out


def recruited_cells(scenario: Scenario, city, problem: RecruitProblem,
                    recruits: np.ndarray) -> list[list[int]]:  # fmt: skip
    """``volunteers.recruited`` with ``recruits`` (per home cell) added: the scenario's own
    entries first, as written, then one [column, row, count] per cell recruited in."""
    at = np.flatnonzero(recruits > 0)
    flat = problem.cells[at]
    added = np.stack([flat % city.width, flat // city.width, recruits[at]], axis=1)
    return [*scenario.volunteers.recruited, *added.astype(int).tolist()]


def write_recruitment(scenario: Scenario, req, source: Path, out: Path, staging: Path,
                      started: float, quiet: bool = False, overrides=()) -> str:  # fmt: skip
    """Plan, evaluate and write the recruitment files; returns the lines to print.
    ``overrides``: the ``--set`` values the scenario was loaded with (kept in optimised.yaml)."""
    tier = mutual_tier(scenario)
    n = req.budget

    def say(line: str) -> None:
        if not quiet:
            print(f"jiefang optimize: {line}", file=sys.stderr)

    t0 = time.perf_counter()
    layout = pin_layout(scenario, req.seed)
    problem = build_recruit_problem(layout, tier)
    say(f"recruitment: {problem.cells.size} home cells x {problem.q.shape[1]} demand cells, "
        f"{problem.rate.size} time classes; today's volunteers help "
        f"{problem.helped() / max(problem.total_per_day, 1e-300):.1%} of the mutual demand "
        "in time by the coverage model")  # fmt: skip
    recruits = allocate(problem, n)
    plan_s = time.perf_counter() - t0
    alloc = _allocations(problem, recruits, n, req)
    say(f"the map's {n} recruits help {alloc.gain_map:.4g} more incidents a day in time, "
        f"recruits spread by residents {alloc.gain_res:.4g}, at random places "
        f"{alloc.gain_random:.4g} (coverage model)")  # fmt: skip
    arms = _arms(scenario, layout, problem, alloc, n)
    say(f"evaluating {len(arms)} arms x {req.replications} replications (common random numbers)")
    t1 = time.perf_counter()
    per_rep = _simulate_arms(arms, req, quiet)
    evaluate_s = time.perf_counter() - t1
    evaluation = evaluation_table(per_rep, {a: 0 if a == "base" else n for a in arms}
                                  | {"random-mean": n})  # fmt: skip
    vs_residents = map_vs_residents(per_rep)
    table = _recruitment_table(layout, problem, alloc)
    files = {"recruitment": staging / "recruitment.csv",
             "recruitment_geojson": staging / "recruitment.geojson",
             "optimised": staging / "optimised.yaml", "evaluation": staging / "evaluation.csv",
             "per_replication": staging / "per_replication.csv",
             "figure": staging / "recruitment.png"}  # fmt: skip
    write_csv(table, files["recruitment"])
    write_json(recruitment_geojson(layout, table, n), files["recruitment_geojson"])
    recruited = recruited_cells(layout.scenario, layout.city, problem, recruits)
    text = optimised_yaml(layout, req, source, out, recruited)
    text = optimised_text(text, overrides, source)  # --set values and a shipped parent's name
    atomic_write_bytes(files["optimised"], text.encode())
    write_csv(evaluation, files["evaluation"])
    write_csv(per_rep, files["per_replication"])
    save_figure(
        figure(layout, table, evaluation, req, alloc.gain_map, alloc.gain_res, problem),
        files["figure"],
    )
    elapsed = time.perf_counter() - started
    timings = {"plan_s": round(plan_s, 3), "evaluate_s": round(evaluate_s, 3)}
    meta = _manifest(source, req, overrides, problem, alloc, vs_residents, timings, elapsed,
                     files)  # fmt: skip
    write_json(meta, staging / "manifest.json")
    top = table.sort_values("recruit", ascending=False).head(5)
    return (
        f"{scenario.name}: +{n} volunteers (objective mutual): recruited where the map "
        f"says, {alloc.gain_map:.4g} more incidents a day helped in time; spread by residents "
        f"{alloc.gain_res:.4g} (coverage model); {elapsed:.1f} s\n"
        "cells recruiting most: "
        + ", ".join(f"[{int(t.col)}, {int(t.row)}] {int(t.recruit)}" for t in top.itertuples())
        + "".join("\n" + line for line in _simulated_lines(evaluation, vs_residents, req))
        + f"\nresults in {out}/ (recruitment.csv, evaluation.csv, recruitment.png)"
    )


@dataclass(frozen=True, eq=False)
class _Allocations:
    """The map's recruits per home cell and what they are compared with: as many spread by
    residents, and the map's counts moved to random cells (one per random arm); with the
    incidents a day each newly helps in time by the coverage model (``gain_random``: the
    random arms' mean, NaN without one)."""

    recruits: np.ndarray
    spread: np.ndarray
    randoms: list[np.ndarray]
    gain_map: float
    gain_res: float
    gain_random: float


def _allocations(problem: RecruitProblem, recruits: np.ndarray, n: int, req) -> _Allocations:
    spread = by_residents(problem, n)
    randoms = [random_allocation(problem, recruits, req.seed, k)
               for k in range(1, req.random_arms + 1)]  # fmt: skip
    gain_map, gain_res = problem.gain(recruits.astype(float)), problem.gain(spread.astype(float))
    gain_random = float(np.mean([problem.gain(x.astype(float)) for x in randoms])) if randoms \
        else float("nan")  # fmt: skip
    return _Allocations(recruits, spread, randoms, gain_map, gain_res, gain_random)


def _arms(
    scenario: Scenario,
    layout: PlanningLayout,
    problem: RecruitProblem,
    alloc: _Allocations,
    n: int,
) -> dict[str, Scenario]:
    """The scenarios simulated: the base, the map's recruits, N more recruited as today and
    the map's counts at random cells."""
    # Simulation judges the map itself: its recruits placed by cell (volunteers.recruited),
    # against N more recruited as today (volunteers.count, spread by residents) and against
    # the map's counts at random cells. Every arm shares the base volunteers and incidents.
    city = layout.city
    base = layout.scenario

    def placed(x: np.ndarray, name: str) -> Scenario:
        cells = recruited_cells(base, city, problem, x)
        return base.with_changes({"name": f"{scenario.name}-{name}", "volunteers.recruited": cells})

    as_today = {"name": f"{scenario.name}-by-residents",
                "volunteers.count": base.volunteers.count + n}  # fmt: skip
    arms = {
        "base": base.with_changes({"name": f"{scenario.name}-base"}),
        "optimised": placed(alloc.recruits, "optimised"),
        "by-residents": base.with_changes(as_today),
    }
    for k, x in enumerate(alloc.randoms, start=1):
        arms[f"random-{k}"] = placed(x, f"random-{k}")
    return arms


def _simulate_arms(arms: dict[str, Scenario], req, quiet: bool) -> pd.DataFrame:
    """Each arm's compliance per tier and replication (common random numbers), with a
    progress bar on stderr unless ``quiet``."""
    bar = tqdm(total=len(arms) * req.replications, disable=True if quiet else None, unit="run",
               leave=False, file=sys.stderr)  # fmt: skip
    per_rep = pd.concat([
        arm_compliance(sc, req.seed, req.replications, lambda: bar.update(1)).assign(arm=name)
        for name, sc in arms.items()
    ], ignore_index=True)  # fmt: skip
    bar.close()
    return per_rep


def _recruitment_table(
    layout: PlanningLayout, problem: RecruitProblem, alloc: _Allocations
) -> pd.DataFrame:
    """recruitment.csv: per home cell, its place, residents, volunteers today, the marginal
    gain of a recruit and the recruits of the map and of the spread by residents."""
    city = layout.city
    col, row = problem.cells % city.width, problem.cells // city.width
    xy = city.cell_centre(col, row).reshape(-1, 2)
    return pd.DataFrame({
        "col": col, "row": row, "x_m": xy[:, 0], "y_m": xy[:, 1],
        "residents": problem.residents, "volunteers_today": problem.today,
        "marginal_per_100": 100 * problem.marginal(), "recruit": alloc.recruits,
        "by_residents": alloc.spread,
    }, columns=RECRUITMENT_COLUMNS)  # fmt: skip


def _manifest(source: Path, req, overrides, problem: RecruitProblem, alloc: _Allocations,
              vs_residents: pd.DataFrame, timings: dict[str, float], elapsed: float,
              files: dict[str, Path]) -> dict:  # fmt: skip
    """manifest.json of a recruitment folder: what was asked, the coverage model's figures,
    the map against the spread by residents (simulated), and each file's SHA-256."""
    recruits = alloc.recruits
    return {
        "optimize": {
            "source_file": str(source), "kind": "volunteers", "added": req.budget,
            "overrides": dict(overrides),
            "objective": "mutual", "method": "recruit", "seed": req.seed,
            "replications": req.replications, "random_arms": req.random_arms,
            "home_cells": int(problem.cells.size),
            "cells_recruited_in": int(np.count_nonzero(recruits)),
            "demand_per_day": problem.total_per_day,
            "helped_today_per_day": problem.helped(),
            "gain_map_per_day": alloc.gain_map, "gain_by_residents_per_day": alloc.gain_res,
            "gain_random_mean_per_day": alloc.gain_random,
            "optimised_vs_by_residents": vs_residents.to_dict(orient="records"),
            "timings_s": timings,
            "wall_time_s": round(elapsed, 3),
        },
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": environment(), "command": sys.argv,
        "files": {k: {"path": p.name, "sha256": sha256(p)} for k, p in files.items()},
    }  # fmt: skip


def _simulated_lines(evaluation: pd.DataFrame, vs_residents: pd.DataFrame, req) -> list[str]:
    """The printed lines of the simulation: mutual-rescue compliance of each arm against the
    base, and the map against the spread by residents and random places (paired 95 % CI)."""
    lines: list[str] = []
    mutual = evaluation[evaluation["tier"] == "mutual"].set_index("arm")
    if mutual.empty:
        return lines
    lines.append(f"simulated, {req.replications} replications, mutual rescue (paired 95 % "
                 f"CI): base {mutual.loc['base', 'compliance']:.1%}")  # fmt: skip
    for arm in ["optimised", "by-residents", "random-mean"]:
        if arm in mutual.index:
            r = mutual.loc[arm]
            ci = f"[{r.ci_low * 100:+.1f}, {r.ci_high * 100:+.1f}]"
            lines.append(
                f"  {arm:<13} {r.compliance:.1%}  {r.diff_vs_base * 100:+.1f} pp {ci} over the base"
            )
    v = vs_residents[vs_residents["tier"] == "mutual"]
    if not v.empty:
        d = v.iloc[0]
        lines.append(f"  map - by-residents {d['diff'] * 100:+.1f} pp "
                     f"[{d.ci_low * 100:+.1f}, {d.ci_high * 100:+.1f}]")  # fmt: skip
    r = mutual.loc["optimised"] if "optimised" in mutual.index else None
    if r is not None and math.isfinite(r.diff_vs_random_mean):
        ci = f"[{r.ci_random_low * 100:+.1f}, {r.ci_random_high * 100:+.1f}]"
        lines.append(f"  map - random-mean {r.diff_vs_random_mean * 100:+.1f} pp {ci}")
    return lines


def map_vs_residents(per_rep: pd.DataFrame) -> pd.DataFrame:
    """Per tier: the optimised arm (the map's allocation) minus ``by-residents`` (N more
    recruited as today), paired by replication: mean and 95 % interval (shares)."""
    wide = per_rep.pivot_table(index=["tier", "replication"], columns="arm", values="compliance")
    rows = []
    for tier in wide.index.get_level_values("tier").unique():
        sub = wide.loc[tier]
        diff, half = paired_difference(sub["by-residents"].to_numpy(float),
                                       sub["optimised"].to_numpy(float))  # fmt: skip
        rows.append({"tier": tier, "diff": diff, "ci_low": diff - half, "ci_high": diff + half})
    return pd.DataFrame(rows, columns=["tier", "diff", "ci_low", "ci_high"])


def recruitment_geojson(layout: PlanningLayout, table: pd.DataFrame, n: int) -> dict:
    features = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [t.x_m, t.y_m]},
         "properties": {k: getattr(t, k) for k in RECRUITMENT_COLUMNS if k not in ("x_m", "y_m")}}
        for t in table[table["marginal_per_100"] > 0].itertuples(index=False)
    ]  # fmt: skip
    return {
        "type": "FeatureCollection",
        "name": f"{layout.scenario.name}: where to recruit {n} volunteers (mutual rescue)",
        "coordinate_system": "scenario metres: x east, y south of the city's north-west corner "
        f"(cell centres, cells of {layout.city.cell_size_m:g} m; no geographic CRS)",
        "features": features,
    }


def optimised_yaml(layout: PlanningLayout, req, source: Path, out: Path,
                   recruited: list[list[int]]) -> str:  # fmt: skip
    """The input scenario extended with the layout and the map's recruits by cell
    (``volunteers.recruited``: the scenario's own entries, then the map's)."""
    rel = os.path.relpath(os.path.abspath(source), os.path.abspath(out))
    sc = layout.scenario
    lines = [
        f"# Written by `jiefang optimize` (--add volunteers={req.budget} --seed {req.seed}):",
        "# the recruitment map's allocation, recruited by cell (volunteers.recruited).",
        f"#   jiefang run {out}/optimised.yaml --seed {req.seed}",
        f"extends: {json.dumps(rel)}",
        f"name: {json.dumps(sc.name + '-optimised')}",
        "layout: fixed",
        f"replications: {req.replications}",
        "volunteers:",
        "  recruited:  # [column, row, volunteers]",
    ]
    lines += [f"    - [{c}, {r}, {k}]" for c, r, k in recruited]
    if len(layout.base_cells):
        lines += ["meus:", f"  count: {sc.meus.count}",
                  "  sites_file: null  # the cells below replace the scenario's file, if any",
                  "  site_cells:  # [column, row]"]  # fmt: skip
        lines += [f"    - [{c}, {r}]" for c, r in layout.base_cells.tolist()]
    return "\n".join(lines) + "\n"


def figure(layout, table, evaluation, req, gain_map, gain_res, problem):
    """Left: the marginal value of a recruit by cell and the map's allocation; right: the
    simulated paired difference from the base of the map's recruits, of N recruited by
    residents and of the random arms' mean, by tier."""
    city = layout.city
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 5), dpi=110,
                                 gridspec_kw={"width_ratios": [1.1, 1]})  # fmt: skip
    w, h = city.extent_m
    grid = np.full(city.width * city.height, np.nan)
    grid[problem.cells] = table["marginal_per_100"].to_numpy()
    im = ax.imshow(grid.reshape(city.height, city.width), extent=(0, w, h, 0), cmap="viridis")
    fig.colorbar(im, ax=ax, label="incidents a day helped in time per 100 recruits")
    got = table[table["recruit"] > 0]
    ax.scatter(got["x_m"], got["y_m"], s=8 + 4 * np.sqrt(got["recruit"]), facecolors="none",
               edgecolors="#D55E00", label=f"recruit here ({req.budget} in all)")  # fmt: skip
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m, south)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"coverage model: the map's recruits help {gain_map:.3g} more incidents a "
                 f"day in time,\nrecruited by residents {gain_res:.3g}", fontsize=8)  # fmt: skip
    # Right: each arm's paired difference from the base, tiers grouped, arms side by side.
    shown = [a for a in ("optimised", "by-residents", "random-mean")
             if a in set(evaluation["arm"])]  # fmt: skip
    tiers = list(dict.fromkeys(evaluation["tier"]))
    height = 0.8 / max(len(shown), 1)
    for i, arm in enumerate(shown):
        ev = evaluation[evaluation["arm"] == arm].set_index("tier").reindex(tiers)
        d = ev["diff_vs_base"].to_numpy(float) * 100
        err = np.vstack(
            [d - ev["ci_low"].to_numpy(float) * 100, ev["ci_high"].to_numpy(float) * 100 - d]
        )
        y = np.arange(len(tiers)) - 0.4 + (i + 0.5) * height
        bx.barh(y, d, height=height, xerr=err, label=arm, color=f"C{i}",
                error_kw={"lw": 0.8})  # fmt: skip
    bx.set_yticks(np.arange(len(tiers)), tiers)
    bx.axvline(0, color="black", lw=0.8)
    bx.legend(fontsize=7)
    bx.set_xlabel("compliance minus base, percentage points (paired 95 % CI)")
    bx.set_title(f"simulated: +{req.budget} recruited by the map, by residents, and the map's "
                 f"counts\nat random cells (mean), {req.replications} replications",
                 fontsize=8)  # fmt: skip
    fig.suptitle(f"{layout.scenario.name}: where to recruit {req.budget} volunteers (mutual)")
    fig.tight_layout()
    return fig
