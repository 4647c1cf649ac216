"""Points (police stations, MEU sites, key sites) from GeoJSON, GeoPackage or CSV.

GeoJSON and GeoPackage go through geopandas/pyogrio in the file's own CRS (a file with no
CRS is refused); a polygon (a building) stands for its representative point. A CSV has
``lon``/``lat`` columns (WGS 84 degrees) or ``x_m``/``y_m`` (grid metres from the north-west
corner, y south). Every point is converted into the grid frame of :mod:`sim.geo.crs`.

Messages name the file, the feature's position in it and what is wrong; they never echo the
file's text (its column names or values).
"""

from __future__ import annotations

import json
import mmap
import re
from pathlib import Path

import numpy as np

from sim.geo.crs import GridFrame
from sim.model.config.errors import ScenarioError

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg")


def read_points(path: Path, frame: GridFrame | None, where: str, columns: tuple[str, ...] = ()):
    """(x_m, y_m, attributes) of every point of ``path``, in grid metres.

    Args:
        path: a .geojson, .json, .gpkg or .csv file.
        frame: the grid's place on the Earth (None: only x_m/y_m CSV columns can be placed).
        where: the file and key, for messages.
        columns: attribute columns the caller needs (each must be present).
    Returns:
        x_m and y_m arrays (m) and a dict of the requested columns (numpy arrays).
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        x, y, table = _csv_points(path, frame, where)
    elif suffix in VECTOR_SUFFIXES:
        x, y, table = _vector_points(path, frame, where)
    else:
        raise ScenarioError(f"{where}: unknown file type (expected .geojson, .gpkg or .csv)")
    if x.size == 0:
        raise ScenarioError(f"{where}: the file holds no points")
    bad = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))
    if bad.size:
        raise ScenarioError(f"{where}: point {bad[0] + 1} has no valid coordinates")
    lower = {str(c).lower(): c for c in table.columns}
    attrs = {}
    for c in columns:
        if c not in lower:
            raise ScenarioError(f"{where}: the file has no {c} column")
        attrs[c] = table[lower[c]].to_numpy()
    return x, y, attrs


def _csv_points(path: Path, frame: GridFrame | None, where: str):
    import pandas as pd

    try:
        table = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError):
        raise ScenarioError(f"{where}: cannot read the file as CSV") from None
    lower = {str(c).lower(): c for c in table.columns}
    if "lon" in lower and "lat" in lower:
        lon, lat = (
            _numbers(table, lower["lon"], where, "lon"),
            _numbers(table, lower["lat"], where, "lat"),
        )
        off = np.flatnonzero((np.abs(lon) > 180) | (np.abs(lat) > 90))
        if off.size:
            raise ScenarioError(f"{where}: row {off[0] + 1}: lon/lat are not degrees")
        if frame is None:
            raise ScenarioError(
                f"{where}: lon/lat need city.crs and city.origin (or city.population_raster)"
            )
        x, y = frame.from_lonlat(lon, lat)
    elif "x_m" in lower and "y_m" in lower:
        x, y = (
            _numbers(table, lower["x_m"], where, "x_m"),
            _numbers(table, lower["y_m"], where, "y_m"),
        )
    else:
        raise ScenarioError(
            f"{where}: expected columns lon and lat (degrees), or x_m and y_m (grid metres)"
        )
    return np.asarray(x, float), np.asarray(y, float), table


def _numbers(table, column, where: str, name: str) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ScenarioError(f"{where}: row {bad[0] + 1}: {name} is not a number")
    return values


def _vector_points(path: Path, frame: GridFrame | None, where: str):
    import geopandas as gpd

    if path.suffix.lower() != ".gpkg":
        _check_declared_crs(path, where)
    try:
        table = gpd.read_file(path, engine="pyogrio")
    except Exception:  # pyogrio raises its own and GDAL's errors for a damaged file
        raise ScenarioError(
            f"{where}: cannot read the file (not a GeoJSON or GeoPackage, or damaged)"
        ) from None
    if len(table) == 0:
        raise ScenarioError(f"{where}: the file holds no features")
    if table.crs is None:
        raise ScenarioError(f"{where}: the file has no CRS (its coordinates cannot be placed)")
    if frame is None:
        raise ScenarioError(
            f"{where}: placing it needs city.crs and city.origin (or city.population_raster)"
        )
    missing = np.flatnonzero(table.geometry.isna().to_numpy() | table.geometry.is_empty.to_numpy())
    if missing.size:
        raise ScenarioError(f"{where}: feature {missing[0] + 1} has no geometry")
    try:
        projected = table.to_crs(frame.crs)
    except Exception:  # pyproj errors for a CRS it cannot transform
        raise ScenarioError(f"{where}: cannot transform the file's CRS into city.crs") from None
    points = projected.geometry.representative_point()
    x, y = frame.from_crs(points.x.to_numpy(), points.y.to_numpy())
    return np.asarray(x, float), np.asarray(y, float), table


#: How far into a GeoJSON file its ``crs`` member is looked for, bytes (it comes before the
#: features; the member itself is read from at most ``_CRS_MEMBER_BYTES``).
_CRS_MEMBER_BYTES = 1 << 16


def _check_declared_crs(path: Path, where: str) -> None:
    """A GeoJSON's ``crs`` member (2008 GeoJSON; RFC 7946 has none) must name a CRS pyproj
    knows: GDAL reads an unknown one as WGS 84 without a word, which would put every point
    somewhere else. The member is found before the features without loading the file."""

    from pyproj import CRS
    from pyproj.exceptions import ProjError

    with open(path, "rb") as fh:
        if not fh.seek(0, 2):
            return  # empty: the reader's own message
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            features = data.find(b'"features"')
            end = features if features >= 0 else len(data)
            found = re.compile(rb'"crs"\s*:\s*').search(data, 0, end)
            if found is None:
                return
            text = bytes(data[found.end() : found.end() + _CRS_MEMBER_BYTES])
    try:
        member, _ = json.JSONDecoder().raw_decode(text.decode("utf-8", "replace"))
    except ValueError:
        raise ScenarioError(f"{where}: the file's crs member is not readable JSON") from None
    if member is None:
        return
    props = member.get("properties") if isinstance(member, dict) else None
    name = props.get("name") if isinstance(props, dict) else None
    if not (isinstance(member, dict) and member.get("type") == "name" and isinstance(name, str)):
        raise ScenarioError(
            f"{where}: the file declares its CRS in a form not read here (expected "
            '"crs": {"type": "name", "properties": {"name": ...}}, or no crs for WGS 84)'
        )
    try:
        CRS.from_user_input(name)
    except ProjError:
        raise ScenarioError(
            f"{where}: the file declares a CRS that pyproj does not know (it would be read as "
            "WGS 84); give its EPSG code, or reproject the file"
        ) from None


def cells_of(
    x: np.ndarray, y: np.ndarray, width: int, height: int, cell_size_m: float, where: str
) -> list[list[int]]:
    """[column, row] of each point; ScenarioError naming the first point outside the grid.

    Args:
        x: grid metres east of the north-west corner, m.
        y: grid metres south of it, m.
        width: grid width, cells.
        height: grid height, cells.
        cell_size_m: side of a cell, m.
        where: the file and key, for messages.
    """
    col = np.floor(x / cell_size_m).astype(np.int64)
    row = np.floor(y / cell_size_m).astype(np.int64)
    out = np.flatnonzero((col < 0) | (row < 0) | (col >= width) | (row >= height))
    if out.size:
        k = out[0]
        # The point's coordinates are the file's text: only its position in the file is told.
        raise ScenarioError(
            f"{where}: point {k + 1} lies outside the grid ({width * cell_size_m:g} x "
            f"{height * cell_size_m:g} m from its north-west corner)"
        )
    return np.stack([col, row], axis=1).tolist()
