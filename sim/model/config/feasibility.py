"""Scenarios that validate key by key yet cannot be simulated meaningfully."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.model.config.errors import MAX_PROBLEMS, NOT_READ, ScenarioError
from sim.model.config.messages import Origins, _render_loc
from sim.model.config.sections import CityConfig, by_hour
from sim.model.zones import land_use_problem, zone_size_problem

if TYPE_CHECKING:
    from sim.model.config.scenario import Scenario

#: A scenario's name goes into folder names and reports.
MAX_NAME_CHARS = 200


#: How the grid of ``city.map_file`` reaches the checks: ``(path, source, own)`` -> a
#: generator of the map's own problems (key path, what is wrong) that returns its
#: ``((rows, columns), land mask)``, or ``(None, None)`` where the map has a problem. The
#: scenario loader (:func:`sim.geo.mapfile.map_grid`) reads the file: the model reads none.
MapGrid = Callable[[Path, str, bool], Generator[tuple[tuple, str], None, tuple[Any, Any]]]


def check_feasible(
    scenario: Scenario, source: str, origins: Origins | None = None, own: str | None = None,
    map_grid: MapGrid | None = None,
) -> None:  # fmt: skip
    """Refuse scenarios that validate key by key yet cannot be simulated meaningfully.

    Each is found from the configuration alone (and the map file, through ``map_grid``),
    before anything is built. Behaviour that is allowed and defined instead is
    documented in docs/reliability.md (e.g. ``police.units: 0`` means no police tier).
    """
    own = source if own is None else own
    map_from = (origins or {}).get(("city", "map_file"), own)
    problems = [
        f"{source}: {_render_loc(loc, own, origins, None, type(scenario))[0]}: {what}"
        for loc, what in _infeasible(scenario, source, map_from == own, map_grid)
    ]
    if problems:
        raise ScenarioError("\n".join(problems[:MAX_PROBLEMS]))


def _infeasible(sc: Scenario, source: str, own_map: bool = True, map_grid: MapGrid | None = None):
    """(key path, what is wrong) for each way the scenario cannot run, in the order a reader
    meets them: its name and shares, its incident kinds, its people, then its grid."""
    yield from _name_and_share_problems(sc)
    yield from _kind_problems(sc)
    yield from _population_problems(sc)
    shape, land = yield from _grid_of(sc, source, own_map, map_grid)
    if shape is not None:
        yield from _grid_problems(sc, shape, land)


def _name_and_share_problems(sc: Scenario):
    if not sc.name.isprintable() or len(sc.name) > MAX_NAME_CHARS:
        yield (
            ("name",),
            (
                f"must be printable text of at most {MAX_NAME_CHARS} characters "
                f"(got {len(sc.name):,} characters)"
            ),
        )
    shares = [k.share for k in sc.incidents.kinds.values()]
    if not math.isfinite(sum(shares)):
        yield (
            ("incidents", "kinds"),
            (
                "the kinds' shares add up to more than the largest number (about 1.8e308); "
                "shares are relative frequencies, so use numbers of a sensible size"
            ),
        )


def _kind_problems(sc: Scenario):
    """Kinds that would wait for good or that nobody can help."""
    vol, meu, police = sc.volunteers, sc.meus, sc.police
    volunteers_can = (
        vol.total > 0 and vol.acceptance > 0 and vol.max_responders > 0
        and max(by_hour(vol.on_duty_share)) > 0
    )  # fmt: skip
    for name, kind in sc.incidents.kinds.items():
        loc = ("incidents", "kinds", name)
        if 0 < police.units < kind.police_units:
            yield (
                (*loc, "police_units"),
                (
                    f"needs {kind.police_units} police units at once but police.units is "
                    f"{police.units}: units would wait at these incidents for good"
                ),
            )
        helped = (
            kind.self_rescue or (kind.volunteers and volunteers_can)
            or (kind.meu_teams > 0 and meu.count > 0 and meu.coverage_radius_m > 0)
            or (kind.police_units > 0 and police.units > 0)
            or bool(kind.fleets)  # a plug-in fleet's own config says whether it can go
        )  # fmt: skip
        if not helped:
            yield (
                loc,
                (
                    "nobody can ever help with this kind: self_rescue is off and no volunteers, "
                    "MEU teams or police units can be sent to it"
                ),
            )


def _population_problems(sc: Scenario):
    """Volunteers or MEU sites placed among residents of a city without any."""
    vol, meu = sc.volunteers, sc.meus
    if sc.city.population == 0 and vol.count > 0:
        yield (
            ("city", "population"),
            (
                f"is 0 but volunteers.count is {vol.count:,}: volunteers live among the "
                "residents, so none could be placed"
            ),
        )
    if sc.city.population == 0 and meu.count > 0 and meu.site_cells is None:
        yield (
            ("city", "population"),
            (
                f"is 0 but meus.count is {meu.count:,}: MEU sites are drawn where people live "
                "(give meus.site_cells to place them by hand)"
            ),
        )


def _grid_of(sc: Scenario, source: str, own_map: bool, map_grid: MapGrid | None):
    """The grid's (rows, cols) and land mask, from the map file (through ``map_grid``) or
    generated; yields the map's own problems."""
    if sc.city.map_file is None:
        return (sc.city.height, sc.city.width), generated_land(sc.city)
    if map_grid is None:
        raise ScenarioError(f"{source}: city.map_file: {NOT_READ}")
    return (yield from map_grid(Path(sc.city.map_file), source, own_map))


def _grid_problems(sc: Scenario, shape: tuple[int, int], land):
    """Police grids and stations the cells cannot hold, a city of water, placed cells off the
    grid or on water, and the breakdown's zones."""
    vol, meu, police = sc.volunteers, sc.meus, sc.police
    yield from _breakdown_problems(sc, shape, land is not None)
    cells = shape[0] * shape[1]
    for count in ("grids", "stations"):
        if getattr(police, count) > cells:
            yield (
                ("police", count),
                (
                    f"{getattr(police, count):,} is more than the city's {cells:,} cells "
                    f"(each police {count[:-1]} needs at least one cell)"
                ),
            )
    if land is not None and not land.any():
        yield ("city",), "has no land cells (all water or bridges): nobody could live there"
    placed = (("police", "station_cells", police.station_cells),
              ("meus", "site_cells", meu.site_cells),
              ("volunteers", "recruited", [c[:2] for c in vol.recruited]))  # fmt: skip
    for section, name, given in placed:
        for i, (col, row) in enumerate(given or []):
            if row >= shape[0] or col >= shape[1]:
                yield (
                    (section, name, i),
                    (f"[{col}, {row}] is outside the city ({shape[1]} x {shape[0]} cells)"),
                )
            elif land is not None and not land[row, col]:
                yield (section, name, i), f"[{col}, {row}] is on water or a bridge, not on land"


def _breakdown_problems(sc: Scenario, shape: tuple[int, int], known: bool):
    """A zone size that does not divide the city, or a focus land use it cannot have (only
    where the grid is known before the build: a raster sets it at build, and the breakdown
    checks again on the built city)."""
    if sc.city.population_raster is not None:
        return
    problem = zone_size_problem(sc.breakdown.zone_cells, shape[1], shape[0])
    if problem:
        yield ("breakdown", "zone_cells"), problem
    use = sc.breakdown.focus_land_use
    if use is not None and sc.city.map_file is None and known:
        present = {"residential"} if sum(sc.city.land_use_shares.values()) < 1 else set()
        present |= {u for u, share in sc.city.land_use_shares.items() if share > 0}
        present |= {site[2] for site in sc.city.key_sites or []}
        problem = land_use_problem(use, present)
        if problem:
            yield ("breakdown", "focus_land_use"), problem


def generated_land(city: CityConfig):
    """Cells of a generated city that may be land: only cells every river covers whatever
    the seed are water here (exact for rivers that do not meander)."""
    if city.width * city.height > 4_000_000:
        return None
    land = np.ones((city.height, city.width), dtype=bool)
    for r in city.rivers:
        across = city.height if r.axis == "horizontal" else city.width

        def low(centre: float, across=across, r=r) -> int:
            return int(np.clip(np.round(centre - r.width_cells / 2), 0, across - 1))

        # The bend moves the band by up to meander_cells either way (sim.model.city._carve_river).
        lo_min = low(r.position * across - r.meander_cells)
        lo_max = low(r.position * across + r.meander_cells)
        band = slice(lo_max, min(lo_min + r.width_cells, across))
        if r.axis == "horizontal":
            land[band, :] = False
        else:
            land[:, band] = False
    return land
