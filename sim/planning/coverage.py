"""Which demand each site covers: within the tier's target by the model's own travel.

Demand sits at ``subdivide x subdivide`` points in each cell (incidents are uniform within
their cell), in each *time class* (quarter-hours with the same set of open site uses, weighted
by the hour profile). A site covers a point in a time class when a unit there is open then and
its help arrives within the tier's target:

- ``meu_team`` (mutual rescue): travel distance (Manhattan within a bank, through bridges
  between banks: :meth:`sim.model.city.City.pair_distances`) within ``coverage_radius_m``, and
  median mobilisation + distance / ``run_with_equipment_m_s`` within the target (on the
  occurrence clock the median 110 call delay is added);
- ``meu_staff`` (self-rescue): the incident is on the unit's own cell and the median
  self-rescue delay is within the target.

Demand the scenario's own (pinned) units already cover is left out: with coverage as a yes
or no, a new site adds only what no existing unit covers. Points with the same set of
covering candidates are merged (their weights add), which leaves the MCLP optimum unchanged
and keeps the matrix small.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from sim.model.config import ScenarioError, TierConfig
from sim.model.vocab import LandUse
from sim.planning.candidates import PlanningLayout
from sim.planning.demand import cell_demand, open_by_slot, time_slots

#: Responders that MEUs provide, by what they do.
MEU_RESPONDERS = ("meu_team", "meu_staff")
#: spopt states the MCLP from a dense matrix (and PuLP builds one term per entry): past this
#: many entries (about 160 MB, and minutes of model building) the instance is refused.
MAX_MATRIX_ENTRIES = 20_000_000


@dataclass(frozen=True, eq=False)
class CoverageProblem:
    """An MCLP instance: rows are demand (merged points x time classes), columns candidates.

    ``cost[i, j]``: time for candidate ``j``'s help to reach row ``i`` as a share of the
    tier's target (``inf`` where it is closed, out of range or too slow); it covers the row
    when ``cost <= 1``. ``weights``: expected counted incidents per day.
    """

    cost: np.ndarray
    weights: np.ndarray
    columns: np.ndarray  # flat cell of each column
    total_per_day: float  # all demand of the objective, per day
    base_per_day: float  # demand the scenario's own units already cover
    tiers: tuple[str, ...]

    @property
    def covers(self) -> np.ndarray:
        return self.cost <= 1.0

    def covered(self, chosen: np.ndarray) -> float:
        """Demand per day newly covered by the chosen columns."""
        if self.weights.size == 0 or len(chosen) == 0:
            return 0.0
        hit = self.covers[:, np.asarray(chosen, dtype=np.int64)].any(axis=1)
        return float(self.weights[hit].sum())


def _median(duration) -> float:
    return float(np.asarray(duration.quantile(np.array([0.5])))[0])


def _lag_and_reach(layout: PlanningLayout, tier: TierConfig, responder: str):
    sc = layout.scenario
    if responder == "meu_staff":
        return _median(sc.incidents.self_rescue_delay), 0.0
    lag = _median(sc.meus.mobilisation)
    if tier.clock == "occurrence":
        lag += _median(sc.incidents.call_delay)
    speed = sc.travel.run_with_equipment_m_s
    return lag, max(0.0, min(sc.meus.coverage_radius_m, (tier.target_s - lag) * speed))


def _pairs(layout: PlanningLayout, sites: np.ndarray, points_xy, points_cell, responder, reach):
    """(site, point, distance m) of every site-point pair within reach."""
    city = layout.city
    site_xy = city.cell_centre(sites % city.width, sites // city.width).reshape(-1, 2)
    if responder == "meu_staff":
        order = np.argsort(points_cell, kind="stable")
        lo = np.searchsorted(points_cell[order], sites, side="left")
        hi = np.searchsorted(points_cell[order], sites, side="right")
        counts = hi - lo
        s = np.repeat(np.arange(sites.size), counts)
        p = np.concatenate([order[a:b] for a, b in zip(lo, hi, strict=True)] or [np.zeros(0)])
        return s, p.astype(np.int64), np.zeros(s.size)
    if reach <= 0 or sites.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    hits = cKDTree(points_xy).query_ball_point(site_xy, r=reach + 1e-6, p=1)
    counts = np.fromiter(map(len, hits), dtype=np.int64, count=len(hits))
    s = np.repeat(np.arange(sites.size), counts)
    p = np.fromiter((i for h in hits for i in h), dtype=np.int64, count=int(counts.sum()))
    d = city.pair_distances(site_xy[s], city.bank_of(site_xy[s]), points_xy[p], None)
    ok = d <= reach + 1e-6
    return s[ok], p[ok], d[ok]


def build_problem(
    layout: PlanningLayout,
    candidates: np.ndarray,
    objective: list[tuple[TierConfig, str]],
    subdivide: int = 4,
) -> CoverageProblem:
    """The MCLP instance for adding MEUs at ``candidates`` (flat cells) under ``objective``
    (pairs of a tier and the MEU responder it counts)."""
    sc, city = layout.scenario, layout.city
    base = layout.base_flat
    flat_use = city.land_use.reshape(-1)
    codes = sorted({int(u) for u in flat_use[np.concatenate([base, candidates])]})
    uses = [LandUse(c).name.lower() for c in codes]
    use_index = np.full(len(LandUse), -1)
    use_index[codes] = np.arange(len(codes))
    slot_open = open_by_slot(sc, uses)
    classes, slot_class = np.unique(slot_open, axis=0, return_inverse=True)
    class_weight = np.bincount(slot_class.reshape(-1), weights=time_slots(sc))
    n_cls = classes.shape[0]
    base_use, cand_use = use_index[flat_use[base]], use_index[flat_use[candidates]]

    entries = []  # (row, column, cost) of rows no existing unit covers
    weights: list[np.ndarray] = []
    total = covered_base = 0.0
    offset = 0
    for tier, responder in objective:
        demand = cell_demand(sc, city, tier, responder)
        cells = np.flatnonzero(demand > 0)
        k = subdivide
        off = (np.arange(k) + 0.5) / k
        ox, oy = np.meshgrid(off, off)
        col, row = cells % city.width, cells // city.width
        pts = np.stack(
            [(col[:, None] + ox.reshape(1, -1)) * city.cell_size_m,
             (row[:, None] + oy.reshape(1, -1)) * city.cell_size_m], axis=-1,
        ).reshape(-1, 2)  # fmt: skip
        pts_cell = np.repeat(cells, k * k)
        w_pt = np.repeat(demand[cells] / (k * k), k * k)
        total += float(w_pt.sum())
        lag, reach = _lag_and_reach(layout, tier, responder)
        if lag > tier.target_s:
            raise ScenarioError(
                f"--objective {tier.name}: no MEU can meet the {tier.target_s:g} s target "
                f"(median delay before moving is {lag:.0f} s)"
            )
        n_pts = pts.shape[0]
        base_cov = np.zeros((n_pts, n_cls), dtype=bool)
        s, p, _ = _pairs(layout, base, pts, pts_cell, responder, reach)
        for c in range(n_cls):
            on = classes[c, base_use[s]]
            base_cov[p[on], c] = True
        covered_base += float((w_pt[:, None] * class_weight[None, :] * base_cov).sum())
        s, p, d = _pairs(layout, candidates, pts, pts_cell, responder, reach)
        cost = (lag + d / sc.travel.run_with_equipment_m_s) / tier.target_s
        if responder == "meu_staff":
            cost = np.full(s.size, lag / tier.target_s)
        for c in range(n_cls):
            keep = classes[c, cand_use[s]] & ~base_cov[p, c]
            entries.append((offset + p[keep] * n_cls + c, s[keep], cost[keep]))
        weights.append(np.outer(w_pt, class_weight).reshape(-1))
        offset += n_pts * n_cls
    row_w = np.concatenate(weights) if weights else np.zeros(0)
    rows = np.concatenate([e[0] for e in entries]) if entries else np.zeros(0, np.int64)
    cols = np.concatenate([e[1] for e in entries]) if entries else np.zeros(0, np.int64)
    costs = np.concatenate([e[2] for e in entries]) if entries else np.zeros(0)
    cost, w, used = _merge(rows, cols, costs, row_w)
    return CoverageProblem(
        cost=cost, weights=w, columns=candidates[used], total_per_day=total,
        base_per_day=covered_base, tiers=tuple(t.name for t, _ in objective),
    )  # fmt: skip


def _merge(rows, cols, costs, row_w):
    """Rows with the same set of covering columns become one (weights add); columns that
    cover nothing are dropped. Returns (cost matrix, weights, used column indices)."""
    if rows.size == 0:
        return np.zeros((0, 0)), np.zeros(0), np.zeros(0, np.int64)
    order = np.lexsort((cols, rows))
    rows, cols, costs = rows[order], cols[order], costs[order]
    uniq, start = np.unique(rows, return_index=True)
    bounds = np.append(start, rows.size)
    groups: dict[bytes, int] = {}
    first: list[int] = []
    weight: list[float] = []
    for i, r in enumerate(uniq.tolist()):
        key = cols[bounds[i] : bounds[i + 1]].tobytes()
        g = groups.get(key)
        if g is None:
            groups[key] = len(first)
            first.append(i)
            weight.append(float(row_w[r]))
        else:
            weight[g] += float(row_w[r])
    used = np.unique(cols)
    if len(first) * used.size > MAX_MATRIX_ENTRIES:
        raise ScenarioError(
            f"the coverage matrix would have {len(first):,} demand rows x {used.size:,} "
            f"candidates = {len(first) * used.size:,} entries; spopt's MCLP is stated densely "
            f"and is refused past {MAX_MATRIX_ENTRIES:,} (give fewer candidates with "
            "--candidates, or plan a smaller area)"
        )
    col_of = np.full(int(cols.max()) + 1, -1)
    col_of[used] = np.arange(used.size)
    cost = np.full((len(first), used.size), np.inf)
    for g, i in enumerate(first):
        lo, hi = bounds[i], bounds[i + 1]
        cost[g, col_of[cols[lo:hi]]] = costs[lo:hi]
    w = np.asarray(weight)
    keep = w > 0
    return cost[keep], w[keep], used
