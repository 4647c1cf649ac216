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

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from sim.model.city import City
from sim.model.config import VolunteerConfig
from sim.model.rng import CounterRng, Purpose, split_uniforms

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


@dataclass(frozen=True)
class VolunteerHomes:
    """What of a pool depends on its layout alone (the placement stream, the city and
    ``count``, ``recruited`` and the largest ``on_duty_share``): the homes, duty ranks
    and the spatial index of those ever on duty. Runs on one layout share it
    (sim.model.city_cache.layout_part), read-only."""

    home_xy: np.ndarray
    duty_rank: np.ndarray
    tree_ids: np.ndarray
    tree: cKDTree | None
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
    # Only volunteers ever on duty can answer; the tree holds just them (`tree_ids`).
    tree_ids = np.flatnonzero(duty_rank < np.asarray(cfg.on_duty_share, dtype=float).max())
    tree = cKDTree(home_xy[tree_ids]) if tree_ids.size else None
    return VolunteerHomes(home_xy, duty_rank, tree_ids, tree, city.bank_of)


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
        self.tree = homes.tree
        self.busy_until = np.zeros(self.home_xy.shape[0])

    @property
    def home_bank(self) -> np.ndarray:
        """The bank of each home (worked out when asked)."""
        return self.homes.home_bank

    def __len__(self) -> int:
        return self.home_xy.shape[0]

    def __getitem__(self, i: int) -> Volunteer:
        return Volunteer(
            i, tuple(self.home_xy[i]), float(self.duty_rank[i]), float(self.busy_until[i])
        )

    def on_duty(self, hour: int) -> np.ndarray:
        return self.duty_rank < self.duty_share[hour]

    def positions(self, ids: np.ndarray, incidents) -> np.ndarray:
        """Where each volunteer is, patrolling near home, when the paired incident happens."""
        r = self.cfg.patrol_radius_m
        ux, uy = split_uniforms(self.draws.bits(Purpose.VOLUNTEER_POSITION, ids, incidents), 2)
        offset = np.stack([(2 * ux - 1) * r, (2 * uy - 1) * r], axis=1)
        return self.city.clip(self.home_xy[ids] + offset)

    def accepts(self, ids: np.ndarray, incidents) -> np.ndarray:
        return self.draws.uniform(Purpose.VOLUNTEER_ACCEPT, ids, incidents) < self.cfg.acceptance

    def response_delay(self, ids: np.ndarray, incidents) -> np.ndarray:
        u = self.draws.uniform(Purpose.VOLUNTEER_DELAY, ids, incidents)
        return self.cfg.response_delay.quantile(u)

    def occupy(self, ids, until_s) -> None:
        """Volunteer(s) ``ids`` are committed until ``until_s`` (s)."""
        self.busy_until[ids] = until_s


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
