"""Calibration on published figures: volunteer behaviour in its published ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.geo.scenario import load_scenario
from sim.model.config import Scenario
from tools.calibration import DENSE_PER_KM2, VOLUNTEER_RANGES, out_of_range, volunteer_values

SCENARIOS = sorted((Path(__file__).resolve().parents[1] / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_preset_s_volunteers_lie_in_the_published_ranges(path):
    sc = load_scenario(path)
    assert out_of_range(sc) == [], path.name


def test_the_model_defaults_lie_in_the_published_ranges():
    assert out_of_range(Scenario(name="defaults")) == []


def test_a_value_outside_a_range_is_named_with_the_range():
    sc = Scenario(name="x", volunteers={"acceptance": 0.5})
    (msg,) = out_of_range(sc)
    assert msg.startswith("volunteers.acceptance = 0.5 outside [0.17, 0.47]")
    assert set(volunteer_values(sc)) == set(VOLUNTEER_RANGES)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_dense_presets_use_the_dense_area_speed(path):
    """Resuscitation 2020: lay responders move at 1.8 m/s where density exceeds 8,000/km2."""
    sc = load_scenario(path)
    area_km2 = sc.city.width * sc.city.height * sc.city.cell_size_m**2 / 1e6
    low, high, _ = VOLUNTEER_RANGES["travel.volunteer_m_s"]
    dense = sc.city.population / area_km2 > DENSE_PER_KM2
    assert sc.travel.volunteer_m_s == (low if dense else high), path.name
