"""Minimal emergency units (最小应急单元): trained teams fixed at key sites.

Each unit is a Mesa agent (:class:`sim.model.responders.meu_agent.EmergencyUnit`, kept apart
so that planning reads the fleet without loading Mesa) whose state lives in the fleet's
columns (so dispatch can query all units at once). A unit is open by its site's opening
hours; while open, the members on post that day are on site. Who is on post is drawn, day by
day: each member of a unit checks in with probability ``on_duty_share`` (so a unit of 13 at
11 % has none on post on 22 % of days and two or more on 42 %), never rounded up to a full
team. Those members give self-rescue at the unit's own site and send teams of ``team_size``
to incidents within ``coverage_radius_m`` (mutual rescue). Members out with a team are away
until their team walks back, so a unit with members away can send fewer teams.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy.spatial import cKDTree

from sim.model.city import City
from sim.model.config import MeuConfig
from sim.model.distributions import binomial_cdf
from sim.model.vocab import LandUse

_NO_UNIT = np.zeros(0, np.int64)  # at_cell on a cell without units (never written to)
_NO_UNIT.flags.writeable = False


_DAY_S = 86400.0


def open_at(hour, start, end):
    """The opening-hours rule: whether a site open from ``start`` to ``end`` (hours of the
    day; ``end`` before ``start`` wraps past midnight, ``0, 24`` is always) is open at
    ``hour``. The same comparisons on floats (one unit, in plain Python: numpy's per-call cost
    would dominate) or on numpy arrays (elementwise): a bool, or an array of bools."""
    after_start, before_end = hour >= start, hour < end
    return (after_start & before_end) | ((start > end) & (after_start | before_end))


_ROSTER_BLOCK = 4096  # units drawn at a time (a city year is 23,000 x 366 uniforms)


def roster_dtype(members: np.ndarray) -> np.dtype:
    """The smallest integer type that holds every unit's members: the roster is a row per day
    (a city year's 23,000 units x 366 days is 8 MB in int8, 34 MB in int32)."""
    # the type of -(m + 1) holds -(m + 1)..m, so m itself (that of -m would hold m = 128 in int8)
    return np.dtype(
        np.min_scalar_type(-max(int(members.max()), 1) - 1) if members.size else np.int8
    )


def members_on_post(members: np.ndarray, share: float, days: int,
                    rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Members on post, ``(days, units)``: Binomial(members, share) per unit per day.

    Drawn by inversion of one uniform per (unit, day), unit after unit, so the first n units of
    a larger fleet are on post as in this one, and a larger share never puts fewer on post.
    """
    n = members.shape[0]
    out = np.zeros((days, n), roster_dtype(members))
    cdfs = {int(m): binomial_cdf(int(m), share) for m in np.unique(members)}
    for first in range(0, n, _ROSTER_BLOCK):
        rows = slice(first, min(first + _ROSTER_BLOCK, n))
        u = rng.random((rows.stop - rows.start, days))
        block = np.zeros(u.shape, out.dtype)
        size = members[rows]
        for m, cdf in cdfs.items():
            at = size == m
            # the least k with F(k) >= u; at most m (F(m) may round just below 1)
            block[at] = np.minimum(np.searchsorted(cdf, u[at], side="left"), m)
        out[:, rows] = block.T
    return out


@dataclass(frozen=True)
class MeuSites:
    """What of a fleet depends on its layout alone (the MEU sites stream, the city and
    ``count``, ``site_shares``, ``site_cells``, ``members_per_unit`` and
    ``opening_hours``): where the units stand, their sizes, hours, banks, cells and spatial
    index. Runs on one layout share it (sim.model.city_cache.layout_part), read-only."""

    xy: np.ndarray
    site_use: np.ndarray
    members: np.ndarray
    bank: np.ndarray
    cell: np.ndarray
    open_from: np.ndarray
    open_to: np.ndarray
    tree: cKDTree | None
    by_cell: Mapping[int, np.ndarray]


def meu_sites(cfg: MeuConfig, city: City, rng: np.random.Generator) -> MeuSites:
    """The sites of ``cfg``'s units in ``city``, drawn from the MEU sites stream ``rng``."""
    n = cfg.count
    # Row-wise uniforms: the first n units of a larger fleet are this fleet (coupling).
    u = rng.random((n, 5))
    names = list(cfg.site_shares)
    shares = np.array([cfg.site_shares[k] for k in names], dtype=float)
    kind = np.searchsorted(np.cumsum(shares) / shares.sum(), u[:, 0], side="right")
    kind = np.minimum(kind, len(names) - 1)
    xy = np.zeros((n, 2))
    site_use = np.zeros(n, np.int8)
    pop = city.population.reshape(-1)
    use = city.land_use.reshape(-1)
    for k, name in enumerate(names):
        rows = np.flatnonzero(kind == k)
        if rows.size == 0:
            continue
        cells = np.flatnonzero((use == LandUse[name.upper()]) & (pop > 0))
        if cells.size == 0:  # no site of that use on this map: any populated land
            cells = np.flatnonzero(pop > 0)
        cdf = np.cumsum(pop[cells]) / pop[cells].sum()
        pick = cells[np.minimum(np.searchsorted(cdf, u[rows, 1], side="right"), cells.size - 1)]
        col, row = pick % city.width, pick // city.width
        s = city.cell_size_m
        xy[rows] = np.stack([(col + u[rows, 2]) * s, (row + u[rows, 3]) * s], axis=1)
        site_use[rows] = use[pick]
    if cfg.site_cells is not None:
        for k, (c, r) in enumerate(cfg.site_cells):
            city.require_land("meus.site_cells", c, r)
            xy[k] = city.cell_centre(c, r)
            site_use[k] = city.land_use[r, c]
    base = math.floor(cfg.members_per_unit)
    members = base + (u[:, 4] < cfg.members_per_unit - base).astype(np.int64)
    bank = city.bank_of(xy) if n else np.zeros(0, np.int32)
    col, row = city.cell_of(xy)
    cell = row * city.width + col
    open_from = np.zeros(n)
    open_to = np.full(n, 24.0)
    for name, (start, end) in cfg.opening_hours.items():
        at = site_use == LandUse[name.upper()]
        open_from[at], open_to[at] = start, end
    tree = cKDTree(xy) if n else None
    by_cell: dict[int, np.ndarray] = {}
    if n:
        order = np.argsort(cell, kind="stable")
        cells, starts = np.unique(cell[order], return_index=True)
        for at_cell, part in zip(cells, np.split(order, starts[1:]), strict=True):
            by_cell[int(at_cell)] = part
    return MeuSites(xy, site_use, members, bank, cell, open_from, open_to, tree,
                    MappingProxyType(by_cell))  # fmt: skip


class EmergencyUnitFleet:
    """All MEUs of a run, as columns.

    Args:
        cfg: the scenario's ``meus`` section.
        city: the city the units stand in.
        rng: the layout stream of MEU sites and sizes (``Stream.MEU_SITES``).
        roster: the stream of who is on post (``Stream.MEU_ROSTER``); None draws nobody on
            post (a fleet built for its sites only, as planning does).
        days: days of members on post to draw (the run's horizon and drain, whole days);
            later times keep the last day's roster.
        sites: the fleet's sites, drawn before from ``rng`` (:func:`meu_sites`; runs on one
            layout share them); None draws them here.
    """

    def __init__(self, cfg: MeuConfig, city: City, rng: np.random.Generator | None,
                 roster: np.random.Generator | None = None, days: int = 1,
                 sites: MeuSites | None = None) -> None:  # fmt: skip
        if days < 1:
            raise ValueError(f"days must be >= 1, got {days}")
        self.cfg = cfg
        self.city = city
        if sites is None:
            if rng is None:
                raise ValueError("an MEU fleet needs its sites or the stream to draw them")
            sites = meu_sites(cfg, city, rng)
        self.sites = sites
        n = sites.xy.shape[0]
        self.xy, self.site_use, self.members = sites.xy, sites.site_use, sites.members
        self.bank, self.cell, self.tree = sites.bank, sites.cell, sites.tree
        self.open_from, self.open_to = sites.open_from, sites.open_to
        self._by_cell = sites.by_cell
        # Each cell's units with their hours as Python values: an occurrence on a cell asks
        # whether one is staffed (_staffing), one or two units at a time.
        self._hours_by_cell = {
            cell: [(u, float(self.open_from[u]), float(self.open_to[u])) for u in ids.tolist()]
            for cell, ids in self._by_cell.items()
        }
        #: Whether a unit has its site on each cell of the city (row-major).
        self.on_cell = np.zeros(city.width * city.height, bool)
        self.on_cell[np.asarray(self.cell, np.int64)] = True
        self._on_post = (
            members_on_post(self.members, cfg.on_duty_share, days, roster)
            if roster is not None else np.zeros((days, n), roster_dtype(self.members))
        )  # fmt: skip
        self._day = 0
        #: Members on post today (read through :meth:`roster_at`, which turns the day).
        self.on_site: np.ndarray = self._on_post[0]
        self.away = np.zeros(n, np.int64)
        self._teams_of: dict[int, list[tuple[int, float, float]]] = {}

    def __len__(self) -> int:
        return self.xy.shape[0]

    def roster_at(self, t: float) -> np.ndarray:
        """Members on post on the day of time t (s), made today's ``on_site``."""
        day = min(int(t // _DAY_S), self._on_post.shape[0] - 1)
        if day != self._day:
            self._day = day
            self.on_site = self._on_post[day]
        return self.on_site

    def on_post(self, day: int) -> np.ndarray:
        """Members on post on ``day`` (0 is the first day of the run), per unit."""
        return self._on_post[min(day, self._on_post.shape[0] - 1)]

    def open_mask(self, t: float, ids: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Which of ``ids`` are open at time t (s) by their sites' hours (:func:`open_at`)."""
        return open_at((t / 3600.0) % 24.0, self.open_from[ids], self.open_to[ids])

    def can_send(self, ids: np.ndarray, t: float) -> np.ndarray:
        """Which of these units are open and have a full team free at time t."""
        on_site = self.roster_at(t)
        return self.open_mask(t, ids) & (on_site[ids] - self.away[ids] >= self.cfg.team_size)

    def free_members(self, ids: np.ndarray, t: float) -> np.ndarray:
        """Members on post at time t and not out with a team (0 when more are out than on
        post: a team out from an earlier day's roster)."""
        return np.maximum(self.roster_at(t)[ids] - self.away[ids], 0)

    def at_cell(self, cell: int, t: float) -> np.ndarray:
        """Open units on this cell with at least one member free (self-rescue capacity)."""
        ids = self._by_cell.get(cell)
        if ids is None:
            return _NO_UNIT
        staffing = self._staffing(self._hours_by_cell[cell], t)
        return ids[np.fromiter(staffing, bool, count=ids.size)]

    def staffed(self, cell: int, t: float) -> bool:
        """Whether :meth:`at_cell` has any unit: stops at the first (a 10x fleet puts ten
        times the units on a cell; the model only asks whether someone is there)."""
        units = self._hours_by_cell.get(cell)
        return units is not None and any(self._staffing(units, t))

    def _staffing(self, units: list[tuple[int, float, float]], t: float):
        """For each of ``units`` (unit, opens, closes: the units on one cell) in turn: open,
        with a member free at t. open_mask and free_members per unit in plain Python (a cell
        has one or two units; numpy's per-call cost dominates): the same rule, :func:`open_at`."""
        hour = (t / 3600.0) % 24.0
        on_site, away = self.roster_at(t), self.away
        for u, start, end in units:
            yield open_at(hour, start, end) and on_site[u] - away[u] > 0

    def send_team(self, i: int, incident: int = -1, dist_m: float = 0.0,
                  arrival_s: float = float("nan")) -> None:  # fmt: skip
        """Unit ``i`` sends a team to ``incident`` (``dist_m`` away, arriving at ``arrival_s``)."""
        self.away[i] += self.cfg.team_size
        if incident >= 0:
            self._teams_of.setdefault(incident, []).append((i, dist_m, arrival_s))

    def teams_for(self, incident: int) -> list[tuple[int, float, float]]:
        """(unit, distance m, arrival s) of every team sent to ``incident`` (until released)."""
        return self._teams_of.get(incident, [])

    def release_teams(self, incident: int) -> list[tuple[int, float, float]]:
        """:meth:`teams_for`, forgotten: the incident is over (a city year would otherwise
        keep every incident's list to the end)."""
        return self._teams_of.pop(incident, [])

    def team_back(self, i: int) -> None:
        self.away[i] -= self.cfg.team_size
