"""Registered volunteers ("Guangzhou Jiefang") as arrays with a spatial index.

Hundreds of thousands of volunteers are held as columns, not objects: home position, duty
rank and busy-until. A volunteer is on duty at hour ``h`` when its duty rank is below the
scenario's on-duty share for ``h`` (so the share is met in expectation every hour, and the
same committed core is on duty first). On duty, a volunteer patrols within
``patrol_radius_m`` of home; its position is drawn when needed, never stepped.

Volunteers recruited by cell (``volunteers.recruited``) come after the ``count`` volunteers
spread by residents, with their own draws (:data:`RECRUITED_KEY`), and behave the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sim.model.city import City
from sim.model.config import VolunteerConfig
from sim.model.rng import CounterRng, Purpose, split_uniforms
from sim.model.spatial import bucket_of

#: Spawn-key word appended to the placement stream's key for the homes and duty ranks of
#: recruited volunteers: a child stream of its own, so that recruits never shift a draw of
#: the volunteers spread by residents (or anything else), and the volunteers spread by
#: residents never shift a recruit's.
RECRUITED_KEY = 0x7265637275697400  # "recruit\0"


@dataclass(frozen=True)
class Volunteer:
    """A read-only view of one volunteer (for inspection and the browser view)."""

    unique_id: int
    home_xy: tuple[float, float]
    duty_rank: float
    busy_until_s: float


#: Volunteers placed per chunk of the homes' build: bounds its scratch arrays (a few tens of
#: MB) whatever the count; the draws are the same (the stream is read row by row either way).
HOME_CHUNK = 1 << 18

#: Smallest edge (m) of the squares the search near a scene reads (DutyGrid), and the most
#: squares a city is cut into (a larger city gets larger squares).
GRID_M = 400.0
GRID_SQUARES = 1 << 16


@dataclass(frozen=True)
class DutyGrid:
    """The volunteers ever on duty filed by square (``size`` m, ``nx`` by ``ny`` squares over
    the city), each square's by duty rank: those on duty at any share are a prefix of each
    square's, so a search near a scene reads slices of on-duty volunteers, never the others.

    Slot ``k`` (of ``starts[b] <= k < starts[b + 1]`` for square ``b = by * nx + bx``) is
    volunteer ``ids[k]``, at home (``x[k]``, ``y[k]``), of duty rank ``rank[k]``; squares hold
    the homes with ``bx * size <= x < (bx + 1) * size`` (and alike in y), the first and last
    of each axis reaching on to infinity. Read-only."""

    size: float
    nx: int
    ny: int
    ids: np.ndarray
    x: np.ndarray
    y: np.ndarray
    rank: np.ndarray
    square: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, xy: np.ndarray, rank: np.ndarray, ids: np.ndarray, extent_m) -> DutyGrid:
        """The grid of the volunteers ``ids`` at homes ``xy`` of duty ranks ``rank``."""
        w, h = float(extent_m[0]), float(extent_m[1])
        # At least GRID_M, and squares enough for a city of any size at most GRID_SQUARES.
        size = max(GRID_M, math.sqrt(w * h / GRID_SQUARES))
        nx, ny = max(math.ceil(w / size), 1), max(math.ceil(h / size), 1)
        square = bucket_of(xy[:, 0], xy[:, 1], size, nx, ny)
        order = np.lexsort((ids, rank, square))  # by square, then rank (then volunteer)
        starts = np.concatenate([[0], np.cumsum(np.bincount(square, minlength=nx * ny))])
        grid = cls(size, nx, ny, ids[order], xy[order, 0], xy[order, 1], rank[order],
                   square[order], starts)  # fmt: skip
        for v in (grid.ids, grid.x, grid.y, grid.rank, grid.square, grid.starts):
            v.flags.writeable = False
        return grid


@dataclass(frozen=True)
class VolunteerHomes:
    """What of a pool depends on its layout alone (the placement stream, the city and
    ``count``, ``recruited`` and the largest ``on_duty_share``): the homes, duty ranks
    and the spatial index of those ever on duty. Runs on one layout share it
    (sim.model.city_cache.layout_part), read-only."""

    home_xy: np.ndarray
    duty_rank: np.ndarray
    tree_ids: np.ndarray
    grid: DutyGrid
    bank_of: Callable[[np.ndarray], np.ndarray]

    @property
    def home_bank(self) -> np.ndarray:
        """The bank of each home (worked out when asked: the runs never need it)."""
        n = self.home_xy.shape[0]
        return self.bank_of(self.home_xy) if n else np.zeros(0, np.int32)


def volunteer_homes(cfg: VolunteerConfig, city: City, rng: np.random.Generator) -> VolunteerHomes:
    """The homes of ``cfg``'s volunteers in ``city``, drawn from the placement stream ``rng``."""
    # One row of uniforms per volunteer, drawn row by row: the first n volunteers of a
    # larger pool are exactly the volunteers of a pool of n (coupled staffing levels).
    # Drawn and placed a chunk of rows at a time: the same rows, without an (n, 4) array.
    weights = city.population.reshape(-1)
    cdf = np.cumsum(weights) / weights.sum() if weights.sum() > 0 else None
    home_xy = np.zeros((cfg.count, 2) if cdf is not None else (0, 2))
    duty_rank = np.empty(cfg.count)
    for lo in range(0, cfg.count, HOME_CHUNK):
        hi = min(lo + HOME_CHUNK, cfg.count)
        u = rng.random((hi - lo, 4))
        duty_rank[lo:hi] = u[:, 3]
        if cdf is not None:
            _place(home_xy[lo:hi], u, cdf, city)
    if cfg.recruited:
        more_xy, rank = _recruited(cfg, city, rng)
        home_xy = np.concatenate([home_xy, more_xy])
        duty_rank = np.concatenate([duty_rank, rank])
    # Only volunteers ever on duty can answer; the grid holds just them (`tree_ids`).
    tree_ids = np.flatnonzero(duty_rank < np.asarray(cfg.on_duty_share, dtype=float).max())
    if home_xy.shape[0] < duty_rank.shape[0]:  # no homes (a city without residents)
        tree_ids = tree_ids[:0]
    grid = DutyGrid.of(home_xy[tree_ids], duty_rank[tree_ids], tree_ids, city.extent_m)
    return VolunteerHomes(home_xy, duty_rank, tree_ids, grid, city.bank_of)


def _place(out: np.ndarray, u: np.ndarray, cdf: np.ndarray, city: City) -> None:
    """Homes into ``out`` from rows of uniforms ``u``: a cell by population (column 0),
    then a uniform spot in it (columns 1 and 2)."""
    cells = np.minimum(np.searchsorted(cdf, u[:, 0], side="right"), cdf.size - 1)
    col, row = cells % city.width, cells // city.width
    s = city.cell_size_m
    out[:, 0] = (col + u[:, 1]) * s
    out[:, 1] = (row + u[:, 2]) * s


class VolunteerPool:
    """All volunteers of a run (their homes from ``homes``, or drawn from ``rng``)."""

    def __init__(
        self,
        cfg: VolunteerConfig,
        city: City,
        rng: np.random.Generator | None,
        draws: CounterRng,
        homes: VolunteerHomes | None = None,
    ) -> None:
        self.cfg = cfg
        self.city = city
        self.draws = draws
        self.duty_share = np.asarray(cfg.on_duty_share, dtype=float)
        if homes is None:
            if rng is None:
                raise ValueError("a volunteer pool needs its homes or the stream to draw them")
            homes = volunteer_homes(cfg, city, rng)
        self.homes = homes
        self.home_xy = homes.home_xy
        self.duty_rank = homes.duty_rank
        self.tree_ids = homes.tree_ids
        self.grid = homes.grid
        # Busy-until (s) of the volunteers ever on duty, by their place in `tree_ids` (no
        # other can be sent): written, not zeroed on demand page by page, so a first
        # commitment costs no page fault in a pool of millions.
        self._busy = np.full(self.tree_ids.size, 0.0)
        # On duty in each square at each distinct share of the day (made on first search).
        self._levels, self._hour_level = np.unique(self.duty_share, return_inverse=True)
        self._on_counts: np.ndarray | None = None

    @property
    def home_bank(self) -> np.ndarray:
        """The bank of each home (worked out when asked)."""
        return self.homes.home_bank

    def __len__(self) -> int:
        return self.home_xy.shape[0]

    def __getitem__(self, i: int) -> Volunteer:
        k = int(np.searchsorted(self.tree_ids, i))
        busy = float(self._busy[k]) if k < self.tree_ids.size and self.tree_ids[k] == i else 0.0
        return Volunteer(i, tuple(self.home_xy[i]), float(self.duty_rank[i]), busy)

    @property
    def busy_until(self) -> np.ndarray:
        """Busy-until (s) of every volunteer, 0 for the free (a fresh array: for views)."""
        out = np.zeros(len(self))
        out[self.tree_ids] = self._busy
        return out

    def free_at(self, ids: np.ndarray, t: float) -> np.ndarray:
        """Whether each of volunteers ``ids`` (ever on duty: candidates) is free at ``t``."""
        return self._busy[self._places(ids)] <= t

    def on_duty(self, hour: int) -> np.ndarray:
        return self.duty_rank < self.duty_share[hour]

    def near(
        self, scenes: np.ndarray, hours: np.ndarray, half: float | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row, slot of :attr:`grid`) for every volunteer on duty in hour ``hours[row]`` whose
        home is in the squares of the grid that meet the square of half-side ``half`` (or
        ``half[row]``) around ``scenes[row]`` (every on-duty home within it in x and in y
        among them), rows ascending."""
        g = self.grid
        n = scenes.shape[0]
        if n == 0 or g.ids.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        inv = 1.0 / g.size
        bx0, by0 = (np.clip(np.floor((scenes[:, a] - half) * inv), 0, m - 1).astype(np.int64)
                    for a, m in ((0, g.nx), (1, g.ny)))  # fmt: skip
        bx1, by1 = (np.clip(np.floor((scenes[:, a] + half) * inv), 0, m - 1).astype(np.int64)
                    for a, m in ((0, g.nx), (1, g.ny)))  # fmt: skip
        wide = bx1 - bx0 + 1
        per = wide * (by1 - by0 + 1)
        row = np.repeat(np.arange(n), per)
        k = np.arange(row.size) - np.repeat(np.cumsum(per) - per, per)
        wide = wide[row]
        square = (by0[row] + k // wide) * g.nx + bx0[row] + k % wide
        count = self._on_in_squares()[self._hour_level[hours[row]], square]
        # Each (row, square) reads the square's first `count` slots (its on-duty volunteers).
        end = np.cumsum(count)
        slot = np.arange(end[-1] if end.size else 0) + np.repeat(g.starts[square] - end + count,
                                                                 count)  # fmt: skip
        return np.repeat(row, count), slot

    def _on_in_squares(self) -> np.ndarray:
        """(level, square): how many volunteers of each square are on duty at each distinct
        share of the day (the first that many of the square's slots: ranks ascend)."""
        if self._on_counts is None:
            g = self.grid
            self._on_counts = np.stack([
                np.bincount(g.square[g.rank < v], minlength=g.nx * g.ny) for v in self._levels
            ])  # fmt: skip
        return self._on_counts

    def positions(self, ids: np.ndarray, incidents) -> np.ndarray:
        """Where each volunteer is, patrolling near home, when the paired incident happens."""
        home = self.home_xy[ids]
        return np.stack(self.patrol_spots(ids, incidents, home[:, 0], home[:, 1]), axis=-1)

    def patrol_spots(
        self, ids: np.ndarray, incidents, home_x: np.ndarray, home_y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`positions` as columns (x, y), given the homes of ``ids`` (as the search
        near a scene reads them, in the grid's order: no gather from the whole pool)."""
        r = self.cfg.patrol_radius_m
        ux, uy = split_uniforms(self.draws.bits(Purpose.VOLUNTEER_POSITION, ids, incidents), 2)
        return self.city.clip_xy(home_x + (2 * ux - 1) * r, home_y + (2 * uy - 1) * r)

    def accepts(self, ids: np.ndarray, incidents) -> np.ndarray:
        return self.draws.uniform(Purpose.VOLUNTEER_ACCEPT, ids, incidents) < self.cfg.acceptance

    def response_delay(self, ids: np.ndarray, incidents) -> np.ndarray:
        u = self.draws.uniform(Purpose.VOLUNTEER_DELAY, ids, incidents)
        return self.cfg.response_delay.quantile(u)

    def occupy(self, ids, until_s) -> None:
        """Volunteer(s) ``ids`` (ever on duty: candidates) are committed until ``until_s``."""
        self._busy[self._places(ids)] = until_s

    def _places(self, ids):
        """The places in `tree_ids` (and `_busy`) of volunteers ``ids``, all ever on duty."""
        k = np.searchsorted(self.tree_ids, ids)
        if not np.all(self.tree_ids[np.minimum(k, self.tree_ids.size - 1)] == ids):
            raise ValueError("only volunteers ever on duty can be sent or be free")
        return k


def _recruited(
    cfg: VolunteerConfig, city: City, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Homes (m) and duty ranks of the volunteers of ``cfg.recruited``, in its order.

    Args:
        cfg: the volunteers' configuration; ``recruited`` lists [column, row, count].
        city: the city; every recruited cell must be on its land (ScenarioError otherwise).
        rng: the placement stream; only its seed is used, for a child stream of its own.
    """
    cells = np.asarray(cfg.recruited, dtype=np.int64).reshape(-1, 3)
    # Generated cities are checked at load time where a river's course is known whatever
    # the seed; a meandering river is only known here.
    for i, (c, r, _) in enumerate(cells.tolist()):
        city.require_land(f"volunteers.recruited[{i}]", c, r)
    seq = rng.bit_generator.seed_seq
    if not isinstance(seq, np.random.SeedSequence):
        raise TypeError("the placement stream must be seeded by a numpy SeedSequence")
    child = np.random.SeedSequence(seq.entropy, spawn_key=(*seq.spawn_key, RECRUITED_KEY))
    n = int(cells[:, 2].sum())
    # One row of uniforms per recruit, row by row as for the others: home x, home y, duty.
    u = np.random.Generator(np.random.PCG64(child)).random((n, 3))
    col, row = np.repeat(cells[:, 0], cells[:, 2]), np.repeat(cells[:, 1], cells[:, 2])
    s = city.cell_size_m
    home = np.stack([(col + u[:, 0]) * s, (row + u[:, 1]) * s], axis=1)
    return home, u[:, 2].copy()
