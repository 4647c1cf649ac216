"""The public API: what a notebook needs from `import sim` alone."""

from __future__ import annotations

import subprocess
import sys

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
