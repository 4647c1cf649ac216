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
    across = [(0.0, 0)]  # (bound, k) of the units across water (typed for numba)
    across.pop()
    for k in range(count):  # ascending units: a tie keeps the lower unit
        u = units[k]
        speed = drive if car[u] else foot
        manhattan = (abs(xs[u] - sx) + abs(ys[u] - sy)) / speed
        if not (single or banks[u] == sbank):
            across.append((manhattan, k))
        elif found < need or manhattan < best_dt[need - 1]:  # else not kept (u is larger)
            found = keep_best(best_dt, best_u, found, need, manhattan, u)
    if not across:
        return found
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
