"""``ResponseModel``: incidents, detection, and the three tiers of help, event by event.

The model wires the city, the responders and the incident stream, runs a discrete-event
simulation in continuous seconds, and emits one immutable :class:`IncidentRecord` per incident.
It does no file I/O and no plotting.

Events live in a binary heap of ``(time, kind, sequence, ...)`` tuples: ties at equal times
are broken by the event kind (see :class:`sim.vocab.EventKind`), then by the order in which
they were scheduled, so a run is deterministic. Mesa's own ``schedule_event`` holds callbacks
by weak reference and costs about 15x a raw heap per event (docs/performance.md), so the
model keeps its heap and mirrors its clock in ``Model.time``.
"""

from __future__ import annotations

import heapq
import math

import mesa
import numpy as np

from sim.city import City, build_city
from sim.config import Scenario
from sim.incidents import IncidentStream, generate_incidents
from sim.records import Assignment, IncidentRecord
from sim.responders.meus import EmergencyUnit, EmergencyUnitFleet
from sim.responders.police import PoliceFleet, PoliceUnit
from sim.responders.volunteers import VolunteerPool
from sim.rng import CounterRng, Purpose, Stream, generator, stream_seed
from sim.vocab import TIER_TARGET_S, DetectedBy, EventKind, HelpSource, LandUse, Tier, UnitState

NAN = math.nan


class ResponseModel(mesa.Model):
    """Tiered community emergency response on a city grid.

    Args:
        scenario: validated scenario (see :mod:`sim.config`); all quantities in its units
            (metres, seconds, hours where named ``*_hours``).
        seed: base seed (int >= 0); every random stream is spawned from it.
        replication: replication index (int >= 0); replication ``r`` of any scenario with
            the same city and incident settings sees the same incidents.
        incidents: replay this incident stream instead of generating one.
        trace: keep ``(time_s, EventKind, incident_id, responder_id)`` for every event
            processed in ``self.trace`` (tests and debugging).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int = 0,
        replication: int = 0,
        incidents: IncidentStream | None = None,
        trace: bool = False,
    ) -> None:
        if not isinstance(scenario, Scenario):
            raise ValueError("scenario must be a sim.config.Scenario (use load_scenario)")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
        if isinstance(replication, bool) or not isinstance(replication, int) or replication < 0:
            raise ValueError(f"replication must be an integer >= 0, got {replication!r}")
        super().__init__(rng=generator(seed, replication, Stream.MESA))
        self._default_schedule.stop()  # time is continuous seconds, driven by our events
        self.config = scenario
        self.seed = seed
        self.replication = replication
        self.horizon_s = scenario.horizon_hours * 3600.0
        self.end_s = self.horizon_s + scenario.drain_hours * 3600.0
        self.warmup_s = scenario.warmup_hours * 3600.0
        draws = CounterRng(stream_seed(seed, replication, Stream.BEHAVIOUR))

        self.city: City = build_city(
            scenario.city, scenario.police, generator(seed, replication, Stream.CITY)
        )
        placement = generator(seed, replication, Stream.PLACEMENT)
        self.volunteers = VolunteerPool(scenario.volunteers, self.city, placement, draws)
        self.meus = EmergencyUnitFleet(scenario.meus, self.city, placement)
        self.police = PoliceFleet(scenario.police, scenario.travel, self.city, draws)
        self.draws = draws
        EmergencyUnit.create_agents(self, len(self.meus), self.meus, list(range(len(self.meus))))
        PoliceUnit.create_agents(self, len(self.police), self.police, list(range(len(self.police))))

        if incidents is None:
            incidents = generate_incidents(
                scenario.incidents,
                self.city,
                self.horizon_s,
                generator(seed, replication, Stream.INCIDENTS),
            )
        self.incidents = incidents
        self._kinds = [scenario.incidents.kinds[k] for k in incidents.kind_names]
        self._init_state(len(incidents))
        self.trace: list[tuple[float, EventKind, int, int]] | None = [] if trace else None
        self.assignments: list[Assignment] = []
        self._heap: list[tuple] = [
            (float(t), EventKind.OCCURS, i, i, -1) for i, t in enumerate(incidents.occurred_s)
        ]
        heapq.heapify(self._heap)
        self._seq = len(incidents)
        self._queue: list[tuple[int, float, int, int]] = []  # (priority, call_s, seq, incident)
        self.finished = False

    def _init_state(self, n: int) -> None:
        f = lambda: np.full(n, NAN)  # noqa: E731
        self.alerted, self.self_rescue, self.first_meu, self.first_vol = f(), f(), f(), f()
        self.police_call, self.police_wait, self.first_police, self.last_police = f(), f(), f(), f()
        self.cleared = f()
        self.detected_by = [DetectedBy.UNDETECTED] * n
        self.self_rescue_by: list[HelpSource | None] = [None] * n
        self.meu_sent = np.zeros(n, np.int64)
        self.vol_sent = np.zeros(n, np.int64)
        self.vol_3min = np.zeros(n, np.int64)
        self.police_pending = np.zeros(n, np.int64)  # units still to be sent
        self.police_arrived = np.zeros(n, np.int64)
        self._units_of: dict[int, list[int]] = {}
        self._unit_sent_at: dict[int, float] = {}
        self._unit_arrived_at: dict[int, float] = {}
        self._teams_of: dict[int, list[tuple[int, float, float]]] = {}  # (meu, dist, arrival)

    # ------------------------------------------------------------------ running
    def _push(self, t: float, kind: EventKind, a: int, b: int = -1) -> None:
        heapq.heappush(self._heap, (t, kind, self._seq, a, b))
        self._seq += 1

    def advance_to(self, until_s: float) -> None:
        """Process every event up to and including ``until_s`` (capped at the run's end)."""
        until_s = min(until_s, self.end_s)
        heap = self._heap
        handlers = self._handlers
        while heap and heap[0][0] <= until_s:
            t, kind, _, a, b = heapq.heappop(heap)
            self.time = t
            if self.trace is not None:
                self.trace.append((t, kind, a, b))
            handlers[kind](self, t, a, b)
        self.time = max(self.time, until_s)
        if until_s >= self.end_s or not heap:
            self.finished = True

    def run(self) -> list[IncidentRecord]:
        """Run to the end (horizon plus drain time) and return the records."""
        self.advance_to(self.end_s)
        return self.records()

    def step(self) -> None:
        """Advance one minute of simulated time (Mesa's step convention, for viewers)."""
        self.advance_to(self.time + 60.0)

    # ------------------------------------------------------------------ event handlers
    def _occurs(self, t: float, i: int, _b: int) -> None:
        inc = self.incidents
        scene = inc.xy[i]
        col, row = self.city.cell_of(scene)
        cell = int(row) * self.city.width + int(col)
        staff = self.meus.at_cell(cell, t)
        witness_r = self.config.volunteers.witness_radius_m
        if witness_r > 0 and len(self.volunteers):
            on_site, _ = self.volunteers.nearby(scene, witness_r, t, i)
        else:
            on_site = np.zeros(0, np.int64)
        someone_there = staff.size > 0 or on_site.size > 0
        delays = {
            DetectedBy.CALL: inc.call_delay_s[i],
            DetectedBy.CAMERA: inc.camera_delay_s[i],
            DetectedBy.WITNESS: inc.witness_delay_s[i] if someone_there else math.inf,
        }
        how = min(delays, key=lambda k: (delays[k], k.value))
        if math.isfinite(delays[how]):
            self.detected_by[i] = how
            self.alerted[i] = t + delays[how]
            self._push(self.alerted[i], EventKind.ALERT, i)
        if self._kinds[inc.kind[i]].self_rescue and someone_there:
            self.self_rescue[i] = t + inc.self_rescue_delay_s[i]
            if staff.size:
                self.self_rescue_by[i] = HelpSource.MEU_STAFF
            else:
                v = int(on_site[0])
                self.self_rescue_by[i] = HelpSource.VOLUNTEER_ON_SITE
                release = self.self_rescue[i] + self.config.volunteers.on_scene_s
                self.volunteers.occupy(np.array([v]), np.array([release]))
                self.assignments.append(
                    Assignment("volunteer", v, i, t, self.self_rescue[i], release)
                )
        if not math.isfinite(self.alerted[i]):
            self._clear_without_police(i)

    def _alert(self, t: float, i: int, _b: int) -> None:
        kind = self._kinds[self.incidents.kind[i]]
        if kind.volunteers and len(self.volunteers):
            self._alert_volunteers(t, i)
        if kind.meu_teams and len(self.meus):
            self._send_meu_teams(t, i, kind.meu_teams)
        if kind.police_units:
            self._push(t + self.police.call_handling(i), EventKind.POLICE_CALL, i)
        else:
            self._clear_without_police(i)

    def _alert_volunteers(self, t: float, i: int) -> None:
        cfg = self.config.volunteers
        scene = self.incidents.xy[i]
        ids, pos = self.volunteers.nearby(scene, cfg.alert_radius_m, t, i)
        if ids.size == 0:
            return
        go = self.volunteers.accepts(ids, i)
        ids, pos = ids[go], pos[go]
        dist = self.city.distances_to(scene, pos, self.city.bank_of(pos))
        arrival = t + self.volunteers.response_delay(ids, i) + dist / self.config.travel.volunteer_m_s
        order = np.argsort(arrival, kind="stable")[: cfg.max_responders]
        order = order[np.isfinite(arrival[order])]
        if order.size == 0:
            return
        ids, arrival = ids[order], arrival[order]
        release = arrival + cfg.on_scene_s
        self.volunteers.occupy(ids, release)
        self.first_vol[i] = arrival[0]
        self.vol_sent[i] = ids.size
        occurred = self.incidents.occurred_s[i]
        self.vol_3min[i] = int(np.count_nonzero(arrival - occurred <= TIER_TARGET_S[Tier.MUTUAL]))
        self.assignments.extend(
            Assignment("volunteer", int(v), i, t, float(a), float(r))
            for v, a, r in zip(ids, arrival, release, strict=True)
        )

    def _send_meu_teams(self, t: float, i: int, teams: int) -> None:
        scene = self.incidents.xy[i]
        ids = self.meus.able_within(scene, t)
        if ids.size == 0:
            return
        dist = self.city.distances_to(scene, self.meus.xy[ids], self.meus.bank[ids])
        ok = dist <= self.config.meus.coverage_radius_m
        ids, dist = ids[ok], dist[ok]
        if ids.size == 0:
            return
        mobilise = self.config.meus.mobilisation.quantile(
            self.draws.uniform(Purpose.MEU_MOBILISE, ids, i)
        )
        arrival = t + mobilise + dist / self.config.travel.run_with_equipment_m_s
        order = np.argsort(arrival, kind="stable")[:teams]
        self._teams_of[i] = []
        for k in order:
            m = int(ids[k])
            self.meus.send_team(m)
            self._teams_of[i].append((m, float(dist[k]), float(arrival[k])))
        self.first_meu[i] = float(arrival[order[0]])
        self.meu_sent[i] = order.size

    def _police_call(self, t: float, i: int, _b: int) -> None:
        kind = self._kinds[self.incidents.kind[i]]
        self.police_call[i] = t
        self.police_pending[i] = kind.police_units
        self._dispatch(t, i)
        if self.police_pending[i] > 0:
            heapq.heappush(self._queue, (kind.priority, t, self._seq, i))
            self._seq += 1

    def _dispatch(self, t: float, i: int) -> None:
        """Send the nearest available units (by travel time) for what incident i still needs."""
        avail = self.police.available()
        if avail.size == 0:
            return
        scene = self.incidents.xy[i]
        pos = self.police.positions(avail, t, i)
        dist = self.city.distances_to(scene, pos, self.city.bank_of(pos))
        travel = dist / self.police.speed(avail, t)
        order = np.argsort(travel, kind="stable")[: self.police_pending[i]]
        order = order[np.isfinite(travel[order])]
        for k in order:
            u = int(avail[k])
            self.police.set_state(u, UnitState.EN_ROUTE)
            self.police.left_at[u] = -math.inf
            self._units_of.setdefault(i, []).append(u)
            self._unit_sent_at[u] = t
            self._push(t + float(travel[k]), EventKind.POLICE_ARRIVES, i, u)
        self.police_pending[i] -= order.size
        if order.size and self.police_pending[i] == 0:
            self.police_wait[i] = t - self.police_call[i]

    def _police_arrives(self, t: float, i: int, u: int) -> None:
        self.police.set_state(u, UnitState.ON_SCENE)
        self._unit_arrived_at[u] = t
        self.police_arrived[i] += 1
        if self.police_arrived[i] == 1:
            self.first_police[i] = t
        if self.police_arrived[i] == self._kinds[self.incidents.kind[i]].police_units:
            self.last_police[i] = t
            done = max(self.first_police[i] + self.incidents.handling_s[i], t)
            self._push(done, EventKind.UNIT_CLEARS, i)

    def _clear_without_police(self, i: int) -> None:
        """Kinds that need no police (or incidents nobody reported) end after first help."""
        if self._kinds[self.incidents.kind[i]].police_units and math.isfinite(self.alerted[i]):
            return
        first = np.nanmin([self.self_rescue[i], self.first_meu[i], self.first_vol[i], math.inf])
        if math.isfinite(first):
            self._push(first + self.incidents.handling_s[i], EventKind.UNIT_CLEARS, i)

    def _clears(self, t: float, i: int, _b: int) -> None:
        if not math.isnan(self.cleared[i]):
            return
        self.cleared[i] = t
        scene = self.incidents.xy[i]
        for u in self._units_of.get(i, ()):
            self.police.set_state(u, UnitState.AVAILABLE)
            self.police.back_from[u] = scene
            self.police.left_at[u] = t
            self.assignments.append(
                Assignment("police", u, i, self._unit_sent_at.pop(u), self._unit_arrived_at.pop(u), t)
            )
        for m, dist, arrival in self._teams_of.get(i, ()):
            back = max(t, arrival) + dist / self.config.travel.walk_m_s
            self._push(back, EventKind.TEAM_RETURNS, i, m)
            self.assignments.append(Assignment("meu", m, i, self.alerted[i], arrival, back))
        self._serve_queue(t)

    def _serve_queue(self, t: float) -> None:
        while self._queue and self.police.available().size:
            i = self._queue[0][3]
            self._dispatch(t, i)
            if self.police_pending[i] > 0:
                return  # no reachable unit for the head of the queue
            heapq.heappop(self._queue)

    def _team_returns(self, t: float, i: int, m: int) -> None:
        self.meus.team_back(m)

    _handlers = {
        EventKind.OCCURS: _occurs,
        EventKind.ALERT: _alert,
        EventKind.POLICE_CALL: _police_call,
        EventKind.POLICE_ARRIVES: _police_arrives,
        EventKind.UNIT_CLEARS: _clears,
        EventKind.TEAM_RETURNS: _team_returns,
    }

    # ------------------------------------------------------------------ records
    def records(self) -> list[IncidentRecord]:
        """One immutable record per incident, in incident order."""
        inc, city = self.incidents, self.city
        col, row = city.cell_of(inc.xy)
        station_bank = city.bank_of(city.station_xy)
        out = []
        for i in range(len(inc)):
            kind = self._kinds[inc.kind[i]]
            first, by = self._first_help(i)
            station_d = city.distances_to(inc.xy[i], city.station_xy, station_bank).min()
            out.append(
                IncidentRecord(
                    incident_id=i,
                    kind=inc.kind_names[inc.kind[i]],
                    x_m=float(inc.xy[i, 0]),
                    y_m=float(inc.xy[i, 1]),
                    land_use=LandUse(int(city.land_use[row[i], col[i]])).label,
                    police_grid=int(city.grid_of_cell[row[i], col[i]]),
                    station_distance_m=float(station_d),
                    hour=int(inc.occurred_s[i] // 3600) % 24,
                    in_warmup=bool(inc.occurred_s[i] < self.warmup_s),
                    self_rescue_applies=kind.self_rescue,
                    mutual_applies=kind.volunteers or kind.meu_teams > 0,
                    occurred_s=float(inc.occurred_s[i]),
                    alerted_s=float(self.alerted[i]),
                    detected_by=self.detected_by[i].value,
                    self_rescue_s=float(self.self_rescue[i]),
                    self_rescue_by=self.self_rescue_by[i].value if self.self_rescue_by[i] else "",
                    first_meu_s=float(self.first_meu[i]),
                    meu_teams_sent=int(self.meu_sent[i]),
                    first_volunteer_s=float(self.first_vol[i]),
                    volunteers_sent=int(self.vol_sent[i]),
                    volunteers_within_3min=int(self.vol_3min[i]),
                    police_needed=kind.police_units,
                    police_call_s=float(self.police_call[i]),
                    police_wait_s=float(self.police_wait[i]),
                    first_police_s=float(self.first_police[i]),
                    last_police_s=float(self.last_police[i]),
                    first_help_s=first,
                    first_help_by=by,
                    cleared_s=float(self.cleared[i]),
                    status="open" if math.isnan(self.cleared[i]) else "cleared",
                )
            )
        return out

    def _first_help(self, i: int) -> tuple[float, str]:
        options = [
            (self.self_rescue[i], self.self_rescue_by[i] or HelpSource.MEU_STAFF),
            (self.first_meu[i], HelpSource.MEU_TEAM),
            (self.first_vol[i], HelpSource.VOLUNTEER),
            (self.first_police[i], HelpSource.POLICE),
        ]
        options = [(t, s) for t, s in options if not math.isnan(t)]
        if not options:
            return NAN, ""
        t, source = min(options, key=lambda o: o[0])
        return float(t), source.value
