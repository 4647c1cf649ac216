"""What jiefang relies on in Mesa, pinned: if a Mesa release changes it, these fail first.

The model's clock is its own event heap in continuous seconds, moved through Mesa's names and
contracts (``run_for``, ``run_until``, ``step``, ``run_model``, ``schedule_event``,
``schedule_recurring``; the events: tests/test_plugins.py), a thin adapter that touches no
private part of Mesa; ``mesa.DataCollector`` and ``mesa.batch_run`` work on it. Police units
and MEUs are Mesa agents that viewers and data collectors read through
``model.agents_by_type``.
"""

from __future__ import annotations

import ast
import inspect
import math
import multiprocessing
import warnings

import mesa
import numpy as np
import pandas as pd
import pytest

from sim.model import recurring, response
from sim.model.responders.meu_agent import EmergencyUnit
from sim.model.responders.police import PoliceUnit
from sim.model.response import ResponseModel
from sim.model.vocab import UnitState
from tests.conftest import scenario


def test_model_time_moves_through_mesas_time_api_on_its_own_clock():
    model = ResponseModel(scenario(), seed=1)
    assert isinstance(model, mesa.Model)
    assert model.time == 0 and model.steps == 0
    assert model.step.__func__ is ResponseModel.step  # ours, not Model.__init__'s wrapper
    model.run_for(600.0)
    # Mesa's own schedule ticks every time unit: run through Mesa, 600 s were 600 steps.
    assert model.time == 600.0 and model.steps == 0
    model.step()  # one simulated minute, then the data collector
    assert model.time == 660.0 and model.steps == 1
    assert model.datacollector.get_model_vars_dataframe()["time_s"].tolist() == [660.0]
    model.run_until(3600.0)
    assert model.time == 3600.0
    model.run_until(100.0)  # a time already passed: nothing moves
    assert model.time == 3600.0 and model.steps == 1


def test_run_model_steps_by_the_minute_until_the_run_ends():
    model = ResponseModel(scenario(horizon_hours=2.0, drain_hours=1.0), seed=3)
    model.run_model()  # Mesa's loop: step while running
    assert model.finished and not model.running
    # It stops at the minute its last event is done (or at the run's end), each step a minute.
    assert model.time <= model.end_s and model.steps == model.time / 60.0
    assert model.live_counts() == {"incidents": len(model.incidents), "open": 0}
    last = float(np.max(model.ledger.cleared_s))
    assert model.time - 60.0 < last <= model.time and len(model.incidents) > 0


def test_the_model_reads_no_private_part_of_mesa():
    """Mesa's private attributes (``model._default_schedule``, ``_event_list``, ...) may
    change in any release: the model's source names none of a Model's (nor of a
    DataCollector's), so it neither reads nor overwrites one."""
    names = {*vars(mesa.Model), *vars(mesa.Model(rng=0)), "_collection_steps"}
    private = {n for n in names if n.startswith("_") and not n.startswith("__")}
    trees = [ast.parse(inspect.getsource(m)) for m in (response, recurring)]
    used = {n.attr for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert used & private == set()
    assert {"_advance_time", "_default_schedule", "_event_list", "_seed"} <= private


def test_a_seed_of_none_draws_one_the_model_keeps():
    first, second = ResponseModel(scenario(), seed=None), ResponseModel(scenario(), seed=None)
    assert isinstance(first.seed, int) and first.seed >= 0 and first.seed != second.seed
    again = ResponseModel(scenario(), seed=first.seed)
    np.testing.assert_array_equal(again.incidents.occurred_s, first.incidents.occurred_s)
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        ResponseModel(scenario(), seed=-1)


def test_a_data_collector_with_model_and_agent_reporters_sees_the_ledger():
    sc = scenario(police={"units": 3}, incidents={"rate_per_day": 300.0})
    model = ResponseModel(sc, seed=4)
    collector = mesa.DataCollector(
        model_reporters={
            "incidents": lambda m: m.live_counts()["incidents"],
            "cleared": lambda m: int(np.count_nonzero(~np.isnan(m.ledger.cleared_s))),
        },
        agenttype_reporters={PoliceUnit: {"incident": "incident", "state": lambda a: a.state}},
    )
    for _ in range(12 * 6):  # every 10 minutes for 12 hours
        model.run_for(600.0)
        collector.collect(model)
    per_step = collector.get_model_vars_dataframe()
    times = 600.0 * np.arange(1, 73)
    assert per_step["incidents"].tolist() == np.searchsorted(
        model.incidents.occurred_s, times, side="right").tolist()  # fmt: skip
    assert per_step["cleared"].is_monotonic_increasing and per_step["cleared"].iloc[-1] > 50
    units = collector.get_agenttype_vars_dataframe(PoliceUnit).reset_index()
    assert units["Step"].unique().tolist() == times.tolist()  # Mesa keys rows by model.time
    busy = units[units["incident"] >= 0]
    assert len(busy) > 20 and (busy["state"] != UnitState.AVAILABLE).all()
    # Each unit seen at an incident was sent there before and left after (the ledger's
    # assignments), and was never seen at an incident it was not sent to.
    model.run()
    trips = pd.DataFrame(model.assignments)
    trips = trips[trips["responder"] == "police"]
    index = {a.unique_id: a.index for a in model.agents_by_type[PoliceUnit]}
    for row in busy.itertuples():
        unit, t = index[row.AgentID], row.Step
        there = trips[(trips["responder_id"] == unit) & (trips["incident_id"] == row.incident)]
        assert ((there["sent_s"] <= t) & (t <= there["released_s"])).any(), row


@pytest.fixture
def start_method_kept():
    """mesa.batch_run sets multiprocessing's start method for the whole process: put it back."""
    before = multiprocessing.get_start_method(allow_none=True)
    yield
    multiprocessing.set_start_method(before, force=True)


@pytest.mark.usefixtures("start_method_kept")
def test_mesa_batch_run_runs_the_model_and_each_row_repeats():
    sc = scenario(incidents={"rate_per_day": 200.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Mesa prefers rng=[...] now
        rows = mesa.batch_run(ResponseModel, parameters={"scenario": [sc], "replication": [0, 1]},
                              iterations=2, max_steps=90, display_progress=False)  # fmt: skip
    assert len(rows) == 4
    assert sorted((r["iteration"], r["replication"]) for r in rows) == [
        (0, 0), (0, 1), (1, 0), (1, 1)]  # fmt: skip
    assert len({r["seed"] for r in rows}) == 4  # a seed drawn per run, in the row
    for row in rows:
        assert row["Step"] == row["time_s"] == 90 * 60.0
        again = ResponseModel(sc, seed=row["seed"], replication=row["replication"])
        for _ in range(90):
            again.step()
        counts = again.live_counts()
        assert (row["incidents"], row["open"]) == (counts["incidents"], counts["open"])
        assert row["incidents"] > 0
        tiers = [c for c in row if c.endswith(" min")]
        assert tiers and all(math.isnan(row[c]) or 0 <= row[c] <= 1 for c in tiers)
    seeded = mesa.batch_run(ResponseModel, parameters={"scenario": [sc]}, rng=[5, 5],
                            max_steps=30, display_progress=False)  # fmt: skip
    assert [r["seed"] for r in seeded] == [5, 5] and seeded[0] == {**seeded[1], "RunId": 0,
                                                                 "iteration": 0}  # fmt: skip


def test_police_units_are_mesa_agents_that_show_the_fleet():
    sc = scenario(police={"units": 3}, incidents={"rate_per_day": 400.0})
    model = ResponseModel(sc, seed=2)
    units = list(model.agents_by_type[PoliceUnit])
    assert sorted(u.index for u in units) == [0, 1, 2]
    seen_committed = seen_free = 0
    for _ in range(48):  # every 5 minutes for 4 hours: units both busy and free are seen
        model.run_for(300.0)
        for u in units:
            assert u.state is list(UnitState)[int(model.police.state[u.index])]
            if u.incident >= 0:
                assert u.state is not UnitState.AVAILABLE
                assert np.allclose(u.position, model.incidents.xy[u.incident])
                seen_committed += 1
            else:
                assert u.state is UnitState.AVAILABLE
                assert np.allclose(u.position, model.police.spots_at(model.time)[0][u.index])
                seen_free += 1
    assert seen_committed > 0 and seen_free > 0, (seen_committed, seen_free)


def test_meus_are_mesa_agents():
    model = ResponseModel(scenario(meus={"count": 4, "team_size": 1}), seed=0)
    assert len(model.agents_by_type[EmergencyUnit]) == 4
