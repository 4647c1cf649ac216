"""The records of :mod:`sim.model.records` as DataFrames with a fixed schema.

Apart from the records so that what only names or builds records (the fleets, the planning
tools) does not load pandas (a fifth of a second of CPU at every start).
"""

from __future__ import annotations

from typing import get_type_hints

import pandas as pd

from sim.model.records import Assignment, IncidentRecord, ReadinessLog, ReadinessTest

_DTYPES = {int: "int64", float: "float64", bool: "bool", str: "object"}


def _schema(record_type) -> dict[str, str]:
    return {name: _DTYPES[t] for name, t in get_type_hints(record_type).items()}


def _frame(records, record_type) -> pd.DataFrame:
    """Records become a DataFrame at once, with a fixed schema even when there are none."""
    df = pd.DataFrame.from_records(records, columns=record_type._fields)
    return df.astype(_schema(record_type))


def frame_of_columns(columns: dict, record_type) -> pd.DataFrame:
    """Columns (one array or list per field of ``record_type``) become the DataFrame that
    :func:`_frame` makes of the same records, without a tuple per row."""
    df = pd.DataFrame({name: columns[name] for name in record_type._fields})
    return df.astype(_schema(record_type))


def incidents_frame(records: list[IncidentRecord]) -> pd.DataFrame:
    return _frame(records, IncidentRecord)


def assignments_frame(records: list[Assignment]) -> pd.DataFrame:
    return _frame(records, Assignment)


def readiness_frame(records: list[ReadinessTest] | ReadinessLog) -> pd.DataFrame:
    if isinstance(records, ReadinessLog):
        return frame_of_columns(records.columns(), ReadinessTest)
    return _frame(records, ReadinessTest)
