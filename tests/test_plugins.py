"""Plug-ins from an installed package (tests/plugins/jiefang_ambulance, installed through its
entry points by the ``ambulance_plugin`` fixture): found by name, validated, run, streamed;
the same fleet as Mesa agents gives the same incidents. The command line: test_plugins_cli.py."""

from __future__ import annotations

import copy
import os
import pickle
import re
import subprocess
import sys

import mesa
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mesa.agentset import AgentSet

from sim.geo.scenario import load_scenario
from sim.model import plugins
from sim.model.config import Scenario, ScenarioError, deep_merge
from sim.model.fleets import StationFleet
from sim.model.frames import assignments_frame
from sim.model.incidents import IncidentStream
from sim.model.plugins import PlugInError, PlugInFailed
from sim.model.response import ResponseModel
from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("ambulance_plugin")

#: Injuries are served by the ambulance alone: no police, volunteers, MEUs or self-rescue.
INJURY = {"share": 1, "self_rescue": False, "volunteers": False, "meu_teams": 0,
          "police_units": 0, "call_probability": 1.0, "fleets": {"ambulance": 1}}  # fmt: skip


def ambulance_scenario(**extra) -> Scenario:
    raw = {
        "name": "ambulances",
        "horizon_hours": 24.0,
        "drain_hours": 12.0,
        "city": {"width": 20, "height": 20, "cell_size_m": 100.0, "population": 20000},
        "police": {"stations": 1, "grids": 4, "units": 2},
        "fleets": {"ambulance": {"stations": [[3, 3], [16, 16]], "speed_m_s": 12.0}},
        "incidents": {"rate_per_day": 80.0, "kinds": {
            "theft": {"share": 2, "sudden": False}, "injury": INJURY}},
        "tiers": [
            {"name": "police", "target_s": 300, "responders": ["police"], "clock": "alert",
             "incidents": "all"},
            {"name": "medical", "target_s": 720, "responders": ["ambulance"], "clock": "alert"},
        ],
    }  # fmt: skip
    return Scenario.model_validate(deep_merge(raw, extra))


def as_agents(sc: Scenario) -> Scenario:
    """The scenario with the Mesa-agent ambulances in place of the array ones."""
    raw = sc.model_dump(mode="json", exclude_unset=True)
    raw["fleets"] = {"ambulance_agents": raw["fleets"].pop("ambulance")}
    injury = raw["incidents"]["kinds"]["injury"]
    injury["fleets"] = {"ambulance_agents": injury["fleets"]["ambulance"]}
    raw["tiers"][1]["responders"] = ["ambulance_agents"]
    return Scenario.model_validate(raw)


def run(sc: Scenario, **kwargs) -> ResponseModel:
    model = ResponseModel(sc, **kwargs)
    model.run()
    return model


def test_the_installed_package_is_found_through_its_entry_points_only():
    fleet = plugins.FLEET_PLUGINS.get("ambulance")
    assert fleet.__module__ == "jiefang_ambulance.fleet"
    assert issubclass(fleet, StationFleet)  # the rules it shares with the professional teams
    assert {"ambulance", "ambulance_agents", "faulty_radio"} <= set(plugins.FLEET_PLUGINS.names())
    assert "least_used" in plugins.DISPATCH_PLUGINS.names()
    assert "ambulance" in plugins.known_responders()
    assert any(line.startswith("jiefang.fleets: ambulance = jiefang_ambulance.fleet:Ambulances")
               for line in plugins.describe())  # fmt: skip
    # Nothing in the package imports it: it is found, not imported.
    importing = [p for p in (ROOT / "sim").rglob("*.py")
                 if re.search(r"^\s*(from|import) jiefang_ambulance", p.read_text(), re.M)]  # fmt: skip
    assert importing == []


def test_provenance_names_the_plug_ins_a_scenario_uses_and_not_the_built_ins():
    from tests.test_fleets import FireBrigade, fire_scenario

    sc = ambulance_scenario(police={"dispatch": "own_grid_first"})
    assert plugins.provenance(sc) == {
        "fleets.ambulance": "jiefang_ambulance.fleet:Ambulances (jiefang-ambulance 0.1.0)"
    }
    plugins.FLEETS["fire_brigade"] = FireBrigade
    try:
        assert plugins.provenance(fire_scenario()) == {
            "fleets.fire_brigade": "tests.test_fleets:FireBrigade (registered in-process)"
        }
    finally:
        del plugins.FLEETS["fire_brigade"]


def test_an_incident_kind_served_by_the_ambulance_alone_clears_after_it_arrives():
    model = run(ambulance_scenario(), seed=3)
    df = model.incidents_table()
    injury = df[df["kind"] == "injury"]
    assert len(injury) > 10
    assert (injury["status"] == "cleared").all()
    assert (injury["ambulance_sent"] == 1).all() and (injury["ambulance_needed"] == 1).all()
    # First help is the ambulance's arrival, and the incident clears its handling time later.
    assert (injury["first_help_by"] == "ambulance").all()
    np.testing.assert_array_equal(injury["first_help_s"], injury["first_ambulance_s"])
    np.testing.assert_allclose(injury["cleared_s"],
                               injury["first_ambulance_s"] + model.incidents.handling_s[injury.index],
                               rtol=0, atol=1e-9)  # fmt: skip
    assert (df.loc[df["kind"] == "theft", "ambulance_needed"] == 0).all()


def test_a_call_with_every_ambulance_out_waits_for_the_first_one_released():
    sc = ambulance_scenario(fleets={"ambulance": {"stations": [[0, 0]]}})
    rows = [  # the second injury comes while the only ambulance serves the first
        {"occurred_s": 100.0, "x_m": 50.0 + 1200.0, "y_m": 50.0, "kind": "injury",
         "handling_s": 600.0, "call_delay_s": 30.0},
        {"occurred_s": 200.0, "x_m": 50.0, "y_m": 50.0 + 600.0, "kind": "injury",
         "handling_s": 300.0, "call_delay_s": 30.0},
    ]  # fmt: skip
    stream = IncidentStream.from_rows(("theft", "injury"), rows)
    model = run(sc, incidents=stream)
    df = model.incidents_table()
    first_arrival = 130.0 + 60.0 + 1200.0 / 12.0
    assert df.loc[0, "first_ambulance_s"] == first_arrival
    assert df.loc[0, "cleared_s"] == first_arrival + 600.0
    # Sent when the first is cleared, from the station: turnout and 600 m at 12 m/s.
    assert df.loc[1, "first_ambulance_s"] == first_arrival + 600.0 + 60.0 + 50.0
    assert df.loc[1, "cleared_s"] == df.loc[1, "first_ambulance_s"] + 300.0
    trips = assignments_frame(model.assignments).query("responder == 'ambulance'")
    assert trips[["incident_id", "sent_s"]].values.tolist() == [
        [0, 130.0],
        [1, first_arrival + 600.0],
    ]


@pytest.mark.parametrize("mesa_agents", [False, True], ids=["arrays", "mesa-agents"])
def test_a_plug_in_fleet_keeps_records_streaming(mesa_agents):
    sc = as_agents(ambulance_scenario()) if mesa_agents else ambulance_scenario()
    whole = run(sc, seed=5).incidents_table()
    model = ResponseModel(sc, seed=5)
    chunks, before_end = [], 0
    for hour in range(1, 40):
        model.advance_to(hour * 3600.0)
        chunk = model.take_settled()
        if chunk is not None:
            chunks.append(chunk[0])
            before_end += 0 if model.finished else len(chunk[0])
    assert before_end > len(whole) // 2  # most incidents leave before the run ends
    streamed = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(streamed, whole)


def test_the_same_fleet_as_mesa_agents_gives_the_same_incidents_table():
    sc = ambulance_scenario(incidents={"rate_per_day": 150.0})
    arrays = run(sc, seed=7)
    agents = run(as_agents(sc), seed=7)
    renamed = agents.incidents_table().rename(
        columns=lambda c: c.replace("ambulance_agents", "ambulance")
    )
    renamed["first_help_by"] = renamed["first_help_by"].replace("ambulance_agents", "ambulance")
    table = arrays.incidents_table()
    assert (table["ambulance_sent"] > 0).sum() > 30 and table["first_ambulance_s"].notna().any()
    pd.testing.assert_frame_equal(renamed, table)
    trips = assignments_frame(agents.assignments).replace("ambulance_agents", "ambulance")
    pd.testing.assert_frame_equal(trips, assignments_frame(arrays.assignments))
    fleet = agents.fleets[0]
    assert isinstance(fleet.agents, AgentSet) and len(fleet.agents) == 2


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**31), per_station=st.integers(1, 2),
       stations=st.lists(st.tuples(st.integers(0, 19), st.integers(0, 19)), min_size=1,
                         max_size=3, unique=True),
       rate=st.floats(20.0, 400.0), needed=st.integers(1, 2))  # fmt: skip
@example(seed=0, per_station=1, stations=[(0, 0)], rate=398.0, needed=1)  # an overloaded one
def test_any_ambulance_layout_clears_every_injury_and_agents_agree(
    seed, per_station, stations, rate, needed
):
    # The drain outlasts the longest queue drawn: one ambulance at 400 calls a day holds
    # about 33 injuries after 6 hours, each a drive and its handling (12 h of drain left
    # some open, and an open one is not a dropped one).
    sc = ambulance_scenario(
        horizon_hours=6.0,
        drain_hours=96.0,
        fleets={"ambulance": {"stations": [list(c) for c in stations], "per_station": per_station}},
        incidents={"rate_per_day": rate, "kinds": {"injury": {"fleets": {"ambulance": needed}}}},
    )
    arrays = run(sc, seed=seed)
    table = arrays.incidents_table()
    injury = table[table["kind"] == "injury"]
    # Every injury clears (a call waits for an ambulance rather than being dropped), at its
    # first ambulance plus its handling time; each got one at least, and no more than it
    # needed or the fleet has (a second one may come only while the incident is open).
    assert (injury["status"] == "cleared").all()
    np.testing.assert_array_equal(injury["cleared_s"], injury["first_ambulance_s"]
                                  + arrays.incidents.handling_s[injury.index])  # fmt: skip
    assert injury["ambulance_sent"].between(1, min(needed, len(stations) * per_station)).all()
    agents = run(as_agents(sc), seed=seed).incidents_table()
    renamed = agents.rename(columns=lambda c: c.replace("ambulance_agents", "ambulance"))
    renamed["first_help_by"] = renamed["first_help_by"].replace("ambulance_agents", "ambulance")
    pd.testing.assert_frame_equal(renamed, table)


def test_mesa_datacollector_reads_the_agents_and_the_model_on_its_clock():
    sc = ambulance_scenario(incidents={"rate_per_day": 150.0})
    agents_model, arrays_model = ResponseModel(as_agents(sc), seed=2), ResponseModel(sc, seed=2)
    ambulance_type = type(next(iter(agents_model.fleets[0].agents)))
    collector = mesa.DataCollector(
        model_reporters={"time_s": "time", "open": lambda m: m.live_counts()["open"]},
        agenttype_reporters={ambulance_type: {"busy": lambda a: not a.free}},
    )
    busy_arrays = []
    for hour in range(1, 25):
        agents_model.run_until(hour * 3600.0)
        arrays_model.run_for(3600.0)
        collector.collect(agents_model)
        busy_arrays.append(int(arrays_model.fleets[0].busy.sum()))
    per_hour = collector.get_model_vars_dataframe()
    assert per_hour["time_s"].tolist() == [h * 3600.0 for h in range(1, 25)]
    busy = collector.get_agenttype_vars_dataframe(ambulance_type)
    busy_per_hour = busy.groupby(level="Step")["busy"].sum().tolist()
    assert busy_per_hour == busy_arrays and max(busy_arrays) > 0


class Clock(mesa.Agent):
    """An agent that notes when its method runs (schedule_event holds it weakly, as Mesa)."""

    def __init__(self, model) -> None:
        super().__init__(model)
        self.rang: list[tuple[float, str]] = []

    def ring(self) -> None:
        self.rang.append((float(self.model.time), "ring"))

    def chime(self) -> None:
        self.rang.append((float(self.model.time), "chime"))

    def jam(self) -> None:
        raise ZeroDivisionError("clapper stuck")


def test_schedule_event_runs_on_the_model_clock_as_mesa_says():
    model = ResponseModel(ambulance_scenario(), seed=0)
    clock = Clock(model)
    model.schedule_event(clock.chime, at=7200.0)
    model.schedule_event(clock.ring, at=3600.0)
    model.schedule_event(clock.ring, at=7200.0)  # same time: in the order scheduled
    model.schedule_event(clock.ring, at=9000.0).cancel()
    model.run_for(1800.0)
    model.schedule_event(clock.ring, after=60.0)
    model.run_until(10_000.0)
    assert clock.rang == [(1860.0, "ring"), (3600.0, "ring"), (7200.0, "chime"), (7200.0, "ring")]
    assert model.time == 10_000.0
    with pytest.raises(ValueError, match="alive"):
        model.schedule_event(lambda: None, at=20_000.0)
    with pytest.raises(ValueError, match="clock is at"):
        model.schedule_event(clock.ring, at=5.0)
    with pytest.raises(ValueError, match="priority"):
        model.schedule_event(clock.ring, at=20_000.0, priority=mesa.time.Priority.HIGH)


class Recorder:
    """Collects a DataCollector when the model's recurring event says."""

    def __init__(self, model) -> None:
        self.model = model
        self.data = mesa.DataCollector(
            model_reporters={"time_s": "time", "open": lambda m: m.live_counts()["open"]}
        )

    def collect(self) -> None:
        self.data.collect(self.model)


def test_schedule_recurring_runs_on_the_model_clock_as_mesa_says():
    model = ResponseModel(ambulance_scenario(), seed=0)
    hourly, twice = Recorder(model), Recorder(model)
    every_hour = model.schedule_recurring(hourly.collect, mesa.time.Schedule(interval=3600.0))
    model.schedule_recurring(twice.collect, mesa.time.Schedule(interval=600.0, start=60.0,
                                                               count=2))  # fmt: skip
    model.run_until(5 * 3600.0)
    assert every_hour.next_scheduled_time == 6 * 3600.0 and every_hour.execution_count == 5
    every_hour.stop()
    model.run_until(10 * 3600.0)
    assert hourly.data.get_model_vars_dataframe()["time_s"].tolist() == [
        3600.0 * h for h in range(1, 6)
    ]
    assert twice.data.get_model_vars_dataframe()["time_s"].tolist() == [60.0, 660.0]
    assert model.recurring == set()


def test_a_mesa_event_raising_fails_the_run_naming_it():
    model = ResponseModel(ambulance_scenario(), seed=0)
    clock = Clock(model)
    model.schedule_event(clock.jam, at=600.0)
    with pytest.raises(
        PlugInFailed,
        match=r"^plug-in Mesa event Clock\.jam at t=600\.0 s raised "
        r"ZeroDivisionError: clapper stuck \(.*test_plugins\.py:\d+\)$",
    ):
        model.run_for(3600.0)


def test_a_plug_in_raising_mid_run_fails_the_run_naming_it():
    sc = ambulance_scenario(
        fleets={"faulty_radio": {"fail_at_alert": 3}},
        incidents={"kinds": {"injury": {"fleets": {"faulty_radio": 1}}}},
    )
    model = ResponseModel(sc, seed=0)
    with pytest.raises(
        PlugInFailed,
        match=r"fleet 'faulty_radio' \(alert\) at t=[\d.]+ s, "
        r"incident \d+ raised RuntimeError: radio link lost \(.*faulty\.py:\d+\)",
    ):
        model.run()


def test_a_plug_in_policy_raising_fails_the_run_naming_it():
    model = ResponseModel(ambulance_scenario(police={"dispatch": "jammed"}), seed=0)
    with pytest.raises(
        PlugInFailed,
        match=r"^plug-in dispatch policy 'jammed' \(choose\) raised "
        r"RuntimeError: dispatch console frozen \(.*faulty\.py:\d+\)$",
    ):
        model.run()
    # The guard copies and pickles with the policy's state (least_used counts calls).
    guarded = plugins.policy(plugins.DISPATCH_PLUGINS, "least_used")
    guarded.calls[3] = 2
    assert pickle.loads(pickle.dumps(guarded)).calls == {3: 2}
    assert copy.deepcopy(guarded).calls == {3: 2}
    # Built-in policies are not wrapped (the model calls them in its hot loop).
    assert (
        type(ResponseModel(ambulance_scenario(), seed=0).dispatch_policy).__name__ == "NearestUnit"
    )


@pytest.mark.parametrize(("change", "message"), [
    ({"fleets": {"ambulanse": {}}}, r"fleets\.ambulanse: unknown fleet 'ambulanse'; installed: "
                                    r"professional, ambulance, ambulance_agents, faulty_radio"),
    ({"tiers": [{"name": "x", "target_s": 60, "responders": ["ambulanse"]}]},
     r"tiers\.0\.responders: .*unknown responder 'ambulanse'; installed: .*police, "
     r"professional, ambulance, "
     r"ambulance_agents"),
    ({"police": {"dispatch": "least_usd"}},
     r"police\.dispatch: .*unknown policy 'least_usd'; installed: nearest, own_grid_first, "
     r"jammed, least_used"),
    ({"police": {"move_up": "teleport"}}, r"police\.move_up: .*unknown policy 'teleport'"),
])  # fmt: skip
def test_a_scenario_naming_what_no_installed_package_provides_is_one_line(
    tmp_path, change, message
):
    import yaml

    raw = deep_merge(ambulance_scenario().model_dump(mode="json", exclude_unset=True), change)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ScenarioError, match=message) as err:
        load_scenario(path)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"{path}: ")


def install_fake(tmp_path, name: str, entry_points: str) -> None:
    info = tmp_path / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)


def test_a_broken_or_doubled_plug_in_is_named_with_its_entry_point(tmp_path, monkeypatch):
    install_fake(tmp_path, "broken", "[jiefang.fleets]\nstretcher = no_such_module:Stretcher\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        PlugInError,
        match=r"fleet 'stretcher' \(jiefang\.fleets entry point "
        r"no_such_module:Stretcher\) cannot be loaded: ModuleNotFoundError",
    ):
        plugins.FLEET_PLUGINS.get("stretcher")
    with pytest.raises(
        ValueError, match=r"fleets\.stretcher: fleet 'stretcher' .*cannot be loaded"
    ):
        ambulance_scenario(fleets={"stretcher": {}})
    install_fake(tmp_path, "twin", "[jiefang.fleets]\nambulance = twin_pkg:Ambulance\n")
    plugins.refresh()  # installed into a folder already on the path
    with pytest.raises(
        PlugInError,
        match=r"'ambulance' is provided by more than one installed "
        r"package \((.*Ambulances, twin_pkg:Ambulance|twin_pkg:Ambulance, .*Ambulances)\)",
    ):
        plugins.FLEET_PLUGINS.get("ambulance")


@pytest.mark.skipif(
    not hasattr(__import__("sim.model.policies").model.policies, "Call"),
    reason="needs the dispatch signature choose(call, units) (issue 22)",
)
def test_an_installed_dispatch_policy_is_honoured():
    # Two units at one station, patrolling nowhere: the nearest policy sends unit 0 (ties to
    # the lower id) every time; least_used alternates.
    base = {"police": {"stations": 1, "grids": 1, "units": 2, "station_cells": [[0, 0]],
                       "patrol_when_idle": False}}  # fmt: skip
    rows = [{"occurred_s": 1000.0 * k, "x_m": 950.0, "y_m": 950.0, "kind": "theft",
             "handling_s": 100.0, "call_delay_s": 10.0} for k in range(1, 7)]  # fmt: skip
    units = {}
    for policy in ("nearest", "least_used"):
        sc = ambulance_scenario(**deep_merge(base, {"police": {"dispatch": policy}}))
        model = run(sc, incidents=IncidentStream.from_rows(("theft", "injury"), rows))
        trips = assignments_frame(model.assignments).query("responder == 'police'")
        units[policy] = trips.sort_values("incident_id")["responder_id"].tolist()
    assert units == {"nearest": [0] * 6, "least_used": [0, 1, 0, 1, 0, 1]}


def test_the_fixture_installs_nothing_into_the_environment():
    # A subprocess without the fixture's PYTHONPATH does not see the package.
    code = "from sim.model import plugins; print('ambulance' in plugins.FLEET_PLUGINS)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True)  # fmt: skip
    assert out.stdout.strip() == "False"


def test_jiefang_run_streams_a_plug_in_scenario_to_the_same_tables(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    import yaml

    from sim.experiment import runner, streams
    from sim.interface.cli import main

    path = tmp_path / "ambulances.yaml"
    path.write_text(yaml.safe_dump(ambulance_scenario().model_dump(mode="json",
                                                                   exclude_unset=True)))  # fmt: skip
    args = ["run", str(path), "-r", "2", "-q", "--no-plot", "--out"]
    assert main([*args, str(tmp_path / "whole")]) == 0
    monkeypatch.setattr(streams, "STREAM_ROWS", 16)
    monkeypatch.setattr(runner, "STREAM_INCIDENTS", 8)
    assert main([*args, str(tmp_path / "streamed")]) == 0
    for name in ("incidents", "assignments"):
        whole = pd.read_parquet(tmp_path / "whole" / f"{name}.parquet")
        streamed = pd.read_parquet(tmp_path / "streamed" / f"{name}.parquet")
        assert len(whole) > 2 * 16
        pd.testing.assert_frame_equal(streamed, whole, check_exact=True)
    assert pq.ParquetFile(tmp_path / "streamed" / "incidents.parquet").num_row_groups > 1
    assert "first_ambulance_s" in pq.read_schema(tmp_path / "streamed" / "incidents.parquet").names
