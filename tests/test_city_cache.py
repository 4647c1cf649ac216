"""The city cache (sim.model.city_cache): a run given a cached city gives the tables it gives
with a city of its own, nothing of one run leaks into the next through the shared city, and
another seed, layout or setting is another city."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import city_cache
from sim.model.city import build_city
from sim.model.config.files import CityInputs
from sim.model.response import ResponseModel
from sim.model.rng import Stream, generator
from tests.conftest import SCENARIOS
from tests.test_identical_dispatch import CASES
from tests.test_identical_outputs import table_digests


@pytest.fixture(autouse=True)
def empty_cache():
    city_cache.clear()
    yield
    city_cache.clear()


def _subdistrict():
    from sim.geo.scenario import load_scenario

    sc = load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml")
    return sc.with_changes({"horizon_hours": 8.0, "warmup_hours": 0.0, "drain_hours": 2.0})


def _without_cache(monkeypatch) -> None:
    """Every run builds its own city, as before the cache."""

    def fresh(city, police, travel, seed, layout):
        return build_city(city, police, generator(seed, layout, Stream.CITY), travel)

    monkeypatch.setattr("sim.model.response.city_for", fresh)


@pytest.mark.parametrize(
    "make",
    [CASES["divided-many-move-up"], CASES["divided-many-own-grid-busy"], _subdistrict],
    ids=["move-up", "own-grid-busy", "subdistrict"],
)
def test_runs_through_the_cache_give_the_tables_of_runs_without_it(make, monkeypatch):
    sc = make()
    other = sc.with_changes({"police.units": max(sc.police.units // 2, 1)})
    # The cached city serves replication 0 and 1 twice each, with another scenario's runs on
    # the same city in between (police and MEU state must not travel with the city).
    cached = table_digests(sc)
    assert city_cache.cached() >= 1
    table_digests(other)
    again = table_digests(sc)
    with monkeypatch.context() as m:
        _without_cache(m)
        own = table_digests(sc)
    assert cached == own
    assert again == own


def test_one_city_per_layout_and_seed():
    sc = CASES["divided-few"]()
    a0 = ResponseModel(sc, seed=1, replication=0).city
    assert ResponseModel(sc, seed=1, replication=0).city is a0  # built once
    # Another replication shares the layout unless the scenario draws one per replication.
    per_rep = sc.with_changes({"layout": "per_replication"})
    b0, b1 = (ResponseModel(per_rep, seed=1, replication=r).city for r in (0, 1))
    assert b0 is not b1 and not np.array_equal(b0.station_xy, b1.station_xy)
    other_seed = ResponseModel(sc, seed=2, replication=0).city
    assert other_seed is not a0 and not np.array_equal(other_seed.station_xy, a0.station_xy)
    # Any setting the city is built from is part of the key.
    fewer = ResponseModel(sc.with_changes({"police.stations": 3}), seed=1).city
    assert fewer is not a0 and fewer.station_xy.shape[0] == 3
    assert ResponseModel(sc.with_changes({"city.camera_share": 0.9}), seed=1).city is not a0
    # A built city equals a fresh build of the same inputs.
    fresh = build_city(sc.city, sc.police, generator(1, 0, Stream.CITY), sc.travel)
    for name in ("land_use", "population", "camera", "bank", "station_xy", "grid_of_cell"):
        assert np.array_equal(getattr(a0, name), getattr(fresh, name))


def test_a_cached_city_cannot_be_written():
    city = ResponseModel(CASES["divided-few"](), seed=0).city
    with pytest.raises(ValueError, match="read-only"):
        city.population[0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        city.station_xy[0] = (0.0, 0.0)


def test_the_cache_is_bounded():
    sc = CASES["divided-few"]()
    for seed in range(city_cache.MAX_CITIES + 3):
        city_cache.city_for(sc.city, sc.police, sc.travel, seed, 0)
    assert city_cache.cached() == city_cache.MAX_CITIES
    # The most recent are kept: the last seed is served without a build.
    last = city_cache.city_for(sc.city, sc.police, sc.travel, city_cache.MAX_CITIES + 2, 0)
    assert city_cache.city_for(sc.city, sc.police, sc.travel, city_cache.MAX_CITIES + 2, 0) is last


def test_other_file_contents_are_another_city(monkeypatch):
    """Inputs handed over otherwise than by the loader's file cache (a road network built in
    memory, benchmarks/bench_roads.py) are part of the key: the same arrays, the same city."""
    sc = CASES["divided-few"]()
    shape = (sc.city.height, sc.city.width)
    given = [CityInputs(), CityInputs()]
    monkeypatch.setattr(city_cache, "city_inputs", lambda city, travel: given[0])
    first = city_cache.city_for(sc.city, sc.police, sc.travel, 0, 0)
    assert city_cache.city_for(sc.city, sc.police, sc.travel, 0, 0) is first
    given[0] = CityInputs(population=np.ones(shape))  # other arrays under the same settings
    assert city_cache.city_for(sc.city, sc.police, sc.travel, 0, 0) is not first
