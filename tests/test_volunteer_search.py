"""The search for volunteers near a scene (sim.model.dispatch.volunteer_candidates over
:class:`sim.model.responders.volunteers.DutyGrid`) against an exhaustive one: every on-duty
volunteer with every incident, drawn for and tested, in the order of the lists. The grid reads
only the on-duty volunteers of the squares around a scene and draws only for those that can
pass; the lists must be the same, float for float."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.dispatch import volunteer_candidates
from sim.model.response import ResponseModel
from tests.conftest import SCENARIOS


def _subdistrict(**changes):
    from sim.geo.scenario import load_scenario

    sc = load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml")
    return sc.with_changes({"horizon_hours": 72.0, "warmup_hours": 0.0, **changes})


def _exhaustive(model, first, last, speed):
    """(alerted, witnesses) of incidents [first, last) as lists of (ids, lag, dist), by
    testing every volunteer with every incident."""
    pool, city, inc = model.volunteers, model.city, model.incidents
    cfg = pool.cfg
    alerted, witnesses = [], []
    for i in range(first, last):
        hour = int(inc.occurred_s[i] // 3600) % 24
        ids = np.flatnonzero(pool.duty_rank < pool.duty_share[hour])
        ids = ids[ids < pool.home_xy.shape[0]]
        scene = inc.xy[i]
        pos = pool.positions(ids, np.full(ids.size, i))
        straight = np.hypot(pos[:, 0] - scene[0], pos[:, 1] - scene[1])
        w = straight <= cfg.witness_radius_m
        order = np.lexsort((ids[w], straight[w]))
        witnesses.append((ids[w][order], straight[w][order], straight[w][order]))
        a = (straight <= cfg.alert_radius_m) & pool.accepts(ids, np.full(ids.size, i))
        ids, pos = ids[a], pos[a]
        dist = city.pair_distances(pos, city.bank_of(pos), np.tile(scene, (ids.size, 1)), None)
        lag = pool.response_delay(ids, np.full(ids.size, i)) + dist / speed
        ok = np.isfinite(lag)
        ids, lag, dist = ids[ok], lag[ok], dist[ok]
        order = np.lexsort((ids, lag))
        alerted.append((ids[order], lag[order], dist[order]))
    return alerted, witnesses


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"volunteers.count": 40000, "volunteers.witness_radius_m": 250.0},
        {"volunteers.alert_radius_m": 1500.0, "volunteers.patrol_radius_m": 20.0},
        {"volunteers.alert_radius_m": 80.0, "volunteers.patrol_radius_m": 900.0,
         "volunteers.witness_radius_m": 300.0},
        {"volunteers.on_duty_share": [0.0, 0.3, 0.05, 1.0] * 6, "volunteers.acceptance": 1.0},
        {"volunteers.recruited": [[3, 3, 400], [0, 0, 50]]},
    ],
)  # fmt: skip
def test_the_lists_are_those_of_an_exhaustive_search(changes):
    sc = _subdistrict(**changes)
    model = ResponseModel(sc, seed=5)
    n = len(model.incidents)
    assert n > 50
    speed = sc.travel.volunteer_m_s
    for first in range(0, n, 97):  # blocks of another size than the model's
        last = min(first + 97, n)
        got = volunteer_candidates(model.volunteers, model.city, model.incidents, first, last,
                                   speed)  # fmt: skip
        want = _exhaustive(model, first, last, speed)
        for lists, expected in zip(got, want, strict=True):
            for i in range(first, last):
                have = lists.of(i)
                for column, ref in zip(have, expected[i - first], strict=True):
                    assert np.array_equal(column, ref), (changes, i)


def test_the_grid_reads_the_on_duty_volunteers_of_the_squares_around_a_scene():
    model = ResponseModel(_subdistrict(**{"volunteers.count": 20000}), seed=1)
    pool, g = model.volunteers, model.volunteers.grid
    rng = np.random.default_rng(0)
    w, h = model.city.extent_m
    scenes = np.column_stack([rng.uniform(-500, w + 500, 300), rng.uniform(-500, h + 500, 300)])
    hours = rng.integers(0, 24, 300)
    half = 700.0
    rows, slots = pool.near(scenes, hours, half)
    assert np.all(np.diff(rows) >= 0)
    for r in range(scenes.shape[0]):
        got = g.ids[slots[rows == r]]
        assert np.unique(got).size == got.size
        on = pool.duty_rank[got] < pool.duty_share[hours[r]]
        assert on.all()  # only volunteers on duty are read
        every = np.flatnonzero(pool.duty_rank < pool.duty_share[hours[r]])
        near = every[
            (np.abs(pool.home_xy[every, 0] - scenes[r, 0]) <= half)
            & (np.abs(pool.home_xy[every, 1] - scenes[r, 1]) <= half)
        ]
        assert np.isin(near, got).all()  # and every one near enough is among them


@pytest.mark.parametrize("changes", [{}, {"volunteers.witness_radius_m": 400.0}])
def test_lists_only_for_the_incidents_that_ask_are_the_same(changes):
    from sim.model.dispatch import meu_candidates

    sc = _subdistrict(**{"volunteers.count": 20000, **changes})
    model = ResponseModel(sc, seed=2)
    n = len(model.incidents)
    flags = np.random.default_rng(1).random(n) < 0.3
    args = (model.volunteers, model.city, model.incidents, 0, n, sc.travel.volunteer_m_s)
    alerted, witnesses = volunteer_candidates(*args)
    some_alerted, same_witnesses = volunteer_candidates(*args, flags)
    meu_args = (model.meus, model.city, model.incidents, 0, n, model.draws,
                sc.travel.run_with_equipment_m_s)  # fmt: skip
    meus, some_meus = meu_candidates(*meu_args), meu_candidates(*meu_args, flags)
    assert alerted.ids.size > 0 and meus.ids.size > 0
    for i in range(n):
        for every, some in ((alerted, some_alerted), (meus, some_meus)):
            if flags[i]:
                for a, b in zip(every.of(i), some.of(i), strict=True):
                    assert np.array_equal(a, b)
            else:
                assert some.ids_of(i).size == 0
        for a, b in zip(witnesses.of(i), same_witnesses.of(i), strict=True):
            assert np.array_equal(a, b)
