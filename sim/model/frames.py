"""The records of :mod:`sim.model.records` as DataFrames with a fixed schema.

Apart from the records so that what only names or builds records (the fleets, the planning
tools) does not load pandas (a fifth of a second of CPU at every start).
"""

from __future__ import annotations

from functools import cache
from typing import get_type_hints

import numpy as np
import pandas as pd

from sim.model.records import (
    Assignment,
    AssignmentLog,
    IncidentRecord,
    ReadinessLog,
    ReadinessTest,
)

_DTYPES = {int: "int64", float: "float64", bool: "bool", str: "object"}


@cache
def _schema(record_type) -> dict[str, str]:
    return {name: _DTYPES[t] for name, t in get_type_hints(record_type).items()}


def _frame(records, record_type) -> pd.DataFrame:
    """Records become a DataFrame at once, with a fixed schema even when there are none."""
    fields = record_type._fields
    columns = dict(zip(fields, zip(*records, strict=True), strict=True)) if records else {}
    return frame_of_columns({name: columns.get(name, ()) for name in fields}, record_type)


def frame_of_columns(columns: dict, record_type) -> pd.DataFrame:
    """Columns (one array or list per field of ``record_type``) become a DataFrame in the
    record type's schema. Each column is cast on its own and handed to pandas with its
    type, so pandas infers nothing (it would take strings for its own string type and
    cast them back: three times the CPU of a city year's records)."""
    schema = _schema(record_type)
    return pd.DataFrame(
        {name: pd.Series(np.asarray(columns[name], dtype=schema[name]), dtype=schema[name],
                         copy=False)
         for name in record_type._fields},
        copy=False,
    )  # fmt: skip


def incidents_frame(records: list[IncidentRecord]) -> pd.DataFrame:
    return _frame(records, IncidentRecord)


def assignments_frame(records: list[Assignment] | AssignmentLog) -> pd.DataFrame:
    if isinstance(records, AssignmentLog):
        return frame_of_columns(records.columns(), Assignment)
    return _frame(records, Assignment)


def readiness_frame(records: list[ReadinessTest] | ReadinessLog) -> pd.DataFrame:
    if isinstance(records, ReadinessLog):
        return frame_of_columns(records.columns(), ReadinessTest)
    return _frame(records, ReadinessTest)
