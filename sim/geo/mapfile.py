"""The text map of ``city.map_file``: one character per cell (``sim.model.vocab.MAP_CHARS``).

Read twice over: checked at load with a size cap, row and column named in each message and
never the file's text (:func:`map_grid`, for the feasibility checks), and read into land use
for the city (:func:`read_map_file`), which the model is handed as an array.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from sim.model.config.errors import ScenarioError, _show_path
from sim.model.config.reading import MAX_MAP_BYTES, MAX_MAP_CELLS, read_regular_file
from sim.model.vocab import MAP_CHARS, LandUse


def map_grid(path: Path, source: str, own: bool = True):
    """The map's own problems, then its ``((rows, columns), land mask)`` (``(None, None)``
    after a problem): the :data:`sim.model.config.feasibility.MapGrid` the checks read.
    A map is read once while it is unchanged (every sweep point names the same one)."""
    key = _map_key(path)
    if key in _MAP_SEEN:
        return _MAP_SEEN[key]
    shape, land = yield from _map_problems(path, source, own)
    if key is not None and shape is not None:
        if len(_MAP_SEEN) > 16:
            _MAP_SEEN.clear()
        _MAP_SEEN[key] = (shape, land)
    return shape, land


def map_grid_seen(path: Path) -> tuple:
    """The ``((rows, columns), land mask)`` :func:`map_grid` found in the map unchanged
    since, else ``(None, None)``."""
    key = _map_key(path)
    return _MAP_SEEN.get(key, (None, None)) if key is not None else (None, None)


#: Map files already checked, by (path, modification time, size).
_MAP_SEEN: dict[tuple, tuple] = {}


def _map_key(path: Path) -> tuple | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (str(path), info.st_mtime_ns, info.st_size, info.st_ino)


def _map_problems(path: Path, source: str, own: bool = True):
    """Check a map file as the city will read it; return ((rows, columns), land mask).

    Messages give row and column, never the file's text (it may be any file).
    """
    where = ("city", "map_file")
    shown = _show_path(path) if own else "(the map file named in another file)"
    try:
        data = read_regular_file(path, MAX_MAP_BYTES, f"{source}: city.map_file: {shown}")
    except ScenarioError as err:
        raise ScenarioError(str(err)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        yield where, f"{shown}: not a UTF-8 text file"
        return None, None
    lines = [ln.rstrip("\r\n") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        yield where, f"{shown}: map file has no rows"
        return None, None
    width = len(lines[0])
    if len(lines) > MAX_MAP_CELLS or width > MAX_MAP_CELLS:
        yield (
            where,
            (
                f"{shown}: map is {width:,} x {len(lines):,} cells; at most "
                f"{MAX_MAP_CELLS} x {MAX_MAP_CELLS}"
            ),
        )
        return None, None
    codes = np.full(128, -1, dtype=np.int16)
    for ch, use in MAP_CHARS.items():
        codes[ord(ch)] = int(use)
    grid = np.zeros((len(lines), width), dtype=np.int16)
    for r, line in enumerate(lines):
        if len(line) != width:
            yield (
                where,
                (f"{shown}: map row {r + 1} has {len(line)} cells, expected {width} like row 1"),
            )
            return None, None
        raw = np.frombuffer(line.encode("utf-32-le"), dtype=np.uint32)
        row = np.where(raw < 128, codes[np.minimum(raw, 127)], -1)
        bad = np.flatnonzero(row < 0)
        if bad.size:
            allowed = " ".join(MAP_CHARS)
            yield (
                where,
                (
                    f"{shown}: map row {r + 1}, column {bad[0] + 1}: not a map "
                    f"character (expected one of {allowed})"
                ),
            )
            return None, None
        grid[r] = row
    land = (grid != LandUse.WATER) & (grid != LandUse.BRIDGE)
    return grid.shape, land


def read_map_file(path: Path) -> np.ndarray:
    """Land use from a text raster: one character per cell (see ``sim.model.vocab.MAP_CHARS``)."""
    try:
        lines = [ln.rstrip("\r\n") for ln in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{path}: cannot read map file ({err})") from None
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ScenarioError(f"{path}: map file has no rows")
    width = len(lines[0])
    grid = np.zeros((len(lines), width), dtype=np.int8)
    for r, line in enumerate(lines):
        if len(line) != width:
            raise ScenarioError(
                f"{path}: map row {r + 1} has {len(line)} cells, expected {width} like row 1"
            )
        for c, ch in enumerate(line):
            if ch not in MAP_CHARS:
                allowed = " ".join(MAP_CHARS)
                raise ScenarioError(
                    f"{path}: map row {r + 1}, column {c + 1}: unknown cell {ch!r} "
                    f"(expected one of {allowed})"
                )
            grid[r, c] = MAP_CHARS[ch]
    if not np.any((grid != LandUse.WATER) & (grid != LandUse.BRIDGE)):
        raise ScenarioError(f"{path}: map has no land cells")
    return grid
