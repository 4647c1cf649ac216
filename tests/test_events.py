"""Exact event sequences in a tiny city with fixed durations."""

from __future__ import annotations

import heapq
import math

import pytest

from sim.model.incidents import IncidentStream
from sim.model.response import ResponseModel
from sim.model.vocab import Event, EventKind
from tests.conftest import scenario

FIXED = lambda s: {"dist": "fixed", "value": s}  # noqa: E731


def strip_city(**over):
    """A 3 x 1 city of 100 m cells, one station in cell 0, 10 m/s cars, fixed delays."""
    base = dict(
        horizon_hours=1.0,
        drain_hours=2.0,
        city={"width": 3, "height": 1, "cell_size_m": 100.0, "population": 300,
              "land_use_shares": {}},
        police={"stations": 1, "grids": 1, "units": 1, "station_cells": [[0, 0]],
                "patrol_when_idle": False, "call_handling": FIXED(60.0)},
        travel={"drive_m_s": 10.0, "run_with_equipment_m_s": 2.0, "walk_m_s": 1.0},
        incidents={"kinds": {"fight": {"share": 1.0, "self_rescue": False, "volunteers": False,
                                       "meu_teams": 0, "police_units": 1,
                                       "handling": FIXED(600.0)}}},
    )  # fmt: skip
    for key, value in over.items():
        base[key] = {**base.get(key, {}), **value} if isinstance(value, dict) else value
    return scenario(**base)


def stream(rows):
    return IncidentStream.from_rows(("fight",), rows)


def test_single_incident_exact_sequence():
    sc = strip_city()
    inc = stream([dict(occurred_s=100.0, x_m=250.0, y_m=50.0, kind="fight", handling_s=600.0,
                       call_delay_s=30.0)])  # fmt: skip
    model = ResponseModel(sc, seed=1, incidents=inc, trace=True)
    rec = model.run()[0]
    assert model.trace == [
        (100.0, EventKind.OCCURS, 0, -1),
        (130.0, EventKind.ALERT, 0, -1),
        (190.0, EventKind.POLICE_CALL, 0, -1),
        (210.0, EventKind.POLICE_ARRIVES, 0, 0),  # 200 m at 10 m/s from the station
        (810.0, EventKind.UNIT_CLEARS, 0, -1),  # arrival + 600 s handling
    ]
    assert (rec.alerted_s, rec.police_call_s, rec.first_police_s, rec.cleared_s) == (
        130.0, 190.0, 210.0, 810.0,
    )  # fmt: skip
    assert rec.police_wait_s == 0.0
    assert rec.detected_by == "call" and rec.first_help_by == "police"
    assert rec.status == "cleared"
    # Each event's integers are named by its kind.
    assert [e.payload for e in model.trace] == [
        {"incident": 0}, {"incident": 0}, {"incident": 0}, {"incident": 0, "unit": 0},
        {"incident": 0},
    ]  # fmt: skip
    assert model.trace[3].time_s == 210.0 and model.trace[3].kind is EventKind.POLICE_ARRIVES


def test_second_call_waits_in_queue_until_the_unit_clears():
    sc = strip_city()
    inc = stream([
        dict(occurred_s=100.0, x_m=250.0, y_m=50.0, kind="fight", handling_s=600.0,
             call_delay_s=30.0),
        dict(occurred_s=300.0, x_m=150.0, y_m=50.0, kind="fight", handling_s=600.0,
             call_delay_s=0.0),
    ])  # fmt: skip
    model = ResponseModel(sc, seed=1, incidents=inc, trace=True)
    first, second = model.run()
    police_events = [(t, k, i) for t, k, i, _ in model.trace if k != EventKind.OCCURS]
    assert police_events == [
        (130.0, EventKind.ALERT, 0),
        (190.0, EventKind.POLICE_CALL, 0),
        (210.0, EventKind.POLICE_ARRIVES, 0),
        (300.0, EventKind.ALERT, 1),
        (360.0, EventKind.POLICE_CALL, 1),  # the only unit is busy: queued
        (810.0, EventKind.UNIT_CLEARS, 0),  # freed at x=250, sent on at once
        (820.0, EventKind.POLICE_ARRIVES, 1),  # 100 m from the last scene
        (1420.0, EventKind.UNIT_CLEARS, 1),
    ]
    assert second.police_wait_s == pytest.approx(810.0 - 360.0)
    assert first.police_wait_s == 0.0


def test_meu_team_arrives_after_mobilisation_and_run():
    sc = strip_city(
        meus={"count": 1, "members_per_unit": 10.0, "on_duty_share": 0.5, "team_size": 3,
              "site_cells": [[1, 0]], "mobilisation": FIXED(40.0), "coverage_radius_m": 500.0},
        incidents={"kinds": {"fight": {"share": 1.0, "self_rescue": False, "volunteers": False,
                                       "meu_teams": 1, "police_units": 1,
                                       "handling": FIXED(600.0)}}},
    )  # fmt: skip
    inc = stream([dict(occurred_s=100.0, x_m=250.0, y_m=50.0, kind="fight", handling_s=600.0,
                       call_delay_s=30.0)])  # fmt: skip
    model = ResponseModel(sc, seed=1, incidents=inc, trace=True)
    rec = model.run()[0]
    # alert 130 + mobilise 40 + 100 m at 2 m/s = 220; police at 210 come first.
    assert rec.first_meu_s == 220.0
    assert rec.meu_teams_sent == 1
    assert rec.first_help_by == "police"
    returns = [(t, k) for t, k, *_ in model.trace if k == EventKind.TEAM_RETURNS]
    assert returns == [(910.0, EventKind.TEAM_RETURNS)]  # cleared 810 + 100 m walk at 1 m/s
    assert model.meus.away.tolist() == [0]


def test_incident_at_an_meu_site_gets_self_rescue_and_a_witness_alert():
    sc = strip_city(
        meus={"count": 1, "members_per_unit": 10.0, "on_duty_share": 0.5, "team_size": 3,
              "site_cells": [[2, 0]], "mobilisation": FIXED(40.0)},
    )  # fmt: skip
    inc = stream([dict(occurred_s=100.0, x_m=250.0, y_m=50.0, kind="fight", handling_s=600.0,
                       call_delay_s=math.inf, witness_delay_s=15.0, self_rescue_delay_s=20.0)])  # fmt: skip
    sc_self = sc.with_changes({"incidents.kinds.fight.self_rescue": True})
    rec = ResponseModel(sc_self, seed=1, incidents=inc).run()[0]
    assert rec.detected_by == "witness" and rec.alerted_s == 115.0
    assert rec.self_rescue_s == 120.0 and rec.self_rescue_by == "meu_staff"
    assert rec.first_help_by == "meu_staff"


def test_nobody_reports_and_nobody_is_there_stays_open():
    sc = strip_city()
    inc = stream([dict(occurred_s=100.0, x_m=250.0, y_m=50.0, kind="fight", handling_s=600.0,
                       call_delay_s=math.inf)])  # fmt: skip
    rec = ResponseModel(sc, seed=1, incidents=inc).run()[0]
    assert rec.detected_by == "undetected" and math.isnan(rec.alerted_s)
    assert rec.status == "open" and math.isnan(rec.cleared_s)


def test_simultaneous_events_break_ties_by_kind_then_order():
    sc = strip_city(police={"units": 2})
    same = dict(x_m=250.0, y_m=50.0, kind="fight", handling_s=600.0, call_delay_s=0.0)
    inc = stream([dict(occurred_s=100.0, **same), dict(occurred_s=100.0, **same)])
    a = ResponseModel(sc, seed=1, incidents=inc, trace=True)
    a.run()
    b = ResponseModel(sc, seed=1, incidents=inc, trace=True)
    b.run()
    assert a.trace == b.trace
    assert [k for _, k, *_ in a.trace[:4]] == [
        EventKind.OCCURS, EventKind.OCCURS, EventKind.ALERT, EventKind.ALERT,
    ]  # fmt: skip
    arrivals = sorted((i, u) for _, k, i, u in a.trace if k == EventKind.POLICE_ARRIVES)
    assert arrivals == [(0, 0), (1, 1)]  # first call takes unit 0 (lower index on a tie)


def test_a_call_nobody_can_reach_does_not_block_the_queue():
    """Two banks and no bridge: a call on the far bank waits for ever, but a later call on the
    station's bank is served at once (no head-of-line blocking)."""
    sc = scenario(
        horizon_hours=1.0, drain_hours=2.0,
        city={"width": 3, "height": 3, "cell_size_m": 100.0, "population": 900,
              "land_use_shares": {}, "rivers": [{"axis": "horizontal", "position": 0.5,
                                                 "width_cells": 1, "bridges": 0}]},
        police={"stations": 1, "grids": 1, "units": 1, "station_cells": [[0, 0]],
                "patrol_when_idle": False, "call_handling": FIXED(0.0)},
        travel={"drive_m_s": 10.0},
        incidents={"kinds": {"fight": {"share": 1.0, "self_rescue": False, "volunteers": False,
                                       "meu_teams": 0, "police_units": 1, "priority": 0,
                                       "handling": FIXED(100.0)}}},
    )  # fmt: skip
    inc = stream([
        dict(occurred_s=10.0, x_m=150.0, y_m=50.0, kind="fight", handling_s=100.0),  # near
        dict(occurred_s=20.0, x_m=150.0, y_m=250.0, kind="fight", handling_s=100.0),  # far bank
        dict(occurred_s=30.0, x_m=250.0, y_m=50.0, kind="fight", handling_s=100.0),  # near
    ])  # fmt: skip
    model = ResponseModel(sc, seed=1, incidents=inc)
    first, far, third = model.run()
    assert far.status == "open" and math.isnan(far.first_police_s)
    assert first.cleared_s == pytest.approx(10.0 + 10.0 + 100.0)  # 100 m at 10 m/s + handling
    # The third call came while the unit was busy; it is sent as soon as the unit clears,
    # although the unreachable call is ahead of it in the queue.
    assert third.police_wait_s == pytest.approx(first.cleared_s - 30.0)


def test_drill_two_meu_teams_first_then_police_within_five_minutes():
    """The August 2022 drill as a property of the model: an attack at a site with two MEUs
    next door and a police car 1.2 km away gets both teams first, police within 5 min."""
    sc = strip_city(
        city={"width": 13, "height": 1},
        meus={"count": 2, "members_per_unit": 10.0, "on_duty_share": 0.5, "team_size": 3,
              "site_cells": [[11, 0], [12, 0]], "mobilisation": FIXED(45.0),
              "coverage_radius_m": 500.0},
        incidents={"kinds": {"fight": {"share": 1.0, "self_rescue": False, "volunteers": False,
                                       "meu_teams": 2, "police_units": 1,
                                       "handling": FIXED(600.0)}}},
    )  # fmt: skip
    inc = stream([dict(occurred_s=100.0, x_m=1250.0, y_m=50.0, kind="fight", handling_s=600.0,
                       call_delay_s=0.0)])  # fmt: skip
    model = ResponseModel(sc, seed=1, incidents=inc)
    rec = model.run()[0]
    teams = sorted(a.arrived_s for a in model.assignments if a.responder == "meu")
    # Teams: alert 100 + 45 s + (0 m or 100 m) at 2 m/s; police: 100 + 60 s + 1200 m at 10 m/s.
    assert teams == [145.0, 195.0]
    assert rec.first_police_s == 100.0 + 60.0 + 120.0
    assert max(teams) < rec.first_police_s <= rec.occurred_s + 300.0


def two_tested_meus(per_day: float, hours: list[float], team_size: int):
    """The strip city for two days with two MEUs of six members (half on post) at cells
    (1, 0) and (2, 0), tested ``per_day`` times a day within ``hours``."""
    return strip_city(
        horizon_hours=48.0,
        meus={"count": 2, "members_per_unit": 6.0, "on_duty_share": 0.5,
              "team_size": team_size, "site_cells": [[1, 0], [2, 0]],
              "readiness_tests_per_day": per_day, "readiness_test_hours": hours},
    )  # fmt: skip


def test_readiness_tests_find_closed_and_stretched_units_not_ready():
    sc = two_tested_meus(per_day=200.0, hours=[8.0, 20.0], team_size=3)
    sc = sc.with_changes({"meus.opening_hours": {"residential": [12.0, 24.0]}})
    model = ResponseModel(sc, seed=3, incidents=stream([]))
    model.run()
    tests = model.readiness
    assert 300 < len(tests) < 500  # Poisson(200) a day, two days
    for t in tests:
        hour = (t.time_s / 3600) % 24
        assert 8 <= hour < 20
        # nobody out: an open unit has the day's members on post free
        on_post = int(model.meus.on_post(int(t.time_s // 86400))[t.unit_id])
        assert t.open == (hour >= 12) and t.members_free == (on_post if t.open else 0)
        assert t.ready == (t.open and on_post >= 3)


@pytest.mark.parametrize("block", [1, 2, 3, 5])
def test_occurrences_fed_in_blocks_keep_the_order_of_one_heap(monkeypatch, block):
    """Occurrences are read from their array a block at a time (ResponseModel.FEED_BLOCK)
    and merged with the heap; ties at a block's first time, and events of other kinds at the
    same times, come out as from one heap holding every occurrence from the start (a block
    larger than the run)."""
    sc = strip_city(police={"units": 2}, drain_hours=3.0)
    same = dict(x_m=250.0, y_m=50.0, kind="fight", handling_s=600.0, call_delay_s=0.0)
    times = [100.0, 100.0, 100.0, 160.0, 160.0, 400.0, 700.0, 760.0, 760.0, 760.0, 1360.0]
    inc = stream([dict(occurred_s=t, **same) for t in times])

    def trace_with(size: int):
        monkeypatch.setattr(ResponseModel, "FEED_BLOCK", size)
        m = ResponseModel(sc, seed=1, incidents=inc, trace=True)
        for until in (100.0, 159.0, 160.0, 1e9):  # stops on, before and past occurrences
            m.advance_to(until)
        return m.trace, repr(m.records())  # repr: NaN fields compare equal

    assert trace_with(block) == trace_with(10_000)


def test_the_run_makes_no_reference_cycles_and_leaves_the_collector_on():
    """The event loop and records() run with the cyclic collector paused (they allocate a
    tuple per event and per incident); that is free only while the model makes no cycles."""
    import gc

    from sim.geo.scenario import load_scenario
    from tests.conftest import SCENARIOS

    sc = load_scenario(SCENARIOS / "demo.yaml")
    gc.collect()
    model = ResponseModel(sc, seed=3)
    gc.collect()
    model.run_for(6 * 3600.0)
    model.run()
    assert gc.isenabled()
    assert gc.collect() == 0  # nothing the run made is garbage held only by cycles


def _one_heap_advance(model: ResponseModel, until_s: float) -> None:
    """The reference loop: every occurrence and readiness test in the heap, every follow-on
    pushed, one pop at a time (what ResponseModel._advance must equal: it merges occurrences
    from their array, holds only the next readiness test in the heap and processes a
    follow-on at once when it would be popped next anyway)."""
    heap = model._heap
    for i in range(model._fed, len(model._occurred)):
        heapq.heappush(heap, (float(model._occurred[i]), EventKind.OCCURS, i, i, -1))
    model._fed = len(model._occurred)
    while (test := model._test_event()) is not None:  # (then a test brings in no other)
        heapq.heappush(heap, test)
    while heap and heap[0][0] <= until_s:
        t, kind, _, a, b = heapq.heappop(heap)
        model.trace.append(Event(t, kind, a, b))
        follow = model._handlers[kind](model, t, a, b)
        if follow is not None:
            heapq.heappush(heap, follow)


@pytest.mark.parametrize("name", ["demo", "subdistrict"])
def test_the_loop_equals_one_heap_of_every_event(monkeypatch, name):
    """Shipped scenarios (MEUs, volunteers, police, readiness tests), advanced in pieces that
    stop between and on events: the loop's trace and records equal the reference's."""
    from sim.geo.scenario import load_scenario
    from tests.conftest import SCENARIOS

    path = {"demo": "demo.yaml", "subdistrict": "guangzhou-2023-subdistrict.yaml"}[name]
    sc = load_scenario(SCENARIOS / path).model_copy(update={"horizon_hours": 48.0})
    monkeypatch.setattr(ResponseModel, "KERNEL", False)

    def run(advance):
        if advance is not None:
            monkeypatch.setattr(ResponseModel, "_advance", advance)
        model = ResponseModel(sc, seed=5, trace=True)
        done = []  # events processed by each call: none past its until_s
        # stops on occurrences (their follow-ons come after), between events, and the end
        stops = [*model.incidents.occurred_s[:40:3].tolist(), 3600.5, 4 * 3600.0, 1e12]
        for until in sorted(stops):
            model.advance_to(until)
            done.append(len(model.trace))
            assert all(e.time_s <= until for e in model.trace)
        monkeypatch.undo()
        monkeypatch.setattr(ResponseModel, "KERNEL", False)
        return done, model.trace, repr(model.records()), model.assignments

    got = run(None)
    want = run(_one_heap_advance)
    assert len(got[1]) > 400
    assert got == want


def test_readiness_log_reads_as_its_records_and_gives_their_table():
    """ResponseModel.readiness holds the tests as columns (sim.model.records.ReadinessLog):
    read as records (by index, slice, iteration) and as a table it is what a list of
    ReadinessTest tuples gives."""
    import pandas as pd

    from sim.model.frames import readiness_frame
    from sim.model.records import ReadinessTest

    sc = two_tested_meus(per_day=50.0, hours=[8.0, 20.0], team_size=3)
    model = ResponseModel(sc, seed=3, incidents=stream([]))
    model.run()
    log = model.readiness
    records = list(log)
    assert len(records) == len(log) > 50
    assert all(isinstance(r, ReadinessTest) for r in records)
    assert log[-1] == records[-1] and log[3:7] == records[3:7]
    # done in time order, each test once
    assert [r.time_s for r in records] == sorted(r.time_s for r in records)
    assert sorted(r.test_id for r in records) == list(range(len(records)))
    pd.testing.assert_frame_equal(readiness_frame(log), readiness_frame(records))


@pytest.mark.parametrize("busy", [True, False])
def test_readiness_tests_at_one_instant_keep_their_order_across_stops(busy):
    """Readiness tests wait in arrays, only the next in the heap (each brings in the next):
    tests tied at one instant come out in test order, and a run stopped just before, on and
    just after that instant gives the trace and tables of a run in one go, no call past its
    stop. ``busy``: incidents and police around the instant; else the day is quiet by then,
    so the last test's follow-on (the next day's first) is the earliest event left and must
    still wait for the next call."""
    sc = two_tested_meus(per_day=30.0, hours=[10.0, 10.0], team_size=2)
    at = 10 * 3600.0
    same = dict(x_m=150.0, y_m=50.0, kind="fight", handling_s=900.0, call_delay_s=0.0)
    times = ([at - 200.0, at - 30.0, at, at, at + 60.0, 86400.0 + at - 10.0, 86400.0 + at]
             if busy else [3600.0, 3700.0, 86400.0 + at + 60.0])  # fmt: skip
    inc = stream([dict(occurred_s=t, **same) for t in times])

    def run(stops):
        m = ResponseModel(sc, seed=4, incidents=inc, trace=True)
        for until in stops:
            m.advance_to(until)
            assert not m.trace or m.trace[-1].time_s <= until  # nothing past the stop
        m.advance_to(m.end_s)
        return m

    whole = run([])
    stops = [s for day in (0.0, 86400.0)
             for s in (day + at - 1e-6, day + at, day + at, day + at + 1e-6)]  # fmt: skip
    pieces = run(stops)
    assert pieces.trace == whole.trace
    assert repr(pieces.records()) == repr(whole.records())  # repr: NaN fields compare equal
    assert list(pieces.readiness) == list(whole.readiness)
    tests = [e for e in whole.trace if e.kind == EventKind.READINESS_TEST]
    assert len(tests) > 40 and {e.time_s for e in tests} == {at, 86400.0 + at}
    ids = [e.subject for e in tests]
    assert ids == sorted(ids)  # tied: in test (sequence) order
