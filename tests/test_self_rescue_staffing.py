"""Self-rescue that staffing moves (issue 24): the self tier's default scope counts every sudden
incident of a kind that allows self-rescue, so more staff on site raise its compliance.

Paired design, common random numbers: each replication runs the base and the doubled staffing
with the same seed, so the incidents are the same (checked); the effect is the mean of the
per-replication differences, and it must stand above zero by its own 95 % Student-t interval
(no tolerance chosen by hand)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sim.geo.scenario import load_scenario
from sim.model.tiers import counted, times_on_own_clock
from tests.conftest import SCENARIOS, run

REPLICATIONS = 20
SEED = 24


@pytest.fixture(scope="module")
def subdistrict():
    return load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml").with_changes(
        {"horizon_hours": 240.0, "warmup_hours": 0.0}
    )


def self_compliance(sc, replication):
    """(incidents the self tier counts, its compliance) in one replication."""
    (tier,) = [t for t in sc.tiers if t.name == "self"]
    _, df, _ = run(sc, seed=SEED, replication=replication)
    times = times_on_own_clock(df, tier)
    return df.loc[counted(df, tier), "incident_id"].to_numpy(), float(np.mean(times <= 60.0))


@pytest.mark.parametrize(
    "double",
    [("meus.count", "volunteers.count"), ("meus.on_duty_share",)],
    ids=["units-and-volunteers", "members-on-post"],
)
def test_doubling_staff_raises_self_tier_compliance_paired(subdistrict, double):
    raw = subdistrict.model_dump()
    more = subdistrict.with_changes({k: 2 * raw[k.split(".")[0]][k.split(".")[1]] for k in double})
    diffs = []
    for r in range(REPLICATIONS):
        ids, base = self_compliance(subdistrict, r)
        ids_more, doubled = self_compliance(more, r)
        assert np.array_equal(ids, ids_more) and ids.size > 20  # the same incidents counted
        diffs.append(doubled - base)
    d = np.array(diffs)
    half = stats.t.ppf(0.975, REPLICATIONS - 1) * d.std(ddof=1) / np.sqrt(REPLICATIONS)
    assert d.mean() - half > 0, (d.mean(), half)
