"""Registered volunteers ("Guangzhou Jiefang") as arrays with a spatial index.

Hundreds of thousands of volunteers are held as columns, not objects: home position, duty
rank and busy-until. A volunteer is on duty at hour ``h`` when its duty rank is below the
scenario's on-duty share for ``h`` (so the share is met in expectation every hour, and the
same committed core is on duty first). On duty, a volunteer patrols within
``patrol_radius_m`` of home; its position is drawn when needed, never stepped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from sim.city import City
from sim.config import VolunteerConfig
from sim.rng import CounterRng, Purpose


@dataclass(frozen=True)
class Volunteer:
    """A read-only view of one volunteer (for inspection and the browser view)."""

    unique_id: int
    home_xy: tuple[float, float]
    duty_rank: float
    busy_until_s: float


class VolunteerPool:
    """All volunteers of a run."""

    def __init__(
        self, cfg: VolunteerConfig, city: City, rng: np.random.Generator, draws: CounterRng
    ) -> None:
        self.cfg = cfg
        self.city = city
        self.draws = draws
        self.duty_share = np.asarray(cfg.on_duty_share, dtype=float)
        # One row of uniforms per volunteer, drawn row by row: the first n volunteers of a
        # larger pool are exactly the volunteers of a pool of n (coupled staffing levels).
        u = rng.random((cfg.count, 4))
        weights = city.population.reshape(-1)
        cdf = np.cumsum(weights) / weights.sum() if weights.sum() > 0 else None
        if cdf is None or cfg.count == 0:
            self.home_xy = np.zeros((0, 2))
        else:
            cells = np.minimum(np.searchsorted(cdf, u[:, 0], side="right"), cdf.size - 1)
            col, row = cells % city.width, cells // city.width
            s = city.cell_size_m
            self.home_xy = np.stack([(col + u[:, 1]) * s, (row + u[:, 2]) * s], axis=1)
        self.duty_rank = u[:, 3].copy()
        self.home_bank = city.bank_of(self.home_xy) if cfg.count else np.zeros(0, np.int32)
        self.busy_until = np.zeros(cfg.count)
        self._tree = cKDTree(self.home_xy) if cfg.count else None

    def __len__(self) -> int:
        return self.home_xy.shape[0]

    def __getitem__(self, i: int) -> Volunteer:
        return Volunteer(
            i, tuple(self.home_xy[i]), float(self.duty_rank[i]), float(self.busy_until[i])
        )

    def on_duty_share(self, hour: int) -> float:
        return float(self.duty_share[hour])

    def on_duty(self, hour: int) -> np.ndarray:
        return self.duty_rank < self.duty_share[hour]

    def nearby(self, scene: np.ndarray, radius_m: float, t: float, incident: int):
        """Free on-duty volunteers whose patrol position is within ``radius_m`` (straight line).

        Returns (ids, positions) with positions drawn for this incident.
        """
        if self._tree is None or radius_m <= 0 and self.cfg.witness_radius_m <= 0:
            return np.zeros(0, np.int64), np.zeros((0, 2))
        hour = int(t // 3600) % 24
        r = self.cfg.patrol_radius_m
        ids = np.asarray(self._tree.query_ball_point(scene, radius_m + r * np.sqrt(2)), np.int64)
        if ids.size == 0:
            return ids, np.zeros((0, 2))
        ids.sort()
        ids = ids[(self.duty_rank[ids] < self.duty_share[hour]) & (self.busy_until[ids] <= t)]
        pos = self.position(ids, incident)
        keep = np.hypot(pos[:, 0] - scene[0], pos[:, 1] - scene[1]) <= radius_m
        return ids[keep], pos[keep]

    def position(self, ids: np.ndarray, incident: int) -> np.ndarray:
        """Where each volunteer is, patrolling near home, when incident ``incident`` happens."""
        r = self.cfg.patrol_radius_m
        dx = (2 * self.draws.uniform(Purpose.VOLUNTEER_OFFSET_X, ids, incident) - 1) * r
        dy = (2 * self.draws.uniform(Purpose.VOLUNTEER_OFFSET_Y, ids, incident) - 1) * r
        return self.city.clip(self.home_xy[ids] + np.stack([dx, dy], axis=1))

    def accepts(self, ids: np.ndarray, incident: int) -> np.ndarray:
        return self.draws.uniform(Purpose.VOLUNTEER_ACCEPT, ids, incident) < self.cfg.acceptance

    def response_delay(self, ids: np.ndarray, incident: int) -> np.ndarray:
        u = self.draws.uniform(Purpose.VOLUNTEER_DELAY, ids, incident)
        return self.cfg.response_delay.quantile(u)

    def occupy(self, ids: np.ndarray, until_s: np.ndarray) -> None:
        self.busy_until[ids] = until_s
