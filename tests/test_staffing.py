"""Common random numbers across staffing levels, and monotone effects of more responders."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sim.analysis.metrics import tier_times
from sim.geo.scenario import load_scenario
from tests.conftest import SCENARIOS, run

STREAM_COLUMNS = ["incident_id", "occurred_s", "kind", "x_m", "y_m", "land_use", "hour"]


@pytest.fixture(scope="module")
def subdistrict():
    return load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml").with_changes(
        {"horizon_hours": 72.0, "warmup_hours": 0.0}
    )


@pytest.mark.parametrize(
    "change",
    [
        {"volunteers.count": 500},
        {"meus.count": 0},
        {"police.units": 25},
        {"volunteers.acceptance": 0.9, "meus.team_size": 2},
    ],
    ids=["volunteers", "meus", "police", "behaviour"],
)
def test_staffing_changes_leave_the_incident_stream_unchanged(subdistrict, change):
    _, base, _ = run(subdistrict, seed=11)
    _, other, _ = run(subdistrict.with_changes(change), seed=11)
    assert base[STREAM_COLUMNS].equals(other[STREAM_COLUMNS])
    # ...but the responses do change: the comparison is not vacuous.
    assert not base["first_help_s"].equals(other["first_help_s"])


def test_replications_see_different_incidents(subdistrict):
    _, r0, _ = run(subdistrict, seed=11, replication=0)
    _, r1, _ = run(subdistrict, seed=11, replication=1)
    assert not r0["occurred_s"].equals(r1["occurred_s"])


def median_time(df, tier: str) -> float:
    t = tier_times(df)
    return float(np.quantile(t.loc[t["tier"] == tier, "time_s"], 0.5, method="inverted_cdf"))


@pytest.mark.parametrize(
    ("key", "levels", "tier"),
    [
        ("volunteers.count", [0, 1000, 4000, 16000], "mutual"),
        ("meus.count", [0, 40, 135, 400, 1600], "mutual"),
        ("police.units", [3, 6, 10, 20], "police"),
    ],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_more_responders_never_make_the_median_slower(subdistrict, key, levels, tier, seed):
    medians = [median_time(run(subdistrict.with_changes({key: n}), seed=seed)[1], tier)
               for n in levels]  # fmt: skip
    assert all(b <= a for a, b in itertools.pairwise(medians)), medians
    assert medians[-1] < medians[0]  # and the lever matters at all
