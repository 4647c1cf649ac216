"""``--method sim``: simulation in the loop, to see what coverage cannot (busy teams, queues,
volunteers, acceptance, the spread of mobilisation).

A first-improvement local search over swaps, started from the MCLP placement. A placement's
score is the number of incidents the objective's tiers count that are helped within the
target, per replication, summed over the objective's tiers and averaged over *search*
replications ``R .. R + S - 1``: replications the evaluation (``0 .. R - 1``) never uses, so
the evaluation judges the search out of sample. Every placement is scored on the same search
replications (common random numbers), so a swap is kept only when it helps on the same
incidents. Each swap replaces one site (the one that covers least on its own first) with one
of the ``alternatives`` unused candidates that cover the most demand no chosen site covers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sim.planning.candidates import PlanningLayout
from sim.planning.coverage import CoverageProblem
from sim.planning.evaluate import arm_compliance, with_sites


@dataclass
class SearchLog:
    evaluations: int = 0
    accepted: int = 0
    start_score: float = float("nan")
    score: float = float("nan")
    steps: list[dict] = field(default_factory=list)


def search(
    layout: PlanningLayout,
    problem: CoverageProblem,
    start: np.ndarray,
    candidates: np.ndarray,
    tiers: list[str],
    seed: int,
    first: int,
    replications: int,
    evaluations: int,
    alternatives: int = 4,
    tick: Callable[[], None] | None = None,
    kind: str = "meus",
) -> tuple[np.ndarray, SearchLog]:
    """Improve ``start`` (flat cells) by swaps scored in simulation; returns the cells and a log."""
    log = SearchLog()
    cache: dict[tuple[int, ...], float] = {}

    def score(cells: np.ndarray) -> float:
        key = tuple(sorted(int(c) for c in cells))
        if key not in cache:
            sc = with_sites(layout, np.asarray(key, dtype=np.int64), "search", kind)
            table = arm_compliance(sc, seed, replications, tick, first=first)
            met = table[table["tier"].isin(tiers)].groupby("replication")["met"].sum()
            cache[key] = float(met.mean())
            log.evaluations += 1
        return cache[key]

    current = np.asarray(start, dtype=np.int64).copy()
    best = log.start_score = score(current)
    col_of = {int(c): j for j, c in enumerate(problem.columns.tolist())}
    covers = problem.covers
    improved = True
    while improved and log.evaluations < evaluations:
        improved = False
        for position in _weakest_first(current, col_of, covers, problem.weights):
            for alt in _alternatives(current, position, candidates, col_of, covers,
                                     problem.weights, alternatives):  # fmt: skip
                if log.evaluations >= evaluations:
                    break
                trial = current.copy()
                trial[position] = alt
                value = score(trial)
                if value > best:
                    log.steps.append({"out": int(current[position]), "in": int(alt),
                                      "score": value})  # fmt: skip
                    current, best, improved = trial, value, True
                    log.accepted += 1
                    break
            if improved or log.evaluations >= evaluations:
                break
    log.score = best
    return current, log


def _column_hits(cells: np.ndarray, col_of: dict[int, int], covers) -> np.ndarray:
    """Per row: how many of the cells' columns cover it (``covers``: sparse, rows x columns)."""
    cols = [j for c in cells.tolist() if (j := col_of.get(int(c))) is not None]
    if not cols:
        return np.zeros(covers.shape[0], dtype=np.int64)
    return np.asarray(covers[:, cols].sum(axis=1)).reshape(-1).astype(np.int64)


def _weakest_first(cells, col_of, covers, weights) -> list[int]:
    """Positions ordered by the demand only that site covers (least first)."""
    hits = _column_hits(cells, col_of, covers)
    only = np.asarray(covers.T @ (weights * (hits == 1))).reshape(-1)
    alone = []
    for c in cells.tolist():
        j = col_of.get(int(c))
        alone.append(0.0 if j is None else float(only[j]))
    return [int(i) for i in np.argsort(alone, kind="stable")]


def _alternatives(cells, position, candidates, col_of, covers, weights, k) -> list[int]:
    """Unused candidates by the demand they would add with the other sites kept."""
    others = np.delete(cells, position)
    free = _column_hits(others, col_of, covers) == 0
    gain_of_col = np.asarray(covers.T @ (weights * free)).reshape(-1)
    used = set(cells.tolist())
    gains = []
    for c in candidates.tolist():
        if c in used:
            continue
        j = col_of.get(int(c))
        gains.append((-(float(gain_of_col[j]) if j is not None else 0.0), c))
    gains.sort()
    return [c for _, c in gains[:k]]
