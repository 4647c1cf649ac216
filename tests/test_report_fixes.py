"""Figure and report fixes from issue 14: sweep figures facet by the third and fourth varied
key (each panel draws exactly its own points), heatmap scales, the by-kind figure, captions,
and reports of compare folders."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from sim.analysis import plots


def points_table(keys: dict[str, list]) -> pd.DataFrame:
    rows = []
    for point_id, values in enumerate(itertools.product(*keys.values())):
        v = dict(zip(keys, values, strict=True))
        # A distinct value per point, so each drawn y identifies its point.
        mean = 0.1 + 0.01 * point_id
        for metric, m in (("mutual_compliance", mean), ("police_compliance", mean / 2),
                          ("police_p90_s", 300.0 + point_id)):  # fmt: skip
            rows.append({"point_id": point_id, **v, "metric": metric, "mean": m,
                         "ci95_half_width": 0.01})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize("keys", [
    {"meus.count": [0, 50, 100], "volunteers.count": [0, 2000], "police.units": [5, 10]},
    {"meus.count": [0, 100], "volunteers.count": [0, 2000], "police.units": [5, 10],
     "volunteers.acceptance": [0.3, 0.6]},
])  # fmt: skip
def test_each_panel_draws_only_its_own_points(keys):
    points = points_table(keys)
    names = list(keys)
    param, line_key, facet_keys = names[0], names[1], names[2:]
    fig = plots.sweep_compliance(points, param, names[1:], "facets")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    combos = list(itertools.product(*(keys[k] for k in facet_keys)))
    assert len(panels) == len(combos)
    for ax, combo in zip(panels, combos, strict=True):
        facet = dict(zip(facet_keys, combo, strict=True))
        assert ax.get_title() == ", ".join(f"{k}={v}" for k, v in facet.items())
        mine = points[(points[list(facet)] == pd.Series(facet)).all(axis=1)]
        drawn = {}
        for line in ax.get_lines():
            label = line.get_label()  # "<tier> (<line key>=<value>)"
            drawn[label] = (list(line.get_xdata()), list(np.round(line.get_ydata(), 9)))
        expected = {}
        for value in keys[line_key]:
            for tier in ("mutual", "police"):
                sub = mine[(mine[line_key] == value) & (mine["metric"] == f"{tier}_compliance")]
                sub = sub.sort_values(param)
                expected[f"{tier} ({line_key}={value})"] = (
                    list(sub[param]),
                    list(np.round(sub["mean"] * 100, 9)),
                )
        assert drawn == expected
    plots.plt.close(fig)


def test_two_varied_keys_keep_one_panel_pair_with_a_line_per_value():
    points = points_table({"meus.count": [0, 50, 100], "volunteers.count": [0, 2000]})
    fig = plots.sweep_compliance(points, "meus.count", ["volunteers.count"], "two keys")
    compliance = fig.axes[0]
    labels = sorted(line.get_label() for line in compliance.get_lines())
    assert labels == ["mutual (volunteers.count=0)", "mutual (volunteers.count=2000)",
                      "police (volunteers.count=0)", "police (volunteers.count=2000)"]  # fmt: skip
    assert all(len(line.get_xdata()) == 3 for line in compliance.get_lines())
    plots.plt.close(fig)


def test_heatmap_scale_follows_the_values_and_ticks_are_short():
    keys = {"volunteers.acceptance": [0.312345678901234, 0.6], "meus.count": [0, 135]}
    points = points_table(keys)
    points.loc[points.metric == "mutual_compliance", "mean"] = [0.05, 0.07, 0.11, 0.13]
    fig = plots.sweep_heatmap(
        points, "meus.count", "volunteers.acceptance", "mutual_compliance", "h"
    )
    image = fig.axes[0].images[0]
    assert image.norm.vmin == pytest.approx(5.0) and image.norm.vmax == pytest.approx(13.0)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0.3123", "0.6"]
    assert sorted(t.get_text() for t in fig.axes[0].texts) == ["11.0", "13.0", "5.0", "7.0"]
    plots.plt.close(fig)


@pytest.mark.slow
def test_by_kind_counts_never_apart_and_draws_few_incidents_as_points():
    import sim
    from sim.analysis.metrics import tier_times
    from tests.conftest import scenario

    sc = scenario(
        meus={"count": 3}, volunteers={"count": 200},
        incidents={"kinds": {"fall": {"share": 10}, "rare": {"share": 1}}},
    )  # fmt: skip
    incidents = sim.run(sc, seed=0, replications=1).incidents
    fig = plots.by_kind(incidents, "kinds", sc.tiers)
    times = tier_times(incidents, sc.tiers)
    assert set(incidents["kind"]) == {"fall", "rare"}
    drawn_points = 0
    for ax, tier in zip(fig.axes, [t.name for t in sc.tiers], strict=True):
        labels = sorted(t.get_text() for t in ax.texts)
        want = []
        for kind in ("fall", "rare"):
            t = times[(times["tier"] == tier) & (times["kind"] == kind)]["time_s"].to_numpy()
            if t.size:
                want.append(f"n={t.size}, never {1 - np.isfinite(t).mean():.0%}")
        assert labels == sorted(want)
        few = []  # kinds reached fewer than MIN_VIOLIN times are drawn as their points
        for kind in ("fall", "rare"):
            t = times[(times["tier"] == tier) & (times["kind"] == kind)]["time_s"].to_numpy()
            if 0 < np.isfinite(t).sum() < plots.MIN_VIOLIN:
                few += np.minimum(t[np.isfinite(t)] / 60, 30).tolist()
        pts = [ln for ln in ax.get_lines() if ln.get_linestyle() == "None"]
        assert np.allclose(sorted(x for ln in pts for x in ln.get_xdata()), sorted(few))
        drawn_points += len(few)
    assert drawn_points > 0  # the case is exercised
    plots.plt.close(fig)


def test_every_report_figure_has_a_heading_and_a_caption_that_reads_never():
    from sim.experiment.report import figure_caption

    names = ["response_ecdf", "by_kind", "hour_profile", "city_map",
             "compliance_vs_meus.count", "heatmap_mutual_compliance"]  # fmt: skip
    for name in names:
        heading, caption = figure_caption(name)
        assert heading and "_" not in heading.replace("meus.count", "")
        assert caption.endswith(".")
    for name in ("response_ecdf", "by_kind", "hour_profile", "compliance_vs_x", "heatmap_y"):
        assert "never" in figure_caption(name)[1].lower()


@pytest.mark.slow
def test_report_of_a_compare_folder_shows_its_table_and_figure(tmp_path, capsys):
    import yaml

    from sim.interface.cli import main
    from tests.conftest import scenario

    runs = []
    for name, vols in (("a", 0), ("b", 300)):
        path = tmp_path / f"{name}.yaml"
        sc = scenario(name=name, volunteers={"count": vols}, horizon_hours=12.0)
        path.write_text(yaml.safe_dump(sc.model_dump(mode="json")))
        assert (
            main(["run", str(path), "-r", "2", "-q", "--no-plot", "--out", str(tmp_path / name)])
            == 0
        )
        runs.append(tmp_path / name)
    out = tmp_path / "cmp"
    assert main(["compare", str(runs[0]), str(runs[1]), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    page = (out / "report.html").read_text()
    table = pd.read_csv(out / "compare.csv")
    mutual = table[(table.tier == "mutual") & (table.metric == "compliance")].iloc[0]
    assert f"{mutual.b * 100:.1f} %" in page and "paired by replication" in page
    assert "data:image/png;base64," in page and "never" in page
    (out / "compare.csv").write_text("tampered")
    assert main(["report", str(out)]) == 2
    # compare never writes its manifest over a run's
    assert main(["compare", str(runs[0]), str(runs[1]), "--out", str(runs[1])]) == 2
    assert "another kind of results" in capsys.readouterr().err


def _tiny_city(n: int = 10, size: float = 100.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    cells = pd.DataFrame([{"row": r, "col": c, "cell_size_m": size,
                           "land_use": "water" if (r, c) == (5, 5) else "residential"}
                          for r in range(n) for c in range(n)])  # fmt: skip
    sites = pd.DataFrame([{"site": "police_station", "x_m": 450.0, "y_m": 450.0},
                          {"site": "meu", "x_m": 50.0, "y_m": 50.0}])  # fmt: skip
    return cells, sites


def _incidents(cell_minutes: dict[tuple[int, int], list[float]]) -> pd.DataFrame:
    """Incidents at the centre of (row, col) cells, first help after the given minutes
    (inf: never helped)."""
    rows = [{"in_warmup": False, "x_m": c * 100 + 50.0, "y_m": r * 100 + 50.0,
             "occurred_s": 1000.0, "first_help_s": 1000.0 + m * 60 if np.isfinite(m) else np.nan}
            for (r, c), minutes in cell_minutes.items() for m in minutes]  # fmt: skip
    rows.append({"in_warmup": True, "x_m": 950.0, "y_m": 950.0, "occurred_s": 0.0,
                 "first_help_s": 60.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_city_map_aggregates_to_blocks_and_colours_only_blocks_with_enough_incidents():
    cells, sites = _tiny_city()
    inc = _incidents({(0, 0): [float(m) for m in range(1, 13)],  # 12 incidents
                      (1, 1): [20.0] * 7 + [np.inf],              # 8, one never helped
                      (9, 9): [2.0, 2.0, 2.0]})  # fmt: skip
    # Cells: (12 + 8 + 3) / 3 < 10 a block; blocks of 2 x 2: (20 + 3) / 2 >= 10.
    assert plots.map_block(inc, cells) == 2
    raster, counts = plots.help_by_block(inc, cells, 2)
    assert counts[0, 0] == 20 and counts[4, 4] == 3 and counts.sum() == 23  # warm-up left out
    assert raster[0, 0] == np.median([*range(1, 13), *[20.0] * 7, np.inf])
    fig = plots.city_map(inc, cells, sites, "t")
    try:
        ax = fig.axes[0]
        coloured = np.ma.filled(ax.images[0].get_array().astype(float), np.nan)
        assert coloured.shape == (5, 5)
        assert coloured[0, 0] == pytest.approx(raster[0, 0])
        assert np.isnan(coloured[4, 4])  # 3 incidents: fewer than the minimum, not coloured
        grey = np.ma.filled(ax.images[1].get_array().astype(float), np.nan)
        assert grey[4, 4] == 1 and np.isnan(grey[0, 0]) and np.isnan(grey[2, 2])
        assert "blocks of 2 x 2 cells (200 m)" in ax.get_title()
        assert "at least 10 incidents" in ax.get_title()
        fig.canvas.draw()
        legend = ax.get_legend().get_window_extent()
        assert legend.y1 <= ax.get_window_extent().y0  # below the map, hiding no cell
    finally:
        plots.plt.close(fig)


def test_city_map_caption_says_what_is_shown():
    from sim.experiment.report import figure_caption

    _, caption = figure_caption("city_map")
    assert "at least 10 incidents" in caption and "block" in caption and "Never" in caption
