"""Shared helpers: small scenarios built in code, and running them to tables."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.model.config import Scenario, deep_merge
from sim.model.frames import assignments_frame, incidents_frame
from sim.model.response import ResponseModel

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# Tests keep no city on disk (sim.experiment.disk_cache) even where the user set a folder for
# it: a test that counts builds must see them. tests/test_disk_cache.py turns it on in a
# temporary folder.
os.environ["JIEFANG_CACHE_DIR"] = "off"


def scenario(**overrides) -> Scenario:
    """A small valid scenario (one police station, no volunteers or MEUs) with overrides
    merged key by key, e.g. ``scenario(police={"units": 3})``."""
    base = {
        "name": "test",
        "horizon_hours": 24.0,
        "drain_hours": 12.0,
        "replications": 1,
        "city": {"width": 20, "height": 20, "cell_size_m": 100.0, "population": 20000},
        "police": {"stations": 1, "grids": 4, "units": 2},
        "incidents": {"rate_per_day": 40.0},
    }
    return Scenario.model_validate(deep_merge(base, overrides))


def run(sc: Scenario, seed: int = 0, replication: int = 0, **kwargs):
    """Run one replication; returns (model, incidents frame, assignments frame)."""
    model = ResponseModel(sc, seed=seed, replication=replication, **kwargs)
    model.run()
    return model, incidents_frame(model.records()), assignments_frame(model.assignments)


@pytest.fixture(scope="session")
def ambulance_plugin(tmp_path_factory):
    """The plug-in package tests/plugins/jiefang_ambulance installed through its entry points
    (tests/plugins/editable.py): on sys.path for this process, on PYTHONPATH for the
    subprocesses it starts (jiefang run, sweep workers, Dask). Nothing under sim/ names it."""
    from sim.model import plugins
    from tests.plugins.editable import install

    paths = [str(p) for p in install("jiefang_ambulance", tmp_path_factory.mktemp("site"))]
    old_path, old_env = list(sys.path), os.environ.get("PYTHONPATH")
    sys.path[:0] = paths
    os.environ["PYTHONPATH"] = os.pathsep.join([*paths, *([old_env] if old_env else [])])
    plugins.refresh()
    yield paths
    sys.path[:] = old_path
    if old_env is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old_env
    plugins.refresh()


@pytest.fixture
def tmp_results(tmp_path) -> Path:
    return tmp_path / "out"


def minutes(series: pd.Series) -> pd.Series:
    return series / 60.0


#: The base scenario of the small sweep tests: a 12 x 12 city, a run takes a few hundredths of
#: a second.
TINY_SWEEP_BASE = """\
name: tiny
horizon_hours: 12
drain_hours: 3
replications: 1
city: {width: 12, height: 12, cell_size_m: 100.0, population: 8000}
police: {stations: 1, grids: 4, units: 2}
volunteers: {count: 300}
meus: {count: 2}
incidents: {rate_per_day: 80}
"""


def assert_run_reproduces_optimised_arm(plan_dir: Path, run_dir: Path, seed: int) -> None:
    """``jiefang run <plan_dir>/optimised.yaml --seed SEED`` gives, tier by tier, the
    compliance ``evaluation.csv`` reports for the optimised arm (the same incidents, the same
    placement: equal to float rounding). ``seed`` is the seed the plan was made with."""
    from sim.interface.cli import main

    code = main(["run", str(plan_dir / "optimised.yaml"), "--seed", str(seed), "--out",
                 str(run_dir), "-q", "--no-plot"])  # fmt: skip
    assert code == 0
    summary = pd.read_csv(run_dir / "summary.csv")
    own = summary[
        (summary["scope"] == "all") & (summary["metric"] == "compliance") & summary["own_clock"]
    ]
    ev = pd.read_csv(plan_dir / "evaluation.csv")
    want = ev[ev["arm"] == "optimised"].set_index("tier")["compliance"]
    got = own.set_index("tier")["mean"].reindex(want.index)
    assert got.to_numpy() == pytest.approx(want.to_numpy(), rel=1e-9)
