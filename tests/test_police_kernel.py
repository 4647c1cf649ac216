"""The compiled police loop (sim/model/police_kernel.py) gives what the Python loop gives.

The Python loop (``ResponseModel._advance`` with the model's handlers) is the reference. Every
case here runs with ``ResponseModel.KERNEL`` on and off and compares
the tables (hashed as tests/test_identical_outputs.py hashes them), the model's and the fleet's
state at stops along the way, and runs advanced in pieces or switched between the two loops
part way; each checks the compiled loop did run, and the runs it must not take fall back.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import subprocess
import sys
import zlib
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sim.geo.scenario import load_scenario
from sim.model import police_kernel, spatial
from sim.model.fleets import FLEETS
from sim.model.incidents import IncidentStream
from sim.model.ledger import TIME_COLUMNS
from sim.model.plugins import PlugInFailed
from sim.model.responders.police import _LIST_BLOCK_UNITS, LEGS_PER_BLOCK, PoliceUnit
from sim.model.response import ResponseModel
from sim.model.vocab import EventKind, LandUse
from tests.conftest import ROOT, SCENARIOS, scenario
from tests.test_fast_path import CASES as FAST_PATH_CASES
from tests.test_fleets import FireBrigade, fire_scenario
from tests.test_identical_dispatch import _divided_city, _mmc
from tests.test_identical_outputs import table_digests

pytestmark = pytest.mark.skipif(not police_kernel.available(), reason="numba (the fast extra)")

FIXED = lambda s: {"dist": "fixed", "value": s}  # noqa: E731


def _kind(share: float, units: int, priority: int = 2, **more) -> dict:
    """A kind only the police answer."""
    return {"share": share, "priority": priority, "self_rescue": False, "volunteers": False,
            "meu_teams": 0, "police_units": units, **more}  # fmt: skip


#: Kinds that need one, two and three units, the most urgent needing most.
MIXED = {"one": _kind(3.0, 1, 3), "two": _kind(1.0, 2, 1), "three": _kind(0.4, 3, 0)}


def _city(units: int, per_unit_day: float = 12.0, **changes) -> dict:
    """A grid city of one bank (no river), police alone; ``changes`` merged key by key."""
    base = {
        "horizon_hours": 10.0, "warmup_hours": 1.0, "drain_hours": 4.0,
        "city": {"width": 30, "height": 24, "cell_size_m": 150.0, "population": 200000},
        "police": {"stations": 3, "grids": 12, "units": units, "patrol_when_idle": True},
        "incidents": {"rate_per_day": per_unit_day * units, "kinds": MIXED},
    }  # fmt: skip
    for key, value in changes.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return base


def _sc(units: int, per_unit_day: float = 12.0, **changes):
    return scenario(**_city(units, per_unit_day, **changes))


CASES = {
    "mmc-rho-0.8": lambda: _mmc(0.8, 4000),
    "mmc-rho-1.1": lambda: _mmc(1.1, 4000),
    "probes-cameras": FAST_PATH_CASES["probes-cameras"],
    # The same with cameras watching most of the city (that case's city has none): alerts by
    # camera, by call and never.
    "cameras-watching": lambda: scenario(
        horizon_hours=96.0,
        city={"camera_share": 0.7},
        police={"units": 3},
        incidents={
            "rate_per_day": 60.0,
            "probes_per_day": 6.0,
            "camera_delay": FIXED(30.0),
            "kinds": {
                "fight": _kind(2.0, 1, sudden=True, call_probability=0.7),
                "noise": _kind(1.0, 0, call_probability=0.5),
                "crash": _kind(1.0, 2, 0, sudden=True),
            },
        },
    ),
    # Legs of 20 s over 14 hours: about ten blocks of LEGS_PER_BLOCK legs of patrol spots,
    # so the compiled loop stops for spots it was not handed and is called again.
    "patrol-short-legs": lambda: _sc(8, 30.0, police={"patrol_leg_s": 20.0}),
    # More available units than SMALL_FLEET at times, fewer at others (the Python loop then
    # takes the vectorised search, then the plain one).
    "fleet-40-busy": lambda: _sc(40, 30.0, police={"patrol_leg_s": 300.0}),
    # All at one station, no patrol: every unit ties with every other (ties to the lower
    # unit), and the vectorised search's many-candidates branch.
    "fleet-60-ties": lambda: _sc(60, 20.0, police={"stations": 1, "patrol_when_idle": False}),
    # More units than _LIST_BLOCK_UNITS (the Python loop reads the spots as arrays).
    "fleet-100-busy": lambda: _sc(100, 28.0, horizon_hours=6.0),
    # Foot patrols, and congestion that changes the car speed by the hour.
    "foot-congestion": lambda: _sc(
        12,
        20.0,
        police={"car_share": 0.4},
        travel={
            "congestion_by_hour": [1.0] * 7 + [2.5, 3.0, 2.0] + [1.3] * 7 + [2.8] * 3 + [1.0] * 4
        },
        horizon_hours=30.0,
    ),
    # Far more calls than units can take: the queue grows, served by priority, drained.
    "overload-priorities": lambda: _sc(6, 60.0, drain_hours=24.0),
    # Cells of 1 km, two stations: drives back take hours (foot patrols more), and units are
    # sent from along their way home.
    "far-drive-back": lambda: _sc(
        10,
        20.0,
        city={"width": 40, "height": 30, "cell_size_m": 1000.0},
        police={"stations": 2, "grids": 6, "car_share": 0.5},
        travel={"congestion_by_hour": [1.0] * 12 + [1.8] * 12},
        horizon_hours=24.0,
    ),
}


# ---------------------------------------------------------------- rivers and bridges
def _river(axis: str = "horizontal", position: float = 0.5, bridges: int = 3,
           meander: float = 2.0, width: int = 2) -> dict:  # fmt: skip
    return {"axis": axis, "position": position, "width_cells": width,
            "meander_cells": meander, "bridges": bridges}  # fmt: skip


def _bridged(units: int, per_unit_day: float, rivers: list[dict], **changes):
    """:func:`_city` with ``rivers`` (each bridged: every bank of one region)."""
    city = {**changes.pop("city", {}), "rivers": rivers}
    return _sc(units, per_unit_day, city=city, **changes)


def _baseline_police_only():
    """The shipped scenario as it is: a river branch with three bridges, 20 days."""
    return load_scenario(SCENARIOS / "baseline-police-only.yaml")


#: Cities whose rivers bridges join into one region (the compiled loop takes them).
BRIDGED = {
    # One bridge: every unit across water drives to it.
    "river-1-bridge": lambda: _bridged(8, 20.0, [_river(bridges=1)], horizon_hours=20.0),
    # Three bridges and 30 units (more available than SMALL_FLEET at times: the vectorised
    # search with units across water, and units sent while driving back across it).
    "river-3-bridges-30": lambda: _bridged(
        30, 14.0, [_river(position=0.4)], police={"patrol_leg_s": 300.0}, horizon_hours=20.0
    ),
    # Two rivers crossing (four banks), two bridges each, no patrol (units at stations).
    "crossing-rivers-30": lambda: _bridged(
        30,
        14.0,
        [_river(bridges=2), _river("vertical", 0.6, 2, meander=1.0)],
        police={"patrol_when_idle": False},
        horizon_hours=20.0,
    ),
    # Twelve bridges (PoliceFleet._bridge_legs takes numpy above eight), 80 units.
    "bridges-12-80": lambda: _bridged(
        80,
        25.0,
        [_river("vertical", 0.5, 12, meander=3.0)],
        city={"width": 40, "height": 48},
        horizon_hours=8.0,
    ),
    # Foot patrols and hourly congestion on a river with two bridges.
    "river-foot-congestion": lambda: _bridged(
        12,
        20.0,
        [_river(bridges=2)],
        police={"car_share": 0.4},
        travel={
            "congestion_by_hour": [1.0] * 7 + [2.5, 3.0, 2.0] + [1.3] * 7 + [2.8] * 3 + [1.0] * 4
        },
        horizon_hours=30.0,
    ),
    # Overloaded, kinds of one, two and three units by priority: the queue grows.
    "river-overload": lambda: _bridged(
        6, 60.0, [_river(position=0.3, bridges=1)], drain_hours=24.0
    ),
    # Cells of 1 km, one bridge: drives back across water take hours; units are sent from
    # the scene they left.
    "river-far-drive-back": lambda: _bridged(
        10,
        20.0,
        [_river(bridges=1)],
        city={"width": 40, "height": 30, "cell_size_m": 1000.0},
        police={"stations": 2, "grids": 6, "car_share": 0.5},
        travel={"congestion_by_hour": [1.0] * 12 + [1.8] * 12},
        horizon_hours=24.0,
    ),
    # Two crossing rivers, 60 units all at one station, no patrol: ties, and the vectorised
    # search's many-candidates branch (City.distances_to) with units across water.
    "crossing-rivers-60-ties": lambda: _bridged(
        60,
        20.0,
        [_river(bridges=3), _river("vertical", 0.5, 2, meander=0.0)],
        police={"stations": 1, "patrol_when_idle": False},
        horizon_hours=10.0,
    ),
    "baseline-police-only": _baseline_police_only,
    # From RING_FROM units the compiled search takes its candidates ring by ring from the
    # buckets of the leg's spots: 400 units, two bridges, foot patrols, busy.
    "river-ring-400": lambda: _bridged(
        400,
        14.0,
        [_river(bridges=2)],
        city={"width": 60, "height": 50},
        police={"car_share": 0.6, "patrol_leg_s": 600.0},
        horizon_hours=8.0,
    ),
}

#: Kinds answered by volunteers, MEU teams and the professional fleet beside the police:
#: self-rescue on site, kinds that need no police (cleared after first help), and routine
#: police work.
EVERYONE = {
    "fight": {"share": 2.0, "priority": 1, "sudden": True, "self_rescue": True,
              "volunteers": True, "meu_teams": 1, "police_units": 1},
    "fall": {"share": 1.0, "sudden": True, "self_rescue": True, "volunteers": True,
             "meu_teams": 1, "police_units": 0},
    "fire": {"share": 0.5, "priority": 0, "sudden": True, "self_rescue": False,
             "volunteers": False, "meu_teams": 2, "police_units": 2,
             "fleets": {"professional": 1}},
    "traffic": _kind(3.0, 1),
}  # fmt: skip
RESPONDERS = {
    "volunteers": {"count": 600, "on_duty_share": 0.3, "witness_radius_m": 60.0},
    "meus": {"count": 20, "members_per_unit": 8.0, "on_duty_share": 0.5, "team_size": 2,
             "readiness_tests_per_day": 60},
    "fleets": {"professional": {"stations": 2, "per_station": 1, "turnout_s": 30.0}},
}  # fmt: skip


def _everyone(units: int, per_unit_day: float, rivers: list[dict] | None = None, **changes):
    """A city where volunteers, MEU teams (with readiness tests) and the professional fleet
    answer beside the police (the compiled loop hands their events to their Python
    handlers), on one bank or, with ``rivers``, bridged banks."""
    raw = _city(units, per_unit_day, **{**RESPONDERS, **changes})
    raw["incidents"]["kinds"] = EVERYONE
    if rivers is not None:
        raw["city"] = {**raw["city"], "rivers": rivers}
    return scenario(**raw)


#: Runs with every kind of responder.
EVERY_RESPONDER = {
    "everyone-busy": lambda: _everyone(8, 30.0, horizon_hours=30.0),
    "everyone-bridged-overload": lambda: _everyone(
        6, 60.0, [_river(position=0.4, bridges=2)], drain_hours=12.0
    ),
}

#: Every case by name.
ALL = {**CASES, **BRIDGED, **EVERY_RESPONDER}


def _count_kernel(monkeypatch) -> list[int]:
    """Count the compiled loop's calls (police_kernel.advance) from now on."""
    calls = [0]
    advance = police_kernel.advance

    def counted(model, until_s):
        calls[0] += 1
        return advance(model, until_s)

    monkeypatch.setattr(police_kernel, "advance", counted)
    return calls


def _digests_both_ways(monkeypatch, sc, seed: int = 11) -> tuple[dict, dict]:
    calls = _count_kernel(monkeypatch)
    _set_kernel(monkeypatch, False)
    python = table_digests(sc, seed)
    assert calls[0] == 0
    _set_kernel(monkeypatch, True)
    compiled = table_digests(sc, seed)
    assert calls[0] >= 2  # replications 0 and 1 each took the compiled loop
    return compiled, python


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_loop_gives_the_python_loops_tables(monkeypatch, name):
    sc = CASES[name]()
    model = ResponseModel(sc, seed=11)
    assert model.city.single_bank and police_kernel.why_not(model) is None
    compiled, python = _digests_both_ways(monkeypatch, sc)
    assert compiled == python
    model.run()  # KERNEL is on
    assert model.kernel_calls == 1


@pytest.mark.parametrize("name", sorted(EVERY_RESPONDER))
def test_runs_with_every_responder_give_the_python_loops_tables(monkeypatch, name):
    """Volunteers, MEU teams, readiness tests and a plug-in fleet beside the police: the
    compiled loop hands their events to their Python handlers, and the tables are equal."""
    sc = EVERY_RESPONDER[name]()
    model = ResponseModel(sc, seed=11)
    assert not model.police_only() and police_kernel.why_not(model) is None
    compiled, python = _digests_both_ways(monkeypatch, sc)
    assert compiled == python
    model.run()  # KERNEL is on
    assert model.kernel_calls == 1
    # What the case is for: every responder sent, on-site self-rescue, kinds cleared
    # without police, readiness tests, and police calls waiting.
    frame = model.incidents_table()
    for column in ("volunteers_sent", "meu_teams_sent", "professional_sent"):
        assert (frame[column] > 0).sum() >= 5, column
    assert frame["self_rescue_s"].notna().sum() >= 5
    no_police = frame[frame["kind"] == "fall"]
    assert no_police["cleared_s"].notna().sum() >= 5
    assert len(model.readiness) >= 5
    assert (frame["police_wait_s"] > 0).sum() >= 5


#: The shipped scenarios the compiled loop does not cover, and why.
NOT_COVERED = {
    "chigang.yaml": "no bridge joins",
    "helsinki.yaml": "street network",
    "helsinki-replay.yaml": "street network",
}
SHIPPED = sorted(p.name for p in SCENARIOS.glob("*.yaml"))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_gives_the_python_loops_tables(monkeypatch, name):
    """Every shipped scenario, its first 12 hours (its own horizon if shorter), two
    replications: the compiled loop's tables are the Python loop's, or the scenario is one
    the compiled loop does not cover and says why."""
    sc = load_scenario(SCENARIOS / name)
    if sc.incidents.replay is None:
        hours = min(sc.horizon_hours, 12.0)
        sc = sc.with_changes({"horizon_hours": hours,
                              "warmup_hours": min(sc.warmup_hours, hours / 4)})  # fmt: skip
    _set_kernel(monkeypatch, True)
    why = police_kernel.why_not(ResponseModel(sc, seed=11))
    if name in NOT_COVERED:
        assert why is not None and NOT_COVERED[name] in why
        return
    assert why is None
    compiled, python = _digests_both_ways(monkeypatch, sc)
    assert compiled == python


@pytest.mark.parametrize("name", sorted(BRIDGED))
def test_bridged_cities_give_the_python_loops_tables(monkeypatch, name):
    """Rivers whose bridges join every bank: units across water reach scenes over bridges,
    in the compiled loop as in the Python one."""
    sc = BRIDGED[name]()
    model = ResponseModel(sc, seed=11)
    city = model.city
    assert np.unique(city.region_of_bank).size == 1 and city.bridge_xy.shape[0] > 0
    assert not city.single_bank and police_kernel.why_not(model) is None
    compiled, python = _digests_both_ways(monkeypatch, sc)
    assert compiled == python
    model.run()  # KERNEL is on
    assert model.kernel_calls == 1


def _exercised(monkeypatch, name: str, model: ResponseModel | None = None) -> Counter:
    """What case ``name`` makes the Python loop do (its searches, units sent while driving
    back, the longest queue; on bridged cities units sent from across water), counted by
    wrapping the fleet's methods. A unit's bank when sent: where the search placed it (its
    patrol spot of the leg, or along its way back, or the scene it left while that way
    crosses water), read with the fleet's own pure helpers. ``model``: that model (not yet
    run) instead of the case's."""
    _set_kernel(monkeypatch, False)
    if model is None:
        model = ResponseModel(ALL[name](), seed=11)
    police, city, seen = model.police, model.city, Counter[str]()
    search = [""]

    def counting(key, method):
        def wrapped(*args):
            seen[key] += 1
            search[0] = key
            return method(*args)

        return wrapped

    def commit(u, i, t):
        seen["sent"] += 1
        if u in police._back:
            seen["sent while driving back"] += 1
            speed = police._speeds(t)[0] if police._car[u] else police._foot
            bank = police._back_position(u, t, speed)[2]
            if not police._way_back[u][3]:  # the way home crosses water
                seen["sent while driving back across water"] += 1
        else:
            bank = police._leg_view(t).bank[u]
        if not city.single_bank and bank != model._bank[i]:
            seen["sent across water"] += 1
            seen[f"sent across water by {search[0]}"] += 1
        return sent(u, i, t)

    def bridge_legs(*args):
        seen["bridge legs"] += 1
        return legs(*args)

    police._nearest_small = counting("plain search", police._nearest_small)
    police.nearest_free = counting("vectorised search", police.nearest_free)
    sent, legs = police.commit, spatial.bridge_legs
    police.commit = commit
    monkeypatch.setattr(spatial, "bridge_legs", bridge_legs)
    search_among = police._search

    def among(ids, *args):
        if len(ids) > 32:
            seen["many candidates"] += 1
        return search_among(ids, *args)

    police._search = among
    while not model.finished:
        model.advance_to(model.time + 600.0)
        seen["longest queue"] = max(seen["longest queue"], model.calls_waiting())
    return seen


def test_the_bridged_cases_reach_what_they_are_for(monkeypatch):
    """Units are sent to scenes across water (over bridges), from along or at the start of
    ways home that cross it, by both searches, taking bridge legs."""
    seen = {name: _exercised(monkeypatch, name) for name in sorted(BRIDGED)}
    for name, got in seen.items():
        assert got["sent across water"] >= 10, name
        assert got["sent while driving back across water"] >= 10, name
        assert got["bridge legs"] > 10, name
    for name in ("river-3-bridges-30", "crossing-rivers-30", "bridges-12-80",
                 "crossing-rivers-60-ties"):  # fmt: skip
        assert seen[name]["vectorised search"] > 10 and seen[name]["plain search"] > 10, name
    for name in ("crossing-rivers-30", "bridges-12-80", "crossing-rivers-60-ties"):
        assert seen[name]["sent across water by vectorised search"] > 10, name
    for name in ("river-overload", "river-far-drive-back"):
        assert seen[name]["longest queue"] > 50, name
    sizes = {BRIDGED[name]().police.units for name in BRIDGED}
    assert {8, 30, 80} <= sizes and max(sizes) > _LIST_BLOCK_UNITS


def test_the_cases_reach_what_they_are_for(monkeypatch):
    """Each case exercises what its name says (else it would test less than it claims)."""
    for name in ("fleet-40-busy", "fleet-60-ties", "fleet-100-busy"):
        seen = _exercised(monkeypatch, name)
        assert seen["vectorised search"] > 10 and seen["plain search"] > 10, name
    assert CASES["fleet-100-busy"]().police.units > _LIST_BLOCK_UNITS
    assert _exercised(monkeypatch, "fleet-60-ties")["many candidates"] > 10
    for name in ("mmc-rho-1.1", "overload-priorities", "far-drive-back"):
        assert _exercised(monkeypatch, name)["longest queue"] > 50, name
    for name in ("far-drive-back", "foot-congestion", "mmc-rho-0.8"):
        seen = _exercised(monkeypatch, name)
        assert seen["sent while driving back"] > seen["sent"] / 3, name
    _set_kernel(monkeypatch, False)
    model = ResponseModel(CASES["cameras-watching"](), seed=11)
    model.run()
    assert len(set(model.ledger.detected_by)) == 3  # call, camera, undetected
    # Short patrol legs: the compiled loop stops for a block of spots it was not handed
    # several times within one call.
    _set_kernel(monkeypatch, True)
    model = ResponseModel(CASES["patrol-short-legs"](), seed=11)
    blocks: list[float] = []
    spots_at = model.police.spots_at
    monkeypatch.setattr(model.police, "spots_at", lambda t: blocks.append(t) or spots_at(t))
    model.run()
    assert model.kernel_calls == 1 and len(blocks) > 5
    assert len({int(t // model.police._leg_s) // LEGS_PER_BLOCK for t in blocks}) == len(blocks)


# ---------------------------------------------------------------- state between calls
def _due(model: ResponseModel) -> list[tuple]:
    """The events due (occurrences fed into the heap apart) in order, then the call queue."""
    return [*sorted(e for e in model._heap if e[1] != EventKind.OCCURS), *model._queue]


def _state(model: ResponseModel) -> dict:
    """What the model and its fleet hold between calls, as comparable values. The call queue
    is compared as a list, layout and all: the compiled loop takes the same pushes and pops.
    The Python loop feeds occurrences into the event heap a block at a time, the compiled
    loop merges them from the incidents: the events due are compared in order, without the
    occurrences, and the next occurrence to happen by its incident."""
    police, ledger = model.police, model.ledger
    occurs = [e[3] for e in model._heap if e[1] == EventKind.OCCURS]
    return {
        "time": model.time,
        "finished": model.finished,
        "code": list(police._code),
        "is_free": list(police._is_free),
        "free_ids": list(police.free_ids),
        "back": sorted(police._back),
        "way_back": dict(police._way_back),
        "sent_at": dict(police._sent_at),
        "arrived_at": dict(police._arrived_at),
        "incident_of": dict(police._incident_of),
        "units_of": dict(police._units_of),
        "events": _due(model)[: len(model._heap) - len(occurs)],
        "next_occurrence": min(occurs, default=model._fed),
        "queue": list(model._queue),
        "seq": model._seq,
        "detected_by": list(ledger.detected_by),
        "ledger": {c: getattr(ledger, c).tobytes() for c in TIME_COLUMNS},
        "pending": ledger.police_pending.tolist(),
        "arrived": ledger.police_arrived.tolist(),
        "assignments": repr(model.assignments),
        "calls_waiting": model.calls_waiting(),
        "waiting_calls": model.waiting_calls(),
        "free_units": model.police.free_units(),
        "free_count": model.police.free_count,
        "committed": model.police.committed(),
        "live_counts": model.live_counts(),
        "state_column": model.police.state.tolist(),  # the numpy columns, written when read
        "available": model.police.available().tolist(),
        "left_at": model.police.left_at.tolist(),
    }


def _assert_same_state(compiled: ResponseModel, python: ResponseModel) -> None:
    a, b = _state(compiled), _state(python)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == b[key], f"{key} differs at t={python.time}"
    # Heaps (what heapq reads next is their first), of the same kinds of values.
    for entries in (compiled._heap, compiled._queue):
        assert all(entries[(k - 1) // 2] <= entries[k] for k in range(1, len(entries)))

    def types(model: ResponseModel) -> list:
        police = model.police
        return [
            [tuple(map(type, e)) for e in _due(model)],
            [(type(u), *map(type, way)) for u, way in police._way_back.items()],
            [
                (type(u), type(s))
                for u, s in (*police._sent_at.items(), *police._arrived_at.items())
            ],
            sorted({type(v) for v in (*police._code, *police._is_free, *police.free_ids)}, key=str),
            [type(model._seq), type(model._fed)],
        ]

    assert types(compiled) == types(python)


def _set_kernel(monkeypatch, on: bool) -> None:
    monkeypatch.setattr(ResponseModel, "KERNEL", on)


def _advance_side_by_side(monkeypatch, compiled, python, stops) -> None:
    """Advance ``compiled`` in the compiled loop and ``python`` in the Python loop to each
    time of ``stops``, comparing their state at every stop."""
    for t in stops:
        _set_kernel(monkeypatch, True)
        compiled.advance_to(t)
        _set_kernel(monkeypatch, False)
        python.advance_to(t)
        _assert_same_state(compiled, python)


def _stops(model: ResponseModel, rng: np.random.Generator, count: int) -> list[float]:
    """Times to stop at: random, at occurrences and just before them, repeated, and before
    the clock (nothing to do)."""
    end = model.end_s
    occurred = model.incidents.occurred_s
    picks = [
        *rng.uniform(0.0, end, count // 2).tolist(),
        *rng.choice(occurred, count // 4).tolist(),
        *np.nextafter(rng.choice(occurred, count // 4), -np.inf).tolist(),
    ]
    stops = sorted(picks)
    # a stop twice, and one behind the clock
    return [*stops[:3], stops[2], stops[1], *stops[3:], end]


def _reference(monkeypatch, sc, seed: int) -> ResponseModel:
    """One run to the end in the Python loop."""
    _set_kernel(monkeypatch, False)
    model = ResponseModel(sc, seed=seed)
    model.run()
    assert model.kernel_calls == 0
    return model


def _assert_same_tables(model: ResponseModel, reference: ResponseModel) -> None:
    assert repr(model.records()) == repr(reference.records())  # repr: NaN equals NaN
    assert repr(model.assignments) == repr(reference.assignments)


PIECES = ["mmc-rho-1.1", "patrol-short-legs", "fleet-40-busy", "fleet-100-busy",
          "overload-priorities", "far-drive-back", "cameras-watching",
          "river-far-drive-back", "crossing-rivers-30", "bridges-12-80", "river-ring-400",
          *EVERY_RESPONDER]  # fmt: skip


@pytest.mark.parametrize("name", PIECES)
def test_state_between_calls_is_the_python_loops(monkeypatch, name):
    """Stopped at the same times (random, at and just before occurrences, twice at one time,
    behind the clock), the compiled and the Python loop leave the same state; the compiled
    model runs on to the same tables as one run of the Python loop."""
    sc = ALL[name]()
    compiled, python = ResponseModel(sc, seed=7), ResponseModel(sc, seed=7)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    stops = _stops(python, rng, 40)
    _advance_side_by_side(monkeypatch, compiled, python, stops)
    assert compiled.finished and compiled.kernel_calls == len(stops)
    assert python.kernel_calls == 0
    _assert_same_tables(compiled, _reference(monkeypatch, sc, 7))


@pytest.mark.parametrize("name", ["mmc-rho-1.1", "patrol-short-legs", "fleet-40-busy",
                                  "overload-priorities", "far-drive-back",
                                  "river-far-drive-back", "crossing-rivers-30",
                                  *EVERY_RESPONDER])  # fmt: skip
def test_random_pieces_give_one_runs_tables(monkeypatch, name):
    """advance_to in many steps of random sizes (a millisecond to a thirtieth of the run)
    in the compiled loop: the tables of one run of the Python loop."""
    sc = ALL[name]()
    reference = _reference(monkeypatch, sc, 5)
    _set_kernel(monkeypatch, True)
    model = ResponseModel(sc, seed=5)
    rng = np.random.default_rng(zlib.crc32(name.encode()) + 1)
    t, calls = 0.0, 0
    while not model.finished:
        t += float(np.exp(rng.uniform(np.log(1e-3), np.log(model.end_s / 30))))  # log-uniform
        model.advance_to(t)
        calls += 1
    assert model.kernel_calls == calls > 100
    _assert_same_tables(model, reference)


def _positions(model: ResponseModel) -> list[tuple]:
    """What a viewer draws (sim/interface/app.py): each police agent's state and place."""
    units = model.agents_by_type[PoliceUnit]
    return [(u.index, u.state, u.incident, u.position) for u in units]


@pytest.mark.parametrize("name", ["patrol-short-legs", "overload-priorities"])
def test_steps_and_run_for_give_one_runs_tables(monkeypatch, name):
    """A viewer's minutes (model.step, which also collects; the viewer reads every unit's
    place, and once draws the spots of a block of patrol legs far ahead), then run_for,
    run_until and run: the same collected series and places as the Python loop's, and the
    tables of one run of it."""
    sc = ALL[name]()
    _set_kernel(monkeypatch, False)
    python = ResponseModel(sc, seed=2)
    seen = []
    for _ in range(300):
        python.step()
        seen.append(_positions(python))
    reference = _reference(monkeypatch, sc, 2)
    _set_kernel(monkeypatch, True)
    model = ResponseModel(sc, seed=2)
    for k in range(300):
        if k == 100:  # the fleet's block of spots moves ahead of the clock
            model.police.spots_at(model.time + 20 * LEGS_PER_BLOCK * sc.police.patrol_leg_s)
        model.step()
        assert _positions(model) == seen[k]
    assert model.kernel_calls == 300
    collected = model.datacollector.get_model_vars_dataframe()
    assert collected.equals(python.datacollector.get_model_vars_dataframe())
    assert collected["calls_waiting"].max() > 0 and collected["police_busy"].max() > 0
    _assert_same_state(model, python)
    model.run_for(3 * 3600.0)
    model.run_until(model.time + 1800.0)
    model.run()
    assert model.finished and model.kernel_calls == 303
    _assert_same_tables(model, reference)


def test_spots_drawn_ahead_of_the_clock_are_drawn_again(monkeypatch):
    """A viewer drew the patrol spots of legs far ahead (the fleet keeps one block): the
    compiled loop asks for the block of the legs it needs and goes on as the Python loop."""
    sc = CASES["patrol-short-legs"]()
    compiled, python = ResponseModel(sc, seed=3), ResponseModel(sc, seed=3)
    ahead = 30 * LEGS_PER_BLOCK * sc.police.patrol_leg_s
    for t in (3600.0, 7200.0, 5 * 3600.0, python.end_s):
        _set_kernel(monkeypatch, False)
        python.advance_to(t)
        police = compiled.police
        police.spots_at(t + ahead)
        asked: list[float] = []
        with monkeypatch.context() as m:
            m.setattr(police, "spots_at", lambda s, a=asked, f=police.spots_at: a.append(s) or f(s))
            _set_kernel(m, True)
            compiled.advance_to(t)
        assert asked and max(asked) <= t
        _assert_same_state(compiled, python)
    assert compiled.kernel_calls == 4
    _assert_same_tables(compiled, python)


@pytest.mark.parametrize("name", ["mmc-rho-1.1", "patrol-short-legs", "fleet-100-busy",
                                  "overload-priorities", "far-drive-back", "foot-congestion",
                                  "river-far-drive-back", "crossing-rivers-30",
                                  "bridges-12-80"])  # fmt: skip
def test_switching_loops_part_way_gives_one_runs_tables(monkeypatch, name):
    """One run switched between the compiled loop and the Python loop at random steps: the
    tables of one run of the Python loop."""
    sc = ALL[name]()
    reference = _reference(monkeypatch, sc, 9)
    model = ResponseModel(sc, seed=9)
    rng = np.random.default_rng(zlib.crc32(name.encode()) + 2)
    t, compiled = 0.0, 0
    while not model.finished:
        t += float(rng.exponential(model.end_s / 60))
        loop = int(rng.integers(0, 4))  # 0, 1: compiled; 2, 3: Python
        _set_kernel(monkeypatch, loop < 2)
        before = model.kernel_calls
        model.advance_to(t)
        assert model.kernel_calls == before + (loop < 2)
        compiled += loop < 2
    assert compiled > 10
    _assert_same_tables(model, reference)


def _on_the_minute(sc, seed: int) -> IncidentStream:
    """The scenario's incidents with times, delays and handling in whole minutes and scenes
    at cell centres: events tie in time and units tie in distance."""
    incidents = ResponseModel(sc, seed=seed).incidents
    size = sc.city.cell_size_m

    def minutes(a: np.ndarray) -> np.ndarray:
        return np.where(np.isfinite(a), np.round(a / 60.0) * 60.0, a)

    return dataclasses.replace(
        incidents,
        occurred_s=np.floor(incidents.occurred_s / 60.0) * 60.0,
        handling_s=minutes(incidents.handling_s),
        call_delay_s=minutes(incidents.call_delay_s),
        xy=(np.floor(incidents.xy / size) + 0.5) * size,
        call_handling_u=np.full(len(incidents), 0.5),
    )


@pytest.mark.parametrize("name", ["overload-priorities", "fleet-60-ties", "foot-congestion",
                                  "river-overload", "crossing-rivers-60-ties"])  # fmt: skip
def test_events_tied_in_time_and_place(monkeypatch, name):
    """Incidents on the minute at cell centres (a stream handed to the model): ties between
    events, between occurrences and events, and between units, broken the same way."""
    sc = ALL[name]()
    stream = _on_the_minute(sc, 1)
    assert len(np.unique(stream.occurred_s)) < len(stream)
    compiled, python = (ResponseModel(sc, seed=1, incidents=stream) for _ in range(2))
    _advance_side_by_side(monkeypatch, compiled, python, np.linspace(0.0, python.end_s, 13)[1:])
    assert compiled.kernel_calls == 12 and python.kernel_calls == 0
    _assert_same_tables(compiled, python)


def test_scenes_on_water_bridges_and_cell_edges(monkeypatch):
    """Scenes handed in on every water cell, on every bridge and on cell corners beside the
    water of a meandering river (their bank is the nearest land's), on the minute: units
    sent across water and driving back from such scenes, placed by bank_at on both sides."""
    sc = _bridged(
        12, 1.0, [_river(bridges=2, meander=3.0, width=2), _river("vertical", 0.3, 1)],
        police={"stations": 2, "patrol_when_idle": False, "call_handling": FIXED(0.0)},
        incidents={"kinds": MIXED}, horizon_hours=30.0,
    )  # fmt: skip
    city = ResponseModel(sc, seed=3).city
    assert np.unique(city.region_of_bank).size == 1 and not city.single_bank
    size = city.cell_size_m
    rows, cols = np.nonzero(city.land_use == LandUse.WATER)
    spots = [*((cols + 0.5) * size).tolist(), *city.bridge_xy[:, 0].tolist()]
    ys = [*((rows + 0.5) * size).tolist(), *city.bridge_xy[:, 1].tolist()]
    corners = [(c * size, r * size) for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]
    spots += [x for x, _ in corners]
    ys += [y for _, y in corners]
    rng = np.random.default_rng(5)
    order = rng.permutation(len(spots))
    kinds = ("one", "two", "three")
    scene_rows = [
        {"occurred_s": 3600.0 + 120.0 * k, "x_m": spots[j], "y_m": ys[j],
         "kind": kinds[int(rng.integers(0, 3))], "handling_s": 600.0 * int(rng.integers(1, 4))}
        for k, j in enumerate(order.tolist())
    ]  # fmt: skip
    stream = IncidentStream.from_rows(kinds, scene_rows)
    assert len(stream) > 100
    compiled, python = (ResponseModel(sc, seed=3, incidents=stream) for _ in range(2))
    _advance_side_by_side(monkeypatch, compiled, python, np.linspace(0.0, python.end_s, 9)[1:])
    assert compiled.kernel_calls == 8 and python.kernel_calls == 0
    _assert_same_tables(compiled, python)
    seen = _exercised(monkeypatch, "", ResponseModel(sc, seed=3, incidents=stream))
    assert seen["sent"] > 100 and seen["sent across water"] > 20, seen
    assert seen["sent while driving back across water"] > 20, seen


# ---------------------------------------------------------------- random small scenarios
@st.composite
def _drawn_river(draw) -> dict:
    """A river across or down the city with 1-4 bridges."""
    return _river(
        draw(st.sampled_from(["horizontal", "vertical"])),
        draw(st.floats(0.2, 0.8)),
        draw(st.integers(1, 4)),
        draw(st.sampled_from([0.0, 0.5, 1.5, 3.0])),
        draw(st.integers(1, 2)),
    )


@st.composite
def _small_scenarios(draw, bridged: bool = False):
    """Small eligible scenarios: 1-30 units, kinds needing 1-3 units, patrol on or off, foot
    patrols, hourly congestion, and fixed durations (events tied in time) at times;
    ``bridged``: one or two rivers of 1-4 bridges each (a city of 6-30 cells a side)."""
    stations = draw(st.integers(1, 3))
    fixed = st.sampled_from([0.0, 60.0, 600.0]).map(FIXED)
    kinds = {
        name: _kind(
            draw(st.floats(0.2, 3.0)),
            draw(st.integers(1, 3)),
            draw(st.integers(0, 3)),
            **({"handling": draw(fixed)} if draw(st.booleans()) else {}),
        )
        for name in ("a", "b", "c")[: draw(st.integers(1, 3))]
    }
    congestion = draw(st.one_of(st.just(1.0), st.lists(st.floats(1.0, 3.0), min_size=24,
                                                         max_size=24)))  # fmt: skip
    units = draw(st.integers(1, 30))
    police = {
        "stations": stations,
        "grids": stations + draw(st.integers(0, 6)),
        "units": units,
        "patrol_when_idle": draw(st.booleans()),
        "car_share": draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])),
        # legs exact in binary and not (12.3, 0.7: a block asked for by leg * leg_s fell short)
        "patrol_leg_s": draw(st.sampled_from([15.0, 12.3, 0.7, 120.0, 900.0])),
    }
    incidents = {"rate_per_day": units * draw(st.floats(2.0, 80.0)), "kinds": kinds}
    if draw(st.booleans()):  # alerts and calls at the time of the incident
        police["call_handling"] = FIXED(0.0)
        incidents["call_delay"] = FIXED(0.0)
    side = st.integers(6 if bridged else 1, 30)
    city = {"width": draw(side), "height": draw(side),
            "cell_size_m": draw(st.sampled_from([50.0, 200.0, 1000.0])), "population": 50000}  # fmt: skip
    if bridged:
        city["rivers"] = draw(st.lists(_drawn_river(), min_size=1, max_size=2))
    return scenario(
        horizon_hours=draw(st.floats(2.0, 10.0)),
        drain_hours=draw(st.sampled_from([0.0, 2.0, 8.0])),
        city=city, police=police, travel={"congestion_by_hour": congestion},
        incidents=incidents,
    )  # fmt: skip


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(sc=_small_scenarios(), seed=st.integers(0, 10_000))
def test_random_small_scenarios_give_the_same_tables(monkeypatch, sc, seed):
    assert police_kernel.why_not(ResponseModel(sc, seed=seed)) is None
    compiled, python = _digests_both_ways(monkeypatch, sc, seed)
    assert compiled == python


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(sc=_small_scenarios(bridged=True), seed=st.integers(0, 10_000))
def test_random_bridged_scenarios_give_the_same_tables(monkeypatch, sc, seed):
    """Small cities with rivers of 1-4 bridges (the river's bends come of the seed and the
    replication: a city whose banks the bridges leave apart, or that has one bank, in
    either replication compared, is not one of these)."""
    for replication in (0, 1):
        model = ResponseModel(sc, seed=seed, replication=replication)
        city = model.city
        assume(not city.single_bank and np.unique(city.region_of_bank).size == 1)
        assert police_kernel.why_not(model) is None
    compiled, python = _digests_both_ways(monkeypatch, sc, seed)
    assert compiled == python


# ---------------------------------------------------------------- runs the loop does not take
FALLBACKS = {
    "trace": (lambda: CASES["overload-priorities"](), {"trace": True}, "trace"),
    "move-up": (
        lambda: _sc(8, 20.0, police={"move_up": "uncovered_longest"}, horizon_hours=4.0),
        {},
        "move-up",
    ),
    "unbridged-river": (lambda: _divided_city(8, True), {}, "no bridge joins"),
    "own-grid-first": (
        lambda: _sc(8, 20.0, police={"dispatch": "own_grid_first"}, horizon_hours=4.0),
        {},
        "dispatch policy",
    ),
    "roster": (
        lambda: _sc(8, 20.0, police={"on_duty_share": [0.5] * 8 + [1.0] * 16}, horizon_hours=4.0),
        {},
        "roster",
    ),
}


@pytest.mark.parametrize("name", sorted(FALLBACKS))
def test_runs_the_compiled_loop_does_not_cover_take_the_python_loop(monkeypatch, name):
    make, kwargs, reason = FALLBACKS[name]
    calls = _count_kernel(monkeypatch)
    _set_kernel(monkeypatch, True)
    model = ResponseModel(make(), seed=4, **kwargs)
    why = police_kernel.why_not(model)
    assert why is not None and reason in why
    model.run()
    assert model.finished and model.kernel_calls == 0 and calls[0] == 0
    assert model.assignments  # it ran, in the Python loops


def test_a_large_fleet_takes_the_ring_search_in_the_compiled_loop():
    """From police_kernel.RING_FROM units the compiled loop's candidates come ring by ring
    from the buckets of the leg's spots (sim.model.spatial.ring_candidates), so a
    dispatch's cost does not grow with the fleet: such a case is among the bridged cases
    (the Python loop's tables, state between calls) and no fleet size keeps a run out."""
    units = {name: BRIDGED[name]().police.units for name in BRIDGED}
    assert (
        units["river-ring-400"]
        >= police_kernel.RING_FROM
        > max(n for name, n in units.items() if name != "river-ring-400")
    )
    assert "river-ring-400" in PIECES
    model = ResponseModel(_sc(police_kernel.RING_FROM * 30, 1.0, horizon_hours=3.0), seed=1)
    assert police_kernel.why_not(model) is None


def test_a_plug_in_fleet_that_may_read_the_police_keeps_the_python_loop(monkeypatch):
    """The compiled loop holds the police fleet's state until it returns, so it calls the
    hooks of a plug-in fleet only where the fleet declares ``reads_police = False``: then
    the tables are the Python loop's; undeclared, the run stays in Python and says why."""
    monkeypatch.setitem(FLEETS, "fire_brigade", FireBrigade)
    sc = fire_scenario(horizon_hours=12.0, incidents={"rate_per_day": 40.0})
    _set_kernel(monkeypatch, True)
    model = ResponseModel(sc, seed=4)
    assert "fleet 'fire_brigade' may read the police" in (police_kernel.why_not(model) or "")
    model.run()
    assert model.kernel_calls == 0 and model.assignments

    class Declared(FireBrigade):  # the same fleet, declaring that it never reads the police
        reads_police = False

    monkeypatch.setitem(FLEETS, "fire_brigade", Declared)
    assert police_kernel.why_not(ResponseModel(sc, seed=4)) is None
    compiled, python = _digests_both_ways(monkeypatch, sc)
    assert compiled == python


@pytest.mark.parametrize("name", ["everyone-busy", "mmc-rho-1.1"])
def test_full_buffers_between_the_loop_and_python_keep_the_tables(monkeypatch, name):
    """The log of released assignments and the buffer of events a Python handler queued hold
    a few rows here (police_kernel.LOG_ROWS, EVENT_ROWS: Python sizes them, the loop reads
    their shapes): a full log is handed over (LOG_FULL) and a handler's events beyond a
    buffer's come in later calls (MORE_EVENTS), and the tables are the Python loop's."""
    monkeypatch.setattr(police_kernel, "LOG_ROWS", 3)
    monkeypatch.setattr(police_kernel, "EVENT_ROWS", 1)
    kinds: Counter[int] = Counter()
    event = police_kernel._python_event

    def counted(t, kind, *args):
        kinds[kind] += 1
        return event(t, kind, *args)

    monkeypatch.setattr(police_kernel, "_python_event", counted)
    compiled, python = _digests_both_ways(monkeypatch, ALL[name]())
    assert compiled == python
    assert kinds[police_kernel.LOG_FULL] > 0
    if name == "everyone-busy":  # (a police-only run queues no event in Python)
        assert kinds[police_kernel.MORE_EVENTS] > 0


def test_a_plug_in_that_raises_in_the_compiled_loop_fails_as_in_python(monkeypatch):
    """A hook that raises, called from the compiled loop: the run fails with the error the
    Python loop gives (PlugInFailed naming the fleet, the time and the incident)."""

    class Faulty(FireBrigade):
        reads_police = False
        alerts = 0

        def alert(self, t, incident, needed):
            Faulty.alerts += 1
            if Faulty.alerts == 7:
                raise RuntimeError("radio down")
            super().alert(t, incident, needed)

    monkeypatch.setitem(FLEETS, "fire_brigade", Faulty)
    sc = fire_scenario(horizon_hours=12.0, incidents={"rate_per_day": 40.0})
    messages = []
    for kernel in (True, False):
        _set_kernel(monkeypatch, kernel)
        Faulty.alerts = 0
        model = ResponseModel(sc, seed=4)
        with pytest.raises(PlugInFailed) as failed:
            model.run()
        assert (model.why_not_compiled is None) == kernel  # the call that failed was compiled
        messages.append(str(failed.value))
    assert "radio down" in messages[0] and messages[0] == messages[1]


def test_without_numba_every_run_takes_the_python_loop(monkeypatch):
    sc = CASES["overload-priorities"]()
    monkeypatch.setattr(police_kernel, "numba", None)
    assert not police_kernel.available()
    calls = _count_kernel(monkeypatch)
    _set_kernel(monkeypatch, True)
    model = ResponseModel(sc, seed=4)
    assert "numba" in (police_kernel.why_not(model) or "")
    model.run()
    assert model.kernel_calls == 0 and calls[0] == 0
    monkeypatch.undo()
    _assert_same_tables(model, _reference(monkeypatch, sc, 4))


def test_a_traced_run_is_the_compiled_runs(monkeypatch):
    """The trace sends a run to the Python loop; its tables are the compiled loop's."""
    sc = CASES["far-drive-back"]()
    _set_kernel(monkeypatch, True)
    traced, plain = ResponseModel(sc, seed=6, trace=True), ResponseModel(sc, seed=6)
    traced.run()
    plain.run()
    assert traced.kernel_calls == 0 and plain.kernel_calls == 1
    assert traced.trace
    _assert_same_tables(traced, plain)


# ---------------------------------------------------------------- patrol legs of 12.3 s
def test_legs_not_exact_in_binary_cross_blocks(monkeypatch):
    """One call at 15745 s, in leg 1280 = 5 * LEGS_PER_BLOCK of legs of 12.3 s: the compiled
    loop needs the sixth block of spots, and 1280 * 12.3 lies in leg 1279 (a block asked for
    by its leg's start time would be the block before)."""
    assert (1280 * 12.3) // 12.3 == 1279 and 15745.0 // 12.3 == 1280 == 5 * LEGS_PER_BLOCK
    sc = scenario(
        police={"units": 2, "patrol_leg_s": 12.3, "call_handling": FIXED(0.0)},
        incidents={"kinds": {"call": _kind(1.0, 1)}},
    )
    row = {"occurred_s": 15745.0, "x_m": 500.0, "y_m": 500.0, "kind": "call", "handling_s": 600.0}
    stream = IncidentStream.from_rows(("call",), [row])
    python = _reference_of(monkeypatch, sc, stream)
    assert len(python.assignments) == 1
    _set_kernel(monkeypatch, True)
    compiled = ResponseModel(sc, seed=0, incidents=stream)
    compiled.run()
    assert compiled.kernel_calls == 1
    _assert_same_tables(compiled, python)


def _reference_of(monkeypatch, sc, stream: IncidentStream) -> ResponseModel:
    _set_kernel(monkeypatch, False)
    model = ResponseModel(sc, seed=0, incidents=stream)
    model.run()
    return model


# ---------------------------------------------------------------- a stop at NaN
#: A kernel-eligible run stopped at 1 h, then at NaN (advance_to(nan), run_for(nan)): prints
#: how the second call ended. Run in a child process, as it may crash the interpreter.
_NAN_STOP = """
import math, sys
from sim.model.response import ResponseModel
from tests.conftest import ROOT, scenario
ResponseModel.KERNEL = sys.argv[1] == "on"
model = ResponseModel(scenario(), seed=0)
model.advance_to(3600.0)
try:
    model.advance_to(math.nan)
except Exception as exc:
    print("raised", type(exc).__name__)
else:
    print("returned", model.time, model._fed, len(model.assignments))
"""


def _no_core_dump() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def test_a_stop_at_nan_ends_as_in_the_python_loop():
    """NaN is refused before either loop runs (it once sent the compiled loop past the
    incident arrays: numba checks no bounds)."""
    ended = {}
    for kernel in ("off", "on"):
        done = subprocess.run(
            [sys.executable, "-c", _NAN_STOP, kernel],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=300,
            preexec_fn=_no_core_dump,
        )
        assert done.returncode == 0, (kernel, done.returncode, done.stderr[-300:])
        ended[kernel] = done.stdout
    assert ended["on"] == ended["off"] == "raised ValueError\n"


# ---------------------------------------------------------------- when the compiled loop pays
def test_the_automatic_choice_weighs_the_step_against_the_state(monkeypatch):
    """KERNEL None (the default): a process loads the compiled loop only for a run whose
    incidents to come save more than loading costs (KERNEL_LOAD_S against KERNEL_SAVES_S per
    incident), or once it is loaded; then each call takes it only when the incidents ahead
    outweigh copying the heap, queue and units (a long queue and a short step stay in the
    Python loop); JIEFANG_KERNEL=off turns it off. Each reason is the model's
    why_not_compiled."""
    monkeypatch.setattr(ResponseModel, "KERNEL", None)
    model = ResponseModel(_mmc(1.1, 4000), seed=3)
    n = len(model.incidents)
    assert police_kernel.why_not(model) is None
    end = model.end_s
    monkeypatch.setattr(police_kernel, "_LOADED", False)
    monkeypatch.setattr(ResponseModel, "KERNEL_LOAD_S", 2 * n * ResponseModel.KERNEL_SAVES_S)
    assert "loading numba" in model._why_not_compiled(end)  # not worth it for this run
    monkeypatch.setattr(ResponseModel, "KERNEL_LOAD_S", n * ResponseModel.KERNEL_SAVES_S)
    assert model._why_not_compiled(end) is None  # long enough
    monkeypatch.setattr(ResponseModel, "KERNEL_LOAD_S", 2 * n * ResponseModel.KERNEL_SAVES_S)
    monkeypatch.setattr(police_kernel, "_LOADED", True)
    assert model._why_not_compiled(end) is None  # loaded already
    monkeypatch.setenv("JIEFANG_KERNEL", "off")
    assert model._why_not_compiled(end) == "turned off (JIEFANG_KERNEL=off)"
    monkeypatch.delenv("JIEFANG_KERNEL")
    # Overloaded: run most of the way in the Python loop, then a long queue against a
    # one-minute step (a viewer's) and against the rest of the run.
    monkeypatch.setattr(ResponseModel, "KERNEL", False)
    model.advance_to(0.9 * model.horizon_s)
    monkeypatch.setattr(ResponseModel, "KERNEL", None)
    assert len(model._queue) > 100
    assert "copying the state" in model._why_not_compiled(model.time + 60.0)
    pays = 10 * (n - model._fed) >= 60 + 1.5 * (len(model._heap) + len(model._queue) + 10)
    assert (model._why_not_compiled(end) is None) == pays
    before = model.kernel_calls
    model.advance_to(model.time + 60.0)
    assert model.kernel_calls == before  # the minute went through the Python loop
    assert "copying the state" in model.why_not_compiled


#: Importing the module where numba cannot cache (read-only package folder and home): its
#: decorator raises RuntimeError; stood in for here by a decorator that raises it.
_NO_CACHE = """
import numba
def refuse(*args, **kwargs):
    raise RuntimeError("cannot cache function: no locator available")
numba.njit = refuse
from sim.model import police_kernel, spatial
from sim.model.response import ResponseModel
from tests.conftest import scenario
ResponseModel.KERNEL = True
model = ResponseModel(scenario(), seed=0)
model.run()
print(police_kernel.available(), model.kernel_calls, "|", police_kernel.why_not(model))
"""


def test_no_place_to_cache_the_compiled_loop_falls_back_to_python():
    done = subprocess.run(
        [sys.executable, "-c", _NO_CACHE], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-500:]
    available, calls, reason = done.stdout.strip().split(" ", 2)
    assert (available, calls) == ("False", "0")
    assert "NUMBA_CACHE_DIR" in reason
