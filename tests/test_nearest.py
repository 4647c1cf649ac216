"""The police search's fast paths give the reference search's answers, exactly.

``PoliceFleet.nearest_reference`` is the vectorised search of before issue 13. Two fleets
built alike take the same random run of commitments, arrivals and departures (units driving
back from scenes, some across water); at each step one answers with a fast path, the other
with the reference, and units, travel times (to the bit) and who is home must agree.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.response import ResponseModel
from tests.test_identical_dispatch import CASES


def _twins(case: str, small_fleet: int):
    sc = CASES[case]()
    a, b = (ResponseModel(sc, seed=3) for _ in range(2))
    a.police.small_fleet = small_fleet
    return a, b


@pytest.mark.parametrize(
    ("case", "small_fleet"),
    [("divided-many-patrol", 24), ("divided-many-patrol", 0), ("divided-many-ties", 0),
     ("divided-few", 24), ("divided-few", 0)],
)  # fmt: skip
def test_fast_searches_equal_the_reference(case, small_fleet):
    a, b = _twins(case, small_fleet)
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
            want = fb.nearest_reference(fb.available(), t, scene, bank, n)
        else:
            want = fb.nearest_reference(subset, t, scene, bank, n)
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
