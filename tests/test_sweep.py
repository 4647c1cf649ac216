"""Sweeps: exact expansion, identical tables whatever the executor, resumable after SIGKILL,
common random numbers across points, failed runs recorded while the sweep goes on."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest

from sim.experiment.batch import run_sweep
from sim.experiment.sweep import SweepSpec, design_points, load_sweep
from sim.model.config import Scenario, ScenarioError
from sim.model.response import ResponseModel
from tests.conftest import SCENARIOS

BASE = SCENARIOS / "guangzhou-2023-subdistrict.yaml"


def spec(**kw) -> SweepSpec:
    return SweepSpec.model_validate({"name": "s", "base": "x.yaml", **kw})


def write_sweep(tmp_path, body: str, name: str = "sweep.yaml"):
    path = tmp_path / name
    path.write_text(f"base: {BASE}\n" + textwrap.dedent(body), encoding="utf-8")
    return path


# ---------------------------------------------------------------- expansion
def test_grid_is_the_full_product_in_order():
    pts = design_points(spec(grid={"a.b": [1, 2], "c": [10, 20, 30]}))
    assert pts == [{"a.b": x, "c": y} for x in (1, 2) for y in (10, 20, 30)]


def test_ranges_are_inclusive_and_typed():
    pts = design_points(spec(grid={"n": {"from": 0, "to": 270, "step": 90}}))
    assert [p["n"] for p in pts] == [0, 90, 180, 270]
    assert all(type(p["n"]) is int for p in pts)
    pts = design_points(spec(grid={"x": {"from": 0.0, "to": 1.0, "num": 5}}))
    assert [p["x"] for p in pts] == [0.0, 0.25, 0.5, 0.75, 1.0]
    pts = design_points(spec(grid={"x": {"from": 0, "to": 10, "step": 4}}))
    assert [p["x"] for p in pts] == [0, 4, 8]  # never past `to`


@pytest.mark.parametrize("n", [1, 7, 50])
def test_latin_hypercube_count_bounds_and_strata(n):
    s = spec(
        seed=3,
        lhs={
            "samples": n,
            "ranges": {"a": {"low": 2.0, "high": 4.0}, "b": {"low": -1.0, "high": 1.0}},
        },
    )
    pts = design_points(s)
    assert len(pts) == n
    for key, (lo, hi) in {"a": (2.0, 4.0), "b": (-1.0, 1.0)}.items():
        u = (np.array([p[key] for p in pts]) - lo) / (hi - lo)
        assert ((u >= 0) & (u < 1)).all()
        # Latin hypercube: exactly one sample in each of the n equal strata of each axis.
        assert sorted(np.floor(u * n).astype(int)) == list(range(n))
    assert design_points(s) == pts  # the design is a function of the seed


def test_lhs_is_crossed_with_the_grid_and_integer_ranges_stay_integer():
    s = spec(
        grid={"g": [1, 2, 3]},
        lhs={"samples": 4, "ranges": {"k": {"low": 0, "high": 10, "integer": True}}},
    )
    pts = design_points(s)
    assert len(pts) == 12 and [p["g"] for p in pts] == [1] * 4 + [2] * 4 + [3] * 4
    assert all(isinstance(p["k"], int) and 0 <= p["k"] <= 10 for p in pts)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("name: s\nreplications: 0\n", "replications: Input should be greater than or equal to 1"),
        ("name: s\ngrid: {volunteers.count: []}\n", "grid.volunteers.count"),
        (
            "name: s\ngrid: {volunteers.count: {from: 5, to: 1, step: 1}}\n",
            "to (1) must be >= from (5)",
        ),
        ("name: s\ngrid: {volunteers.count: {from: 0, to: 9}}\n", "exactly one of step or num"),
        ("name: s\ngrid: {volunteers.count: [1]}\nset: {volunteers.count: 2}\n", "appears in both"),
        (
            "name: s\ngrid: {volunteers.cnt: [1, 2]}\n",
            "point 0 {'volunteers.cnt': 1}: volunteers.cnt: unknown key",
        ),
        (
            "name: s\ngrid: {police.units: [-1]}\n",
            "police.units: Input should be greater than or equal to 0",
        ),
        ("name: s\nworkers: 3\n", "workers: unknown key"),
    ],
)
def test_bad_sweep_files_fail_at_load_naming_the_key(tmp_path, body, message):
    with pytest.raises(ScenarioError) as err:
        load_sweep(write_sweep(tmp_path, body))
    assert message in str(err.value)
    assert str(tmp_path / "sweep.yaml") in str(err.value)


# ---------------------------------------------------------------- running
SMALL = """\
name: small
seed: 7
replications: 2
set: {horizon_hours: 10, warmup_hours: 1, drain_hours: 2}
grid:
  volunteers.count: [0, 3000]
  meus.count: [0, 135]
baseline: {volunteers.count: 0, meus.count: 0}   # point 0: no extra arm
"""


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("seq")
    sweep = load_sweep(write_sweep(root, SMALL))
    outcome = run_sweep(sweep, root / "out")
    return sweep, root / "out", outcome


@pytest.mark.slow
def test_sweep_writes_tables_with_every_run(sequential_run):
    _sweep, out, outcome = sequential_run
    assert (outcome.total, outcome.ran, outcome.failed) == (8, 8, 0)
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs[["point_id", "replication"]].itertuples(index=False, name=None)) == [
        (p, r) for p in range(4) for r in range(2)
    ]
    assert {"volunteers.count", "meus.count", "seed", "mutual_compliance",
            "police_p90_s", "joint_compliance"} <= set(runs.columns)  # fmt: skip
    points = pd.read_parquet(out / "points.parquet")
    assert set(points["point_id"]) == {0, 1, 2, 3}
    one = points[(points.point_id == 3) & (points.metric == "mutual_compliance")].iloc[0]
    vals = runs.loc[runs.point_id == 3, "mutual_compliance"]
    assert one["mean"] == pytest.approx(vals.mean())
    inc = pd.read_parquet(out / "incidents")
    assert set(inc["key"].astype(str)) == set(runs["key"])


def test_common_random_numbers_across_points(sequential_run):
    _, out, _ = sequential_run
    inc = pd.read_parquet(out / "incidents")
    cols = ["incident_id", "occurred_s", "kind", "x_m", "y_m"]
    for r in (0, 1):
        streams = [g.sort_values("incident_id")[cols].reset_index(drop=True)
                   for _, g in inc[inc.replication == r].groupby("point_id")]  # fmt: skip
        assert len(streams) == 4
        assert all(s.equals(streams[0]) for s in streams)
    r0 = inc[(inc.replication == 0) & (inc.point_id == 0)]["occurred_s"].to_numpy()
    r1 = inc[(inc.replication == 1) & (inc.point_id == 0)]["occurred_s"].to_numpy()
    assert r0.size != r1.size or not np.array_equal(r0, r1)


def test_paired_comparison_is_tighter_than_unpaired(sequential_run):
    _, out, _ = sequential_run
    paired = pd.read_parquet(out / "paired.parquet")
    police = paired[paired.metric == "police_compliance"].dropna()
    assert (police["paired_ci95_half_width"] <= police["unpaired_ci95_half_width"] + 1e-12).all()


def test_rerun_skips_finished_runs(sequential_run, tmp_path):
    sweep, out, _ = sequential_run
    before = (out / "runs.parquet").read_bytes()
    again = run_sweep(sweep, out)
    assert (again.skipped, again.ran) == (8, 0)
    assert (out / "runs.parquet").read_bytes() == before


@pytest.mark.slow
def test_local_processes_and_dask_give_identical_tables(sequential_run, tmp_path):
    sweep, out, _ = sequential_run
    expected = (out / "runs.parquet").read_bytes()
    run_sweep(sweep, tmp_path / "procs", workers=2)
    assert (tmp_path / "procs" / "runs.parquet").read_bytes() == expected
    run_sweep(sweep, tmp_path / "dask", workers=2, scheduler="local")
    assert (tmp_path / "dask" / "runs.parquet").read_bytes() == expected
    for name in ("points.parquet", "paired.parquet"):
        assert (tmp_path / "dask" / name).read_bytes() == (out / name).read_bytes()
    parts = sorted(p.relative_to(out) for p in (out / "incidents").rglob("*.parquet"))
    assert len(parts) == 8
    for executor in ("procs", "dask"):
        for part in parts:  # per-incident records byte for byte, whatever ran them
            assert (tmp_path / executor / part).read_bytes() == (out / part).read_bytes()


@pytest.mark.slow
def test_failed_runs_are_recorded_and_the_sweep_goes_on(tmp_path):
    body = SMALL.replace(
        "grid:\n  volunteers.count: [0, 3000]\n  meus.count: [0, 135]\n",
        "grid:\n  volunteers.count: [0, 1]\n",
    ).replace("meus.count: 0}", "}")  # meus.count is no longer varied: not in the baseline either
    sweep = load_sweep(write_sweep(tmp_path, body))
    # A station outside the city is refused at load now; point 1 bypasses the load-time
    # checks so that its runs fail inside the model.
    raw = sweep.points[1].scenario.model_dump(mode="python")
    raw["police"]["station_cells"] = [[500, 500]]
    broken = dataclasses.replace(sweep.points[1], scenario=Scenario.model_validate(raw))
    sweep = dataclasses.replace(sweep, points=(sweep.points[0], broken))
    outcome = run_sweep(sweep, tmp_path / "out")
    runs = outcome.runs
    assert (outcome.ran, outcome.failed) == (4, 2)
    bad = runs[runs.point_id == 1]
    assert (bad["status"] == "error").all()
    assert bad["error"].str.contains("station_cells: \\[500, 500\\] is outside").all()
    assert (runs[runs.point_id == 0]["status"] == "ok").all()
    # The failed runs are tried again on the next invocation; the good ones are not.
    assert run_sweep(sweep, tmp_path / "out").ran == 2


@pytest.fixture(scope="module")
def long_sweep(tmp_path_factory):
    """24 runs of 200 h, long enough to kill part-way; and its uninterrupted result."""
    root = tmp_path_factory.mktemp("long")
    body = SMALL.replace("replications: 2", "replications: 6").replace(
        "horizon_hours: 10", "horizon_hours: 200"
    )
    path = write_sweep(root, body)
    run_sweep(load_sweep(path), root / "clean")
    return path, root / "clean"


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 7, 16])
def test_sigkill_mid_sweep_then_resume_equals_uninterrupted(tmp_path, long_sweep, kill_after):
    path, clean = long_sweep

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.interface.cli", "sweep", str(path), "--out", str(out), "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = list((out / "runs").glob("*.parquet")) if (out / "runs").exists() else []
        if len(done) >= kill_after:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list((out / "runs").glob("*.parquet")))
    assert kill_after <= finished < 24, "the kill must land mid-sweep"
    assert not (out / "runs.parquet").exists()

    resumed = run_sweep(load_sweep(path), out)
    assert resumed.skipped == finished and resumed.ran == 24 - finished
    assert (out / "runs.parquet").read_bytes() == (clean / "runs.parquet").read_bytes()
    a = pd.read_parquet(out / "incidents").sort_values(["point_id", "replication", "incident_id"])
    b = pd.read_parquet(clean / "incidents").sort_values(["point_id", "replication", "incident_id"])
    assert a.reset_index(drop=True).equals(b.reset_index(drop=True))


def test_example_sweep_loads():
    sweep = load_sweep(SCENARIOS / "sweeps" / "subdistrict-staffing.yaml")
    assert len(sweep.points) == 12 and sweep.spec.replications == 5
    assert sweep.varied == ["volunteers.count", "meus.count"]
    # Its baseline is today's staffing, a grid point: no extra arm.
    assert sweep.baseline is not None and sweep.baseline.point_id == 7
    assert sweep.baseline.values == {"volunteers.count": 3941, "meus.count": 135}
    assert len(sweep.tasks()) == 60


def test_mesa_batch_run_drives_the_model():
    import mesa

    sc = load_sweep(SCENARIOS / "sweeps" / "subdistrict-staffing.yaml").base.with_changes(
        {"horizon_hours": 12.0, "warmup_hours": 0.0, "drain_hours": 4.0}
    )
    rows = mesa.batch_run(
        ResponseModel,
        parameters={"scenario": [sc, sc.with_changes({"police.units": 30})]},
        rng=[0, 1], max_steps=10**7, number_processes=1, display_progress=False,
    )  # fmt: skip
    df = pd.DataFrame(rows)
    assert len(df) == 4
    assert set(df["seed"]) == {0, 1}
    assert (df["incidents"] > 0).all() and (df["open"] <= df["incidents"]).all()
    # Both staffing levels see the same incidents in each seed (common random numbers).
    assert df.groupby("seed")["incidents"].nunique().eq(1).all()


@pytest.mark.slow
def test_dask_worker_killed_mid_sweep_loses_no_run(long_sweep, tmp_path):
    import threading

    from distributed import LocalCluster

    path, clean = long_sweep
    out = tmp_path / "dask"
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        killed = []

        def kill_a_worker():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not killed:
                done = list((out / "runs").glob("*.parquet")) if (out / "runs").exists() else []
                if len(done) >= 4:
                    nanny = next(iter(cluster.workers.values()))
                    os.kill(nanny.process.process.pid, signal.SIGKILL)
                    killed.append(len(done))
                time.sleep(0.01)

        killer = threading.Thread(target=kill_a_worker, daemon=True)
        killer.start()
        outcome = run_sweep(load_sweep(path), out, scheduler=cluster.scheduler_address)
        killer.join()
    assert killed and killed[0] < 24, "the worker must die part-way"
    assert outcome.failed == 0 and len(outcome.runs) == 24
    assert (out / "runs.parquet").read_bytes() == (clean / "runs.parquet").read_bytes()


@pytest.mark.slow
def test_full_disk_is_a_clear_error_and_keeps_what_was_written(long_sweep, tmp_path, monkeypatch):
    import errno

    import sim.files

    path, clean = long_sweep
    out = tmp_path / "disk"
    real_replace = os.replace
    calls = {"n": 0}

    def replace_until_full(src, dst):
        calls["n"] += 1
        if calls["n"] > 9:  # the disk fills after a few runs are stored
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(sim.files.os, "replace", replace_until_full)
    with pytest.raises(sim.files.OutputError, match="No space left on device"):
        run_sweep(load_sweep(path), out)
    monkeypatch.setattr(sim.files.os, "replace", real_replace)
    kept = {p.name for p in (out / "runs").glob("*.parquet")}
    assert kept and not [p for p in (out / "runs").iterdir() if p.name.startswith(".")]
    for name in kept:  # every stored run is whole and readable
        assert pd.read_parquet(out / "runs" / name)["status"].iloc[0] == "ok"
    resumed = run_sweep(load_sweep(path), out)  # space again: finish the rest
    assert resumed.skipped == len(kept)
    assert (out / "runs.parquet").read_bytes() == (clean / "runs.parquet").read_bytes()


# ---------------------------------------------------------------- a run's metrics, in workers
TIER_TABLES = [
    None,
    [
        {"name": "police", "target_s": 600, "responders": ["police"], "clock": "alert"},
        {
            "name": "alpha",
            "target_s": 300,
            "responders": ["volunteer", "meu_team"],
            "scope": "all",
            "incidents": "all",
        },
        {
            "name": "onsite",
            "target_s": 120,
            "responders": ["meu_staff", "volunteer_on_site"],
            "scope": "on_scene",
        },
        {
            "name": "disp",
            "target_s": 400,
            "responders": ["police"],
            "clock": "dispatch",
            "incidents": "routine",
        },
    ],
    [{"name": "instant", "target_s": 0.001, "responders": ["police"]}],
]


@pytest.mark.parametrize("tiers", TIER_TABLES)
def test_run_metrics_equal_the_per_replication_table(monkeypatch, tiers):
    """A sweep run's metrics are computed straight from the columns (issue 13); they equal
    the own-clock rows of per_replication, bit for bit and in the same order, also for a
    tier that counts nothing and a run whose incidents are all in the warm-up."""
    import math

    from sim.experiment import outcome
    from sim.experiment.runner import run_one

    base = load_sweep(SCENARIOS / "sweeps" / "subdistrict-staffing.yaml").base
    sc = base.with_changes({"horizon_hours": 30, "warmup_hours": 2, **({"tiers": tiers}
                                                                       if tiers else {})})  # fmt: skip
    incidents, _ = run_one(sc, 5, 1)
    for inc in (incidents, incidents.assign(in_warmup=True)):
        fast = outcome.run_metrics(inc, sc.tiers)
        with monkeypatch.context() as m:
            m.setattr(outcome, "_own_clock_metrics", lambda *a: None)  # per_replication
            slow = outcome.run_metrics(inc, sc.tiers)
        assert list(fast) == list(slow)
        assert all(fast[k] == slow[k] or (math.isnan(fast[k]) and math.isnan(slow[k]))
                   for k in fast)  # fmt: skip
