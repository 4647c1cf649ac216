"""Varied values as table cells: one representation of a sweep value wherever a table needs
a scalar.

A sweep key may take lists (24 hourly shares of ``volunteers.on_duty_share``) or mix single
values and lists. Parquet needs one type per column and pandas cannot group, pivot or sort
lists, so such a key's column holds a **label** for every value: its canonical JSON
(``[0.1,0.1,...]``, ``0.1``), a string that is exact (``json.loads`` gives the value back),
stable (the same value always gives the same text) and distinct for distinct values. A key
whose values are all single numbers, or all strings, keeps them as they are, so the tables
of such sweeps are byte for byte what they were. The exact values also stay in the
manifest (the sweep as written); run keys hash scenarios, which labels never touch.

Printed tables, the report and the figures show a label shortened by :func:`value_text`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

#: A list's short text is at most this long; longer ones are summarised (mean, count, hash).
MAX_TEXT = 40


class _Arm(Protocol):
    @property
    def point_id(self) -> int: ...
    @property
    def values(self) -> Mapping[str, Any]: ...


def value_label(value: Any) -> str:
    """The canonical JSON of ``value``: sorted keys, no spaces (a NaN, which no scenario
    takes, is written ``NaN`` rather than refused: the runs are done by then)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _kind(value: Any) -> str | None:
    if value is None:
        return None  # missing: fits in any column
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "other"  # a list or mapping


def labelled_keys(arms: Iterable[_Arm]) -> set[str]:
    """The varied keys whose values need labels: any value a list or mapping, or values of
    more than one kind (``[0.1, [...]]``; Parquet refuses a column of numbers and text)."""
    kinds: dict[str, set[str]] = {}
    for arm in arms:
        for key, value in arm.values.items():
            kind = _kind(value)
            if kind is not None:
                kinds.setdefault(key, set()).add(kind)
    return {k for k, found in kinds.items() if "other" in found or len(found) > 1}


def table_values(arms: Iterable[_Arm]) -> dict[int, Mapping[str, Any]]:
    """point id -> its varied values as the sweep tables hold them: labels for the keys of
    :func:`labelled_keys` (over every arm, the baseline's too, so a column has one type),
    the values themselves otherwise (the same mapping, untouched, when no key needs one)."""
    arms = list(arms)
    keys = labelled_keys(arms)
    return {
        a.point_id: {k: value_label(v) if k in keys else v for k, v in a.values.items()}
        if keys & a.values.keys()
        else a.values
        for a in arms
    }


def _from_label(value: Any) -> Any:
    """A label's value (``'[0.1,...]'`` -> the list); anything else as it is."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _number(x: Any) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def value_text(value: Any) -> str:
    """A varied value (or its label) as shown in printed tables, the report and figures.

    A list is shown run-length encoded (``[0.05 x8, 0.3 x8, 0.1 x8]``) when that is short
    and exact; otherwise as its count and mean with the first characters of its label's
    SHA-256, so two profiles alike on average still read differently
    (``[24 values, mean 0.183, #1a2b3c]``). A mapping is its JSON, or its size and hash."""
    value = _from_label(value)
    if isinstance(value, list):
        if not value:
            return "[]"
        runs = [(x, len(list(g))) for x, g in itertools.groupby(value)]
        exact = all(isinstance(x, int | float) and not isinstance(x, bool)
                    and (not isinstance(x, float) or float(_number(x)) == x)
                    for x, _ in runs)  # fmt: skip
        text = "[" + ", ".join(_number(x) + (f" x{n}" if n > 1 else "") for x, n in runs) + "]"
        if exact and len(text) <= MAX_TEXT:
            return text
        numbers = [x for x in value if isinstance(x, int | float) and not isinstance(x, bool)]
        mean = f", mean {sum(numbers) / len(numbers):.3g}" if len(numbers) == len(value) else ""
        return f"[{len(value)} values{mean}, #{_digest(value)}]"
    if isinstance(value, dict):
        text = value_label(value)
        return text if len(text) <= MAX_TEXT else f"{{{len(value)} keys, #{_digest(value)}}}"
    if isinstance(value, float):
        return _number(value) if math.isfinite(value) else str(value)
    return str(value)


def shown(value: Any) -> Any:
    """A list, a mapping or a label as :func:`value_text`; any other value as it is, so that
    tables of single values print as they always did."""
    if isinstance(value, list | dict) or _from_label(value) is not value:
        return value_text(value)
    return value


def _digest(value: Any) -> str:
    return hashlib.sha256(value_label(value).encode()).hexdigest()[:6]
