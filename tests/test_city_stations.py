"""Each police grid's station, taken for all grids at once (sim.model.city._nearest_stations),
is the one City.distances_to gives grid by grid: the same floats, the same argmin, ties to
the lower station; on cities with bridged and unbridged rivers and on a single bank."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import city as city_module
from sim.model.city import build_city
from sim.model.rng import Stream, generator
from tests.test_identical_dispatch import CASES


def _grid_by_grid(city, grid_xy, station_xy):
    bank = city.bank_of(station_xy)
    dist = np.stack([city.distances_to(g, station_xy, bank) for g in grid_xy])
    return np.argmin(dist, axis=1)


@pytest.mark.parametrize("case", ["divided-few", "divided-many-patrol", "mmc-rho-0.8"])
@pytest.mark.parametrize("block", [1, 7, 1 << 22])
def test_stations_of_all_grids_at_once_equal_grid_by_grid(case, block, monkeypatch):
    monkeypatch.setattr(city_module, "_ROUTES_PER_BLOCK", block)
    sc = CASES[case]()
    for seed in range(4):
        city = build_city(sc.city, sc.police, generator(seed, 0, Stream.CITY), sc.travel)
        # every grid centre against every station, and against a few stations (more ties)
        for stations in (city.station_xy, city.grid_centre_xy[::7]):
            got = city_module._nearest_stations(city, city.grid_centre_xy, stations)
            assert np.array_equal(got, _grid_by_grid(city, city.grid_centre_xy, stations))
