"""The plain-Python dispatch for small fleets gives exactly the vectorised path's results."""

from __future__ import annotations

import pytest

from sim.geo.scenario import load_scenario
from sim.model.frames import assignments_frame, incidents_frame
from sim.model.response import ResponseModel
from tests.conftest import SCENARIOS


@pytest.mark.parametrize(
    ("name", "changes"),
    [
        ("guangzhou-2023-subdistrict", {"horizon_hours": 24.0 * 30}),
        # Few units: calls queue and units are often sent while driving back across water.
        ("guangzhou-2023-subdistrict", {"horizon_hours": 24.0 * 30, "police.units": 3}),
        ("chigang", {"horizon_hours": 24.0 * 14}),
        ("baota", {"horizon_hours": 24.0 * 14}),
    ],
)
@pytest.mark.slow
def test_small_fleet_path_equals_vectorised_path(name, changes):
    sc = load_scenario(SCENARIOS / f"{name}.yaml").with_changes(changes)
    frames = []
    for small_fleet in (24, 0):  # 0: always the vectorised path
        model = ResponseModel(sc, seed=5)
        model.police.small_fleet = small_fleet
        model.run()
        frames.append((incidents_frame(model.records()), assignments_frame(model.assignments)))
    (inc_a, asg_a), (inc_b, asg_b) = frames
    assert inc_a.equals(inc_b)
    assert asg_a.equals(asg_b)
    if changes.get("police.units") == 3:
        assert inc_a["police_wait_s"].gt(0).sum() > 50  # the queue was exercised
