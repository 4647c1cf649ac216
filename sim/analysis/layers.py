"""GIS outputs of a run whose city has a frame (``city.crs`` + ``city.origin``).

``jiefang run`` writes, besides its tables (docs/outputs.md):

- ``layers.gpkg``, in the city's CRS: ``cells`` (one square per grid cell: its layout, the
  volunteers living there, and per-cell results over every replication: incidents, each
  tier's compliance, the median time to help), ``police_stations``, ``meu_sites`` and
  ``responders`` (every police unit at its station and MEU at its site, with the
  ``responder``/``responder_id`` that assignments.parquet uses) and ``incidents`` (a point
  per incident of every replication, joinable by ``replication``/``incident_id``);
- ``sites.geojson``: police stations and MEU sites in longitude/latitude (RFC 7946);
- ``lon``/``lat`` columns on incidents.parquet (:func:`with_lonlat`).

Layout tables come from :func:`layout_geo`, called on each layout's first model; nothing here
imports a geo library until a file is written (a grid run never gets here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.analysis.metrics import as_tiers, empirical_quantile, tier_times
from sim.files import atomic_write_bytes
from sim.geo.crs import GridFrame
from sim.model.vocab import LandUse

if TYPE_CHECKING:
    from sim.model.config import Scenario
    from sim.model.response import ResponseModel


@dataclass(frozen=True)
class LayoutGeo:
    """What the GIS layers need of one layout, taken from its first model.

    Args:
        layout: the layout index (incidents.parquet's ``layout``).
        width, height: cells west-east and north-south.
        cell_size_m: side of a cell, m.
        land_use, population, camera, police_grid: per cell, row-major (row 0 north).
        volunteer_homes: volunteers living in each cell, row-major.
        station_xy: (stations, 2) police stations, grid m.
        unit_station: station index of each police unit (its responder_id's station).
        meu_xy: (MEUs, 2) MEU sites, grid m.
    """

    layout: int
    width: int
    height: int
    cell_size_m: float
    land_use: np.ndarray
    population: np.ndarray
    camera: np.ndarray
    police_grid: np.ndarray
    volunteer_homes: np.ndarray
    station_xy: np.ndarray
    unit_station: np.ndarray
    meu_xy: np.ndarray


def layout_geo(model: ResponseModel) -> LayoutGeo:
    """The layout of ``model`` as the layers need it (homes counted per cell: a volunteer's
    home is not published)."""
    city = model.city
    labels = np.array([u.label for u in LandUse], dtype=object)
    homes = model.volunteers.home_xy
    col, row = city.cell_of(homes) if len(homes) else (np.zeros(0, int), np.zeros(0, int))
    cells = city.width * city.height
    return LayoutGeo(
        layout=model.layout,
        width=city.width,
        height=city.height,
        cell_size_m=float(city.cell_size_m),
        land_use=labels[city.land_use.ravel()],
        population=np.asarray(city.population, float).ravel(),
        camera=np.asarray(city.camera, bool).ravel(),
        police_grid=np.asarray(city.grid_of_cell).ravel(),
        volunteer_homes=np.bincount(row * city.width + col, minlength=cells).astype(np.int64),
        station_xy=np.asarray(city.station_xy, float).reshape(-1, 2),
        unit_station=np.asarray(model.police.station, np.int64),
        meu_xy=np.asarray(model.meus.xy, float).reshape(-1, 2),
    )


def with_lonlat(incidents: pd.DataFrame, frame: GridFrame) -> pd.DataFrame:
    """``incidents`` with ``lon`` and ``lat`` (degrees, WGS 84) after ``y_m``."""
    lon, lat = frame.to_lonlat(incidents["x_m"].to_numpy(float), incidents["y_m"].to_numpy(float))
    out = incidents.copy()
    at = out.columns.get_loc("y_m") + 1
    out.insert(at, "lon", lon)
    out.insert(at + 1, "lat", lat)
    return out


def cell_results(incidents: pd.DataFrame, scenario: Scenario, g: LayoutGeo) -> pd.DataFrame:
    """Per-cell results over every replication (incidents after warm-up, probes apart):
    ``incidents`` and ``incidents_per_replication``; per tier, ``n_<tier>`` counted and
    ``compliance_<tier>`` (share met, pooled; NaN where none was counted); and
    ``median_time_to_help_s`` (occurrence to first help; inf where more than half were
    never helped, NaN where there were none)."""
    cells = g.width * g.height
    real = incidents[~incidents["in_warmup"].to_numpy(bool) & ~incidents["probe"].to_numpy(bool)]
    reps = max(int(incidents["replication"].nunique()), 1) if len(incidents) else 1
    cell = _cell_index(real, g)
    out = pd.DataFrame({"incidents": np.bincount(cell, minlength=cells)})
    out["incidents_per_replication"] = out["incidents"] / reps
    times = tier_times(incidents, scenario.tiers, by=("x_m", "y_m"))
    for tier in scenario.tiers:
        sub = times[times["tier"] == tier.name]
        at = _cell_index(sub, g)
        n = np.bincount(at, minlength=cells)
        met = np.bincount(at, weights=sub["met"].to_numpy(float), minlength=cells)
        out[f"n_{tier.name}"] = n
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"compliance_{tier.name}"] = np.where(n > 0, met / np.maximum(n, 1), np.nan)
    wait = (real["first_help_s"] - real["occurred_s"]).to_numpy(float)
    wait = np.where(np.isnan(wait), np.inf, wait)
    median = np.full(cells, np.nan)
    for c, values in pd.Series(wait).groupby(cell):
        median[int(c)] = empirical_quantile(values.to_numpy(), 0.5)
    out["median_time_to_help_s"] = median
    return out


def _cell_index(df: pd.DataFrame, g: LayoutGeo) -> np.ndarray:
    col = np.clip((df["x_m"].to_numpy(float) // g.cell_size_m).astype(np.int64), 0, g.width - 1)
    row = np.clip((df["y_m"].to_numpy(float) // g.cell_size_m).astype(np.int64), 0, g.height - 1)
    return row * g.width + col


def site_tables(layouts: list[LayoutGeo]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(police stations, MEU sites, responders) of every layout, positions in grid m.

    ``station_id`` is the station's index in its layout; ``meu_id`` is the MEU's index, the
    ``responder_id`` of its rows (``responder == "meu"``) in assignments.parquet; a police
    unit's ``responder_id`` is its index, placed at its station."""
    stations, meus, units = [], [], []
    for g in layouts:
        stations.append(pd.DataFrame({
            "layout": g.layout, "station_id": np.arange(len(g.station_xy)),
            "units": np.bincount(g.unit_station, minlength=len(g.station_xy)),
            "x_m": g.station_xy[:, 0], "y_m": g.station_xy[:, 1],
        }))  # fmt: skip
        meus.append(pd.DataFrame({
            "layout": g.layout, "meu_id": np.arange(len(g.meu_xy)),
            "x_m": g.meu_xy[:, 0], "y_m": g.meu_xy[:, 1],
        }))  # fmt: skip
        police_xy = g.station_xy[g.unit_station] if len(g.unit_station) else np.zeros((0, 2))
        units.append(pd.DataFrame({
            "layout": g.layout,
            "responder": ["police"] * len(g.unit_station) + ["meu"] * len(g.meu_xy),
            "responder_id": np.concatenate([np.arange(len(g.unit_station)),
                                            np.arange(len(g.meu_xy))]),
            "station_id": np.concatenate([g.unit_station, np.full(len(g.meu_xy), -1)]),
            "x_m": np.concatenate([police_xy[:, 0], g.meu_xy[:, 0]]),
            "y_m": np.concatenate([police_xy[:, 1], g.meu_xy[:, 1]]),
        }))  # fmt: skip
    return tuple(pd.concat(p, ignore_index=True) for p in (stations, meus, units))


#: Columns of the ``incidents`` layer (those the incidents table has), joinable with
#: incidents.parquet and assignments.parquet by (replication, incident_id); with the tiers'
#: columns, all that :func:`write_layers` reads (a streamed table is read back with them).
INCIDENT_LAYER_COLUMNS = (
    "replication", "incident_id", "kind", "sudden", "probe", "in_warmup", "layout",
    "occurred_s", "detected_by", "first_help_s", "first_help_by", "first_meu_s",
    "first_volunteer_s", "first_police_s", "status", "x_m", "y_m",
)  # fmt: skip


def incident_points(incidents: pd.DataFrame) -> pd.DataFrame:
    """The incidents of every replication as the ``incidents`` point layer's table."""
    return incidents[[c for c in INCIDENT_LAYER_COLUMNS if c in incidents.columns]].reset_index(
        drop=True
    )


def write_layers(
    folder: Path,
    scenario: Scenario,
    frame: GridFrame,
    incidents: pd.DataFrame,
    layouts: list[LayoutGeo],
) -> dict[str, Path]:
    """Write layers.gpkg and sites.geojson into ``folder`` (a staged run folder); returns
    {manifest name: path}. ``layouts``: every layout the run used, first replication's
    first."""
    from sim.extras import require

    require("geo")
    import geopandas as gpd
    from shapely import box

    first = layouts[0]
    rows, cols = np.divmod(np.arange(first.width * first.height), first.width)
    s = first.cell_size_m
    west, north = frame.to_crs(cols * s, rows * s)
    geometry = box(west, north - s, west + s, north)
    cells = pd.DataFrame({
        "layout": first.layout, "col": cols, "row": rows, "land_use": first.land_use,
        "population": first.population, "camera": first.camera,
        "police_grid": first.police_grid, "volunteer_homes": first.volunteer_homes,
    })  # fmt: skip
    cells = pd.concat([cells, cell_results(incidents, scenario, first)], axis=1)
    path = folder / "layers.gpkg"
    gpd.GeoDataFrame(cells, geometry=geometry, crs=frame.crs).to_file(
        path, layer="cells", driver="GPKG", engine="pyogrio"
    )
    stations, meus, units = site_tables(layouts)
    points = incident_points(incidents)
    for name, table in (("police_stations", stations), ("meu_sites", meus), ("responders", units),
                        ("incidents", points)):  # fmt: skip
        e, n = frame.to_crs(table["x_m"], table["y_m"])
        gdf = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(e, n), crs=frame.crs)
        gdf.to_file(path, layer=name, driver="GPKG", engine="pyogrio", append=True)
    geojson = folder / "sites.geojson"
    _write_sites_geojson(geojson, frame, stations, meus)
    return {"layers": path, "sites_geojson": geojson}


def _write_sites_geojson(
    path: Path, frame: GridFrame, stations: pd.DataFrame, meus: pd.DataFrame
) -> None:
    """RFC 7946: WGS 84 longitude/latitude, no ``crs`` member; written with json (7 decimals,
    about 1 cm) so the file does not depend on a driver's version."""
    features = []
    for site, table, id_column in (("police_station", stations, "station_id"),
                                   ("meu", meus, "meu_id")):  # fmt: skip
        lon, lat = frame.to_lonlat(table["x_m"], table["y_m"])
        for i, rec in enumerate(table.itertuples(index=False)):
            props = {"site": site, "layout": int(rec.layout),
                     id_column: int(getattr(rec, id_column)),
                     "x_m": float(rec.x_m), "y_m": float(rec.y_m)}  # fmt: skip
            if site == "police_station":
                props["units"] = int(rec.units)
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point",
                             "coordinates": [round(float(lon[i]), 7), round(float(lat[i]), 7)]},
                "properties": props,
            })  # fmt: skip
    doc = {"type": "FeatureCollection", "features": features}
    atomic_write_bytes(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"))


def zone_layer_name(tier: str) -> str:
    """The GeoPackage layer of one tier's compliance by zone."""
    return f"zones_{tier}"


def write_zone_layers(path: Path, frame: GridFrame, area: pd.DataFrame, tiers) -> list[str]:
    """Append to the GeoPackage ``path`` one polygon layer per tier (and ``zones_joint``):
    every planning zone of breakdown_area.parquet (an edge zone clipped to the city), with
    that tier's row of the table (compliance and interval, counts, P90, too_few). Returns the
    layers."""
    from sim.extras import require

    require("geo")
    import geopandas as gpd
    from shapely import box

    names = [*(t.name for t in as_tiers(tiers)), "joint"]
    written = []
    for tier in names:
        rows = area[area["tier"] == tier].reset_index(drop=True)
        if rows.empty:
            continue
        x0, y0 = rows["x_m"].to_numpy(float), rows["y_m"].to_numpy(float)
        wide, high = rows["width_m"].to_numpy(float), rows["height_m"].to_numpy(float)
        west, north = frame.to_crs(x0, y0)
        geometry = box(west, north - high, west + wide, north)
        layer = zone_layer_name(tier)
        gpd.GeoDataFrame(rows, geometry=geometry, crs=frame.crs).to_file(
            path, layer=layer, driver="GPKG", engine="pyogrio", append=True
        )
        written.append(layer)
    return written
