"""``city.crs`` checked with the scenario: a projected CRS in metres that pyproj can take to
longitude and latitude.

An unknown or engineering CRS was pyproj's traceback after the whole simulation, when the
GIS layers were written; a CRS in degrees added metres to degrees. The check belongs to the
scenario (the model layer); the conversions themselves are :mod:`sim.geo.crs`'s. pyproj is
the geo extra's: without it nothing is checked here and the layers' writer asks for it.
"""

from __future__ import annotations

import functools
import importlib.util

#: Longitude and latitude, the CRS every GIS layer can be taken to.
LONLAT = "EPSG:4326"


@functools.lru_cache(maxsize=16)
def crs_problem(text: str) -> str | None:
    """What is wrong with ``text`` as city.crs, or None (once per CRS: a sweep validates
    every point)."""
    if importlib.util.find_spec("pyproj") is None:
        return None
    from pyproj import CRS, Transformer
    from pyproj.exceptions import ProjError

    try:
        crs = CRS.from_user_input(text)
        # always_xy as sim.geo.crs converts: (easting, northing) to (lon, lat).
        Transformer.from_crs(text, LONLAT, always_xy=True)
    except ProjError:
        return ("not a CRS pyproj knows and can transform to longitude/latitude (give a "
                "projected CRS in metres, e.g. EPSG:3067)")  # fmt: skip
    units = {str(a.unit_name).lower() for a in crs.axis_info}
    if not crs.is_projected or not units <= {"metre", "meter"}:
        return ("expected a projected CRS in metres (e.g. EPSG:3067 or a UTM zone); the grid's "
                "x and y are metres from city.origin")  # fmt: skip
    return None
