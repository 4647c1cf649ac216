"""Figures and the self-contained HTML report, from a results folder's tables alone.

A results folder is either a run (`jiefang run`: incidents.parquet, summary.csv, ...) or a
sweep (`jiefang sweep`: runs.parquet, points.parquet, ...).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.analysis import findings, plots
from sim.analysis.breakdown import TABLES, VALUE_COLUMNS
from sim.analysis.breakdown_plots import breakdown_figures
from sim.analysis.summary import NOTE
from sim.experiment import results
from sim.files import atomic_write_bytes
from sim.geo.crs import GridFrame

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def kind_of(folder: Path) -> str:
    """``run`` or ``sweep`` (a :class:`sim.experiment.results.ResultsError` for anything else)."""
    return results.kind_of(folder)


def tiers_of(folder: Path | results.RunResults):
    """The tier table a run used (from its manifest's scenario); the default if absent."""
    run = folder if isinstance(folder, results.RunResults) else results.open_run(folder)
    return (run.manifest.get("scenario") or {}).get("tiers") or None


def run_figures(folder: Path | results.RunResults) -> dict[str, Figure]:
    run = folder if isinstance(folder, results.RunResults) else results.open_run(folder)
    inc, name = run.incidents, run.name
    tiers = tiers_of(run)
    figures = {
        "response_ecdf": plots.response_ecdf_bands(
            inc, f"{name}: time to each tier of help", tiers
        ),
        "by_kind": plots.by_kind(inc, f"{name}: time to help by incident kind", tiers),
        "hour_profile": plots.hour_profile(
            inc, f"{name}: demand and response by hour of day", tiers
        ),
    }
    figures.update(_breakdown_figures(run, tiers))
    if run.layout_cells is not None:
        figures["city_map"] = plots.city_map(
            inc,
            run.layout_cells,
            run.layout_sites,
            f"{name}: median time to first help",
            frame=_frame_of(run.manifest),
        )
    return figures


def breakdown_tables(run: results.RunResults) -> dict[str, pd.DataFrame]:
    """The run's breakdown tables (sim.analysis.breakdown), empty for a folder written before
    they existed."""
    tables = results.read_listed(run, [*TABLES, "breakdown_equity"])
    for name, (file, keys) in TABLES.items():
        table = tables.get(name)
        extra = ["width_m", "height_m"] if name == "breakdown_area" else []
        missing = [c for c in [*keys, *extra, *VALUE_COLUMNS] if table is not None
                   and c not in table.columns]  # fmt: skip
        if missing:
            raise results.ResultsError(
                f"{run.folder / file}: missing columns {', '.join(missing[:5])} (written by "
                "another version); `jiefang breakdown` writes them afresh"
            )
    return tables


def _breakdown_figures(run: results.RunResults, tiers) -> dict[str, Figure]:
    tables = breakdown_tables(run)
    if "breakdown_hour" not in tables:
        return {}
    return breakdown_figures(tables, run.name, tiers, _frame_of(run.manifest))


def _frame_of(manifest: dict):
    """The run's city frame (sim.geo.crs.GridFrame) from its manifest, or None (a grid)."""
    city = manifest.get("scenario", {}).get("city") or {}
    crs, origin = city.get("crs"), city.get("origin")
    if not isinstance(crs, str) or not isinstance(origin, list | tuple) or len(origin) != 2:
        return None
    try:
        return GridFrame(crs, float(origin[0]), float(origin[1]))
    except (TypeError, ValueError):
        return None


def sweep_figures(folder: Path | results.SweepResults) -> dict[str, Figure]:
    sweep = folder if isinstance(folder, results.SweepResults) else results.open_sweep(folder)
    points, varied, name = sweep.points, sweep.varied, sweep.name
    figures = {}
    for param in varied:
        others = [v for v in varied if v != param]  # lines by the next key, facets by the rest
        figures[f"compliance_vs_{param}"] = plots.sweep_compliance(
            points, param, others, f"{name}: compliance against {param}"
        )
    paired = sweep.paired
    if paired is not None and not paired.empty:
        base = _baseline_text(sweep)
        for param in varied:
            others = [v for v in varied if v != param]
            figures[f"difference_vs_{param}"] = plots.sweep_difference(
                paired, param, others, f"{name}: compliance minus the baseline ({base})"
            )
    if len(varied) == 2:
        for metric in ("joint_compliance", "mutual_compliance"):
            figures[f"heatmap_{metric}"] = plots.sweep_heatmap(
                points, varied[0], varied[1], metric, f"{name}: {metric}"
            )
    return figures


def figures_for(folder: Path | results.RunResults | results.SweepResults) -> dict[str, Figure]:
    opened = folder if not isinstance(folder, Path) else results.open_results(folder)
    if isinstance(opened, results.RunResults):
        return run_figures(opened)
    return sweep_figures(opened)


def write_figures(figures: dict[str, Figure], out: Path) -> list[Path]:
    """Each figure as PNG and SVG under ``out``."""
    written = []
    try:
        for name, fig in figures.items():
            for fmt in ("png", "svg"):
                buf = io.BytesIO()
                fig.savefig(buf, format=fmt)
                atomic_write_bytes(out / f"{name}.{fmt}", buf.getvalue())
                written.append(out / f"{name}.{fmt}")
    finally:  # a refused target must not leave the other figures open
        for fig in figures.values():
            plots.plt.close(fig)
    return written


# ---------------------------------------------------------------- HTML
_CAPTIONS = {
    "response_ecdf": (
        "Time to each tier of help",
        "Share of the incidents each tier counts that were helped within t minutes, each tier "
        "on its own clock, with the range over replications; dotted lines mark the targets. "
        "Never: incidents a tier never reached keep its curve below 100 %; the gap left at "
        "the right edge is the share never reached.",
    ),
    "by_kind": (
        "By incident kind",
        "Time to each tier for the incidents it reached, by kind: a violin, or the points "
        "themselves where fewer than 10 were reached; times past 30 minutes are drawn at 30. "
        "Never is not a time: beside each kind, the incidents the tier counts (n) and the "
        "share it never reached.",
    ),
    "hour_profile": (
        "By hour of day",
        "Bars: incidents per hour of day (mean over days and replications). Lines: median "
        "time to each tier by the hour the incident happened; an hour whose median is never "
        "(more than half never reached) is left out of its line.",
    ),
    "city_map": (
        "Where",
        "Median minutes from occurrence to first help (any responder) of the counted "
        "incidents (after the warm-up, all replications pooled), by square block of cells: "
        f"the smallest block at which blocks hold {plots.MIN_BLOCK_INCIDENTS} incidents on "
        f"average, named in the title. Only blocks with at least {plots.MIN_BLOCK_INCIDENTS} "
        "incidents are coloured; grey blocks had fewer "
        "(a median of so few is noise), blank ones none. Never: a block where more than half "
        "never got help shows as 15+ minutes. A median per block has no interval drawn: the "
        "minimum count is what keeps noise off the map, and the intervals of the figures "
        "above hold for the whole area. Water, police stations and MEU sites are drawn; the "
        "legend is below the map.",
    ),
}


def figure_caption(name: str, fig=None) -> tuple[str, str]:
    """(heading, caption) of a report figure: what it shows and how to read never. With the
    figure, the caption says what it drew (:func:`sim.analysis.plots.drawn`): P90 panel or
    facets, bands or none."""
    if name in _CAPTIONS:
        return _CAPTIONS[name]
    if name.startswith("compliance_vs_"):
        param = name.removeprefix("compliance_vs_")
        notes = plots.drawn(fig) if fig is not None else {}
        bands = notes.get("bands", True)
        facets = notes.get("facets", 1)
        p90 = notes.get("p90_panel", True)
        layout = (
            "one compliance panel per combination of the third and later varied keys"
            if isinstance(facets, int) and facets > 1
            else "a compliance panel and a P90 panel"
        )
        return (
            f"Compliance against {param}",
            f"Mean share of counted incidents helped within the target, each tier on its own "
            f"clock, over replications, against {param}: {layout}; one line per value of "
            "the next varied key, legend below the panels. "
            + ("Bands: 95 % intervals of the means. " if bands else
               f"No bands: with more than {plots.MAX_BANDS} lines in a panel they would "
               "fill it (the report's tables give the intervals). ")
            + "Incidents never reached count as not within the target."
            + (" The P90 panel leaves out points where more than 10 % were never reached."
               if p90 else ""),
        )  # fmt: skip
    if name.startswith("difference_vs_"):
        param = name.removeprefix("difference_vs_")
        return (
            f"Difference from the baseline against {param}",
            "Each tier's compliance at a point minus the baseline's, in percentage points, "
            "each tier on its own clock: the mean over replications of the per-replication "
            "differences, with the paired 95 % interval as error bars (every point and the "
            "baseline see the same incidents in replication r, so these intervals are "
            "much tighter than the bands of the compliance figure); intervals clipped to "
            "the possible range, -100 to +100 pp. Each panel has its own y axis. One line per "
            "combination of the other varied keys, shifted slightly sideways so that equal "
            "lines do not hide each other. Never reached counts as not within the target.",
        )
    if name.startswith("heatmap_"):
        metric = name.removeprefix("heatmap_")
        return (
            f"{metric.replace('_', ' ')} over the grid",
            "Mean over replications at each grid point, in %; the colour scale spans the "
            "values shown. Never reached counts as not within the target.",
        )
    return name.replace("_", " "), ""


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
pre { background: #f7f7f7; padding: 1em; overflow: auto; font-size: 0.8em; }
figure { margin: 1.5em 0; } figcaption { font-size: 0.9em; color: #444; max-width: 900px; }
"""


def _png_data(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plots.plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _summary_table(summary: pd.DataFrame) -> str:
    s = summary[(summary["scope"] == "all") & summary["own_clock"].astype(bool)]
    rows = []
    for tier in [*dict.fromkeys(s["tier"])]:
        clock = s.loc[s["tier"] == tier, "clock"].iloc[0]
        cells = [tier if tier == "joint" else f"{tier} (from {clock})"]
        for metric in ("compliance", "p50_s", "p90_s", "p95_s"):
            hit = s[(s["tier"] == tier) & (s["metric"] == metric)]
            if not len(hit):
                cells.append("-")
                continue
            m, h = hit["mean"].iloc[0], hit["ci95_half_width"].iloc[0]
            if metric == "compliance":
                lo, hi = hit["ci95_low"].iloc[0], hit["ci95_high"].iloc[0]
                cells.append(f"{m:.1%}" + ("" if pd.isna(lo) else f" ({lo:.1%}–{hi:.1%})"))
            elif m == float("inf"):
                cells.append("never")
            else:
                cells.append(f"{m / 60:.2f}" + ("" if pd.isna(h) else f" ± {h / 60:.2f}"))
        rows.append(cells)
    head = ["tier", "compliance (95 % CI)", "P50 (min)", "P90 (min)", "P95 (min)"]
    return _html_table(head, rows)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>")
    return "\n".join(out) + "</table>"


def _points_table(points: pd.DataFrame) -> str:
    keep = points[points["metric"].isin([m for m, _ in plots.sweep_tiers(points, "_compliance")])]
    index = [c for c in keep.columns if c not in ("metric", "mean", "ci95_half_width",
                                                   "ci95_low", "ci95_high",
                                                   "replications")]  # fmt: skip
    # No interval (one replication, or a tier that counted an incident in one) shows none.
    if {"ci95_low", "ci95_high"} <= set(keep.columns):  # a share's interval, inside [0, 1]
        band = [("" if pd.isna(lo) or pd.isna(hi) else f" ({lo:.1%}–{hi:.1%})")
                for lo, hi in zip(keep["ci95_low"], keep["ci95_high"], strict=True)]  # fmt: skip
    else:
        band = keep["ci95_half_width"].map(lambda h: "" if pd.isna(h) else f" ± {h:.1%}")
    wide = keep.assign(text=keep["mean"].map("{:.1%}".format) + band)
    # A list's label (24 hourly shares) shown short; numbers as they are.
    wide = wide.assign(**{c: wide[c].map(plots.tick_text) for c in index
                          if wide[c].dtype.kind not in "biufc"})  # fmt: skip
    wide = wide.pivot_table(index=index, columns="metric", values="text", aggfunc="first")
    wide = wide.reset_index()
    return _html_table(list(map(str, wide.columns)), wide.astype(str).values.tolist())


def _baseline_text(sweep: results.SweepResults) -> str:
    """``police.units=2, meus.count=2 (an extra arm)`` from the manifest."""
    info = sweep.baseline or {}
    values = info.get("values")
    values = values if isinstance(values, dict) else {}
    shown = ", ".join(f"{k}={plots.tick_text(v)}" for k, v in values.items())
    where = "an extra arm" if info.get("extra_arm") else f"point {info.get('point_id')}"
    return f"{shown}; {where}" if shown else where


def _pp(mean: float, low: float, high: float, n=None) -> str:
    """A difference in pp with its interval; without one (fewer than two pairs) the cell
    says so: never a bare number under an interval heading."""
    if not np.isfinite(mean):
        return "-"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:+.1f} (n={int(n) if n is not None else '?'}, no interval)"
    return f"{mean:+.1f} ({low:+.1f} to {high:+.1f})"


def _paired_table(sweep: results.SweepResults) -> str:
    """Compliance minus the baseline per point and tier, pp, paired 95 % CI."""
    paired = sweep.paired
    if paired is None or paired.empty:
        return "<p>No difference table: this sweep has no finished baseline runs.</p>"
    rows = paired[paired["measure"] == "compliance"]
    tiers = plots.tier_order(rows["tier"])
    body = []
    for point_id, grp in rows.groupby("point_id", sort=True):
        first = grp.iloc[0]
        cells = [str(point_id), *[plots.tick_text(first[k]) for k in sweep.varied]]
        by_tier = grp.set_index("tier")
        for tier in tiers:
            if tier not in by_tier.index:
                cells.append("-")
                continue
            r = by_tier.loc[tier]
            cells.append(_pp(r["diff"] * 100, r["ci_low"] * 100, r["ci_high"] * 100, r["n"]))
        body.append(cells)
    ratio = (rows["unpaired_ci95_half_width"] / rows["paired_ci95_half_width"]).replace(
        [np.inf, -np.inf], np.nan
    )
    median = float(ratio.median()) if ratio.notna().any() else float("nan")
    note = (
        f"<p>Baseline: {html.escape(_baseline_text(sweep))}. Each cell: the mean over "
        "replications of (compliance at the point minus the baseline's, same replication), "
        "percentage points, with the paired 95 % interval, clipped to the possible range "
        "(-100 to +100 pp); each tier on its own clock, the incidents it counts after the "
        "warm-up. Only replications where both the point and the baseline counted "
        "incidents are paired; with one such pair the cell says n=1 and has no interval. "
        + (f"Unpaired intervals would be {median:.1f} times as wide (median). "
           if np.isfinite(median) else "")
        + "</p>"
    )  # fmt: skip
    head = ["point", *sweep.varied, *[f"{t} (pp)" for t in tiers]]
    return note + _html_table(head, body)


def _marginal_table(sweep: results.SweepResults) -> str:
    """The marginal value per unit of each varied staffing key."""
    marginal = sweep.marginal
    if marginal is None or marginal.empty:
        return ""
    tiers = plots.tier_order(marginal["tier"])
    others = [k for k in sweep.varied if k in marginal.columns]
    body = []
    # A step is one pair of points (values may be lists, which pandas cannot group by).
    for _, grp in marginal.groupby(["key", "from_point_id", "to_point_id"], sort=False):
        first = grp.iloc[0]
        fixed = ", ".join(f"{k}={plots.tick_text(first[k])}" for k in others
                          if k != first["key"] and pd.notna(first[k]))  # fmt: skip
        cells = [str(first["key"]), f"{plots.tick_text(first['from_value'])} → "
                 f"{plots.tick_text(first['to_value'])}", fixed or "-"]  # fmt: skip
        by_tier = grp.set_index("tier")
        for tier in tiers:
            r = by_tier.loc[tier]
            cells.append(_pp(r["gain_pp_per_unit"], r["ci_low_pp"], r["ci_high_pp"], r["n"]))
        body.append(cells)
    pairs = zip(marginal["key"], marginal["unit"], strict=True)
    units = ", ".join(dict.fromkeys(f"{k}: per {u}" for k, u in pairs))
    note = (
        "<p>Gain in compliance per unit added, between adjacent levels of a staffing key "
        f"with every other varied key fixed ({html.escape(units)}): the mean over "
        "replications of (compliance at the higher level minus at the lower, same "
        "replication) divided by the units added, percentage points, with the paired 95 % "
        "interval, clipped to the possible range (n=1: no interval). Each tier on its own "
        "clock; the incidents it counts after the warm-up.</p>"
    )
    head = ["key", "step", "others fixed at", *[f"{t} (pp per unit)" for t in tiers]]
    return note + _html_table(head, body)


def html_report(folder: Path) -> str:
    """One self-contained HTML page a planner reads: the headline table, findings per tier
    written from the numbers, the figures, the definitions and the scenario as a table; the
    raw scenario and manifest only in a collapsed appendix."""
    opened = results.open_results(Path(folder))
    manifest, name = opened.manifest, opened.name
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>jiefang report: {html.escape(name)}</title><style>{STYLE}</style>"
             f"</head><body><h1>jiefang report: {html.escape(name)}</h1>"]  # fmt: skip
    if isinstance(opened, results.RunResults):
        scenario = manifest.get("scenario") or {}
        tiers = scenario.get("tiers")
        tables = breakdown_tables(opened)
        parts.append(f"<p>{html.escape(_run_settings(manifest))} Each tier is timed on its own "
                     "clock (named in the table); compliance = share of the incidents the tier "
                     "counts helped within its target, never reached counting as not within "
                     "it; mean over replications with its 95 % interval.</p>")  # fmt: skip
        parts.append("<h2 id='headline'>Headline</h2>" + _summary_table(opened.summary))
        parts.append("<h2 id='findings'>Findings by tier</h2>")
        if "breakdown_hour" not in tables:
            parts.append("<p>This run folder was written before breakdowns existed: run the "
                         "scenario again for where and when each tier fails.</p>")  # fmt: skip
        source = manifest.get("source_file")
        for tier in plots.tier_order(opened.summary["tier"]):
            shown = source if isinstance(source, str) else None
            parts.append(findings.tier_finding(tier, opened.summary, tables, tiers, shown))
        overrides, varied = None, None
    else:
        scenario = manifest.get("base_scenario") or {}
        tiers = scenario.get("tiers")
        spec = manifest.get("sweep") or {}
        overrides = {**(spec.get("set") or {}),
                     "replications": spec.get("replications")}  # fmt: skip
        varied = {**(spec.get("grid") or {}), **((spec.get("lhs") or {}).get("ranges") or {})}
        parts.append(f"<p>{html.escape(_sweep_settings(manifest))}</p>")
        parts.append("<h2 id='headline'>Compliance by sweep point</h2><p>Mean over "
                     "replications with its 95 % interval, inside [0, 100] % (a level, not a "
                     "difference: differences between points are below, with paired "
                     "intervals). In a sweep a tier's share keeps a fixed denominator: the "
                     "incidents of the kinds it applies to, an incident outside its scope "
                     "(nobody on scene, never reported) counting as not met, so that adding "
                     "staff never shows as a lower share.</p>"
                     + _points_table(opened.points))  # fmt: skip
        parts.append("<h2>Difference from the baseline</h2>" + _paired_table(opened))
        parts.append(_equity_paired_table(opened))
        marginal = _marginal_table(opened)
        if marginal:
            parts.append("<h2>Marginal value per unit</h2>" + marginal)
    parts.append("<h2 id='figures'>Figures</h2>")
    for fig_name, fig in figures_for(opened).items():
        heading, caption = figure_caption(fig_name, fig)
        parts.append(f"<figure><h3>{html.escape(heading)}</h3>"
                     f"<img alt='{html.escape(fig_name)}' "
                     f"src='data:image/png;base64,{_png_data(fig)}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip
    parts.append("<h2 id='definitions'>Definitions</h2>" + _definitions(tiers, scenario))
    parts.append(
        "<h2 id='scenario'>Scenario</h2>"
        + _html_table(["key", "value", "note"], findings.scenario_rows(scenario, overrides, varied))
    )
    rest = {k: v for k, v in manifest.items() if k not in ("scenario", "base_scenario")}
    parts.append("<h2 id='appendix'>Appendix</h2><details><summary>Raw scenario and manifest "
                 "(JSON)</summary><h3>Scenario</h3><pre>"
                 + html.escape(json.dumps(scenario, indent=2)) + "</pre><h3>Manifest</h3><pre>"
                 + html.escape(json.dumps(rest, indent=2)) + "</pre></details>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


def _run_settings(manifest: dict) -> str:
    sc = manifest.get("scenario") or {}
    return (f"Seed {manifest.get('seed')}, {manifest.get('replications')} replication(s) of "
            f"{sc.get('horizon_hours')} h (the first {sc.get('warmup_hours')} h a warm-up, "
            "not counted).")  # fmt: skip


def _sweep_settings(manifest: dict) -> str:
    """The sweep's own settings: its seed, replications and the values it set over the base
    scenario (not the base's own horizon and replications)."""
    spec = manifest.get("sweep") or {}
    base = manifest.get("base_scenario") or {}
    fixed = spec.get("set") or {}
    horizon = fixed.get("horizon_hours", base.get("horizon_hours"))
    warmup = fixed.get("warmup_hours", base.get("warmup_hours"))
    return (f"{manifest.get('points')} points x {spec.get('replications')} replications "
            f"= {manifest.get('runs')} runs, seed {spec.get('seed')}; each run {horizon} h "
            f"(the first {warmup} h a warm-up, not counted). Every point sees the same "
            "incidents in replication r (common random numbers).")  # fmt: skip


def _definitions(tiers, scenario: dict) -> str:
    settings = scenario.get("breakdown") or {}
    zone = settings.get("zone_cells")
    size = "about 1 km (whole cells)" if zone is None else f"{zone} x {zone} cells"
    return (
        _html_table(["tier", "target", "responders", "clock", "counts"],
                    findings.definition_rows(tiers))
        + f"<p>{html.escape(NOTE)}</p><p>Breakdowns: each tier on its own clock by the hour "
        f"the incident happened, by planning zone (square zones of {html.escape(size)} over "
        "the city's cells), by land use of the incident's cell and by incident kind, with the "
        "same interval rules; a group with fewer than "
        f"{settings.get('min_incidents', 10)} counted incidents (all replications) shows no "
        "share. Worst tenth of zones: the tenth (at least one) of the zones with enough "
        "incidents where the tier is met least, picked from this run, against every other "
        "zone; the gap is the mean of the per-replication gaps with its paired interval.</p>"
    )  # fmt: skip


def _equity_paired_table(sweep: results.SweepResults) -> str:
    """The worst zones' and the focus land use's shares minus the baseline's, paired."""
    paired = sweep.paired
    if paired is None or paired.empty:
        return ""
    rows = paired[paired["measure"].isin(["worst_zones_share", "focus_share"])]
    rows = rows[np.isfinite(rows["diff"].to_numpy(float))]
    if rows.empty:
        return ("<h2>The worst places</h2><p>No run had enough incidents per zone or in the "
                "focus land use for these shares (breakdown.min_incidents).</p>")  # fmt: skip
    body = []
    for _, r in rows.iterrows():
        values = ", ".join(f"{k}={plots.tick_text(r[k])}" for k in sweep.varied if k in r)
        label = {"worst_zones_share": "worst tenth of zones",
                 "focus_share": "focus land use"}[r["measure"]]  # fmt: skip
        body.append(
            [
                str(r["point_id"]),
                values or "-",
                str(r["tier"]),
                label,
                _pp(r["diff"] * 100, r["ci_low"] * 100, r["ci_high"] * 100, r["n"]),
            ]
        )
    return (
        "<h2>The worst places</h2><p>Per run, the share met of the incidents of each "
        "tier's kinds in that run's worst tenth of zones and in the focus land use; each "
        "cell the point minus the baseline, paired by replication, percentage points with "
        "the paired 95 % interval.</p>"
        + _html_table(["point", "values", "tier", "where", "difference (pp)"], body)
    )


def is_compare_folder(folder: Path) -> bool:
    """A folder written by ``jiefang compare`` (its manifest says so)."""
    try:
        meta = results.read_manifest(Path(folder))
    except results.ResultsError:
        return False
    return isinstance(meta.get("compare"), dict)


def compare_report(folder: Path) -> str:
    """One self-contained HTML page of a ``jiefang compare`` folder: its table (compliance in
    %, times in minutes, differences with their 95 % intervals) and its overlaid ECDFs. The
    files are checked against the SHA-256 the manifest holds."""
    folder = Path(folder)
    meta = results.read_manifest(folder)
    files = meta.get("files") or {}
    data = {}
    for name in ("compare", "compare_ecdf"):
        entry = files.get(name)
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise results.ResultsError(f"{folder / 'manifest.json'}: {name} is not listed")
        data[name] = results.verified(folder / Path(entry["path"]).name, str(entry.get("sha256")))
    table = pd.read_csv(io.BytesIO(data["compare"]))
    info = meta["compare"]
    labels = info.get("labels") or ["A", "B"]
    how = (
        "paired by replication (same incidents)" if info.get("paired") else "independent (Welch t)"
    )
    rows = []
    for r in table.itertuples(index=False):
        pct = r.metric == "compliance"
        scale, unit = (100.0, " pp") if pct else (1 / 60, " min")

        def show(v: float, pct: bool = pct, scale: float = scale) -> str:
            if not np.isfinite(v):
                return "never"
            return f"{v * scale:.1f} %" if pct else f"{v * scale:.2f} min"

        half = "" if not np.isfinite(r.ci95_half_width) else f" ± {r.ci95_half_width * scale:.2f}"
        diff = "-" if not np.isfinite(r.difference) else f"{r.difference * scale:+.2f}{half}{unit}"
        metric = {"compliance": "compliance", "p50_s": "P50", "p90_s": "P90"}.get(
            r.metric, r.metric
        )
        rows.append([r.tier, metric, show(r.a), show(r.b), diff])
    title = f"{labels[0]} against {labels[1]}"
    image = base64.b64encode(data["compare_ecdf"]).decode()
    return "\n".join([
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>jiefang compare: {html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><h1>jiefang compare: {html.escape(title)}</h1>",
        f"<p>B - A, {html.escape(how)}; A = {html.escape(str(info.get('a')))}, "
        f"B = {html.escape(str(info.get('b')))}. Never: more than that share of incidents "
        "never reached the tier.</p>",
        _html_table(["tier", "metric", "A", "B", "B - A (95 % CI)"], rows),
        "<figure><h3>Time to each tier, both runs</h3>"
        f"<img alt='compare_ecdf' src='data:image/png;base64,{image}'><figcaption>Share of "
        "counted incidents helped within t minutes, A dashed, B solid; the gap left below "
        "100 % is the share never reached.</figcaption></figure>",
        _compare_equity(folder, files),
        "</body></html>",
    ])  # fmt: skip


def _compare_equity(folder: Path, files: dict) -> str:
    """The worst places' table of a compare folder (none in folders written before it)."""
    entry = files.get("compare_equity")
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return ""
    data = results.verified(folder / Path(entry["path"]).name, str(entry.get("sha256")))
    table = pd.read_csv(io.BytesIO(data))
    rows = []
    for r in table.itertuples(index=False):
        a = "-" if pd.isna(r.a) else f"{r.a:.1%}"
        b = "-" if pd.isna(r.b) else f"{r.b:.1%}"
        diff = _pp(r.difference * 100, r.ci95_low * 100, r.ci95_high * 100, r.pairs)
        rows.append([r.tier, r.group, a, b, diff])
    return (
        "<h2>The worst places</h2><p>Per tier, A's worst tenth of zones (held fixed) and the "
        "focus land use, and the rest of the city beside each: compliance in A and in B "
        "(over the replications both have incidents there) and B - A paired by replication, "
        "percentage points with the paired 95 % interval.</p>"
        + _html_table(["tier", "where", "A", "B", "B - A, pp (95 % CI)"], rows)
    )
