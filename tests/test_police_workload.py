"""Police workload against published figures: the city preset commits its units on duty about
a third of their time to routine 110 work (ICMA/CPSM's review of 62 agencies: less than
one-third in the average department; California POST: about one-third handling calls), and
no call waits there; the peak preset goes past the Rule of 60's ceiling (60 %, CPSM) and its
evening calls queue for a unit."""

from __future__ import annotations

import numpy as np
import pytest

from sim.geo.scenario import load_scenario
from sim.model.frames import assignments_frame, incidents_frame
from sim.model.response import ResponseModel
from tests.conftest import SCENARIOS

PUBLISHED_COMMITTED = 1 / 3  # ICMA/CPSM (McCabe, 62 agencies); California POST
RULE_OF_60 = 0.60  # CPSM's saturation ceiling (Morgan Hill report)


def workload(name: str, reps: int = 2) -> tuple[list[float], list[float], list[np.ndarray]]:
    """Per replication (one day after the warm-up): the share of on-duty unit time committed
    to incidents, the share of dispatched calls that waited, and the hours of those calls."""
    sc = load_scenario(SCENARIOS / name)
    sc = sc.with_changes({"horizon_hours": sc.warmup_hours + 24.0})
    start, end = sc.warmup_hours * 3600.0, sc.horizon_hours * 3600.0
    committed, waited, hours = [], [], []
    for r in range(reps):
        model = ResponseModel(sc, seed=0, replication=r)
        df = incidents_frame(model.run())
        asg = assignments_frame(model.assignments)
        police = asg[asg["responder"] == "police"]
        busy = (np.minimum(police["released_s"], end) - np.maximum(police["sent_s"], start)).clip(
            lower=0
        )
        committed.append(float(busy.sum() / (len(model.police) * (end - start))))
        sent = df[~df["in_warmup"] & df["police_dispatched_s"].notna()]
        late = sent[sent["police_wait_s"] > 0]
        waited.append(float(len(late) / len(sent)))
        hours.append(((late["police_call_s"].to_numpy() / 3600.0) % 24).astype(int))
    return committed, waited, hours


@pytest.mark.slow
def test_the_city_commits_its_units_a_third_of_their_time_and_no_call_waits():
    committed, waited, _ = workload("guangzhou-2023.yaml")
    for share in committed:
        assert abs(share - PUBLISHED_COMMITTED) < 0.04, committed
    assert waited == [0.0, 0.0]


@pytest.mark.slow
def test_the_peak_day_goes_past_the_rule_of_60_and_evening_calls_queue():
    committed, waited, hours = workload("guangzhou-2023-peak.yaml")
    assert min(committed) > RULE_OF_60, committed
    assert min(waited) > 0.02, waited
    late = np.concatenate(hours)
    # the queue builds at the evening peak (demand 1.4-1.5x the mean from 17:00 to 22:00)
    assert np.mean((late >= 17) | (late < 2)) > 0.8, np.bincount(late, minlength=24)
