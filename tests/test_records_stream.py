"""Records built faster or streamed in chunks are the same records (issue 13, targets 2-3).

Station distances per bank equal the per-station ``pair_distances`` minimum exactly; the
incident and assignment tables built column-wise, or streamed in chunks of settled incidents,
equal the tables built from the whole run at once.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.city import City, build_city
from sim.model.config import load_scenario
from sim.model.rng import Stream, generator
from tests.conftest import SCENARIOS


def _per_station(city: City, xy: np.ndarray) -> np.ndarray:
    """The definition: the minimum over stations of the pairwise travel distance."""
    best = np.full(len(xy), np.inf)
    bank = city.bank_of(xy)
    for station in city.station_xy:
        there = np.broadcast_to(station, xy.shape)
        best = np.minimum(best, city.pair_distances(xy, bank, there, None))
    return best


@pytest.mark.parametrize(
    ("name", "layout"),
    [("guangzhou-2023.yaml", 0), ("chigang.yaml", 0), ("chigang.yaml", 1), ("demo.yaml", 2)],
)
def test_station_distances_equal_the_per_station_minimum(name, layout):
    sc = load_scenario(SCENARIOS / name)
    city = build_city(sc.city, sc.police, generator(0, layout, Stream.CITY))
    w, h = city.extent_m
    xy = np.random.default_rng(layout).random((3000, 2)) * [w, h]
    expected = _per_station(city, xy)
    assert np.array_equal(city.station_distances(xy), expected)  # NaN-free; inf where cut off
