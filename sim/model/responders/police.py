"""Police patrol units based at stations (cars and foot patrols).

Each unit is a Mesa agent whose state lives in the fleet's columns. An available unit is at
its station, or patrolling its beat (a random point of its beat's land, redrawn every patrol
leg, never stepped), or driving back from its last scene (position along the grid path; a unit whose
way back crosses water is placed at the scene until it is home, which never makes it look
nearer than it is). On a road network (``city.roads``) travel follows the streets and a unit
driving back is placed at the scene it left until it is home.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import mesa
import numpy as np

from sim.model.city import City
from sim.model.config import PoliceConfig, TravelConfig, by_hour
from sim.model.rng import CounterRng, Purpose, split_uniforms
from sim.model.roads import quickest
from sim.model.spatial import (
    BOUND_SLACK,
    BucketGrid,
    along_way_home,
    drive_ended,
    earliest_home,
    nearest_in,
    ring_candidates,
)
from sim.model.vocab import UnitState

_STATE_CODE = {s: i for i, s in enumerate(UnitState)}
#: Patrol legs whose spots are drawn together (one vectorised draw per block), at most.
LEGS_PER_BLOCK = 256
#: Spots drawn per block at most: a large fleet draws fewer legs at a time (a spot is drawn
#: from its unit and leg alone, so the block's size changes no spot), which keeps a day of
#: 17,000 units from drawing 256 legs where it needs a hundred.
SPOTS_PER_BLOCK = 65_536
#: From this many units on, the search among all available units looks around the scene on
#: a grid (sim.model.spatial.BucketGrid), at a cost that does not grow with the fleet (about
#: 50 us a search); below, one vectorised bound over every unit costs less (15 us for 1,700
#: units, 110 us for 17,000). The same units and times either way.
GRID_FLEET = 6000
#: Units per bucket of that grid, on average over the city's extent.
UNITS_PER_BUCKET = 1.0
#: Up to this many available units, dispatch runs in plain Python (same results, faster).
SMALL_FLEET = 24
#: First street search radius of the nearest-unit search, m (it grows until it is exact).
ROAD_FIRST_M = 2000.0
_AVAILABLE, _EN_ROUTE, _ON_SCENE, _OFF_DUTY = (_STATE_CODE[s] for s in UnitState)
#: Up to this many units, a block's patrol spots are also kept as Python lists.
_LIST_BLOCK_UNITS = 64


# Not frozen: a frozen dataclass's __init__ sets each field through object.__setattr__, about
# 3 µs for these eight against 0.8 µs with slots, and a view is built at nearly every dispatch
# of a sub-district (a new patrol leg); nothing writes to one after it is built.
@dataclass(slots=True)
class LegView:
    """Where every unit patrols during one patrol leg: numpy columns for the vectorised
    bound, Python lists for the per-unit exact travel (read without numpy scalars)."""

    leg: int
    relocations: int  # PoliceFleet._relocations when taken
    x: np.ndarray
    y: np.ndarray
    xs: list[float]
    ys: list[float]
    bank: list[int]
    bank_array: np.ndarray


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


class _SyncedColumn:
    """A numpy column of the fleet, written from the units' Python state when it is read
    (:meth:`PoliceFleet._sync`): commits and releases change only Python values."""

    def __init__(self, attribute: str, doc: str) -> None:
        self.attribute = attribute
        self.__doc__ = doc

    def __get__(self, fleet: PoliceFleet | None, owner: type) -> np.ndarray:
        if fleet is None:
            return self  # type: ignore[return-value]
        fleet._sync()
        return getattr(fleet, self.attribute)

    def __set__(self, fleet: PoliceFleet, value: object) -> None:
        raise AttributeError(f"{self.attribute} is written only when read (_sync)")


class _BackColumns:
    """The units driving back as packed columns (the first ``count`` rows), kept as units
    leave scenes and come home or are sent again, so that what a dispatch does with them
    (settle those home, the bound of the rest) costs in proportion to them, not the fleet."""

    __slots__ = ("car", "count", "cx", "cy", "home", "ids", "left", "r", "row", "top")

    def __init__(self, n: int) -> None:
        self.count = 0
        self.row = np.full(n, -1, np.int64)  # each unit's row (-1: not driving back)
        self.ids = np.zeros(n, np.int64)
        self.left, self.home, self.top = np.zeros(n), np.zeros(n), np.zeros(n)
        self.car = np.zeros(n, bool)
        self.cx, self.cy, self.r = np.zeros(n), np.zeros(n), np.zeros(n)

    def put(self, u: int, left: float, home: float, top: float, car: bool,
            box: tuple[float, float, float]) -> None:  # fmt: skip
        """Unit ``u`` drives back: left its scene at ``left``, ``home`` m from its station,
        at most ``top`` m/s, its way within ``box`` (centre x, y, half-perimeter)."""
        k = int(self.row[u])
        if k < 0:
            k = self.row[u] = self.count
            self.count += 1
        self.ids[k], self.left[k], self.home[k], self.top[k], self.car[k] = u, left, home, top, car
        self.cx[k], self.cy[k], self.r[k] = box

    def drop(self, u: int) -> None:
        """Unit ``u`` drives back no more (home, or sent again): the last row takes its."""
        k = int(self.row[u])
        if k < 0:
            return
        self.row[u] = -1
        last = self.count - 1
        if k != last:
            v = int(self.ids[last])
            self.row[v] = k
            for col in (self.ids, self.left, self.home, self.top, self.car, self.cx, self.cy,
                        self.r):  # fmt: skip
                col[k] = col[last]
        self.count = last


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
        rank = self._place(cfg, city)
        self._unit_state(len(self))
        self._search_state(cfg, travel, city)
        self._beats(rank)
        if city.roads is not None:
            # A Manhattan reach bounds no street trip: the reference search prunes nothing.
            self.reach[:] = np.inf
            self._home_reach = self.reach.copy()
        # On streets: the leg view whose spots were snapped, and the scene each unit driving
        # back left, snapped (the search reads node and access leg of every candidate).
        self._road_view: LegView | None = None
        self._road_spots: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._back_node = np.full(len(self), -1, np.int64)
        self._back_access = np.full(len(self), np.inf)
        #: Units on duty (police.on_duty_share): the first ``on_duty`` of ``duty_order``.
        self.on_duty = len(self)
        self._due_off: set[int] = set()  # committed units going off duty once released

    def _place(self, cfg: PoliceConfig, city: City) -> np.ndarray:
        """Units to stations in proportion to the population their grids hold, cars spread
        over stations; returns each unit's rank within its station."""
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
        #: Units in the order that deals them out over stations (cars first): a roster keeps
        #: the first ones on duty, so the units off duty are spread over stations too.
        self.duty_order = np.lexsort((self.station, rank))
        self.is_car = np.zeros(n, bool)
        self.is_car[self.duty_order[:n_cars]] = True
        return rank

    def _unit_state(self, n: int) -> None:
        """Every unit available at its station, nothing committed."""
        # The unit columns below (state, the available mask, the way back) are numpy for the
        # vectorised search and the viewers, but the simulation keeps their values as Python
        # values (`_code`, `_is_free`, `_way_back`) and writes the columns only when read:
        # units changed since are in `_dirty` (see :meth:`_sync`).
        self._state_col = np.zeros(n, np.int8)  # UnitState code
        self._code = [_AVAILABLE] * n
        self._dirty: set[int] = set()
        self._units_of: dict[int, list[int]] = {}  # incident -> units sent to it
        self._sent_at: dict[int, float] = {}  # committed unit -> when sent
        self._incident_of: dict[int, int] = {}  # committed unit -> its incident
        self._arrived_at: dict[int, float] = {}
        self._legs_from = -1  # first patrol leg of the cached block of spots
        #: Patrol legs per block of spots (LEGS_PER_BLOCK, fewer for a large fleet).
        self.legs_per_block = int(min(LEGS_PER_BLOCK, max(SPOTS_PER_BLOCK // max(n, 1), 1)))
        self.grid_fleet = GRID_FLEET
        self._back_from_col = self.station_xy.copy()  # scene left on the way back
        self._back_from_bank_col = self.station_bank.copy()
        self._left_at_col = np.full(n, -np.inf)  # when the unit left that scene
        # The available units, kept as state changes (not searched for at every dispatch):
        # a mask for the vectorised bound, an ascending list for the plain-Python paths.
        self._free_col = np.ones(n, bool)
        self._is_free = [True] * n
        #: Available units, ascending (read only: kept by the fleet as states change).
        self.free_ids: list[int] = list(range(n))
        self._back: set[int] = set()  # units with a finite left_at: maybe still driving back
        # The same units' way back as Python values, read per unit by the small-fleet search:
        # (left_at, scene x, scene y, scene on the station's bank, Manhattan way, home_dist,
        # scene bank).
        self._way_back: dict[int, tuple[float, float, float, bool, float, float, int]] = {}
        self._back_cols: _BackColumns | None = None  # the same as packed columns (small_fleet)
        self.small_fleet = SMALL_FLEET
        self._station_bank_of = self.station_bank.tolist()
        self._back_mask_col = np.zeros(n, bool)  # the same as a mask
        self._home_dist_col = np.zeros(n)  # from the scene left to the station, m

    def _search_state(self, cfg: PoliceConfig, travel: TravelConfig, city: City) -> None:
        """What the search keeps between calls: speeds, the bridges as lists, the leg view
        and the bound's boxes (taken when first needed)."""
        # No unit driving back can be home before this (at the fastest speed there is): a
        # search before it settles nobody, so it skips looking (kept low, never too late).
        self._next_home = math.inf
        # Each unit's fastest speed in any hour (congestion only slows cars down).
        fastest_car = travel.drive_m_s / min(by_hour(travel.congestion_by_hour))
        self._top_speed = np.where(self.is_car, fastest_car, travel.foot_patrol_m_s)
        self._top_speed_of = self._top_speed.tolist()
        self._car = self.is_car.tolist()
        self._station_list = self.station_xy.tolist()
        self._view: LegView | None = None
        self._single = city.single_bank
        # The bridges as Python lists for the search (sim.model.spatial), and its scratch
        # list of bridge legs.
        self._bridges = (
            [float(bx) for bx, _ in city._bridge_list],
            [float(by) for _, by in city._bridge_list],
            city.bank_bridges.tolist(),
            city._bridge_dist_list,
        )
        self._via = [0.0] * len(city._bridge_list)
        self._water = (self._single, *self._bridges, self._via)  # nearest_in's last arguments
        # A small fleet's spots of the cached block as Python lists (x, y, bank per leg):
        # each leg's view takes its rows instead of converting its columns.
        self._spot_lists: tuple[list, list, list, np.ndarray, np.ndarray] | None = None
        # Each available unit's whereabouts as a box for the bound: its spot (r = 0), or the
        # box of its way home from its last scene (centre, half-perimeter r); cx = inf when
        # it is not available.
        self._cx = self._cy = self._r = np.zeros(0)
        self._boxes_of: LegView | None = None  # the view the boxes were taken in
        self._scratch_arrays: tuple[np.ndarray, np.ndarray] | None = None  # see _scratch
        # Every unit's spot of that view in buckets (the large-fleet search's grid), and
        # the bucket side: UNITS_PER_BUCKET units per bucket on average over the city.
        self._grid: BucketGrid | None = None
        self._ring_out = [0] * len(self)  # the grid search's candidates (ring_candidates), reused
        self._grid_view: LegView | None = None  # the view the grid was taken in
        w_m, h_m = city.extent_m
        self._bucket_m = max(math.sqrt(w_m * h_m * UNITS_PER_BUCKET / max(len(self), 1)),
                             city.cell_size_m)  # fmt: skip
        self._relocations = 0  # bumped by relocate(): patrol spots of the view are stale
        self._speed_of_hour: dict[int, tuple[float, np.ndarray]] = {}
        self._leg_s = cfg.patrol_leg_s
        self._foot = travel.foot_patrol_m_s

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
        self._relocations += 1

    def __len__(self) -> int:
        return self.station.shape[0]

    # ------------------------------------------------------------------ unit columns
    def _sync(self) -> None:
        """Write the numpy columns of the units changed since the last read."""
        dirty = self._dirty
        if not dirty:
            return
        code, is_free, way_back = self._code, self._is_free, self._way_back
        state, free, left_at = self._state_col, self._free_col, self._left_at_col
        back_mask = self._back_mask_col
        for u in dirty:
            state[u] = code[u]
            free[u] = is_free[u]
            way = way_back.get(u)
            if way is None:
                left_at[u] = -math.inf
                back_mask[u] = False
            else:
                left_at[u] = way[0]
                self._back_from_col[u] = way[1], way[2]
                self._back_from_bank_col[u] = way[6]
                back_mask[u] = True
                self._home_dist_col[u] = way[5]
        dirty.clear()

    @property
    def small_fleet(self) -> int:
        """Up to this many available units, a search looks at each in plain Python."""
        return self._small_fleet

    @small_fleet.setter
    def small_fleet(self, size: int) -> None:
        # The packed columns of units driving back serve the vectorised searches and the
        # street search alone: a grid city's fleet no larger than this never reads them.
        self._small_fleet = size
        self._back_changed()

    state = _SyncedColumn("_state_col", "Every unit's UnitState code.")
    left_at = _SyncedColumn(
        "_left_at_col", "When each unit driving back left its last scene (-inf: not driving back)."
    )
    back_from = _SyncedColumn(
        "_back_from_col", "The scene each unit driving back left (stale for the others)."
    )
    back_from_bank = _SyncedColumn("_back_from_bank_col", "Bank of the scene in back_from.")
    _free = _SyncedColumn("_free_col", "Available units as a mask.")
    _back_mask = _SyncedColumn("_back_mask_col", "Units driving back as a mask.")
    _home_dist = _SyncedColumn(
        "_home_dist_col", "From the scene each unit driving back left to its station, m."
    )

    # ------------------------------------------------------------------ commitments
    def commit(self, u: int, incident: int, t: float) -> None:
        """Unit ``u`` is sent to ``incident`` at ``t``."""
        if self._is_free[u] and self._boxes_of is None:  # _set_code inlined
            self._code[u] = _EN_ROUTE
            self._dirty.add(u)
            self._is_free[u] = False
            del self.free_ids[bisect.bisect_left(self.free_ids, u)]
        else:
            self._set_code(u, _EN_ROUTE)
        if u in self._back:
            self._back.discard(u)
            del self._way_back[u]
            if self._back_cols is not None:
                self._back_cols.drop(u)
        self._units_of.setdefault(incident, []).append(u)
        self._incident_of[u] = incident
        self._sent_at[u] = t

    def reach_scene(self, u: int, t: float) -> None:
        if self._is_free[u]:
            self._set_code(u, _ON_SCENE)
        else:  # _set_code of a unit staying unavailable
            self._code[u] = _ON_SCENE
            self._dirty.add(u)
        self._arrived_at[u] = t

    def release(self, incident: int) -> list[tuple[int, float, float]]:
        """(unit, sent, arrived) of every unit committed to ``incident``, now released."""
        # The incident's list goes with the release: kept to the end it cost about 100 B per
        # incident (a city year: 0.25 GB), and nothing asks for it after.
        out = [(u, self._sent_at.pop(u), self._arrived_at.pop(u))
               for u in self._units_of.pop(incident, ())]  # fmt: skip
        for u, _, _ in out:
            self._incident_of.pop(u, None)
        return out

    def units_for(self, incident: int) -> list[int]:
        """Units sent to ``incident`` so far and not yet released (by :meth:`release`)."""
        return self._units_of.get(incident, [])

    def incident_of(self, u: int) -> int:
        """The incident committed unit ``u`` was sent to (-1 if it is not committed)."""
        return self._incident_of.get(u, -1)

    def committed(self) -> dict[int, float]:
        """Units committed now: unit -> when it was sent."""
        return dict(self._sent_at)

    def available(self) -> np.ndarray:
        """Available units, ascending."""
        return np.flatnonzero(self._free)

    @property
    def busy_count(self) -> int:
        """How many units are committed to an incident (en route or on scene)."""
        return len(self._sent_at)

    @property
    def free_count(self) -> int:
        """How many units are available."""
        return len(self.free_ids)

    def free_units(self) -> list[int]:
        """Available units, ascending (a copy)."""
        return list(self.free_ids)

    def set_state(self, i: int, state: UnitState) -> None:
        self._set_code(int(i), _STATE_CODE[state])

    def _set_code(self, i: int, code: int) -> None:
        """Unit ``i`` (a Python int) takes state ``code``; the available sets follow."""
        self._code[i] = code
        self._dirty.add(i)
        free = code == _AVAILABLE
        if free != self._is_free[i]:
            self._is_free[i] = free
            if free:
                bisect.insort(self.free_ids, i)
            else:
                del self.free_ids[bisect.bisect_left(self.free_ids, i)]
            if self._boxes_of is not None:
                self._refresh_bound(i)

    # ------------------------------------------------------------------ roster
    def set_on_duty(self, n: int) -> bool:
        """The first ``n`` units of :attr:`duty_order` are on duty from now on: the others go
        off duty, at once if available (a unit driving back goes off where it is), else when
        released from their incident (:meth:`leave_scene`). Returns whether a unit came on
        duty (available, at its patrol spot), so waiting calls may be served."""
        self.on_duty = n
        came = False
        for k, u in enumerate(self.duty_order.tolist()):
            if k < n:
                self._due_off.discard(u)
                if self._code[u] == _OFF_DUTY:
                    self._set_code(u, _AVAILABLE)
                    came = True
            elif self._is_free[u]:
                self._go_off(u)
            elif self._code[u] != _OFF_DUTY:
                self._due_off.add(u)
        return came

    def _go_off(self, u: int) -> None:
        """Unit ``u``, free, goes off duty (out of every search until it comes back on)."""
        if u in self._back:
            self._home(u)
        self._set_code(u, _OFF_DUTY)

    def off_duty(self) -> list[int]:
        """Units off duty now, ascending (those released off duty included)."""
        return [u for u, code in enumerate(self._code) if code == _OFF_DUTY]

    def leave_scene(self, i: int, t: float, scene: np.ndarray, scene_bank: int) -> None:
        """Unit ``i`` is free again at ``scene`` and drives back to its station (or goes off
        duty there, if its hour on the roster has ended meanwhile)."""
        i = int(i)
        if self._due_off and i in self._due_off:
            self._due_off.discard(i)
            self._set_code(i, _OFF_DUTY)
            return
        ax, ay = scene.tolist()
        self._back.add(i)
        hx, hy = self._station_list[i]
        manhattan = abs(hx - ax) + abs(hy - ay)
        if self.city.roads is not None:
            node, access = self.city.roads.snap(scene)
            self._back_node[i], self._back_access[i] = node[0], access[0]
            home_dist = float(self.city.roads.home_distance(self.station_xy[i], scene))
        else:
            home_dist = manhattan
        self._way_back[i] = (t, ax, ay, scene_bank == self._station_bank_of[i], manhattan,
                             home_dist, int(scene_bank))  # fmt: skip
        if self._back_cols is not None:
            self._back_cols.put(i, t, home_dist, self._top_speed_of[i], self._car[i],
                                self._way_home_box(i))  # fmt: skip
        home = earliest_home(t, home_dist, self._top_speed_of[i])
        if home < self._next_home:
            self._next_home = home
        if self._is_free[i]:
            self._set_code(i, _AVAILABLE)
        else:  # _set_code inlined: the unit becomes available
            self._code[i] = _AVAILABLE
            self._dirty.add(i)
            self._is_free[i] = True
            bisect.insort(self.free_ids, i)
        if self._boxes_of is not None:
            self._refresh_bound(i)

    @property
    def _returning(self) -> bool:
        """Some unit may still be driving back from a scene."""
        return bool(self._back)

    def _refresh_bound(self, u: int) -> None:
        """Unit ``u``'s box of the bound (see ``_cx``), if the boxes are in use."""
        view = self._view
        if view is not None and self._boxes_of is view:
            if not self._is_free[u]:
                self._cx[u] = math.inf
            elif u in self._back:
                self._cx[u], self._cy[u], self._r[u] = self._way_home_box(u)
            else:
                self._cx[u], self._cy[u], self._r[u] = view.xs[u], view.ys[u], 0.0

    def _way_home_box(self, u: int) -> tuple[float, float, float]:
        """Centre and half-perimeter of a box holding every point of unit ``u``'s way home
        (the scene left alone while the way crosses water), padded against rounding."""
        _, ax, ay, same_bank, _, _, _ = self._way_back[u]
        if not same_bank:
            return ax, ay, 0.0
        hx, hy = self._station_list[u]
        return (ax + hx) / 2, (ay + hy) / 2, (abs(hx - ax) + abs(hy - ay)) / 2 + 1e-6

    def speed(self, ids: np.ndarray, t: float) -> np.ndarray:
        cong = by_hour(self.travel.congestion_by_hour)[int(t // 3600) % 24]
        return np.where(self.is_car[ids], self.travel.drive_m_s / cong, self.travel.foot_patrol_m_s)

    def nearest(
        self, avail: np.ndarray, t: float, scene: np.ndarray, scene_bank: int, n: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` of units ``avail`` (ascending ids of available units) that reach
        ``scene`` first, with their travel times (s, inf: cannot reach). Ties go to the lower
        unit index. Units in ``avail`` whose drive back has ended are home from now on."""
        ids = avail.tolist()
        if self.city.roads is not None:
            units, travel = self._nearest_roads(ids, t, scene, n)
        elif len(ids) <= self.small_fleet:
            units, travel = self._nearest_small(ids, t, scene, scene_bank, n)
        else:
            view = self._leg_view(t)
            chosen = set(ids)
            self._settle_back([u for u in self._back if u in chosen], t)
            cx = np.full(len(self), math.inf)
            cx[avail] = view.x[avail]
            cy, r = view.y.copy(), np.zeros(len(self))
            for u in self._back:
                if u in chosen:
                    cx[u], cy[u], r[u] = self._way_home_box(u)
            units, travel = self._nearest_pruned((cx, cy, r), t, scene, scene_bank, n)
        return np.array(units, np.int64), np.array(travel, float)

    def nearest_free(
        self, t: float, scene: np.ndarray, scene_bank: int, n: int
    ) -> tuple[list[int], list[float]]:
        """:meth:`nearest` among all available units, from the sets kept as states change;
        as lists (the dispatch reads them one by one)."""
        if self.city.roads is not None:
            return self._nearest_roads(self.free_ids, t, scene, n)
        if len(self.free_ids) <= self.small_fleet:
            return self._nearest_small(self.free_ids, t, scene, scene_bank, n)
        self._boxes(t)
        if self._back:
            self._settle_free_units(t)
        if len(self._is_free) < self.grid_fleet:  # one numpy pass over the fleet costs less
            return self._nearest_pruned((self._cx, self._cy, self._r), t, scene, scene_bank, n)
        return self._nearest_grid(t, scene, scene_bank, n)

    def _nearest_roads(
        self, ids: list[int], t: float, scene: np.ndarray, n: int
    ) -> tuple[list[int], list[float]]:
        """:meth:`nearest` on the road network: units driving back are home once their
        street trip home has taken its time, else at the scene they left; the street search
        grows from the scene until the n quickest are certain (:mod:`sim.model.roads`)."""
        if not ids:
            return [], []
        roads = self.city.roads
        assert roads is not None
        view = self._leg_view(t)
        speed = self._speeds(t)[1]
        # The kept list of available units is the mask's: no list-to-array copy.
        arr = np.flatnonzero(self._free) if ids is self.free_ids else np.array(ids, np.int64)
        if self._back and t >= self._next_home:
            back = arr[self._back_mask[arr]]
            home = back[drive_ended(t, self.left_at[back], speed[back], self._home_dist[back])]
            for u in home.tolist():
                self._home(u)
            self._next_home = self._earliest_home()
        if self._road_view is not view:  # every unit's spot snapped once per patrol leg
            spots = np.stack([view.x, view.y], axis=1)
            self._road_view, self._road_spots = view, (spots, *roads.snap(spots))
        assert self._road_spots is not None
        spots, node, access = self._road_spots
        pos, node, access = spots[arr], node[arr], access[arr]
        if self._back:
            back = self._back_mask[arr]
            if back.any():
                pos[back] = self.back_from[arr[back]]
                node[back], access[back] = self._back_node[arr[back]], self._back_access[arr[back]]
        time = roads.nearest_from(scene, pos, speed[arr], n, ROAD_FIRST_M, (node, access))
        order = quickest(time, arr, n)  # by time, ties to the lower unit
        return arr[order].tolist(), time[order].tolist()

    def _settle_back(self, back: list[int], t: float) -> None:
        """Settle units ``back`` (see :meth:`_settle_units`)."""
        if back and t >= self._next_home:
            self._settle_units(back, t, self._speeds(t)[0])

    def _settle_free_units(self, t: float) -> None:
        """:meth:`_settle_units` for every available unit, vectorised (the same floats)."""
        if t < self._next_home:
            return
        drive = self._speeds(t)[0]
        cols = self._back_cols  # the units driving back alone: no pass over the fleet
        if cols is None:  # a small fleet: one unit at a time
            is_free = self._is_free
            self._settle_units([u for u in sorted(self._back) if is_free[u]], t, drive)
            return
        k = cols.count
        speed = np.where(cols.car[:k], drive, self._foot)
        ended = drive_ended(t, cols.left[:k], speed, cols.home[:k])
        is_free = self._is_free
        homed = False
        for u in cols.ids[:k][ended].tolist():
            if is_free[u]:
                self._home(u)
                homed = True
        if homed:  # else _next_home stays a lower bound (it only gates this settling)
            self._next_home = self._earliest_home()

    def _earliest_home(self) -> float:
        """The earliest a unit now driving back can be home (inf: none is driving back)."""
        cols = self._back_cols
        if cols is None:
            return self._earliest_home_of_ways()
        k = cols.count
        if not k:
            return math.inf
        return float(earliest_home(cols.left[:k], cols.home[:k], cols.top[:k]).min())

    def _home(self, u: int) -> None:
        """Unit ``u`` is home from its last scene: patrolling from now on."""
        self._back.discard(u)
        del self._way_back[u]
        if self._back_cols is not None:
            self._back_cols.drop(u)
        self._dirty.add(u)
        if self._boxes_of is not None:
            self._refresh_bound(u)

    def _back_changed(self) -> None:
        """``_back`` and ``_way_back`` were written wholesale (the compiled loop's state
        handed back, or small_fleet set): the packed columns are taken again from them."""
        if self._small_fleet >= len(self) and self.city.roads is None:
            self._back_cols = None
            return
        cols = self._back_cols = _BackColumns(len(self))
        for u in sorted(self._back):
            way = self._way_back[u]
            cols.put(u, way[0], way[5], self._top_speed_of[u], self._car[u],
                     self._way_home_box(u))  # fmt: skip

    def _speeds(self, t: float) -> tuple[float, np.ndarray]:
        """Car speed in the hour of ``t`` and every unit's speed (as :meth:`speed`), m/s."""
        hour = int(t // 3600) % 24
        got = self._speed_of_hour.get(hour)
        if got is None:
            drive = self.travel.drive_m_s / by_hour(self.travel.congestion_by_hour)[hour]
            got = (drive, np.where(self.is_car, drive, self.travel.foot_patrol_m_s))
            self._speed_of_hour[hour] = got
        return got

    def _settle_units(self, ids, t: float, drive: float) -> None:
        """Units of ``ids`` whose drive back has ended are home (patrolling) from now on
        (:func:`sim.model.spatial.drive_ended`)."""
        if t < self._next_home:
            return
        foot = self.travel.foot_patrol_m_s
        way_back, car = self._way_back, self._car
        homed = False
        for u in ids:
            way = way_back.get(u)
            if way is None:  # not driving back (left_at is -inf)
                continue
            if drive_ended(t, way[0], drive if car[u] else foot, way[4]):
                self._home(u)
                homed = True
        if homed:  # else _next_home stays a lower bound (it only gates this loop)
            self._next_home = self._earliest_home_of_ways()

    def _earliest_home_of_ways(self) -> float:
        """:meth:`_earliest_home` from the ways back as Python values (the same float)."""
        top = self._top_speed_of
        return min(
            (earliest_home(way[0], way[5], top[u]) for u, way in self._way_back.items()),
            default=math.inf,
        )

    def settle_free(self, t: float) -> None:
        """Available units whose drive back has ended are home from now on (what a search
        among all available units does first)."""
        if self._back:
            self._settle_free_units(t)

    def free_regions(self, t: float, region_of_bank: np.ndarray) -> set[int]:
        """Regions (:attr:`sim.model.city.City.region_of_bank`) where an available unit is at
        ``t``, as a search would place it (a unit home from its last scene at its spot)."""
        if self.city.roads is not None:  # on streets every bank is of region 0
            return {0} if self.free_ids else set()
        view = self._leg_view(t)
        back = [u for u in self._back if self._free[u]]
        at_spot = self._free.copy()
        at_spot[back] = False
        regions = set(np.unique(region_of_bank[view.bank_array[at_spot]]).tolist())
        drive = self._speeds(t)[0]
        foot = self.travel.foot_patrol_m_s
        for u in back:
            ax, ay = self.back_from[u].tolist()
            hx, hy = self._station_list[u]
            speed = drive if self._car[u] else foot
            if drive_ended(t, float(self.left_at[u]), speed, abs(hx - ax) + abs(hy - ay)):
                regions.add(int(region_of_bank[view.bank[u]]))
            else:
                regions.add(int(region_of_bank[self._back_position(u, t, speed)[2]]))
        return regions

    def _back_position(self, u: int, t: float, speed: float) -> tuple[float, float, int]:
        """Where unit ``u``, driving back from its last scene, is at ``t`` (and its bank):
        along its way home, or at the scene left while its way crosses water."""
        left, ax, ay, same_bank, _, _, _ = self._way_back[u]
        if same_bank:
            hx, hy = self._station_list[u]
            ax, ay = along_way_home(ax, ay, hx, hy, (t - left) * speed)
        return ax, ay, 0 if self._single else self.city.bank_at(ax, ay)

    def _nearest_small(self, ids: list[int], t, scene, scene_bank: int, n: int):
        """:meth:`nearest` for a handful of units: every one of ``ids`` is looked at
        (:func:`sim.model.spatial.nearest_in`), in plain Python, which below a few dozen
        units costs less than numpy's per-call cost. Units whose drive back has ended are
        home first."""
        view = self._view
        if (
            view is None
            or view.leg != int(t // self._leg_s)
            or view.relocations != self._relocations
        ):
            view = self._leg_view(t)
        got = self._speed_of_hour.get(int(t // 3600) % 24)
        drive = (got or self._speeds(t))[0]
        back = self._back
        if back and t >= self._next_home:
            self._settle_units([u for u in ids if u in back], t, drive)
        return self._search(ids, t, scene, scene_bank, n, view, drive)

    def _search(self, ids: list[int], t: float, scene, scene_bank: int, n: int,
                view: LegView, drive: float) -> tuple[list[int], list[float]]:  # fmt: skip
        """:func:`sim.model.spatial.nearest_in` among ``ids`` (ascending), each where it is
        at ``t``: its patrol spot of ``view``, or along its way back from its last scene
        (written over its spot in the view's lists for the search, and put back)."""
        xs, ys, banks = view.xs, view.ys, view.bank
        back = self._back
        moved = [u for u in ids if u in back] if back else ()
        kept = []
        if moved:
            car, foot = self._car, self._foot
            for u in moved:
                kept.append((u, xs[u], ys[u], banks[u]))
                xs[u], ys[u], banks[u] = self._back_position(u, t, drive if car[u] else foot)
        best_u, best_dt = [0] * n, [0.0] * n
        sx, sy = scene.tolist()
        try:
            found = nearest_in(ids, len(ids), xs, ys, banks, self._car, drive, self._foot,
                               sx, sy, scene_bank, n, best_u, best_dt, *self._water)  # fmt: skip
        finally:
            for u, x, y, b in kept:
                xs[u], ys[u], banks[u] = x, y, b
        return best_u[:found], best_dt[:found]

    def _scratch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Two float arrays of ``n`` kept for the search's bounds (their contents are the
        caller's until its next call)."""
        kept = self._scratch_arrays
        if kept is None or kept[0].size != n:
            kept = self._scratch_arrays = (np.empty(n), np.empty(n))
        return kept

    def _nearest_pruned(
        self,
        box: tuple[np.ndarray, np.ndarray, np.ndarray],
        t: float,
        scene: np.ndarray,
        scene_bank: int,
        n: int,
    ):
        """:meth:`nearest` for many units: the candidates narrowed by a bound first, then
        :meth:`_search` among them. A unit is never nearer in time than the Manhattan
        distance from the scene to its box over its speed (a route through bridges is no
        shorter): the ``n`` best bounds are searched exactly, and every unit whose bound is
        within the ``n``-th of their times joins the search. ``box``: each candidate's box
        (see ``_cx``; cx = inf: not a candidate). Units driving back are settled already."""
        drive, speed = self._speeds(t)
        cx, cy, r = box
        sx, sy = float(scene[0]), float(scene[1])
        # At a spot (r = 0) the bound is the exact time when no water is crossed:
        # (|cx - sx| + |cy - sy| - r) / speed, in two arrays kept for it (no allocation)
        bound, seed_bound = self._scratch(cx.size)
        np.abs(np.subtract(cx, sx, out=bound), out=bound)
        bound += np.abs(np.subtract(cy, sy, out=seed_bound), out=seed_bound)
        bound -= r
        bound /= speed
        view = self._view
        assert view is not None
        seeds = []
        np.copyto(seed_bound, bound)
        for _ in range(n):  # the n best bounds (argmin: cheaper than a partition for a few)
            u = int(seed_bound.argmin())
            if seed_bound[u] == math.inf:
                break
            seeds.append(u)
            seed_bound[u] = math.inf
        first = self._search(sorted(seeds), t, scene, scene_bank, n, view, drive)
        cut = first[1][n - 1] if len(first[1]) >= n else math.inf
        more = np.flatnonzero(bound <= cut * (1 + BOUND_SLACK) if cut < math.inf
                              else bound < math.inf)  # fmt: skip
        if more.size == len(seeds):  # the seeds alone (they are within the cut)
            return first
        return self._search(more.tolist(), t, scene, scene_bank, n, view, drive)

    def _nearest_grid(
        self, t: float, scene: np.ndarray, scene_bank: int, n: int
    ) -> tuple[list[int], list[float]]:
        """:meth:`nearest_free` for many units, at a cost that does not grow with the fleet.

        The available units at their spots that may be among the first come from the
        buckets of the view's grid (:class:`sim.model.spatial.BucketGrid`), ring by ring
        around the scene's bucket, within a cut on the ``n``-th best time
        (:func:`sim.model.spatial.ring_candidates`, which the compiled loop calls too);
        units driving back join where their box's bound is within the cut (as in
        :meth:`_nearest_pruned`). The one exact search,
        :func:`sim.model.spatial.nearest_in`, runs among those, so the result is that of
        every available unit (tests/test_nearest.py). Units driving back are settled
        already and the boxes taken (:meth:`_boxes`)."""
        grid, view, cols = self._grid, self._view, self._back_cols
        assert grid is not None and view is not None and cols is not None
        drive, foot = self._speeds(t)[0], self._foot
        sx, sy = float(scene[0]), float(scene[1])
        out, cut_t, cut_u = self._ring_out, [0.0] * n, [0] * n
        count, limit = ring_candidates(grid.starts, grid.members, grid.nx, grid.ny, grid.size,
                                       view.xs, view.ys, view.bank, self._is_free, cols.row,
                                       self._car, drive, foot, sx, sy, scene_bank, n,
                                       self._single, out, cut_t, cut_u)  # fmt: skip
        more = out[:count]
        if cols.count:  # units driving back whose box may beat the cut
            m = cols.count
            to_box = np.abs(cols.cx[:m] - sx) + np.abs(cols.cy[:m] - sy) - cols.r[:m]
            bound = to_box / np.where(cols.car[:m], drive, foot)
            near = cols.ids[:m][bound <= limit if limit < math.inf else bound < math.inf]
            more.extend(u for u in near.tolist() if self._is_free[u])
        more.sort()
        return self._search(more, t, scene, scene_bank, n, view, drive)

    def _leg_view(self, t: float) -> LegView:
        """The patrol spots of the leg containing ``t`` (cached until the leg changes or a
        unit is moved to another grid), and the bound's positions for it."""
        leg = int(t // self.cfg.patrol_leg_s)
        view = self._view
        if view is None or view.leg != leg or view.relocations != self._relocations:
            if self.station.shape[0] <= _LIST_BLOCK_UNITS and not (  # len(self)
                self.relocated and self.cfg.patrol_when_idle
            ):
                # spots_at without a relocated unit: rows of the cached block
                first = leg - leg % self.legs_per_block
                if first != self._legs_from:
                    self.spots_at(t)
                lists = self._spot_lists
                if lists is None:  # the same values as each leg's columns' tolist()
                    x_blk, y_blk = self._spots[:, :, 0], self._spots[:, :, 1]
                    lists = (x_blk.tolist(), y_blk.tolist(), self._spot_bank.tolist(),
                             x_blk, y_blk)  # fmt: skip
                    self._spot_lists = lists
                k = leg - first
                x, y, banks = lists[3][k], lists[4][k], self._spot_bank[k]  # views, as before
                xs, ys, bank = lists[0][k], lists[1][k], lists[2][k]
            else:
                spots, banks = self.spots_at(t)
                x, y = spots[:, 0], spots[:, 1]
                xs, ys, bank = x.tolist(), y.tolist(), banks.tolist()
            view = LegView(leg, self._relocations, x, y, xs, ys, bank, banks)
            self._view = view
        return view

    def _boxes(self, t: float) -> None:
        """Every unit's box of the bound (see ``_cx``) in the leg containing ``t``: taken
        again when the leg changes, then kept as states change; for a fleet the grid search
        serves (``grid_fleet``), the grid of the leg's spots instead."""
        view = self._leg_view(t)
        if len(self) >= self.grid_fleet:  # the grid search's buckets instead (no boxes kept)
            grid = self._grid
            if grid is None or self._grid_view is not view:
                w_m, h_m = self.city.extent_m
                self._grid = BucketGrid(view.x, view.y, self._bucket_m, w_m, h_m)
                self._grid_view = view
            return
        if self._boxes_of is not view:
            self._cx = np.where(self._free & ~self._back_mask, view.x, np.inf)
            self._cy, self._r = view.y.copy(), np.zeros(len(self))
            self._boxes_of = view
            for u in self._back:
                self._refresh_bound(u)

    def spots_at(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Every unit's patrol spot (and its bank) during the patrol leg containing ``t``."""
        leg = int(t // self.cfg.patrol_leg_s)
        per_block = self.legs_per_block
        first = leg - leg % per_block
        if first != self._legs_from:
            n = len(self)
            legs = np.repeat(np.arange(first, first + per_block), n)
            spots = self.patrol_spots(np.tile(np.arange(n), per_block), legs)
            self._legs_from = first
            self._spots = spots.reshape(per_block, n, 2)
            self._spot_bank = self.city.bank_of(spots).reshape(per_block, n)
            self._spot_lists = None
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
        row, col = np.divmod(cell, self.city.width)
        s = self.city.cell_size_m
        # (col + ux) * s and (row + uy) * s written into their columns (a city year draws
        # 35,000 legs of every unit: no stacked copies)
        patrol = np.empty((ids.size, 2))
        np.multiply(col + ux, s, out=patrol[:, 0])
        np.multiply(row + uy, s, out=patrol[:, 1])
        beatless = count == 0  # units whose beat has no land stay at their station
        if beatless.any():
            patrol[beatless] = self.station_xy[ids[beatless]]
        return patrol


def _apportion(n: int, weight: np.ndarray) -> np.ndarray:
    """Assign n units to stations in proportion to weight (largest remainder, ties by index)."""
    quota = n * weight / weight.sum()
    count = np.floor(quota).astype(int)
    rest = n - count.sum()
    order = np.argsort(-(quota - count), kind="stable")
    count[order[:rest]] += 1
    return np.repeat(np.arange(weight.size), count)
