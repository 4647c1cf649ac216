"""Police policies, chosen by name in the scenario: which units a call gets (dispatch) and
where idle units stand (move-up).

A dispatch policy answers one question: given the call (:class:`Call`: the incident, where
and when, how many units it still needs) and its candidate units (:class:`AvailableUnits`:
the fleet's available units and the one nearest-available search over them), which go to the
scene, with their travel times. A move-up policy is told whenever the set of available units
changes and may move idle units to other grids. Both are plug-ins: a class with a ``name``
registered with :func:`register_dispatch_policy` / :func:`register_move_up_policy` can be
named in a scenario (``police.dispatch``, ``police.move_up``) without editing the model.
docs/extending.md walks through writing one.

The model never asks which class a policy is: what it may do in place of asking ``choose``
is declared by the policy itself (``sends_nearest``, ``reach_only`` below).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, NamedTuple, Protocol

import numpy as np

if TYPE_CHECKING:
    from sim.model.responders.police import PoliceFleet


#: Units (ids) and their travel times (s), in the order they are sent: lists or arrays.
Choice = tuple[Sequence[int] | np.ndarray, Sequence[float] | np.ndarray]


class Call(NamedTuple):
    """A call for police units: what a dispatch policy chooses for."""

    incident: int  # row of the incidents table
    t: float  # when the units are chosen, s
    scene: np.ndarray  # (x, y) of the incident, m
    bank: int  # the scene's bank (sim.model.city.City.bank_of)
    grid: int  # the police grid of the scene (-1: none)
    need: int  # units the call still needs (>= 1)


class AvailableUnits:
    """The candidate units of one call: the fleet's available units and the fleet's one
    nearest-available search over them (exact travel times: water and bridges, streets,
    congestion, units driving back from a scene; ties to the lower unit id)."""

    __slots__ = ("call", "fleet")

    def __init__(self, fleet: PoliceFleet, call: Call) -> None:
        self.fleet = fleet
        self.call = call

    @property
    def ids(self) -> np.ndarray:
        """The available units, ascending."""
        return self.fleet.available()

    def __len__(self) -> int:
        return self.fleet.free_count

    def nearest(self, n: int, among: np.ndarray | None = None) -> Choice:
        """The ``n`` units (of ``among``, ascending ids of available units; default: all of
        them) that reach the call's scene first, and their travel times (s, inf: cannot
        reach), quickest first."""
        call = self.call
        if among is None:
            return self.fleet.nearest_free(call.t, call.scene, call.bank, n)
        return self.fleet.nearest(among, call.t, call.scene, call.bank, n)

    def covers(self, u: int) -> bool:
        """Whether unit ``u`` patrols the call's grid now (its beat, or a grid it was moved
        to)."""
        return self.fleet.covers(u, self.call.grid)


class DispatchPolicy(Protocol):
    name: ClassVar[str]

    def choose(self, call: Call, units: AvailableUnits) -> Choice:
        """Up to ``call.need`` of ``units`` and their travel times (s, inf: cannot reach),
        in the order they are sent (units whose time is inf are not sent).

        Optional class attributes the model reads (absent: False):

        - ``sends_nearest``: ``choose`` is ``units.nearest(call.need)``; the model may then
          run that search itself (the compiled loop has it built in).
        - ``reach_only``: ``choose`` sends nothing only when no available unit can reach the
          scene, and has no side effect but the search's; the model then sets such calls
          aside until a unit of the scene's region is free, instead of asking at every
          clearance.
        """
        ...


class MoveUpPolicy(Protocol):
    name: ClassVar[str]

    def rebalance(self, fleet: PoliceFleet, t: float) -> None:
        """Called after every change in which units are available."""
        ...


class NearestUnit:
    """The available units that reach the scene first (ties to the lower unit id)."""

    name: ClassVar[str] = "nearest"
    sends_nearest: ClassVar[bool] = True
    #: Sends nothing only when no available unit can reach the scene, and changes nothing
    #: then but settling units home from their last scene (ResponseModel sets such calls
    #: aside in its queue instead of asking again at every clearance).
    reach_only: ClassVar[bool] = True

    def choose(self, call: Call, units: AvailableUnits) -> Choice:
        return units.nearest(call.need)


class OwnGridFirst:
    """The grid's own units first (those whose beat covers the incident's grid), nearest of
    them first; the rest of the call's need from the nearest other units. A unit keeps its
    ground: a call goes to the unit that knows the grid even when another is a little nearer."""

    name: ClassVar[str] = "own_grid_first"
    reach_only: ClassVar[bool] = True  # as NearestUnit's

    def choose(self, call: Call, units: AvailableUnits) -> Choice:
        n, available = call.need, units.ids
        own = np.array([u for u in available.tolist() if units.covers(u)], np.int64)
        chosen, travel = units.nearest(n, own) if own.size else (own, own)
        chosen, travel = np.asarray(chosen, np.int64), np.asarray(travel, float)
        reachable = np.isfinite(travel)
        chosen, travel = chosen[reachable], travel[reachable]
        if chosen.size < n:
            rest = np.setdiff1d(available, chosen, assume_unique=True)
            if rest.size:
                more, more_t = units.nearest(n - chosen.size, rest)
                chosen = np.concatenate([chosen, more])
                travel = np.concatenate([travel, more_t])
        return chosen, travel.astype(float)


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
