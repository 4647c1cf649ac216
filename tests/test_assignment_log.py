"""AssignmentLog: records appended by Python handlers and police blocks added as columns by
the compiled loop read back as one sequence, in the order they came, and give the same table
as the records would."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.model.frames import assignments_frame
from sim.model.records import Assignment, AssignmentLog

_times = st.floats(0, 1e7, allow_nan=False)
_record = st.builds(
    Assignment, st.sampled_from(["meu", "volunteer", "ambulance", "police"]),
    st.integers(0, 10**6), st.integers(0, 10**7), _times, _times, _times,
)  # fmt: skip
_block = st.lists(
    st.tuples(st.integers(0, 10**6), st.integers(0, 10**7), _times, _times, _times), max_size=6
)
#: a run's additions: a record appended, or a block of police rows from the compiled loop
_steps = st.lists(st.one_of(_record, _block), max_size=12)


def _fill(steps) -> tuple[AssignmentLog, list[Assignment]]:
    log, expected = AssignmentLog(), []
    for step in steps:
        if isinstance(step, Assignment):
            log.append(step)
            expected.append(step)
        else:
            cols = [np.array(c) for c in zip(*step, strict=True)] if step else [np.zeros(0)] * 5
            log.add_police(*cols)
            expected.extend(Assignment("police", *row) for row in step)
    return log, expected


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_the_log_reads_as_the_records_in_the_order_they_came(steps):
    log, expected = _fill(steps)
    assert len(log) == len(expected)
    assert list(log) == expected
    assert log == expected
    assert [log[k] for k in range(-len(log), len(log))] == expected + expected
    assert log[1:-1:2] == expected[1:-1:2]
    got = list(log)
    assert all(type(a) is Assignment for a in got)
    assert all(type(a.responder_id) is int and type(a.incident_id) is int for a in got)


@settings(max_examples=200, deadline=None)
@given(_steps)
def test_the_table_from_columns_is_the_table_from_records(steps):
    log, expected = _fill(steps)
    pd.testing.assert_frame_equal(assignments_frame(log), assignments_frame(expected))


def test_clear_empties_the_log_and_appends_go_on():
    log, _ = _fill([Assignment("meu", 1, 2, 0.0, 1.0, 2.0), [(3, 4, 5.0, 6.0, 7.0)]])
    log.clear()
    assert len(log) == 0 and list(log) == []
    log.append(Assignment("volunteer", 5, 6, 1.0, 2.0, 3.0))
    assert list(log) == [Assignment("volunteer", 5, 6, 1.0, 2.0, 3.0)]
    assert assignments_frame(AssignmentLog()).shape == (0, len(Assignment._fields))


def test_an_index_past_the_end_raises():
    log, _ = _fill([[(3, 4, 5.0, 6.0, 7.0)]])
    try:
        log[1]
    except IndexError:
        return
    raise AssertionError("log[1] of a one-row log did not raise")
