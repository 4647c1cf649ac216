"""Police on duty by hour (``police.on_duty_share``): exact event sequences in a tiny city,
the roster as an invariant of random runs, the default unchanged, bad rosters refused."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from sim.model.config import on_duty_counts
from sim.model.responders.police import PoliceUnit
from sim.model.response import ResponseModel
from sim.model.vocab import EventKind, UnitState
from tests.conftest import SCENARIOS, scenario
from tests.test_events import stream, strip_city


def roster(*on_by_hour: tuple[int, float]) -> list[float]:
    """24 shares, 1 except the (hour, share) pairs given."""
    share = [1.0] * 24
    for hour, value in on_by_hour:
        share[hour] = value
    return share


def fight(t: float, x: float, call_delay: float = 0.0) -> dict:
    return dict(occurred_s=t, x_m=x, y_m=50.0, kind="fight", handling_s=600.0,
                call_delay_s=call_delay)  # fmt: skip


def unit_state(model: ResponseModel, u: int) -> UnitState:
    return next(a for a in model.agents_by_type[PoliceUnit] if a.index == u).state


# ------------------------------------------------------------------ rounding and order
def test_units_on_duty_are_the_share_rounded_half_up():
    assert on_duty_counts(0.5, 3) == [2] * 24  # 1.5 -> 2 (Python's round would give 2 too)
    assert on_duty_counts(0.5, 5) == [3] * 24  # 2.5 -> 3 (round() would give 2)
    assert on_duty_counts(0.2, 2) == [0] * 24  # 0.4 -> 0
    assert on_duty_counts(roster((2, 0.0), (3, 0.25)), 4)[:5] == [4, 4, 0, 1, 4]


def test_the_units_off_duty_are_spread_over_stations():
    sc = scenario(police={"stations": 2, "grids": 2, "units": 4, "on_duty_share": 0.5,
                          "station_cells": [[2, 2], [15, 15]]})  # fmt: skip
    model = ResponseModel(sc, seed=1)
    fleet = model.police
    off = fleet.off_duty()
    assert len(off) == 2 and sorted(fleet.station[off].tolist()) == [0, 1]
    assert off == sorted(fleet.duty_order[2:].tolist())
    assert fleet.free_units() == sorted(fleet.duty_order[:2].tolist())


# ------------------------------------------------------------------ exact events
def test_an_off_duty_unit_is_not_sent_and_the_call_waits_for_the_one_on_duty():
    # Two units at the station; one on duty all day (0.5 x 2 -> 1): unit 0 (rank 0).
    sc = strip_city(police={"units": 2, "on_duty_share": 0.5})
    model = ResponseModel(
        sc, seed=1, incidents=stream([fight(100.0, 250.0), fight(300.0, 150.0)]), trace=True
    )
    assert model.police.off_duty() == [1] and unit_state(model, 1) is UnitState.OFF_DUTY
    first, second = model.run()
    # Unit 1 idles at the station, off duty: the second call waits for unit 0 to clear
    # (arrived 180 s + 600 s = 780 s), and it drives there from the first scene (100 m at
    # 10 m/s).
    assert [(a.responder_id, a.incident_id) for a in model.assignments] == [(0, 0), (0, 1)]
    assert second.police_dispatched_s == first.cleared_s == 780.0
    assert second.first_police_s == 790.0
    assert not any(e.kind == EventKind.ROSTER for e in model.trace)  # one count all day
    assert model.why_not_compiled is not None and "roster" in model.why_not_compiled


def test_a_busy_unit_finishes_its_incident_then_goes_off_and_a_queued_call_waits_for_the_hour():
    # One unit: on duty in hour 0, off in hour 1, on again from 02:00.
    sc = strip_city(horizon_hours=2.0, police={"on_duty_share": roster((1, 0.0))})
    inc = stream([fight(3000.0, 250.0, call_delay=30.0), fight(3800.0, 150.0)])
    model = ResponseModel(sc, seed=1, incidents=inc, trace=True)
    model.advance_to(3650.0)  # past 01:00: still at its scene
    assert unit_state(model, 0) is UnitState.ON_SCENE and model.police.busy_count == 1
    model.advance_to(3720.0)  # released at 3710 s: off duty from there
    assert unit_state(model, 0) is UnitState.OFF_DUTY and model.police.free_units() == []
    assert model.police.busy_count == 0  # off duty is neither free nor busy
    model.run()
    assert model.trace == [
        (3000.0, EventKind.OCCURS, 0, -1),
        (3030.0, EventKind.ALERT, 0, -1),
        (3090.0, EventKind.POLICE_CALL, 0, -1),
        (3110.0, EventKind.POLICE_ARRIVES, 0, 0),
        (3600.0, EventKind.ROSTER, 1, 0),  # hour 1: no unit on duty; unit 0 is busy
        (3710.0, EventKind.UNIT_CLEARS, 0, -1),  # it finishes, then goes off
        (3800.0, EventKind.OCCURS, 1, -1),
        (3800.0, EventKind.ALERT, 1, -1),
        (3860.0, EventKind.POLICE_CALL, 1, -1),  # queued: nobody on duty
        (7200.0, EventKind.ROSTER, 2, 1),  # back on duty at its station, sent at once
        (7210.0, EventKind.POLICE_ARRIVES, 1, 0),
        (7810.0, EventKind.UNIT_CLEARS, 1, -1),
    ]  # the next change (01:00 of day 2) lies past the run's end
    second = model.records()[1]
    assert second.police_dispatched_s == 7200.0 and second.police_wait_s == 7200.0 - 3860.0
    assert [e.payload for e in model.trace if e.kind == EventKind.ROSTER] == [
        {"hour": 1, "on_duty": 0}, {"hour": 2, "on_duty": 1},
    ]  # fmt: skip


def test_a_unit_off_duty_from_the_start_comes_on_at_the_hour_and_takes_the_waiting_call():
    sc = strip_city(horizon_hours=2.0, police={"on_duty_share": roster((0, 0.0))})
    model = ResponseModel(sc, seed=1, incidents=stream([fight(100.0, 250.0)]), trace=True)
    assert unit_state(model, 0) is UnitState.OFF_DUTY
    (rec,) = model.run()
    assert (rec.police_call_s, rec.police_dispatched_s, rec.first_police_s) == (
        160.0, 3600.0, 3620.0,
    )  # fmt: skip
    assert [e.kind for e in model.trace] == [
        EventKind.OCCURS, EventKind.ALERT, EventKind.POLICE_CALL, EventKind.ROSTER,
        EventKind.POLICE_ARRIVES, EventKind.UNIT_CLEARS,
    ]  # fmt: skip


def test_a_unit_driving_back_goes_off_where_it_is_and_no_search_sees_it():
    # Two units; the second goes off at 01:00 while driving back from a scene.
    sc = strip_city(horizon_hours=2.0, police={"units": 2, "on_duty_share": roster((1, 0.5))})
    inc = stream([fight(100.0, 250.0), fight(200.0, 250.0), fight(3700.0, 250.0)])
    model = ResponseModel(sc, seed=1, incidents=inc)
    model.advance_to(3590.0)
    assert model.police.free_units() == [0, 1] and model.police._back  # both driving back
    model.advance_to(3600.0)
    assert model.police.free_units() == [0] and model.police.off_duty() == [1]
    assert 1 not in model.police._back  # its way back is dropped with it
    model.run()
    assert [a.responder_id for a in model.assignments if a.incident_id == 2] == [0]


def test_the_compiled_loop_is_not_forced_onto_a_roster(monkeypatch):
    monkeypatch.setattr(ResponseModel, "KERNEL", True)
    sc = scenario(police={"units": 3, "on_duty_share": roster((2, 0.0), (3, 0.0))})
    model = ResponseModel(sc, seed=2)
    model.run()
    assert model.kernel_calls == 0
    assert model.why_not_compiled == (
        "a police roster (police.on_duty_share: fewer units on duty in some hour)"
    )


# ------------------------------------------------------------------ invariants
@settings(max_examples=20, deadline=None)
@given(shares=st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=24, max_size=24),
       seed=st.integers(0, 10_000))  # fmt: skip
def test_every_unit_sent_is_on_duty_and_no_more_are_out_at_once_than_on_duty(shares, seed):
    if max(on_duty_counts(shares, 4)) == 0:
        shares[0] = 1.0
    sc = scenario(horizon_hours=24.0, drain_hours=12.0,
                  police={"stations": 2, "grids": 4, "units": 4, "on_duty_share": shares},
                  incidents={"rate_per_day": 120.0})  # fmt: skip
    model = ResponseModel(sc, seed=seed)
    model.run()
    police = assert_sent_on_duty(model, shares)
    # Each unit serves one incident at a time.
    for u in range(4):
        spells = sorted((a.sent_s, a.released_s) for a in police if a.responder_id == u)
        assert all(s1[1] <= s2[0] for s1, s2 in itertools.pairwise(spells))
    # No call is dispatched in an hour nobody is on duty.
    counts = on_duty_counts(shares, 4)
    sent = model.incidents_table()["police_dispatched_s"].dropna()
    assert all(counts[int(t // 3600) % 24] > 0 for t in sent)


def assert_sent_on_duty(model: ResponseModel, shares) -> list:
    """Every police unit sent was on duty then (among the first of the roster order), and
    the units sent since the hour began and not yet released never outnumber those on duty;
    returns the police assignments."""
    counts = on_duty_counts(shares, len(model.police))
    rank = np.argsort(model.police.duty_order)  # a unit's place in the roster order
    police = [a for a in model.assignments if a.responder == "police"]
    for a in police:
        hour = int(a.sent_s // 3600) % 24
        assert rank[a.responder_id] < counts[hour], (a, counts[hour])
        start = a.sent_s - a.sent_s % 3600
        out = {b.responder_id for b in police if start <= b.sent_s <= a.sent_s < b.released_s}
        assert len(out) <= counts[hour]
    return police


NIGHT_OFF = roster((0, 0.5), (1, 0.25), (2, 0.0), (3, 0.0), (4, 0.5))


@pytest.mark.parametrize(
    "police",
    [{"dispatch": "own_grid_first"}, {"move_up": "uncovered_longest"}],
)
def test_the_other_policies_send_only_units_on_duty(police):
    sc = scenario(police={"stations": 2, "grids": 4, "units": 4, "on_duty_share": NIGHT_OFF,
                          **police},
                  incidents={"rate_per_day": 150.0})  # fmt: skip
    model = ResponseModel(sc, seed=4)
    model.run()
    assert len(assert_sent_on_duty(model, NIGHT_OFF)) > 100


def test_on_a_road_network_only_units_on_duty_are_sent(tmp_path):
    pytest.importorskip("rasterio")
    from tests.test_geo_inputs import city_files  # needs the geo extra

    share = [0.5] * 24
    path = city_files(tmp_path, police="  stations_file: stations.csv\n  units: 6\n"
                      "  on_duty_share: 0.5\n", incidents="  rate_per_day: 400\n")  # fmt: skip
    model = ResponseModel(load_scenario(path), seed=2)
    model.run()
    assert model.police.city.roads is not None and len(model.police.off_duty()) == 3
    assert len(assert_sent_on_duty(model, share)) >= 10


def test_a_roster_that_keeps_every_unit_on_changes_nothing():
    """Shares that round to every unit in every hour are no roster: the same tables, no
    ROSTER event, the compiled loop still allowed (its reason, if any, is another)."""
    base = scenario(police={"units": 4})
    tables = []
    for share in (None, 1.0, [1.0] * 24, 0.9):  # 0.9 x 4 = 3.6 -> 4
        sc = base if share is None else scenario(police={"units": 4, "on_duty_share": share})
        model = ResponseModel(sc, seed=5, trace=True)
        model.run()
        assert not any(e.kind == EventKind.ROSTER for e in model.trace)
        assert "roster" not in (model.why_not_compiled or "")
        tables.append((model.incidents_table(), model.assignments))
    for incidents, assignments in tables[1:]:
        assert incidents.equals(tables[0][0]) and assignments == tables[0][1]


def test_calls_in_the_hours_nobody_is_on_duty_wait_for_04_00_on_the_same_incidents():
    """Every unit off from 02:00 to 04:00: each call 110 takes then is dispatched at 04:00
    exactly (all units come on together; the first waiting call gets the nearest), the same
    incidents happen (common random numbers), and the night's waits only grow."""
    full = scenario(police={"units": 3}, incidents={"rate_per_day": 120.0})
    thin = scenario(police={"units": 3, "on_duty_share": roster((2, 0.0), (3, 0.0))},
                    incidents={"rate_per_day": 120.0})  # fmt: skip
    tables = []
    for sc in (full, thin):
        model = ResponseModel(sc, seed=7)
        model.run()
        tables.append(model.incidents_table())
    full_t, thin_t = tables
    assert np.array_equal(full_t["occurred_s"], thin_t["occurred_s"])  # same incidents
    night = ((thin_t["police_call_s"] // 3600) % 24).isin([2, 3]).to_numpy()
    assert night.sum() >= 3
    dispatched = thin_t["police_dispatched_s"].to_numpy()[night]
    assert np.all(dispatched >= 4 * 3600.0) and np.all(dispatched % 86400 >= 4 * 3600.0)
    assert (dispatched == 4 * 3600.0).sum() >= min(3, night.sum())  # three units at once
    thin_wait = thin_t["police_wait_s"].to_numpy()[night]
    full_wait = full_t["police_wait_s"].to_numpy()[night]
    assert np.all(thin_wait > full_wait)


# ------------------------------------------------------------------ bad input, exit 2
@pytest.mark.parametrize(
    ("share", "says"),
    [
        (1.5, "police.on_duty_share"),
        ([1.0] * 23, "police.on_duty_share"),
        ([0.1] * 24, "police.on_duty_share: share x units, rounded half up, is 0 in every hour"),
        ({"night": 0.5}, "police.on_duty_share"),
    ],
)
def test_a_bad_roster_is_one_message_naming_the_key_exit_2(tmp_path, capsys, share, says):
    raw = {"name": "bad", "police": {"units": 4, "on_duty_share": share}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    assert main(["run", str(tmp_path / "bad.yaml"), "-q", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_a_roster_is_refused_in_python_with_the_key():
    with pytest.raises(ValueError, match=r"on_duty_share"):
        scenario(police={"units": 2, "on_duty_share": [0.2] * 24})
    assert math.isclose(scenario(police={"units": 0, "on_duty_share": 0.0}).police.units, 0)


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_no_shipped_scenario_has_a_roster(path):
    """Their tables stay byte-identical (tests/test_identical_outputs.py holds the digests
    of several): without a roster no ROSTER event is pushed and no unit is ever off duty."""
    sc = load_scenario(path)
    assert not sc.police.has_roster
    assert on_duty_counts(sc.police.on_duty_share, sc.police.units) == [sc.police.units] * 24
