"""A fleet of units at stations: the rules the built-in professional teams and plug-ins share.

:class:`StationFleet` is a plug-in fleet (:mod:`sim.model.fleets`) whose units wait at their
stations. An alert sends the nearest free units that can reach the scene (ties to the lower
unit); a call no unit is free for waits, first come first served, until a unit is released
when the incident it serves is cleared (it is back at its station at once: a simplification).
A subclass says only what differs: ``name``, ``Config``, where its units stand
(:meth:`StationFleet.unit_xy`) and, where it wants others than the defaults, how far a unit is
from a scene (:meth:`StationFleet.distances`) and when it arrives
(:meth:`StationFleet.arrival_s`). The professional teams of the 20-minute circle
(:mod:`sim.model.responders.professional`) and the ambulances of docs/extending.md are two.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel

from sim.model.records import Assignment

if TYPE_CHECKING:
    from sim.model.response import ResponseModel


class StationFleet:
    """Units at stations, sent nearest first, calls queued first come first served.

    The model builds it as ``Fleet(model, config)`` (``config``: the validated ``Config``) and
    calls :meth:`alert`, :meth:`event` and :meth:`clear`; the view asks :meth:`positions`.
    State, one row per unit: ``xy`` (m), ``bank`` (of ``xy``: :meth:`City.bank_of`) and ``busy``;
    ``serving`` (incident -> [(unit, sent s, arrival s)]) and ``waiting`` ([incident, units
    still needed], oldest first).
    """

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]]

    def __init__(self, model: ResponseModel, config: Any) -> None:
        self.model, self.cfg = model, config
        self.xy = self.unit_xy()
        self.bank = model.city.bank_of(self.xy)
        self.busy = np.zeros(len(self.xy), bool)
        self.serving: dict[int, list[tuple[int, float, float]]] = {}  # (unit, sent, arrival)
        self.waiting: deque[list[int]] = deque()  # [incident, units still needed]

    # What a subclass says.

    def unit_xy(self) -> np.ndarray:
        """Each unit's place (m), an (n, 2) array, units of one station next to each other."""
        raise NotImplementedError(f"fleet {self.name!r}: a StationFleet says where its units are")

    def distances(self, scene: np.ndarray, units: np.ndarray) -> np.ndarray:
        """Distance (m) from each of ``units`` to ``scene``; inf: it cannot reach it. The
        default is every responder's travel distance (:meth:`City.distances_to`)."""
        return self.model.city.distances_to(scene, self.xy[units], self.bank[units])

    def arrival_s(self, t: float, distance_m: float) -> float:
        """When a unit alerted at ``t`` reaches a scene ``distance_m`` away. The default: after
        the ``Config``'s ``turnout_s``, at its fixed ``speed_m_s`` (no congestion)."""
        return t + self.cfg.turnout_s + distance_m / self.cfg.speed_m_s

    # The fleet protocol.

    def alert(self, t: float, incident: int, needed: int) -> None:
        left = self._send(t, incident, needed)
        if left:
            self.waiting.append([incident, left])

    def event(self, t: float, incident: int, unit: int) -> None:
        if incident in self.serving:  # a unit turned back at the clearance records nothing
            self.model.ledger.arrived(self.name, incident, t)

    def clear(self, t: float, incident: int) -> None:
        for unit, sent, arrival in self.serving.pop(incident, []):
            self.busy[unit] = False
            self.model.assignments.append(
                Assignment(self.name, unit, incident, sent, arrival, max(t, arrival))
            )
        if self.waiting:  # (every incident's clearance comes here: most find none waiting)
            self.waiting = deque(w for w in self.waiting if w[0] != incident)
        while self.waiting and not self.busy.all():
            call = self.waiting[0]
            call[1] = self._send(t, call[0], call[1])
            if call[1]:
                break
            self.waiting.popleft()

    def positions(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """For the view: every unit at its station (it drives in no event of this model), and
        whether it is committed to an incident."""
        return self.xy, self.busy.copy()

    def _send(self, t: float, incident: int, needed: int) -> int:
        """Send up to ``needed`` free units, nearest first; how many are still needed."""
        free = np.flatnonzero(~self.busy)
        if not free.size:
            return needed
        dist = self.distances(self.model.incidents.xy[incident], free)
        reach = np.isfinite(dist)
        order = np.argsort(dist[reach], kind="stable")[:needed]
        for unit, d in zip(free[reach][order].tolist(), dist[reach][order].tolist(), strict=True):
            self.busy[unit] = True
            arrival = self.arrival_s(t, d)
            self.serving.setdefault(incident, []).append((unit, t, arrival))
            self.model.ledger.sent(self.name, incident)
            self.model.schedule(arrival, self, incident, unit)
        return needed - len(order)
