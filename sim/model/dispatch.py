"""Who could answer which incident: candidate lists, built in vectorised chunks.

Everything that decides whether a volunteer or an MEU *could* answer an incident except its
current availability is a pure function of the incident and the responder: positions and
delays are counter-based draws, duty status follows the hour of occurrence, distances follow
the city. So candidates are computed for a block of incidents at once, in preference order,
and the event handlers only skip those busy at that moment and take the first few.

Preference order: volunteers by time to arrive after the alert (response delay + walk);
witnesses by distance; MEUs by mobilisation + run; ties by responder index.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain

import numpy as np

from sim.model.city import City
from sim.model.incidents import IncidentStream
from sim.model.responders.meus import EmergencyUnitFleet
from sim.model.responders.volunteers import VolunteerPool
from sim.model.rng import Purpose

#: Incidents per candidate block: bounds memory at city scale over long horizons.
BLOCK = 2048


@dataclass(frozen=True)
class Candidates:
    """Ragged lists for incidents ``first .. first + len(offsets) - 2``."""

    first: int
    offsets: np.ndarray
    ids: np.ndarray  # responder index
    lag_s: np.ndarray  # time from the alert (or occurrence) to arrival, s
    dist_m: np.ndarray  # travel distance, m

    def of(self, incident: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = incident - self.first
        lo, hi = self.offsets[k], self.offsets[k + 1]
        return self.ids[lo:hi], self.lag_s[lo:hi], self.dist_m[lo:hi]

    def ids_of(self, incident: int) -> np.ndarray:
        """The responders of :meth:`of` alone (without slicing the other two columns)."""
        k = incident - self.first
        return self.ids[self.offsets[k] : self.offsets[k + 1]]


def _order(inc: np.ndarray, lag: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``np.lexsort((ids, lag, inc))``, cheaper where it can be: one unstable sort of a single
    float key (incident, then lag), kept only when it is checked to have put every incident's
    lags in strictly increasing order. Without ties that order is the only one lexsort can
    give, so the result is the same; with a tie (or a non-finite lag) lexsort decides."""
    if lag.size > 1 and np.isfinite(lag).all():
        low, high = float(lag.min()), float(lag.max())
        key = (inc - inc[0]) * (2.0 * (high - low) + 1.0) + lag
        order = np.argsort(key)
        si, sl = inc[order], lag[order]
        same = si[1:] == si[:-1]
        if (si[1:] >= si[:-1]).all() and (sl[1:][same] > sl[:-1][same]).all():
            return order
    return np.lexsort((ids, lag, inc))


def _ragged(first: int, n: int, inc: np.ndarray, ids, lag, dist) -> Candidates:
    order = _order(inc, lag, ids)
    counts = np.bincount(inc, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    return Candidates(first, offsets, ids[order], lag[order], dist[order])


def _pairs_within(
    tree, centres: np.ndarray, radius: float, p: float = 2.0
) -> tuple[np.ndarray, np.ndarray]:
    """(incident row, point index) for every point within ``radius`` of each centre (straight
    line; with ``p=1`` Manhattan)."""
    if tree is None or centres.shape[0] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    hits = tree.query_ball_point(centres, radius, p=p)
    counts = np.fromiter(map(len, hits), dtype=np.int64, count=len(hits))
    rows = np.repeat(np.arange(len(hits)), counts)
    ids = np.fromiter(chain.from_iterable(hits), dtype=np.int64, count=int(counts.sum()))
    return rows, ids


#: Incidents per piece of a candidate block searched at once: bounds the scratch arrays of
#: the search (the volunteers in the squares around each scene) at any fleet size.
PIECE = 256

_NONE = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool))

#: Slack (m) on the bounds that keep a volunteer for the exact tests (rounding, clipping).
SLACK_M = 1.0


def volunteer_candidates(
    pool: VolunteerPool, city: City, incidents: IncidentStream, first: int, last: int,
    speed_m_s: float, alerts: np.ndarray | None = None,
) -> tuple[Candidates, Candidates]:  # fmt: skip
    """(alerted, witnesses) for incidents [first, last).

    Alerted: on duty, patrol position within the alert radius, accepting; ordered by arrival
    lag after the alert. Witnesses: on duty within the witness radius; ordered by distance.
    ``alerts`` (a flag per incident of the stream; None: all): the incidents whose kind
    alerts volunteers; the others get no alerted list (nobody asks for it), only witnesses.

    Only volunteers that can pass are drawn for: a patrol spot is within ``patrol_radius_m``
    of home in x and in y, so a home farther than that square's distance from the scene
    plus the radius is never within it (the exact tests below decide the rest), and a
    volunteer who declines is never a candidate for the alert. Draws are pure functions of
    (volunteer, incident), so those made are those the full search made, and the orders
    are total: the lists are the same.
    """
    cfg = pool.cfg
    n = last - first
    scenes = incidents.xy[first:last]
    alerting = np.ones(n, bool) if alerts is None else np.asarray(alerts[first:last], bool)
    pieces = [_near_enough(pool, incidents, scenes, alerting, first, lo, min(lo + PIECE, n))
              for lo in range(0, n, PIECE)] or [_NONE]  # fmt: skip
    rows, slots, acc = (np.concatenate(c) for c in zip(*pieces, strict=True))
    inc, ids = rows + first, pool.grid.ids[slots]
    x, y = pool.patrol_spots(ids, inc, pool.grid.x[slots], pool.grid.y[slots])
    straight = np.hypot(x - scenes[rows, 0], y - scenes[rows, 1])

    w = straight <= cfg.witness_radius_m
    witnesses = _ragged(first, n, rows[w], ids[w], straight[w], straight[w])

    a = (straight <= cfg.alert_radius_m) & acc
    rows, ids, inc, pos = rows[a], ids[a], inc[a], np.column_stack([x[a], y[a]])
    dist = city.pair_distances(pos, city.bank_of(pos), scenes[rows], None)
    lag = pool.response_delay(ids, inc) + dist / speed_m_s
    ok = np.isfinite(lag)
    alerted = _ragged(first, n, rows[ok], ids[ok], lag[ok], dist[ok])
    return alerted, witnesses


def _near_enough(
    pool: VolunteerPool, incidents: IncidentStream, scenes: np.ndarray, alerting: np.ndarray,
    first: int, lo: int, hi: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """(row, slot of the grid, accepts) of the on-duty volunteers that may be witnesses, or
    alerted where ``alerting[row]``, for scenes ``lo .. hi - 1`` (rows of ``scenes``,
    incident ``first + row``)."""
    cfg, g = pool.cfg, pool.grid
    patrol = cfg.patrol_radius_m
    witness, alert = cfg.witness_radius_m + SLACK_M, cfg.alert_radius_m + SLACK_M
    hours = (incidents.occurred_s[first + lo : first + hi] // 3600).astype(np.int64) % 24
    half = np.where(alerting[lo:hi], max(witness, alert), witness) + patrol
    rows, slots = pool.near(scenes[lo:hi], hours, half)
    # How far the nearest spot of the patrol square around home is from the scene.
    gx = np.maximum(np.abs(g.x[slots] - scenes[lo + rows, 0]) - patrol, 0.0)
    gy = np.maximum(np.abs(g.y[slots] - scenes[lo + rows, 1]) - patrol, 0.0)
    gap = gx * gx + gy * gy
    rows = rows + lo
    acc = np.zeros(rows.size, bool)
    maybe = np.flatnonzero((gap <= alert * alert) & alerting[rows])
    acc[maybe] = pool.accepts(g.ids[slots[maybe]], rows[maybe] + first)
    keep = acc | (gap <= witness * witness)
    return rows[keep], slots[keep], acc[keep]


def meu_candidates(
    fleet: EmergencyUnitFleet, city: City, incidents: IncidentStream, first: int, last: int,
    draws, speed_m_s: float, needs: np.ndarray | None = None,
) -> Candidates:  # fmt: skip
    """MEUs within coverage (travel distance) of incidents [first, last), by arrival lag;
    with ``needs`` (a flag per incident of the stream), only of the incidents whose kind
    sends MEU teams (the others' lists are empty: nobody asks for them)."""
    cfg = fleet.cfg
    asked = np.arange(last - first) if needs is None else np.flatnonzero(needs[first:last])
    scenes = incidents.xy[first:last]
    if city.roads is None:
        # Without roads a trip is at least its Manhattan distance (equal within a bank;
        # across one, Manhattan legs to, between and from bridges), so the MEUs within
        # Manhattan reach, widened far beyond rounding, hold every one kept below: about
        # 2/pi of those within the straight-line radius.
        reach = cfg.coverage_radius_m * (1.0 + 1e-9)
        rows, ids = _pairs_within(fleet.tree, scenes[asked], reach, p=1.0)
    else:
        rows, ids = _pairs_within(fleet.tree, scenes[asked], cfg.coverage_radius_m)
    rows = asked[rows]
    inc = rows + first
    dist = city.pair_distances(fleet.xy[ids], fleet.bank[ids], scenes[rows], None)
    ok = dist <= cfg.coverage_radius_m
    rows, ids, inc, dist = rows[ok], ids[ok], inc[ok], dist[ok]
    mobilise = cfg.mobilisation.quantile(draws.uniform(Purpose.MEU_MOBILISE, ids, inc))
    return _ragged(first, last - first, rows, ids, mobilise + dist / speed_m_s, dist)


class CandidateCache:
    """Candidate blocks computed on first use and kept while incidents in them are live."""

    def __init__(self, build, n_incidents: int, block: int = BLOCK, keep: int = 4) -> None:
        self._build = build
        self._n = n_incidents
        self.block = block  # incidents a block
        self.keep = keep  # blocks kept at once
        self._blocks: dict[int, object] = {}

    def get(self, incident: int):
        b = incident // self.block
        block = self._blocks.get(b)
        if block is None:
            if len(self._blocks) >= self.keep:
                del self._blocks[min(self._blocks)]
            lo = b * self.block
            block = self._blocks[b] = self._build(lo, min(lo + self.block, self._n))
        return block

    def release_before(self, incident: int) -> None:
        """Drop blocks that hold only incidents before ``incident``: their fates are settled,
        so nobody asks for them again (a block asked for anyway is rebuilt, identical)."""
        for b in [b for b in self._blocks if (b + 1) * self.block <= incident]:
            del self._blocks[b]
