"""What both ambulance fleets share: the scenario section and where the ambulances stand."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class AmbulanceConfig(BaseModel):
    """``fleets.ambulance`` in a scenario.

    Ambulances wait at their stations; the nearest free one (Manhattan distance, ties to the
    lower ambulance) goes after a turnout time at a fixed speed. A call no ambulance is free
    for waits, first come first served, until one is released: when the incident it serves
    is cleared (it is then back at its station at once: a simplification).
    """

    model_config = ConfigDict(extra="forbid")
    stations: list[list[int]] = Field(min_length=1)  # [column, row] cells of the stations
    per_station: int = Field(1, ge=1)  # ambulances at each station
    speed_m_s: float = Field(12.0, gt=0)  # driving speed, m/s
    turnout_s: float = Field(60.0, ge=0)  # from the alert to leaving the station, s


def station_xy(model, config: AmbulanceConfig) -> np.ndarray:
    """Each ambulance's position (m), ambulances of one station next to each other."""
    cells = np.repeat(np.array(config.stations), config.per_station, axis=0)
    return model.city.cell_centre(cells[:, 0], cells[:, 1])


def travel_s(config: AmbulanceConfig, distance_m: float) -> float:
    """From the alert to the scene, s."""
    return config.turnout_s + distance_m / config.speed_m_s
