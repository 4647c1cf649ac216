"""Plans and replays on a city read from GIS files (scenarios/helsinki.yaml).

A scenario's site files are spelled out as cells when it loads, so a scenario written from
it (``optimised.yaml``) runs the cells it lists, and errors in a replay file name the
scenario the user ran even when GIS files were resolved on the way.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.geo.scenario import load_scenario
from sim.model.config import ScenarioError

pytest.importorskip("rasterio")
ROOT = Path(__file__).resolve().parents[1]
HELSINKI = ROOT / "scenarios" / "helsinki.yaml"


def _copy_helsinki(tmp_path: Path) -> Path:
    for name in ("helsinki.yaml", "guangzhou-2023.yaml"):
        shutil.copy(ROOT / "scenarios" / name, tmp_path / name)
    shutil.copytree(ROOT / "scenarios" / "helsinki", tmp_path / "helsinki")
    return tmp_path / "helsinki.yaml"


def test_site_files_are_spelled_out_as_cells_when_the_scenario_loads():
    sc = load_scenario(HELSINKI)
    assert sc.police.stations_file is None and sc.meus.sites_file is None
    assert sc.city.sites_file is None
    assert len(sc.police.station_cells) == sc.police.stations == 1
    assert len(sc.meus.site_cells) == sc.meus.count == 4
    assert sc.city.key_sites


def test_replay_error_names_the_scenario_and_file_when_gis_files_are_resolved(tmp_path):
    _copy_helsinki(tmp_path)
    (tmp_path / "bad.csv").write_text("time_s,x_m,y_m,kind\n10,500,500,no-such-kind\n")
    hz = tmp_path / "hz.yaml"
    hz.write_text("extends: helsinki.yaml\nincidents: {replay: bad.csv, replay_mode: replace}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(hz)
    msg = str(err.value)
    assert msg.startswith(f"{hz}: incidents.replay: {tmp_path / 'bad.csv'}: line 2: kind")
    assert "<changes>" not in msg and "no-such-kind" not in msg


@pytest.mark.slow
def test_police_post_plan_on_a_real_city_runs_as_evaluated(tmp_path):
    out = tmp_path / "plan"
    cmd = [sys.executable, "-m", "sim"]
    subprocess.run([*cmd, "optimize", str(HELSINKI), "--add", "police_posts=1", "-r", "3",
                    "--random-arms", "2", "--out", str(out), "-q"], check=True, cwd=ROOT)  # fmt: skip
    text = (out / "optimised.yaml").read_text()
    assert "stations_file: null" in text
    ev = pd.read_csv(out / "evaluation.csv").set_index(["arm", "tier"])["compliance"]
    subprocess.run([*cmd, "run", str(out / "optimised.yaml"), "--seed", "0", "-r", "3",
                    "--out", str(tmp_path / "run"), "-q"], check=True, cwd=ROOT)  # fmt: skip
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    whole = summary[(summary["scope"] == "all") & (summary["metric"] == "compliance")
                    & summary["own_clock"]]  # fmt: skip
    got = whole.set_index("tier")["mean"]
    assert got["police"] == pytest.approx(ev[("optimised", "police")], rel=1e-9)
    assert got["police"] != pytest.approx(ev[("base", "police")], rel=1e-9)


@pytest.mark.slow
def test_meu_plan_budget_check_accepts_a_scenario_that_pins_its_sites(tmp_path):
    out = tmp_path / "plan"
    r = subprocess.run([sys.executable, "-m", "sim", "optimize", str(HELSINKI), "--add",
                        "meus=1", "-r", "2", "--random-arms", "1", "--out", str(out), "-q"],
                       cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "sites_file: null" in (out / "optimised.yaml").read_text()


def test_a_folder_given_as_candidates_is_named_as_a_folder_not_a_yaml_file(tmp_path):
    r = subprocess.run([sys.executable, "-m", "sim", "optimize", str(HELSINKI), "--add",
                        "meus=1", "--candidates", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"jiefang: error: --candidates {tmp_path}: is a directory, expected a file"
    ]
