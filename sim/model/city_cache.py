"""The city of a run, built once per layout per process.

A sweep runs many points on one layout in each worker (common random numbers: every point
of a replication sees the same city), and building a city-scale raster costs as much as a
day's event loop. :func:`city_for` builds a city the first time it is asked for and hands the
same object to every later run built from the same inputs: the city, police and travel
sections (as their canonical JSON), the seed and the layout index, and the arrays of the
files they name (the same arrays: the scenario loader reads each file once). What a city is built
from is all of :func:`sim.model.city.build_city`'s arguments, so two runs given one city
would have built two equal ones (tests/test_city_cache.py checks that their incidents tables
are the same with and without the cache, and that another seed or layout is another city).

Runs never change their city: :class:`~sim.model.city.City` is a frozen dataclass, and the
arrays of a city handed out here are made read-only, so a run that tried to write one would
fail loudly instead of leaking into the next run. The cache holds at most :data:`MAX_CITIES`
cities (least recently used goes first); :func:`clear` empties it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import OrderedDict

import numpy as np

from sim.model.city import City, build_city
from sim.model.config import CityConfig, PoliceConfig, TravelConfig
from sim.model.config.files import CityInputs, city_inputs
from sim.model.rng import Stream, generator

#: Cities kept per process (a sweep's worker needs one per layout it runs; a city-scale city
#: is a few tens of MB).
MAX_CITIES = 4

#: key -> (the inputs the city was built from, the city)
_CITIES: OrderedDict[str, tuple[CityInputs, City]] = OrderedDict()


def city_key(
    city: CityConfig, police: PoliceConfig, travel: TravelConfig, seed: int, layout: int
) -> str:
    """The SHA-256 of everything a run's city is built from."""
    parts = {
        "city": city.model_dump(mode="json"),
        "police": police.model_dump(mode="json"),
        "travel": travel.model_dump(mode="json"),
        "seed": int(seed),
        "layout": int(layout),
    }
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def city_for(
    city: CityConfig, police: PoliceConfig, travel: TravelConfig, seed: int, layout: int
) -> City:
    """The city of layout ``layout`` of ``seed`` (its stream: ``Stream.CITY``), built on the
    first call and shared (read-only) by every later call with the same inputs."""
    key = city_key(city, police, travel, seed, layout)
    inputs = city_inputs(city, travel)  # the files' arrays, read once per file (cached)
    got = _CITIES.get(key)
    if got is not None and _same_inputs(got[0], inputs):
        _CITIES.move_to_end(key)
        return got[1]
    rng = generator(seed, layout, Stream.CITY)
    built = _frozen(build_city(city, police, rng, travel, inputs))
    _CITIES[key] = (inputs, built)
    _CITIES.move_to_end(key)
    while len(_CITIES) > MAX_CITIES:
        _CITIES.popitem(last=False)
    return built


def clear() -> None:
    """Forget every cached city."""
    _CITIES.clear()


def cached() -> int:
    """How many cities are cached now."""
    return len(_CITIES)


def _same_inputs(a: CityInputs, b: CityInputs) -> bool:
    """Whether two sets of inputs are the same arrays (the same files, read once; a map or
    road network handed over otherwise is another city even under the same settings)."""
    return all(getattr(a, f.name) is getattr(b, f.name) for f in dataclasses.fields(a))


def _frozen(city: City) -> City:
    """``city`` with its arrays read-only (a run that writes one fails instead of leaking)."""
    for field in dataclasses.fields(city):
        value = getattr(city, field.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return city
