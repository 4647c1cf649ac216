"""A new kind of responder added from outside the package through the Python API: a fire
brigade for the official 20-minute professional circle, written here, registered with
register_fleet, configured, counted by a tier. (Installed packages with entry points:
tests/test_plugins.py.)"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ConfigDict, Field

from sim.analysis.metrics import summarise
from sim.model.config import Scenario, ScenarioError, deep_merge
from sim.model.fleets import StationFleet, register_fleet, unregister_fleet
from sim.model.incidents import IncidentStream
from sim.model.records import Assignment
from sim.model.response import ResponseModel


class FireBrigade:
    """Engines at fixed stations; the nearest free engine goes after a turnout time, drives at
    a fixed speed on the grid (Manhattan), and is free again when the incident is cleared."""

    name = "fire_brigade"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        stations: list[list[int]] = Field(min_length=1)  # [column, row] cells
        engines_per_station: int = Field(1, ge=1)
        speed_m_s: float = Field(10.0, gt=0)
        turnout_s: float = Field(60.0, ge=0)

    def __init__(self, model, config) -> None:
        self.model, self.cfg = model, config
        cells = np.repeat(np.array(config.stations), config.engines_per_station, axis=0)
        self.xy = model.city.cell_centre(cells[:, 0], cells[:, 1])
        self.busy = np.zeros(len(self.xy), bool)
        self.sent: dict[int, list[tuple[int, float, float]]] = {}

    def alert(self, t, incident, needed):
        scene = self.model.incidents.xy[incident]
        dist = np.abs(self.xy - scene).sum(axis=1)
        free = np.flatnonzero(~self.busy)
        for e in free[np.argsort(dist[free], kind="stable")][:needed].tolist():
            self.busy[e] = True
            arrival = t + self.cfg.turnout_s + dist[e] / self.cfg.speed_m_s
            self.sent.setdefault(incident, []).append((e, t, arrival))
            self.model.ledger.sent(self.name, incident)
            self.model.schedule(arrival, self, incident, e)

    def event(self, t, incident, engine):
        self.model.ledger.arrived(self.name, incident, t)

    def clear(self, t, incident):
        for e, sent, arrival in self.sent.pop(incident, []):
            self.busy[e] = False
            self.model.assignments.append(
                Assignment(self.name, e, incident, sent, arrival, max(t, arrival))
            )


@pytest.fixture
def brigade():
    register_fleet(FireBrigade)
    yield FireBrigade
    unregister_fleet(FireBrigade.name)


def fire_scenario(**extra) -> Scenario:
    raw = {
        "name": "fire",
        "horizon_hours": 2.0,
        "drain_hours": 4.0,
        "city": {"width": 30, "height": 10, "cell_size_m": 100.0, "population": 3000},
        "police": {"stations": 1, "grids": 1, "units": 1, "station_cells": [[0, 0]],
                   "patrol_when_idle": False},
        "fleets": {"fire_brigade": {"stations": [[29, 9]], "speed_m_s": 10.0, "turnout_s": 60}},
        "incidents": {"kinds": {"fire": {"share": 1, "fleets": {"fire_brigade": 1},
                                         "meu_teams": 0, "volunteers": False}}},
        "tiers": [
            {"name": "police", "target_s": 300, "responders": ["police"], "clock": "alert"},
            {"name": "professional", "target_s": 1200, "responders": ["fire_brigade"],
             "clock": "alert"},
        ],
    }  # fmt: skip
    return Scenario.model_validate(deep_merge(raw, extra))


def test_a_fire_brigade_from_outside_the_package_is_sent_timed_and_counted(brigade):
    sc = fire_scenario()
    rows = [  # two fires, the second while the only engine is still busy with the first
        {"occurred_s": 100.0, "x_m": 2950.0, "y_m": 950.0, "kind": "fire", "handling_s": 600.0},
        {"occurred_s": 200.0, "x_m": 50.0, "y_m": 50.0, "kind": "fire", "handling_s": 600.0},
    ]
    stream = IncidentStream.from_rows(("fire",), rows)
    model = ResponseModel(sc, seed=0, incidents=stream)
    model.run()
    df = model.incidents_table()
    # Fire 0: alerted at once (call delay 0), engine at the station's cell centre (2950, 950).
    assert df.loc[0, "first_fire_brigade_s"] == pytest.approx(100.0 + 60.0 + 0.0)
    assert df.loc[0, "fire_brigade_sent"] == 1 and df.loc[0, "fire_brigade_needed"] == 1
    # Fire 1 comes while the engine is out: nobody is sent, and the tier is not reached.
    assert math.isnan(df.loc[1, "first_fire_brigade_s"])
    assert df.loc[1, "fire_brigade_sent"] == 0
    summary = summarise(df.assign(replication=0), sc.tiers)
    row = summary.query("scope == 'all' and tier == 'professional' and own_clock "
                        "and metric == 'compliance'").iloc[0]  # fmt: skip
    assert row["mean"] == 0.5 and row["incidents"] == 2
    engines = [a for a in model.assignments if a.responder == "fire_brigade"]
    assert [(a.incident_id, a.arrived_s) for a in engines] == [(0, 160.0)]


def test_a_later_fire_gets_the_engine_back(brigade):
    sc = fire_scenario()
    rows = [
        {"occurred_s": 100.0, "x_m": 2950.0, "y_m": 950.0, "kind": "fire", "handling_s": 600.0},
        {"occurred_s": 5000.0, "x_m": 50.0, "y_m": 50.0, "kind": "fire", "handling_s": 600.0},
    ]
    model = ResponseModel(sc, seed=0, incidents=IncidentStream.from_rows(("fire",), rows))
    model.run()
    df = model.incidents_table()
    distance = (2950 - 50) + (950 - 50)
    assert df.loc[1, "first_fire_brigade_s"] == pytest.approx(5000 + 60 + distance / 10.0)


class QueuedBrigade(StationFleet):
    """FireBrigade's engines as a StationFleet: the same choice and times, and a fire no
    engine is free for waits for the first one released instead of getting nobody."""

    name = "fire_brigade"
    Config = FireBrigade.Config

    def unit_xy(self):
        cells = np.repeat(np.array(self.cfg.stations), self.cfg.engines_per_station, axis=0)
        return self.model.city.cell_centre(cells[:, 0], cells[:, 1])

    def distances(self, scene, units):
        return np.abs(self.xy[units] - scene).sum(axis=1)


def test_a_station_fleet_says_only_where_its_units_are_and_queues_the_calls():
    register_fleet(QueuedBrigade)
    try:
        rows = [  # as above: the second fire comes while the only engine is busy
            {"occurred_s": 100.0, "x_m": 2950.0, "y_m": 950.0, "kind": "fire", "handling_s": 600.0},
            {"occurred_s": 200.0, "x_m": 50.0, "y_m": 50.0, "kind": "fire", "handling_s": 600.0},
        ]
        model = ResponseModel(fire_scenario(), seed=0,
                              incidents=IncidentStream.from_rows(("fire",), rows))  # fmt: skip
        model.run()
    finally:
        unregister_fleet(QueuedBrigade.name)
    df = model.incidents_table()
    first, second = [a for a in model.assignments if a.responder == "fire_brigade"]
    assert (first.incident_id, first.arrived_s) == (0, 160.0)
    assert df.loc[0, "first_fire_brigade_s"] == 160.0
    # The second fire waited: the engine left for it when the first was cleared.
    assert second.incident_id == 1 and second.sent_s == first.released_s > 200.0
    distance = (2950 - 50) + (950 - 50)
    assert second.arrived_s == pytest.approx(second.sent_s + 60 + distance / 10.0)
    assert df.loc[1, "first_fire_brigade_s"] == second.arrived_s
    assert df.loc[1, "fire_brigade_sent"] == 1
    with pytest.raises(NotImplementedError, match="says where its units are"):
        type("NoPlaces", (StationFleet,), {"name": "x"})(model, None)


def test_a_fire_brigade_in_a_generated_run_and_its_tier_in_the_run_tables(brigade):
    from sim.experiment.runner import run_replications

    sc = fire_scenario(incidents={"rate_per_day": 200.0}, horizon_hours=12.0)
    tables = run_replications(sc, 1, 2)
    inc = tables.incidents
    assert {"first_fire_brigade_s", "fire_brigade_sent", "fire_brigade_needed"} <= set(inc)
    assert "professional" in set(tables.summary["tier"])
    reached = inc["first_fire_brigade_s"].notna()
    assert reached.any() and (inc.loc[reached, "first_fire_brigade_s"]
                              >= inc.loc[reached, "alerted_s"] + 60.0).all()  # fmt: skip
    assert isinstance(inc, pd.DataFrame)


def test_unregistered_fleet_and_bad_fleet_settings_are_clear_errors(brigade, tmp_path):
    with pytest.raises(ValueError, match=r"fleets\.fire_brigade\.speed_m_s"):
        fire_scenario(fleets={"fire_brigade": {"speed_m_s": -1}})
    unregister_fleet("fire_brigade")
    path = tmp_path / "s.yaml"
    path.write_text("name: t\ntiers: [{name: x, target_s: 60, responders: [fire_brigade]}]\n")
    from sim.geo.scenario import load_scenario

    with pytest.raises(ScenarioError, match=r"tiers\.0\.responders.*unknown responder"):
        load_scenario(path)


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "police"}, r"new identifier as its name .*got 'police'"),
    ({"name": "fire brigade"}, r"new identifier as its name .*got 'fire brigade'"),
    ({"Config": dict}, r"fleet 'fire_brigade' needs a pydantic Config class"),
    ({"clear": None}, r"fleet 'fire_brigade' needs the method clear"),
])  # fmt: skip
def test_register_fleet_refuses_a_class_the_model_cannot_use(change, message):
    broken = type("Broken", (FireBrigade,), change)
    with pytest.raises(ValueError, match=message):
        register_fleet(broken)
