"""A scenario's GIS files turned into plain scenario values while it loads (issue 15).

:func:`resolve_files` runs once when a scenario is validated: the population raster places
the grid (``city.crs``, ``origin``, ``width``, ``height``, ``population``), point files become
cells (``police.station_cells``, ``meus.site_cells``, ``city.key_sites``). Building the city
then reads the resampled raster and the road network (:func:`population_for`,
:func:`roads_for`; both cached per file), so the model itself reads no file.
"""

from __future__ import annotations

import os
import stat
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.extras import require
from sim.geo.crs import GridFrame, frame_of
from sim.geo.mapfile import read_map_file
from sim.geo.network import load_roads
from sim.geo.raster import population_on_grid, raster_grid
from sim.geo.sites import cells_of, read_points
from sim.model.config.errors import ScenarioError, _show_path
from sim.model.config.raw import PATH_KEYS
from sim.model.config.sections import LandUseName
from sim.model.vocab import LandUse

if TYPE_CHECKING:
    from sim.model.config.scenario import Scenario
    from sim.model.config.sections import CityConfig, TravelConfig
    from sim.model.roads import RoadNetwork


#: The largest GIS file read, bytes (a bigger one is refused before it is opened).
MAX_GIS_BYTES = 2 << 30
#: The largest file of points (stations, sites): read whole by pandas or geopandas, which
#: hold several times its size; 64 MiB is about half a million points.
MAX_POINT_FILE_BYTES = 64 << 20
_POINT_KEYS = {"stations_file", "sites_file"}


def _where(source: str, key: str, path: str) -> str:
    # The file's name only (escaped if odd): where it lies is the scenario's business.
    return f"{source}: {key}: {_show_path(Path(path).name)}"


def _check_regular(path: str, where: str, cap: int = MAX_GIS_BYTES) -> None:
    """A GIS file must be a regular file of bounded size: a device, FIFO or folder is refused
    before any reader opens it (``/dev/zero`` would never end)."""
    try:
        st = os.stat(path)
    except OSError:
        raise ScenarioError(f"{where}: cannot read the file (missing or not accessible)") from None
    if not stat.S_ISREG(st.st_mode):
        raise ScenarioError(f"{where}: not a regular file")
    if st.st_size > cap:
        raise ScenarioError(f"{where}: the file is over {cap >> 20:,} MiB")


@dataclass(frozen=True)
class _Grid:
    """The grid the points of a scenario's files are placed on."""

    width: int
    height: int
    cell_size_m: float
    frame: GridFrame | None
    water: np.ndarray | None  # (height, width) bool: cells a site cannot be on
    on_streets: bool  # water is "off the street network"


def resolve_files(sc: Scenario, source: str) -> Scenario:
    """``sc`` with the values its GIS files set (see the module's docstring).

    Args:
        sc: a validated scenario naming at least one GIS file.
        source: the scenario file's name, for messages.
    """
    require("geo")
    for section, key in PATH_KEYS:
        value = getattr(getattr(sc, section), key)
        if value is not None and key != "map_file":  # the map file has its own reader
            cap = MAX_POINT_FILE_BYTES if key in _POINT_KEYS else MAX_GIS_BYTES
            _check_regular(value, _where(source, f"{section}.{key}", value), cap)
    changes: dict[str, typing.Any] = {}
    grid = _grid(sc, source, changes)
    if sc.police.stations_file is not None:
        cells, _ = _site_cells(grid, source, "police.stations_file", sc.police.stations_file)
        changes["police.station_cells"] = cells
        changes["police.stations"] = len(cells)
        changes["police.grids"] = max(sc.police.grids, len(cells))
        # The file is now spelled out as cells: a resolved scenario names no file, so a
        # scenario written from it (optimised.yaml) is not overridden by the file again.
        changes["police.stations_file"] = None
    if sc.meus.sites_file is not None:
        changes.update(_meu_sites(sc, source, grid))
    if sc.city.sites_file is not None:
        changes.update(_key_sites(sc.city.sites_file, source, grid))
    # The replay is read once by the caller, with the scenario's own name in its messages.
    return sc.with_changes(changes, replay=False) if changes else sc


def _grid(sc: Scenario, source: str, changes: dict[str, typing.Any]) -> _Grid:
    """The grid the points are placed on: the population raster's (its values go into
    ``changes``) or the scenario's, with its water or the cells no street reaches."""
    city = sc.city
    width, height, cell = city.width, city.height, city.cell_size_m
    frame = frame_of(city)
    if city.population_raster is not None:
        where = _where(source, "city.population_raster", city.population_raster)
        grid = raster_grid(Path(city.population_raster), city.crs, city.origin, cell, where)
        width, height = grid.width, grid.height
        frame = GridFrame(grid.crs, grid.origin_e, grid.origin_n)
        changes.update({
            "city.crs": grid.crs, "city.origin": (grid.origin_e, grid.origin_n),
            "city.width": width, "city.height": height,
            "city.population": round(grid.total),
        })  # fmt: skip
    roads = None
    if sc.travel.road_network is not None:
        where = _where(source, "travel.road_network", sc.travel.road_network)
        if frame is None:
            raise ScenarioError(
                f"{where}: a road network needs city.crs and city.origin (or "
                "city.population_raster) to place it on the grid"
            )
        roads = roads_on(sc.travel, frame, width, height, cell, where)
    water = _water(city, width, height, roads)
    return _Grid(width, height, cell, frame, water, roads is not None)


def _site_cells(grid: _Grid, source: str, key: str, path: str, columns: tuple[str, ...] = ()):
    """The cells of a file's points (and the ``columns`` asked for), none on water."""
    where = _where(source, key, path)
    x, y, attrs = read_points(Path(path), grid.frame, where, columns)
    cells = cells_of(x, y, grid.width, grid.height, grid.cell_size_m, where)
    for k, (c, r) in enumerate(cells):
        if grid.water is not None and grid.water[r, c]:
            what = "off the street network" if grid.on_streets else "on water"
            raise ScenarioError(f"{where}: point {k + 1} lies {what} (cell [{c}, {r}])")
    return cells, attrs


def _meu_sites(sc: Scenario, source: str, grid: _Grid) -> dict[str, typing.Any]:
    path = sc.meus.sites_file
    assert path is not None
    cells, _ = _site_cells(grid, source, "meus.sites_file", path)
    if "count" in sc.meus.model_fields_set and sc.meus.count != len(cells):
        raise ScenarioError(
            f"{_where(source, 'meus.sites_file', path)}: the file has "
            f"{len(cells)} sites but meus.count is {sc.meus.count}; leave count out to "
            "take the file's"
        )
    return {"meus.site_cells": cells, "meus.count": len(cells), "meus.sites_file": None}


def _key_sites(path: str, source: str, grid: _Grid) -> dict[str, typing.Any]:
    cells, attrs = _site_cells(grid, source, "city.sites_file", path, ("land_use",))
    known = set(typing.get_args(LandUseName))
    uses = [str(u).strip().lower() for u in attrs["land_use"]]
    for k, use in enumerate(uses):
        if use not in known:
            raise ScenarioError(
                f"{_where(source, 'city.sites_file', path)}: point {k + 1}: "
                f"land_use is not one of {', '.join(sorted(known))}"
            )
    sites = [(c, r, u) for (c, r), u in zip(cells, uses, strict=True)]
    return {"city.key_sites": sites, "city.sites_file": None}


def _water(city: CityConfig, width: int, height: int, roads: RoadNetwork | None):
    """(height, width) bool: cells a site cannot be on (None: every cell is land)."""
    if roads is not None:
        return ~roads.on_network
    if city.map_file is not None:
        land_use = read_map_file(Path(city.map_file))
        return (land_use == LandUse.WATER) | (land_use == LandUse.BRIDGE)
    return None


def roads_on(
    travel: TravelConfig, frame: GridFrame, width: int, height: int, cell_size_m: float,
    where: str,
) -> RoadNetwork:  # fmt: skip
    """The scenario's road network on its grid (cached per file and grid)."""
    assert travel.road_network is not None
    return load_roads(Path(travel.road_network), travel.road_network_type, frame, width,
                      height, cell_size_m, travel.road_snap_m, where)  # fmt: skip


def roads_for(city: CityConfig, travel: TravelConfig) -> RoadNetwork:
    """:func:`roads_on` for a resolved scenario (``city.crs``/``origin`` set)."""
    frame = frame_of(city)
    assert frame is not None and travel.road_network is not None
    where = f"travel.road_network: {Path(travel.road_network).name}"
    return roads_on(travel, frame, city.width, city.height, city.cell_size_m, where)


def population_for(city: CityConfig) -> np.ndarray:
    """Residents per cell from ``city.population_raster`` for a resolved scenario."""
    assert city.population_raster is not None and city.crs is not None
    assert city.origin is not None
    where = f"city.population_raster: {Path(city.population_raster).name}"
    return population_on_grid(Path(city.population_raster), city.crs, city.origin, city.width,
                              city.height, city.cell_size_m, where)  # fmt: skip
