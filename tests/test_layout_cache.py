"""The layout parts of the city cache (sim.model.city_cache.layout_part): the volunteers' homes
and the MEU sites are drawn once per layout and shared read-only; runs through the cache give
the tables of runs drawing their own, with other runs between; another seed, layout or setting
they are drawn from is another part, and a setting they are not drawn from shares it."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import city_cache
from sim.model.responders.meus import meu_sites
from sim.model.responders.volunteers import volunteer_homes
from sim.model.response import ResponseModel
from sim.model.rng import Stream, generator
from tests.conftest import SCENARIOS
from tests.test_identical_outputs import table_digests


@pytest.fixture(autouse=True)
def empty_cache():
    city_cache.clear()
    yield
    city_cache.clear()


def _subdistrict(**changes):
    from sim.geo.scenario import load_scenario

    sc = load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml")
    return sc.with_changes({"horizon_hours": 8.0, "warmup_hours": 0.0, "drain_hours": 2.0,
                            **changes})  # fmt: skip


def test_runs_through_the_parts_give_the_tables_of_runs_drawing_their_own(monkeypatch):
    sc = _subdistrict()
    assert sc.volunteers.count > 0 and sc.meus.count > 0
    cached = table_digests(sc)
    assert city_cache.cached_parts() == 2 * city_cache.cached() == 4  # a layout a replication
    # Runs on the same homes and sites with other settings, in between (busy volunteers,
    # MEU members away and rosters must not travel with the parts).
    table_digests(sc.with_changes({"volunteers.acceptance": 0.9, "meus.on_duty_share": 0.5}))
    again = table_digests(sc)
    with monkeypatch.context() as m:
        m.setattr("sim.model.response.layout_part", lambda name, city, settings, build: build())
        own = table_digests(sc)
    assert cached == own
    assert again == own


def test_one_part_per_what_it_is_drawn_from():
    sc = _subdistrict(layout="fixed")
    a = ResponseModel(sc, seed=3)
    b = ResponseModel(sc.with_changes({"volunteers.acceptance": 0.2}), seed=3, replication=1)
    assert b.volunteers.homes is a.volunteers.homes  # acceptance: not drawn from
    assert b.meus.sites is a.meus.sites
    assert b.volunteers.busy_until is not a.volunteers.busy_until  # the run's own state
    assert b.meus.away is not a.meus.away
    more = ResponseModel(sc.with_changes({"volunteers.count": sc.volunteers.count + 10}), seed=3)
    assert more.volunteers.homes is not a.volunteers.homes
    assert more.meus.sites is a.meus.sites
    assert np.array_equal(more.volunteers.home_xy[: len(a.volunteers)], a.volunteers.home_xy)
    bigger = ResponseModel(sc.with_changes({"meus.members_per_unit": 9.5}), seed=3)
    assert bigger.meus.sites is not a.meus.sites
    assert bigger.volunteers.homes is a.volunteers.homes
    other_seed = ResponseModel(sc, seed=4)
    assert other_seed.volunteers.homes is not a.volunteers.homes
    assert not np.array_equal(other_seed.volunteers.home_xy, a.volunteers.home_xy)
    per_rep = sc.with_changes({"layout": "per_replication"})
    r0, r1 = (ResponseModel(per_rep, seed=3, replication=r) for r in (0, 1))
    assert r0.volunteers.homes is not r1.volunteers.homes
    assert r0.meus.sites is not r1.meus.sites
    # What the cache hands out is what a fresh draw gives.
    fresh = volunteer_homes(sc.volunteers, a.city, generator(3, 0, Stream.PLACEMENT))
    for name in ("home_xy", "duty_rank", "home_bank", "tree_ids"):
        assert np.array_equal(getattr(a.volunteers.homes, name), getattr(fresh, name))
    sites = meu_sites(sc.meus, a.city, generator(3, 0, Stream.MEU_SITES))
    for name in ("xy", "site_use", "members", "bank", "cell", "open_from", "open_to"):
        assert np.array_equal(getattr(a.meus.sites, name), getattr(sites, name))
    assert {k: v.tolist() for k, v in a.meus.sites.by_cell.items()} == {
        k: v.tolist() for k, v in sites.by_cell.items()
    }


def test_a_cached_part_cannot_be_written():
    model = ResponseModel(_subdistrict(), seed=0)
    with pytest.raises(ValueError, match="read-only"):
        model.volunteers.home_xy[0] = (0.0, 0.0)
    with pytest.raises(ValueError, match="read-only"):
        model.volunteers.duty_rank[0] = 0.5
    with pytest.raises(ValueError, match="read-only"):
        model.meus.open_to[0] = 1.0
    cell = next(iter(model.meus.sites.by_cell))
    with pytest.raises(TypeError):
        model.meus.sites.by_cell[cell] = np.zeros(0, np.int64)
    with pytest.raises(ValueError, match="read-only"):
        model.meus.sites.by_cell[cell][0] = 0


def test_the_parts_are_bounded_and_go_with_their_city():
    sc = _subdistrict()
    for seed in range(city_cache.MAX_CITIES + 2):
        ResponseModel(sc, seed=seed)
    assert city_cache.cached() == city_cache.MAX_CITIES
    assert city_cache.cached_parts() == 2 * city_cache.MAX_CITIES <= city_cache.MAX_PARTS
    for count in range(city_cache.MAX_PARTS + 2):  # parts of one city only
        ResponseModel(sc.with_changes({"volunteers.count": 100 + count}), seed=0)
    assert city_cache.cached_parts() == city_cache.MAX_PARTS
