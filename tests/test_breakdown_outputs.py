"""Breakdown outputs through the command line (issue 25): the run folder's tables and
manifest, the figures `jiefang plot` draws from them, the GeoPackage layers of a geography
run, `jiefang breakdown` and `compare`, old folders refused in one message, and the sweep's
shares (a fixed denominator, intervals inside [0, 1])."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim.analysis.breakdown import TABLES, VALUE_COLUMNS
from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from tests.conftest import SCENARIOS

NAMES = [*TABLES, "breakdown_equity"]


def _run(tmp_path, scenario, name, *extra):
    out = tmp_path / name
    assert main(["run", str(scenario), "-q", "--out", str(out), *extra]) == 0
    return out


def _check_folder(out, tiers):
    meta = json.loads((out / "manifest.json").read_text())
    for name in NAMES:
        assert name in meta["files"], name
    hour = pd.read_parquet(out / "breakdown_hour.parquet")
    assert sorted(set(hour["hour"])) == list(range(24))
    assert sorted(set(hour["tier"])) == sorted([*tiers, "joint"])
    area = pd.read_parquet(out / "breakdown_area.parquet")
    assert list(area.columns[-len(VALUE_COLUMNS) :]) == VALUE_COLUMNS
    # Every zone of the city, once per tier; shares only where enough incidents.
    assert len(area) == area["zone"].nunique() * (len(tiers) + 1)
    shown = area[~area["too_few"]]
    assert (shown["incidents"] >= shown["min_incidents"]).all()
    assert area.loc[area["too_few"], "compliance"].isna().all()
    for table in (hour, area, pd.read_parquet(out / "breakdown_landuse.parquet"),
                  pd.read_parquet(out / "breakdown_kind.parquet")):  # fmt: skip
        ok = table.dropna(subset=["ci95_low"])
        assert ((ok["ci95_low"] >= 0) & (ok["ci95_low"] <= ok["compliance"])
                & (ok["compliance"] <= ok["ci95_high"]) & (ok["ci95_high"] <= 1)).all()  # fmt: skip
    # The counts add up: each tier's incidents over the hours are its incidents over zones.
    for tier in tiers:
        assert hour.loc[hour["tier"] == tier, "incidents"].sum() == \
            area.loc[area["tier"] == tier, "incidents"].sum()  # fmt: skip
    return meta


def _check_plots(out, tiers):
    assert main(["plot", str(out)]) == 0
    for tier in [*tiers, "joint"]:
        for kind in ("zones", "hours"):
            png = out / "figures" / f"{kind}_{tier}.png"
            assert png.stat().st_size > 20_000, png  # drawn, not an empty canvas


@pytest.mark.slow
def test_guangzhou_city_preset_shortened(tmp_path):
    scenario = tmp_path / "gz.yaml"
    scenario.write_text(f"extends: {SCENARIOS / 'guangzhou-2023.yaml'}\nname: gz-short\n"
                        "horizon_hours: 3\nwarmup_hours: 1\ndrain_hours: 1\n"
                        "replications: 1\n")  # fmt: skip
    out = _run(tmp_path, scenario, "gz")
    official = ["self", "mutual", "unit_grid", "street", "professional"]  # tiers: guangzhou-2024
    _check_folder(out, official)
    area = pd.read_parquet(out / "breakdown_area.parquet")
    assert area["zone"].nunique() == 86 * 86  # 430 cells of 200 m in 1 km zones
    _check_plots(out, official)


@pytest.mark.slow
def test_helsinki_writes_tables_figures_and_a_layer_per_tier(tmp_path):
    pyogrio = pytest.importorskip("pyogrio")
    out = _run(tmp_path, SCENARIOS / "helsinki.yaml", "hel", "-r", "1")
    meta = _check_folder(
        out,
        [t["name"] for t in json.loads((out / "manifest.json").read_text())["scenario"]["tiers"]],
    )
    tiers = [t["name"] for t in meta["scenario"]["tiers"]]
    layers = {name for name, _ in pyogrio.list_layers(out / "layers.gpkg")}
    assert {f"zones_{t}" for t in [*tiers, "joint"]} <= layers
    import geopandas as gpd

    area = pd.read_parquet(out / "breakdown_area.parquet")
    for tier in tiers:
        layer = gpd.read_file(out / "layers.gpkg", layer=f"zones_{tier}")
        rows = area[area["tier"] == tier]
        assert len(layer) == len(rows)
        assert layer["incidents"].tolist() == rows["incidents"].tolist()
        # Zones are squares of zone_m in the city's CRS, edge zones clipped to the city.
        side = float(rows["zone_m"].iloc[0])
        area_m2 = (rows["width_m"] * rows["height_m"]).to_numpy(float)
        assert np.allclose(layer.geometry.area, area_m2) and (area_m2 <= side * side).all()
        cell_m = float(meta["scenario"]["city"]["cell_size_m"])
        assert area_m2.sum() == pytest.approx(rows["cells"].sum() * cell_m**2)  # the city
    _check_plots(out, tiers)


def test_breakdown_command_and_old_folders(tmp_path, capsys):
    scenario = tmp_path / "short.yaml"
    scenario.write_text(f"extends: {SCENARIOS / 'demo.yaml'}\nname: short\nhorizon_hours: 26\n"
                        "incidents: {probes_per_day: 300}\n")  # fmt: skip
    out = _run(tmp_path, scenario, "run", "-r", "2")
    capsys.readouterr()
    assert main(["breakdown", str(out), "--min-incidents", "5",
                 "--out", str(tmp_path / "bd")]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "police   worst zones: zone" in printed and "worst hours: " in printed
    # The cells of the police tier's worst zones, for `jiefang optimize --candidates`.
    cand = pd.read_csv(tmp_path / "bd" / "candidates_police.csv")
    area = pd.read_parquet(tmp_path / "bd" / "breakdown_area.parquet")
    ranked = area[(area["tier"] == "police") & ~area["too_few"]].sort_values(
        ["compliance", "incidents"], ascending=[True, False]
    )
    tenth = -(-len(ranked) // 10)
    city = load_scenario(SCENARIOS / "demo.yaml").city
    across = -(-city.width // 5)  # 1 km zones per row
    assert set((cand["row"] // 5) * across + cand["col"] // 5) == set(ranked["zone"].head(tenth))
    assert main(["breakdown", str(out), "--zone-cells", "1", "--out", str(tmp_path / "b1")]) == 0
    area = pd.read_parquet(tmp_path / "b1" / "breakdown_area.parquet")
    assert area["zone"].nunique() == city.width * city.height and (area["zone_m"] == 200).all()
    # Bad sizes and land uses: one line, exit 2, nothing written.
    for args, expected in ((["--zone-cells", "4"], "breakdown.zone_cells: 4 cells does not"),
                           (["--land-use", "hospital_x"], "breakdown.focus_land_use")):  # fmt: skip
        assert main(["breakdown", str(out), *args, "--out", str(tmp_path / "no")]) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and err.count("\n") == 1
        assert not (tmp_path / "no").exists()
    # A breakdown table of another version: plot and report say so in one line, exit 2.
    from sim.experiment.store import sha256

    meta = json.loads((out / "manifest.json").read_text())
    saved = (out / "breakdown_area.parquet").read_bytes()
    pd.read_parquet(out / "breakdown_area.parquet").drop(columns=["width_m"]).to_parquet(
        out / "breakdown_area.parquet"
    )
    changed = {
        **meta,
        "files": {
            **meta["files"],
            "breakdown_area": {
                "path": "breakdown_area.parquet",
                "sha256": sha256(out / "breakdown_area.parquet"),
            },
        },
    }
    (out / "manifest.json").write_text(json.dumps(changed))
    for command in ("plot", "report"):
        assert main([command, str(out)]) == 2
        err = capsys.readouterr().err
        assert "breakdown_area.parquet: missing columns width_m" in err and err.count("\n") == 1
    (out / "breakdown_area.parquet").write_bytes(saved)
    # A folder from a version before layouts were written: one clear message, exit 2.
    for name in ("layout_cells", "layout_sites", *NAMES):
        meta["files"].pop(name)
    (out / "manifest.json").write_text(json.dumps(meta))
    assert main(["breakdown", str(out), "--out", str(tmp_path / "old")]) == 2
    err = capsys.readouterr().err
    assert "written by an older jiefang" in err and err.count("\n") == 1
    # Its figures are drawn without the breakdown ones (never an empty figure).
    assert main(["plot", str(out)]) == 0
    assert not list((out / "figures").glob("zones_*"))


def test_compare_gives_the_worst_places_paired(tmp_path, capsys):
    a = tmp_path / "a.yaml"
    common = (
        "horizon_hours: 26\nbreakdown: {min_incidents: 10}\n"
        "incidents: {probes_per_day: 300}\n"
    )  # probes: sudden, counted by the tiers
    a.write_text(f"extends: {SCENARIOS / 'demo.yaml'}\nname: a\n{common}")
    b = tmp_path / "b.yaml"
    b.write_text(f"extends: {SCENARIOS / 'demo.yaml'}\nname: b\n{common}police: {{units: 30}}\n")
    ra, rb = _run(tmp_path, a, "ra", "-r", "3"), _run(tmp_path, b, "rb", "-r", "3")
    capsys.readouterr()
    assert main(["compare", str(ra), str(rb), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert "the worst places (A's worst zones held fixed)" in printed
    eq = pd.read_csv(tmp_path / "cmp" / "compare_equity.csv")
    police = eq[(eq["tier"] == "police") & (eq["comparison"] == "worst_zones")]
    worst = police[police["group"].str.startswith("A's worst")].iloc[0]
    # More police: A's worst zones gain, and the interval is paired over 3 replications.
    assert worst["pairs"] == 3 and worst["difference"] > 0
    assert worst["difference"] == pytest.approx(worst["b"] - worst["a"])
    assert -1 <= worst["ci95_low"] <= worst["difference"] <= worst["ci95_high"] <= 1
    assert main(["report", str(tmp_path / "cmp")]) == 0
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert "<h2>The worst places</h2>" in page and "A&#x27;s worst" in page


# ------------------------------------------------------------------ sweeps
def _incidents(on_scene: list[bool], met: list[bool]) -> pd.DataFrame:
    n = len(on_scene)
    return pd.DataFrame({
        "replication": 0, "incident_id": np.arange(n), "kind": "k", "sudden": True,
        "probe": False, "in_warmup": False, "land_use": "residential", "hour": 0,
        "x_m": 10.0, "y_m": 10.0, "kind_self_rescue": True, "kind_volunteers": False,
        "meu_teams_needed": 0, "police_needed": 0, "meu_staff_on_scene": on_scene,
        "volunteer_on_scene": False, "occurred_s": 0.0, "alerted_s": 0.0,
        "police_dispatched_s": np.nan,
        "self_rescue_s": [30.0 if m else np.nan for m in met],
        "self_rescue_by": ["meu_staff" if m else "" for m in met],
        "first_meu_s": np.nan, "first_volunteer_s": np.nan, "first_police_s": np.nan,
        "status": "cleared",
    })  # fmt: skip


def test_sweep_self_rescue_share_keeps_its_denominator():
    from sim.experiment.outcome import run_metrics

    tiers = [{"name": "self", "target_s": 60.0, "responders": ["meu_staff"],
              "clock": "occurrence", "scope": "on_scene"}]  # fmt: skip
    # Few staff: 2 of 10 incidents have someone on scene, both helped. More staff: 5 on
    # scene, 4 helped. Of those on scene the share falls (100 % -> 80 %); of all incidents
    # of the kind it rises (20 % -> 40 %), which is what the sweep reports.
    few = _incidents([True] * 2 + [False] * 8, [True] * 2 + [False] * 8)
    more = _incidents([True] * 5 + [False] * 5, [True] * 4 + [False] * 6)
    a, b = run_metrics(few, tiers), run_metrics(more, tiers)
    assert (a["self_compliance"], b["self_compliance"]) == (0.2, 0.4)
    assert (a["self_incidents"], b["self_incidents"]) == (10.0, 10.0)
    assert (a["self_scope_share"], b["self_scope_share"]) == (0.2, 0.5)
    assert a["joint_compliance"] == 0.2 and b["joint_compliance"] == 0.4


def test_sweep_point_intervals_stay_inside_0_1():
    from sim.experiment.batch import _points

    runs = pd.DataFrame({"point_id": 0, "status": "ok", "replication": range(3),
                         "mutual_compliance": [1.0, 0.5, 1.0], "mutual_incidents": [4, 4, 4],
                         "open_share": [0.0, 0.0, 0.6],
                         "mutual_p90_s": [100.0, 300.0, 200.0]})  # fmt: skip
    points = _points(runs, [], ["mutual_compliance", "open_share", "mutual_p90_s"])
    by = points.set_index("metric")
    for metric in ("mutual_compliance", "open_share"):
        r = by.loc[metric]
        assert 0.0 <= r["ci95_low"] <= r["mean"] <= r["ci95_high"] <= 1.0, metric
        assert r["ci95_half_width"] == pytest.approx((r["ci95_high"] - r["ci95_low"]) / 2)
    # The t interval of these three values reaches past 1; the share's interval does not.
    assert by.loc["mutual_compliance", "ci95_high"] == 1.0
    assert by.loc["open_share", "ci95_low"] == 0.0
    # A time keeps its Student-t interval, symmetric about the mean.
    t = by.loc["mutual_p90_s"]
    assert t["mean"] - t["ci95_low"] == pytest.approx(t["ci95_high"] - t["mean"])
