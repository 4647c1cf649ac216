"""Optional parts (extras) and the error for a missing one.

A missing extra is neither a bad scenario nor a bad output folder: it is the installation.
The CLI reports it in one line with the command that installs it (exit 2).
"""

from __future__ import annotations

import importlib.util

EXTRAS = {
    "dask": ("distributed", "a Dask sweep (--scheduler)"),
    "viz": ("solara", "the browser view (jiefang view)"),
    "plan": ("spopt,pulp,highspy", "placement optimisation (jiefang optimize)"),
    "geo": (
        "pyproj,shapely,geopandas,pyogrio,rasterio,pyrosm",
        "real geography (CRS, GIS files, road networks)",
    ),
}


class MissingExtraError(RuntimeError):
    """An optional dependency this feature needs is not installed."""


def require(extra: str) -> None:
    """Raise :class:`MissingExtraError` unless ``extra``'s key module can be imported."""
    modules, feature = EXTRAS[extra]
    if any(importlib.util.find_spec(m) is None for m in modules.split(",")):
        raise MissingExtraError(
            f"{feature} needs the {extra} extra: pip install 'jiefang[{extra}]'"
        )
