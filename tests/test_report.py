"""Plots and reports: the data drawn equals the tables (not only "a file exists")."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from sim.analysis import plots
from sim.analysis.metrics import tier_times
from sim.experiment.compare import compare
from sim.experiment.report import html_report, run_figures, sweep_figures
from sim.interface.cli import main
from tests.conftest import SCENARIOS


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "demo"
    assert main(["run", str(SCENARIOS / "demo.yaml"), "-q", "--seed", "4", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def other_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep") / "police-only"
    sc = SCENARIOS / "baseline-police-only.yaml"
    assert main(["run", str(sc), "-q", "--seed", "4", "-r", "3", "--out", str(out)]) == 0
    return out


@pytest.mark.slow
def test_ecdf_lines_are_the_empirical_cdf_of_the_table(run_dir):
    inc = pd.read_parquet(run_dir / "incidents.parquet")
    fig = plots.response_ecdf(inc, "t")
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    times = tier_times(inc)
    for tier in ("self", "mutual", "police"):
        label = plots.tier_label(tier)
        minutes = np.sort(times.loc[times.tier == tier, "time_s"].to_numpy() / 60)
        finite = minutes[np.isfinite(minutes)]
        x, y = lines[label].get_data()
        # Step points: (0, 0), then each finite time with its rank / n, then the right edge.
        assert np.allclose(x[1:-1], finite)
        assert np.allclose(y[1:-1], np.arange(1, finite.size + 1) / minutes.size)
    plots.plt.close(fig)


def test_compliance_at_the_marks_equals_the_summary(run_dir):
    inc = pd.read_parquet(run_dir / "incidents.parquet")
    summary = json.loads((run_dir / "summary.json").read_text())
    fig = plots.response_ecdf(inc, "t")
    shown = {t.get_text() for t in fig.axes[0].texts}
    for tier in ("self", "mutual", "police"):
        share = summary["tiers"][tier]["compliance"]["mean"]
        assert f"{share:.0%}" in shown
        assert plots.mark_compliance(inc)[tier] == pytest.approx(share)
    plots.plt.close(fig)


def test_replication_band_encloses_each_replication(run_dir):
    inc = pd.read_parquet(run_dir / "incidents.parquet")
    grid = np.linspace(0, 20, 81)
    lo, hi = plots.replication_band(inc, "police", grid)
    t = tier_times(inc)
    for _, grp in t[t.tier == "police"].groupby("replication"):
        x = np.sort(grp["time_s"].to_numpy() / 60)
        f = np.searchsorted(x, grid, side="right") / x.size
        assert np.all(lo <= f + 1e-12) and np.all(f <= hi + 1e-12)


def test_map_shows_the_median_time_of_each_cell(run_dir):
    inc = pd.read_parquet(run_dir / "incidents.parquet")
    cells = pd.read_parquet(run_dir / "layout_cells.parquet")
    raster = plots.median_help_by_cell(inc, cells)
    size = cells["cell_size_m"].iloc[0]
    counted = inc[~inc.in_warmup]
    row = counted.iloc[0]
    r, c = int(row.y_m // size), int(row.x_m // size)
    here = counted[(counted.y_m // size == r) & (counted.x_m // size == c)]
    expected = ((here.first_help_s - here.occurred_s) / 60).fillna(np.inf).median()
    assert raster[r, c] == expected
    assert (
        np.isnan(raster).sum()
        == raster.size - counted.groupby([counted.y_m // size, counted.x_m // size]).ngroups
    )


@pytest.mark.slow
def test_plot_command_writes_png_and_svg(run_dir, tmp_path):
    assert main(["plot", str(run_dir), "--out", str(tmp_path)]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    for fig in ("response_ecdf", "by_kind", "hour_profile", "city_map"):
        assert {f"{fig}.png", f"{fig}.svg"} <= names
        assert (tmp_path / f"{fig}.svg").read_text().startswith("<?xml")


@pytest.mark.slow
def test_sweep_figures_draw_the_points_table(tmp_path):
    from sim.experiment.batch import run_sweep
    from sim.experiment.sweep import load_sweep

    path = tmp_path / "s.yaml"
    path.write_text(
        f"name: s\nbase: {SCENARIOS / 'guangzhou-2023-subdistrict.yaml'}\nreplications: 2\n"
        "set: {horizon_hours: 8, warmup_hours: 1}\n"
        "grid: {volunteers.count: [0, 4000], meus.count: [0, 135]}\n"
    )
    run_sweep(load_sweep(path), tmp_path / "out")
    points = pd.read_parquet(tmp_path / "out" / "points.parquet")
    figs = sweep_figures(tmp_path / "out")
    assert set(figs) == {
        "compliance_vs_volunteers.count",
        "compliance_vs_meus.count",
        "heatmap_joint_compliance",
        "heatmap_mutual_compliance",
        # against the baseline (the base scenario's 3,941 volunteers and 135 MEUs, an extra arm)
        "difference_vs_volunteers.count",
        "difference_vs_meus.count",
    }
    ax = figs["compliance_vs_volunteers.count"].axes[0]
    mutual = next(ln for ln in ax.lines if ln.get_label().startswith("mutual (meus.count=135"))
    want = points[(points.metric == "mutual_compliance") & (points["meus.count"] == 135)]
    want = want.sort_values("volunteers.count")
    assert np.allclose(mutual.get_xdata(), want["volunteers.count"])
    assert np.allclose(mutual.get_ydata(), want["mean"] * 100)
    heat = figs["heatmap_joint_compliance"].axes[0].images[0].get_array()
    grid = points[points.metric == "joint_compliance"].pivot_table(
        index="meus.count", columns="volunteers.count", values="mean"
    )
    assert np.allclose(np.asarray(heat), grid.to_numpy() * 100)
    for fig in figs.values():
        plots.plt.close(fig)
    assert main(["report", str(tmp_path / "out")]) == 0


@pytest.mark.slow
def test_compare_pairs_by_replication_and_matches_by_hand(run_dir, other_dir, tmp_path):
    table, paired = compare(other_dir, run_dir)
    assert paired  # same seed, same city and incidents: the same incident stream
    a = pd.read_parquet(other_dir / "incidents.parquet")
    b = pd.read_parquet(run_dir / "incidents.parquet")

    def police_share(df):  # the default police tier: reported sudden incidents, from the alert
        df = df[~df.in_warmup & df.sudden & (df.police_needed > 0) & df.alerted_s.notna()]
        ok = (df.first_police_s - df.alerted_s) <= 300
        return ok.groupby(df.replication).mean()

    d = police_share(b) - police_share(a)
    row = table[(table.tier == "police") & (table.metric == "compliance")].iloc[0]
    assert row["difference"] == pytest.approx(d.mean())
    from scipy import stats

    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    assert row["ci95_half_width"] == pytest.approx(half)
    assert main(["compare", str(other_dir), str(run_dir), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "compare.csv").exists() and (tmp_path / "compare_ecdf.png").exists()


@pytest.mark.slow
def test_report_is_self_contained_with_every_figure(run_dir):
    page = html_report(run_dir)
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    # Four figures, and per tier of the demo (self, mutual, police) and joint a zone map and
    # an hour profile (issue 25).
    assert len(images) == len(run_figures(run_dir)) == 4 + 2 * 4
    for data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG")
    assert "http://" not in page and "https://" not in page  # opens with no server or network
    summary = json.loads((run_dir / "summary.json").read_text())
    assert f"{summary['tiers']['mutual']['compliance']['mean']:.1%}" in page
