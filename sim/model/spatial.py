"""The one nearest-available search on a grid city, and the travel rules it rests on.

Every police search (any dispatch policy through :class:`sim.model.policies.AvailableUnits`,
the Python loops and the compiled loop of :mod:`sim.model.police_kernel`) ends in
:func:`nearest_in`: given where each candidate unit is at the moment of the call, the ``need``
units that reach the scene first, by (travel time, unit id). The large-fleet search of
:class:`sim.model.responders.police.PoliceFleet` only narrows the candidates first (a box
bound: no unit outside can be among the first), so every path gives the same units and the
same floats; tests/test_spatial.py checks :func:`nearest_in` against brute force, ties
included.

The functions are written in the subset of Python that numba compiles and that runs as
plain Python on lists as well as on numpy arrays (indexing, ``abs``, ``min``, loops): the
compiled loop calls them compiled, the Python loops call them as they are, so each rule
(where a unit driving back is, when its drive has ended, the order of ties, the route over
bridges) exists once. 2-D tables are read as ``a[i][j]`` so that lists of lists serve too.
"""

from __future__ import annotations

import math

import numpy as np

#: Relative slack on the Manhattan lower bound: a route through bridges is never shorter
#: than the Manhattan distance, but its float sum can be a few ulps shorter.
BOUND_SLACK = 1e-9


def along_way_home(x, y, hx, hy, d):
    """Where a unit is after driving ``d`` metres from (x, y) towards its station (hx, hy),
    in x first, then in y (the grid path; ``d`` beyond the path: at the station)."""
    dx, dy = hx - x, hy - y
    step_x = min(d, abs(dx))
    step_y = min(max(d - abs(dx), 0.0), abs(dy))
    x = x + step_x if dx > 0 else (x - step_x if dx < 0 else x + 0.0)
    y = y + step_y if dy > 0 else (y - step_y if dy < 0 else y + 0.0)
    return x, y


def drive_ended(t, left_at, speed, way):
    """Whether a unit that left a scene at ``left_at``, ``way`` metres from home at
    ``speed`` (m/s), is home at ``t`` (it patrols again from then on)."""
    return (t - left_at) * speed >= way


def earliest_home(left_at, home_dist, top_speed):
    """When a unit that left a scene at ``left_at``, ``home_dist`` from home, can be home at
    the soonest, a little early (rounding never makes it late). Numbers or arrays."""
    return left_at + home_dist / top_speed * (1 - 1e-9) - 1e-6


def keep_best(best_dt, best_u, found, need, dt, u):
    """Put (dt, u) among the ``found`` best so far (ascending by time, ties to the lower
    unit), keeping at most ``need``; returns how many are kept."""
    if found == need:
        last = need - 1
        if not (dt < best_dt[last] or (dt == best_dt[last] and u < best_u[last])):
            return found
        k = last
    else:
        k = found
        found += 1
    while k > 0 and (dt < best_dt[k - 1] or (dt == best_dt[k - 1] and u < best_u[k - 1])):
        best_dt[k], best_u[k] = best_dt[k - 1], best_u[k - 1]
        k -= 1
    best_dt[k], best_u[k] = dt, u
    return found


def bank_at(x, y, bank_near, inv, width, height):
    """The bank of the cell holding (x, y) (its nearest bank on water): City.bank_at."""
    col = max(min(int(x * inv), width - 1), 0)
    row = max(min(int(y * inv), height - 1), 0)
    return bank_near[row][col]


def bridge_legs(sx, sy, sbank, bridge_x, bridge_y, bank_bridges, bridge_dist, via):
    """``via[i]``: from bridge i to the scene (sx, sy) on bank ``sbank``, through further
    bridges where needed (the sums of City.distances_to)."""
    n = len(bridge_x)
    on_bank = bank_bridges[sbank]
    for i in range(n):
        row = bridge_dist[i]
        best = math.inf
        for j in range(n):
            if on_bank[j]:
                v = row[j] + (abs(bridge_x[j] - sx) + abs(bridge_y[j] - sy))
                if v < best:
                    best = v
        via[i] = best


def via_bridges_from(x, y, bank, via, bridge_x, bridge_y, bank_bridges):
    """From (x, y) on ``bank`` over one of its bridges, then ``via``: City.via_bridges_from."""
    best = math.inf
    mine = bank_bridges[bank]
    for i in range(len(bridge_x)):
        if mine[i]:
            v = (abs(x - bridge_x[i]) + abs(y - bridge_y[i])) + via[i]
            if v < best:
                best = v
    return best


def nearest_in(
    units, count, xs, ys, banks, car, drive, foot, sx, sy, sbank, need, best_u, best_dt,
    single, bridge_x, bridge_y, bank_bridges, bridge_dist, via,
):  # fmt: skip
    """The ``need`` of ``units[:count]`` (ascending ids) that reach the scene (sx, sy) on
    bank ``sbank`` first, into best_u/best_dt (ascending by time, ties to the lower unit);
    returns how many (fewer than ``need`` only when fewer are given; inf: cannot reach).
    Unit u is at (xs[u], ys[u]) on bank banks[u] and moves at ``drive`` m/s if car[u], else
    at ``foot``.

    On the scene's bank the trip is the Manhattan distance. A unit across water goes over
    bridges; its Manhattan time bounds its route's from below, so such units are taken in
    order of that bound and the rest skipped once it exceeds the ``need``-th best (the
    bridge legs ``via``, len(bridge_x) long, filled on first use)."""
    found = 0
    n_across = 0
    for k in range(count):  # ascending units: a tie keeps the lower unit
        u = units[k]
        speed = drive if car[u] else foot
        manhattan = (abs(xs[u] - sx) + abs(ys[u] - sy)) / speed
        if not (single or banks[u] == sbank):
            n_across += 1
        elif found < need or manhattan < best_dt[need - 1]:  # else not kept (u is larger)
            found = keep_best(best_dt, best_u, found, need, manhattan, u)
    if n_across == 0:
        return found
    across = [(0.0, 0)]  # (bound, k) of the units across water (typed for numba)
    across.pop()
    # With `need` found on the scene's bank, a unit whose bound passes the cut below is
    # passed over by the loop that follows (the cut only falls): not sorted at all.
    cut = best_dt[need - 1] * (1 + BOUND_SLACK) if found == need else math.inf
    for k in range(count):
        u = units[k]
        if not (single or banks[u] == sbank):
            speed = drive if car[u] else foot
            bound = (abs(xs[u] - sx) + abs(ys[u] - sy)) / speed
            if not bound > cut:
                across.append((bound, k))
    across.sort()  # by (bound, unit): k ascends with the unit
    legs = False
    for bound, k in across:
        if found == need and bound > best_dt[need - 1] * (1 + BOUND_SLACK):
            break  # this unit and the rest cannot be among the first
        if not legs:
            bridge_legs(sx, sy, sbank, bridge_x, bridge_y, bank_bridges, bridge_dist, via)
            legs = True
        u = units[k]
        speed = drive if car[u] else foot
        d = via_bridges_from(xs[u], ys[u], banks[u], via, bridge_x, bridge_y, bank_bridges)
        found = keep_best(best_dt, best_u, found, need, d / speed, u)
    return found


def bucket_grid_shape(width_m, height_m, size):
    """(nx, ny): squares of ``size`` m across an extent of ``width_m`` by ``height_m``."""
    return max(math.ceil(width_m / size), 1), max(math.ceil(height_m / size), 1)


def bucket_of(x, y, size, nx, ny):
    """The square bucket ``by * nx + bx`` of each point (x, y) (arrays) on a grid of ``nx``
    by ``ny`` squares of ``size`` m, a point off the grid clipped into the nearest edge
    bucket (:func:`bucket_cell` of each point)."""
    bx = np.minimum(np.maximum(np.floor(x / size), 0.0), nx - 1.0).astype(np.int64)
    by = np.minimum(np.maximum(np.floor(y / size), 0.0), ny - 1.0).astype(np.int64)
    return by * nx + bx


def bucket_cell(x, y, size, nx, ny):
    """The bucket (bx, by) holding the point (x, y), clipped to the grid as
    :func:`bucket_of` clips."""
    bx = min(max(math.floor(x / size), 0), nx - 1)
    by = min(max(math.floor(y / size), 0), ny - 1)
    return bx, by


def bucket_index(x, y, size, nx, ny):
    """The points (x, y) (arrays) by bucket: ``members[starts[b]:starts[b + 1]]`` are the
    points of bucket b (:func:`bucket_of`), ascending."""
    bucket = bucket_of(x, y, size, nx, ny)
    members = np.argsort(bucket, kind="mergesort")  # stable: ascending within a bucket
    starts = np.zeros(nx * ny + 1, np.int64)
    starts[1:] = np.cumsum(np.bincount(bucket, minlength=nx * ny))
    return starts, members


def ring_beyond(sx, sy, bx, by, k, size, nx, ny):
    """A lower bound on the Manhattan distance from (sx, sy), in bucket (bx, by), to any
    point of a bucket farther than ``k`` (Chebyshev) from it; inf when every bucket is
    within ``k``. Such a point is past one side of the square of buckets within ``k``."""
    best = math.inf
    if bx + k < nx - 1:
        best = min(best, (bx + k + 1) * size - sx)
    if bx - k > 0:
        best = min(best, sx - (bx - k) * size)
    if by + k < ny - 1:
        best = min(best, (by + k + 1) * size - sy)
    if by - k > 0:
        best = min(best, sy - (by - k) * size)
    return max(best, 0.0)


def _take_span(
    members, lo, hi, xs, ys, banks, free, back_row, car, drive, foot, sx, sy, sbank, need,
    single, limit, out, count, cut_t, cut_u, on_bank,
):  # fmt: skip
    """Of the points ``members[lo:hi]``: every available unit at its spot (free, not
    driving back) whose Manhattan time is within ``limit`` goes into ``out``; those on the
    scene's bank are kept among the ``need`` best times (cut_t). Returns the new count of
    ``out`` and of the units on the scene's bank."""
    for m in range(lo, hi):
        u = members[m]
        if free[u] and back_row[u] < 0:
            at = (abs(xs[u] - sx) + abs(ys[u] - sy)) / (drive if car[u] else foot)
            if at <= limit:
                out[count] = u
                count += 1
            if single or banks[u] == sbank:
                on_bank = keep_best(cut_t, cut_u, on_bank, need, at, u)
    return count, on_bank


def _take_ring(
    starts, members, nx, ny, bx, by, k, xs, ys, banks, free, back_row, car, drive, foot, sx,
    sy, sbank, need, single, limit, out, count, cut_t, cut_u, on_bank,
):  # fmt: skip
    """:func:`_take_span` over the buckets at Chebyshev distance ``k`` from (bx, by): the
    ring's top and bottom rows each one span of ``members`` (a row's buckets are
    consecutive), its sides bucket by bucket."""
    if k == 0:
        b = by * nx + bx
        return _take_span(members, starts[b], starts[b + 1], xs, ys, banks, free, back_row,
                          car, drive, foot, sx, sy, sbank, need, single, limit, out, count,
                          cut_t, cut_u, on_bank)  # fmt: skip
    x0, x1 = max(bx - k, 0), min(bx + k, nx - 1)
    for row in (by - k, by + k):  # the top and bottom sides, corners included
        if 0 <= row < ny:
            lo, hi = starts[row * nx + x0], starts[row * nx + x1 + 1]
            count, on_bank = _take_span(members, lo, hi, xs, ys, banks, free, back_row, car,
                                        drive, foot, sx, sy, sbank, need, single, limit, out,
                                        count, cut_t, cut_u, on_bank)  # fmt: skip
    for col in (bx - k, bx + k):  # the left and right sides, corners excluded
        if 0 <= col < nx:
            for row in range(max(by - k + 1, 0), min(by + k - 1, ny - 1) + 1):
                b = row * nx + col
                count, on_bank = _take_span(members, starts[b], starts[b + 1], xs, ys, banks,
                                            free, back_row, car, drive, foot, sx, sy, sbank,
                                            need, single, limit, out, count, cut_t, cut_u,
                                            on_bank)  # fmt: skip
    return count, on_bank


def ring_candidates(
    starts, members, nx, ny, size, xs, ys, banks, free, back_row, car, drive, foot, sx, sy,
    sbank, need, single, out, cut_t, cut_u,
):  # fmt: skip
    """The available units at their patrol spots that may be among the ``need`` first to
    reach (sx, sy) on bank ``sbank``, into ``out`` (in bucket order; the caller sorts),
    from the buckets of :func:`bucket_index` (``starts``, ``members``, ``nx`` by ``ny`` of
    ``size`` m) ring by ring around the scene's, so that the cost does not grow with the
    fleet. Unit u is at (xs[u], ys[u]) on bank banks[u], available if free[u], driving back
    (not at its spot: the caller adds those) if back_row[u] >= 0, at ``drive`` m/s if
    car[u], else ``foot``. ``cut_t``/``cut_u``: scratch for ``need`` times.

    Rings are taken until ``need`` units on the scene's bank are in: their Manhattan times
    are exact, so the ``need``-th is an upper bound (the cut) on the ``need``-th best time
    of all; no unit beats it whose Manhattan time (a lower bound on any route's) exceeds
    it, so rings are added while the distance to the next allows that at the fastest
    speed, and only units within it are kept. Returns how many are in ``out`` and the
    cut (inf: every available unit at its spot is in ``out``)."""
    bx, by = bucket_cell(sx, sy, size, nx, ny)
    count, on_bank, k = 0, 0, 0
    while True:
        count, on_bank = _take_ring(starts, members, nx, ny, bx, by, k, xs, ys, banks, free,
                                    back_row, car, drive, foot, sx, sy, sbank, need, single,
                                    math.inf, out, count, cut_t, cut_u, on_bank)  # fmt: skip
        reach = ring_beyond(sx, sy, bx, by, k, size, nx, ny)
        if on_bank >= need or reach == math.inf:
            break
        k += 1
    if on_bank < need:  # every ring taken: every unit at its spot is a candidate
        return count, math.inf
    limit = cut_t[need - 1] * (1 + BOUND_SLACK)
    kept = 0
    for m in range(count):  # the first rings' units within the cut
        u = out[m]
        if (abs(xs[u] - sx) + abs(ys[u] - sy)) / (drive if car[u] else foot) <= limit:
            out[kept] = u
            kept += 1
    count = kept
    fastest = max(drive, foot)
    while reach / fastest <= limit:  # (reach is inf past the last ring)
        k += 1
        count, on_bank = _take_ring(starts, members, nx, ny, bx, by, k, xs, ys, banks, free,
                                    back_row, car, drive, foot, sx, sy, sbank, need, single,
                                    limit, out, count, cut_t, cut_u, on_bank)  # fmt: skip
        reach = ring_beyond(sx, sy, bx, by, k, size, nx, ny)
    return count, limit


class BucketGrid:
    """Points (units at their patrol spots) in square buckets of ``size`` m, for a search
    that looks around a scene ring by ring instead of at every point.

    Bucket (bx, by) holds the points with bx * size <= x < (bx + 1) * size (and alike in y),
    except that the first and last buckets of each axis reach on to infinity (a point off
    the grid is clipped into them). ``members[starts[b]:starts[b + 1]]`` are the points of
    bucket b = by * nx + bx, ascending (:func:`bucket_index`; the arrays for a compiled
    search, the lists for a Python one). :func:`ring_candidates` searches it ring by ring
    around a scene's bucket; :meth:`beyond` bounds the distance to points past a ring.
    """

    __slots__ = ("member_array", "members", "nx", "ny", "size", "start_array", "starts")

    def __init__(self, x, y, size: float, width_m: float, height_m: float) -> None:
        self.size = float(size)
        self.nx, self.ny = bucket_grid_shape(width_m, height_m, self.size)
        self.start_array, self.member_array = bucket_index(
            np.asarray(x, float), np.asarray(y, float), self.size, self.nx, self.ny
        )
        self.members = self.member_array.tolist()  # (lists: a Python search reads them)
        self.starts = self.start_array.tolist()

    def cell(self, sx: float, sy: float) -> tuple[int, int]:
        """The bucket (bx, by) of the scene (clipped to the grid, as points are)."""
        return bucket_cell(sx, sy, self.size, self.nx, self.ny)

    def beyond(self, sx: float, sy: float, bx: int, by: int, k: int) -> float:
        """:func:`ring_beyond` on this grid."""
        return ring_beyond(sx, sy, bx, by, k, self.size, self.nx, self.ny)

    def bucket_of(self, b: int) -> list[int]:
        """The points of bucket ``b``, ascending."""
        return self.members[self.starts[b] : self.starts[b + 1]]
