"""Immutable per-incident and per-assignment records (their tables: :mod:`sim.model.frames`).

Times are seconds from the start of the run (absolute), NaN where something never happened.
Tier times are derived in :mod:`sim.analysis.metrics` from these columns and the scenario's tier
table: each tier's clock starts at ``occurred_s``, ``alerted_s`` or ``police_dispatched_s``.
"""

from __future__ import annotations

import itertools
import warnings
from array import array
from collections.abc import Iterator, Sequence
from importlib import import_module
from typing import Any, NamedTuple, overload

import numpy as np

from sim.model.vocab import LandUse


class IncidentRecord(NamedTuple):
    incident_id: int  # index in the replication's incident stream (probes included)
    kind: str  # incident kind name from the scenario
    sudden: bool  # a sudden incident (the 1-3-5 standard's class); false: a routine call
    probe: bool  # a probe emergency (counted by the tiers, never as activity)
    x_m: float  # position, m east of the city's west edge
    y_m: float  # position, m south of the city's north edge
    land_use: str  # land use of the incident's cell
    police_grid: int  # police grid of the incident's cell
    station_distance_m: float  # travel distance to the nearest police station, m
    hour: int  # clock hour of occurrence, 0-23
    in_warmup: bool  # occurred before warmup_hours: excluded from metrics
    layout: int  # layout index (the replication, or 0 with layout: fixed)
    kind_self_rescue: bool  # the kind lets people at the scene act (self-rescue)
    kind_volunteers: bool  # the kind alerts volunteers
    meu_teams_needed: int  # MEU teams the kind asks for
    police_needed: int  # police units the kind needs
    meu_staff_on_scene: bool  # an open MEU with a member free was on the cell at occurrence
    volunteer_on_scene: bool  # a free on-duty volunteer was at the scene at occurrence
    occurred_s: float  # when it happened (the occurrence clock)
    alerted_s: float  # when the system learned of it (the alert clock; NaN: never reported)
    detected_by: str  # call, witness, camera or undetected
    self_rescue_s: float  # people at the scene acted (NaN: nobody able was there)
    self_rescue_by: str  # meu_staff, volunteer_on_site or "" (none)
    first_meu_s: float  # first MEU team on scene (NaN: none came)
    meu_teams_sent: int  # MEU teams sent
    first_volunteer_s: float  # first alerted volunteer on scene (NaN: none came)
    volunteers_sent: int  # volunteers who accepted and went
    volunteers_within_3min: int  # volunteers on scene within 180 s of occurrence
    police_call_s: float  # 110 finished taking the call (NaN: no police needed or no alert)
    police_dispatched_s: float  # first police unit sent (the dispatch clock; NaN: none sent)
    police_wait_s: float  # call to the last needed unit sent: time waiting for free units
    first_police_s: float  # first police unit on scene
    last_police_s: float  # last needed police unit on scene
    first_help_s: float  # earliest help of any kind
    first_help_by: str  # meu_staff, volunteer_on_site, meu_team, volunteer, police, a fleet, ""
    cleared_s: float  # incident cleared (NaN: still open at the end)
    status: str  # cleared or open


class Assignment(NamedTuple):
    """One responder's commitment to one incident."""

    responder: str  # police, meu or volunteer
    responder_id: int  # index within its fleet or pool
    incident_id: int
    sent_s: float  # committed (dispatched, accepted, or acting on site)
    arrived_s: float
    released_s: float  # free again (for MEU teams: back at their site)


class ReadinessTest(NamedTuple):
    """One unannounced readiness test of an MEU (radio and video call)."""

    test_id: int
    time_s: float
    unit_id: int
    site_land_use: str
    open: bool  # inside its opening hours
    members_free: int  # members on site and not out with a team
    ready: bool  # open with a full team free: could send a team now


_LAND_USE_LABEL = {u.value: u.label for u in LandUse}  # a site's land use code -> its label


class ReadinessLog:
    """The readiness tests of a run as they happen, held as columns (a city year has about
    400,000 tests: some 60 MB as ReadinessTest tuples, 9 MB as columns). Reads as a sequence
    of :class:`ReadinessTest`; :meth:`columns` gives the table's columns without a tuple per
    test (sim.model.frames.readiness_frame)."""

    def __init__(self) -> None:
        self._test, self._unit, self._free = array("q"), array("q"), array("q")
        self._time, self._use = array("d"), array("b")
        self._open, self._ready = array("b"), array("b")

    def append(self, test: int, time_s: float, unit: int, site_use: int, is_open: bool,
               free: int, ready: bool) -> None:  # fmt: skip
        """Test ``test`` of MEU ``unit`` (site land use code ``site_use``) at ``time_s``."""
        self._test.append(test)
        self._time.append(time_s)
        self._unit.append(unit)
        self._use.append(site_use)
        self._open.append(is_open)
        self._free.append(free)
        self._ready.append(ready)

    def __len__(self) -> int:
        return len(self._test)

    @overload
    def __getitem__(self, k: int) -> ReadinessTest: ...
    @overload
    def __getitem__(self, k: slice) -> list[ReadinessTest]: ...
    def __getitem__(self, k: int | slice) -> ReadinessTest | list[ReadinessTest]:
        if isinstance(k, slice):
            return [self[j] for j in range(len(self))[k]]
        return ReadinessTest(self._test[k], self._time[k], self._unit[k],
                             _LAND_USE_LABEL[self._use[k]], bool(self._open[k]), self._free[k],
                             bool(self._ready[k]))  # fmt: skip

    def __iter__(self) -> Iterator[ReadinessTest]:
        return (self[k] for k in range(len(self)))

    def columns(self) -> dict[str, list]:
        """The tests column by column, by the names of ReadinessTest's fields."""
        labels = _LAND_USE_LABEL
        return {"test_id": self._test.tolist(), "time_s": self._time.tolist(),
                "unit_id": self._unit.tolist(),
                "site_land_use": [labels[u] for u in self._use.tolist()],
                "open": [bool(v) for v in self._open.tolist()],
                "members_free": self._free.tolist(),
                "ready": [bool(v) for v in self._ready.tolist()]}  # fmt: skip


class AssignmentLog(Sequence[Assignment]):
    """The responders' commitments of a run as they are released, in that order. Python
    handlers (and plug-in fleets) append :class:`Assignment` records as to a list; the
    compiled loop adds its released police units a block of columns at a time
    (:meth:`add_police`), so that no tuple is built per row on their way to the table
    (:meth:`columns`, sim.model.frames.assignments_frame). Reads as a sequence of
    Assignment records."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget every assignment (the runner's hand-over has taken them)."""
        #: Blocks before the current list: lists of records, or police columns
        #: (units, incidents, sent, arrived, released) as arrays.
        self._blocks: list[list[Assignment] | tuple[np.ndarray, ...]] = []
        self._held = 0  # rows in those blocks
        self._new_list()

    def _new_list(self) -> None:
        self._rows: list[Assignment] = []
        # list.append itself, bound: the handlers' appends cost what a list's do
        self.append = self._rows.append
        self.extend = self._rows.extend

    def add_police(self, units: np.ndarray, incidents: np.ndarray, sent: np.ndarray,
                   arrived: np.ndarray, released: np.ndarray) -> None:  # fmt: skip
        """Police units released in this order (one row per element, copied)."""
        if not len(units):
            return
        if self._rows:
            self._blocks.append(self._rows)
            self._held += len(self._rows)
            self._new_list()
        block = (np.array(units, np.int64), np.array(incidents, np.int64), np.array(sent, float),
                 np.array(arrived, float), np.array(released, float))  # fmt: skip
        self._blocks.append(block)
        self._held += len(units)

    def __len__(self) -> int:
        return self._held + len(self._rows)

    @overload
    def __getitem__(self, k: int) -> Assignment: ...
    @overload
    def __getitem__(self, k: slice) -> list[Assignment]: ...
    def __getitem__(self, k: int | slice) -> Assignment | list[Assignment]:
        if isinstance(k, slice):
            return list(self)[k]
        n = len(self)
        if not -n <= k < n:
            raise IndexError("assignment index out of range")
        k %= n
        for block in self._blocks:
            size = len(block) if isinstance(block, list) else len(block[0])
            if k < size:
                if isinstance(block, list):
                    return block[k]
                return tuple.__new__(Assignment, ("police", *(c[k].item() for c in block)))
            k -= size
        return self._rows[k]

    def __iter__(self) -> Iterator[Assignment]:
        for block in self._blocks:
            yield from block if isinstance(block, list) else _police_records(block)
        yield from self._rows

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AssignmentLog | list | tuple):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # mutable, as a list

    def __repr__(self) -> str:
        return f"AssignmentLog({list(self)!r})"

    def columns(self) -> dict[str, list | np.ndarray]:
        """The assignments column by column, by the names of Assignment's fields (typed by
        sim.model.frames.frame_of_columns)."""
        parts: list[tuple] = []
        for block in [*self._blocks, self._rows]:
            if isinstance(block, list):
                if block:
                    parts.append(tuple(zip(*block, strict=True)))
            else:
                parts.append((["police"] * len(block[0]), *block))
        names = Assignment._fields
        if not parts:
            return {name: [] for name in names}
        return {names[0]: [r for part in parts for r in part[0]],
                **{name: np.concatenate([np.asarray(part[c]) for part in parts])
                   for c, name in enumerate(names) if c}}  # fmt: skip


def _police_records(block: tuple[np.ndarray, ...]) -> Iterator[Assignment]:
    """Assignment records of a block of police columns (:meth:`AssignmentLog.add_police`):
    a column at a time to Python values, each record built by tuple.__new__ (without
    NamedTuple's Python-level __new__)."""
    columns = [c.tolist() for c in block]
    rows = zip(itertools.repeat("police"), *columns, strict=False)
    return map(tuple.__new__, itertools.repeat(Assignment), rows)


INCIDENT_COLUMNS = IncidentRecord._fields
ASSIGNMENT_COLUMNS = Assignment._fields


#: Names that moved to sim.model.frames (the records' DataFrames, apart so that records do
#: not load pandas): still read from here, with a DeprecationWarning naming the new home.
_MOVED_TO_FRAMES = ("incidents_frame", "assignments_frame", "readiness_frame", "frame_of_columns")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_FRAMES:
        warnings.warn(f"sim.model.records.{name} moved to sim.model.frames.{name}",
                      DeprecationWarning, stacklevel=2)  # fmt: skip
        return getattr(import_module("sim.model.frames"), name)
    raise AttributeError(f"module 'sim.model.records' has no attribute {name!r}")
