"""Which demand each site covers: within the tier's target by the model's own travel.

Demand sits at ``subdivide x subdivide`` points in each cell (incidents are uniform within
their cell; for police, whose reach is a kilometre or more, at the cell centre), in each
*time class* (quarter-hours with the same set of open site uses and the same travel speed,
weighted by the hour profile). A site covers a point in a time class when
a unit there is open then and its help arrives within the tier's target:

- ``meu_team`` (mutual rescue): travel distance (Manhattan within a bank, through bridges
  between banks: :meth:`sim.model.city.City.pair_distances`) within ``coverage_radius_m``, and
  median mobilisation + distance / ``run_with_equipment_m_s`` within the target (on the
  occurrence clock the median 110 call delay is added);
- ``meu_staff`` (self-rescue): the incident is on the unit's own cell and the median
  self-rescue delay is within the target;
- ``police`` (a police post's car): median call handling (on the alert clock; plus the
  median call delay on the occurrence clock, nothing on the dispatch clock) + distance /
  (``drive_m_s`` / the hour's congestion) within the target.

Demand the existing units (the scenario's MEUs, or its police stations) already cover is left
out: with coverage as a yes or no, a new site adds only what no existing unit covers. Points
with the same set of covering candidates are merged (their weights add), which leaves the
optimum unchanged and keeps the matrix small.

The matrix is held sparse (only the pairs within reach): the whole city's mutual-rescue MCLP
is 31,399 merged rows x 17,978 candidates, 564 million dense entries but under a million
pairs. ``costs=True`` builds the p-median instance instead: every pair within the unit's
dispatch radius with its time (as a share of the target), each row capped at what the
existing units already give it (:data:`NEVER_COST` where none reaches it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy import sparse
from scipy.spatial import cKDTree

from sim.model.config import Scenario, ScenarioError, TierConfig, by_hour
from sim.model.vocab import LandUse
from sim.planning.candidates import PlanningLayout
from sim.planning.demand import SLOTS_PER_HOUR, cell_demand, open_by_slot, time_slots

#: Responders that MEUs provide, by what they do.
MEU_RESPONDERS = ("meu_team", "meu_staff")
#: spopt states its models from a dense matrix (and PuLP builds one term per entry): past
#: this many entries a p-median instance is refused and an MCLP or LSCP is stated over its
#: sparse pairs instead (the same model, built by jiefang with PuLP: :mod:`.optimize`).
MAX_MATRIX_ENTRIES = 20_000_000
#: Pairs (site, demand row) held at most, about 24 bytes each.
MAX_PAIRS = 60_000_000
#: p-median: the time (in targets) counted for demand no unit reaches.
NEVER_COST = 2.0


@dataclass(frozen=True, eq=False)
class CoverageProblem:
    """A location problem: rows are demand (merged points x time classes), columns candidates.

    ``matrix[i, j]`` (sparse, only pairs within reach): time for candidate ``j``'s help to
    reach row ``i`` as a share of the tier's target; it covers the row when ``<= 1``.
    ``weights``: expected counted incidents per day. ``cap`` (p-median instances only): what
    the existing units already give each row (in targets), ``fixed``: the weighted cost of the
    demand no candidate can improve.
    """

    matrix: sparse.csr_matrix
    weights: np.ndarray
    columns: np.ndarray  # flat cell of each column
    total_per_day: float  # all demand of the objective, per day
    base_per_day: float  # demand the existing units already cover
    tiers: tuple[str, ...]
    cap: np.ndarray | None = None
    fixed: float = 0.0
    meta: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.weights.size), int(self.columns.size))

    @property
    def dense_entries(self) -> int:
        return self.shape[0] * self.shape[1]

    @cached_property
    def covers(self) -> sparse.csc_matrix:
        """Bool (rows x columns): the column covers the row within the target."""
        m = self.matrix.tocoo()
        ok = m.data <= 1.0
        return sparse.csc_matrix(
            (np.ones(int(ok.sum()), bool), (m.row[ok], m.col[ok])), shape=self.shape
        )

    @property
    def cost(self) -> np.ndarray:
        """The dense cost matrix spopt takes (``inf``: out of reach; p-median instances: each
        row's cap where a candidate does not do better). Refused past MAX_MATRIX_ENTRIES."""
        check_dense(self)
        m = self.matrix.tocoo()
        fill = np.inf if self.cap is None else self.cap[:, None]
        out = np.broadcast_to(fill, self.shape).astype(float).copy()
        out[m.row, m.col] = m.data
        return out

    def covered(self, chosen) -> float:
        """Demand per day newly covered by the chosen columns."""
        chosen = np.asarray(chosen, dtype=np.int64)
        if self.weights.size == 0 or chosen.size == 0:
            return 0.0
        hit = np.asarray(self.covers[:, chosen].sum(axis=1)).reshape(-1) > 0
        return float(self.weights[hit].sum())

    def column_coverage(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Demand per day each column covers (among rows where ``mask`` is true)."""
        w = self.weights if mask is None else self.weights * mask
        return np.asarray(self.covers.T @ w).reshape(-1)

    def weighted_cost(self, chosen) -> float:
        """p-median: demand-weighted time (in targets, per day) with the chosen columns added
        to the existing units (every row, including those no candidate improves)."""
        if self.cap is None:
            raise ValueError("not a p-median instance")
        best = self.cap.copy()
        m = self.matrix.tocsc()[:, np.asarray(chosen, dtype=np.int64)].tocoo()
        np.minimum.at(best, m.row, m.data)
        return float((self.weights * best).sum()) + self.fixed


def check_dense(problem: CoverageProblem) -> None:
    if problem.dense_entries > MAX_MATRIX_ENTRIES:
        raise ScenarioError(
            f"the coverage matrix would have {problem.shape[0]:,} demand rows x "
            f"{problem.shape[1]:,} candidates = {problem.dense_entries:,} entries; spopt states "
            f"this model densely and is refused past {MAX_MATRIX_ENTRIES:,} (use --method mclp "
            "or lscp, which jiefang states over the sparse pairs, give fewer candidates with "
            "--candidates, or plan a smaller area)"
        )


def _median(duration) -> float:
    return float(np.asarray(duration.quantile(np.array([0.5])))[0])


@dataclass(frozen=True)
class Service:
    """How one kind of unit reaches demand for one (tier, responder)."""

    lag_s: float  # median delay before moving, on the tier's clock
    speed: np.ndarray  # (slots,) m/s
    radius_m: float  # dispatch radius (inf: none)
    own_cell: bool  # serves only its own cell (staff on site)

    def reach(self, target_s: float) -> np.ndarray:
        """(slots,) farthest distance within the target, m."""
        return np.minimum(self.radius_m, np.maximum(0.0, target_s - self.lag_s) * self.speed)


def service(layout: PlanningLayout, tier: TierConfig, responder: str) -> Service:
    sc = layout.scenario
    n_slots = 24 * SLOTS_PER_HOUR
    if responder == "meu_staff":
        lag = _median(sc.incidents.self_rescue_delay)
        return Service(lag, np.ones(n_slots), 0.0, True)
    if responder == "police":
        if tier.clock == "dispatch":
            lag = 0.0
        elif tier.clock == "alert":
            lag = _median(sc.police.call_handling)
        else:
            lag = _median(sc.police.call_handling) + _median(sc.incidents.call_delay)
        congestion = np.repeat(np.asarray(by_hour(sc.travel.congestion_by_hour)), SLOTS_PER_HOUR)
        return Service(lag, sc.travel.drive_m_s / congestion, np.inf, False)
    lag = _median(sc.meus.mobilisation)
    if tier.clock == "occurrence":
        lag += _median(sc.incidents.call_delay)
    speed = np.full(n_slots, sc.travel.run_with_equipment_m_s)
    return Service(lag, speed, sc.meus.coverage_radius_m, False)


def _pairs(layout: PlanningLayout, sites: np.ndarray, points_xy, points_cell, svc, limit):
    """(site, point, distance m) of every site-point pair within ``limit`` metres."""
    city = layout.city
    site_xy = city.cell_centre(sites % city.width, sites // city.width).reshape(-1, 2)
    if svc.own_cell:
        order = np.argsort(points_cell, kind="stable")
        lo = np.searchsorted(points_cell[order], sites, side="left")
        hi = np.searchsorted(points_cell[order], sites, side="right")
        counts = hi - lo
        s = np.repeat(np.arange(sites.size), counts)
        p = np.concatenate([order[a:b] for a, b in zip(lo, hi, strict=True)] or [np.zeros(0)])
        return s, p.astype(np.int64), np.zeros(s.size)
    if limit <= 0 or sites.size == 0 or points_xy.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    # Manhattan on the grid; on a road network a trip is never shorter than the straight
    # line, so the straight-line ball holds every pair within reach.
    metric = 2 if city.roads is not None else 1
    tree = cKDTree(points_xy)
    # Counted first: the lists of a query past MAX_PAIRS would take gigabytes themselves.
    lengths = tree.query_ball_point(site_xy, r=limit + 1e-6, p=metric, return_length=True)
    counts = np.asarray(lengths, np.int64).reshape(-1)
    if int(counts.sum()) > MAX_PAIRS:
        raise ScenarioError(
            f"the coverage problem would hold {int(counts.sum()):,} site-demand pairs (more "
            f"than {MAX_PAIRS:,}): give fewer candidates with --candidates, or plan a smaller area"
        )
    hits = tree.query_ball_point(site_xy, r=limit + 1e-6, p=metric)
    s = np.repeat(np.arange(sites.size), counts)
    p = np.fromiter((i for h in hits for i in h), dtype=np.int64, count=int(counts.sum()))
    d = city.pair_distances(site_xy[s], city.bank_of(site_xy[s]), points_xy[p], None)
    ok = d <= limit + 1e-6
    return s[ok], p[ok], d[ok]


def _site_open(layout: PlanningLayout, cells: np.ndarray, responder: str) -> np.ndarray:
    """(slots, cells) bool: a unit at each cell is open in each slot (police: always)."""
    n_slots = 24 * SLOTS_PER_HOUR
    if responder == "police":
        return np.ones((n_slots, cells.size), bool)
    flat_use = layout.city.land_use.reshape(-1)[cells]
    codes, inverse = np.unique(flat_use, return_inverse=True)
    uses = [LandUse(int(c)).name.lower() for c in codes]
    return open_by_slot(layout.scenario, uses)[:, inverse.reshape(-1)]


def _open_by_use(layout: PlanningLayout, cells: np.ndarray, responder: str) -> np.ndarray:
    """(slots, uses) bool: :func:`_site_open`'s distinct columns, one per use of ``cells``."""
    if responder == "police":
        return np.ones((24 * SLOTS_PER_HOUR, 1), bool)
    codes = np.unique(layout.city.land_use.reshape(-1)[cells])
    return open_by_slot(layout.scenario, [LandUse(int(c)).name.lower() for c in codes])


def time_classes_at_most(scenario: Scenario, responder: str, speed: np.ndarray) -> int:
    """Time classes the problem can have, from the scenario alone: the distinct slots of
    every use's opening hours and the speed (the layout's uses are some of them)."""
    uses = [u.name.lower() for u in LandUse] if responder != "police" else []
    key = np.concatenate([open_by_slot(scenario, uses), speed[:, None]], axis=1)
    return int(np.unique(key, axis=0).shape[0])


#: Bytes held while the problem is built, measured on the development machine and rounded
#: up: per demand point and time class (the existing units' best time, covered or not, the
#: row's weight and cap, the class loop's masks) and per point (its place, cell, weight);
#: per candidate cell (its opening by slot, its pairs' share of the sparse matrix).
_BYTES_PER_POINT_CLASS = 48
_BYTES_PER_POINT = 64
_BYTES_PER_CANDIDATE = 24 * SLOTS_PER_HOUR + 200
_CPU_PER_POINT_CLASS = 1e-7


def problem_estimate(scenario: Scenario, objective: list[tuple[TierConfig, str]],
                     subdivide: int) -> tuple[float, float, str]:  # fmt: skip
    """(bytes, CPU seconds, what) the coverage problem of ``objective`` may need at most,
    from the scenario alone, before any layout is built: every cell a demand cell and a
    candidate, every time class the opening hours allow."""
    city = scenario.city
    cells = float(city.width) * float(city.height)
    memory = cells * _BYTES_PER_CANDIDATE
    cpu = 0.0
    parts = []
    for tier, responder in objective:
        k = 1 if responder in ("police", "meu_staff") else subdivide
        if responder == "police":
            congestion = np.repeat(np.asarray(by_hour(scenario.travel.congestion_by_hour)),
                                   SLOTS_PER_HOUR)  # fmt: skip
            speed = scenario.travel.drive_m_s / congestion
        else:
            speed = np.ones(24 * SLOTS_PER_HOUR)
        classes = time_classes_at_most(scenario, responder, speed)
        points = cells * k * k
        memory += points * (_BYTES_PER_POINT + classes * _BYTES_PER_POINT_CLASS)
        cpu += points * classes * _CPU_PER_POINT_CLASS
        parts.append(f"{tier.name}/{responder}: {points:,.0f} demand points x {classes} time "
                     "classes")  # fmt: skip
    return memory, cpu, f"coverage problem: {'; '.join(parts)}"


@dataclass(frozen=True)
class _Classes:
    """Time classes of one (tier, responder): the slot each starts at, its distance limit
    and its speed."""

    first: np.ndarray
    limit: np.ndarray
    speed: np.ndarray
    lag_s: float
    target_s: float

    def costs(self, open_: np.ndarray, s, p, d):
        """Per class: (site, point, time as a share of the target) of the pairs open then
        and within the class's limit."""
        out = []
        for c in range(self.first.size):
            on = open_[self.first[c], s] & (d <= self.limit[c] + 1e-6)
            out.append((s[on], p[on], (self.lag_s + d[on] / self.speed[c]) / self.target_s))
        return out


def base_cells_for(layout: PlanningLayout, responder: str) -> np.ndarray:
    return layout.station_flat if responder == "police" else layout.base_flat


def build_problem(
    layout: PlanningLayout,
    candidates: np.ndarray,
    objective: list[tuple[TierConfig, str]],
    subdivide: int = 4,
    costs: bool = False,
) -> CoverageProblem:
    """The location problem for adding units at ``candidates`` (flat cells) under
    ``objective`` (pairs of a tier and the responder it counts): covering (MCLP, LSCP), or
    with ``costs`` the p-median instance."""
    slot_w = time_slots(layout.scenario)
    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row, column, cost)
    weights: list[np.ndarray] = []
    caps: list[np.ndarray] = []
    total = covered_base = 0.0
    offset = 0
    for tier, responder in objective:
        part = _objective_rows(layout, candidates, tier, responder, slot_w, subdivide, costs)
        # Each objective's rows follow the previous ones'.
        entries.extend((offset + row, col, cost) for row, col, cost in part.entries)
        weights.append(part.weights)
        caps.append(part.caps)
        total += part.total
        covered_base += part.covered_base
        offset += part.weights.size
    row_w = np.concatenate(weights) if weights else np.zeros(0)
    row_cap = np.concatenate(caps) if caps else np.zeros(0)
    rows = np.concatenate([e[0] for e in entries]) if entries else np.zeros(0, np.int64)
    cols = np.concatenate([e[1] for e in entries]) if entries else np.zeros(0, np.int64)
    vals = np.concatenate([e[2] for e in entries]) if entries else np.zeros(0)
    matrix, w, cap, used, fixed = _merge(rows, cols, vals, row_w, row_cap if costs else None)
    return CoverageProblem(
        matrix=matrix, weights=w, columns=candidates[used], total_per_day=total,
        base_per_day=covered_base, tiers=tuple(t.name for t, _ in objective),
        cap=cap, fixed=fixed,
    )  # fmt: skip


@dataclass(frozen=True)
class _Rows:
    """One objective's part of the problem: rows are its demand points x time classes
    (numbered from 0), ``entries`` the (rows, candidate columns, costs) within reach that
    improve on the existing units; ``caps`` what those units give each row."""

    entries: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    weights: np.ndarray
    caps: np.ndarray
    total: float
    covered_base: float


def _objective_rows(
    layout: PlanningLayout,
    candidates: np.ndarray,
    tier: TierConfig,
    responder: str,
    slot_w: np.ndarray,
    subdivide: int,
    costs: bool,
) -> _Rows:
    """The rows of one (tier, responder) of the objective (see :func:`build_problem`)."""
    svc = service(layout, tier, responder)
    if svc.lag_s > tier.target_s:
        raise ScenarioError(
            f"--objective {tier.name}: no {responder} can meet the {tier.target_s:g} s "
            f"target (median delay before moving is {svc.lag_s:.0f} s)"
        )
    base = base_cells_for(layout, responder)
    base_open = _site_open(layout, base, responder)
    cand_open = _site_open(layout, candidates, responder)
    first, class_w = _time_classes(layout, np.concatenate([base, candidates]), responder,
                                   svc, slot_w)  # fmt: skip
    n_cls = first.size
    cls_speed = svc.speed[first]
    reach = svc.reach(tier.target_s)[first]  # (classes,)
    limit_cls = (
        np.minimum(svc.radius_m, (NEVER_COST * tier.target_s - svc.lag_s) * cls_speed)
        if costs
        else reach
    )
    pts, pts_cell, w_pt = _demand_points(layout, tier, responder, svc, subdivide)
    n_pts = pts.shape[0]
    limit = float(np.max(limit_cls)) if n_cls else 0.0

    classes = _Classes(first, limit_cls, cls_speed, svc.lag_s, tier.target_s)
    best_base = np.full((n_pts, n_cls), NEVER_COST if costs else np.inf)
    s, p, d = _pairs(layout, base, pts, pts_cell, svc, limit)
    for c, (_, p_c, t) in enumerate(classes.costs(base_open, s, p, d)):
        np.minimum.at(best_base[:, c], p_c, t)
    base_cov = best_base <= 1.0 + 1e-12
    entries = []
    s, p, d = _pairs(layout, candidates, pts, pts_cell, svc, limit)
    for c, (s_c, p_c, t) in enumerate(classes.costs(cand_open, s, p, d)):
        keep = t < best_base[p_c, c] - 1e-12 if costs else (t <= 1.0 + 1e-12) & ~base_cov[p_c, c]
        entries.append((p_c[keep] * n_cls + c, s_c[keep], t[keep]))
    return _Rows(
        entries=entries,
        weights=np.outer(w_pt, class_w).reshape(-1),
        caps=best_base.reshape(-1),
        total=float(w_pt.sum()),
        covered_base=float((w_pt[:, None] * class_w[None, :] * base_cov).sum()),
    )


def _time_classes(
    layout: PlanningLayout, sites: np.ndarray, responder: str, svc: Service, slot_w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Time classes: quarter-hours with the same open sites and the same speed. Returns the
    first quarter-hour of each class and its weight (the quarter-hours' weights summed)."""
    # A site's hours are its use's: one column a use, not a site, which for every populated
    # cell of a 4000 x 4000 city was a 2.3 GiB key.
    uses = _open_by_use(layout, sites, responder)
    key = np.concatenate([uses, svc.speed[:, None]], axis=1)
    _, first, slot_class = np.unique(key, axis=0, return_index=True, return_inverse=True)
    slot_class = slot_class.reshape(-1)
    return first, np.bincount(slot_class, weights=slot_w, minlength=first.size)


def _demand_points(
    layout: PlanningLayout, tier: TierConfig, responder: str, svc: Service, subdivide: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The demand points (x, y in metres), the cell of each and its demand a day: ``k x k``
    points evenly in each cell with demand, sharing it."""
    city = layout.city
    demand = cell_demand(layout.scenario, city, tier, responder)
    cells = np.flatnonzero(demand > 0)
    # Police reach a kilometre or more: their demand sits at cell centres.
    k = 1 if svc.own_cell or responder == "police" else subdivide
    off = (np.arange(k) + 0.5) / k
    ox, oy = np.meshgrid(off, off)
    col, row = cells % city.width, cells // city.width
    pts = np.stack(
        [(col[:, None] + ox.reshape(1, -1)) * city.cell_size_m,
         (row[:, None] + oy.reshape(1, -1)) * city.cell_size_m], axis=-1,
    ).reshape(-1, 2)  # fmt: skip
    pts_cell = np.repeat(cells, k * k)
    w_pt = np.repeat(demand[cells] / (k * k), k * k)
    return pts, pts_cell, w_pt


def _merge(rows, cols, vals, row_w, row_cap):
    """Rows with the same covering columns (and, for p-median, the same costs and cap) become
    one (weights add); columns that reach nothing are dropped. Returns (sparse matrix,
    weights, caps or None, used column indices, fixed cost of the rows left out)."""
    fixed = 0.0
    if row_cap is not None:
        improvable = np.zeros(row_w.size, bool)
        improvable[rows] = True
        fixed = float((row_w * row_cap)[~improvable].sum())
    if rows.size == 0:
        empty = sparse.csr_matrix((0, 0))
        cap = None if row_cap is None else np.zeros(0)
        return empty, np.zeros(0), cap, np.zeros(0, np.int64), fixed
    used, cols = np.unique(cols, return_inverse=True)
    cols = cols.reshape(-1)
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    uniq, start = np.unique(rows, return_index=True)
    bounds = np.append(start, rows.size)
    # One key per row: its columns (and costs and cap); rows with equal keys merge.
    groups: dict[bytes, int] = {}
    first: list[int] = []
    weight: list[float] = []
    for i, r in enumerate(uniq.tolist()):
        a, b = bounds[i], bounds[i + 1]
        key = cols[a:b].tobytes()
        if row_cap is not None:
            key += vals[a:b].tobytes() + row_cap[r].tobytes()
        g = groups.get(key)
        if g is None:
            groups[key] = len(first)
            first.append(i)
            weight.append(float(row_w[r]))
        else:
            weight[g] += float(row_w[r])
    first_a = np.asarray(first, dtype=np.int64)
    lengths = bounds[first_a + 1] - bounds[first_a]
    take = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in first])
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    matrix = sparse.csr_matrix((vals[take], cols[take], indptr), shape=(len(first), used.size))
    w = np.asarray(weight)
    cap = None if row_cap is None else row_cap[uniq[first_a]]
    keep = w > 0
    if not keep.all():
        matrix = matrix[np.flatnonzero(keep)]
        cap = None if cap is None else cap[keep]
        w = w[keep]
    return matrix, w, cap, used, fixed
