"""Historical incidents replayed: a CSV read once at load time, the same in every replication.

``incidents.replay`` names a CSV (relative to the scenario file; ``jiefang run --incidents``
overrides it). Columns, by name (others are ignored):

- the time: ``time_s`` (seconds from the start of the run) or ``time`` (ISO 8601). With
  ``time``, t = 0 is ``incidents.replay_start`` if given, else midnight of the earliest
  incident's day, so the run's clock hours are the log's hours of day. Times without an
  offset are taken as written (local wall-clock time); times with one are converted to UTC
  first. ``replay_start`` is read the same way; give offsets on all or none.
- the place: ``x_m`` and ``y_m`` (grid metres: east of the west edge, south of the north
  edge) or ``lon`` and ``lat`` (degrees WGS 84; needs ``city.crs`` and ``city.origin``).
- ``kind``: an incident kind of the scenario.

The file is parsed here, by the scenario loader (:mod:`sim.geo.scenario`) before anything is
built, and every row is checked against the scenario (time in [0, horizon), place on the
grid and on land, kind known); the model gets the parsed columns
(:class:`sim.model.replay.ReplayIncidents`) and does no I/O. Errors name the scenario, the
key, the file, the row and the column, never the file's text (it may be any file the
scenario names).
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sim.geo.crs import frame_of
from sim.geo.mapfile import map_grid_seen
from sim.model.config.errors import ScenarioError, _show_path
from sim.model.config.feasibility import generated_land
from sim.model.config.reading import read_regular_file
from sim.model.replay import _EARLIEST, _LATEST, _YEARS, ReplayIncidents, _epoch_ns

if TYPE_CHECKING:
    from sim.model.config.scenario import Scenario

#: A replay file is read whole; a city year of incidents is about 100 MB of CSV.
MAX_REPLAY_BYTES = 256 * 2**20
#: Rows refused before parsing (counted as lines): 2.5 million incidents is a city year.
MAX_REPLAY_ROWS = 5_000_000
KEY = "incidents.replay"


@dataclass(frozen=True)
class _Table:
    """A replay file parsed but not yet checked against a scenario."""

    sha256: str
    time_column: str  # time_s or time
    times: np.ndarray  # float s (time_s) or int64 ns since the epoch, UTC (time)
    place_columns: tuple[str, str]  # (x_m, y_m) or (lon, lat)
    a: np.ndarray
    b: np.ndarray
    kind: np.ndarray  # object array of str


#: Parsed files by (path, modification time, size, inode): a sweep's points share one read.
_SEEN: dict[tuple, _Table] = {}


class _Bad(Exception):
    """One problem with the file: the message names rows and columns, never values."""


def load_replay(scenario: Scenario, source: str, own: bool = True) -> ReplayIncidents | None:
    """The scenario's replay incidents, read and checked (None without ``incidents.replay``).
    ``own``: the path is the user's own text; a path written in another file (an
    ``extends`` base, a sweep's base) is not shown, like that file's other text.

    Raises :class:`~sim.model.config.ScenarioError` naming ``source``, the key, the file,
    the row and the column.
    """
    cfg = scenario.incidents
    if cfg.replay is None:
        return None
    path = Path(cfg.replay)
    shown = _show_path(path) if own else "(the replay file named in another file)"
    where = f"{source}: {KEY}: {shown}"
    try:
        table = _read(path, where)
        occurred, xy, kind = _check(table, scenario)
    except _Bad as err:
        raise ScenarioError(f"{where}: {err}") from None
    return ReplayIncidents(str(path), table.sha256, occurred, xy, kind)


def _read(path: Path, where: str) -> _Table:
    try:
        info = os.stat(path)
        key: tuple | None = (str(path), info.st_mtime_ns, info.st_size, info.st_ino)
    except (OSError, ValueError):
        key = None  # read_regular_file says what is wrong
    if key is not None and key in _SEEN:
        return _SEEN[key]
    data = read_regular_file(path, MAX_REPLAY_BYTES, where)
    table = _parse(data)
    if key is not None:
        if len(_SEEN) > 8:
            _SEEN.clear()
        _SEEN[key] = table
    return table


def _parse(data: bytes) -> _Table:
    import pandas as pd

    # Counted before parsing: a file of short lines must not become a huge table first.
    lines = data.count(b"\n") + (not data.endswith(b"\n"))
    if lines - 1 > MAX_REPLAY_ROWS:
        raise _Bad(f"about {lines - 1:,} rows; at most {MAX_REPLAY_ROWS:,} incidents are replayed")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _Bad("not a UTF-8 text file (expected a CSV)") from None
    if not text.strip():
        raise _Bad("file is empty, expected a CSV with a header row and one row per incident")
    try:
        with warnings.catch_warnings():
            # A first row longer than the header only warns (and loses data): refuse it.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                                skipinitialspace=True, index_col=False)  # fmt: skip
    except (ValueError, pd.errors.ParserError, pd.errors.ParserWarning):
        raise _Bad("not a readable CSV (rows with more fields than the header?)") from None
    columns = {str(c).strip() for c in frame.columns}
    frame.columns = [str(c).strip() for c in frame.columns]
    time_column = next((c for c in ("time_s", "time") if c in columns), None)
    place = next((p for p in (("x_m", "y_m"), ("lon", "lat")) if set(p) <= columns), None)
    if time_column is None:
        raise _Bad("no time column: expected a column time_s (s from the start) or time (ISO)")
    if place is None:
        raise _Bad("no place columns: expected columns x_m and y_m, or lon and lat")
    if "kind" not in columns:
        raise _Bad("no kind column: expected a column kind (an incident kind of the scenario)")
    if len(frame) == 0:
        raise _Bad("has a header but no incidents (expected one row per incident)")
    if time_column == "time_s":
        times = _numbers(frame, "time_s", "seconds from the start of the run")
    else:
        parsed = pd.to_datetime(frame["time"], format="ISO8601", errors="coerce", utc=True)
        _first_bad(parsed.isna().to_numpy(), "time", "an ISO 8601 date and time")
        naive = parsed.dt.tz_convert(None)  # UTC wall time: numpy has no time zones
        seconds = naive.to_numpy().astype("datetime64[s]")
        _first_bad((seconds < _EARLIEST) | (seconds >= _LATEST), "time", _YEARS)
        times = naive.to_numpy().astype("datetime64[ns]").astype(np.int64)
    what = "metres" if place == ("x_m", "y_m") else "degrees"
    a = _numbers(frame, place[0], what)
    b = _numbers(frame, place[1], what)
    kind = frame["kind"].str.strip().to_numpy(dtype=object)
    _first_bad(kind == "", "kind", "an incident kind")
    return _Table(hashlib.sha256(data).hexdigest(), time_column, times, place, a, b, kind)


def _numbers(frame, column: str, what: str) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    _first_bad(~np.isfinite(values), column, f"a finite number ({what})")
    return values


def _first_bad(bad: np.ndarray, column: str, expected: str) -> None:
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        more = int(bad.sum()) - 1
        also = f" ({more:,} more rows like it)" if more else ""
        # Row numbers count the header as line 1, as a spreadsheet shows them.
        raise _Bad(f"line {i + 2}: {column}: expected {expected}{also}")


def _check(table: _Table, sc: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cfg = sc.incidents
    horizon_s = sc.horizon_hours * 3600.0
    if table.time_column == "time_s":
        if cfg.replay_start is not None:
            raise _Bad("incidents.replay_start is set but the file gives time_s, not time")
        occurred = table.times.astype(float)
    else:
        if cfg.replay_start is not None:
            start = _epoch_ns(cfg.replay_start)
        else:
            start = int(np.datetime64(int(table.times.min()), "ns").astype("datetime64[D]")
                        .astype("datetime64[ns]").astype(np.int64))  # fmt: skip
        # Exact in int64 ns, except where two times 292 years apart would wrap around:
        # those (far outside any horizon) keep the float difference, refused below.
        rough = table.times / 1e9 - start / 1e9
        with np.errstate(over="ignore"):
            exact = (table.times - np.int64(start)) / 1e9
        occurred = np.where(np.abs(rough) < 9e9, exact, rough)
    _first_bad(
        ~((occurred >= 0) & (occurred < horizon_s)),
        table.time_column,
        f"a time in [0, {horizon_s:g}) s from the start of the run (horizon_hours)",
    )
    known = np.isin(table.kind, np.array(list(cfg.kinds), dtype=object))
    _first_bad(~known, "kind", "one of the scenario's incidents.kinds")
    if table.place_columns == ("x_m", "y_m"):
        x, y = table.a, table.b
    else:
        frame = frame_of(sc.city)
        if frame is None:
            raise _Bad("lon/lat columns need city.crs and city.origin (or give x_m and y_m)")
        _first_bad(~((np.abs(table.a) <= 180) & (np.abs(table.b) <= 90)), "lon",
                   "longitude in [-180, 180] and latitude in [-90, 90]")  # fmt: skip
        x, y = frame.from_lonlat(table.a, table.b)
    shape, land = _shape_and_land(sc)
    if shape is not None:
        size = sc.city.cell_size_m
        inside = (x >= 0) & (y >= 0) & (x < shape[1] * size) & (y < shape[0] * size)
        names = "/".join(table.place_columns)
        _first_bad(~inside, names, f"a place on the grid ({shape[1] * size:g} m east x "
                   f"{shape[0] * size:g} m south of its north-west corner)")  # fmt: skip
        if land is not None:
            col = np.floor(x / size).astype(np.int64)
            row = np.floor(y / size).astype(np.int64)
            _first_bad(~land[row, col], names, "a place on land (this one is on water)")
    return occurred, np.stack([x, y], axis=1).astype(float), table.kind


def _shape_and_land(sc: Scenario):
    """(rows, columns) and the land mask as the feasibility check saw them (map files are
    read there once and kept)."""
    city = sc.city
    if city.map_file is None:
        return (city.height, city.width), generated_land(city)
    return map_grid_seen(Path(city.map_file))


__all__ = ["MAX_REPLAY_BYTES", "MAX_REPLAY_ROWS", "load_replay"]
