"""The installed plug-in package (tests/plugins/jiefang_ambulance) from the command line:
``jiefang run``, ``sweep`` on worker processes and on Dask, ``plot``, ``report`` and
``compare`` on a scenario where injuries are served by the ambulance alone; bad names are one
line and exit 2; a plug-in failing mid-run fails that run only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ambulance_plugin")]

SCENARIO = """\
name: ambulances
horizon_hours: 24
drain_hours: 12
replications: 2
city: {width: 20, height: 20, cell_size_m: 100.0, population: 20000}
police: {stations: 1, grids: 4, units: 2}
fleets:
  ambulance: {stations: [[3, 3], [16, 16]], speed_m_s: 12, turnout_s: 60}
incidents:
  rate_per_day: 60
  kinds:
    theft: {share: 2, sudden: false}
    injury: {share: 1, self_rescue: false, volunteers: false, meu_teams: 0, police_units: 0,
             call_probability: 1.0, fleets: {ambulance: 1}}
tiers:
  - {name: police, target_s: 300, responders: [police], clock: alert, incidents: all}
  - {name: medical, target_s: 720, responders: [ambulance], clock: alert}
"""

SWEEP = """\
name: ambulance-staffing
base: ambulances.yaml
seed: 4
replications: 2
grid:
  fleets.ambulance.per_station: [1, 2]
"""


def jiefang(*args, cwd: Path) -> subprocess.CompletedProcess:
    # The environment (PYTHONPATH from the fixture) is inherited: the package is installed.
    return subprocess.run([sys.executable, "-m", "sim", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=500)  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ambulances")
    (path / "ambulances.yaml").write_text(SCENARIO)
    (path / "sweep.yaml").write_text(SWEEP)
    return path


def injuries_cleared(incidents: pd.DataFrame) -> pd.DataFrame:
    injury = incidents[incidents["kind"] == "injury"]
    assert len(injury) > 10
    assert (injury["status"] == "cleared").all()
    assert (injury["first_help_by"] == "ambulance").all()
    return injury


def test_run_plot_report_compare_on_an_ambulance_scenario(folder):
    for seed in (1, 2):
        done = jiefang("run", "ambulances.yaml", "--seed", seed, "--out", f"run{seed}", cwd=folder)
        assert done.returncode == 0, done.stderr
        assert "medical" in done.stdout  # the plug-in tier in the printed summary
        injuries_cleared(pd.read_parquet(folder / f"run{seed}" / "incidents.parquet"))
    manifest = json.loads((folder / "run1" / "manifest.json").read_text())
    assert manifest["plugins"] == {
        "fleets.ambulance": "jiefang_ambulance.fleet:Ambulances (jiefang-ambulance 0.1.0)"
    }
    summary = pd.read_csv(folder / "run1" / "summary.csv")
    assert "medical" in set(summary["tier"])
    plotted = jiefang("plot", "run1", "--out", "figures", cwd=folder)
    assert plotted.returncode == 0, plotted.stderr
    assert (folder / "figures" / "response_ecdf.png").stat().st_size > 0
    reported = jiefang("report", "run1", "--out", "report.html", cwd=folder)
    assert reported.returncode == 0, reported.stderr
    assert "medical" in (folder / "report.html").read_text()
    compared = jiefang("compare", "run1", "run2", "--out", "cmp", cwd=folder)
    assert compared.returncode == 0, compared.stderr
    assert "medical compliance" in compared.stdout


@pytest.mark.parametrize("executor", [["--workers", "2"], ["--scheduler", "local",
                                                          "--workers", "2"]],
                         ids=["processes", "dask"])  # fmt: skip
def test_a_sweep_finds_the_plug_in_in_its_workers(folder, executor):
    out = f"sweep-{executor[1]}"
    done = jiefang("sweep", "sweep.yaml", *executor, "--out", out, "-q", cwd=folder)
    assert done.returncode == 0, done.stderr
    incidents = pd.read_parquet(folder / out / "incidents")
    assert incidents["point_id"].nunique() == 2
    injuries_cleared(incidents)
    for args in (["plot", out, "--out", f"{out}-figures"], ["report", out]):
        shown = jiefang(*args, cwd=folder)
        assert shown.returncode == 0, shown.stderr


def test_a_name_no_installed_package_provides_is_one_line_and_exit_2(folder):
    (folder / "typo.yaml").write_text(SCENARIO.replace("  ambulance: {", "  ambulanse: {"))
    done = jiefang("run", "typo.yaml", "--out", "typo", cwd=folder)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "jiefang: error: typo.yaml: fleets.ambulanse: unknown fleet 'ambulanse'; installed: "
        "professional, ambulance, ambulance_agents, faulty_radio"
    ]
    assert not (folder / "typo").exists()


def test_a_plug_in_failing_mid_run_fails_that_run_and_the_sweep_goes_on(folder):
    faulty = SCENARIO.replace("fleets:\n", "fleets:\n  faulty_radio: {fail_at_alert: 5}\n")
    faulty = faulty.replace("fleets: {ambulance: 1}", "fleets: {ambulance: 1, faulty_radio: 1}")
    (folder / "faulty.yaml").write_text(faulty)
    done = jiefang("run", "faulty.yaml", "--out", "faulty", cwd=folder)
    assert done.returncode == 3
    (line,) = done.stderr.splitlines()
    assert line.startswith("jiefang: run failed: plug-in fleet 'faulty_radio' (alert) at t=")
    assert "RuntimeError: radio link lost" in line
    assert not (folder / "faulty").exists()
    # Alert 5 comes in one replication of the base (rate 60 a day, a third injuries), not
    # with a rare enough failure: the point at 10**6 never fails.
    (folder / "faulty-sweep.yaml").write_text(
        "name: faulty\nbase: faulty.yaml\nseed: 4\nreplications: 2\n"
        "grid:\n  fleets.faulty_radio.fail_at_alert: [5, 1000000]\n"
    )
    swept = jiefang("sweep", "faulty-sweep.yaml", "--workers", "2", "--out", "fs", "-q",
                    cwd=folder)  # fmt: skip
    assert swept.returncode == 3, swept.stderr
    runs = pd.concat(pd.read_parquet(p) for p in (folder / "fs" / "runs").glob("*.parquet"))
    failed = runs[runs["status"] == "error"]
    assert len(failed) == 2 and len(runs) == 4
    assert failed["error"].str.contains("plug-in fleet 'faulty_radio'").all()


def test_plot_and_report_read_a_plug_in_tier_without_the_plug_in(folder, tmp_path):
    # A folder written where the package is installed is read where it is not.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if not (folder / "run1").exists():
        assert (
            jiefang("run", "ambulances.yaml", "--seed", 1, "--out", "run1", cwd=folder).returncode
            == 0
        )
    for args in (["plot", "run1", "--out", tmp_path / "f"], ["report", "run1", "--out",
                                                              tmp_path / "r.html"]):  # fmt: skip
        done = subprocess.run([sys.executable, "-m", "sim", *map(str, args)], cwd=folder,
                              capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr


def test_optimize_judges_a_placement_on_an_ambulance_scenario(folder):
    done = jiefang("optimize", "ambulances.yaml", "--add", "police_posts=1", "--replications",
                   2, "--random-arms", 1, "--out", "opt", "-q", cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stderr
    evaluation = pd.read_csv(folder / "opt" / "evaluation.csv")
    assert set(evaluation["tier"]) == {"police", "medical", "joint"}
    # Police posts do not move ambulances: the medical tier is the base's in every arm.
    medical = evaluation[evaluation["tier"] == "medical"]
    assert medical["compliance"].nunique() == 1


POLICE_ONLY = """\
name: police-only
horizon_hours: 12
drain_hours: 6
city: {width: 20, height: 20, cell_size_m: 100.0, population: 20000}
police: {stations: 1, grids: 4, units: 2}
incidents: {rate_per_day: 60}
"""


@pytest.mark.parametrize(
    ("scenario", "hours", "why"),
    [(SCENARIO, (1, 1), "plug-in fleet 'ambulance' may read the police (reads_police)"),
     (POLICE_ONLY, (1, 1), "turned off (JIEFANG_KERNEL=off)")],
    ids=["plug-in", "police-only"],
)  # fmt: skip
def test_run_v_prints_why_not_compiled_as_the_manifest_records_it(
    scenario, hours, why, tmp_path, monkeypatch, capsys
):
    from sim.interface.cli import main

    if "KERNEL" in why:
        monkeypatch.setenv("JIEFANG_KERNEL", "off")
    else:
        monkeypatch.delenv("JIEFANG_KERNEL", raising=False)
    (tmp_path / "s.yaml").write_text(scenario)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "s.yaml"), "-v", "-r", "2", "--no-plot", "--quiet",
                 "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out.splitlines()
    record = json.loads((out / "manifest.json").read_text())["compiled_loop"]
    assert [r["replication"] for r in record] == [0, 1]
    for rep in record:
        # One advance call per stop (sim.experiment.runner.next_stop: these runs' few
        # incidents, fewer than STOP_INCIDENTS, take one stop to the end); none compiled,
        # each for the same reason.
        assert hours[0] <= rep["advance_calls"] <= hours[1] and rep["compiled_calls"] == 0
        assert rep["why_not_compiled"] == {why: rep["advance_calls"]}
        line = (f"compiled loop, replication {rep['replication']}: 0 of {rep['advance_calls']} "
                f"advance calls compiled; not compiled: {why} ({rep['advance_calls']})")  # fmt: skip
        assert line in printed, printed
    assert ("plug-in: jiefang.fleets: ambulance = jiefang_ambulance.fleet:Ambulances "
            "(jiefang-ambulance)") in printed  # fmt: skip
    quiet = tmp_path / "quiet"
    assert main(["run", str(tmp_path / "s.yaml"), "--no-plot", "--quiet", "--out",
                 str(quiet)]) == 0  # fmt: skip
    assert capsys.readouterr().out == ""  # without -v: nothing of this
    assert json.loads((quiet / "manifest.json").read_text())["compiled_loop"][0] == record[0]
