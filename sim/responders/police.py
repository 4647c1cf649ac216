"""Police patrol units based at stations (cars and foot patrols).

Each unit is a Mesa agent whose state lives in the fleet's columns. An available unit is at
its station, or patrolling one of its station's grids (position drawn per call, never
stepped), or driving back from its last scene (position along the grid path; a unit whose
way back crosses water is placed at the scene until it is home, which never makes it look
nearer than it is).
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.city import City
from sim.config import PoliceConfig, TravelConfig
from sim.rng import CounterRng, Purpose
from sim.vocab import UnitState

_STATE_CODE = {s: i for i, s in enumerate(UnitState)}


class PoliceUnit(mesa.Agent):
    """One patrol unit: a view on row ``index`` of its fleet."""

    def __init__(self, model: mesa.Model, fleet: PoliceFleet, index: int) -> None:
        super().__init__(model)
        self.fleet = fleet
        self.index = index

    @property
    def state(self) -> UnitState:
        return list(UnitState)[int(self.fleet.state[self.index])]

    @property
    def is_car(self) -> bool:
        return bool(self.fleet.is_car[self.index])

    @property
    def station_xy(self) -> tuple[float, float]:
        return tuple(self.fleet.station_xy[self.index])


class PoliceFleet:
    """All police units of a run, as columns."""

    def __init__(
        self,
        cfg: PoliceConfig,
        travel: TravelConfig,
        city: City,
        draws: CounterRng,
    ) -> None:
        self.cfg = cfg
        self.travel = travel
        self.city = city
        self.draws = draws
        n = cfg.units
        n_st = city.station_xy.shape[0]
        weight = np.bincount(
            city.station_of_grid,
            weights=np.bincount(
                city.grid_of_cell[city.grid_of_cell >= 0],
                weights=city.population[city.grid_of_cell >= 0],
                minlength=city.grid_centre_xy.shape[0],
            ),
            minlength=n_st,
        )
        self.station = _apportion(n, weight + 1e-9)
        self.station_xy = city.station_xy[self.station]
        n_cars = int(round(cfg.car_share * n))
        # Spread cars over stations: take units by their rank within their station first.
        first = np.searchsorted(self.station, self.station)
        rank = np.arange(n) - first
        self.is_car = np.zeros(n, bool)
        self.is_car[np.lexsort((self.station, rank))[:n_cars]] = True
        self.state = np.zeros(n, np.int8)  # UnitState code
        self.back_from = self.station_xy.copy()  # scene left on the way back
        self.left_at = np.full(n, -np.inf)  # when the unit left that scene
        # Grids of each station, flattened: station s owns grid_list[grid_start[s]:][:count].
        self.grid_list = np.argsort(city.station_of_grid, kind="stable")
        counts = np.bincount(city.station_of_grid, minlength=n_st)
        self.grid_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.grid_count = counts

    def __len__(self) -> int:
        return self.station.shape[0]

    def available(self) -> np.ndarray:
        return np.flatnonzero(self.state == _STATE_CODE[UnitState.AVAILABLE])

    def set_state(self, i: int, state: UnitState) -> None:
        self.state[i] = _STATE_CODE[state]

    def speed(self, ids: np.ndarray, t: float) -> np.ndarray:
        cong = self.travel.congestion_by_hour[int(t // 3600) % 24]
        return np.where(
            self.is_car[ids], self.travel.drive_m_s / cong, self.travel.foot_patrol_m_s
        )

    def positions(self, ids: np.ndarray, t: float, incident: int) -> np.ndarray:
        """Where each available unit is at time ``t`` (for call ``incident``)."""
        home = self._home(ids, incident)
        pos = home.copy()
        returning = np.flatnonzero(self.left_at[ids] > -np.inf)
        if returning.size == 0:
            return pos
        r = ids[returning]
        start = self.back_from[r]
        base = self.station_xy[r]
        same_bank = self.city.bank_of(start) == self.city.bank_of(base)
        travelled = (t - self.left_at[r]) * self.speed(r, t)
        total = np.abs(base - start).sum(axis=1)
        home_yet = travelled >= total
        along = _along_l_path(start, base, travelled)
        pos[returning] = np.where(
            home_yet[:, None], home[returning], np.where(same_bank[:, None], along, start)
        )
        return pos

    def _home(self, ids: np.ndarray, incident: int) -> np.ndarray:
        """Station, or a patrol spot in one of the station's grids."""
        if not self.cfg.patrol_when_idle or ids.size == 0:
            return self.station_xy[ids].copy()
        st = self.station[ids]
        count = self.grid_count[st]
        ug = self.draws.uniform(Purpose.POLICE_PATROL_GRID, ids, incident)
        pick = self.grid_start[st] + np.minimum((ug * count).astype(np.int64), count - 1)
        grid = self.grid_list[np.maximum(pick, 0)]
        jitter = np.stack(
            [
                self.draws.uniform(Purpose.POLICE_PATROL_X, ids, incident) - 0.5,
                self.draws.uniform(Purpose.POLICE_PATROL_Y, ids, incident) - 0.5,
            ],
            axis=1,
        )
        patrol = self.city.grid_centre_xy[grid] + jitter * self.city.cell_size_m
        return np.where((count > 0)[:, None], patrol, self.station_xy[ids])

    def call_handling(self, incident: int) -> float:
        u = self.draws.uniform1(Purpose.POLICE_CALL_HANDLING, 0, incident)
        return float(self.cfg.call_handling.quantile(u))


def _along_l_path(a: np.ndarray, b: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Point at distance ``d`` along the path from a to b that moves in x, then in y."""
    dx = b[:, 0] - a[:, 0]
    dy = b[:, 1] - a[:, 1]
    step_x = np.minimum(d, np.abs(dx))
    step_y = np.clip(d - np.abs(dx), 0, np.abs(dy))
    return np.stack([a[:, 0] + np.sign(dx) * step_x, a[:, 1] + np.sign(dy) * step_y], axis=1)


def _apportion(n: int, weight: np.ndarray) -> np.ndarray:
    """Assign n units to stations in proportion to weight (largest remainder, ties by index)."""
    quota = n * weight / weight.sum()
    count = np.floor(quota).astype(int)
    rest = n - count.sum()
    order = np.argsort(-(quota - count), kind="stable")
    count[order[:rest]] += 1
    return np.repeat(np.arange(weight.size), count)
