"""Every shipped scenario runs end to end for a short horizon, and the city is what it says."""

from __future__ import annotations

import numpy as np
import pytest

from sim.analysis.metrics import summarise
from sim.geo.scenario import load_scenario
from sim.model.frames import incidents_frame
from sim.model.response import ResponseModel
from tests.conftest import SCENARIOS

SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_runs_a_short_horizon(path):
    sc = load_scenario(path)
    # A replay is a log of its own length: cutting the horizon would put rows past it.
    horizon = sc.horizon_hours if sc.incidents.replay is not None else 8.0
    sc = sc.with_changes({"horizon_hours": horizon, "warmup_hours": 0.5,
                          "drain_hours": 1.0})  # fmt: skip
    model = ResponseModel(sc, seed=0)
    df = incidents_frame(model.run())
    assert len(df) > 0
    assert model.city.population.sum() == pytest.approx(sc.city.population, rel=1e-9)
    assert len(model.volunteers) == sc.volunteers.count
    assert len(model.meus) == sc.meus.count and len(model.police) == sc.police.units
    summary = summarise(df.assign(replication=0))
    assert set(summary["tier"]) >= {"mutual", "police", "joint"}


def test_full_city_matches_the_2023_figures():
    sc = load_scenario(SCENARIOS / "guangzhou-2023.yaml")
    assert sc.volunteers.count == 670_000
    assert sc.meus.count == 23_000
    assert sc.meus.members_per_unit * sc.meus.count == pytest.approx(290_000, rel=0.01)
    assert sc.police.grids == 1_700
    assert sc.city.population == 22_000_000
    assert 7000 < sc.city.width * sc.city.height * (sc.city.cell_size_m / 1000) ** 2 < 7600


def test_members_per_unit_is_met_on_average():
    sc = load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml").with_changes(
        {"meus.count": 4000}
    )
    model = ResponseModel(sc, seed=4)
    assert model.meus.members.mean() == pytest.approx(12.6, abs=0.03)
    assert set(np.unique(model.meus.members)) == {12, 13}


def test_parameter_table_in_docs_is_current():
    from tools.paramdoc import DOC, render

    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "run: python -m tools.paramdoc --write"


@pytest.mark.slow
def test_every_parameter_a_scenario_sets_has_a_source():
    from tools.calibration import unsourced

    assert unsourced() == []


@pytest.mark.slow
def test_calibration_document_is_current():
    from tools.calibration import DOC, document

    assert DOC.read_text(encoding="utf-8") == document(), "run: python -m tools.calibration --write"
