"""The public API: what a notebook needs from `import sim` alone."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import sim
from tests.conftest import SCENARIOS


def test_every_public_name_resolves():
    for name in sim.__all__:
        assert getattr(sim, name) is not None, name


def test_run_returns_the_tables_of_a_scenario_file_or_object():
    scenario = sim.load_scenario(SCENARIOS / "demo.yaml").with_changes(
        {"horizon_hours": 24.0, "warmup_hours": 0.0}
    )
    tables = sim.run(scenario, seed=2, replications=2)
    assert sorted(tables.incidents["replication"].unique()) == [0, 1]
    assert {"self", "mutual", "police", "joint"} <= set(tables.summary["tier"])
    again = sim.run(scenario, seed=2, replications=2)
    assert tables.incidents.equals(again.incidents)


def test_import_sim_is_light():
    code = "import sys, sim; print(sorted(m for m in ('pandas', 'numpy', 'mesa', 'pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_old_flat_module_paths_are_the_new_modules_with_a_warning():
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "try:\n    import sim.runner\nexcept DeprecationWarning as w:\n    print(w)\n"
        "warnings.simplefilter('ignore')\n"
        "import sim.runner, sim.experiment.runner as new, sim.config\n"
        "from sim.model import ResponseModel\n"
        "from sim.model.response import ResponseModel as R\n"
        "print(sim.runner is new, new.__spec__.name, sim.config.load_scenario is sim.load_scenario,"
        " ResponseModel is R)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = out.stdout.splitlines()
    assert (
        lines[0] == "sim.runner moved to sim.experiment.runner (jiefang 0.2); import it from there"
    )
    assert lines[1] == "True sim.experiment.runner True True"


def test_python_dash_m_sim_is_the_command():
    out = subprocess.run([sys.executable, "-m", "sim", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "usage: jiefang" in out.stdout


@pytest.mark.slow
def test_run_writes_the_folder_jiefang_run_writes(tmp_path):
    from sim.experiment.results import open_run
    from sim.interface.cli import main

    scenario = sim.load_scenario(SCENARIOS / "demo.yaml").with_changes({"horizon_hours": 12.0})
    tables = sim.run(scenario, seed=4, replications=2, out=tmp_path / "api")
    (tmp_path / "demo.yaml").write_text(f"extends: {SCENARIOS / 'demo.yaml'}\nhorizon_hours: 12\n")
    assert main(["run", str(tmp_path / "demo.yaml"), "--seed", "4", "-r", "2", "-q",
                 "--out", str(tmp_path / "cli")]) == 0  # fmt: skip
    opened = open_run(tmp_path / "api")
    # The same values (read back from Parquet, strings come back as Arrow or categories).
    pd.testing.assert_frame_equal(
        opened.incidents, tables.incidents, check_dtype=False, check_categorical=False
    )
    for name in ("incidents.parquet", "assignments.parquet", "summary.csv", "summary.json"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
