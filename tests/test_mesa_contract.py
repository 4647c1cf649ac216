"""What jiefang relies on in Mesa, pinned: if a Mesa release changes it, these fail first.

The model keeps its own event heap in continuous seconds (Mesa's schedule would tick every
second), so it stops Mesa's default schedule and unshadows its own ``step``; police units
and MEUs are Mesa agents that viewers read through ``model.agents_by_type``.
"""

from __future__ import annotations

import mesa
import numpy as np

from sim.model.responders.meus import EmergencyUnit
from sim.model.responders.police import PoliceUnit
from sim.model.response import ResponseModel
from sim.model.vocab import UnitState
from tests.conftest import scenario


def test_model_time_moves_only_by_the_models_own_events_and_steps():
    model = ResponseModel(scenario(), seed=1)
    assert isinstance(model, mesa.Model)
    assert model.time == 0 and model.steps == 0
    assert hasattr(model, "_default_schedule")  # the internal the model stops
    model.step()  # one simulated minute, then the data collector
    assert model.time == 60.0 and model.steps == 1
    assert type(model).step is ResponseModel.step  # ours, not Mesa's wrapper
    model.run_for(600.0)
    assert model.time == 660.0


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
