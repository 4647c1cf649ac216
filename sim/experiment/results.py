"""Reading results folders: the one way figures, reports and comparisons read a folder.

A folder is read only through its ``manifest.json``: every file it lists must be a regular
file (never a link, device or FIFO), under a size cap, with the SHA-256 the manifest
recorded when it was written. Anything else (a truncated or empty table, a bad manifest,
missing files, a folder from another tool, a run with no incidents, a sweep whose runs all
failed) is one :class:`ResultsError` naming the file and what is wrong, which the command
line reports with exit status 2.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.values import value_label
from sim.model.records import INCIDENT_COLUMNS

#: Largest file read into memory (a city-year run's incident table is a few hundred MB).
MAX_FILE_BYTES = 2 * 1024**3
MAX_MANIFEST_BYTES = 16 * 1024**2
_HEX64 = re.compile(r"[0-9a-f]{64}")
RUN_FILES_READ = ("incidents", "summary_table")
POINTS_COLUMNS = ("point_id", "metric", "mean", "ci95_half_width", "replications")
#: Columns of paired.parquet against a baseline (sweeps written before baselines had none:
#: their report shows no difference table rather than one against point 0 unlabelled).
PAIRED_COLUMNS = ("point_id", "metric", "tier", "measure", "diff", "ci_low", "ci_high", "n",
                  "paired_ci95_half_width", "unpaired_ci95_half_width")  # fmt: skip
MARGINAL_COLUMNS = ("key", "unit", "from_value", "to_value", "tier", "gain_pp_per_unit",
                    "ci_low_pp", "ci_high_pp", "n")  # fmt: skip


class ResultsError(Exception):
    """A results folder cannot be read. The message is meant for the user as is."""


def read_regular(path: Path, cap: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``cap`` bytes."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise ResultsError(f"{path}: missing") from None
    except OSError as err:
        raise ResultsError(f"{path}: cannot read ({err.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ResultsError(f"{path}: not a regular file; refusing to read it")
    if st.st_size > cap:
        raise ResultsError(f"{path}: {st.st_size} bytes, more than the {cap} a results file may be")
    try:
        # O_NONBLOCK: a FIFO swapped in after the lstat must not hang the open.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise ResultsError(f"{path}: cannot read ({err.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ResultsError(f"{path}: not a regular file; refusing to read it")
        data = _read_bounded(fd, cap, path)
    except OSError as err:
        raise ResultsError(f"{path}: cannot read ({err.strerror})") from None
    finally:
        os.close(fd)
    return data


#: Bytes read at a time: what a read allocates up front is its size, not the cap's 2 GiB
#: (which alone failed every reader under `ulimit -v 3000000`).
READ_CHUNK = 1 << 20


def _read_bounded(fd: int, cap: int, path: Path) -> bytes:
    """The rest of ``fd``, read in chunks; ResultsError once it passes ``cap`` bytes."""
    buffer = bytearray()
    while True:
        chunk = os.read(fd, READ_CHUNK)
        if not chunk:
            return bytes(buffer)
        buffer += chunk
        if len(buffer) > cap:
            raise ResultsError(f"{path}: more than the {cap} bytes a results file may be")


def _short(path: Path) -> str:
    """A path for a message: at most 200 characters (it may be a hostile 5,000)."""
    text = str(path)
    return text if len(text) <= 200 else text[:97] + "..." + text[-100:]


def read_manifest(folder: Path) -> dict[str, Any]:
    folder = Path(folder)
    try:
        st = os.stat(folder)
    except OSError as err:  # missing, a name too long, a loop of links...
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            raise ResultsError(f"{folder}: no such results folder") from None
        raise ResultsError(f"{_short(folder)}: cannot read ({err.strerror})") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ResultsError(f"{folder}: no such results folder")
    path = folder / "manifest.json"
    if not os.path.lexists(path):
        raise ResultsError(
            f"{folder}: not a results folder (no manifest.json; expected a folder written by "
            "`jiefang run` or `jiefang sweep`)"
        )
    data = read_regular(path, MAX_MANIFEST_BYTES)
    try:
        meta = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ResultsError(f"{path}: not valid JSON (damaged or from another tool)") from None
    if not isinstance(meta, dict):
        raise ResultsError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    return meta


def kind_of(folder: Path, meta: dict | None = None) -> str:
    """``run`` or ``sweep``, from the manifest."""
    meta = read_manifest(folder) if meta is None else meta
    kind = _written_by(meta)
    if kind in ("run", "sweep"):
        return kind
    raise ResultsError(
        f"{Path(folder) / 'manifest.json'}: not a jiefang manifest (no scenario and files, "
        "nor sweep); expected a folder written by `jiefang run` or `jiefang sweep`"
    )


#: The commands that write results folders, by what their manifest.json holds.
MADE_BY = ("run", "sweep", "optimize", "compare")


def made_by(folder: Path) -> str:
    """Which command wrote ``folder``: ``run``, ``sweep``, ``optimize`` or ``compare`` from
    its manifest.json; ``unknown`` for a manifest none of them wrote or one that cannot be
    read. Only that command may replace the folder (:func:`sim.experiment.store.check_made_by`)."""
    try:
        return _written_by(read_manifest(Path(folder)))
    except ResultsError:
        return "unknown"


def _written_by(meta: dict) -> str:
    """The command a manifest names (:data:`MADE_BY`), or ``unknown``."""
    if isinstance(meta.get("scenario"), dict) and isinstance(meta.get("files"), dict):
        return "run"
    for key in ("sweep", "optimize", "compare"):
        if isinstance(meta.get(key), dict):
            return key
    return "unknown"


def _listed(folder: Path, meta: dict) -> dict[str, tuple[Path, str]]:
    """name -> (path, sha256) of every file the manifest lists, checked for form."""
    where = Path(folder) / "manifest.json"
    files = meta.get("files")
    if not isinstance(files, dict):
        raise ResultsError(f"{where}: files: expected a mapping of name to path and sha256")
    out = {}
    for name, entry in files.items():
        if not isinstance(entry, dict):
            raise ResultsError(f"{where}: files.{name}: expected path and sha256")
        rel, digest = entry.get("path"), entry.get("sha256")
        if (not isinstance(rel, str) or rel in ("", ".", "..") or "/" in rel or "\\" in rel
                or "\0" in rel):  # fmt: skip
            raise ResultsError(f"{where}: files.{name}.path: expected a file name in the folder")
        if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
            raise ResultsError(f"{where}: files.{name}.sha256: expected 64 hex digits")
        out[str(name)] = (Path(folder) / rel, digest)
    return out


def verified(path: Path, digest: str) -> bytes:
    """The bytes of ``path``, which must hash to ``digest`` (recorded at write)."""
    data = read_regular(path)
    if hashlib.sha256(data).hexdigest() != digest:
        raise ResultsError(
            f"{path}: does not match the SHA-256 in manifest.json (damaged, or changed "
            "after the run was written)"
        )
    return data


def _parquet(path: Path, data: bytes) -> pd.DataFrame:
    if not data:
        raise ResultsError(f"{path}: empty file")
    try:
        return pd.read_parquet(io.BytesIO(data))
    except Exception as err:  # pyarrow raises several types for damaged files
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise ResultsError(f"{path}: not a readable Parquet table ({reason})") from None


def _csv(path: Path, data: bytes) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(data))
    except Exception as err:  # pandas raises several types for damaged files
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise ResultsError(f"{path}: not a readable CSV table ({reason})") from None


def _need_columns(path: Path, df: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise ResultsError(
            f"{path}: missing columns {shown} (damaged, or written by another version)"
        )


@dataclass(frozen=True)
class RunResults:
    folder: Path
    manifest: dict
    name: str
    incidents: pd.DataFrame
    summary: pd.DataFrame
    layout_cells: pd.DataFrame | None
    layout_sites: pd.DataFrame | None


@dataclass(frozen=True)
class SweepResults:
    folder: Path
    manifest: dict
    name: str
    points: pd.DataFrame
    varied: list[str]
    #: Differences from the baseline and marginal values per unit; None in sweeps written
    #: before they existed.
    paired: pd.DataFrame | None = None
    marginal: pd.DataFrame | None = None
    baseline: dict | None = None  # {"point_id", "values", "extra_arm"} from the manifest


def open_run(folder: Path) -> RunResults:
    """A `jiefang run` folder, verified against its manifest (see the module's docstring)."""
    folder = Path(folder)
    meta = read_manifest(folder)
    if kind_of(folder, meta) != "run":
        raise ResultsError(f"{folder}: a sweep folder; expected a `jiefang run` results folder")
    where = folder / "manifest.json"
    for key in ("seed", "replications"):
        if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool):
            raise ResultsError(f"{where}: {key}: expected a whole number")
    name = meta["scenario"].get("name")
    if not isinstance(name, str):
        raise ResultsError(f"{where}: scenario.name: expected a string")
    listed = _listed(folder, meta)
    for needed in RUN_FILES_READ:
        if needed not in listed:
            raise ResultsError(f"{where}: files: no {needed} entry")
    data = {k: verified(p, digest) for k, (p, digest) in listed.items()}
    inc_path = listed["incidents"][0]
    incidents = _parquet(inc_path, data["incidents"])
    _need_columns(inc_path, incidents, ["replication", *INCIDENT_COLUMNS])
    if not (~incidents["in_warmup"].astype(bool)).any():
        raise ResultsError(
            f"{inc_path}: the run has no incidents after the warm-up; nothing to draw or compare"
        )
    summary_path = listed["summary_table"][0]
    summary = _csv(summary_path, data["summary_table"])
    _need_columns(summary_path, summary, ["scope", "tier", "clock", "own_clock", "metric", "mean",
                                         "ci95_half_width"])  # fmt: skip
    cells = sites = None
    if "layout_cells" in listed and "layout_sites" in listed:
        cells = _parquet(listed["layout_cells"][0], data["layout_cells"])
        sites = _parquet(listed["layout_sites"][0], data["layout_sites"])
    return RunResults(folder, meta, name, incidents, summary, cells, sites)


def open_sweep(folder: Path) -> SweepResults:
    """A `jiefang sweep` folder: its points table, verified where the manifest lists hashes
    (sweeps written before hashes were recorded are read unverified)."""
    folder = Path(folder)
    meta = read_manifest(folder)
    if kind_of(folder, meta) != "sweep":
        raise ResultsError(f"{folder}: a run folder; expected a `jiefang sweep` results folder")
    where = folder / "manifest.json"
    spec = meta["sweep"]
    name = spec.get("name")
    grid, lhs = spec.get("grid") or {}, spec.get("lhs") or {}
    ranges = lhs.get("ranges") or {} if isinstance(lhs, dict) else None
    if not isinstance(name, str) or not isinstance(grid, dict) or not isinstance(ranges, dict):
        raise ResultsError(f"{where}: sweep: expected name, grid and lhs as a sweep file has")
    for key in ("points", "runs"):
        if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool):
            raise ResultsError(f"{where}: {key}: expected a whole number")
    listed = _listed(folder, meta) if "files" in meta else {}
    path = folder / "points.parquet"
    data = verified(*listed["points"]) if "points" in listed else read_regular(path)
    points = _parquet(path, data)
    if points.empty:
        failed = meta.get("failed_now")
        detail = f" ({failed} failed in the last sweep; see runs.parquet's error column)"
        raise ResultsError(
            f"{path}: no finished runs{detail if isinstance(failed, int) else ''}; nothing to draw"
        )
    varied = [str(k) for k in grid] + [str(k) for k in ranges]
    _need_columns(path, points, [*POINTS_COLUMNS, *varied])
    tables: dict[str, pd.DataFrame | None] = {"paired": None, "marginal": None}
    for table, columns in (("paired", PAIRED_COLUMNS), ("marginal", MARGINAL_COLUMNS)):
        if table not in listed:
            continue
        table_path = listed[table][0]
        df = _parquet(table_path, verified(*listed[table]))
        if table == "paired" and "diff" not in df.columns:
            continue  # the older table against point 0
        if not df.empty:
            _need_columns(table_path, df, columns)
        tables[table] = df
    baseline = meta.get("baseline") if isinstance(meta.get("baseline"), dict) else None
    points = _as_labels(points, varied)
    paired, marginal = (None if tables[t] is None else _as_labels(tables[t], varied)
                        for t in ("paired", "marginal"))  # fmt: skip
    return SweepResults(folder, meta, name, points, varied, paired, marginal, baseline)


def _as_labels(table: pd.DataFrame, varied: list[str]) -> pd.DataFrame:
    """Sweeps written before list values were stored as labels hold them as Parquet lists
    (read back as arrays), which pandas cannot group or pivot: they get the labels a sweep
    writes now (:mod:`sim.analysis.values`), so that such folders draw and report too."""

    def label(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            v = v.tolist()
        return value_label(v) if isinstance(v, list) else v  # a missing value stays missing

    listed = [k for k in varied if k in table.columns and table[k].dtype.kind == "O"
              and table[k].map(lambda v: isinstance(v, list | np.ndarray)).any()]  # fmt: skip
    return table.assign(**{k: table[k].map(label) for k in listed}) if listed else table


def open_results(folder: Path) -> RunResults | SweepResults:
    return open_run(folder) if kind_of(folder) == "run" else open_sweep(folder)


def read_listed(run: RunResults, names) -> dict[str, pd.DataFrame]:
    """The Parquet tables of a run folder that its manifest lists under ``names``, verified
    against their SHA-256 (a name the manifest does not list is left out: folders written
    before the table existed)."""
    listed = _listed(run.folder, run.manifest)
    return {n: _parquet(listed[n][0], verified(*listed[n])) for n in names if n in listed}
