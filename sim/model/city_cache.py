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

What else of a run depends on its layout alone (the volunteers' homes and their spatial
index, the MEU sites) goes into the same cache through :func:`layout_part`: keyed by the
SHA-256 of the city's key, the part's name and exactly the settings it is built from, held
for the very city object it was built on, made read-only the same way, at most
:data:`MAX_PARTS` of them, and dropped with their city.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from sim.model.city import City, build_city
from sim.model.config import CityConfig, PoliceConfig, TravelConfig
from sim.model.config.files import CityInputs, city_inputs
from sim.model.rng import Stream, generator

#: Cities kept per process (a sweep's worker needs one per layout it runs; a city-scale city
#: is a few tens of MB).
MAX_CITIES = 4

#: Layout parts kept per process (two per layout: volunteers' homes, MEU sites).
MAX_PARTS = 2 * MAX_CITIES

#: The cache. City key -> (the inputs the city was built from, the city); part key -> (the
#: city it was built on, the part). Least recently used first.
_CACHE: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
#: The keys of the parts built on each city (by city key).
_PARTS_OF: dict[str, set[str]] = {}


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
    got = _CACHE.get(key)
    if got is not None and _same_inputs(got[0], inputs):
        _CACHE.move_to_end(key)
        return got[1]
    disk = _disk_key(key, inputs)
    built = _frozen(_kept(disk, City, lambda: build_city(
        city, police, generator(seed, layout, Stream.CITY), travel, inputs)))  # fmt: skip
    _drop_city(key)  # the parts of a city built from other arrays
    _CACHE[key] = (inputs, built)
    _PARTS_OF[key] = set()
    _DISK_OF[key] = disk
    _KEY_OF[id(built)] = key
    while len(_PARTS_OF) > MAX_CITIES:
        _drop_city(next(k for k in _CACHE if k in _PARTS_OF))
    return built


class DiskStore(Protocol):
    """Where cities and layout parts are kept between processes (the model does no file
    I/O: :mod:`sim.experiment.disk_cache` is one, installed by :func:`use_disk`)."""

    def enabled(self) -> bool: ...

    def load(self, key: str, kind: type) -> Any | None: ...

    def store(self, key: str, value: Any) -> None: ...


_DISK: DiskStore | None = None


def use_disk(store: DiskStore | None) -> None:
    """Keep cities and layout parts in ``store`` too, between processes (None: in this
    process only)."""
    global _DISK
    _DISK = store


def _kept[T](disk: str | None, kind: type, build: Callable[[], T]) -> T:
    """What the disk store keeps under ``disk`` (a ``kind``), else ``build()``, then kept
    there (``disk`` None: built, nothing kept)."""
    built = _DISK.load(disk, kind) if disk and _DISK else None
    if built is None:
        built = build()
        if disk and _DISK:
            _DISK.store(disk, built)
    return built


def array_digest(value: np.ndarray | None) -> str:
    """The SHA-256 of an input array (dtype, shape and bytes); "none" for None."""
    if value is None:
        return "none"
    value = np.ascontiguousarray(value)
    head = f"{value.dtype.str} {value.shape}".encode()
    return hashlib.sha256(head + value.tobytes()).hexdigest()


#: id of a cached city -> its key (a part's key starts from its city's).
_KEY_OF: dict[int, str] = {}
#: A cached city's key -> its key on disk (sim.experiment.disk_cache), None if not kept there.
_DISK_OF: dict[str, str | None] = {}


def _disk_key(key: str, inputs: CityInputs) -> str | None:
    """A city's key on disk: its key and the contents of its files' arrays (None: no store
    kept on disk, or a city on a road network, not kept there). The arrays are hashed only
    for a store that keeps something."""
    if _DISK is None or not _DISK.enabled() or inputs.roads is not None:
        return None
    return "city " + " ".join([key, *map(array_digest, (inputs.land_use, inputs.population))])


def part_key(city_key_: str, name: str, settings: Mapping[str, Any]) -> str:
    """The SHA-256 of a layout part: its city's key, its name and its settings."""
    text = json.dumps({"city": city_key_, "part": name, "settings": settings},
                      sort_keys=True, separators=(",", ":"), default=str)  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()


def layout_part[T](name: str, city: City, settings: Mapping[str, Any], build: Callable[[], T]) -> T:
    """What ``build()`` returns, built once per cached ``city``, ``name`` and ``settings``
    (JSON-able: exactly what ``build`` draws on besides the city, seed and layout included)
    and shared, read-only, by every later call. A city that is not cached here gets its
    part built every time (nothing to share it with)."""
    ckey = _KEY_OF.get(id(city))
    if ckey is None or _CACHE.get(ckey, (None, None))[1] is not city:
        return build()
    key = part_key(ckey, name, settings)
    got = _CACHE.get(key)
    if got is not None and got[0] is city:
        _CACHE.move_to_end(key)
        return got[1]
    disk = _DISK_OF.get(ckey)
    built = _frozen_part(_kept(part_key(disk, name, settings) if disk else None, object, build))
    _CACHE[key] = (city, built)
    _PARTS_OF[ckey].add(key)
    while sum(len(p) for p in _PARTS_OF.values()) > MAX_PARTS:
        oldest = next(k for k in _CACHE if k not in _PARTS_OF)
        _CACHE.pop(oldest)
        for parts in _PARTS_OF.values():
            parts.discard(oldest)
    return built


def _drop_city(key: str) -> None:
    """Forget city ``key`` and the parts built on it."""
    got = _CACHE.pop(key, None)
    if got is not None:
        _KEY_OF.pop(id(got[1]), None)
    for part in _PARTS_OF.pop(key, ()):
        _CACHE.pop(part, None)
    _DISK_OF.pop(key, None)


def clear() -> None:
    """Forget every cached city and part."""
    _CACHE.clear()
    _PARTS_OF.clear()
    _KEY_OF.clear()
    _DISK_OF.clear()


def cached() -> int:
    """How many cities are cached now."""
    return len(_PARTS_OF)


def cached_parts() -> int:
    """How many layout parts are cached now."""
    return sum(len(p) for p in _PARTS_OF.values())


def _same_inputs(a: CityInputs, b: CityInputs) -> bool:
    """Whether two sets of inputs are the same arrays (the same files, read once; a map or
    road network handed over otherwise is another city even under the same settings)."""
    return all(getattr(a, f.name) is getattr(b, f.name) for f in dataclasses.fields(a))


def _frozen_part[T](part: T) -> T:
    """``part`` (a dataclass) with its arrays, and the arrays of its mappings, read-only."""
    for field in dataclasses.fields(part):  # type: ignore[arg-type]  # a dataclass instance
        value = getattr(part, field.name)
        values = value.values() if isinstance(value, Mapping) else (value,)
        for v in values:
            if isinstance(v, np.ndarray):
                v.flags.writeable = False
    return part


def _frozen(city: City) -> City:
    """``city`` with its arrays read-only (a run that writes one fails instead of leaking)."""
    for field in dataclasses.fields(city):
        value = getattr(city, field.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return city
