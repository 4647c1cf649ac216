"""The ambulance fleet on arrays: one object holds every ambulance's state.

Its rules (the nearest free ambulances go, a call none is free for waits first come first
served, an ambulance is free again when its incident is cleared) are jiefang's
:class:`sim.model.fleets.StationFleet`; this class says only what is its own.
"""

from __future__ import annotations

import numpy as np

from jiefang_ambulance.common import AmbulanceConfig, station_xy, travel_s
from sim.model.fleets import StationFleet


class Ambulances(StationFleet):
    """Ambulances at fixed stations (:class:`AmbulanceConfig`), dispatched nearest first on
    the grid (Manhattan distance), calls queued first come first served."""

    name = "ambulance"
    Config = AmbulanceConfig

    def unit_xy(self) -> np.ndarray:
        return station_xy(self.model, self.cfg)

    def distances(self, scene: np.ndarray, units: np.ndarray) -> np.ndarray:
        return np.abs(self.xy[units] - scene).sum(axis=1)

    def arrival_s(self, t: float, distance_m: float) -> float:
        return t + travel_s(self.cfg, distance_m)  # as the Mesa agents' (agents.py)
