"""The police-only loop (``ResponseModel._advance_police``) gives what the general loop gives.

Police-only runs (no MEUs, volunteers or plug-in fleets) take the fast loop unless
``ResponseModel.FAST_PATH`` is False; here every case runs both ways and the tables (hashed
as tests/test_identical_outputs.py hashes them), the trace and the ledger must be equal.
"""

from __future__ import annotations

import pytest

from sim.model.response import ResponseModel
from tests.conftest import scenario
from tests.test_identical_dispatch import _divided_city, _mmc
from tests.test_identical_outputs import table_digests

FIXED = lambda s: {"dist": "fixed", "value": s}  # noqa: E731

CASES = {
    "mmc-rho-0.8": lambda: _mmc(0.8, 4000),
    "mmc-rho-1.1": lambda: _mmc(1.1, 4000),
    "divided-few": lambda: _divided_city(8, True),
    "divided-few-own-grid": lambda: _divided_city(8, False, dispatch="own_grid_first"),
    "divided-many-patrol-busy": lambda: _divided_city(60, True),
    "divided-many-move-up": lambda: _divided_city(40, True, move_up="uncovered_longest"),
    # Probes, cameras, unreported incidents and kinds that need no police.
    "probes-cameras": lambda: scenario(
        horizon_hours=48.0,
        police={"units": 3},
        incidents={
            "rate_per_day": 60.0,
            "probes_per_day": 6.0,
            "camera_delay": FIXED(30.0),
            "kinds": {
                "fight": {
                    "share": 2.0,
                    "sudden": True,
                    "self_rescue": False,
                    "volunteers": False,
                    "meu_teams": 0,
                    "police_units": 1,
                    "call_probability": 0.7,
                },
                "noise": {
                    "share": 1.0,
                    "self_rescue": False,
                    "volunteers": False,
                    "meu_teams": 0,
                    "police_units": 0,
                    "call_probability": 0.5,
                },
                "crash": {
                    "share": 1.0,
                    "sudden": True,
                    "priority": 0,
                    "self_rescue": False,
                    "volunteers": False,
                    "meu_teams": 0,
                    "police_units": 2,
                },
            },
        },
    ),
}


def _both(monkeypatch, make, **run):
    # The Python police loop here; the compiled one is compared with it in
    # tests/test_police_kernel.py.
    monkeypatch.setattr(ResponseModel, "KERNEL", False)
    out = []
    for fast in (True, False):
        monkeypatch.setattr(ResponseModel, "FAST_PATH", fast)
        out.append(make(**run))
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_loop_gives_the_general_loops_tables(monkeypatch, name):
    sc = CASES[name]()
    assert ResponseModel(sc, seed=3).police_only()
    fast, general = _both(monkeypatch, table_digests, sc=sc, seed=3)
    assert fast == general


@pytest.mark.parametrize("name", ["mmc-rho-1.1", "divided-few", "probes-cameras"])
def test_fast_loop_gives_the_same_trace_in_steps(monkeypatch, name):
    """Advancing in uneven steps (the bound at until_s) and tracing: the same events."""
    sc = CASES[name]()

    def trace(sc):
        model = ResponseModel(sc, seed=5, trace=True)
        t = 0.0
        while not model.finished:
            t += 1234.5
            model.advance_to(t)
        assert model.trace is not None
        return model.trace, repr(model.records())  # repr: NaN equals NaN

    fast, general = _both(monkeypatch, trace, sc=sc)
    assert fast == general


def test_runs_with_other_responders_take_the_general_loop(monkeypatch):
    with_volunteers = scenario(
        volunteers={"count": 200, "on_duty_share": 0.5},
        incidents={"kinds": {"fight": {"share": 1.0, "volunteers": True, "police_units": 1}}},
    )
    with_meus = scenario(
        meus={"count": 1, "members_per_unit": 10.0, "on_duty_share": 0.5, "team_size": 3},
    )
    called: list[tuple] = []
    monkeypatch.setattr(ResponseModel, "KERNEL", False)
    monkeypatch.setattr(ResponseModel, "_advance_police", lambda *a: called.append(a))
    for sc in (with_volunteers, with_meus):
        model = ResponseModel(sc, seed=0)
        assert not model.police_only()
        model.advance_to(3600.0)
        assert not called
    model = ResponseModel(scenario(), seed=0)
    assert model.police_only()
    model.advance_to(3600.0)
    assert called
