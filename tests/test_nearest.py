"""The police search (sim.model.spatial through PoliceFleet.nearest / nearest_free) gives
brute force's answers, exactly.

:func:`brute_nearest` times every candidate with numpy (its own way-home arithmetic and
City.distances_to) and sorts by (time, unit). Two fleets built alike take the same random run
of commitments, arrivals and departures (units driving back from scenes, some across water);
at each step one answers with the search, the other by brute force, and units, travel times
(to the bit) and who is home must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.responders.police import GRID_FLEET
from sim.model.response import ResponseModel
from tests.test_identical_dispatch import CASES


def _along_l_path(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Point at distance ``d`` along the path from a to b that moves in x, then in y."""
    dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    step_x = np.minimum(d, np.abs(dx))
    step_y = np.clip(d - np.abs(dx), 0, np.abs(dy))
    return np.stack([a[:, 0] + np.sign(dx) * step_x, a[:, 1] + np.sign(dy) * step_y], axis=1)


def brute_nearest(fleet, avail: np.ndarray, t: float, scene, scene_bank: int, n: int):
    """Every unit of ``avail`` timed, sorted by (time, unit): units whose drive back has
    ended are home (at their patrol spot) first; the others along their way home, or at the
    scene they left while that way crosses water."""
    speed = fleet.speed(avail, t)
    back = avail[fleet.left_at[avail] > -np.inf]
    if back.size:
        travelled = (t - fleet.left_at[back]) * fleet.speed(back, t)
        home = travelled >= np.abs(fleet.station_xy[back] - fleet.back_from[back]).sum(axis=1)
        for u in back[home].tolist():
            fleet._home(u)
    spots, banks = fleet.spots_at(t)
    pos, bank = spots[avail], banks[avail]
    back = np.flatnonzero(fleet.left_at[avail] > -np.inf)
    if back.size:
        r = avail[back]
        start, base = fleet.back_from[r], fleet.station_xy[r]
        travelled = (t - fleet.left_at[r]) * fleet.speed(r, t)
        same_bank = fleet.back_from_bank[r] == fleet.station_bank[r]
        pos[back] = np.where(same_bank[:, None], _along_l_path(start, base, travelled), start)
        bank[back] = fleet.city.bank_of(pos[back])
    travel = fleet.city.distances_to(scene, pos, bank, scene_bank) / speed
    order = np.lexsort((avail, travel))[:n]
    return avail[order], travel[order]


def _twins(case: str, small_fleet: int, grid_fleet: int = GRID_FLEET):
    sc = CASES[case]()
    a, b = (ResponseModel(sc, seed=3) for _ in range(2))
    a.police.small_fleet = small_fleet
    a.police.grid_fleet = grid_fleet  # 0: every search among all units looks on the grid
    return a, b


@pytest.mark.parametrize(
    ("case", "small_fleet", "grid_fleet"),
    [("divided-many-patrol", 24, GRID_FLEET), ("divided-many-patrol", 0, GRID_FLEET),
     ("divided-many-ties", 0, GRID_FLEET), ("divided-few", 24, GRID_FLEET),
     ("divided-few", 0, GRID_FLEET), ("divided-many-patrol", 0, 0), ("divided-many-ties", 0, 0),
     ("divided-few", 0, 0), ("divided-many-move-up", 0, 0)],
)  # fmt: skip
def test_fast_searches_equal_the_reference(case, small_fleet, grid_fleet):
    a, b = _twins(case, small_fleet, grid_fleet)
    rng = np.random.default_rng(7)
    fa, fb = a.police, b.police
    xy, banks = a.incidents.xy, a._bank
    t = 0.0
    sent: list[int] = []
    for step in range(600):
        t += float(rng.exponential(120.0))
        k = int(rng.integers(len(xy)))
        scene, bank = xy[k], int(banks[k])
        n = int(rng.integers(1, 4))
        if step % 3:
            got = fa.nearest_free(t, scene, bank, n)
        else:  # a subset, as own_grid_first asks
            avail = fa.available()
            subset = avail[rng.random(avail.size) < 0.5]
            got = fa.nearest(subset, t, scene, bank, n)
            got = (got[0].tolist(), got[1].tolist())
        if step % 3:
            want = brute_nearest(fb, fb.available(), t, scene, bank, n)
        else:
            want = brute_nearest(fb, subset, t, scene, bank, n)
        assert list(got[0]) == want[0].tolist()
        assert list(got[1]) == want[1].tolist()  # the same floats, not merely close
        assert np.array_equal(fa.left_at, fb.left_at)
        # Send the first unit; free an earlier one at its scene (it drives back).
        for fleet in (fa, fb):
            if got[0]:
                fleet.commit(int(got[0][0]), k, t)
                fleet.reach_scene(int(got[0][0]), t)
        if got[0]:
            sent.append(int(got[0][0]))
        if len(sent) > 8 or (sent and rng.random() < 0.4):
            u = sent.pop(int(rng.integers(len(sent))))
            j = int(rng.integers(len(xy)))
            for fleet in (fa, fb):
                fleet.leave_scene(u, t, xy[j], int(banks[j]))


@pytest.mark.parametrize("name", ["fleet-100-busy", "crossing-rivers-30", "far-drive-back"])
def test_grid_search_between_compiled_pieces_gives_the_python_loops_tables(monkeypatch, name):
    """Pieces of a run alternate between the compiled loop (which hands the units driving
    back over wholesale: PoliceFleet._back_changed) and the Python loop searching on the
    grid: the tables of one run of the Python loop's own search."""
    from sim.model import police_kernel
    from tests.test_police_kernel import ALL

    if not police_kernel.available():
        pytest.skip("numba (the fast extra) is not installed")
    sc = ALL[name]()
    monkeypatch.setattr(ResponseModel, "KERNEL", False)
    reference = ResponseModel(sc, seed=4)
    reference.run()
    model = ResponseModel(sc, seed=4)
    model.police.grid_fleet = 0
    rng = np.random.default_rng(11)
    t, k = 0.0, 0
    while not model.finished:
        t += float(rng.uniform(0.0, model.end_s / 20))
        monkeypatch.setattr(ResponseModel, "KERNEL", k % 2 == 0)
        model.advance_to(t)
        k += 1
    assert model.kernel_calls > 3
    assert repr(model.records()) == repr(reference.records())
    assert repr(model.assignments) == repr(reference.assignments)
