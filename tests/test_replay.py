"""Historical incidents replayed (incidents.replay, jiefang run --incidents): the same incidents
in every replication, at the file's times and places; bad files are one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from sim.model.config import ScenarioError
from tests.conftest import run

SCENARIO = """\
name: replay-test
horizon_hours: 4
drain_hours: 2
replications: 2
city: {width: 20, height: 20, cell_size_m: 100.0, population: 20000CITY}
police: {stations: 1, grids: 4, units: 2}
incidents:
  rate_per_day: 48
  kinds:
    fight: {share: 1.0}
    fire: {share: 1.0, sudden: true}
"""

ROWS = [  # time_s, x_m, y_m, kind
    (60.0, 150.0, 250.0, "fight"),
    (3600.0, 1950.0, 10.0, "fire"),
    (30.0, 1000.0, 1000.0, "fire"),
    (7200.5, 5.0, 1999.0, "fight"),
    (7200.5, 500.0, 500.0, "fire"),
]


def write_case(
    folder: Path, rows=ROWS, extra: str = "", header: str = "time_s,x_m,y_m,kind", city: str = ""
) -> Path:
    """s.yaml (SCENARIO, ``city`` keys added to its city, ``extra`` lines added to its
    incidents) and log.csv (``rows`` under ``header``) in ``folder``."""
    lines = [header] + [",".join(str(v) for v in row) for row in rows]
    (folder / "log.csv").write_text("\n".join(lines) + "\n")
    (folder / "s.yaml").write_text(SCENARIO.replace("CITY", city) + extra)
    return folder / "s.yaml"


def in_helsinki(sc, replay: Path | None = None):
    """``sc`` placed in central Helsinki (EPSG:3067), replaying ``replay`` if given. Built with
    with_changes: a YAML list is not yet accepted for city.origin under strict validation."""
    changes: dict = {"city.crs": "EPSG:3067", "city.origin": (385_000.0, 6_673_000.0)}
    if replay is not None:
        changes["incidents.replay"] = str(replay)
    return sc.with_changes(changes)


def replayed(path: Path, **kwargs):
    return load_scenario(path, **kwargs)


def test_replay_gives_exactly_those_incidents_in_every_replication(tmp_path):
    sc = replayed(write_case(tmp_path, extra="  replay: log.csv\n"))
    want = sorted(ROWS, key=lambda r: r[0])
    for replication in (0, 1):
        _, inc, _ = run(sc, seed=3, replication=replication)
        assert len(inc) == len(ROWS)
        assert inc["occurred_s"].tolist() == [r[0] for r in want]
        assert inc["x_m"].tolist() == [r[1] for r in want]
        assert inc["y_m"].tolist() == [r[2] for r in want]
        assert inc["kind"].tolist() == [r[3] for r in want]
        assert not inc["probe"].any()


def test_add_mode_is_replay_plus_the_generated_incidents(tmp_path):
    path = write_case(tmp_path, extra="  replay: log.csv\n  replay_mode: add\n")
    sc = replayed(path)
    (tmp_path / "plain").mkdir()
    plain = load_scenario(write_case(tmp_path / "plain"))
    _, both, _ = run(sc, seed=1)
    _, generated, _ = run(plain, seed=1)
    assert len(generated) > 0
    assert len(both) == len(generated) + len(ROWS)
    # The generated incidents are drawn as without the replay (common random numbers).
    key = ["occurred_s", "x_m", "y_m", "kind"]
    merged = both[key].merge(generated[key], how="inner")
    assert len(merged) == len(generated)


def test_staffing_changes_keep_the_replay_identical(tmp_path):
    sc = replayed(write_case(tmp_path, extra="  replay: log.csv\n"))
    more = sc.with_changes({"police.units": 5})
    assert more.replay == sc.replay
    key = ["occurred_s", "x_m", "y_m", "kind", "alerted_s", "detected_by"]
    _, a, _ = run(sc, seed=2, replication=1)
    _, b, _ = run(more, seed=2, replication=1)
    assert a[key].equals(b[key])


def test_replay_details_vary_by_replication_but_not_the_incidents(tmp_path):
    sc = replayed(write_case(tmp_path, extra="  replay: log.csv\n"))
    m0, _, _ = run(sc, seed=0, replication=0)
    m1, _, _ = run(sc, seed=0, replication=1)
    np.testing.assert_array_equal(m0.incidents.occurred_s, m1.incidents.occurred_s)
    assert not np.array_equal(m0.incidents.handling_s, m1.incidents.handling_s)


def test_iso_times_start_at_midnight_of_the_first_day_or_replay_start(tmp_path):
    rows = [("2024-05-01T01:00:00", 100.0, 100.0, "fight"),
            ("2024-05-01T03:30:00", 200.0, 100.0, "fire")]  # fmt: skip
    sc = replayed(write_case(tmp_path, rows, "  replay: log.csv\n", "time,x_m,y_m,kind"))
    assert sc.replay.occurred_s.tolist() == [3600.0, 3.5 * 3600.0]
    sc = replayed(
        write_case(
            tmp_path,
            rows,
            "  replay: log.csv\n  replay_start: '2024-05-01T00:30'\n",
            "time,x_m,y_m,kind",
        )
    )
    assert sc.replay.occurred_s.tolist() == [1800.0, 3 * 3600.0]


def test_lon_lat_need_the_frame_and_land_where_they_say(tmp_path):
    pytest.importorskip("pyproj")
    from sim.geo.crs import GridFrame

    frame = GridFrame("EPSG:3067", 385_000.0, 6_673_000.0)
    lon, lat = frame.to_lonlat([150.0, 1250.0], [250.0, 700.0])
    rows = [(60.0, lon[0], lat[0], "fight"), (90.0, lon[1], lat[1], "fire")]
    plain = load_scenario(write_case(tmp_path, rows, "", "time_s,lon,lat,kind"))
    sc = in_helsinki(plain, tmp_path / "log.csv")
    np.testing.assert_allclose(sc.replay.xy, [[150.0, 250.0], [1250.0, 700.0]], atol=1e-6)
    with pytest.raises(ScenarioError, match=r"lon/lat columns need city\.crs"):
        replayed(write_case(tmp_path, rows, "  replay: log.csv\n", "time_s,lon,lat,kind"))


def test_cli_incidents_overrides_the_scenario(tmp_path, capsys):
    path = write_case(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("time_s,x_m,y_m,kind\n10,100,100,fight\n20,300,300,fire\n")
    out = tmp_path / "out"
    assert main(["run", str(path), "--incidents", str(other), "--out", str(out), "-q",
                 "--no-plot"]) == 0  # fmt: skip
    import pandas as pd

    inc = pd.read_parquet(out / "incidents.parquet")
    assert inc.groupby("replication").size().tolist() == [2, 2]
    assert inc["occurred_s"].tolist() == [10.0, 20.0, 10.0, 20.0]


BAD = {
    "empty": ("", "file is empty"),
    "header only": ("time_s,x_m,y_m,kind\n", "no incidents"),
    "no time": ("x_m,y_m,kind\n1,1,fight\n", "no time column"),
    "no place": ("time_s,kind\n1,fight\n", "no place columns"),
    "no kind": ("time_s,x_m,y_m\n1,1,1\n", "no kind column"),
    "bad time": ("time_s,x_m,y_m,kind\n1,1,1,fight\nsoon,1,1,fight\n", "line 3: time_s"),
    "bad iso": ("time,x_m,y_m,kind\n2024-13-45T99:00,1,1,fight\n", "line 2: time: expected an ISO"),
    "past horizon": ("time_s,x_m,y_m,kind\n14400,1,1,fight\n", r"line 2: time_s: expected a time in \[0, 14400\)"),
    "negative": ("time_s,x_m,y_m,kind\n-1,1,1,fight\n", "line 2: time_s"),
    "unknown kind": ("time_s,x_m,y_m,kind\n1,1,1,SECRETKIND\n", "line 2: kind: expected one of"),
    "off grid": ("time_s,x_m,y_m,kind\n1,2000,1,fight\n", "line 2: x_m/y_m: expected a place on the grid"),
    "nan place": ("time_s,x_m,y_m,kind\n1,nan,1,fight\n", "line 2: x_m"),
    "binary": (b"\xff\xfe\x00garbage", "not a UTF-8"),
    "ragged": ("time_s,x_m,y_m,kind\n1,1,1,fight,extra,more\n", "not a readable CSV"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_replay_files_exit_2_with_one_line_naming_file_and_key(name, tmp_path, capsys):
    text, expected = BAD[name]
    path = write_case(tmp_path, extra="  replay: log.csv\n")
    log = tmp_path / "log.csv"
    log.write_bytes(text if isinstance(text, bytes) else text.encode())
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q", "--no-plot"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"{path}: incidents.replay: {log}" in err
    assert "SECRETKIND" not in err
    import re

    assert re.search(expected, err), err


def test_water_refused_and_missing_file_named(tmp_path, capsys):
    path = write_case(tmp_path, extra="  replay: nowhere.csv\n")
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "-q"]) == 2
    assert "nowhere.csv: file not found" in capsys.readouterr().err
    river = ", rivers: [{axis: horizontal, position: 0.5, width_cells: 2, bridges: 1}]"
    path = write_case(tmp_path, [(1.0, 500.0, 1000.0, "fight")], "  replay: log.csv\n",
                      city=river)  # fmt: skip
    with pytest.raises(ScenarioError, match="line 2: x_m/y_m: expected a place on land"):
        load_scenario(path)


def test_replay_keys_without_a_file_are_refused(tmp_path):
    path = write_case(tmp_path, extra="  replay_mode: add\n")
    with pytest.raises(ScenarioError, match=r"incidents\.replay_mode: add needs incidents\.replay"):
        load_scenario(path)
    path = write_case(tmp_path, extra="  replay: log.csv\n  replay_start: tomorrow\n")
    with pytest.raises(ScenarioError, match="replay_start: expected an ISO 8601"):
        load_scenario(path)


def test_too_many_rows_refused_before_parsing(tmp_path, monkeypatch):
    from sim.geo import replay

    monkeypatch.setattr(replay, "MAX_REPLAY_ROWS", 3)
    with pytest.raises(ScenarioError, match="about 5 rows; at most 3"):
        load_scenario(write_case(tmp_path, extra="  replay: log.csv\n"))


# ---------------------------------------------------------------------------- GIS outputs
def helsinki_run(tmp_path: Path, replications: int = 2):
    pytest.importorskip("geopandas")
    from sim.experiment.runfolder import write_run

    sc = in_helsinki(load_scenario(write_case(tmp_path, extra="  replay: log.csv\n"
                                              "  replay_mode: add\n")))  # fmt: skip
    sc = sc.with_changes({"meus.count": 3, "volunteers.count": 50, "layout": "fixed"})
    out = tmp_path / "out"
    write_run(sc, 0, replications, out, plot=False)
    return sc, out


def test_a_city_with_a_frame_gets_layers_in_central_helsinki(tmp_path):
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    sc, out = helsinki_run(tmp_path)
    # The run's layers, and one zones_<tier> layer per tier of its tier table (issue 25).
    zones = [*(f"zones_{tier.name}" for tier in sc.tiers), "zones_joint"]
    assert sorted(pyogrio.list_layers(out / "layers.gpkg")[:, 0]) == sorted([
        "cells", "incidents", "meu_sites", "police_stations", "responders", *zones])  # fmt: skip
    for layer in ("cells", "police_stations", "meu_sites", "responders", "incidents"):
        gdf = gpd.read_file(out / "layers.gpkg", layer=layer)
        assert gdf.crs.to_epsg() == 3067 and len(gdf) > 0
        lonlat = gdf.geometry.centroid.to_crs("EPSG:4326")
        assert lonlat.x.between(24.9, 25.0).all() and lonlat.y.between(60.15, 60.19).all()
    cells = gpd.read_file(out / "layers.gpkg", layer="cells")
    assert len(cells) == 400 and cells.geometry.area.round(6).eq(100.0 * 100.0).all()
    inc = pd.read_parquet(out / "incidents.parquet")
    # The north-west cell (row 0, col 0) is the cell whose square holds the grid's origin.
    nw = cells[(cells["row"] == 0) & (cells["col"] == 0)].geometry.iloc[0]
    assert nw.bounds == (385_000.0, 6_672_900.0, 385_100.0, 6_673_000.0)
    counted = inc[~inc["in_warmup"] & ~inc["probe"]]
    assert cells["incidents"].sum() == len(counted)
    from sim.analysis.metrics import tier_times

    times = tier_times(inc, sc.tiers)
    for tier in sc.tiers:  # per-cell counts add up to the run's, pooled over replications
        n, share = cells[f"n_{tier.name}"], cells[f"compliance_{tier.name}"]
        mine = times[times["tier"] == tier.name]
        assert n.sum() == len(mine)
        assert (n * share.fillna(0)).sum() == pytest.approx(mine["met"].sum())
    assert cells["median_time_to_help_s"].notna().sum() == (cells["incidents"] > 0).sum()
    assert inc["lon"].between(24.9, 25.0).all() and inc["lat"].between(60.15, 60.19).all()
    # The incidents layer: a point per incident of every replication, at its lon/lat.
    layer = gpd.read_file(out / "layers.gpkg", layer="incidents").sort_values(
        ["replication", "incident_id"]
    )
    ordered = inc.sort_values(["replication", "incident_id"])
    assert len(layer) == len(inc)
    assert layer["kind"].tolist() == ordered["kind"].tolist()
    back = layer.geometry.to_crs("EPSG:4326")
    np.testing.assert_allclose(back.x, ordered["lon"], atol=1e-7)
    np.testing.assert_allclose(back.y, ordered["lat"], atol=1e-7)
    assert list(inc.columns[inc.columns.get_loc("y_m") + 1 :][:2]) == ["lon", "lat"]
    sites = json.loads((out / "sites.geojson").read_text())
    assert sites["type"] == "FeatureCollection" and "crs" not in sites
    points = [f["geometry"]["coordinates"] for f in sites["features"]]
    assert len(points) == len(gpd.read_file(out / "layers.gpkg", layer="police_stations")) + 3
    assert all(24.9 < lon < 25.0 and 60.15 < lat < 60.19 for lon, lat in points)
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"layers", "sites_geojson"} <= set(manifest["files"])
    assert len(manifest["replay"]["sha256"]) == 64


def test_assignments_join_incidents_and_responders_by_id(tmp_path):
    import geopandas as gpd
    import pandas as pd

    _, out = helsinki_run(tmp_path)
    inc = pd.read_parquet(out / "incidents.parquet")
    asg = pd.read_parquet(out / "assignments.parquet")
    units = gpd.read_file(out / "layers.gpkg", layer="responders")
    assert len(asg) > 0
    joined = asg.merge(inc, on=["replication", "incident_id"], how="left", validate="m:1")
    assert joined["occurred_s"].notna().all()
    sent = joined[joined["responder"].isin(["police", "meu"])]
    placed = sent.merge(units, on=["layout", "responder", "responder_id"], how="left",
                        validate="m:1")  # fmt: skip
    assert placed["geometry"].notna().all() and len(placed) > 0


def test_a_grid_run_imports_no_geo_library_and_writes_nothing_geographic(tmp_path):
    import subprocess
    import sys

    path = write_case(tmp_path)
    code = (
        "import sys\nfrom sim.interface.cli import main\n"
        f"assert main(['run', {str(path)!r}, '--out', {str(tmp_path / 'out')!r}, '-q',"
        " '--no-plot', '-r', '1']) == 0\n"
        "geo = ('pyproj', 'geopandas', 'shapely', 'pyogrio', 'fiona', 'rasterio')\n"
        "print(sorted(m for m in geo if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    assert done.stdout.splitlines()[-1] == "[]"
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert not written & {"layers.gpkg", "sites.geojson"}
    import pandas as pd

    assert "lon" not in pd.read_parquet(tmp_path / "out" / "incidents.parquet").columns


def test_report_map_axes_are_the_city_crs(tmp_path):
    from sim.experiment.report import run_figures

    _, out = helsinki_run(tmp_path, replications=1)
    ax = run_figures(out)["city_map"].axes[0]
    assert ax.get_xlim() == pytest.approx((385.0, 387.0))  # 20 cells of 100 m east
    assert sorted(ax.get_ylim()) == pytest.approx([6671.0, 6673.0])  # 2 km south of 6673
    assert "EPSG:3067" in ax.get_xlabel()
    stations = gpd_points(out, "police_stations")
    offsets = ax.collections[-1].get_offsets()  # the station markers, drawn last
    assert offsets[:, 0] == pytest.approx(stations[:, 0] / 1000)
    assert offsets[:, 1] == pytest.approx(stations[:, 1] / 1000)


def gpd_points(out: Path, layer: str) -> np.ndarray:
    import geopandas as gpd

    gdf = gpd.read_file(out / "layers.gpkg", layer=layer)
    return np.stack([gdf.geometry.x, gdf.geometry.y], axis=1)


def test_the_shipped_replay_example_loads_with_its_40_incidents():
    from tests.conftest import SCENARIOS

    sc = load_scenario(SCENARIOS / "replay" / "demo-replay.yaml")
    assert len(sc.replay) == 40 and sc.incidents.replay_mode == "replace"
    assert sc.replay.occurred_s.min() >= 2 * 3600  # after the demo's 2 h warm-up


def test_a_sweeps_run_key_changes_with_the_replay_files_content(tmp_path):
    from sim.experiment.sweep import run_key

    path = write_case(tmp_path, extra="  replay: log.csv\n")
    before = run_key(load_scenario(path), 0, 0)
    write_case(tmp_path, ROWS[:-1], extra="  replay: log.csv\n")
    assert run_key(load_scenario(path), 0, 0) != before


def test_times_with_an_offset_are_converted_to_utc(tmp_path):
    rows = [("2024-05-01T04:00:00+03:00", 100.0, 100.0, "fight"),
            ("2024-05-01T02:30:00Z", 200.0, 100.0, "fire")]  # fmt: skip
    sc = replayed(write_case(tmp_path, rows, "  replay: log.csv\n", "time,x_m,y_m,kind"))
    assert sc.replay.occurred_s.tolist() == [3600.0, 2.5 * 3600.0]


def test_the_budget_counts_replayed_rows_not_an_unused_rate(tmp_path):
    from sim.model.budget import replication_estimate

    path = write_case(tmp_path, extra="  replay: log.csv\n")
    text = path.read_text().replace("rate_per_day: 48", "rate_per_day: 1e12")
    path.write_text(text)
    sc = load_scenario(path)  # replace mode: the rate draws nothing, so nothing is refused
    assert "5 incidents" in replication_estimate(sc).what
    path.write_text(text + "  replay_mode: add\n")
    with pytest.raises(ScenarioError, match="over the"):
        load_scenario(path)
