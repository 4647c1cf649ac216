"""The fire brigade and professional rescue teams: the official 20-minute circle.

Guangzhou's 2024 notice (穗应急委〔2024〕13号) puts the fire brigade and the district's
professional teams in a 20-minute professional circle. This built-in fleet follows the plug-in
fleet protocol (:mod:`sim.model.fleets`): a scenario turns it on under ``fleets.professional``
and asks for its teams from incident kinds (``kinds.<kind>.fleets: {professional: 1}``); the
ledger gets ``first_professional_s`` and ``professional_sent``. It is off unless a scenario
configures it with stations (``stations: 0``, the default, is off: not built, no columns).

Teams wait at their stations, at the centres of distinct populated cells drawn by population
(where people are) from the layout stream ``Stream.PROFESSIONAL``. An alert sends the nearest
free teams (travel distance as every responder's, :meth:`sim.model.city.City.distances_to`;
ties to the lower team) after the turnout time at a fixed speed; a call no team is free for
waits, first come first served, until a team is released when the incident it serves is
cleared (it is back at its station at once: a simplification, as is the speed without
congestion).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from sim.model.records import Assignment
from sim.model.rng import Stream, generator

if TYPE_CHECKING:
    from sim.model.response import ResponseModel


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


class ProfessionalTeams:
    """The teams of ``fleets.professional`` (:class:`ProfessionalConfig`) as arrays."""

    name = "professional"
    Config = ProfessionalConfig

    def __init__(self, model: ResponseModel, config: ProfessionalConfig) -> None:
        self.model, self.cfg = model, config
        city = model.city
        rng = generator(model.seed, model.layout, Stream.PROFESSIONAL)
        pop = city.population.reshape(-1)
        land = np.flatnonzero(city.bank.reshape(-1) >= 0)
        cells = land[pop[land] > 0] if (pop[land] > 0).any() else land
        weight = pop[cells] + 1e-12 if cells is not land else np.ones(cells.size)
        sites = np.sort(rng.choice(cells, size=min(config.stations, cells.size), replace=False,
                                   p=weight / weight.sum()))  # fmt: skip
        xy = city.cell_centre(sites % city.width, sites // city.width).reshape(-1, 2)
        self.xy = np.repeat(xy, config.per_station, axis=0)
        self.bank = city.bank_of(self.xy)
        self.busy = np.zeros(len(self.xy), bool)
        self.serving: dict[int, list[tuple[int, float, float]]] = {}  # (team, sent, arrival)
        self.waiting: deque[list[int]] = deque()  # [incident, teams still needed]

    def alert(self, t: float, incident: int, needed: int) -> None:
        left = self._send(t, incident, needed)
        if left:
            self.waiting.append([incident, left])

    def event(self, t: float, incident: int, team: int) -> None:
        if incident in self.serving:  # a team turned back at the clearance records nothing
            self.model.ledger.arrived(self.name, incident, t)

    def clear(self, t: float, incident: int) -> None:
        for team, sent, arrival in self.serving.pop(incident, []):
            self.busy[team] = False
            released = max(t, arrival)
            self.model.assignments.append(
                Assignment(self.name, team, incident, sent, arrival, released)
            )
        self.waiting = deque(w for w in self.waiting if w[0] != incident)
        while self.waiting and not self.busy.all():
            call = self.waiting[0]
            call[1] = self._send(t, call[0], call[1])
            if call[1]:
                break
            self.waiting.popleft()

    def positions(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """For the view: every team at its station, and whether it is committed."""
        return self.xy, self.busy.copy()

    def _send(self, t: float, incident: int, needed: int) -> int:
        """Send up to ``needed`` free teams, those that arrive first; how many still lack."""
        free = np.flatnonzero(~self.busy)
        if not free.size:
            return needed
        scene = self.model.incidents.xy[incident]
        dist = self.model.city.distances_to(scene, self.xy[free], self.bank[free])
        reach = np.isfinite(dist)
        order = np.argsort(dist[reach], kind="stable")[:needed]
        for team, d in zip(free[reach][order].tolist(), dist[reach][order].tolist(), strict=True):
            self.busy[team] = True
            arrival = t + self.cfg.turnout_s + d / self.cfg.speed_m_s
            self.serving.setdefault(incident, []).append((team, t, arrival))
            self.model.ledger.sent(self.name, incident)
            self.model.schedule(arrival, self, incident, team)
        return needed - len(order)
