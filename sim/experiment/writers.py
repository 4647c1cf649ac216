"""The formats a run folder and a sweep store are written in: Parquet (zstd), JSON with
no inf or NaN, and CSV whose text cells a spreadsheet cannot take for formulas; every file
written whole (:mod:`sim.files`)."""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from sim.files import (  # re-exported: the names sim.experiment.store always had
    atomic_write_bytes,
)


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def record_bytes(record: pd.DataFrame) -> bytes:
    """A one-row run record as a sweep store keeps it: Parquet with page checksums, so
    damage is found on resume."""
    buf = io.BytesIO()
    record.to_parquet(buf, index=False, engine="pyarrow", compression="zstd",
                      write_page_checksum=True)  # fmt: skip
    return buf.getvalue()


def stored_run(
    record: dict[str, Any], incidents: pd.DataFrame | None
) -> tuple[dict[str, Any], bytes, bytes | None]:
    """(the record with its incidents' SHA-256, the record's bytes, the incidents' bytes):
    the files a sweep store keeps for one run. Workers make them, so that the driver only
    writes bytes (:meth:`SweepStore.put`)."""
    record = dict(record)
    data = None
    if incidents is not None:
        data = parquet_bytes(incidents)
        record["incidents_sha256"] = hashlib.sha256(data).hexdigest()
    return record, record_bytes(pd.DataFrame([record])), data


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, parquet_bytes(df))


def write_json(obj: Any, path: Path) -> None:
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Every CSV jiefang writes, with text cells made safe to open in a spreadsheet."""
    data = formula_safe(df).to_csv(index=False, float_format="%.6g")
    atomic_write_bytes(path, data.encode("utf-8"))


#: What makes a spreadsheet read a cell as a formula (OWASP's list): a kind named
#: ``=HYPERLINK(...)`` would be a live link in summary.csv.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each text cell that starts like a formula prefixed by ``'`` (which a
    spreadsheet shows as text and hides); numbers, and text that is a number (``-1.5``),
    are left alone. Parquet and JSON outputs keep names as they are."""

    def safe(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            try:
                float(value)
            except ValueError:
                return "'" + value
        return value

    text = [c for c in df.columns
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype)]  # fmt: skip
    if not text:
        return df
    out = df.copy(deep=False)
    for c in text:
        out[c] = df[c].map(safe)
    return out


def _json_safe(obj: Any) -> Any:
    """JSON has no inf or NaN: both become null (the docs say what null means where)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _json_safe(obj.item())
    return obj
