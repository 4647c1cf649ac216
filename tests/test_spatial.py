"""The one nearest-available search (sim.model.spatial.nearest_in) equals brute force: every
candidate timed, sorted by (time, unit), to the bit, ties included; and the compiled search
the numba loop calls equals the plain one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model import police_kernel
from sim.model.spatial import BucketGrid, along_way_home, keep_best, nearest_in, ring_candidates

#: Coordinates on a coarse lattice and two speeds: many candidates tie on time.
coord = st.integers(0, 6).map(lambda v: 100.0 * v)


@st.composite
def searches(draw):
    n_banks = draw(st.integers(1, 3))
    n_bridges = draw(st.integers(0, 3)) if n_banks > 1 else 0
    bridge_x = [draw(coord) for _ in range(n_bridges)]
    bridge_y = [draw(coord) for _ in range(n_bridges)]
    # each bridge joins two banks; bridge_dist: shortest walks between bridges (symmetric)
    bank_bridges = [[False] * n_bridges for _ in range(n_banks)]
    for j in range(n_bridges):
        for b in draw(st.sets(st.integers(0, n_banks - 1), min_size=1, max_size=2)):
            bank_bridges[b][j] = True
    bridge_dist = [
        [0.0 if i == j else abs(bridge_x[i] - bridge_x[j]) + abs(bridge_y[i] - bridge_y[j])
         for j in range(n_bridges)]
        for i in range(n_bridges)
    ]  # fmt: skip
    n_units = draw(st.integers(1, 12))
    xs = [draw(coord) for _ in range(n_units)]
    ys = [draw(coord) for _ in range(n_units)]
    banks = [draw(st.integers(0, n_banks - 1)) for _ in range(n_units)]
    car = [draw(st.booleans()) for _ in range(n_units)]
    units = sorted(draw(st.sets(st.integers(0, n_units - 1), min_size=1)))
    scene = (draw(coord), draw(coord), draw(st.integers(0, n_banks - 1)))
    need = draw(st.integers(1, 4))
    geo = (bridge_x, bridge_y, bank_bridges, bridge_dist)
    return units, xs, ys, banks, car, scene, need, n_banks == 1, geo


def brute_force(units, xs, ys, banks, car, scene, need, single, geo, drive=2.0, foot=1.0):
    """Every unit's time, sorted by (time, unit): Manhattan on the scene's bank, else the
    best way over a bridge of the unit's bank, then the best bridge-to-bridge walk to a
    bridge of the scene's bank and on to the scene."""
    bridge_x, bridge_y, bank_bridges, bridge_dist = geo
    sx, sy, sbank = scene
    n = len(bridge_x)
    to_scene = [
        min((bridge_dist[i][j] + (abs(bridge_x[j] - sx) + abs(bridge_y[j] - sy))
             for j in range(n) if bank_bridges[sbank][j]), default=math.inf)
        for i in range(n)
    ]  # fmt: skip
    timed = []
    for u in units:
        speed = drive if car[u] else foot
        if single or banks[u] == sbank:
            d = abs(xs[u] - sx) + abs(ys[u] - sy)
        else:
            d = min(((abs(xs[u] - bridge_x[i]) + abs(ys[u] - bridge_y[i])) + to_scene[i]
                     for i in range(n) if bank_bridges[banks[u]][i]), default=math.inf)  # fmt: skip
        timed.append((d / speed, u))
    timed.sort()
    return [u for _, u in timed[:need]], [dt for dt, _ in timed[:need]]


def run_search(search, case, as_arrays=False):
    units, xs, ys, banks, car, (sx, sy, sbank), need, single, geo = case
    best_u, best_dt = [0] * need, [0.0] * need
    via = [0.0] * len(geo[0])
    args = [units, xs, ys, banks, car]
    if as_arrays:  # what the compiled loop passes
        args = [np.array(units, np.int64), np.array(xs), np.array(ys),
                np.array(banks, np.int64), np.array(car, bool)]  # fmt: skip
        best_u, best_dt = np.zeros(need, np.int64), np.zeros(need)
        via = np.zeros(len(geo[0]))
        geo = (np.array(geo[0], float), np.array(geo[1], float),
               np.array(geo[2], bool).reshape(len(geo[2]), len(geo[0])),
               np.array(geo[3], float).reshape(len(geo[0]), len(geo[0])))  # fmt: skip
    found = search(args[0], len(units), *args[1:], 2.0, 1.0, sx, sy, sbank, need, best_u,
                   best_dt, single, *geo, via)  # fmt: skip
    return [int(u) for u in best_u[:found]], [float(dt) for dt in best_dt[:found]]


@settings(max_examples=400, deadline=None)
@given(searches())
def test_nearest_in_equals_brute_force(case):
    assert run_search(nearest_in, case) == brute_force(*case)


@pytest.mark.skipif(not police_kernel.available(), reason="numba (the fast extra) is absent")
@settings(max_examples=150, deadline=None)
@given(searches())
def test_the_compiled_search_is_the_plain_search(case):
    assert police_kernel.nearest_in is not nearest_in  # the compiled one
    assert run_search(police_kernel.nearest_in, case, as_arrays=True) == brute_force(*case)


def test_ties_go_to_the_lower_unit_in_any_order_of_arrival():
    best_u, best_dt = [0] * 3, [0.0] * 3
    found = 0
    for dt, u in [(5.0, 7), (5.0, 2), (1.0, 9), (5.0, 4), (5.0, 1)]:
        found = keep_best(best_dt, best_u, found, 3, dt, u)
    assert (found, best_u, best_dt) == (3, [9, 1, 2], [1.0, 5.0, 5.0])


@pytest.mark.parametrize(
    ("start", "home", "d", "want"),
    [((0.0, 0.0), (300.0, 200.0), 100.0, (100.0, 0.0)),  # x first
     ((0.0, 0.0), (300.0, 200.0), 400.0, (300.0, 100.0)),  # then y
     ((300.0, 200.0), (0.0, 0.0), 350.0, (0.0, 150.0)),  # either way round
     ((0.0, 0.0), (300.0, 200.0), 9e9, (300.0, 200.0))],  # home, not beyond
)  # fmt: skip
def test_the_way_home_runs_along_x_then_y(start, home, d, want):
    assert along_way_home(*start, *home, d) == want


# ---------------------------------------------------------------- the large-fleet grid
#: Points and scenes on and off a small city's extent, on bucket edges too.
edge = st.one_of(st.integers(-2, 14).map(lambda v: 250.0 * v),
                 st.floats(-600.0, 3600.0, allow_nan=False))  # fmt: skip


@st.composite
def grid_searches(draw):
    """Units on and off a 3,000 x 2,000 m city's extent (bucket edges too), some busy, some
    driving back, cars and foot patrols on one to three banks, a scene, a need, a bucket."""
    n = draw(st.integers(1, 40))
    xs = [draw(edge) for _ in range(n)]
    ys = [draw(edge) for _ in range(n)]
    free = [draw(st.booleans()) or draw(st.booleans()) for _ in range(n)]
    back_row = [draw(st.sampled_from([-1, -1, -1, 0, 3])) for _ in range(n)]
    car = [draw(st.booleans()) for _ in range(n)]
    n_banks = draw(st.integers(1, 3))
    banks = [draw(st.integers(0, n_banks - 1)) for _ in range(n)]
    scene = (draw(edge), draw(edge), draw(st.integers(0, n_banks - 1)))
    return (xs, ys, banks, free, back_row, car, scene, draw(st.integers(1, 3)),
            n_banks == 1, draw(st.sampled_from([250.0, 400.0, 1000.0, 5000.0])))  # fmt: skip


def ring_search(case, as_arrays=False, search=None):
    xs, ys, banks, free, back_row, car, (sx, sy, sbank), need, single, size = case
    grid = BucketGrid(xs, ys, size, 3000.0, 2000.0)
    starts, members = grid.starts, grid.members
    out, cut_t, cut_u = [0] * len(xs), [0.0] * need, [0] * need
    if as_arrays:  # what the compiled loop passes
        starts, members = grid.start_array, grid.member_array
        xs, ys, banks = np.array(xs), np.array(ys), np.array(banks, np.int64)
        free, back_row = np.array(free, np.int64), np.array(back_row, np.int64)
        car, out = np.array(car, np.int64), np.zeros(len(xs), np.int64)
        cut_t, cut_u = np.zeros(need), np.zeros(need, np.int64)
    count, limit = (search or ring_candidates)(
        starts, members, grid.nx, grid.ny, grid.size, xs, ys, banks, free, back_row, car,
        2.0, 1.0, sx, sy, sbank, need, single, out, cut_t, cut_u)  # fmt: skip
    return [int(u) for u in out[:count]], float(limit)


@settings(max_examples=400, deadline=None)
@given(grid_searches())
def test_ring_candidates_are_every_unit_within_the_cut(case):
    """The large-fleet search's candidates are exactly the available units at their spots
    whose Manhattan time is within the cut, each once, and the cut is no less than the
    need-th best time on the scene's bank (inf, with every such unit, when there are fewer):
    so no unit left out can be among the first (a route over bridges is no shorter)."""
    xs, ys, banks, free, back_row, car, (sx, sy, sbank), need, single, _ = case
    got, limit = ring_search(case)
    at_spot = [u for u in range(len(xs)) if free[u] and back_row[u] < 0]
    time = {u: (abs(xs[u] - sx) + abs(ys[u] - sy)) / (2.0 if car[u] else 1.0) for u in at_spot}
    on_bank = sorted(time[u] for u in at_spot if single or banks[u] == sbank)
    assert len(got) == len(set(got))
    if len(on_bank) < need:
        assert limit == math.inf and sorted(got) == at_spot
    else:
        assert limit >= on_bank[need - 1]
        assert sorted(got) == [u for u in at_spot if time[u] <= limit]


@pytest.mark.skipif(not police_kernel.available(), reason="numba (the fast extra) is absent")
@settings(max_examples=100, deadline=None)
@given(grid_searches())
def test_the_compiled_ring_search_is_the_plain_one(case):
    assert police_kernel.ring_candidates is not ring_candidates  # the compiled one
    got = ring_search(case, as_arrays=True, search=police_kernel.ring_candidates)
    assert (sorted(got[0]), got[1]) == (sorted(ring_search(case)[0]), ring_search(case)[1])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(edge, edge), min_size=1, max_size=40),
    st.tuples(edge, edge),
    st.sampled_from([250.0, 400.0, 1000.0, 5000.0]),
)
def test_no_point_past_a_ring_is_nearer_than_the_bound(points, scene, size):
    """Every point is in a bucket of the grid (once), and no point of a bucket farther
    (Chebyshev) than k from the scene's is nearer (Manhattan) than beyond(k), which is inf
    once no bucket is farther: what the large-fleet search rests on to stop looking."""
    xs, ys = np.array([p[0] for p in points]), np.array([p[1] for p in points])
    grid = BucketGrid(xs, ys, size, 3000.0, 2000.0)
    sx, sy = scene
    bx, by = grid.cell(sx, sy)
    members = [u for b in range(grid.nx * grid.ny) for u in grid.bucket_of(b)]
    assert sorted(members) == list(range(len(points)))
    for b in range(grid.nx * grid.ny):
        ring = max(abs(b % grid.nx - bx), abs(b // grid.nx - by))
        for u in grid.bucket_of(b):
            d = abs(xs[u] - sx) + abs(ys[u] - sy)
            for k in range(ring):
                assert grid.beyond(sx, sy, bx, by, k) <= d
    assert grid.beyond(sx, sy, bx, by, max(grid.nx, grid.ny)) == math.inf
