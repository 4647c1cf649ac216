"""Where the grid lies on the Earth: the one frame every geographic input and output uses.

The model works in grid metres: ``x`` grows east from the grid's west edge, ``y`` grows
*south* from its north edge (row 0 is the northern row, as in a map file read top to bottom).
A city with ``city.crs`` (a projected CRS in metres) and ``city.origin`` (that CRS's
easting and northing of the grid's north-west corner) places those metres on the Earth:

    easting  = origin_e + x_m
    northing = origin_n - y_m

Longitude/latitude go through pyproj (the ``geo`` extra), imported only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sim.model.config.sections import CityConfig

LONLAT = "EPSG:4326"


@dataclass(frozen=True)
class GridFrame:
    """A grid placed in a projected CRS.

    Args:
        crs: the projected CRS in metres, any string pyproj accepts (``"EPSG:3067"``).
        origin_e: easting of the grid's north-west corner in ``crs``, m.
        origin_n: northing of the grid's north-west corner in ``crs``, m.
    """

    crs: str
    origin_e: float
    origin_n: float

    def __post_init__(self) -> None:
        if not (np.isfinite(self.origin_e) and np.isfinite(self.origin_n)):
            raise ValueError("origin must be finite metres")

    # ------------------------------------------------------------- grid <-> projected
    def to_crs(self, x_m: Any, y_m: Any) -> tuple[np.ndarray, np.ndarray]:
        """Grid metres -> (easting, northing) in ``crs``."""
        return self.origin_e + np.asarray(x_m, float), self.origin_n - np.asarray(y_m, float)

    def from_crs(self, e: Any, n: Any) -> tuple[np.ndarray, np.ndarray]:
        """(easting, northing) in ``crs`` -> grid metres."""
        return np.asarray(e, float) - self.origin_e, self.origin_n - np.asarray(n, float)

    # ------------------------------------------------------------- grid <-> lon/lat
    def to_lonlat(self, x_m: Any, y_m: Any) -> tuple[np.ndarray, np.ndarray]:
        """Grid metres -> (longitude, latitude) in degrees (WGS 84)."""
        e, n = self.to_crs(x_m, y_m)
        lon, lat = _transformer(self.crs, LONLAT).transform(e, n)
        return np.asarray(lon, float), np.asarray(lat, float)

    def from_lonlat(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """(longitude, latitude) in degrees (WGS 84) -> grid metres."""
        e, n = _transformer(LONLAT, self.crs).transform(
            np.asarray(lon, float), np.asarray(lat, float)
        )
        return self.from_crs(e, n)


def frame_of(city: CityConfig) -> GridFrame | None:
    """The city's frame, or None for a city with no CRS (a synthetic grid)."""
    if not city.has_frame:
        return None
    assert city.crs is not None and city.origin is not None  # (has_frame)
    return GridFrame(city.crs, float(city.origin[0]), float(city.origin[1]))


def _transformer(src: str, dst: str):
    from sim.extras import require

    require("geo")
    from pyproj import Transformer

    # always_xy: (lon, lat) and (easting, northing) order whatever the CRS's axis order says.
    return Transformer.from_crs(src, dst, always_xy=True)
