"""A population raster (GeoTIFF, any CRS) placed as the grid and resampled onto it.

The raster sets the grid: its CRS is the city's (``city.crs``) or the UTM zone of the
raster's centre, the grid's north-west corner is the raster's (``city.origin`` unless given)
and the grid covers the raster's whole extent in ``cell_size_m`` cells. Residents are moved
onto the grid by GDAL's ``sum`` resampling (each grid cell sums the pixels it overlaps,
weighted by the overlap), then scaled so the grid holds exactly the raster's total: no
resident is lost at the edges or created by rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.model.config.errors import ScenarioError

#: The grid's largest side, cells (the config's limit on width and height).
MAX_CELLS = 4000
#: The most pixels read: the raster is read whole, so its size is checked from its header
#: first (a 1.2 MB sparse GeoTIFF can declare 100,000 x 100,000 pixels). 64 million is an
#: 8000 x 8000 raster, twice the largest grid's resolution, about 1.3 GB as float32 while read.
MAX_PIXELS = 64_000_000
#: Bytes a pixel takes while read besides its own type: its mask, the float64 copy, the
#: copy with no-data filled.
_BYTES_PER_PIXEL_READ = 1 + 8 + 8
#: More residents than any city has: the sum of a raster of 1e308 residents a pixel is not
#: a population (and overflows to infinity).
MAX_RESIDENTS = 1e10


@dataclass(frozen=True)
class RasterGrid:
    """Where a population raster puts the grid.

    Args:
        crs: the grid's projected CRS (``"EPSG:32635"``).
        origin_e: easting of the grid's north-west corner, m.
        origin_n: northing of the grid's north-west corner, m.
        width: cells west-east.
        height: cells north-south.
        total: residents in the raster, persons.
    """

    crs: str
    origin_e: float
    origin_n: float
    width: int
    height: int
    total: float


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_mtime_ns, st.st_size


def read_population(path: Path, where: str):
    """(residents per pixel with no-data as 0, transform, CRS as WKT) of the raster's first
    band; ScenarioError naming ``where`` for an unreadable, CRS-less, negative or empty one."""
    try:
        key = _stamp(path)
    except OSError:
        raise ScenarioError(f"{where}: cannot read the file") from None
    got = _READ.get(key)  # per file, not per message: load and build share one read
    if got is None:
        got = _read(key[0], where)
        if len(_READ) >= 4:
            _READ.pop(next(iter(_READ)))
        _READ[key] = got
    return got


_READ: dict[tuple[str, int, int], tuple] = {}


def _read(name: str, where: str):
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(name) as ds:
            if ds.crs is None:
                raise ScenarioError(
                    f"{where}: the raster has no CRS (a GeoTIFF with a coordinate reference "
                    "system is expected)"
                )
            if ds.count < 1 or ds.width == 0 or ds.height == 0:
                raise ScenarioError(f"{where}: the raster is empty (no band or no pixels)")
            _check_size(ds, where)
            band = ds.read(1, masked=True)
            transform, crs = ds.transform, ds.crs.to_wkt()
    except RasterioError:
        raise ScenarioError(
            f"{where}: cannot read the raster (not a GeoTIFF rasterio can open, or damaged)"
        ) from None
    data = np.ma.filled(band.astype(np.float64), 0.0)
    data[~np.isfinite(data)] = 0.0  # NaN pixels are no data, as the mask's
    if np.any(data < 0):
        raise ScenarioError(f"{where}: the raster has negative residents per pixel")
    with np.errstate(over="ignore"):
        total = data.sum()
    if not total > 0:
        raise ScenarioError(f"{where}: the raster is empty (no residents in any pixel)")
    if not total <= MAX_RESIDENTS:
        raise ScenarioError(
            f"{where}: the raster holds more than {MAX_RESIDENTS:.0e} residents in all (its "
            "values are not residents per pixel)"
        )
    return data, transform, crs


def _check_size(ds, where: str) -> None:
    """Refuse a raster too big to read, from its header, before any pixel is read."""
    pixels = ds.width * ds.height
    itemsize = np.dtype(ds.dtypes[0]).itemsize
    if pixels > MAX_PIXELS:
        need = pixels * (itemsize + _BYTES_PER_PIXEL_READ)
        raise ScenarioError(
            f"{where}: the raster has {ds.width:,} x {ds.height:,} pixels of {ds.dtypes[0]} "
            f"(about {need / 1e9:.3g} GB to read), more than the {MAX_PIXELS:,} pixels read at "
            "most; resample it coarser first (e.g. gdalwarp -tr)"
        )


def utm_of(lon: float, lat: float) -> str:
    """The WGS 84 UTM zone's CRS holding (lon, lat): metres with little distortion."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def raster_grid(
    path: Path, crs: str | None, origin: tuple[float, float] | None, cell_size_m: float,
    where: str,
) -> RasterGrid:  # fmt: skip
    """The grid a population raster sets (see the module's docstring).

    Args:
        path: the GeoTIFF.
        crs: the grid's CRS, or None for the UTM zone of the raster's centre.
        origin: easting and northing of the grid's north-west corner in ``crs``, m, or None
            for the raster's north-west corner.
        cell_size_m: side of a grid cell, m.
        where: the file and key, for messages.
    """
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    data, transform, src_crs = read_population(path, where)
    bounds = array_bounds(data.shape[0], data.shape[1], transform)  # west, south, east, north
    try:
        with _gdal_quiet():
            if crs is None:
                w, s, e, n = transform_bounds(src_crs, "EPSG:4326", *bounds, densify_pts=21)
                if not all(math.isfinite(v) for v in (w, s, e, n)):
                    raise ValueError("no lon/lat")
                crs = utm_of((w + e) / 2, (s + n) / 2)
            west, south, east, north = transform_bounds(src_crs, crs, *bounds, densify_pts=21)
    except Exception:  # pyproj/GDAL raise several kinds for a CRS they cannot use
        into = "city.crs" if crs is not None else "longitude/latitude to choose a UTM zone"
        raise ScenarioError(
            f"{where}: cannot transform the raster's CRS into {into} (an engineering or "
            "local CRS cannot be placed on the Earth)"
        ) from None
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise ScenarioError(f"{where}: the raster's extent does not transform into city.crs")
    if origin is None:
        oe, on = float(math.floor(west)), float(math.ceil(north))
    else:
        oe, on = float(origin[0]), float(origin[1])
        if west < oe - 1e-6 or north > on + 1e-6:
            raise ScenarioError(
                f"{where}: the raster reaches west or north of city.origin (the grid's "
                "north-west corner); leave origin out to take the raster's"
            )
    width = max(1, math.ceil((east - oe) / cell_size_m - 1e-9))
    height = max(1, math.ceil((on - south) / cell_size_m - 1e-9))
    if width > MAX_CELLS or height > MAX_CELLS:
        raise ScenarioError(
            f"{where}: the raster spans {width} x {height} cells of {cell_size_m:g} m, more than "
            f"{MAX_CELLS} a side; raise city.cell_size_m"
        )
    return RasterGrid(crs, oe, on, width, height, float(data.sum()))


def population_on_grid(
    path: Path, crs: str, origin: tuple[float, float], width: int, height: int,
    cell_size_m: float, where: str,
) -> np.ndarray:  # fmt: skip
    """Residents per grid cell, ``[row, col]``, summing to the raster's total.

    Args:
        path: the GeoTIFF.
        crs: the grid's CRS.
        origin: easting and northing of the grid's north-west corner, m.
        width: cells west-east.
        height: cells north-south.
        cell_size_m: side of a cell, m.
        where: the file and key, for messages.
    """
    data, transform, src_crs = read_population(path, where)
    grid = np.zeros((height, width), np.float64)
    with _gdal_quiet():
        _reproject_sum(data, grid, transform, src_crs, crs, origin, cell_size_m)
    grid[~np.isfinite(grid)] = 0.0
    got = grid.sum()
    if not got > 0:
        raise ScenarioError(f"{where}: no resident of the raster falls on the grid")
    # Resampling sums by overlap; the scale makes the total exactly the raster's.
    return grid * (float(data.sum()) / got)


def _reproject_sum(data, grid, transform, src_crs, crs, origin, cell_size_m) -> None:
    """``data`` summed onto ``grid`` by overlap (GDAL's ``sum`` resampling), in place."""
    from affine import Affine
    from rasterio.warp import Resampling, reproject

    reproject(
        source=data,
        destination=grid,
        src_transform=transform,
        src_crs=src_crs,
        dst_transform=Affine(cell_size_m, 0.0, origin[0], 0.0, -cell_size_m, origin[1]),
        dst_crs=crs,
        resampling=Resampling.sum,
        src_nodata=None,
        dst_nodata=None,
    )


def _gdal_quiet():
    """GDAL's messages through rasterio's handler into Python logging (captured by the
    command line), not GDAL's default handler, which prints ``ERROR 6: ...`` and the whole
    CRS as JSON on stderr."""
    import rasterio

    return rasterio.Env()
