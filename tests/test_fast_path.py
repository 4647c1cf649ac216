"""Police-only runs (no MEUs, volunteers or plug-in fleets): the compiled loop gives the
Python loop's tables, and the Python loop gives the same events however it is advanced
(runs with every responder: tests/test_police_kernel.py).

There is one Python loop (ResponseModel._advance with the model's handlers), the reference;
the compiled loop (sim.model.police_kernel, the fast extra) runs the rules of
sim.model.spatial and sim.model.lifecycle compiled. Every case here runs both ways and the
tables (hashed as tests/test_identical_outputs.py hashes them) must be equal.
"""

from __future__ import annotations

import pytest

from sim.model import police_kernel
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


needs_numba = pytest.mark.skipif(
    not police_kernel.available(), reason="numba (the fast extra) is absent"
)


@needs_numba
@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_loop_gives_the_python_loops_tables(monkeypatch, name):
    sc = CASES[name]()
    assert ResponseModel(sc, seed=3).police_only()
    out = []
    for kernel in (True, False):
        monkeypatch.setattr(ResponseModel, "KERNEL", kernel)
        out.append(table_digests(sc, seed=3))
    assert out[0] == out[1]


@pytest.mark.parametrize("name", ["mmc-rho-1.1", "divided-few", "probes-cameras"])
def test_the_python_loop_gives_the_same_trace_in_steps(monkeypatch, name):
    """Advancing in uneven steps (the bound at until_s) and tracing: the events of one
    advance to the end."""
    sc = CASES[name]()
    monkeypatch.setattr(ResponseModel, "KERNEL", False)

    def trace(step):
        model = ResponseModel(sc, seed=5, trace=True)
        t = 0.0
        while not model.finished:
            t += step
            model.advance_to(t)
        assert model.trace is not None
        return model.trace, repr(model.records())  # repr: NaN equals NaN

    stepped, whole = trace(1234.5), trace(1e12)
    assert len(stepped[0]) > 100
    assert stepped == whole


def test_runs_with_volunteers_and_meus_take_the_compiled_loop_and_the_model_says_why(
    monkeypatch,
):
    """Volunteers and MEU teams no longer keep a run in Python (their events go to their
    Python handlers from inside the compiled loop); a police roster does, and says so."""
    with_volunteers = scenario(
        volunteers={"count": 200, "on_duty_share": 0.5},
        incidents={"kinds": {"fight": {"share": 1.0, "volunteers": True, "police_units": 1}}},
    )
    with_meus = scenario(
        meus={"count": 1, "members_per_unit": 10.0, "on_duty_share": 0.5, "team_size": 3},
    )
    with_roster = scenario(police={"units": 4, "on_duty_share": [0.5] * 12 + [1.0] * 12})
    called: list[tuple] = []
    monkeypatch.setattr(ResponseModel, "KERNEL", True)
    monkeypatch.setattr(police_kernel, "advance", lambda *a: called.append(a))
    monkeypatch.setattr(police_kernel, "why_not", lambda model: None)
    for sc in (with_volunteers, with_meus):
        model = ResponseModel(sc, seed=0)
        assert not model.police_only()
        model.advance_to(3600.0)
        assert called and model.kernel_calls == 1 and model.why_not_compiled is None
        called.clear()
    model = ResponseModel(with_roster, seed=0)
    model.advance_to(3600.0)
    assert not called and model.kernel_calls == 0
    assert "roster" in (model.why_not_compiled or "")
    model = ResponseModel(scenario(), seed=0)
    model.advance_to(3600.0)
    assert len(called) == 1 and model.kernel_calls == 1 and model.why_not_compiled is None
    monkeypatch.setattr(ResponseModel, "KERNEL", False)
    model.advance_to(7200.0)
    assert (
        len(called) == 1 and model.why_not_compiled == "turned off (ResponseModel.KERNEL = False)"
    )
