"""Issue 15: the planner on real geography. On a road network the coverage of a candidate
site uses the street trips the model uses; candidate files are read in lon/lat (CSV) or in
their own CRS (GeoJSON, GeoPackage); placement.geojson is in lon/lat."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("rasterio")
pytest.importorskip("geopandas")

from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from sim.model.config import ScenarioError
from tests.test_geo_inputs import city_files

MEUS = "  sites_file: meus.csv\n  coverage_radius_m: 400\n"
PLACES = np.array([[450.0, 250.0], [1050.0, 650.0], [250.0, 850.0]])  # grid metres


def _lonlat_csv(path, frame, xy=PLACES):
    lon, lat = frame.to_lonlat(xy[:, 0], xy[:, 1])
    rows = "".join(f"c{k},{a:.8f},{b:.8f}\n" for k, (a, b) in enumerate(zip(lon, lat, strict=True)))
    path.write_text("name,lon,lat\n" + rows)
    return path


def test_coverage_on_a_road_network_uses_street_trips(tmp_path):
    from sim.geo.crs import frame_of
    from sim.planning import coverage
    from sim.planning.candidates import pin_layout, read_candidates
    from sim.planning.plan import objective_tiers

    sc = load_scenario(city_files(tmp_path, meus=MEUS))
    layout = pin_layout(sc, 0)
    city, roads = layout.city, layout.city.roads
    assert roads is not None  # the planner's city travels on the scenario's streets
    frame = frame_of(sc.city)
    assert frame is not None
    cands = read_candidates(_lonlat_csv(tmp_path / "c.csv", frame), city, layout.scenario)
    flat = (PLACES[:, 1] // 100).astype(int) * city.width + (PLACES[:, 0] // 100).astype(int)
    assert sorted(cands.tolist()) == sorted(flat.tolist())
    # The same places as GeoJSON in the grid's CRS are the same cells.
    e, n = frame.to_crs(PLACES[:, 0], PLACES[:, 1])
    feats = [{"type": "Feature", "properties": {},
              "geometry": {"type": "Point", "coordinates": [float(a), float(b)]}}
             for a, b in zip(e, n, strict=True)]  # fmt: skip
    gj = {
        "type": "FeatureCollection",
        "features": feats,
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3067"}},
    }
    (tmp_path / "c.geojson").write_text(json.dumps(gj))
    again = read_candidates(tmp_path / "c.geojson", city, layout.scenario)
    assert again.tolist() == cands.tolist()

    (tier, responder), *_ = objective_tiers(layout.scenario, "mutual", "meus")
    svc = coverage.service(layout, tier, responder)
    rng = np.random.default_rng(3)
    pts = rng.uniform([0, 0], [city.width * 100.0, city.height * 100.0], (300, 2))
    cell = (pts[:, 1] // 100).astype(int) * city.width + (pts[:, 0] // 100).astype(int)
    limit = 400.0
    s, p, d = coverage._pairs(layout, cands, pts, cell, svc, limit)
    site_xy = city.cell_centre(cands % city.width, cands // city.width).reshape(-1, 2)
    # Each pair's distance is the street trip, and the pairs are exactly those within reach
    # along the streets (brute force over every site and point).
    np.testing.assert_array_equal(d, roads.pair_distances(site_xy[s], pts[p]))
    S, P = np.meshgrid(np.arange(cands.size), np.arange(pts.shape[0]), indexing="ij")
    street = roads.pair_distances(site_xy[S.ravel()], pts[P.ravel()])
    within = street <= limit + 1e-6
    assert set(zip(s.tolist(), p.tolist(), strict=True)) == set(
        zip(S.ravel()[within].tolist(), P.ravel()[within].tolist(), strict=True)
    )
    # The streets matter here: some points within the Manhattan reach are not covered.
    manhattan = np.abs(site_xy[S.ravel()] - pts[P.ravel()]).sum(axis=1)
    assert np.any((manhattan <= limit) & ~within)


def test_optimize_on_streets_reads_lonlat_candidates_and_writes_lonlat(tmp_path):
    pytest.importorskip("spopt")
    from sim.geo.crs import frame_of

    path = city_files(tmp_path, meus=MEUS)
    frame = frame_of(load_scenario(path).city)
    assert frame is not None
    cands = _lonlat_csv(tmp_path / "c.csv", frame)
    out = tmp_path / "plan"
    assert main(["optimize", str(path), "--add", "meus=1", "--replications", "2",
                 "--random-arms", "1", "--candidates", str(cands), "--out", str(out),
                 "--quiet"]) == 0  # fmt: skip
    doc = json.loads((out / "placement.geojson").read_text())
    assert "EPSG:4326" in doc["coordinate_system"]
    for f in doc["features"]:
        lon, lat = f["geometry"]["coordinates"]
        x, y = f["properties"]["x_m"], f["properties"]["y_m"]
        want = frame.to_lonlat([x], [y])
        assert lon == pytest.approx(float(want[0][0]), abs=1e-6)
        assert lat == pytest.approx(float(want[1][0]), abs=1e-6)
    # optimised.yaml loads: its site cells replace the scenario's MEU file.
    sc = load_scenario(out / "optimised.yaml")
    assert sc.meus.count == 4 and len(sc.meus.site_cells or []) == 4


def test_a_lonlat_candidate_outside_the_grid_is_one_clear_line(tmp_path):
    from sim.geo.crs import frame_of
    from sim.planning.candidates import pin_layout, read_candidates

    sc = load_scenario(city_files(tmp_path, meus=MEUS))
    layout = pin_layout(sc, 0)
    frame = frame_of(sc.city)
    assert frame is not None
    with pytest.raises(ScenarioError, match=r"--candidates .*: point 1: cell .* is outside"):
        read_candidates(_lonlat_csv(tmp_path / "c.csv", frame, np.array([[-500.0, 50.0]])),
                        layout.city, layout.scenario)  # fmt: skip
