"""Reductions of the model to textbook cases, checked against their formulas.

The cases and the way tolerances are derived are in tests/validation/cases.py; the same
numbers are tabulated in docs/validation.md.
"""

from __future__ import annotations

import pytest

from tests.validation import cases

pytestmark = pytest.mark.slow


def assert_all(checks):
    for check in checks:
        assert check.passed, check


@pytest.mark.parametrize(("units", "rho"), cases.ERLANG_LOADS)
def test_police_queue_matches_erlang_c(units, rho):
    assert_all(cases.erlang_case(units, rho))


def test_mean_busy_units_equal_offered_load():
    assert_all(cases.busy_units_case())


def test_unlimited_responders_never_wait():
    assert_all(cases.unlimited_case())


def test_one_unit_uniform_incidents_mean_manhattan_distance():
    assert_all(cases.manhattan_case())


def test_nearest_volunteer_distance_follows_the_binomial_point_process_law():
    assert_all(cases.nearest_volunteer_case())


def test_a_wrong_formula_would_fail():
    """The checks are sharp enough to reject a plausible mistake: M/M/1 mean wait at load
    50 % is 600 s; a model off by 20 % (720 s) falls outside the interval."""
    check = cases.erlang_case(1, 0.5)[1]
    wrong = cases.Check(
        check.case, check.formula, check.expected * 1.2, check.simulated, check.half_width
    )
    assert check.passed and not wrong.passed
