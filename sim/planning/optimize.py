"""Solve the placement: the maximal covering location problem (MCLP, Church & ReVelle 1974)
with PySAL's spopt, on the HiGHS solver through PuLP. No hand-written solver."""

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
from sim.planning.coverage import CoverageProblem


@dataclass(frozen=True)
class Solution:
    """The chosen columns of a :class:`CoverageProblem` and what they cover."""

    chosen: np.ndarray  # column indices into problem.columns
    covered_per_day: float  # demand per day newly covered (from the matrix)
    objective: float  # spopt's objective value (the same quantity, from the solver)
    status: str


def solve_mclp(problem: CoverageProblem, n: int, time_limit_s: float = 300.0) -> Solution:
    """Choose ``n`` columns that cover the most demand (``n`` <= the number of columns)."""
    require("plan")
    import pulp
    from spopt.locate import MCLP

    n_cols = problem.cost.shape[1]
    if n_cols == 0 or problem.weights.size == 0:
        return Solution(np.zeros(0, np.int64), 0.0, 0.0, "nothing to cover")
    if n >= n_cols:  # every useful candidate: nothing to choose
        chosen = np.arange(n_cols)
        value = problem.covered(chosen)
        return Solution(chosen, value, value, "all useful candidates")
    with warnings.catch_warnings():
        # spopt builds variables the way PuLP 3.x calls deprecated (for PuLP 4): not ours to fix.
        warnings.filterwarnings("ignore", "Constructing LpVariable", DeprecationWarning)
        model = MCLP.from_cost_matrix(
            problem.cost, problem.weights, service_radius=1.0, p_facilities=n, name="jiefang_mclp"
        )
        solver = pulp.HiGHS(msg=False, timeLimit=time_limit_s, gapRel=0.0)
        with _quiet_stdout():  # HiGHS prints its banner on file descriptor 1 even with msg off
            model = model.solve(solver, results=False)
    x = np.array([v.value() or 0.0 for v in model.fac_vars])
    chosen = np.flatnonzero(x > 0.5)
    objective = float(pulp.value(model.problem.objective) or 0.0)
    status = pulp.LpStatus[model.problem.status]
    covered = problem.covered(chosen)
    if not math.isclose(covered, objective, rel_tol=1e-6, abs_tol=1e-9):
        raise RuntimeError(f"MCLP objective {objective} differs from the coverage {covered}")
    return Solution(chosen, covered, objective, status)


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
