"""What the files a scenario names hold, as the model is handed it.

The model reads no file. The scenario loader (:mod:`sim.geo.scenario`) reads the map, the
replay, the population raster and the road network, and installs itself here as the
:class:`ScenarioFiles` when it is imported (loading a scenario imports it): through it a
scenario changed with :meth:`~sim.model.config.scenario.Scenario.with_changes` is checked
against its files again, and :func:`sim.model.city.build_city` is handed the arrays a city
is built from (:class:`CityInputs`). The model depends on this protocol, never on the
loader: imports go one way, from the geography down to the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from sim.model.config.errors import NOT_READ, ScenarioError

if TYPE_CHECKING:
    from sim.model.config.messages import Origins
    from sim.model.config.scenario import Scenario
    from sim.model.config.sections import CityConfig, TravelConfig
    from sim.model.roads import RoadNetwork


@dataclass(frozen=True, eq=False)
class CityInputs:
    """The arrays a city's files give (each None where the scenario names no such file).

    Args:
        land_use: (rows, columns) int8 :class:`~sim.model.vocab.LandUse` codes of
            ``city.map_file``.
        population: (rows, columns) residents per cell of ``city.population_raster``.
        roads: ``travel.road_network`` on the grid.
    """

    land_use: np.ndarray | None = None
    population: np.ndarray | None = None
    roads: RoadNetwork | None = None


class ScenarioFiles(Protocol):
    """Reads what a scenario's files hold (:mod:`sim.geo.scenario`)."""

    def check(
        self, scenario: Scenario, source: str, origins: Origins, *, replay: bool, own: bool
    ) -> None:
        """:func:`~sim.model.config.feasibility.check_feasible` with the map read, then
        (``replay``) the replay read, checked and attached; ``own``: the replay's path is
        the user's own text (else it is not shown)."""

    def city_inputs(self, city: CityConfig, travel: TravelConfig | None) -> CityInputs:
        """The arrays of the city's files (read once per file: cached)."""


_INSTALLED: list[ScenarioFiles] = []


def install(files: ScenarioFiles) -> None:
    """Make ``files`` the reader of every scenario's files (the loader, once, at import)."""
    _INSTALLED[:] = [files]


def scenario_files(key: str) -> ScenarioFiles:
    """The installed reader; ``key``: the file's key, named when there is none."""
    if not _INSTALLED:
        raise ScenarioError(f"{key}: {NOT_READ}")
    return _INSTALLED[0]


def reads_files(scenario: Scenario, replay: bool = True) -> bool:
    """Whether checking the scenario reads a file (its map, or with ``replay`` its replay)."""
    return scenario.city.map_file is not None or (replay and scenario.incidents.replay is not None)


def city_inputs(city: CityConfig, travel: TravelConfig | None) -> CityInputs:
    """The arrays of the city's files: none read where it names none."""
    named = city.map_file or city.population_raster or (travel and travel.road_network)
    if not named:
        return CityInputs()
    return scenario_files("city").city_inputs(city, travel)
