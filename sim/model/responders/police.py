"""Police patrol units based at stations (cars and foot patrols).

Each unit is a Mesa agent whose state lives in the fleet's columns. An available unit is at
its station, or patrolling its beat (a random point of its beat's land, redrawn every patrol
leg, never stepped), or driving back from its last scene (position along the grid path; a unit whose
way back crosses water is placed at the scene until it is home, which never makes it look
nearer than it is).
"""

from __future__ import annotations

import math

import mesa
import numpy as np

from sim.model.city import City
from sim.model.config import PoliceConfig, TravelConfig
from sim.model.rng import CounterRng, Purpose, split_uniforms
from sim.model.vocab import UnitState

_STATE_CODE = {s: i for i, s in enumerate(UnitState)}
#: Patrol legs whose spots are drawn together (one vectorised draw per block).
LEGS_PER_BLOCK = 256
#: Up to this many available units, dispatch runs in plain Python (same results, faster).
SMALL_FLEET = 24


class PoliceUnit(mesa.Agent):
    """One patrol unit as a Mesa agent: the interface viewers use (``model.agents_by_type``),
    reading row ``index`` of its fleet, where the simulation keeps the state as columns."""

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

    @property
    def incident(self) -> int:
        """The incident the unit is committed to (-1: none)."""
        return self.fleet.incident_of(self.index)

    @property
    def position(self) -> tuple[float, float]:
        """Where a viewer draws it: the scene it is sent to or at, else its patrol spot."""
        if self.incident >= 0:
            x, y = self.model.incidents.xy[self.incident]
        else:
            x, y = self.fleet.spots_at(self.model.time)[0][self.index]
        return float(x), float(y)


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
        self.station_bank = city.bank_of(self.station_xy)
        n_cars = round(cfg.car_share * n)
        # Spread cars over stations: take units by their rank within their station first.
        first = np.searchsorted(self.station, self.station)
        rank = np.arange(n) - first
        self.is_car = np.zeros(n, bool)
        self.is_car[np.lexsort((self.station, rank))[:n_cars]] = True
        self.state = np.zeros(n, np.int8)  # UnitState code
        self._units_of: dict[int, list[int]] = {}  # incident -> units sent to it
        self._sent_at: dict[int, float] = {}  # committed unit -> when sent
        self._incident_of: dict[int, int] = {}  # committed unit -> its incident
        self._arrived_at: dict[int, float] = {}
        self._legs_from = -1  # first patrol leg of the cached block of spots
        self._returning = False  # some unit may still be driving back from a scene
        self.small_fleet = SMALL_FLEET
        self.back_from = self.station_xy.copy()  # scene left on the way back
        self.back_from_bank = self.station_bank.copy()
        self.left_at = np.full(n, -np.inf)  # when the unit left that scene
        self._beats(rank)

    def _beats(self, rank: np.ndarray) -> None:
        """Each unit's beat: the grids of its station dealt out among the station's units
        (a unit covers several grids when they outnumber it, several units share a grid when
        they outnumber the grids), flattened to the beat's land cells, so a patrol spot is
        uniform over the beat's land. ``reach``: farthest a spot can be from the station, m."""
        city, n = self.city, len(self)
        n_st = city.station_xy.shape[0]
        grids_of = [np.flatnonzero(city.station_of_grid == s) for s in range(n_st)]
        units_at = np.bincount(self.station, minlength=n_st)
        land = np.flatnonzero(city.grid_of_cell.reshape(-1) >= 0)
        cells_of_grid = np.split(
            land[np.argsort(city.grid_of_cell.reshape(-1)[land], kind="stable")],
            np.cumsum(np.bincount(city.grid_of_cell.reshape(-1)[land],
                                  minlength=city.grid_centre_xy.shape[0]))[:-1],
        )  # fmt: skip
        self.grid_cells = cells_of_grid
        self.beat_grids: list[np.ndarray] = []
        beats = []
        for u in range(n):
            grids = grids_of[self.station[u]]
            k = units_at[self.station[u]]
            mine = (
                grids[rank[u] % grids.size :: k]
                if grids.size >= k
                else grids[[rank[u] % grids.size]]
            )
            self.beat_grids.append(mine)
            beats.append(
                np.concatenate([cells_of_grid[g] for g in mine]) if mine.size else land[:0]
            )
        self.beat_count = np.array([b.size for b in beats], np.int64)
        self.beat_start = np.concatenate([[0], np.cumsum(self.beat_count)[:-1]]).astype(np.int64)
        self.beat_cells = np.concatenate(beats) if beats else np.zeros(0, np.int64)
        self.reach = np.zeros(n)
        self.relocated: dict[int, int] = {}  # unit -> grid it covers instead of its beat
        self._home_reach = self.reach
        if self.cfg.patrol_when_idle and self.beat_cells.size:
            s = city.cell_size_m
            col, row = self.beat_cells % city.width, self.beat_cells // city.width
            owner = np.repeat(np.arange(n), self.beat_count)
            far = np.abs(col * s - self.station_xy[owner, 0]) + np.abs(
                row * s - self.station_xy[owner, 1]
            )
            np.maximum.at(self.reach, owner, far + 2 * s)
        self._home_reach = self.reach.copy()

    # ------------------------------------------------------------------ beats and cover
    def covers(self, u: int, grid: int) -> bool:
        """Whether unit ``u`` patrols ``grid`` now (its beat, or the grid it was moved to)."""
        if u in self.relocated:
            return self.relocated[u] == grid
        return bool(np.any(self.beat_grids[u] == grid))

    def relocate(self, u: int, grid: int | None) -> None:
        """Unit ``u`` patrols ``grid`` from now on (``None``: back to its own beat). A moved
        unit's patrol spot can be anywhere, so the dispatch bound stops pruning it."""
        if grid is None:
            self.relocated.pop(u, None)
            self.reach[u] = self._home_reach[u]
        else:
            self.relocated[u] = grid
            self.reach[u] = np.inf

    def __len__(self) -> int:
        return self.station.shape[0]

    # ------------------------------------------------------------------ commitments
    def commit(self, u: int, incident: int, t: float) -> None:
        """Unit ``u`` is sent to ``incident`` at ``t``."""
        self.state[u] = _STATE_CODE[UnitState.EN_ROUTE]
        self.left_at[u] = -np.inf
        self._units_of.setdefault(incident, []).append(u)
        self._incident_of[u] = incident
        self._sent_at[u] = t

    def reach_scene(self, u: int, t: float) -> None:
        self.state[u] = _STATE_CODE[UnitState.ON_SCENE]
        self._arrived_at[u] = t

    def release(self, incident: int) -> list[tuple[int, float, float]]:
        """(unit, sent, arrived) of every unit committed to ``incident``, now released."""
        out = [(u, self._sent_at.pop(u), self._arrived_at.pop(u))
               for u in self._units_of.get(incident, ())]  # fmt: skip
        for u, _, _ in out:
            self._incident_of.pop(u, None)
        return out

    def units_for(self, incident: int) -> list[int]:
        """Units sent to ``incident`` (so far, including any released)."""
        return self._units_of.get(incident, [])

    def incident_of(self, u: int) -> int:
        """The incident committed unit ``u`` was sent to (-1 if it is not committed)."""
        return self._incident_of.get(u, -1)

    def committed(self) -> dict[int, float]:
        """Units committed now: unit -> when it was sent."""
        return dict(self._sent_at)

    def available(self) -> np.ndarray:
        return np.flatnonzero(self.state == _STATE_CODE[UnitState.AVAILABLE])

    def set_state(self, i: int, state: UnitState) -> None:
        self.state[i] = _STATE_CODE[state]

    def leave_scene(self, i: int, t: float, scene: np.ndarray, scene_bank: int) -> None:
        """Unit ``i`` is free again at ``scene`` and drives back to its station."""
        self.state[i] = _STATE_CODE[UnitState.AVAILABLE]
        self.back_from[i] = scene
        self.back_from_bank[i] = scene_bank
        self.left_at[i] = t
        self._returning = True

    def speed(self, ids: np.ndarray, t: float) -> np.ndarray:
        cong = self.travel.congestion_by_hour[int(t // 3600) % 24]
        return np.where(self.is_car[ids], self.travel.drive_m_s / cong, self.travel.foot_patrol_m_s)

    def nearest(
        self, avail: np.ndarray, t: float, scene: np.ndarray, scene_bank: int, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` available units that reach ``scene`` first, with their travel times (s).

        Exact, with pruning: a patrolling unit is never nearer than its station's distance
        less its patrol reach (Manhattan is a lower bound on any route), so only units whose
        bound beats the n-th best exact time found so far are evaluated exactly. Ties go to
        the lower unit index.
        """
        if avail.size <= self.small_fleet:
            return self._nearest_small(avail, t, scene, scene_bank, n)
        if self._returning:
            self._settle(avail, t)
        speed = self.speed(avail, t)
        if avail.size <= 4 * n + 16:
            travel = self._exact(avail, t, scene, scene_bank) / speed
            # `avail` is ascending, so a stable sort breaks ties by the lower unit index.
            order = np.argsort(travel, kind="stable")[:n]
            return avail[order], travel[order]
        st = self.station_xy[avail]
        bound = np.abs(st[:, 0] - scene[0]) + np.abs(st[:, 1] - scene[1]) - self.reach[avail]
        bound = np.where(self.left_at[avail] > -np.inf, 0.0, np.maximum(bound, 0.0)) / speed
        first = np.argpartition(bound, 4 * n + 8)[: 4 * n + 8]
        travel = self._exact(avail[first], t, scene, scene_bank) / speed[first]
        cut = np.sort(travel)[n - 1]
        more = np.flatnonzero(bound <= cut)
        more = np.setdiff1d(more, first, assume_unique=True)
        if more.size:
            first = np.concatenate([first, more])
            extra = self._exact(avail[more], t, scene, scene_bank) / speed[more]
            travel = np.concatenate([travel, extra])
        order = np.lexsort((avail[first], travel))[:n]
        return avail[first][order], travel[order]

    def _nearest_small(self, avail, t, scene, scene_bank: int, n: int):
        """:meth:`nearest` for a handful of units, in plain Python: the same arithmetic in the
        same order as the vectorised path (so the same floats), without numpy's per-call cost,
        which dominates below a few dozen units. tests/test_rng.py checks both give the same
        records."""
        city = self.city
        spots, banks = self.spots_at(t)
        ids = avail.tolist()
        pos = spots[avail].tolist()
        bank = banks[avail].tolist()
        left = self.left_at[avail].tolist()
        car = self.is_car[avail].tolist()
        drive = self.travel.drive_m_s / self.travel.congestion_by_hour[int(t // 3600) % 24]
        foot = self.travel.foot_patrol_m_s
        if self._returning:  # as _settle: units whose drive back has ended are home
            for k, u in enumerate(ids):
                if left[k] > -math.inf:
                    ax, ay = self.back_from[u].tolist()
                    hx, hy = self.station_xy[u].tolist()
                    speed = drive if car[k] else foot
                    if (t - left[k]) * speed >= abs(hx - ax) + abs(hy - ay):
                        self.left_at[u] = left[k] = -math.inf
            self._returning = bool(np.any(self.left_at > -np.inf))
        sx, sy = float(scene[0]), float(scene[1])
        via = None  # bridge -> scene distances, computed only if a unit is across water
        travel = []
        for k, u in enumerate(ids):
            speed = drive if car[k] else foot
            x, y = pos[k]
            b = bank[k]
            if left[k] > -math.inf:  # still driving back from its last scene
                ax, ay = self.back_from[u].tolist()
                hx, hy = self.station_xy[u].tolist()
                d = (t - left[k]) * speed
                if self.back_from_bank[u] == self.station_bank[u]:
                    dx, dy = hx - ax, hy - ay
                    step_x = min(d, abs(dx))
                    step_y = min(max(d - abs(dx), 0.0), abs(dy))
                    x = ax + ((dx > 0) - (dx < 0)) * step_x
                    y = ay + ((dy > 0) - (dy < 0)) * step_y
                else:
                    x, y = ax, ay
                b = city.bank_at(x, y)
            if city.single_bank or b == scene_bank:
                dist = abs(x - sx) + abs(y - sy)
            else:
                if via is None:
                    via = self._bridge_legs(scene, scene_bank)
                dist = city.via_bridges_from(x, y, b, via)
            travel.append(dist / speed)
        order = sorted(range(len(ids)), key=travel.__getitem__)[:n]
        return avail[order], np.array([travel[j] for j in order])

    def _bridge_legs(self, scene: np.ndarray, scene_bank: int) -> list[float]:
        """h[i]: from bridge i to the scene, through further bridges where needed (the same
        sums as :meth:`sim.model.city.City.distances_to`)."""
        city = self.city
        sx, sy = float(scene[0]), float(scene[1])
        on_bank = set(city._bridges_of_bank[scene_bank])
        to_dst = [(abs(bx - sx) + abs(by - sy)) if j in on_bank else math.inf
                  for j, (bx, by) in enumerate(city._bridge_list)]  # fmt: skip
        return [min(d + e for d, e in zip(row, to_dst, strict=True))
                for row in city._bridge_dist_list]  # fmt: skip

    def _settle(self, ids: np.ndarray, t: float) -> None:
        """Units whose drive back has ended are home (patrolling) from now on."""
        back = ids[self.left_at[ids] > -np.inf]
        if back.size:
            travelled = (t - self.left_at[back]) * self.speed(back, t)
            home = travelled >= np.abs(self.station_xy[back] - self.back_from[back]).sum(axis=1)
            self.left_at[back[home]] = -np.inf
        self._returning = bool(np.any(self.left_at > -np.inf))

    def _exact(self, ids: np.ndarray, t: float, scene: np.ndarray, scene_bank: int) -> np.ndarray:
        """Travel distance from where each unit is at ``t`` to ``scene``, m."""
        spots, banks = self.spots_at(t)
        pos, bank = spots[ids], banks[ids]
        back = np.flatnonzero(self.left_at[ids] > -np.inf) if self._returning else ()
        if len(back):
            r = ids[back]
            start, base = self.back_from[r], self.station_xy[r]
            travelled = (t - self.left_at[r]) * self.speed(r, t)
            same_bank = self.back_from_bank[r] == self.station_bank[r]
            on_way = np.where(same_bank[:, None], _along_l_path(start, base, travelled), start)
            pos[back] = on_way
            bank[back] = self.city.bank_of(on_way)
        return self.city.distances_to(scene, pos, bank, scene_bank)

    def spots_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Every unit's patrol spot (and its bank) during the patrol leg containing ``t``."""
        leg = int(t // self.cfg.patrol_leg_s)
        first = leg - leg % LEGS_PER_BLOCK
        if first != self._legs_from:
            n = len(self)
            legs = np.repeat(np.arange(first, first + LEGS_PER_BLOCK), n)
            spots = self.patrol_spots(np.tile(np.arange(n), LEGS_PER_BLOCK), legs)
            self._legs_from = first
            self._spots = spots.reshape(LEGS_PER_BLOCK, n, 2)
            self._spot_bank = self.city.bank_of(spots).reshape(LEGS_PER_BLOCK, n)
        spots, banks = self._spots[leg - first], self._spot_bank[leg - first]
        if self.relocated and self.cfg.patrol_when_idle:
            spots, banks = spots.copy(), banks.copy()
            for u, grid in self.relocated.items():
                spots[u] = self._spot_in(self.grid_cells[grid], u, leg)
                banks[u] = self.city.bank_at(*spots[u].tolist())
        return spots, banks

    def _spot_in(self, cells: np.ndarray, u: int, leg: int) -> np.ndarray:
        """A uniform point of ``cells`` from unit ``u``'s patrol draw of ``leg``."""
        if cells.size == 0:
            return self.station_xy[u].copy()
        bits = self.draws.bits(Purpose.POLICE_PATROL, np.array([u]), np.array([leg]))
        uc, ux, uy = (float(v[0]) for v in split_uniforms(bits, 3))
        cell = cells[min(int(uc * cells.size), cells.size - 1)]
        s, w = self.city.cell_size_m, self.city.width
        return np.array([(cell % w + ux) * s, (cell // w + uy) * s])

    def patrol_spots(self, ids: np.ndarray, leg) -> np.ndarray:
        """Where each unit is during patrol leg ``leg``: its station, or a uniform point of
        its beat's land (a uniform cell of the beat, then a uniform point in the cell)."""
        if not self.cfg.patrol_when_idle or ids.size == 0 or self.beat_cells.size == 0:
            return self.station_xy[ids].copy()
        count = self.beat_count[ids]
        uc, ux, uy = split_uniforms(self.draws.bits(Purpose.POLICE_PATROL, ids, leg), 3)
        pick = self.beat_start[ids] + np.minimum((uc * count).astype(np.int64), count - 1)
        cell = self.beat_cells[np.clip(pick, 0, max(self.beat_cells.size - 1, 0))]
        s, w = self.city.cell_size_m, self.city.width
        patrol = np.stack([(cell % w + ux) * s, (cell // w + uy) * s], axis=1)
        return np.where((count > 0)[:, None], patrol, self.station_xy[ids])


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
