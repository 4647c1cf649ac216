"""Loading a scenario: every file it names read here, and handed to the model as values.

:func:`load_scenario` reads the YAML (with its ``extends`` chain and ``--set`` overrides),
validates it (:mod:`sim.model.config`), turns its GIS files into values
(:mod:`sim.geo.inputs`), checks it with its map file (:mod:`sim.geo.mapfile`) and attaches
its replay (:mod:`sim.geo.replay`). The model reads no file: this module is installed as
the model's :class:`~sim.model.config.files.ScenarioFiles` when it is imported, through
which a scenario changed later (``Scenario.with_changes``) is checked against its files
again and a city is handed the arrays of its files (:class:`FileReader`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.geo import inputs as gis
from sim.geo.inputs import resolve_files
from sim.geo.mapfile import map_grid, read_map_file
from sim.geo.replay import load_replay
from sim.model import budget as budgets
from sim.model.catalogue import is_name, locate
from sim.model.config.errors import ScenarioError, _show_path, check_path_text
from sim.model.config.extends import resolve_origins
from sim.model.config.feasibility import check_feasible
from sim.model.config.files import CityInputs, install
from sim.model.config.messages import Origins, format_validation_error
from sim.model.config.raw import set_path
from sim.model.config.scenario import Scenario
from sim.model.config.sections import CityConfig, TravelConfig
from sim.model.crs import crs_problem
from sim.model.overrides import apply_overrides


def validate_scenario(
    raw: dict[str, Any], source: str, origins: Origins | None = None, own: str | None = None
) -> Scenario:
    """A validated scenario, or one :class:`ScenarioError` naming ``source`` and key paths."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as err:
        default = None if own is None or own == source else "another file"
        raise ScenarioError(
            format_validation_error(source, err, origins, default, own, Scenario)
        ) from None
    if scenario.city.crs is not None:
        problem = crs_problem(scenario.city.crs)
        if problem is not None:
            raise ScenarioError(f"{source}: city.crs: {problem}")
    if uses_geo_files(scenario):
        scenario = resolve_files(scenario, source)
    check_feasible(scenario, source, origins, own, map_grid)
    mine = source if own is None else own
    attach_replay(scenario, source, (origins or {}).get(("incidents", "replay"), mine) == mine)
    return scenario


def uses_geo_files(scenario: Scenario) -> bool:
    """The scenario names a GIS file (read by :mod:`sim.geo.inputs`, geo extra)."""
    c = scenario.city
    return any(
        v is not None
        for v in (c.population_raster, c.sites_file, scenario.police.stations_file,
                  scenario.meus.sites_file, scenario.travel.road_network)
    )  # fmt: skip


def load_scenario(
    path: str | Path, *, budget: Any = None, own: bool = True, replay: str | Path | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
) -> Scenario:  # fmt: skip
    """Load, merge ``extends`` chains, and validate a scenario file or a shipped scenario by
    name (``"demo"``; :mod:`sim.model.catalogue`; a file of that name wins).

    ``budget``: a :class:`sim.model.budget.Budget` for the estimate of one replication (default:
    the stated default, raised by the environment variables in :mod:`sim.model.budget`).
    ``own=False``: the file was named by another file (a sweep's base), so none of its text
    is echoed in errors. ``replay``: a CSV of incidents to replay instead of the file's
    ``incidents.replay`` (``jiefang run --incidents``; relative to the working folder).
    ``overrides``: (dotted key, value) pairs set after the ``extends`` chain is merged and
    checked with the file (``--set``; :mod:`sim.model.overrides`); errors name ``--set KEY``.
    """
    if isinstance(path, str):
        check_path_text(path, _show_path(path))
    source = _show_path(path)
    if is_name(path):
        path = locate(path, echo=own)
    path = Path(path)
    raw, origins = resolve_origins(path, source, own=own)
    if own:
        top = str(path.resolve()) if path.exists() else str(path)
        origins = {k: (source if v == top else v) for k, v in origins.items()}
    if replay is not None:
        check_path_text(str(replay), "--incidents")
        set_path(raw, "incidents.replay", str(Path(replay).resolve()))
        origins[("incidents", "replay")] = source
    if overrides:
        apply_overrides(raw, origins, overrides)
    # Not own: no key path is the user's own text ("" is never a file's label).
    scenario = validate_scenario(raw, source, origins, source if own else "")
    budgets.check_scenario(scenario, source, budget or budgets.Budget.from_env())
    return scenario


def attach_replay(scenario: Scenario, source: str, own: bool) -> None:
    """Read and check the scenario's replay file (a cached parse when it was read before).
    ``own``: the path was written in the file the user named (else it is not shown)."""
    if scenario.incidents.replay is not None:
        scenario._replay = load_replay(scenario, source, own)


class FileReader:
    """The model's :class:`~sim.model.config.files.ScenarioFiles`: the files of scenarios
    changed after loading, and of the cities built from them, read here."""

    def check(
        self, scenario: Scenario, source: str, origins: Origins, *, replay: bool, own: bool
    ) -> None:
        check_feasible(scenario, source, origins, map_grid=map_grid)
        if replay:
            attach_replay(scenario, source, own)

    def city_inputs(self, city: CityConfig, travel: TravelConfig | None) -> CityInputs:
        # The road network first, then the map, then the raster: the order of their errors.
        roads = None
        if travel is not None and travel.road_network is not None:
            roads = gis.roads_for(city, travel)  # looked up at call time: benchmarks swap it
        land_use = read_map_file(Path(city.map_file)) if city.map_file is not None else None
        population = gis.population_for(city) if city.population_raster is not None else None
        return CityInputs(land_use, population, roads)


install(FileReader())
