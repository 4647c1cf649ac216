"""Solve the placement with PySAL's spopt on the HiGHS solver through PuLP; no hand-written
solver.

- MCLP (maximal covering, Church & ReVelle 1974): ``n`` sites covering the most demand;
- LSCP (location set covering, Toregas et al. 1971): the fewest sites covering all demand
  that any candidate can cover;
- p-median (Hakimi 1964): ``n`` sites minimising the demand-weighted time to the nearest unit.

spopt states each model from a dense cost matrix. Past :data:`SPOPT_DENSE_ENTRIES` entries
(the whole city's MCLP would have 564 million) an MCLP or LSCP is stated by jiefang over the
sparse pairs instead: the same variables, constraints and objective as spopt's
``from_cost_matrix`` (``x_j``, ``y_i`` binary; ``sum_j a_ij x_j >= y_i``; ``sum_j x_j = n``;
maximise ``sum_i w_i y_i``), only without the zero terms; the tests check both statements
give the same optimum. Both are solved by HiGHS.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from sim.extras import require
from sim.model.config import ScenarioError
from sim.planning.coverage import CoverageProblem, check_dense

#: Up to this many dense entries the model is spopt's own (``from_cost_matrix``).
SPOPT_DENSE_ENTRIES = 1_000_000
#: p-median has one assignment variable per dense entry: refused past this many.
MAX_PMEDIAN_ENTRIES = 200_000
METHODS = ("mclp", "lscp", "pmedian", "sim")


@dataclass(frozen=True)
class Solution:
    """The chosen columns of a :class:`CoverageProblem` and what they give."""

    chosen: np.ndarray  # column indices into problem.columns
    covered_per_day: float  # demand per day newly covered (from the matrix)
    objective: float  # the solver's objective value (the same quantity, from the solver)
    status: str
    statement: str = "spopt"  # spopt (dense, spopt's own model) or sparse (jiefang's PuLP)
    needed: int | None = None  # LSCP: sites needed to cover all coverable demand
    weighted_cost: float | None = None  # p-median: demand-weighted time, targets per day


def _solver(time_limit_s: float):
    import pulp

    return pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=0.0)


def _run(model, time_limit_s: float):
    with warnings.catch_warnings():
        # spopt builds variables the way PuLP 3.x calls deprecated (for PuLP 4): not ours.
        warnings.filterwarnings("ignore", "Constructing LpVariable", DeprecationWarning)
        with _quiet_stdout():  # HiGHS prints its banner on file descriptor 1 even with msg off
            return model.solve(_solver(time_limit_s), results=False)


def _status(problem) -> str:
    """ "Optimal" only when HiGHS proved it: PuLP reports a time limit with an integer
    solution as status Optimal, with the solution status telling them apart."""
    import pulp

    if problem.status == pulp.LpStatusOptimal and problem.sol_status != pulp.LpSolutionOptimal:
        return "Feasible (time limit; not proved optimal)"
    return pulp.LpStatus[problem.status]


def solve_mclp(
    problem: CoverageProblem, n: int, time_limit_s: float = 300.0, sparse: bool | None = None
) -> Solution:
    """Choose ``n`` columns that cover the most demand (``n`` <= the number of columns).
    ``sparse``: state the model over the sparse pairs (default: when past
    :data:`SPOPT_DENSE_ENTRIES`)."""
    require("plan")
    import pulp

    n_cols = problem.shape[1]
    if n_cols == 0 or problem.weights.size == 0:
        return Solution(np.zeros(0, np.int64), 0.0, 0.0, "nothing to cover")
    if n >= n_cols:  # every useful candidate: nothing to choose
        chosen = np.arange(n_cols)
        value = problem.covered(chosen)
        return Solution(chosen, value, value, "all useful candidates")
    if sparse is None:
        sparse = problem.dense_entries > SPOPT_DENSE_ENTRIES
    if sparse:
        lp, x = _sparse_mclp(problem, n)
        with _quiet_stdout():
            lp.solve(_solver(time_limit_s))
        statement = "sparse"
    else:
        from spopt.locate import MCLP

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Constructing LpVariable", DeprecationWarning)
            model = MCLP.from_cost_matrix(
                problem.cost, problem.weights, service_radius=1.0, p_facilities=n,
                name="jiefang_mclp",
            )  # fmt: skip
        model = _run(model, time_limit_s)
        lp, x, statement = model.problem, model.fac_vars, "spopt"
    chosen = np.flatnonzero(np.array([v.value() or 0.0 for v in x]) > 0.5)
    objective = float(pulp.value(lp.objective) or 0.0)
    covered = problem.covered(chosen)
    if not math.isclose(covered, objective, rel_tol=1e-6, abs_tol=1e-9):
        raise RuntimeError(f"MCLP objective {objective} differs from the coverage {covered}")
    return Solution(chosen, covered, objective, _status(lp), statement)


def _sparse_mclp(problem: CoverageProblem, n: int):
    """spopt's MCLP (``MCLP.from_cost_matrix``) over the nonzero entries only."""
    import pulp

    covers = problem.covers.tocsr()
    lp = pulp.LpProblem("jiefang_mclp_sparse", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x[{j}]", 0, 1, pulp.LpInteger) for j in range(problem.shape[1])]
    y = [pulp.LpVariable(f"y[{i}]", 0, 1, pulp.LpInteger) for i in range(problem.shape[0])]
    lp += pulp.LpAffineExpression(zip(y, problem.weights.tolist(), strict=True)), "objective"
    ptr, idx = covers.indptr, covers.indices
    for i in range(problem.shape[0]):
        expr = pulp.LpAffineExpression([(x[j], 1) for j in idx[ptr[i] : ptr[i + 1]].tolist()])
        expr.addterm(y[i], -1)
        lp += pulp.LpConstraint(expr, pulp.LpConstraintGE, f"c{i}", 0)
    lp += pulp.LpConstraint(pulp.lpSum(x), pulp.LpConstraintEQ, "p", n)
    return lp, x


def solve_lscp(
    problem: CoverageProblem, time_limit_s: float = 300.0, sparse: bool | None = None
) -> Solution:
    """The fewest columns that cover every row (every row has a covering column)."""
    require("plan")
    import pulp

    if problem.shape[1] == 0 or problem.weights.size == 0:
        return Solution(np.zeros(0, np.int64), 0.0, 0.0, "nothing to cover", needed=0)
    if sparse is None:
        sparse = problem.dense_entries > SPOPT_DENSE_ENTRIES
    if sparse:
        covers = problem.covers.tocsr()
        lp = pulp.LpProblem("jiefang_lscp_sparse", pulp.LpMinimize)
        x = [pulp.LpVariable(f"y[{j}]", 0, 1, pulp.LpInteger) for j in range(problem.shape[1])]
        lp += pulp.lpSum(x), "objective"
        ptr, idx = covers.indptr, covers.indices
        for i in range(problem.shape[0]):
            expr = pulp.LpAffineExpression([(x[j], 1) for j in idx[ptr[i] : ptr[i + 1]].tolist()])
            lp += pulp.LpConstraint(expr, pulp.LpConstraintGE, f"c{i}", 1)
        with _quiet_stdout():
            lp.solve(_solver(time_limit_s))
        statement = "sparse"
    else:
        from spopt.locate import LSCP

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Constructing LpVariable", DeprecationWarning)
            model = LSCP.from_cost_matrix(problem.cost, service_radius=1.0, name="jiefang_lscp")
        model = _run(model, time_limit_s)
        lp, x, statement = model.problem, model.fac_vars, "spopt"
    chosen = np.flatnonzero(np.array([v.value() or 0.0 for v in x]) > 0.5)
    objective = float(pulp.value(lp.objective) or 0.0)
    covered = problem.covered(chosen)
    if chosen.size != round(objective) or not math.isclose(
        covered, float(problem.weights.sum()), rel_tol=1e-9
    ):
        raise RuntimeError(f"LSCP: {chosen.size} sites ({objective}) leave demand uncovered")
    return Solution(chosen, covered, objective, _status(lp), statement, needed=int(chosen.size))


def solve_pmedian(problem: CoverageProblem, n: int, time_limit_s: float = 300.0) -> Solution:
    """Choose ``n`` columns minimising the demand-weighted time (existing units count: each
    row's time is capped at what they give it)."""
    require("plan")
    import pulp

    if problem.cap is None:
        raise ValueError("solve_pmedian needs a p-median instance (build_problem(costs=True))")
    n_cols = problem.shape[1]
    if n_cols == 0 or problem.weights.size == 0:
        value = problem.weighted_cost([])
        return Solution(np.zeros(0, np.int64), 0.0, 0.0, "nothing to improve",
                        weighted_cost=value)  # fmt: skip
    if n >= n_cols:
        chosen = np.arange(n_cols)
    else:
        check_dense(problem)
        if problem.dense_entries > MAX_PMEDIAN_ENTRIES:
            raise ScenarioError(
                f"--method pmedian: {problem.shape[0]:,} demand rows x {problem.shape[1]:,} "
                f"candidates = {problem.dense_entries:,} assignment variables, more than "
                f"{MAX_PMEDIAN_ENTRIES:,}; use --method mclp, or fewer candidates (--candidates)"
            )
        from spopt.locate import PMedian

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Constructing LpVariable", DeprecationWarning)
            model = PMedian.from_cost_matrix(
                problem.cost, problem.weights, p_facilities=n, name="jiefang_pmedian"
            )
        model = _run(model, time_limit_s)
        chosen = np.flatnonzero(np.array([v.value() or 0.0 for v in model.fac_vars]) > 0.5)
        objective = float(pulp.value(model.problem.objective) or 0.0)
        value = problem.weighted_cost(chosen)
        if not math.isclose(value, objective + problem.fixed, rel_tol=1e-6, abs_tol=1e-9):
            raise RuntimeError(f"p-median objective {objective} differs from the cost {value}")
        return Solution(chosen, _covered_within(problem, chosen), objective,
                        _status(model.problem), "spopt", weighted_cost=value)  # fmt: skip
    value = problem.weighted_cost(chosen)
    return Solution(chosen, _covered_within(problem, chosen), value - problem.fixed,
                    "all useful candidates", weighted_cost=value)  # fmt: skip


def _covered_within(problem: CoverageProblem, chosen) -> float:
    """p-median instance: demand per day the chosen columns bring within the target that the
    existing units did not (the row's cap above 1)."""
    assert problem.cap is not None
    newly = problem.cap > 1.0 + 1e-12
    cols = np.asarray(chosen, dtype=np.int64)
    if cols.size == 0:
        return 0.0
    hit = np.asarray(problem.covers[:, cols].sum(axis=1)).reshape(-1) > 0
    return float(problem.weights[hit & newly].sum())


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """File descriptor 1 to /dev/null for a while (the command's table goes to stdout)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no stdout at all
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
