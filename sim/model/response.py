"""``ResponseModel``: incidents, detection, and the three tiers of help, event by event.

The model wires the city, the responders and the incident stream, runs a discrete-event
simulation in continuous seconds, and emits one immutable :class:`IncidentRecord` per incident.
It does no file I/O and no plotting.

Events live in a binary heap of ``(time, kind, sequence, ...)`` tuples: ties at equal times
are broken by the event kind (see :class:`sim.model.vocab.EventKind`), then by the order in which
they were scheduled, so a run is deterministic. Mesa's own ``schedule_event`` holds callbacks
by weak reference and costs about 15x a raw heap per event (docs/performance.md), so the
model keeps its heap and mirrors its clock in ``Model.time``.
"""

from __future__ import annotations

import functools
import gc
import heapq
import math
import numbers
import os
import sys
import traceback
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ClassVar

import mesa
import numpy as np

from sim.model.city import City
from sim.model.city_cache import city_for, layout_part
from sim.model.config import IncidentKind, PoliceConfig, Scenario, on_duty_counts
from sim.model.dispatch import CandidateCache, meu_candidates, volunteer_candidates
from sim.model.frames import assignments_frame, frame_of_columns
from sim.model.incidents import IncidentStream, generate_incidents
from sim.model.ledger import IncidentLedger
from sim.model.lifecycle import DETECTED_BY, clears_at, first_alert
from sim.model.plugins import (
    DISPATCH_PLUGINS,
    FLEET_PLUGINS,
    MOVE_UP_PLUGINS,
    PlugInFailed,
    policy,
)
from sim.model.policies import AvailableUnits, Call
from sim.model.records import Assignment, AssignmentLog, IncidentRecord, ReadinessLog
from sim.model.recurring import RecurringEvent
from sim.model.responders.meu_agent import EmergencyUnit
from sim.model.responders.meus import EmergencyUnitFleet, meu_sites, open_at
from sim.model.responders.police import PoliceFleet, PoliceUnit
from sim.model.responders.volunteers import VolunteerPool, volunteer_homes
from sim.model.rng import CounterRng, Stream, generator, stream_seed
from sim.model.tiers import times_on_own_clock
from sim.model.vocab import TIER_TARGET_S, Event, EventKind, HelpSource, LandUse, Tier

NAN = math.nan
# Enum member -> its value, looked up per incident by the records: an enum's `.value` is a
# descriptor call, about 1.5 µs per incident for the three columns below.
_STATUS = np.array(["cleared", "open"], dtype=object)  # by np.isnan(cleared_s)
#: Records made at a time by ResponseModel.records (the columns of one block as Python
#: values at once, not of every incident).
RECORDS_BLOCK = 16_384


def _checked_seed(seed: object) -> int:
    """The run's seed: an integer >= 0, or None for a fresh one from the operating system
    (``mesa.batch_run`` passes None for each of its ``iterations``); the seed used is the
    model's ``seed``, so such a run can be repeated."""
    if seed is None:
        return int(np.random.SeedSequence().entropy) % 2**63  # type: ignore[arg-type]
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return seed


def _clear_matters(fleet, kind: IncidentKind) -> bool:
    """Whether a plug-in ``fleet``'s ``clear`` is called at the clearance of an incident of
    ``kind``: always, unless the fleet declares ``clears_only_alerted`` (its clear changes
    nothing for a kind that does not ask for it) and the kind does not."""
    return bool(kind.fleets.get(fleet.name, 0)) or not getattr(fleet, "clears_only_alerted", False)


def _default_priority_only(priority: mesa.time.Priority) -> None:
    """Mesa events of one time run in the order scheduled (the model's heap has no priority
    field): another priority is refused rather than ignored."""
    if priority != mesa.time.Priority.DEFAULT:
        raise ValueError("the model orders events of one time by when they were scheduled: "
                         "priority must be Priority.DEFAULT")  # fmt: skip


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the duration (back on after, if it was on).

    The event loop and the records allocate a tuple per event and per incident (millions in
    a long run) and keep many of them: every few hundred allocations the collector walks the
    young ones, and now and then everything alive, for nothing, since the model makes no
    reference cycles (gc.collect() finds none after a run; tests/test_events.py checks it).
    Measured on the M/M/10 (100,000 calls): the records' tuples 0.38 -> 0.10 s CPU. Cycles
    made by plug-in code are collected once the collector is back on (each ``advance_to``
    call returns)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ResponseModel(mesa.Model):
    """Tiered community emergency response on a city grid.

    Args:
        scenario: validated scenario (see :mod:`sim.model.config`); all quantities in its units
            (metres, seconds, hours where named ``*_hours``).
        seed: base seed (int >= 0); every random stream is spawned from it. None draws a
            fresh one (what ``mesa.batch_run`` passes for each of its ``iterations``), kept
            as ``model.seed`` and collected by the data collector, so the run can be repeated.
        replication: replication index (int >= 0). Replication ``r`` draws its own
            incidents and behaviour and, unless the scenario says ``layout: fixed``, its own
            layout (city, stations, volunteer homes, MEU sites); any scenario with the same
            city and incident settings sees the same layout and incidents in replication
            ``r`` (common random numbers).
        incidents: replay this incident stream instead of generating one.
        trace: keep every event processed in ``self.trace`` as an
            :class:`~sim.model.vocab.Event` ``(time_s, kind, subject, detail)``, whose
            ``payload`` names the integers (tests and debugging).
        streamed: the records will be taken with :meth:`take_settled` as the run goes (as
            ``jiefang run`` does): the ledger's rows then take memory only as their incidents
            occur, so reading a row of an incident still to occur (straight from
            ``self.ledger``) gives no defined value until then. Records and the ``*_so_far``
            methods are as without it.
    """

    # Mesa makes `time` an observable; here it is the simulated clock in seconds.
    time: float

    def __init__(
        self,
        scenario: Scenario,
        *,
        seed: int | None = 0,
        replication: int = 0,
        incidents: IncidentStream | None = None,
        trace: bool = False,
        streamed: bool = False,
    ) -> None:
        if not isinstance(scenario, Scenario):
            raise ValueError("scenario must be a sim.model.config.Scenario (use load_scenario)")
        seed = _checked_seed(seed)
        if isinstance(replication, bool) or not isinstance(replication, int) or replication < 0:
            raise ValueError(f"replication must be an integer >= 0, got {replication!r}")
        super().__init__(rng=generator(seed, replication, Stream.MESA))
        # Model.__init__ (Mesa 3.5) points `step` at a wrapper that runs Mesa's own event list
        # one time unit (a second here) at a time. The model's clock is its own heap, moved
        # by its run_for, run_until, step and schedule_event (the Mesa names and contracts):
        # the class's step stands, and Mesa's event list, never run, stays as Mesa built it
        # (tests/test_mesa_contract.py pins both).
        self.__dict__.pop("step", None)
        self.config = scenario
        self.seed = seed
        self.replication = replication
        self.horizon_s = scenario.horizon_hours * 3600.0
        self.end_s = self.horizon_s + scenario.drain_hours * 3600.0
        self.warmup_s = scenario.warmup_hours * 3600.0
        self.draws = CounterRng(stream_seed(seed, replication, Stream.BEHAVIOUR))
        # The build makes tens of thousands of objects (a city's 23,000 MEU agents, lists per
        # incident): a full collection in the middle of it walked them all for nothing (the
        # agents' registration 0.045 s, or 0.14 s when one fell in it).
        with _collector_paused():
            self._build(scenario, incidents, trace, streamed)
        self.finished = False
        self.running = True
        self.kernel_calls = 0  # advance calls the compiled police loop served
        #: Why the last advance did not take the compiled loop (None: it did; for ``-v``
        #: and the manifest).
        self.why_not_compiled: str | None = "not advanced yet"
        #: Advance calls by why each was not compiled ("compiled": those that were): the
        #: run's record of the choice (:meth:`compiled_record`).
        self.compiled_choices: dict[str, int] = {}
        self.datacollector = self._live_data_collector(scenario)

    def _build(
        self, scenario: Scenario, incidents: IncidentStream | None, trace: bool, streamed: bool
    ) -> None:
        """The city, responders, incidents and the event heap at time 0."""
        self._lay_out_city(scenario)
        self._choose_policies(scenario)
        self._register_agents()
        self.incidents = incidents if incidents is not None else self._draw_incidents(scenario)
        self._read_incident_kinds(scenario)
        self._prepare_candidates(scenario)
        # Streamed, rows are filled as incidents occur (advance_to), so a long run's ledger
        # takes memory as it goes; it gives back what take_settled hands over either way.
        self.ledger = IncidentLedger(len(self.incidents), filled=not streamed)
        self._has_meus = len(self.meus) > 0
        self._witnesses = len(self.volunteers) > 0 and scenario.volunteers.witness_radius_m > 0
        self.fleets = self._plug_in_fleets(scenario)
        # A clearance releases responders other than police (see _release_others).
        self.releases_others = bool(self.fleets) or self._has_meus
        self._place_incidents()
        self.trace: list[Event] | None = [] if trace else None
        self.assignments = AssignmentLog()  # appended to as a list
        self.readiness = ReadinessLog()
        self._start_clock(scenario)

    def _lay_out_city(self, scenario: Scenario) -> None:
        """The city, the volunteers' homes, the MEU sites and the police. The layout is part
        of what varies between replications unless the scenario pins one: a synthetic city is
        one draw of many."""
        seed = self.seed
        self.layout = self.replication if scenario.layout == "per_replication" else 0
        # Built once per layout per process and shared, read-only (sim.model.city_cache).
        self.city: City = city_for(
            scenario.city, scenario.police, scenario.travel, seed, self.layout
        )
        # The volunteers' homes and the MEU sites depend on the layout alone: shared, read-only,
        # by the runs on it (sim.model.city_cache.layout_part, keyed by what they are drawn from).
        vol, meu, layout = scenario.volunteers, scenario.meus, self.layout
        homes = layout_part(
            "volunteer_homes",
            self.city,
            {"seed": seed, "layout": layout, "count": vol.count, "recruited": vol.recruited,
             "top_share": float(np.asarray(vol.on_duty_share, dtype=float).max())},
            lambda: volunteer_homes(vol, self.city, generator(seed, layout, Stream.PLACEMENT)),
        )  # fmt: skip
        self.volunteers = VolunteerPool(vol, self.city, None, self.draws, homes=homes)
        sites = layout_part(
            "meu_sites",
            self.city,
            {"seed": seed, "layout": layout, "count": meu.count, "site_shares": meu.site_shares,
             "site_cells": meu.site_cells, "members_per_unit": meu.members_per_unit,
             "opening_hours": meu.opening_hours},
            lambda: meu_sites(meu, self.city, generator(seed, layout, Stream.MEU_SITES)),
        )  # fmt: skip
        self.meus = EmergencyUnitFleet(
            meu,
            self.city,
            None,
            roster=generator(seed, self.replication, Stream.MEU_ROSTER),
            days=max(math.ceil(self.end_s / 86400.0), 1),
            sites=sites,
        )
        self.police = PoliceFleet(scenario.police, scenario.travel, self.city, self.draws)

    def _choose_policies(self, scenario: Scenario) -> None:
        """The police's dispatch and move-up policies, and what the dispatch one declares
        (sim.model.policies.DispatchPolicy), never its class: a policy that sends the nearest
        units has the fleet's search run directly (what its choose comes to); a call a
        reach-only policy cannot serve waits aside until a unit of its region is free
        (_serve_queue)."""
        self.dispatch_policy = policy(DISPATCH_PLUGINS, scenario.police.dispatch)
        self._sends_nearest = bool(getattr(self.dispatch_policy, "sends_nearest", False))
        self._reach_only = bool(getattr(self.dispatch_policy, "reach_only", False))
        # On a grid city the small-fleet search of a few available units is called directly.
        self._direct_small = self._sends_nearest and self.city.roads is None
        self.move_up = policy(MOVE_UP_PLUGINS, scenario.police.move_up)
        self._moves_units = scenario.police.move_up != "none"

    def _register_agents(self) -> None:
        """MEUs and police units as Mesa agents (``model.agents_by_type``), MEUs first."""
        # Made one by one (what Agent.create_agents does, without the weak AgentSet of them
        # it would build and the model throw away: a third of the agents' cost).
        meus, police = self.meus, self.police
        for i in range(len(meus)):
            EmergencyUnit(self, meus, i)
        for i in range(len(police)):
            PoliceUnit(self, police, i)

    def _draw_incidents(self, scenario: Scenario) -> IncidentStream:
        """The replication's incidents, each kind of draw from its own stream (or the
        historical incidents of ``incidents.replay``)."""
        seed, replication = self.seed, self.replication
        replay = scenario.replay  # historical incidents (incidents.replay), or None
        return generate_incidents(
            scenario.incidents,
            self.city,
            self.horizon_s,
            generator(seed, replication, Stream.INCIDENTS),
            generator(seed, replication, Stream.SUDDEN),
            generator(seed, replication, Stream.PROBES),
            replay,
            None if replay is None else generator(seed, replication, Stream.REPLAY),
        )

    def _read_incident_kinds(self, scenario: Scenario) -> None:
        """Per incident, its kind and what the kind calls for (live tier counts read them)."""
        incidents = self.incidents
        self._kinds = [scenario.incidents.kinds[k] for k in incidents.kind_names]
        kinds = self._kinds
        # Each incident's kind as an index into _kinds, read as Python ints (the stream's int8
        # or int32 indices: a byte an incident where a list of the kinds held an 8-byte pointer).
        self._kind_code = array(incidents.kind.dtype.char, incidents.kind.tobytes())
        # Per kind, not per incident: an incident's value is its kind's (kind_column).
        self._kind_table = {
            "sudden": np.array([k.sudden for k in kinds], bool),
            "kind_self_rescue": np.array([k.self_rescue for k in kinds], bool),
            "kind_volunteers": np.array([k.volunteers for k in kinds], bool),
            "meu_teams_needed": np.array([k.meu_teams for k in kinds], np.int64),
            "police_needed": np.array([k.police_units for k in kinds], np.int64),
            **{f"{name}_needed": np.array([k.fleets.get(name, 0) for k in kinds], np.int64)
               for name in scenario.fleets_on()},
        }  # fmt: skip

    def kind_column(self, name: str, lo: int = 0, hi: int | None = None) -> np.ndarray:
        """What incidents ``lo .. hi - 1`` ask for by their kind (``sudden``,
        ``kind_self_rescue``, ``kind_volunteers``, ``meu_teams_needed``, ``police_needed``,
        ``<fleet>_needed``), read from the kind's entry: nothing of it is kept per incident."""
        return self._kind_table[name][self.incidents.kind[lo:hi]]

    def _prepare_candidates(self, scenario: Scenario) -> None:
        """The volunteers and MEUs near each scene, worked out a block of incidents at a time
        as the clock reaches them (sim.model.dispatch)."""
        incidents, draws, travel = self.incidents, self.draws, scenario.travel
        # Alerted volunteers and MEUs only for the incidents whose kind asks for them.
        # (a byte per incident each, kept while the run's lists are drawn)
        alerts = self.kind_column("kind_volunteers")
        needs = self.kind_column("meu_teams_needed") != 0
        self._volunteer_lists = CandidateCache(
            lambda a, b: volunteer_candidates(
                self.volunteers, self.city, incidents, a, b, travel.volunteer_m_s, alerts
            ),
            len(incidents),
        )
        self._meu_lists = CandidateCache(
            lambda a, b: meu_candidates(
                self.meus,
                self.city,
                incidents,
                a,
                b,
                draws,
                travel.run_with_equipment_m_s,
                needs,
            ),
            len(incidents),
        )

    def _place_incidents(self) -> None:
        """Each scene's cell, police grid, bank (of water) and the call's handling time."""
        incidents, city = self.incidents, self.city
        col, row = city.cell_of(incidents.xy)
        # array('i') indexes to Python ints like a list (no numpy scalars in the handlers), at
        # 4 bytes per incident instead of a list's 8 and more (a city year has 2.4 million
        # incidents); _bank is the numpy view of _bank_of's bytes (the compiled loop's).
        self._cell = array("i", (row * city.width + col).astype(np.int32).tobytes())
        self._grid = array("i", city.grid_of_cell[row, col].astype(np.int32).tobytes())
        self._bank_of = array("i", city.bank_of(incidents.xy).astype(np.int32).tobytes())
        self._bank = np.frombuffer(self._bank_of, np.int32)
        self._call_handling = self.config.police.call_handling.quantile(incidents.call_handling_u)

    def _start_clock(self, scenario: Scenario) -> None:
        """The event heap at time 0: readiness tests and the police roster; the call queue
        empty.

        Occurrences never go into the heap (a city year has 2.4 million of them, about 140 B
        each as heap entries, 0.34 GB, and a small heap is cheaper per pop): ``_advance``
        merges the next one from the array by its key, incident i with sequence number i
        (the incidents are sorted by time), so the order of events is what one heap of them
        all gave."""
        incidents = self.incidents
        self._occurred = incidents.occurred_s
        self._fed = 0  # incidents whose OCCURS event has been processed
        self._heap: list[tuple] = []
        self._seq = len(incidents)
        self._schedule_readiness_tests(generator(self.seed, self.replication, Stream.READINESS))
        self._start_roster(scenario.police)
        heapq.heapify(self._heap)
        self._queue: list[tuple[int, float, int, int]] = []  # (priority, call_s, seq, incident)
        # Calls that no available unit could reach, by the region of their scene, out of the
        # heap until a unit of that region is free (see _serve_queue).
        self._aside: dict[int, list[tuple[int, float, int, int]]] = {}
        self._region_of_bank = self.city.region_of_bank

    def _live_data_collector(self, scenario: Scenario) -> mesa.DataCollector:
        """Mesa's data collector that :meth:`step` feeds: the clock, the seed (a run of
        ``mesa.batch_run`` with a seed drawn is repeatable from it), incidents so far, open,
        police busy, calls waiting and each tier's compliance so far (the view's chart)."""
        return mesa.DataCollector(
            model_reporters={
                "time_s": "time",
                "seed": "seed",
                "incidents": lambda m: m.live_counts()["incidents"],
                "open": lambda m: m.live_counts()["open"],
                "police_busy": lambda m: m.police.busy_count,  # off duty is not busy
                "calls_waiting": lambda m: m.calls_waiting(),
                **{
                    f"{t.name} <= {t.target_s / 60:g} min": (
                        lambda m, name=t.name: m.live_compliance().get(name, math.nan)
                    )
                    for t in scenario.tiers
                },
            }
        )

    def _plug_in_fleets(self, scenario: Scenario) -> list:
        """The scenario's plug-in fleets (sim.model.plugins), each with its ledger columns."""
        out = []
        # Events still to come that plug-in code scheduled (they may write an incident's
        # ledger after its clearance: settled() waits for them): fleet events by incident,
        # Mesa events (schedule_event) by sequence number with the time they were scheduled.
        on = scenario.fleets_on()  # a fleet its section turns off is not built
        self._fleet_pending = np.zeros(len(self.incidents) if on else 0, np.int32)
        self._mesa_pending: dict[int, tuple[mesa.time.Event, float]] = {}
        self.recurring: set[RecurringEvent] = set()  # active ones (schedule_recurring)
        # Incidents needing no police, by the time their clearance is due: a plug-in's arrival
        # comes later than the help known at the alert and may be earlier.
        self._clear_due: dict[int, float] = {}
        for name in on:
            section = scenario.fleets[name]
            fleet_type = FLEET_PLUGINS.get(name)
            self.ledger.add_responder(name)
            out.append(fleet_type(self, fleet_type.Config.model_validate(section)))
        self._fleet_index = {f.name: k for k, f in enumerate(out)}
        if out:
            self.ledger.on_arrival = self._plug_in_arrival
        return out

    def schedule(self, t: float, fleet, incident: int, payload: int = 0) -> None:
        """For plug-in fleets: call ``fleet.event(t, incident, payload)`` at time ``t``."""
        if t < self.time or not math.isfinite(t):
            raise ValueError(f"cannot schedule at {t!r}: the clock is at {self.time}")
        if payload < 0:
            raise ValueError(f"payload must be >= 0, got {payload}")
        code = payload * max(len(self.fleets), 1) + self._fleet_index[fleet.name]
        self._fleet_pending[incident] += 1
        self._push(t, EventKind.FLEET, incident, code)

    def _fleet_event(self, t: float, i: int, code: int) -> None:
        # code packs (payload, fleet index) into the event's one detail integer.
        n = max(len(self.fleets), 1)
        self._fleet_pending[i] -= 1
        fleet = self.fleets[code % n]
        self._plug_in_call(fleet.event, f"fleet {fleet.name!r} (event)", t, i, code // n)

    def _plug_in_call(self, hook: Callable, what: str, t: float, i: int, *args) -> None:
        """``hook(t, i, *args)`` with the clock at ``t``; what it raises fails the run as
        :class:`PlugInFailed`, naming the plug-in, the time and the incident."""
        self.time = t  # plug-in code may read model.time or schedule "after" it
        try:
            hook(t, i, *args)
        except PlugInFailed:
            raise
        except Exception as err:
            raise self._failure(err, f"{what} at t={t:.1f} s, incident {i}") from err

    @staticmethod
    def _failure(err: Exception, where: str) -> PlugInFailed:
        frame = traceback.extract_tb(err.__traceback__)[-1]
        return PlugInFailed(f"plug-in {where} raised {type(err).__name__}: {err} "
                            f"({frame.filename}:{frame.lineno})")  # fmt: skip

    def _plug_in_arrival(self, i: int, t: float) -> None:
        """A plug-in responder reached incident ``i``: first help for a kind needing no police."""
        if math.isnan(self.ledger.cleared_s[i]):
            self._clear_without_police(i)

    # ------------------------------------------------------------------ Mesa's time API
    def schedule_event(
        self, function: Callable, *, at: float | None = None, after: float | None = None,
        priority: mesa.time.Priority = mesa.time.Priority.DEFAULT,
    ) -> mesa.time.Event:  # fmt: skip
        """Mesa's ``Model.schedule_event`` on the model's own clock: ``function`` runs at
        ``at`` (or ``after`` seconds from now) among the model's events, after every built-in
        event of that time, in the order scheduled. As in Mesa, the event holds ``function``
        by weak reference (an agent's method; a lambda is refused) and ``cancel()`` on the
        returned event drops it. Events of one time run in the order scheduled: a priority
        other than the default is refused rather than ignored."""
        if (at is None) == (after is None):
            raise ValueError("give exactly one of 'at' or 'after'")
        _default_priority_only(priority)
        time = float(at) if at is not None else float(self.time) + float(after or 0.0)
        if not math.isfinite(time) or time < self.time:
            raise ValueError(f"cannot schedule at {time!r}: the clock is at {self.time}")
        event = mesa.time.Event(time, function)
        self._mesa_pending[self._seq] = (event, float(self.time))
        self._push(time, EventKind.MESA, self._seq)
        return event

    def schedule_recurring(
        self, function: Callable, schedule: mesa.time.Schedule,
        priority: mesa.time.Priority = mesa.time.Priority.DEFAULT,
    ) -> RecurringEvent:  # fmt: skip
        """Mesa's ``Model.schedule_recurring`` on the model's clock (:mod:`sim.model.recurring`):
        ``function`` runs at the times ``schedule`` gives, through :meth:`schedule_event`."""
        _default_priority_only(priority)
        return RecurringEvent(self, function, schedule).start()

    def _mesa_event(self, t: float, key: int, _detail: int) -> None:
        event, _ = self._mesa_pending.pop(key)
        self.time = t
        try:
            event.execute()
        except PlugInFailed:
            raise
        except Exception as err:
            function = event.fn() if event.fn is not None else None  # the weak reference
            name = getattr(function, "__qualname__", "?")
            raise self._failure(err, f"Mesa event {name} at t={t:.1f} s") from err

    # ------------------------------------------------------------------ running
    def _push(self, t: float, kind: EventKind, subject: int, detail: int = -1) -> None:
        """Queue an event; ``subject`` and ``detail`` mean what ``EVENT_PAYLOAD[kind]`` says."""
        heapq.heappush(self._heap, (t, kind, self._seq, subject, detail))
        self._seq += 1

    def advance_to(self, until_s: float) -> None:
        """Process every event up to and including ``until_s`` (capped at the run's end)."""
        if (
            isinstance(until_s, bool)
            or not isinstance(until_s, numbers.Real)
            or math.isnan(until_s)
        ):
            raise ValueError(f"until_s must be a number of seconds, got {until_s!r}")
        until_s = min(until_s, self.end_s)
        self.ledger.fill_to(int(np.searchsorted(self._occurred, until_s, side="right")))
        with _collector_paused():
            self._advance(until_s)
        if self.why_not_compiled is not None:
            why = self.why_not_compiled
            self.compiled_choices[why] = self.compiled_choices.get(why, 0) + 1
        self.time = max(float(self.time), until_s)
        if until_s >= self.end_s or (not self._heap and self._fed == len(self.incidents)):
            self.finished = True
            self.ledger.fill_to(len(self.incidents))  # every row defined from here on
            self.running = False

    #: The compiled loop (sim.model.police_kernel, numba: the fast extra) for the runs it
    #: covers: None (default) where it pays (:meth:`_why_not_compiled`), True whenever it
    #: covers the run (tests, benchmarks), False never (the Python loop, the reference).
    KERNEL: ClassVar[bool | None] = None
    #: CPU a process spends loading numba and the compiled loop from its cache, s (import
    #: numba 0.19 s, the loop 0.15 s; a run whose other responders' events the loop hands
    #: to Python pays ~0.08 s more, once a process and set of argument types, for numba to
    #: compile that hand-over's object-mode block), and what it saves per incident against
    #: the Python loop at the least, s (M/M/10: 11.1 µs a call in Python, 1.3 µs compiled,
    #: plus copying the state in and out; the city, whose other responders' events stay in
    #: Python, saves ~30 µs): loading pays for a run whose incidents to come save more.
    KERNEL_LOAD_S: ClassVar[float] = 0.33
    KERNEL_SAVES_S: ClassVar[float] = 9.5e-6

    def _why_not_compiled(self, until_s: float) -> str | None:
        """Why this call does not take the compiled loop (None: it does)."""
        setting = os.environ.get("JIEFANG_KERNEL", "").strip().lower()
        if self.KERNEL is False:
            return "turned off (ResponseModel.KERNEL = False)"
        if setting in ("0", "off", "no", "false"):
            return "turned off (JIEFANG_KERNEL=off)"
        why = self.outside_kernel()
        if why is not None:
            return why
        if self.KERNEL is None and setting not in ("1", "on", "yes", "true"):
            why = self._compiled_costs_more(until_s)
            if why is not None:
                return why
        from sim.model import police_kernel  # numba (the fast extra) only from here

        return police_kernel.why_not(self)

    def _compiled_costs_more(self, until_s: float) -> str | None:
        """Why the compiled loop would cost more than it saves here (None: it pays). Each
        call copies the event heap, the call queue and the units into arrays and back (~1.5
        µs per entry and ~60 µs a call, against ~2 µs per event saved), so a short step with
        a long queue (a viewer's minute, an hour of an overloaded run) stays in Python; and
        a process loads numba only for a run whose incidents to come repay loading it."""
        occurred = self._occurred
        kernel = sys.modules.get("sim.model.police_kernel")
        if not (kernel is not None and kernel.loaded()):
            saves = (len(occurred) - self._fed) * self.KERNEL_SAVES_S
            if saves < self.KERNEL_LOAD_S:
                return (f"loading numba (~{self.KERNEL_LOAD_S:g} s) costs more than the "
                        f"compiled loop saves on this run (~{saves:.2g} s)")  # fmt: skip
        ahead = int(np.searchsorted(occurred, until_s, side="right")) - self._fed
        state = len(self._heap) + len(self._queue) + len(self.police)
        if 10 * ahead < 60 + 1.5 * state:
            return "copying the state in and out costs more than this step saves"
        return None

    def compiled_record(self) -> dict[str, int | dict[str, int]]:
        """Where this run went through the compiled loop, for ``jiefang run -v`` and the run's
        manifest: advance calls in all, those compiled, and the others by why they were not
        (``_why_not_compiled``'s reasons; the rule is that method's, this only reports it)."""
        not_compiled = dict(sorted(self.compiled_choices.items(), key=lambda kv: -kv[1]))
        return {
            "advance_calls": self.kernel_calls + sum(not_compiled.values()),
            "compiled_calls": self.kernel_calls,
            "why_not_compiled": not_compiled,
        }

    def police_only(self) -> bool:
        """Whether the run has police alone (no MEUs, volunteers, plug-in fleets or Mesa
        events). The compiled loop covers other runs too (:meth:`outside_kernel`)."""
        return (not self.fleets and not len(self.meus) and not len(self.volunteers)
                and not self._mesa_pending)  # fmt: skip

    def outside_kernel(self) -> str | None:
        """What of the run the compiled loop does not take (None: nothing): a plug-in fleet
        that does not declare ``reads_police = False`` (its hooks run from inside the loop,
        which holds the police fleet's state until it returns), or a police roster (the loop
        has no off-duty units)."""
        for fleet in self.fleets:
            if getattr(fleet, "reads_police", True):
                return f"plug-in fleet {fleet.name!r} may read the police (reads_police)"
        if self._roster is not None:
            return "a police roster (police.on_duty_share: fewer units on duty in some hour)"
        return None

    def _advance(self, until_s: float) -> None:
        self.why_not_compiled = self._why_not_compiled(until_s)
        if self.why_not_compiled is None:
            from sim.model import police_kernel

            police_kernel.advance(self, until_s)
            self.kernel_calls += 1
            return
        heap, handlers, trace = self._heap, self._handlers, self.trace
        pop, push, occurs = heapq.heappop, heapq.heappush, EventKind.OCCURS
        # Handlers take the event time as an argument; Model.time (an observable in Mesa,
        # costly to set) is brought up to date once per call. Occurrences stay in their
        # array, read a block at a time: the next one is merged with the heap by its key
        # (time, OCCURS, sequence number = incident), the order one heap of all would give.
        # A handler may return the one event it causes last (a follow-on): processed at once
        # when it would be the next event anyway (before the heap's first and the next
        # occurrence, within until_s), else pushed. Either way the order is the heap's.
        occurred, feed = self._occurred, self.FEED_BLOCK
        n, fed = len(occurred), self._fed
        block, lo = occurred[fed : fed + feed].tolist(), fed
        t_occ = block[0] if fed < n else math.inf
        occ_key = (t_occ, occurs, fed)
        ev: tuple | None
        try:
            while True:
                if heap and heap[0] < occ_key:
                    if heap[0][0] > until_s:
                        break
                    ev = pop(heap)
                else:
                    if t_occ > until_s:
                        break
                    ev = (t_occ, occurs, fed, fed, -1)
                    fed += 1
                    if fed - lo == len(block):
                        block, lo = occurred[fed : fed + feed].tolist(), fed
                    t_occ = block[fed - lo] if fed < n else math.inf
                    occ_key = (t_occ, occurs, fed)
                while ev is not None:
                    t, kind, _, a, b = ev
                    if trace is not None:
                        trace.append(Event(t, kind, a, b))
                    ev = handlers[kind](self, t, a, b)
                    if ev is not None and not (
                        ev[0] <= until_s and ev < occ_key and (not heap or ev < heap[0])
                    ):
                        push(heap, ev)
                        ev = None
        finally:
            self._fed = fed

    #: Occurrence times read from their array at a time (see ``_advance``).
    FEED_BLOCK = 512

    def occurred_by(self, n: int) -> float:
        """When the ``n``-th incident still to occur occurs (s; the run's end if fewer are
        left)."""
        k = self._fed + n - 1
        return float(self._occurred[k]) if k < len(self._occurred) else self.end_s

    def run(self) -> list[IncidentRecord]:
        """Run to the end (horizon plus drain time) and return the records."""
        self.advance_to(self.end_s)
        return self.records()

    #: Simulated seconds one :meth:`step` advances (Mesa's step is one time unit; the
    #: model's unit is the second, and a viewer or ``mesa.batch_run`` steps by the minute).
    STEP_S: ClassVar[float] = 60.0

    def step(self) -> None:
        """Mesa's ``Model.step``: advance one simulated minute (:attr:`STEP_S`), count it in
        ``steps`` and collect ``datacollector`` (viewers, ``run_model``, ``mesa.batch_run``)."""
        self.advance_to(self.time + self.STEP_S)
        self.steps += 1
        self.datacollector.collect(self)

    def run_for(self, duration: float) -> None:
        """Mesa's ``Model.run_for``: process every event of the next ``duration`` simulated
        seconds (Mesa events of ``schedule_event`` among them); ``steps`` is unchanged."""
        self.advance_to(self.time + duration)

    def run_until(self, end_time: float) -> None:
        """Mesa's ``Model.run_until``: process every event up to ``end_time`` simulated
        seconds (capped at the run's end); a time already passed leaves the model as it is."""
        self.advance_to(end_time)

    def columns_so_far(self) -> dict[str, np.ndarray]:
        """What the tiers need of the incidents that have happened so far, as arrays straight
        from the ledger (viewers and data collectors ask every step: no records are built)."""
        inc, ledger = self.incidents, self.ledger
        self._not_handed_over(0)
        n = int(np.searchsorted(inc.occurred_s, self.time, side="right"))
        cols = {
            "kind": np.asarray(inc.kind_names, dtype=object)[inc.kind[:n]],
            "occurred_s": inc.occurred_s[:n],
            "self_rescue_by": ledger.rescue_values(0, n),
        }  # fmt: skip
        for name in self._kind_table:
            cols[name] = self.kind_column(name, 0, n)
        for name in ("meu_staff_on_scene", "volunteer_on_scene", "alerted_s", "self_rescue_s",
                     "first_meu_s", "first_volunteer_s", "first_police_s",
                     "police_dispatched_s"):  # fmt: skip
            cols[name] = getattr(ledger, name)[:n]
        for column in ledger.extra:
            cols[column] = ledger.extra_values(column, 0, n)
        return cols

    def tier_times_so_far(self) -> dict[str, np.ndarray]:
        """Time to each tier on its own clock (s; inf = not yet / never) for the incidents
        that have happened and that the tier counts (definitions: :mod:`sim.analysis.metrics`);
        incidents in the warm-up included."""
        cols = self.columns_so_far()
        return {t.name: times_on_own_clock(cols, t) for t in self.config.tiers}

    def live_compliance(self) -> dict[str, float]:
        """Share of counted incidents so far whose tier arrived within its target (NaN: none
        yet). Cached per simulated time: viewers ask once per tier."""
        if getattr(self, "_live", (None,))[0] != self.time:
            out = {}
            targets = {t.name: t.target_s for t in self.config.tiers}
            for tier, t in self.tier_times_so_far().items():
                out[tier] = float(np.mean(t <= targets[tier])) if t.size else math.nan
            self._live = (self.time, out)
        return self._live[1]

    def calls_waiting(self) -> int:
        """Calls waiting in 110's queue for a free unit."""
        return len(self._queue) + sum(len(v) for v in self._aside.values())

    def waiting_calls(self) -> list[int]:
        """Incidents whose call waits for units, in the order they would be served."""
        aside = [entry for entries in self._aside.values() for entry in entries]
        return [entry[3] for entry in sorted(self._queue + aside)]

    def live_counts(self) -> dict[str, int]:
        """Incidents that have happened so far, and how many of them are not yet cleared."""
        happened = int(np.searchsorted(self.incidents.occurred_s, self.time, side="right"))
        ledger = self.ledger  # rows handed over (take_settled) are counted as they were
        kept = np.count_nonzero(~np.isnan(ledger.cleared_s[ledger.forgotten : happened]))
        cleared = ledger.cleared_forgotten + int(kept)
        return {"incidents": happened, "open": happened - cleared}

    # ------------------------------------------------------------------ event handlers
    def _occurs(self, t: float, i: int, _detail: int) -> tuple | None:
        inc = self.incidents
        staffed = self._has_meus and self.meus.staffed(self._cell[i], t)
        witness = -1
        if self._witnesses:
            ids = self._volunteer_lists.get(i)[1].ids_of(i)
            if ids.size:  # most scenes have no volunteer this near
                free = ids[self.volunteers.free_at(ids, t)]
                witness = int(free[0]) if free.size else -1
        someone_there = staffed or witness >= 0
        if someone_there:  # the flags start False, and an incident occurs once
            self.ledger.meu_staff_on_scene[i] = staffed
            self.ledger.volunteer_on_scene[i] = witness >= 0
        witness_delay = float(inc.witness_delay_s[i]) if someone_there else math.inf
        delay, way = first_alert(float(inc.call_delay_s[i]), float(inc.camera_delay_s[i]),
                                 witness_delay)  # fmt: skip
        alerted, follow = NAN, None
        if math.isfinite(delay):
            how = DETECTED_BY[way]
            # Event times stay Python floats (the same values as the ledger's float64):
            # numpy scalars would make every later comparison and sum in the heap and the
            # handlers several times slower.
            alerted = t + delay
            self.ledger.detected(i, how)
            self.ledger.alerted_s[i] = alerted
            follow = (alerted, EventKind.ALERT, self._seq, i, -1)  # the follow-on (_advance)
            self._seq += 1
        if self._kinds[self._kind_code[i]].self_rescue and someone_there:
            self.ledger.self_rescue_s[i] = t + inc.self_rescue_delay_s[i]
            if staffed:
                self.ledger.self_rescued(i, HelpSource.MEU_STAFF)
            else:
                self.ledger.self_rescued(i, HelpSource.VOLUNTEER_ON_SITE)
                release = self.ledger.self_rescue_s[i] + self.config.volunteers.on_scene_s
                self.volunteers.occupy(witness, release)
                self.assignments.append(
                    Assignment("volunteer", witness, i, t, self.ledger.self_rescue_s[i], release)
                )
        if not math.isfinite(alerted):  # the ledger's alerted_s[i], read without numpy
            self._clear_without_police(i)
        return follow

    def _alert(self, t: float, i: int, _detail: int) -> tuple | None:
        kind = self._kinds[self._kind_code[i]]
        for fleet in self.fleets:
            if kind.fleets.get(fleet.name, 0):
                self._plug_in_call(fleet.alert, f"fleet {fleet.name!r} (alert)", t, i,
                                   kind.fleets[fleet.name])  # fmt: skip
        if kind.volunteers and len(self.volunteers):
            self._alert_volunteers(t, i)
        if kind.meu_teams and len(self.meus):
            self._send_meu_teams(t, i, kind.meu_teams)
        if kind.police_units:
            self._seq += 1
            return (t + float(self._call_handling[i]), EventKind.POLICE_CALL, self._seq - 1, i, -1)
        self._clear_without_police(i)
        return None

    def someone_may_be_at(self, lo: int, hi: int) -> np.ndarray:
        """For incidents ``lo`` to ``hi - 1``: whether :meth:`_occurs` may find someone at the
        scene (an MEU site on its cell, a volunteer within the witness radius); where not, it
        finds nobody at any time. Witnesses are looked up over no more blocks of incidents
        than their lists keep at once (past those, every incident may have one)."""
        out = np.zeros(hi - lo, bool)
        if self._has_meus:
            cells = np.frombuffer(self._cell, np.int32)[lo:hi]
            out |= self.meus.on_cell[cells]
        if self._witnesses and hi > lo:
            cache = self._volunteer_lists
            blocks = range(lo // cache.block, (hi - 1) // cache.block + 1)
            if len(blocks) > cache.keep:
                out[:] = True
                return out
            for b in blocks:
                near = cache.get(b * cache.block)[1]  # the witnesses' lists of that block
                first, last = max(lo, near.first), min(hi, near.first + near.offsets.size - 1)
                k = np.arange(first, last) - near.first
                out[first - lo : last - lo] |= near.offsets[k + 1] > near.offsets[k]
        return out

    def clearance_releases_others(self, kind: IncidentKind) -> bool:
        """Whether :meth:`_release_others` may change anything at the clearance of an
        incident of ``kind``: MEU teams the kind asks for, a plug-in fleet it asks for or
        one that does not declare ``clears_only_alerted``, or (with plug-in fleets) a kind
        needing no police, whose clearance due is dropped."""
        return (
            bool(kind.meu_teams and self._has_meus)
            or any(_clear_matters(fleet, kind) for fleet in self.fleets)
            or (bool(self.fleets) and not kind.police_units)
        )

    def alert_calls_others(self, kind: IncidentKind) -> bool:
        """Whether :meth:`_alert` of an incident of ``kind`` does more than call the police:
        it asks a plug-in fleet, volunteers or MEU teams, or the kind needs no police (the
        incident may clear after first help)."""
        return (
            any(kind.fleets.get(fleet.name, 0) for fleet in self.fleets)
            or bool(kind.volunteers and len(self.volunteers))
            or bool(kind.meu_teams and len(self.meus))
            or not kind.police_units
        )

    def _alert_volunteers(self, t: float, i: int) -> None:
        cfg = self.config.volunteers
        ids, lag, _ = self._volunteer_lists.get(i)[0].of(i)
        free = np.flatnonzero(self.volunteers.free_at(ids, t))[: cfg.max_responders]
        if free.size == 0:
            return
        ids, arrival = ids[free], t + lag[free]
        release = arrival + cfg.on_scene_s
        self.volunteers.occupy(ids, release)
        self.ledger.first_volunteer_s[i] = arrival[0]
        self.ledger.volunteers_sent[i] = ids.size
        occurred = self.incidents.occurred_s[i]
        self.ledger.volunteers_within_3min[i] = int(
            np.count_nonzero(arrival - occurred <= TIER_TARGET_S[Tier.MUTUAL])
        )
        self.assignments.extend(
            Assignment("volunteer", v, i, t, a, r)
            for v, a, r in zip(ids.tolist(), arrival.tolist(), release.tolist(), strict=True)
        )

    def _send_meu_teams(self, t: float, i: int, teams: int) -> None:
        ids, lag, dist = self._meu_lists.get(i).of(i)
        meus = self.meus
        # np.flatnonzero(meus.can_send(ids, t))[:teams] in plain Python (a few units; numpy's
        # per-call cost dominates): the same comparisons, all made before any team is sent
        hour = (t / 3600.0) % 24.0
        start, end, on_site, away = meus.open_from, meus.open_to, meus.roster_at(t), meus.away
        size, able, id_list = meus.cfg.team_size, [], ids.tolist()
        if teams <= 0:  # [:teams] keeps none
            return
        for k, u in enumerate(id_list):
            if open_at(hour, float(start[u]), float(end[u])) and (
                int(on_site[u]) - int(away[u]) >= size
            ):
                able.append(k)
                if len(able) == teams:
                    break
        if not able:
            return
        lag_list, dist_list = lag.tolist(), dist.tolist()
        for k in able:
            meus.send_team(id_list[k], i, dist_list[k], t + lag_list[k])
        self.ledger.first_meu_s[i] = t + lag_list[able[0]]
        self.ledger.meu_teams_sent[i] = len(able)

    def _police_call(self, t: float, i: int, _detail: int) -> tuple | None:
        kind = self._kinds[self._kind_code[i]]
        ledger = self.ledger
        ledger.police_call_s[i] = t
        ledger.police_pending[i] = kind.police_units
        follow = self._dispatch(t, i, kind.police_units, t)
        if ledger.police_pending[i] > 0:
            heapq.heappush(self._queue, (kind.priority, t, self._seq, i))
            self._seq += 1
        return follow

    def _dispatch(self, t: float, i: int, need: int, called: float) -> tuple | None:
        """Send the nearest available units (by travel time) for the ``need`` units incident
        i still needs (its ``police_pending``), its call placed at ``called`` (s); returns
        the last unit's arrival, not yet pushed (a follow-on: see ``_advance``)."""
        police = self.police
        if not police.free_ids:
            return None
        ledger = self.ledger
        scene, bank = self.incidents.xy[i], self._bank_of[i]
        if self._sends_nearest:
            units, travel = police.nearest_free(t, scene, bank, need)
            found = len(travel)
            while found and not math.isfinite(travel[found - 1]):  # (by time: the unreachable
                found -= 1  # come last) units that cannot reach the scene are not sent
        else:
            call = Call(i, t, scene, bank, self._grid[i], need)
            chosen = self.dispatch_policy.choose(call, AvailableUnits(police, call))
            chosen_u, chosen_t = np.asarray(chosen[0], np.int64), np.asarray(chosen[1], float)
            if chosen_u.shape != chosen_t.shape:
                name = type(self.dispatch_policy).__name__
                raise ValueError(f"dispatch policy {name!r} returned {chosen_u.size} units and "
                                 f"{chosen_t.size} travel times")  # fmt: skip
            reach = np.isfinite(chosen_t)
            units, travel = chosen_u[reach].tolist(), chosen_t[reach].tolist()
            found = len(units)
        if not found:
            return None
        if math.isnan(ledger.police_dispatched_s[i]):
            ledger.police_dispatched_s[i] = t
        heap, seq, follow = self._heap, self._seq, None
        for k in range(found):
            u = units[k]
            police.commit(u, i, t)
            if follow is not None:
                heapq.heappush(heap, follow)
            follow = (t + travel[k], EventKind.POLICE_ARRIVES, seq, i, u)
            seq += 1
        self._seq = seq
        left = need - found
        ledger.police_pending[i] = left
        if left == 0:
            ledger.police_wait_s[i] = t - called
        if self._moves_units:
            self.move_up.rebalance(police, t)
        return follow

    def _police_arrives(self, t: float, i: int, unit: int) -> tuple | None:
        self.police.reach_scene(unit, t)
        ledger = self.ledger
        arrived = int(ledger.police_arrived[i]) + 1
        ledger.police_arrived[i] = arrived
        if arrived == 1:
            ledger.first_police_s[i] = t
        if arrived == self._kinds[self._kind_code[i]].police_units:
            ledger.last_police_s[i] = t
            first = t if arrived == 1 else float(ledger.first_police_s[i])
            done = clears_at(first, float(self.incidents.handling_s[i]), t)
            self._seq += 1
            return (done, EventKind.UNIT_CLEARS, self._seq - 1, i, -1)
        return None

    def _clear_without_police(self, i: int) -> None:
        """Kinds that need no police (or incidents nobody reported) end after first help."""
        if self._kinds[self._kind_code[i]].police_units and math.isfinite(self.ledger.alerted_s[i]):
            return
        # np.nanmin of the three and inf, in plain Python (the same float)
        ledger, first = self.ledger, math.inf
        for v in (ledger.self_rescue_s[i], ledger.first_meu_s[i], ledger.first_volunteer_s[i]):
            if v < first:  # False for NaN
                first = float(v)
        if self.fleets:  # plug-in arrivals are help too (the earliest clearance due wins)
            for fleet in self.fleets:
                v = ledger.extra[f"first_{fleet.name}_s"][i]
                if v < first:
                    first = float(v)
            if first + self.incidents.handling_s[i] >= self._clear_due.get(i, math.inf):
                return
            self._clear_due[i] = float(first + self.incidents.handling_s[i])
        if math.isfinite(first):
            self._push(float(first + self.incidents.handling_s[i]), EventKind.UNIT_CLEARS, i)

    def _clears(self, t: float, i: int, _detail: int) -> None:
        ledger = self.ledger
        if not math.isnan(ledger.cleared_s[i]):
            return
        ledger.cleared_s[i] = t
        released = self.police.release(i)
        if released:
            scene, bank = self.incidents.xy[i], self._bank_of[i]
            for u, sent, arrived in released:
                self.police.leave_scene(u, t, scene, bank)
                # tuple.__new__: the record without NamedTuple's Python-level __new__ (a call)
                self.assignments.append(
                    tuple.__new__(Assignment, ("police", u, i, sent, arrived, t))
                )
        if self.releases_others:
            self._release_others(t, i)
        if self._queue or self._aside:
            self._serve_queue(t)
        if self._moves_units:
            self.move_up.rebalance(self.police, t)

    def _release_others(self, t: float, i: int) -> None:
        """The clearance of incident ``i`` for every responder but police: plug-in fleets'
        ``clear`` and MEU teams walking back (after police leave, before waiting calls are
        served)."""
        if self.fleets:
            self._clear_due.pop(i, None)
            kind = self._kinds[self._kind_code[i]]
            for fleet in self.fleets:
                if _clear_matters(fleet, kind):
                    self._plug_in_call(fleet.clear, f"fleet {fleet.name!r} (clear)", t, i)
        for m, dist, arrival in self.meus.release_teams(i) if self._has_meus else ():
            back = max(t, arrival) + dist / self.config.travel.walk_m_s
            self._push(back, EventKind.TEAM_RETURNS, i, m)
            self.assignments.append(
                Assignment("meu", m, i, self.ledger.alerted_s[i], arrival, back)
            )

    def _serve_queue(self, t: float) -> None:
        """Serve waiting calls in priority order (popped from the heap, never re-sorted). A
        call no free unit can reach (across water without a bridge) stays queued without
        holding up the calls behind it: with a built-in policy it waits aside, by the region
        of its scene, until a unit of that region is free, so it is not asked again at every
        clearance; the order of service is the same."""
        police, queue, ledger = self.police, self._queue, self.ledger
        free = police.free_ids
        if not free or not (queue or self._aside):
            return
        if self._aside:
            self._back_from_aside(t)
        kept: list[
            tuple[int, float, int, int]
        ] = []  # partly served: they stay queued, behind nothing they were ahead of
        # The first call aside: when its turn comes with a unit free, it would have been
        # asked (and settled units home); calls set aside in this loop were asked.
        first_aside = self._aside_min() if self._aside else None
        settled = first_aside is None
        while queue and free:
            entry = queue[0]
            if first_aside is not None and not settled and first_aside < entry:
                self._settle_for_aside(t)
                settled = True
            heapq.heappop(queue)
            i = entry[3]
            before = int(ledger.police_pending[i])
            follow = self._dispatch(t, i, before, entry[1])
            if follow is not None:
                heapq.heappush(self._heap, follow)
            if ledger.police_pending[i] == 0:
                continue
            if self._reach_only and ledger.police_pending[i] == before:
                region = int(self._region_of_bank[self._bank_of[i]])
                self._aside.setdefault(region, []).append(entry)
                settled = True
            else:
                kept.append(entry)
        if not settled and free:
            self._settle_for_aside(t)
        for entry in kept:
            heapq.heappush(queue, entry)

    def _aside_min(self) -> tuple[int, float, int, int]:
        return min(min(entries) for entries in self._aside.values())

    def _settle_for_aside(self, t: float) -> None:
        """A call set aside would have been asked for units here: the built-in policies then
        look at every available unit, settling those home from their last scene."""
        self.police.settle_free(t)

    def _back_from_aside(self, t: float) -> None:
        """Calls set aside whose region has a free unit now go back into the queue."""
        regions = self.police.free_regions(t, self._region_of_bank)
        for region in [r for r in self._aside if r in regions]:
            for entry in self._aside.pop(region):
                heapq.heappush(self._queue, entry)

    def _start_roster(self, cfg: PoliceConfig) -> None:
        """Police on duty by hour (``police.on_duty_share``): the first hour's units from the
        start, then a ROSTER event at each hour boundary where the count changes (the next
        one pushed as each is handled). No random draw: the roster shifts no stream."""
        self._roster = on_duty_counts(cfg.on_duty_share, cfg.units) if cfg.has_roster else None
        if self._roster is not None:
            self.police.set_on_duty(self._roster[0])
            self._push_roster_change(0)

    def _push_roster_change(self, hour: int) -> None:
        """Push the first change of the roster after hour ``hour`` (hours since the start)."""
        counts = self._roster
        assert counts is not None
        for k in range(hour + 1, hour + 25):
            if counts[k % 24] != counts[(k - 1) % 24]:
                if k * 3600.0 <= self.end_s:
                    self._push(k * 3600.0, EventKind.ROSTER, k, counts[k % 24])
                return

    def _roster_change(self, t: float, hour: int, on_duty: int) -> None:
        """An hour starts with ``on_duty`` police units on duty: units go off (a busy one once
        released) or come on; calls waiting are served by those coming on."""
        came = self.police.set_on_duty(on_duty)
        self._push_roster_change(hour)
        if came and (self._queue or self._aside):
            self._serve_queue(t)
        if self._moves_units:
            self.move_up.rebalance(self.police, t)

    def _team_returns(self, t: float, i: int, meu: int) -> None:
        self.meus.team_back(meu)

    def _schedule_readiness_tests(self, rng: np.random.Generator) -> None:
        """Unannounced tests: a Poisson number a day at uniform times in the test hours, each
        of a unit drawn uniformly; from their own stream, so they never shift incidents."""
        cfg = self.config.meus
        if not cfg.readiness_tests_per_day or not len(self.meus):
            return
        start_h, end_h = cfg.readiness_test_hours
        days = int(np.ceil(self.horizon_s / 86400.0))
        counts = rng.poisson(cfg.readiness_tests_per_day, size=days)
        day = np.repeat(np.arange(days), counts)
        hours = start_h + rng.random(day.size) * max(end_h - start_h, 0.0)
        times = day * 86400.0 + hours * 3600.0
        units = rng.integers(0, len(self.meus), size=day.size)
        keep = times < self.horizon_s
        times, units = times[keep], units[keep]
        # Test k has sequence number self._seq + k. Only the next test waits in the heap, the
        # others in arrays by (time, test) (a city year has 400,000 tests, ~130 B each as heap
        # entries): each test brings in the next as it is done, so the order of events is
        # what one heap of them all gave.
        order = np.lexsort((np.arange(times.size), times))
        self._tests = (times[order], order.astype(np.int32), units[order].astype(np.int32),
                       self._seq)  # fmt: skip
        self._seq += times.size
        self._next_test = 0
        test = self._test_event()
        if test is not None:
            self._heap.append(test)

    _tests: tuple[np.ndarray, np.ndarray, np.ndarray, int] | None = None
    _next_test = 0

    def _test_event(self) -> tuple | None:
        """The next readiness test's event (taken from the arrays), or None: no more."""
        if self._tests is None or self._next_test >= self._tests[0].size:
            return None
        times, tests, units, first_seq = self._tests
        j = self._next_test
        self._next_test = j + 1
        k = int(tests[j])
        return (float(times[j]), EventKind.READINESS_TEST, first_seq + k, k, int(units[j]))

    def _readiness_test(self, t: float, test: int, meu: int) -> tuple | None:
        meus = self.meus
        is_open = bool(meus.open_mask(t, np.array([meu]))[0])
        free = max(int(meus.roster_at(t)[meu] - meus.away[meu]), 0) if is_open else 0
        self.readiness.append(test, t, meu, int(meus.site_use[meu]), is_open, free,
                              is_open and free >= self.config.meus.team_size)  # fmt: skip
        return self._test_event()  # the follow-on (_advance)

    _handlers: ClassVar[dict] = {
        EventKind.OCCURS: _occurs,
        EventKind.ALERT: _alert,
        EventKind.POLICE_CALL: _police_call,
        EventKind.POLICE_ARRIVES: _police_arrives,
        EventKind.UNIT_CLEARS: _clears,
        EventKind.TEAM_RETURNS: _team_returns,
        EventKind.READINESS_TEST: _readiness_test,
        EventKind.FLEET: _fleet_event,
        EventKind.MESA: _mesa_event,
        EventKind.ROSTER: _roster_change,
    }

    # ------------------------------------------------------------------ records
    def records(self, n: int | None = None) -> list[IncidentRecord]:
        """One immutable record per incident, in incident order (the first ``n`` only, if
        given: viewers ask for the incidents that have happened so far). Fields the ledger
        holds are read from its column of the same name; the rest are derived here."""
        n = len(self.incidents) if n is None else n
        # tuple.__new__ is what IncidentRecord._make calls, without its Python frame.
        make = functools.partial(tuple.__new__, IncidentRecord)
        out: list[IncidentRecord] = []
        with _collector_paused():  # a tuple per incident: see _collector_paused
            for lo in range(0, n, RECORDS_BLOCK):
                cols = self.record_columns(lo, min(lo + RECORDS_BLOCK, n))
                values = [v.tolist() if isinstance(v, np.ndarray) else v for v in cols.values()]
                out.extend(map(make, zip(*values, strict=True)))
        return out

    def _not_handed_over(self, lo: int) -> None:
        """Raise if incident ``lo`` on were read after :meth:`take_settled` handed it over
        (the ledger keeps no rows of those)."""
        if lo < self.ledger.forgotten:
            raise ValueError(
                f"incidents before {self.ledger.forgotten} were handed over by take_settled; "
                "their records are in the chunks it returned"
            )

    def record_columns(self, lo: int, hi: int) -> dict[str, np.ndarray | list]:
        """The records of incidents ``lo .. hi - 1`` column by column, in the order of
        :class:`IncidentRecord`'s fields (tables are built from these without a tuple per
        incident)."""
        inc, city, ledger = self.incidents, self.city, self.ledger
        self._not_handed_over(lo)
        ledger.fill_to(hi)  # (incidents still to occur: nothing has happened to them)
        n = hi - lo
        xy = inc.xy[lo:hi]
        col, row = city.cell_of(xy)
        kind_idx = inc.kind[lo:hi]
        kc = {name: self.kind_column(name, lo, hi) for name in self._kind_table}
        labels = np.empty(max(LandUse) + 1, dtype=object)
        labels[[u.value for u in LandUse]] = [u.label for u in LandUse]
        cleared = ledger.cleared_s[lo:hi]
        occurred = inc.occurred_s[lo:hi]
        first_s, first_by = self._first_help_columns(lo, hi)
        derived = {
            "incident_id": np.arange(lo, hi, dtype=np.int64),
            "kind": np.asarray(inc.kind_names, dtype=object)[kind_idx],
            "sudden": kc["sudden"],
            "probe": inc.is_probe[lo:hi],
            "x_m": xy[:, 0],
            "y_m": xy[:, 1],
            "land_use": labels[city.land_use[row, col]],
            "police_grid": city.grid_of_cell[row, col].astype(np.int64),
            "station_distance_m": city.station_distances(xy),
            "hour": (occurred // 3600).astype(np.int64) % 24,
            "in_warmup": occurred < self.warmup_s,
            "layout": np.full(n, self.layout, np.int64),
            "kind_self_rescue": kc["kind_self_rescue"],
            "kind_volunteers": kc["kind_volunteers"],
            "meu_teams_needed": kc["meu_teams_needed"],
            "police_needed": kc["police_needed"],
            "occurred_s": occurred,
            "detected_by": ledger.detected_values(lo, hi),
            "self_rescue_by": ledger.rescue_values(lo, hi),
            "first_help_s": first_s,
            "first_help_by": first_by,
            "cleared_s": cleared,
            # the two strings shared by every row (a string object per row was 56 B each)
            "status": _STATUS[np.isnan(cleared).astype(np.intp)],
        }
        return {
            field: derived[field] if field in derived else getattr(ledger, field)[lo:hi]
            for field in IncidentRecord._fields
        }

    def incidents_table(self, lo: int = 0, hi: int | None = None):
        """The records (incidents ``lo .. hi - 1``; all by default) as a DataFrame, with the
        columns of plug-in fleets: ``<name>_needed``, ``first_<name>_s`` and ``<name>_sent``."""
        hi = len(self.incidents) if hi is None else hi
        df = frame_of_columns(self.record_columns(lo, hi), IncidentRecord)
        for fleet in self.fleets:
            df[f"{fleet.name}_needed"] = self.kind_column(f"{fleet.name}_needed", lo, hi)
        for column in self.ledger.extra:
            df[column] = self.ledger.extra_values(column, lo, hi)
        return df

    def settled(self) -> int:
        """How many leading incidents have a settled fate: nothing later changes their
        records. An incident is settled once it happened and was cleared, or happened
        unreported with nobody at the scene (no event will ever name it again); at the end
        of the run every incident is. Plug-in code may record arrivals after a clearance,
        from events it scheduled: an incident with a fleet event still to come, or cleared
        no earlier than a pending Mesa event was scheduled, is not settled yet."""
        n = len(self.incidents)
        if self.finished:
            return n
        lo = self._taken
        hi = int(np.searchsorted(self.incidents.occurred_s, self.time, side="right"))
        ledger = self.ledger
        done = ~np.isnan(ledger.cleared_s[lo:hi]) | (
            np.isnan(ledger.alerted_s[lo:hi]) & np.isnan(ledger.self_rescue_s[lo:hi])
        )
        if self.fleets:
            done &= self._fleet_pending[lo:hi] == 0
        if self._mesa_pending:
            since = min(scheduled for _, scheduled in self._mesa_pending.values())
            done &= ~(ledger.cleared_s[lo:hi] >= since)
        pending = np.flatnonzero(~done)
        return lo + int(pending[0]) if pending.size else hi

    _taken = 0  # incidents already handed over by take_settled
    _assignments_taken = 0  # assignments handed over (dropped from self.assignments)

    def take_settled(self, min_incidents: int = 0):
        """Hand over the records settled since the last call: (incidents table, assignments
        table), or None when fewer than ``min_incidents`` incidents are settled and the run
        is not finished. The assignments made so far go with them (they never change once
        made) and leave ``self.assignments``, so a long run holds neither; readiness tests
        stay (a few a day). Concatenated in order, the chunks are :meth:`incidents_table`
        and the assignments' table of a run that never called this."""
        hi = self.settled()
        if hi - self._taken < max(min_incidents, 1) and not self.finished:
            return None
        incidents = self.incidents_table(self._taken, hi)
        assignments = assignments_frame(self.assignments)
        self._assignments_taken += len(self.assignments)
        self.assignments.clear()
        self._taken = hi
        self._release_candidates(hi)
        for i in [i for i in self._clear_due if i < hi]:  # (dead once settled)
            del self._clear_due[i]
        self.ledger.forget_before(hi)
        return incidents, assignments

    def _release_candidates(self, settled: int) -> None:
        """Candidate blocks whose incidents are all settled are never asked for again."""
        for cache in (self._volunteer_lists, self._meu_lists):
            cache.release_before(settled)

    def _first_help_columns(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_first_help` for incidents ``lo .. hi - 1`` as columns: the earliest help
        and its source, ties to the earlier source in the order self-rescue, MEU team,
        volunteer, police, plug-in fleets (what ``min`` over the options in that order
        keeps)."""
        ledger = self.ledger
        options = [
            # (where nobody acted, self_rescue_s is NaN and never the earliest)
            (ledger.self_rescue_s[lo:hi], ledger.rescue_values(lo, hi, HelpSource.MEU_STAFF.value)),
            (ledger.first_meu_s[lo:hi], HelpSource.MEU_TEAM.value),
            (ledger.first_volunteer_s[lo:hi], HelpSource.VOLUNTEER.value),
            (ledger.first_police_s[lo:hi], HelpSource.POLICE.value),
            # plug-in fleets after the built-ins (their arrivals are help: _clear_without_police)
            *((ledger.extra[f"first_{f.name}_s"][lo:hi], f.name) for f in self.fleets),
        ]
        best = np.full(hi - lo, NAN)
        source = np.full(hi - lo, "", dtype=object)
        for t, by in options:
            take = ~np.isnan(t) & (np.isnan(best) | (t < best))
            best[take] = t[take]
            source[take] = by[take] if isinstance(by, np.ndarray) else by
        return best, source
