"""`jiefang run` end to end: outputs, exit codes, determinism, no tracebacks for mistakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sim.interface.cli import main
from sim.model.records import INCIDENT_COLUMNS
from tests.conftest import SCENARIOS

DEMO = SCENARIOS / "demo.yaml"


def jiefang(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim.interface.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "out"
    result = jiefang("run", str(DEMO), "--seed", "3", "-r", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out, result


@pytest.mark.slow
def test_run_writes_every_output(demo_run):
    out, result = demo_run
    for name in ("incidents.parquet", "assignments.parquet", "summary.json", "summary.csv",
                 "manifest.json", "response_ecdf.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    assert "compliance" in result.stdout and "mutual" in result.stdout


def test_incident_table_has_documented_columns_and_both_replications(demo_run):
    df = pd.read_parquet(demo_run[0] / "incidents.parquet")
    assert list(df.columns) == ["replication", *INCIDENT_COLUMNS]
    assert sorted(df["replication"].unique()) == [0, 1]
    assert df["incident_id"].is_unique is False  # ids restart per replication
    assert not df.duplicated(["replication", "incident_id"]).any()


@pytest.mark.parametrize(
    ("clock", "start"),
    [("occurrence", "occurred_s"), ("alert", "alerted_s"), ("dispatch", "police_dispatched_s")],
)
def test_police_compliance_on_each_clock_recomputed_from_the_table(demo_run, clock, start):
    """By hand from incidents.parquet: reported sudden incidents (probes included) that need
    police, first unit on scene within 5 minutes of the clock's start; a unit never sent or
    never arrived is a failure."""
    out = demo_run[0]
    summary = json.loads((out / "summary.json").read_text())
    df = pd.read_parquet(out / "incidents.parquet")
    df = df[~df["in_warmup"]]
    met = []
    for _, rep in df.groupby("replication"):
        counted = rep[rep["sudden"] & (rep["police_needed"] > 0) & rep["alerted_s"].notna()]
        t = (counted["first_police_s"] - counted[start]).fillna(np.inf)
        met.append(float((t <= 300.0).mean()))
    assert summary["tiers"]["police"]["by_clock"][clock]["mean"] == pytest.approx(np.mean(met))
    assert summary["replications"] == 2
    if clock == "alert":  # the tier's own clock is the headline figure
        assert summary["tiers"]["police"]["compliance"]["mean"] == pytest.approx(np.mean(met))


def test_manifest_records_seed_scenario_and_file_hashes(demo_run):
    manifest = json.loads((demo_run[0] / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["replications"] == 2
    assert manifest["scenario"]["name"] == "demo"
    assert len(manifest["files"]["incidents"]["sha256"]) == 64
    assert manifest["environment"]["packages"]["mesa"].startswith("3.")


@pytest.mark.slow
def test_same_bytes_in_this_process_and_in_another(tmp_path):
    args = ["run", str(DEMO), "--seed", "8", "-r", "2", "-q", "--no-plot", "--out"]
    assert main([*args, str(tmp_path / "here")]) == 0
    assert jiefang(*args, str(tmp_path / "there")).returncode == 0
    for name in ("incidents.parquet", "assignments.parquet", "summary.csv", "summary.json"):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "there" / name).read_bytes()


@pytest.mark.slow
def test_same_seed_same_bytes_and_other_seed_differs(tmp_path):
    outs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        assert main(["run", str(DEMO), "--seed", str(seed), "-r", "1", "-q", "--no-plot",
                     "--out", str(tmp_path / name)]) == 0  # fmt: skip
        outs.append((tmp_path / name / "incidents.parquet").read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "missing.yaml"], 2, "file not found"),
        (["run", str(DEMO), "--seed", "-1"], 2, "expected a number >= 0"),
        (["run", str(DEMO), "--replications", "0"], 2, "expected a number >= 1"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
@pytest.mark.slow
def test_user_mistakes_exit_2_without_traceback(args, code, message):
    result = jiefang(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_bad_scenario_file_exits_2_naming_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: " + str(DEMO) + "\nvolunteers: {count: -5}\n")
    result = jiefang("run", str(bad), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert f"{bad}: volunteers.count: Input should be greater than or equal to 0" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o").exists()  # nothing ran


@pytest.mark.slow
def test_unwritable_output_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = jiefang("run", str(DEMO), "-r", "1", "-q", "--out", str(blocker / "sub"))
    assert result.returncode == 2
    assert "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_help_and_version():
    assert jiefang("--help").returncode == 0
    assert "--seed" in jiefang("run", "--help").stdout
    assert jiefang("--version").stdout.startswith("jiefang ")


def test_help_imports_nothing_heavy():
    # --help and argument errors answer before numpy, pandas, pydantic, scipy or Mesa load
    # (their imports were most of a second); benchmarks/bench_scale.py times it.
    code = (
        "import sys\n"
        "from sim.interface.cli import main\n"
        "for argv in (['--help'], ['run', '--help'], ['sweep', '--help'], ['run']):\n"
        "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
        "heavy = ('numpy', 'pandas', 'pydantic', 'scipy', 'mesa', 'matplotlib', 'yaml')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "[]"


def test_a_missing_extra_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "solara", None)  # find_spec then says "not installed"
    assert main(["view"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "jiefang: error: the browser view (jiefang view) needs the viz extra: "
        "pip install 'jiefang[viz]'\n"
    )


def test_dask_without_its_extra_is_the_same_clear_error(monkeypatch):
    from sim.experiment.executors import dask
    from sim.extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'jiefang\[dask\]'$"):
        next(dask([], "local", 1))


@pytest.mark.parametrize(("given", "want"), [(None, "1"), ("4", "4")])
def test_the_command_runs_blas_on_one_thread_unless_told(given, want):
    """The command line sets OPENBLAS_NUM_THREADS=1 before numpy loads (OpenBLAS's idle
    threads spin after each call: CPU for nothing on jiefang's small matrices), and a value
    the user set stays."""
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if given is not None:
        env["OPENBLAS_NUM_THREADS"] = given
    code = ("import sys, os; import sim.interface.cli; import numpy; "
            "print(os.environ['OPENBLAS_NUM_THREADS'])")  # fmt: skip
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=120, check=True)  # fmt: skip
    assert got.stdout.strip() == want
    before = subprocess.run([sys.executable, "-c", "import sim, sys; print('numpy' in sys.modules)"],
                            capture_output=True, text=True, env=env, timeout=120, check=True)  # fmt: skip
    assert before.stdout.strip() == "False"  # nothing loads numpy before sim.interface
