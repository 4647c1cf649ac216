"""Invariants of the records over random small scenarios (property-based, Hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import run, scenario

EPS = 1e-9


@st.composite
def small_scenarios(draw):
    kinds = {}
    for k in range(draw(st.integers(1, 3))):
        kinds[f"k{k}"] = {
            "share": draw(st.floats(0.1, 1.0)),
            "priority": draw(st.integers(0, 3)),
            "self_rescue": draw(st.booleans()),
            "volunteers": draw(st.booleans()),
            "meu_teams": draw(st.integers(0, 2)),
            "police_units": draw(st.integers(0, 2)),
            "call_probability": draw(st.floats(0.0, 1.0)),
        }
    river = draw(st.booleans())
    return scenario(
        horizon_hours=draw(st.floats(2.0, 36.0)),
        warmup_hours=0.0,
        drain_hours=draw(st.sampled_from([0.0, 1.0, 12.0])),
        city={
            "width": draw(st.integers(4, 25)),
            "height": draw(st.integers(4, 25)),
            "camera_share": draw(st.floats(0.0, 1.0)),
            # Every bank reachable here; an isolated bank has its own test in test_events.py.
            "rivers": [{"bridges": draw(st.integers(1, 3)), "width_cells": 1}] if river else [],
        },
        police={
            "units": draw(st.integers(0, 6)),
            "car_share": draw(st.floats(0.0, 1.0)),
            "patrol_when_idle": draw(st.booleans()),
        },
        volunteers={
            "count": draw(st.integers(0, 400)),
            "on_duty_share": draw(st.floats(0.0, 1.0, exclude_min=True)),  # 0: refused
            "max_responders": draw(st.integers(0, 4)),
            "witness_radius_m": draw(st.sampled_from([0.0, 30.0, 200.0])),
        },
        meus={"count": draw(st.integers(0, 12)), "team_size": draw(st.integers(1, 3))},
        incidents={"rate_per_day": draw(st.floats(5.0, 300.0)), "kinds": kinds},
    )


def check_time_order(df: pd.DataFrame) -> None:
    def after(later: str, earlier: str):
        both = df[later].notna() & df[earlier].notna()
        bad = df.loc[both & (df[later] < df[earlier] - EPS), ["incident_id", earlier, later]]
        assert bad.empty, f"{later} before {earlier}:\n{bad}"

    after("alerted_s", "occurred_s")
    after("self_rescue_s", "occurred_s")
    for col in ("first_meu_s", "first_volunteer_s", "police_call_s"):
        after(col, "alerted_s")
        assert not (df[col].notna() & df["alerted_s"].isna()).any(), f"{col} without an alert"
    after("first_police_s", "police_call_s")
    after("last_police_s", "first_police_s")
    after("cleared_s", "first_help_s")
    after("cleared_s", "last_police_s")
    first = df[["self_rescue_s", "first_meu_s", "first_volunteer_s", "first_police_s"]].min(axis=1)
    assert np.allclose(first, df["first_help_s"], equal_nan=True)
    assert (df["police_wait_s"].dropna() >= 0).all()


def check_no_double_booking(asg: pd.DataFrame) -> None:
    """Police units and volunteers hold one incident at a time: intervals never overlap."""
    for kind in ("police", "volunteer"):
        for _, g in asg[asg["responder"] == kind].groupby("responder_id"):
            g = g.sort_values("sent_s")
            assert (g["sent_s"].to_numpy()[1:] >= g["released_s"].to_numpy()[:-1] - EPS).all()
            assert (g["arrived_s"] >= g["sent_s"] - EPS).all()
            assert (g["released_s"] >= g["arrived_s"] - EPS).all()


def check_meu_capacity(model, asg: pd.DataFrame) -> None:
    """An MEU sends a team only from members on post that day and not out with a team: when
    a team leaves, the members out (it included) are at most the day's members on post."""
    teams = asg[asg["responder"] == "meu"]
    size = model.config.meus.team_size
    for unit, g in teams.groupby("responder_id"):
        edges = sorted([(s, 1) for s in g["sent_s"]] + [(r, -1) for r in g["released_s"]],
                       key=lambda e: (e[0], e[1]))  # fmt: skip
        out = np.cumsum([d for _, d in edges]) * size
        for (t, step), members_out in zip(edges, out, strict=True):
            if step == 1:
                assert members_out <= model.meus.on_post(int(t // 86400))[unit]


def check_queue_only_when_all_busy(model, df: pd.DataFrame, asg: pd.DataFrame) -> int:
    """A call that waited found no free unit: every unit was committed when it was placed.

    Returns how many calls waited (so the caller can see the check was exercised).
    """
    police = asg[asg["responder"] == "police"]
    still_out = model.police.committed()  # units committed when the run ended: unit -> sent_s
    waited = df[df["police_wait_s"] > 0]
    for row in waited.itertuples():
        t = row.police_call_s
        busy = set(police.loc[(police["sent_s"] <= t) & (police["released_s"] > t), "responder_id"])
        busy |= {u for u, sent in still_out.items() if sent <= t}
        assert len(busy) == len(model.police), f"incident {row.incident_id} queued with a free unit"
    return len(waited)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=small_scenarios(), seed=st.integers(0, 2**31))
def test_record_invariants(sc, seed):
    model, df, asg = run(sc, seed=seed)
    assert len(df) == len(model.incidents)  # conservation: none lost, none invented
    assert df["incident_id"].tolist() == list(range(len(df)))
    assert ((df["status"] == "open") == df["cleared_s"].isna()).all()
    check_time_order(df)
    check_no_double_booking(asg)
    check_meu_capacity(model, asg)
    event("a call waited" if check_queue_only_when_all_busy(model, df, asg) else "no wait")
    # Nothing waits for police while a unit sits idle at the end of the run.
    if model.police.available().size:
        assert all(model.ledger.police_pending[i] > 0 for i in model.waiting_calls())
