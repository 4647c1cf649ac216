"""Police policies, chosen by name in the scenario: which units a call gets (dispatch) and
where idle units stand (move-up).

A dispatch policy answers one question: given the available units, which ``n`` go to this
scene, with their travel times. A move-up policy is told whenever the set of available units
changes and may move idle units to other grids. Both are plug-ins: a class with a ``name``
registered with :func:`register_dispatch_policy` / :func:`register_move_up_policy` can be
named in a scenario (``police.dispatch``, ``police.move_up``) without editing the model.
docs/extending.md walks through writing one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, Protocol

import numpy as np

if TYPE_CHECKING:
    from sim.model.responders.police import PoliceFleet


class DispatchPolicy(Protocol):
    name: ClassVar[str]

    def choose(
        self, fleet: PoliceFleet, available: np.ndarray, t: float, scene: np.ndarray,
        scene_bank: int, grid: int, n: int,
    ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Up to ``n`` of ``available`` (ascending unit ids) and their travel times (s, inf:
        cannot reach), in the order they are sent."""
        ...


class MoveUpPolicy(Protocol):
    name: ClassVar[str]

    def rebalance(self, fleet: PoliceFleet, t: float) -> None:
        """Called after every change in which units are available."""
        ...


class NearestUnit:
    """The available units that reach the scene first (ties to the lower unit id)."""

    name: ClassVar[str] = "nearest"
    #: Sends nothing only when no available unit can reach the scene, and changes nothing
    #: then but settling units home from their last scene (ResponseModel sets such calls
    #: aside in its queue instead of asking again at every clearance).
    reach_only: ClassVar[bool] = True

    def choose(self, fleet, available, t, scene, scene_bank, grid, n):
        return fleet.nearest(available, t, scene, scene_bank, n)

    def choose_free(self, fleet, t, scene, scene_bank, grid, n):
        """:meth:`choose` among all available units, without listing them; as two lists."""
        return fleet.nearest_free(t, scene, scene_bank, n)


class OwnGridFirst:
    """The grid's own units first (those whose beat covers the incident's grid), nearest of
    them first; the rest of the call's need from the nearest other units. A unit keeps its
    ground: a call goes to the unit that knows the grid even when another is a little nearer."""

    name: ClassVar[str] = "own_grid_first"
    reach_only: ClassVar[bool] = True  # as NearestUnit's

    def choose(self, fleet, available, t, scene, scene_bank, grid, n):
        own = np.array([u for u in available.tolist() if fleet.covers(u, grid)], np.int64)
        units, travel = fleet.nearest(own, t, scene, scene_bank, n) if own.size else (own, own)
        reachable = np.isfinite(travel)
        units, travel = units[reachable], travel[reachable]
        if units.size < n:
            rest = np.setdiff1d(available, units, assume_unique=True)
            if rest.size:
                more, more_t = fleet.nearest(rest, t, scene, scene_bank, n - units.size)
                units = np.concatenate([units, more])
                travel = np.concatenate([travel, more_t])
        return units, travel.astype(float)


class NoMoveUp:
    """Idle units stay on their own beats."""

    name: ClassVar[str] = "none"

    def rebalance(self, fleet, t):
        return None


class UncoveredLongest:
    """Cover the grid left uncovered longest. A grid is covered while an available unit
    patrols it. When grids are uncovered, the one uncovered longest gets an idle unit from a
    grid that another available unit still covers (the donor whose station is nearest the
    grid's centre); a moved unit goes back to its own beat once a unit of the grid's own beat
    is available again. (One of the move-up rules of JEMSS.jl, in its simplest form.)"""

    name: ClassVar[str] = "uncovered_longest"

    def __init__(self) -> None:
        self.uncovered_since: dict[int, float] = {}

    def rebalance(self, fleet, t):
        available = fleet.free_units()
        n_grids = fleet.city.grid_centre_xy.shape[0]
        home_cover = np.zeros(n_grids, np.int64)
        for u in available:
            if u not in fleet.relocated:
                home_cover[fleet.beat_grids[u]] += 1
        for u, grid in list(fleet.relocated.items()):  # the grid's own unit is back
            if home_cover[grid] > 0 or u not in available:
                fleet.relocate(u, None)
        cover = home_cover.copy()
        for grid in fleet.relocated.values():
            cover[grid] += 1
        for g in range(n_grids):
            if cover[g] == 0:
                self.uncovered_since.setdefault(g, t)
            else:
                self.uncovered_since.pop(g, None)
        for grid in sorted(self.uncovered_since, key=lambda g: (self.uncovered_since[g], g)):
            donor = self._donor(fleet, available, cover, grid)
            if donor is None:
                continue
            for g in fleet.beat_grids[donor]:
                cover[g] -= 1
            fleet.relocate(donor, grid)
            cover[grid] += 1
            self.uncovered_since.pop(grid, None)

    @staticmethod
    def _donor(fleet, available, cover, grid) -> int | None:
        """An idle unit on its own beat, every grid of which another unit still covers."""
        target = fleet.city.grid_centre_xy[grid]
        best, best_d = None, math.inf
        for u in available:
            if u in fleet.relocated or fleet.left_at[u] > -math.inf:
                continue
            beat = fleet.beat_grids[u]
            if beat.size and np.all(cover[beat] >= 2):
                d = float(np.abs(fleet.station_xy[u] - target).sum())
                if d < best_d:
                    best, best_d = u, d
        return best


DISPATCH_POLICIES: dict[str, type[DispatchPolicy]] = {
    p.name: p for p in (NearestUnit, OwnGridFirst)
}
MOVE_UP_POLICIES: dict[str, type[MoveUpPolicy]] = {p.name: p for p in (NoMoveUp, UncoveredLongest)}


def register_dispatch_policy(policy: type[DispatchPolicy]) -> type[DispatchPolicy]:
    """Make a dispatch policy class nameable in scenarios (``police.dispatch``)."""
    DISPATCH_POLICIES[policy.name] = policy
    return policy


def register_move_up_policy(policy: type[MoveUpPolicy]) -> type[MoveUpPolicy]:
    """Make a move-up policy class nameable in scenarios (``police.move_up``)."""
    MOVE_UP_POLICIES[policy.name] = policy
    return policy
