"""MEU opening hours are one rule (:func:`sim.model.responders.meus.open_at`, issue 22): the
fleet's vectorised ``open_mask``, its per-unit check of self-rescue (``at_cell``), the MEU
team dispatch and planning's ``open_by_slot`` all call it, on floats or on arrays alike."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.responders.meus import open_at

HOURS = np.concatenate([np.arange(0.0, 24.0, 0.25), [0.0, 2.25, 5.0, 6.0, 9.0, 18.5, 23.999]])
SPANS = [(0, 24), (9, 22), (22, 6), (5, 5), (18.5, 2.25), (0, 0), (24, 0), (7, 18)]


def written_out(hour: float, start: float, end: float) -> bool:
    """The rule as each copy wrote it before: [start, end), wrapping midnight if end < start."""
    return (start <= hour < end) if start <= end else (hour >= start or hour < end)


@pytest.mark.parametrize(("start", "end"), SPANS)
def test_floats_and_arrays_give_the_rule_as_written(start, end):
    expected = [written_out(float(h), start, end) for h in HOURS]
    assert [open_at(float(h), float(start), float(end)) for h in HOURS] == expected
    assert all(type(open_at(float(h), float(start), float(end))) is bool for h in HOURS)
    vector = open_at(HOURS, np.full(HOURS.size, start, float), np.full(HOURS.size, end, float))
    assert vector.dtype == bool and vector.tolist() == expected
    assert open_at(HOURS, start, end).tolist() == expected  # one span, many hours (planning)
