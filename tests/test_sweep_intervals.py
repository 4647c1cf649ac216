"""Review findings 5-8 on the sweep tables, printout and figures: paired intervals stay in
the possible range, n=1 says it has no interval, "never" percentiles pair silently, and the
compliance figure's caption, legend and bands describe what is drawn."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from sim.analysis import plots
from sim.experiment.batch import _paired, marginal_table

METRICS = ["self_compliance", "police_compliance", "self_p90_s", "police_p90_s"]


def runs_frame(values: dict[int, dict[str, list[float]]], key: str = "police.units"):
    """A runs table by hand: ``{point_id: {metric: [one value per replication]}}``; the
    point's value of ``key`` is its id + 1."""
    rows = []
    for point_id, metrics in values.items():
        reps = len(next(iter(metrics.values())))
        for r in range(reps):
            row = {"point_id": point_id, key: point_id + 1, "replication": r, "status": "ok"}
            rows.append(row | {m: float(metrics.get(m, [np.nan] * reps)[r]) for m in METRICS})
    return pd.DataFrame(rows)


def test_paired_compliance_interval_is_clipped_to_the_possible_range():
    # Three replications, differences -1, 0, -0.5: the t interval is -0.5 +- 1.24.
    runs = runs_frame({0: {"self_compliance": [0, 1, 0.5]},
                       1: {"self_compliance": [1, 1, 1]}})  # fmt: skip
    paired = _paired(runs, ["police.units"], METRICS, baseline=1)
    row = paired[(paired.point_id == 0) & (paired.metric == "self_compliance")].iloc[0]
    assert row["diff"] == pytest.approx(-0.5)
    assert row.paired_ci95_half_width > 1  # the unclipped t half-width
    assert (row.ci_low, row.ci_high) == (-1.0, pytest.approx(-0.5 + row.paired_ci95_half_width))
    shares = paired[paired.measure == "compliance"].dropna(subset=["ci_low"])
    assert shares.ci_low.min() >= -1 and shares.ci_high.max() <= 1


def test_marginal_interval_is_clipped_to_the_possible_range_per_unit():
    runs = runs_frame({0: {"self_compliance": [0, 1, 0.5]},
                       1: {"self_compliance": [1, 1, 1]}})  # fmt: skip
    marginal = marginal_table(runs, ["police.units"], METRICS)
    row = marginal[marginal.tier == "self"].iloc[0]
    assert row.gain_pp_per_unit == pytest.approx(50)
    assert row.ci_high_pp == 100 and row.ci_low_pp > -100


def test_never_percentiles_pair_silently_and_are_left_out():
    # +inf - (-)... a pair where either side is never: no difference, no warning, no inf.
    runs = runs_frame(
        {
            0: {"self_p90_s": [np.inf, 100, 110], "police_p90_s": [np.inf, 5, 6]},
            1: {"self_p90_s": [100, 90, 100], "police_p90_s": [7, np.inf, 8]},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paired = _paired(runs, ["police.units"], METRICS, baseline=1)
    times = paired[paired.measure == "p90_s"]
    assert not np.isinf(times[["diff", "mean", "baseline_mean", "ci_low", "ci_high"]]).any().any()
    row = times[(times.point_id == 0) & (times.tier == "self")].iloc[0]
    assert (row.n, row.never_pairs) == (2, 1)
    assert row["diff"] == pytest.approx(10) == row["mean"] - row["baseline_mean"]
    police = times[(times.point_id == 0) & (times.tier == "police")].iloc[0]
    assert (police.n, police.never_pairs) == (1, 2) and police["diff"] == pytest.approx(-2)
    assert np.isnan(police.ci_low)  # one pair: no interval


def test_one_pair_prints_its_difference_and_says_there_is_no_interval():
    from sim.experiment.report import _pp as report_pp
    from sim.interface.cli import marginal_text, paired_text

    # Levels differ (point 0: 100 %; baseline 75 %), but only replication 2 has incidents
    # on both sides: the paired difference is over that pair, 1.0 - 1.0.
    runs = runs_frame({0: {"self_compliance": [1, np.nan, 1]},
                       1: {"self_compliance": [np.nan, 0.5, 1]}})  # fmt: skip
    paired = _paired(runs, ["police.units"], METRICS, baseline=1)
    row = paired[(paired.point_id == 0) & (paired.metric == "self_compliance")].iloc[0]
    assert (row.n, row["mean"], row["baseline_mean"], row["diff"]) == (1, 1.0, 1.0, 0.0)
    text = paired_text(paired, ["police.units"], {"police.units": 2}, 1)
    assert "+0.00 (n=1, no interval)" in text
    assert "where both counted incidents" in text
    cells = [c for line in text.splitlines()[1:] for c in line.split("  ") if c.strip()]
    assert not any(c.strip() in ("+0.00", "-0.00") for c in cells)  # never a bare number
    assert report_pp(0.0, np.nan, np.nan, 1) == "+0.0 (n=1, no interval)"
    marginal = marginal_table(runs, ["police.units"], METRICS)
    assert "(n=1, no interval)" in marginal_text(marginal, ["police.units"])


def test_difference_figure_gives_each_tier_its_own_y_axis():
    runs = runs_frame(
        {
            0: {"self_compliance": [0, 1, 0.5], "police_compliance": [0.5, 0.51, 0.5]},
            1: {"self_compliance": [1, 1, 1], "police_compliance": [0.5, 0.5, 0.5]},
            2: {"self_compliance": [1, 0, 1], "police_compliance": [0.5, 0.52, 0.5]},
        }
    )
    paired = _paired(runs, ["police.units"], METRICS, baseline=1)
    fig = plots.sweep_difference(paired, "police.units", [], "t")
    self_ax, police_ax = fig.axes[:2]
    assert not self_ax.get_shared_y_axes().joined(self_ax, police_ax)
    assert police_ax.get_ylim()[1] - police_ax.get_ylim()[0] < 10  # pp: not flattened
    low, high = self_ax.get_ylim()
    assert low >= -110 and high <= 110  # error bars end at -100..+100
    plots.plt.close(fig)


def points_frame(keys: dict[str, list], tiers=("self", "police")) -> pd.DataFrame:
    """A points table by hand over the full grid of ``keys``."""
    grid = pd.MultiIndex.from_product(list(keys.values()), names=list(keys)).to_frame(index=False)
    rows = []
    for i, point in grid.iterrows():
        for tier in tiers:
            for measure, mean in (("compliance", 0.5 + 0.01 * i), ("p90_s", 300.0)):
                rows.append(
                    {
                        "point_id": i,
                        **point.to_dict(),
                        "metric": f"{tier}_{measure}",
                        "mean": mean,
                        "ci95_half_width": 0.05,
                        "replications": 3,
                    }
                )
    return pd.DataFrame(rows)


def _bands(fig) -> int:
    from matplotlib.collections import PolyCollection

    return sum(isinstance(c, PolyCollection) for ax in fig.axes for c in ax.collections)


@pytest.mark.parametrize("three", [False, True])
def test_compliance_figure_legend_outside_bands_dropped_caption_as_drawn(three):
    from sim.experiment.report import figure_caption

    keys = {"meus.count": [0, 1, 2], "police.units": [1, 2, 3, 4, 5, 6]}
    if three:
        keys["volunteers.count"] = [0, 100]
    points = points_frame(keys)
    others = [k for k in keys if k != "meus.count"]
    fig = plots.sweep_compliance(points, "meus.count", others, "t")
    assert all(ax.get_legend() is None for ax in fig.axes)  # no legend over the data
    assert len(fig.legends) == 1
    assert _bands(fig) == 0  # 6 values x 2 tiers = 12 lines a panel: no bands
    _, caption = figure_caption("compliance_vs_meus.count", fig)
    assert "No bands" in caption
    assert ("P90 panel" in caption) is not three
    plots.plt.close(fig)
    few = points_frame({"meus.count": [0, 1, 2], "police.units": [1, 2]})
    fig = plots.sweep_compliance(few, "meus.count", ["police.units"], "t")
    assert _bands(fig) > 0  # 4 lines: bands kept
    _, caption = figure_caption("compliance_vs_meus.count", fig)
    assert "Bands: 95 %" in caption and "P90 panel" in caption
    plots.plt.close(fig)


def test_run_help_names_the_gis_files_a_city_with_a_frame_gets():
    import contextlib
    import io

    from sim.interface.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(out.getvalue().split())
    assert "layers.gpkg" in text and "sites.geojson" in text and "city.crs" in text


def test_readme_planning_section_shows_every_method_and_kind_of_optimize():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    section = readme.split("## Where the next units go", 1)[1].split("\n## ", 1)[0]
    for method in ("lscp", "pmedian", "sim"):
        assert f"--method {method}" in section
    for kind in ("meus=20", "police_posts=5", "volunteers=1000"):
        assert f"jiefang optimize scenarios/guangzhou-2023-subdistrict.yaml --add {kind}" in (
            section
        )
    assert "another worktree" not in (root / "docs" / "planning.md").read_text()
    perf = (root / "docs" / "performance.md").read_text()
    assert "### The issue-13 targets today" not in perf
