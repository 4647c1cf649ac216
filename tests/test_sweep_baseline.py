"""Sweep baselines (issue 14): paired differences against a `baseline:` arm, with the varied
values as columns; the marginal value per staffing unit; strict checks of `baseline:`.

Every number is recomputed here by hand from runs.parquet (one row per run), so a wrong
pairing, a wrong baseline or a wrong unit would show."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.experiment.batch import run_sweep
from sim.experiment.sweep import BASELINE_ARM, load_sweep
from sim.interface.cli import main
from sim.model.config import ScenarioError
from tests.conftest import TINY_SWEEP_BASE

BASE = TINY_SWEEP_BASE
GRID = "grid:\n  police.units: [1, 3]\n  meus.count: [0, 4]\n"


def write(folder: Path, extra: str = "", grid: str = GRID, reps: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "base.yaml").write_text(BASE)
    path = folder / "sweep.yaml"
    head = f"name: baseline-test\nbase: base.yaml\nseed: 3\nreplications: {reps}\n"
    path.write_text(head + grid + textwrap.dedent(extra))
    return path


def by_hand(runs: pd.DataFrame, point: int, base: int, metric: str) -> tuple[float, float, int]:
    """Mean of point - baseline over replications and its Student-t 95 % half-width."""
    a = runs[runs.point_id == point].set_index("replication")[metric]
    b = runs[runs.point_id == base].set_index("replication")[metric]
    d = (a - b.reindex(a.index)).dropna().to_numpy()
    if d.size < 2:  # a tier that counted an incident in one replication only
        return float(d.mean()) if d.size else math.nan, math.nan, d.size
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size)
    return float(d.mean()), float(half), d.size


@pytest.fixture(scope="module")
def default_baseline(tmp_path_factory):
    """No `baseline:`: the base scenario's own values (2 police units, 2 MEUs), on no grid
    point, so it runs as an extra arm."""
    root = tmp_path_factory.mktemp("default")
    sweep = load_sweep(write(root))
    return sweep, run_sweep(sweep, root / "out"), root / "out"


def test_default_baseline_is_the_base_scenario_as_an_extra_arm(default_baseline):
    sweep, outcome, out = default_baseline
    assert sweep.baseline is not None
    assert sweep.baseline.point_id == BASELINE_ARM
    assert sweep.baseline.values == {"police.units": 2, "meus.count": 2}
    assert outcome.total == 15 and outcome.ran == 15  # 4 points + the arm, x 3
    runs = pd.read_parquet(out / "runs.parquet")
    arm = runs[runs.point_id == BASELINE_ARM]
    assert list(arm["replication"]) == [0, 1, 2]
    assert (arm["police.units"] == 2).all() and (arm["meus.count"] == 2).all()
    # points.parquet is the design: the extra arm is not one of its points.
    points = pd.read_parquet(out / "points.parquet")
    assert sorted(set(points["point_id"])) == [0, 1, 2, 3]
    import json

    meta = json.loads((out / "manifest.json").read_text())
    assert meta["baseline"] == {"point_id": -1, "values": {"police.units": 2, "meus.count": 2},
                                "extra_arm": True}  # fmt: skip
    assert "marginal" in meta["files"]


def test_paired_differences_equal_a_hand_computation(default_baseline):
    _, _, out = default_baseline
    runs = pd.read_parquet(out / "runs.parquet")
    paired = pd.read_parquet(out / "paired.parquet")
    assert {"point_id", "police.units", "meus.count", "tier", "measure", "diff", "ci_low",
            "ci_high", "n", "baseline_mean", "mean"} <= set(paired.columns)  # fmt: skip
    assert sorted(set(paired["point_id"])) == [0, 1, 2, 3]
    checked = 0
    for record in paired[paired.measure == "compliance"].to_dict("records"):
        row = pd.Series(record)
        diff, half, n = by_hand(runs, row.point_id, BASELINE_ARM, row.metric)
        assert row.n == n and (n == 3 or row.tier == "self")  # self: runs with none
        assert row["diff"] == pytest.approx(diff, abs=1e-12)
        if np.isfinite(half):  # clipped to the possible range of a difference of shares
            assert row.ci_low == pytest.approx(max(diff - half, -1), abs=1e-12)
            assert row.ci_high == pytest.approx(min(diff + half, 1), abs=1e-12)
            checked += 1
        point = runs[runs.point_id == row.point_id].iloc[0]
        assert (row["police.units"], row["meus.count"]) == (point["police.units"],
                                                            point["meus.count"])  # fmt: skip
        assert row.tier == row.metric.removesuffix("_compliance")
    assert checked >= 8
    # Police on site moves with police units (1 and 3 against the baseline's 2).
    police = paired[paired.metric == "police_compliance"].set_index("point_id")
    assert police.loc[2, "diff"] > 0 > police.loc[0, "diff"]


def test_marginal_value_per_unit_equals_a_hand_computation(default_baseline):
    _, outcome, out = default_baseline
    runs = pd.read_parquet(out / "runs.parquet")
    marginal = pd.read_parquet(out / "marginal.parquet")
    assert marginal.equals(outcome.marginal)
    # Two staffing keys, 2 levels each, 2 values of the other key, 4 compliance metrics.
    assert len(marginal) == 2 * 2 * 4
    row = marginal[(marginal.key == "police.units") & (marginal["meus.count"] == 4)
                   & (marginal.tier == "police")].iloc[0]  # fmt: skip
    assert (row.from_value, row.to_value, row.unit, row.from_point_id, row.to_point_id) == (
        1, 3, "police unit", 1, 3)  # fmt: skip
    diff, half, n = by_hand(runs, 3, 1, "police_compliance")
    # Two more units: the gain per unit is half the difference, in percentage points.
    assert row.gain_pp_per_unit == pytest.approx(diff / 2 * 100, abs=1e-9)
    # The interval is clipped to the possible range: +-100 pp over the 2 units of the step.
    assert row.ci_high_pp == pytest.approx(min(row.gain_pp_per_unit + half / 2 * 100, 50),
                                           abs=1e-9)  # fmt: skip
    assert row.ci_low_pp == pytest.approx(max(row.gain_pp_per_unit - half / 2 * 100, -50),
                                          abs=1e-9)  # fmt: skip
    assert row.n == n
    meu = marginal[(marginal.key == "meus.count") & (marginal["police.units"] == 1)
                   & (marginal.tier == "mutual")].iloc[0]  # fmt: skip
    diff, _, _ = by_hand(runs, 1, 0, "mutual_compliance")
    assert meu.gain_pp_per_unit == pytest.approx(diff / 4 * 100, abs=1e-9)


def test_volunteers_are_counted_per_hundred(tmp_path):
    path = write(tmp_path, grid="grid:\n  volunteers.count: [0, 200]\n", reps=2)
    outcome = run_sweep(load_sweep(path), tmp_path / "out")
    runs, marginal = outcome.runs, outcome.marginal
    row = marginal[marginal.tier == "mutual"].iloc[0]
    assert row.unit == "100 volunteers" and row.unit_size == 100
    diff, _, _ = by_hand(runs, 1, 0, "mutual_compliance")
    assert row.gain_pp_per_unit == pytest.approx(diff / 2 * 100, abs=1e-9)


def test_baseline_on_a_grid_point_runs_no_extra_arm(tmp_path):
    path = write(tmp_path, "baseline: {police.units: 3, meus.count: 0}\n", reps=2)
    sweep = load_sweep(path)
    assert sweep.baseline is not None and sweep.baseline.point_id == 2
    outcome = run_sweep(sweep, tmp_path / "out")
    assert outcome.total == 8 and BASELINE_ARM not in set(outcome.runs["point_id"])
    paired = outcome.paired
    assert (paired["baseline_point_id"] == 2).all()
    own = paired[(paired.point_id == 2) & (paired.measure == "compliance")]
    assert (own["diff"] == 0).all()
    row = paired[(paired.point_id == 1) & (paired.metric == "joint_compliance")].iloc[0]
    diff, half, _ = by_hand(outcome.runs, 1, 2, "joint_compliance")
    assert row["diff"] == pytest.approx(diff) and row.ci_high - row["diff"] == pytest.approx(half)


def test_a_partial_baseline_takes_the_base_value_of_the_other_keys(tmp_path):
    sweep = load_sweep(write(tmp_path, "baseline: {police.units: 3}\n"))
    assert sweep.baseline is not None
    assert sweep.baseline.values == {"police.units": 3, "meus.count": 2}
    assert sweep.baseline.point_id == BASELINE_ARM


def test_cli_prints_the_baseline_differences_and_the_marginal_values(tmp_path, capsys):
    path = write(tmp_path, reps=2)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    assert main(["sweep", str(path), "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "4 points + a baseline arm x 2 replications = 10 runs" in text
    assert "compliance minus the baseline (police.units=2, meus.count=2; an extra arm)" in text
    assert "marginal value per unit" in text and "police unit" in text and "MEU" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("baseline: {volunteers.cnt: 5}\n", "baseline.volunteers.cnt: unknown key"),
        ("baseline: {police.stations: 1}\n", "baseline.police.stations: not varied"),
        ("baseline: {police.units: many}\n", "baseline.police.units: expected a number"),
        ("baseline: {police.units: 1.5}\n", "baseline.police.units: expected a whole number"),
        ("baseline: {police.units: [1, 2]}\n", "baseline.police.units: expected a number"),
        ("baseline: {police.units: true}\n", "baseline.police.units: expected a number"),
        ("baseline: {police.units: -1}\n",
         "baseline.police.units: Input should be greater than or equal to 0"),
        ("baseline: 3\n", "baseline: Input should be a valid dictionary"),
    ],
)  # fmt: skip
def test_bad_baselines_exit_2_with_one_line_naming_file_and_key(tmp_path, capsys, extra,
                                                                message):  # fmt: skip
    path = write(tmp_path, extra)
    with pytest.raises(ScenarioError):
        load_sweep(path)
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert str(path) in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything ran


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="forks")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_killed_in_the_baseline_arm_then_resumed_equals_a_fresh_sweep(tmp_path):
    """The extra arm is stored and resumed like every point: a SIGKILL while it runs (its
    runs come last) leaves tables equal to an uninterrupted sweep, byte for byte."""
    from tests.test_sweep_store import _kill_then_resume, fresh

    path = write(tmp_path / "s", reps=2)
    want = fresh(path)
    assert (Path(path).parent / "fresh0" / "marginal.parquet").exists()
    # 10 runs x 2 files, a sync after every 2 runs: 5 steps per 2 runs, so steps 21-25 are
    # the arm's two runs (partition, record, partition, record, sync).
    for step in (21, 23, 24):
        assert _kill_then_resume(tmp_path, path, want, 1, step)


# ---------------------------------------------------------------- report and figures
def test_difference_figure_draws_the_paired_differences_and_intervals(default_baseline):
    from sim.analysis import plots
    from sim.experiment.results import open_sweep

    _, _, out = default_baseline
    opened = open_sweep(out)
    assert opened.paired is not None and opened.marginal is not None
    paired = opened.paired
    fig = plots.sweep_difference(paired, "meus.count", ["police.units"], "t")
    try:
        axes = fig.axes[:4]
        assert axes[0].get_title().startswith("self-rescue")  # tiers in their order
        assert axes[1].get_title().startswith("mutual rescue")
        mutual = axes[1]
        # One line per value of the other key; each point at its paired difference, the
        # error bar spanning exactly its paired 95 % interval (not the unpaired one).
        drawn = list(mutual.containers)
        assert len(drawn) == 2
        for container, units in zip(drawn, (1, 3), strict=True):
            line, _caps, (bars,) = container.lines
            want = paired[(paired.metric == "mutual_compliance")
                          & (paired["police.units"] == units)].sort_values("meus.count")  # fmt: skip
            np.testing.assert_allclose(line.get_ydata(), want["diff"] * 100)
            segments = bars.get_segments()
            np.testing.assert_allclose([s[0][1] for s in segments], want["ci_low"] * 100)
            np.testing.assert_allclose([s[1][1] for s in segments], want["ci_high"] * 100)
        # One colour per value of the other key, the same in every panel and the legend.
        legend = fig.legends[0]
        assert [t.get_text() for t in legend.get_texts()] == ["police.units=1",
                                                              "police.units=3"]  # fmt: skip
        for ax in axes:
            for container, handle in zip(ax.containers, legend.legend_handles, strict=False):
                assert container.lines[0].get_color() == handle.get_color()
        # The legend sits below the panels, outside every one of them.
        fig.canvas.draw()
        box = legend.get_window_extent()
        assert all(box.y1 <= a.get_window_extent().y0 for a in axes)
    finally:
        plots.plt.close(fig)


def test_report_shows_paired_differences_and_marginal_values(default_baseline):
    from sim.experiment.report import html_report

    _, _, out = default_baseline
    page = html_report(out)
    paired = pd.read_parquet(out / "paired.parquet")
    row = paired[(paired.point_id == 2) & (paired.metric == "police_compliance")].iloc[0]
    cell = f"{row['diff'] * 100:+.1f} ({row.ci_low * 100:+.1f} to {row.ci_high * 100:+.1f})"
    assert "<h2>Difference from the baseline</h2>" in page and cell in page
    assert "Baseline: police.units=2, meus.count=2; an extra arm" in page
    marginal = pd.read_parquet(out / "marginal.parquet")
    m = marginal[(marginal.key == "police.units") & (marginal["meus.count"] == 0)
                 & (marginal.tier == "police")].iloc[0]  # fmt: skip
    assert "<h2>Marginal value per unit</h2>" in page
    assert f"{m.gain_pp_per_unit:+.1f} ({m.ci_low_pp:+.1f} to {m.ci_high_pp:+.1f})" in page
    assert "Difference from the baseline against police.units" in page
    assert "± nan" not in page


def test_the_extra_arm_counts_against_the_budget(tmp_path):
    """A baseline far above every grid value is the sweep's costliest run: a budget the
    grid fits in refuses it, naming the baseline."""
    from sim.model import budget as budgets

    path = write(tmp_path, "baseline: {police.units: 3, meus.count: 4}\n")
    tight = budgets.Budget(memory_gb=1, cpu_minutes=60)  # the grid needs well under 1 GB
    assert load_sweep(path, budget=tight).baseline.point_id == 3  # on the grid
    huge = write(tmp_path / "huge", "baseline: {police.units: 3, meus.count: 2000000}\n")
    with pytest.raises(ScenarioError, match=r"sweep.yaml: baseline: needs about"):
        load_sweep(huge, budget=tight)
