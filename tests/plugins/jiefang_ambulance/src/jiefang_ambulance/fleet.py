"""The ambulance fleet on arrays: one object holds every ambulance's state."""

from __future__ import annotations

from collections import deque

import numpy as np

from jiefang_ambulance.common import AmbulanceConfig, station_xy, travel_s
from sim.model.records import Assignment


class Ambulances:
    """Ambulances at fixed stations (:class:`AmbulanceConfig`), dispatched nearest first,
    calls queued first come first served."""

    name = "ambulance"
    Config = AmbulanceConfig

    def __init__(self, model, config: AmbulanceConfig) -> None:
        self.model, self.cfg = model, config
        self.xy = station_xy(model, config)
        self.busy = np.zeros(len(self.xy), bool)
        self.serving: dict[int, list[tuple[int, float, float]]] = {}  # (unit, sent, arrival)
        self.waiting: deque[list[int]] = deque()  # [incident, ambulances still needed]

    def alert(self, t: float, incident: int, needed: int) -> None:
        left = self._send(t, incident, needed)
        if left:
            self.waiting.append([incident, left])

    def event(self, t: float, incident: int, unit: int) -> None:
        if incident in self.serving:  # an ambulance turned back at the clearance records nothing
            self.model.ledger.arrived(self.name, incident, t)

    def clear(self, t: float, incident: int) -> None:
        for unit, sent, arrival in self.serving.pop(incident, []):
            self.busy[unit] = False
            self.model.assignments.append(
                Assignment(self.name, unit, incident, sent, arrival, max(t, arrival))
            )
        self.waiting = deque(w for w in self.waiting if w[0] != incident)
        while self.waiting and not self.busy.all():
            call = self.waiting[0]
            call[1] = self._send(t, call[0], call[1])
            if call[1]:
                break
            self.waiting.popleft()

    def positions(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """For the view: every ambulance's place (m) and whether it is busy (an ambulance
        is drawn at its station, busy or not: it drives in no event of this model)."""
        return self.xy, self.busy.copy()

    def _send(self, t: float, incident: int, needed: int) -> int:
        """Send up to ``needed`` free ambulances, nearest first; how many are still needed."""
        free = np.flatnonzero(~self.busy)
        scene = self.model.incidents.xy[incident]
        dist = np.abs(self.xy[free] - scene).sum(axis=1)
        chosen = free[np.argsort(dist, kind="stable")][:needed]
        for unit in chosen.tolist():
            self.busy[unit] = True
            arrival = t + travel_s(self.cfg, float(np.abs(self.xy[unit] - scene).sum()))
            self.serving.setdefault(incident, []).append((unit, t, arrival))
            self.model.ledger.sent(self.name, incident)
            self.model.schedule(arrival, self, incident, unit)
        return needed - len(chosen)
