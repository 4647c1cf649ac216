"""The fire brigade and professional rescue teams: the official 20-minute circle.

Guangzhou's 2024 notice (穗应急委〔2024〕13号) puts the fire brigade and the district's
professional teams in a 20-minute professional circle. This built-in fleet follows the plug-in
fleet protocol (:mod:`sim.model.fleets`): a scenario turns it on under ``fleets.professional``
and asks for its teams from incident kinds (``kinds.<kind>.fleets: {professional: 1}``); the
ledger gets ``first_professional_s`` and ``professional_sent``. It is off unless a scenario
configures it with stations (``stations: 0``, the default, is off: not built, no columns).

Teams wait at their stations, at the centres of distinct populated cells drawn by population
(where people are) from the layout stream ``Stream.PROFESSIONAL``. The rest are the rules of a
:class:`~sim.model.responders.stations.StationFleet` (the plug-ins' too): an alert sends the
nearest free teams (travel distance as every responder's, :meth:`sim.model.city.City.distances_to`;
ties to the lower team) after the turnout time at a fixed speed; a call no team is free for
waits, first come first served, until a team is released when the incident it serves is
cleared (it is back at its station at once: a simplification, as is the speed without
congestion).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.model.responders.stations import StationFleet
from sim.model.rng import Stream, generator


class ProfessionalConfig(BaseModel):
    """``fleets.professional``: the fire brigade and professional rescue teams.

    Args:
        stations: fire and rescue stations, at most one per populated cell; 0 (the default):
            the fleet is off (not built; a named tier table has no 20-minute circle).
        per_station: teams at each station.
        speed_m_s: driving speed, m/s (fixed: no congestion).
        turnout_s: from the alert to leaving the station, s.
    """

    model_config = ConfigDict(extra="forbid")
    stations: int = Field(0, ge=0, le=100_000, description="fire and rescue stations; 0: none")
    per_station: int = Field(1, ge=1, le=100, description="teams at each station")
    speed_m_s: float = Field(8.3, gt=0, le=60, description="driving speed, m/s")
    turnout_s: float = Field(
        60.0, ge=0, le=3600, description="from the alert to leaving the station, s"
    )

    @property
    def off(self) -> bool:
        """No station: the fleet is not built (sim.model.fleets.is_off)."""
        return self.stations == 0


class ProfessionalTeams(StationFleet):
    """The teams of ``fleets.professional`` (:class:`ProfessionalConfig`): a
    :class:`~sim.model.responders.stations.StationFleet` at drawn stations, travel distance as
    every responder's, after the turnout time at a fixed speed."""

    name = "professional"
    Config = ProfessionalConfig
    #: Its hooks read its own teams and the ledger, never the police: the compiled loop may
    #: call them; and its clear changes nothing for an incident whose kind does not ask for
    #: it (StationFleet.clear: no team of its serves it, none waits for it), so it is called
    #: only for those (sim.model.fleets.ResponderFleet).
    reads_police = False
    clears_only_alerted = True
    cfg: ProfessionalConfig

    def unit_xy(self) -> np.ndarray:
        """Stations at distinct populated cells drawn by population (``Stream.PROFESSIONAL``),
        ``per_station`` teams at each."""
        city, config = self.model.city, self.cfg
        rng = generator(self.model.seed, self.model.layout, Stream.PROFESSIONAL)
        pop = city.population.reshape(-1)
        land = np.flatnonzero(city.bank.reshape(-1) >= 0)
        cells = land[pop[land] > 0] if (pop[land] > 0).any() else land
        weight = pop[cells] + 1e-12 if cells is not land else np.ones(cells.size)
        sites = np.sort(rng.choice(cells, size=min(config.stations, cells.size), replace=False,
                                   p=weight / weight.sum()))  # fmt: skip
        xy = city.cell_centre(sites % city.width, sites // city.width).reshape(-1, 2)
        return np.repeat(xy, config.per_station, axis=0)
