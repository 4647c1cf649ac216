"""Face checks against what the articles report; writes docs/findings.md and its figures.

    python -m tools.findings [--replications 10] [--sub-replications 20]
                           [--drill-layouts 10] [--drill-sites 5] [--seed 1] [--write]

The defaults are the documented run. Each replication draws its own layout (the scenarios'
``layout: per_replication``), so every interval covers the layout as well as incidents and
behaviour. Tiers are the scenario's tier table (sim.model.config.default_tiers): self-rescue from
occurrence, mutual rescue and police from the alert, counting sudden incidents and probes;
police is also read from occurrence and from dispatch. Shares carry
sim.analysis.metrics.proportion_ci intervals (honest at 0 % and 100 %); 2018 and 2023 are
paired by replication (same seed, so the same layouts, incidents and probes, which
:func:`same_incidents` checks).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.metrics import (
    OUTCOMES,
    across_replications,
    mean_ci,
    outcome_shares,
    per_replication,
    proportion_ci,
    tier_times,
)
from sim.experiment.runner import run_replications
from sim.geo.scenario import load_scenario
from sim.model.config import Scenario
from sim.model.frames import assignments_frame, incidents_frame
from sim.model.incidents import IncidentStream
from sim.model.response import ResponseModel
from sim.model.vocab import LandUse

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "findings.md"
IMG = ROOT / "docs" / "img"
SCENARIOS = ROOT / "scenarios"
DISTANCE_BANDS = [0, 1000, 2000, 4000, np.inf]
DISTANCE_LABELS = ["< 1 km", "1-2 km", "2-4 km", ">= 4 km"]
PERIODS = ["00-06", "06-10", "10-16", "16-20", "20-24"]
CLOCK_WORDS = {"occurrence": "from occurrence", "alert": "from the alert",
               "dispatch": "from dispatch", "own": "each tier on its own clock"}  # fmt: skip
COUNTED = "sudden incidents and probes that were reported (self-rescue: every sudden incident "
COUNTED += "of a self-rescue kind, reported or not, whoever was on the scene); incidents never "
COUNTED += "reported are shown apart"


def share(mean: float, low: float, high: float) -> str:
    """A share with its 95 % interval, e.g. ``43.3 % (41.0-45.6)``."""
    if np.isnan(mean):
        return "-"
    return f"{mean * 100:.1f} % ({low * 100:.1f}-{high * 100:.1f})"


def minutes(mean: float, low: float, high: float) -> str:
    if not np.isfinite(mean):
        return "never (most not reached)"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean / 60:.1f} min"
    return f"{mean / 60:.1f} min ({low / 60:.1f}-{high / 60:.1f})"


def clock_of(tiers, name: str) -> str:
    return next((t.clock for t in tiers if t.name == name), "own")


# ---------------------------------------------------------------- tables
def overall_table(summary: pd.DataFrame) -> str:
    """Every tier on every clock it can be read on, from a sim.analysis.metrics summary."""
    lines = ["| tier | clock | compliance (95 % CI) | median time (95 % CI) | incidents |",
             "|---|---|---|---|---|"]  # fmt: skip
    rows = summary[summary["scope"] == "all"] if "scope" in summary else summary
    for (tier, clock), grp in rows.groupby(["tier", "clock"], sort=False, observed=True):
        c = grp[grp.metric == "compliance"]
        if c.empty:
            continue
        c = c.iloc[0]
        p = grp[grp.metric == "p50_s"]
        med = minutes(*p.iloc[0][["mean", "ci95_low", "ci95_high"]]) if len(p) else "-"
        own = " (own)" if c["own_clock"] and tier != "joint" else ""
        word = CLOCK_WORDS.get(clock, clock) + own
        lines.append(f"| {tier} | {word} | {share(c['mean'], c['ci95_low'], c['ci95_high'])} "
                     f"| {med} | {int(c['incidents'])} |")  # fmt: skip
    return "\n".join(lines)


def tier_summary(incidents: pd.DataFrame, tiers) -> pd.DataFrame:
    """Every tier and clock plus joint, in table order (the tier table's order)."""
    s = across_replications(per_replication(incidents, tiers))
    order = {name: i for i, name in enumerate([t.name for t in tiers] + ["joint"])}
    clocks = {"occurrence": 0, "alert": 1, "dispatch": 2, "own": 3}
    return s.sort_values(["tier", "clock"], key=lambda c: c.map(order if c.name == "tier"
                         else clocks)).reset_index(drop=True)  # fmt: skip


def outcomes_table(incidents: pd.DataFrame, tiers) -> str:
    o = outcome_shares(incidents, tiers)
    lines = ["| tier | incidents of its class and kinds | never reported | waiting at the end "
             "| reported, cleared, never reached |", "|---|---|---|---|---|"]  # fmt: skip
    for tier, grp in o.groupby("tier", sort=False):
        n = grp["n"].to_numpy(float)
        cells = [share(*proportion_ci(grp[m].to_numpy(float), n)) for m in OUTCOMES]
        lines.append(f"| {tier} | {int(n.sum())} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compliance_by(incidents: pd.DataFrame, tiers, column: str) -> pd.DataFrame:
    """Compliance of each tier by a column, on every clock: mean and interval."""
    s = across_replications(per_replication(incidents, tiers, [column]), [column])
    return s[s.metric == "compliance"]


def by_table(frame: pd.DataFrame, column: str, order, tiers) -> str:
    cols = [(t.name, t.clock) for t in tiers] + [("police", "occurrence"), ("joint", "own")]
    cols = [c for c in dict.fromkeys(cols) if ((frame.tier == c[0]) & (frame.clock == c[1])).any()]
    head = [f"{t} ({CLOCK_WORDS[c] if t != 'joint' else 'own clocks'})" for t, c in cols]
    lines = [f"| {column} | incidents | " + " | ".join(head) + " |",
             "|---|---|" + "---|" * len(cols)]  # fmt: skip
    for value in order:
        grp = frame[frame[column] == value]
        if grp.empty:
            continue
        cells = []
        for tier, clock in cols:
            row = grp[(grp.tier == tier) & (grp.clock == clock)]
            cells.append(share(*row.iloc[0][["mean", "ci95_low", "ci95_high"]]) if len(row)
                         else "-")  # fmt: skip
        n = int(grp[grp.tier == "joint"]["incidents"].sum())
        lines.append(f"| {value} | {n} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- pairing
def same_incidents(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two runs saw the same incidents and probes, replication by replication."""
    cols = ["replication", "layout", "incident_id", "occurred_s", "kind", "probe", "x_m", "y_m"]
    return a[cols].reset_index(drop=True).equals(b[cols].reset_index(drop=True))


def paired(a: pd.DataFrame, b: pd.DataFrame, tiers) -> pd.DataFrame:
    """Per tier on its own clock: a, b (proportion intervals for compliance, Student-t for
    the median) and the paired difference b - a (Student-t over replications)."""
    pa, pb = per_replication(a, tiers), per_replication(b, tiers)
    ta, tb = tier_times(a, tiers), tier_times(b, tiers)
    keys = ["replication", "incident_id"]
    rows = []
    for tier in [t.name for t in tiers] + ["joint"]:
        for metric in ("compliance", "p50_s"):
            if tier == "joint" and metric != "compliance":
                continue
            x = pa[(pa.tier == tier) & pa.own_clock].set_index("replication")
            y = pb[(pb.tier == tier) & pb.own_clock].set_index("replication")
            if x.empty or y.empty:
                continue
            if metric == "compliance":
                ea = proportion_ci(x[metric].to_numpy(float), x["n"].to_numpy(float))
                eb = proportion_ci(y[metric].to_numpy(float), y["n"].to_numpy(float))
            else:
                ea = _t_interval(x[metric].to_numpy(float))
                eb = _t_interval(y[metric].to_numpy(float))
            # A replication where one side counts no incident of the tier has no difference.
            x, y = x.align(y, join="inner", axis=0)
            with np.errstate(invalid="ignore"):
                diff = mean_ci((y[metric] - x[metric]).to_numpy(float))
            ka = ta.loc[ta.tier == tier, keys].reset_index(drop=True)
            kb = tb.loc[tb.tier == tier, keys].reset_index(drop=True)
            rows.append({"tier": tier, "metric": metric, "a": ea, "b": eb, "diff": diff,
                         "replications": len(x), "same_incidents": ka.equals(kb),
                         "n": (int(x["n"].sum()), int(y["n"].sum()))})  # fmt: skip
    return pd.DataFrame(rows)


def _t_interval(values: np.ndarray) -> tuple[float, float, float]:
    mean, half = mean_ci(values)
    return mean, mean - half, mean + half


def paired_table(p: pd.DataFrame, labels: tuple[str, str], tiers) -> str:
    lines = [f"| tier (clock) | {labels[0]} | {labels[1]} | difference (paired, 95 % CI) |",
             "|---|---|---|---|"]  # fmt: skip
    for _, r in p.iterrows():
        clock = "own clocks" if r.tier == "joint" else CLOCK_WORDS[clock_of(tiers, r.tier)]
        if not r.same_incidents and r.tier != "joint":
            # Staffing changes which incidents a tier counts (who is on the scene, who raises
            # the alert), so the pair is not quite like for like: say how many each counts.
            clock += f"; {r.n[0]:,} vs {r.n[1]:,} counted"
        if r.metric == "compliance":
            d, h = r["diff"]
            diff = f"{d * 100:+.1f} points ± {h * 100:.1f}" if np.isfinite(h) else "-"
            lines.append(f"| {r.tier} within target ({clock}) | {share(*r.a)} | {share(*r.b)} "
                         f"| {diff} |")  # fmt: skip
        else:
            d, h = r["diff"]
            diff = f"{d / 60:+.2f} ± {h / 60:.2f} min" if np.isfinite(d) and np.isfinite(h) else "-"
            lines.append(f"| {r.tier} median time ({clock}) | {minutes(*r.a)} | {minutes(*r.b)} "
                         f"| {diff} |")  # fmt: skip
    return "\n".join(lines)


def change_words(p: pd.DataFrame, tier: str, what: str) -> str:
    """A sentence on a paired compliance difference that says only what its interval allows."""
    row = p[(p.tier == tier) & (p.metric == "compliance")]
    if row.empty:
        return ""
    d, h = row.iloc[0]["diff"]
    if not np.isfinite(h):
        return (
            f"The {what} changes by {d * 100:+.1f} points (too few replications for an interval)."
        )
    if abs(d) <= h:
        return (
            f"The {what} changes by {d * 100:+.1f} points, within its 95 % interval "
            f"(± {h * 100:.1f}): no difference this run can tell apart from none."
        )
    word = "rises" if d > 0 else "falls"
    return f"The {what} {word} by {abs(d) * 100:.1f} points (95 % CI ± {h * 100:.1f})."


# ---------------------------------------------------------------- the August 2022 drill
def with_drills(stream: IncidentStream, drills: list[dict]) -> tuple[IncidentStream, np.ndarray]:
    """The scenario's own incidents plus staged drills, as one stream in time order, and the
    drills' positions in it. Drills are probes: counted by the tiers, never as activity."""
    extra = IncidentStream.from_rows(stream.kind_names, drills)
    extra = IncidentStream(**{**extra.__dict__, "probe": np.ones(len(extra), bool)})
    merged = {f: np.concatenate([getattr(stream, f), getattr(extra, f)])
              for f in IncidentStream.__dataclass_fields__ if f != "kind_names"}  # fmt: skip
    is_drill = np.concatenate([np.zeros(len(stream), bool), np.ones(len(extra), bool)])
    order = np.argsort(merged["occurred_s"], kind="stable")
    out = IncidentStream(stream.kind_names, **{f: v[order] for f, v in merged.items()})
    return out, np.flatnonzero(is_drill[order])


def drill_scenario() -> Scenario:
    return load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml")


def drill_sites(model: ResponseModel, reach: float, sites: int) -> list[tuple[np.ndarray, int]]:
    """The malls of a layout with the most MEUs within reach (a drill is staged where it can
    show the MEU layer), up to ``sites`` of them: (position, MEUs within reach)."""
    malls = model.meus.xy[model.meus.site_use == LandUse.MALL]
    counts = np.array([int(np.sum(np.abs(model.meus.xy - m).sum(axis=1) <= reach))
                       for m in malls])  # fmt: skip
    best = np.argsort(-counts, kind="stable")[:sites]
    return [(malls[i], int(counts[i])) for i in best]


def drill(layouts: int, sites: int, seed: int, days: int = 20) -> pd.DataFrame:
    """An armed attack at each of ``sites`` malls of each of ``layouts`` sub-district layouts,
    at 10:00 on ``days`` days, one site per run, on top of that run's own incidents and probes:
    do two MEU teams arrive before police, and police within 5 minutes (seed 002, Aug 2022)?
    One row per drill: layout, site, the MEUs within reach, the station's distance, and the
    police times on each clock."""
    sc = drill_scenario().with_changes({"horizon_hours": days * 24.0, "warmup_hours": 0.0})
    rows = []
    for r in range(layouts):
        base = ResponseModel(sc, seed=seed, replication=r)
        st_bank = base.city.bank_of(base.city.station_xy)
        for s, (xy, in_reach) in enumerate(drill_sites(base, sc.meus.coverage_radius_m, sites)):
            # A staged drill raises the alarm at once (call_delay 0), at a spot by the site.
            drills = [dict(occurred_s=d * 86400 + 10 * 3600.0, x_m=xy[0] + 20, y_m=xy[1] + 20,
                           kind="attack", handling_s=1800.0, call_delay_s=0.0)
                      for d in range(days)]  # fmt: skip
            stream, at = with_drills(base.incidents, drills)
            model = ResponseModel(sc, seed=seed, replication=r, incidents=stream)
            model.run()
            inc = incidents_frame(model.records())
            asg = assignments_frame(model.assignments)
            station_m = float(base.city.distances_to(xy, base.city.station_xy, st_bank).min())
            meu = asg[asg.responder == "meu"]
            for i in at:
                rec = inc.iloc[i]
                police = rec.first_police_s if np.isfinite(rec.first_police_s) else np.inf
                teams = meu.loc[meu.incident_id == i, "arrived_s"].dropna()
                rows.append({
                    "layout": r, "site": s, "meus_in_reach": in_reach,
                    "station_km": station_m / 1000,
                    "teams_sent": int(rec.meu_teams_sent),
                    "two_teams_first": bool((teams < police).sum() >= 2),
                    "first_team_min": (teams.min() - rec.occurred_s) / 60 if len(teams)
                    else np.inf,
                    "police_occurrence_min": (police - rec.occurred_s) / 60,
                    "police_alert_min": (police - rec.alerted_s) / 60,
                    "police_dispatch_min": (police - rec.police_dispatched_s) / 60,
                })  # fmt: skip
    df = pd.DataFrame(rows)
    for clock in ("occurrence", "alert", "dispatch"):
        df[f"police_within_5_{clock}"] = df[f"police_{clock}_min"] <= 5.0
    df["both"] = df["two_teams_first"] & df["police_within_5_alert"]
    return df


def drill_spread(df: pd.DataFrame, column: str) -> dict:
    """A drill check's share with its spread: mean over sites and layouts, the proportion
    interval (sim.analysis.metrics.proportion_ci over the site-layout cells), and the range over
    cells and over layouts."""
    cells = df.groupby(["layout", "site"])[column].agg(["mean", "size"])
    by_layout = df.groupby("layout")[column].mean()
    mean, low, high = proportion_ci(cells["mean"].to_numpy(float), cells["size"].to_numpy(float))
    return {"mean": mean, "low": low, "high": high,
            "cell_min": float(cells["mean"].min()), "cell_max": float(cells["mean"].max()),
            "layout_min": float(by_layout.min()), "layout_max": float(by_layout.max()),
            "cells": len(cells), "drills": int(cells["size"].sum())}  # fmt: skip


# ---------------------------------------------------------------- figures
def figure_tier_ecdf(a: pd.DataFrame, b: pd.DataFrame, labels, tiers, tier: str, path: Path):
    import matplotlib.pyplot as plt

    from sim.analysis.plots import save_figure, step_ecdf, tier_colour

    t = next(x for x in tiers if x.name == tier)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for df, label, style in ((a, labels[0], "--"), (b, labels[1], "-")):
        times = tier_times(df, tiers)
        step_ecdf(ax, times.loc[times.tier == tier, "time_s"].to_numpy() / 60, label=label,
                  color=tier_colour(tier, tiers), ls=style)  # fmt: skip
    ax.axvline(t.target_s / 60, color="grey", lw=1, ls=":")
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"time {CLOCK_WORDS[t.clock]} to {tier} rescue (minutes)")
    ax.set_ylabel("share of reported sudden incidents\nand probes (short of 1: never reached)")
    ax.set_title(f"Guangzhou, whole city: the {t.target_s / 60:g}-minute tier in 2018 and 2023")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)


def figure_by(frame: pd.DataFrame, column: str, order, tiers, title: str, xlabel: str,
              path: Path, extra=()) -> None:  # fmt: skip
    import matplotlib.pyplot as plt

    from sim.analysis.plots import save_figure, tier_colour, tier_label

    fig, ax = plt.subplots(figsize=(10, 4.4), dpi=120)
    x = np.arange(len(order))
    lines = [(t.name, t.clock, "-", tier_label(t.name, tiers)) for t in tiers]
    lines += [(name, clock, ":", f"{name} ({CLOCK_WORDS[clock]})") for name, clock in extra]
    lines += [("joint", "own", "-", "all tiers met (joint, own clocks)")]
    for k, (tier, clock, ls, label) in enumerate(lines):
        sub = frame[(frame.tier == tier) & (frame.clock == clock)].set_index(column).reindex(order)
        mean = sub["mean"].to_numpy(float) * 100
        err = np.vstack([mean - sub["ci95_low"].to_numpy(float) * 100,
                         sub["ci95_high"].to_numpy(float) * 100 - mean])  # fmt: skip
        ax.errorbar(x + (k - len(lines) / 2) * 0.04, mean, yerr=err, marker="o", capsize=3,
                    ls=ls, color=tier_colour(tier, tiers), label=label)  # fmt: skip
    ax.set_xticks(x, [str(o) for o in order])
    ax.set_ylim(0, 100)
    ax.set_ylabel("within target (% of counted incidents,\n95 % CI)")
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    save_figure(fig, path)


def figure_drill(df: pd.DataFrame, path: Path) -> None:
    import matplotlib.pyplot as plt

    from sim.analysis.plots import TIER_COLOURS, save_figure

    cells = df.groupby(["layout", "site"]).agg(
        police=("police_within_5_alert", "mean"), teams=("two_teams_first", "mean"),
        reach=("meus_in_reach", "first"),
    ).reset_index()  # fmt: skip
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120, sharey=True)
    for ax, col, colour, what in (
        (axes[0], "police", TIER_COLOURS["police"], "police on scene within 5 min of the alert"),
        (axes[1], "teams", TIER_COLOURS["mutual"], "two MEU teams on scene before police"),
    ):
        jitter = (cells["site"] - cells["site"].max() / 2) * 0.08
        ax.scatter(cells["layout"] + jitter, cells[col] * 100, color=colour, alpha=0.8, s=22,
                   label="one site (20 drills)")  # fmt: skip
        by_layout = cells.groupby("layout")[col].mean() * 100
        ax.plot(by_layout.index, by_layout.to_numpy(), "k_", ms=14, mew=2, label="layout mean")
        s = drill_spread(df, "police_within_5_alert" if col == "police" else "two_teams_first")
        ax.axhspan(s["low"] * 100, s["high"] * 100, color=colour, alpha=0.15,
                   label=f"all drills: {s['mean']:.0%} (95 % CI)")  # fmt: skip
        ax.set_title(what, fontsize=10)
        ax.set_xlabel("layout (replication)")
        ax.set_xticks(sorted(cells["layout"].unique()))
        ax.set_ylim(-3, 103)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    axes[0].set_ylabel("share of drills at the site (%)")
    fig.suptitle("Staged drill (seed 002, Aug 2022): armed attack at the best-covered malls of "
                 "each sub-district layout", fontsize=10)  # fmt: skip
    fig.tight_layout()
    save_figure(fig, path)


def figure_subdistrict(runs: dict[str, pd.DataFrame], tiers, title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    from sim.analysis.plots import save_figure, tier_colour, tier_label

    names = [t.name for t in tiers] + ["joint"]
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    width = 0.8 / len(runs)
    hatches = ["//", "", ".."]
    for k, (label, inc) in enumerate(runs.items()):
        s = across_replications(per_replication(inc, tiers))
        s = s[(s.metric == "compliance") & s.own_clock.astype(bool)].set_index("tier")
        s = s.reindex(names)
        mean = s["mean"].to_numpy(float) * 100
        err = np.vstack([mean - s["ci95_low"].to_numpy(float) * 100,
                         s["ci95_high"].to_numpy(float) * 100 - mean])  # fmt: skip
        x = np.arange(len(names)) + (k - (len(runs) - 1) / 2) * width
        ax.bar(x, np.nan_to_num(mean), width, yerr=np.nan_to_num(err), capsize=3,
               color=[tier_colour(n, tiers) for n in names], edgecolor="black",
               hatch=hatches[k % len(hatches)], label=label, alpha=0.85)  # fmt: skip
    ax.set_xticks(np.arange(len(names)),
                  [tier_label(n, tiers).replace(" (", "\n(") if n != "joint"
                   else "all tiers met\n(joint, own clocks)" for n in names],
                  fontsize=8)  # fmt: skip
    ax.set_ylim(0, 100)
    ax.set_ylabel("within target (% of counted incidents,\n95 % CI)")
    ax.set_title(title, fontsize=10)  # fmt: skip
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


# ---------------------------------------------------------------- the document
def with_bands(incidents: pd.DataFrame) -> pd.DataFrame:
    return incidents.assign(
        distance=pd.cut(incidents["station_distance_m"], DISTANCE_BANDS,
                        labels=DISTANCE_LABELS, right=False),
        period=pd.cut(incidents["hour"], [0, 6, 10, 16, 20, 24], labels=PERIODS, right=False),
    )  # fmt: skip


def build(replications: int, sub_replications: int, drill_layouts: int, drill_site_count: int,
          seed: int) -> str:  # fmt: skip
    started = time.process_time()
    # The findings read seed 002's 1-3-5 standard (police at 5 minutes) in the city as in the
    # sub-districts; the city presets themselves report the official 2024 circles.
    city23 = load_scenario(SCENARIOS / "guangzhou-2023.yaml").with_changes({"tiers": "1-3-5"})
    city18 = load_scenario(SCENARIOS / "guangzhou-2018.yaml").with_changes({"tiers": "1-3-5"})
    tiers = city23.tiers
    t23 = run_replications(city23, seed, replications)
    t18 = run_replications(city18, seed, replications)
    if not same_incidents(t18.incidents, t23.incidents):
        raise RuntimeError("2018 and 2023 saw different incidents; the pairing is broken")
    subs = {}
    for name in ("guangzhou-2018-subdistrict", "guangzhou-2023-subdistrict",
                 "guangzhou-2023-subdistrict-as-designed"):  # fmt: skip
        sc = load_scenario(SCENARIOS / f"{name}.yaml")
        subs[name] = (sc, run_replications(sc, seed, sub_replications))
    sub_names = list(subs)
    for name in sub_names[1:]:
        if not same_incidents(subs[sub_names[0]][1].incidents, subs[name][1].incidents):
            raise RuntimeError(f"{name} saw other incidents than {sub_names[0]}")
    d = drill(drill_layouts, drill_site_count, seed)

    inc23 = with_bands(t23.incidents)
    by_use = compliance_by(inc23, tiers, "land_use")
    by_period = compliance_by(inc23, tiers, "period")
    by_distance = compliance_by(inc23, tiers, "distance")

    IMG.mkdir(parents=True, exist_ok=True)
    figure_tier_ecdf(t18.incidents, t23.incidents, ("2018: 1,000,000 volunteers, no MEUs",
                     "2023: 670,000 volunteers, 23,000 MEUs"), tiers, "mutual",
                     IMG / "findings_2018_vs_2023_mutual.png")  # fmt: skip
    figure_by(by_period, "period", PERIODS, tiers,
              f"Guangzhou 2023, whole city, {replications} layouts: 1-3-5 by time of day "
              "(sudden incidents and probes)", "clock hours of occurrence",
              IMG / "findings_by_hour.png")  # fmt: skip
    figure_by(by_distance, "distance", DISTANCE_LABELS, tiers,
              f"Guangzhou 2023, whole city, {replications} layouts: 1-3-5 by distance from "
              "the nearest police station", "travel distance from the scene to the nearest station",
              IMG / "findings_by_distance.png", extra=[("police", "occurrence")])  # fmt: skip
    figure_drill(d, IMG / "findings_drill.png")
    sub_labels = {"guangzhou-2018-subdistrict": "2018 (no MEUs)",
                  "guangzhou-2023-subdistrict": "2023 as calibrated",
                  "guangzhou-2023-subdistrict-as-designed": "2023 as designed"}  # fmt: skip
    sub_days = (subs[sub_names[1]][0].horizon_hours - subs[sub_names[1]][0].warmup_hours) / 24
    figure_subdistrict({sub_labels[k]: v[1].incidents for k, v in subs.items()}, tiers,
                       f"One sub-district, {sub_replications} layouts x {sub_days:g} days: "
                       "reported sudden incidents and probes",
                       IMG / "findings_subdistrict.png")  # fmt: skip

    ready = t23.readiness
    ready_n = ready.groupby("replication")["ready"].agg(["mean", "size"])
    ready_share = proportion_ci(ready_n["mean"].to_numpy(float), ready_n["size"].to_numpy(float))
    ready_by_use = ready.groupby("site_land_use")["ready"].agg(["mean", "size"])
    full_days = max(int((city23.horizon_hours - city23.warmup_hours) // 24), 1)
    ctx = dict(
        reps=replications, sub_reps=sub_replications, seed=seed, tiers=tiers,
        city23=city23, sum23=tier_summary(t23.incidents, tiers),
        outcomes23=outcomes_table(t23.incidents, tiers),
        by_use=by_use, by_period=by_period, by_distance=by_distance,
        paired_city=paired(t18.incidents, t23.incidents, tiers),
        subs=subs, sub_labels=sub_labels,
        paired_sub=paired(subs[sub_names[0]][1].incidents, subs[sub_names[1]][1].incidents,
                          tiers),
        paired_design=paired(subs[sub_names[1]][1].incidents, subs[sub_names[2]][1].incidents,
                             tiers),
        ready_share=ready_share, ready_by_use=ready_by_use,
        tests_per_day=len(ready) / replications / full_days, drill=d,
    )  # fmt: skip
    ctx["cpu_min"] = (time.process_time() - started) / 60
    return _document(**ctx)


def _document(reps, sub_reps, seed, tiers, city23, sum23, outcomes23, by_use, by_period,
              by_distance, paired_city, subs, sub_labels, paired_sub, paired_design,
              ready_share, ready_by_use, tests_per_day, drill, cpu_min) -> str:  # fmt: skip
    def get(frame, column, value, tier, clock):
        row = frame[(frame[column] == value) & (frame.tier == tier) & (frame.clock == clock)]
        return tuple(float(row[c].iloc[0]) for c in ("mean", "ci95_low", "ci95_high"))

    def spread(col):
        s = drill_spread(drill, col)
        return (
            f"{share(s['mean'], s['low'], s['high'])} | {s['cell_min']:.0%}-"
            f"{s['cell_max']:.0%} | {s['layout_min']:.0%}-{s['layout_max']:.0%}"
        )

    police_alert = drill_spread(drill, "police_within_5_alert")
    tier_words = "; ".join(
        f"{t.name}: {t.target_s / 60:g} min {CLOCK_WORDS[t.clock]}, {t.incidents} incidents, "
        f"scope {t.scope}" for t in tiers
    )  # fmt: skip
    # Land uses with few incidents would win or lose the ranking by chance.
    joint = by_use[(by_use.tier == "joint")]
    joint = joint[joint["incidents"] >= 0.02 * joint["incidents"].sum()].sort_values("mean")
    near = get(by_distance, "distance", "< 1 km", "police", clock_of(tiers, "police"))
    far = get(by_distance, "distance", ">= 4 km", "police", clock_of(tiers, "police"))
    near_occ = get(by_distance, "distance", "< 1 km", "police", "occurrence")
    far_occ = get(by_distance, "distance", ">= 4 km", "police", "occurrence")
    cells, layouts = police_alert["cells"], drill["layout"].nunique()
    sites = drill.groupby("layout")["site"].nunique().max()
    sub23 = subs["guangzhou-2023-subdistrict"][0]
    sub_days = (sub23.horizon_hours - sub23.warmup_hours) / 24
    sub_tables = []
    for name, (_sc, t) in subs.items():
        sub_tables += [f"#### {sub_labels[name]} (`{name}`)", "",
                       overall_table(tier_summary(t.incidents, tiers)), ""]  # fmt: skip
    lines = [
        "# Findings: face checks against what the articles report",
        "",
        "Generated by `python -m tools.findings --write`"
        f" (seed {seed}; {cpu_min:.1f} CPU minutes).",
        f"Whole city: {reps} replications of one day; sub-district: {sub_reps} replications of",
        f"{sub_days:g} days; the drill: {sites} sites in each of {layouts} layouts. **Every",
        "replication draws its own layout** (city, police stations, homes, MEU sites), so each",
        "interval covers the layout as well as incidents and behaviour. Scenarios compared",
        "side by side share the seed, so replication r of each sees the same layout, incidents",
        "and probes (checked when the findings are generated); differences are paired by",
        "replication (Student-t over replications).",
        "",
        "**What counts** (docs/model.md, Definitions; the scenarios' default tier table):",
        f"{tier_words}. So every 1-3-5 figure below counts {COUNTED}. Probes are staged sudden",
        "incidents placed where and when sudden incidents happen (a drill, in effect): real",
        "sudden incidents are too rare (2.24 a day city-wide) for precise figures. **Clocks**:",
        "self-rescue runs from occurrence; mutual rescue and police from the alert (when the",
        "system learns of the incident); police are also read from occurrence and from the",
        "first dispatch. Every table names the clock.",
        "",
        "Shares carry 95 % intervals from sim.analysis.metrics.proportion_ci (the hull of the",
        "Student-t interval over replications and the pooled Wilson interval), so 0 % and",
        "100 % carry honest intervals; median times carry Student-t intervals over",
        "replications. The model's inputs are the articles' staffing levels plus stated",
        "assumptions (docs/calibration.md); these are checks of plausibility, not validated",
        "forecasts.",
        "",
        "## 1. The August 2022 drill (seed 002)",
        "",
        "The article: two MEU teams with equipment arrive first; police arrive within 5",
        f"minutes. The model stages that drill {police_alert['drills']} times: an armed attack",
        f"at 10:00 on 20 days at each of the {sites} malls with the most MEUs within reach in",
        f"each of {layouts} layouts of the Guangzhou 2023 sub-district ({cells} site-layouts,",
        f"{drill['meus_in_reach'].min()}-{drill['meus_in_reach'].max()} MEUs within reach, "
        f"{drill['station_km'].min():.1f}-{drill['station_km'].max():.1f} km by road from the",
        "nearest police station), one site per run, on top of that run's own incidents and",
        "probes. As in a staged drill the alarm is raised at once (no call delay), so the alert",
        "is the occurrence.",
        "",
        "| check | share of drills (95 % CI) | range over site-layouts | range over layouts |",
        "|---|---|---|---|",
        f"| two MEU teams on scene before the first police unit | {spread('two_teams_first')} |",
        f"| police on scene within 5 min of the alert | {spread('police_within_5_alert')} |",
        f"| police on scene within 5 min of the dispatch | {spread('police_within_5_dispatch')} |",
        f"| both, as in the drill (police from the alert) | {spread('both')} |",
        "",
        f"Median time from the alert to the first team: {drill['first_team_min'].median():.1f}",
        f"min; to the first police unit: {drill['police_alert_min'].median():.1f} min (from",
        f"dispatch {drill['police_dispatch_min'].median():.1f} min). Two teams arrived before",
        f"police in {drill['two_teams_first'].mean():.0%} of drills, the order the drill showed;",
        "police within 5 minutes",
        "depends on the site and the layout (the ranges above): where patrols happen to be and",
        "how far the station is. A staged drill can have police ready nearby; an unannounced",
        "incident at these sites "
        + (
            "mostly gets them within 5 minutes."
            if police_alert["mean"] >= 0.5
            else "mostly does not get them within 5 minutes."
        ),
        "",
        "![Drill spread over sites and layouts](img/findings_drill.png)",
        "",
        f"## 2. The 1-3-5 standard at 2023 levels (whole city, {reps} layouts x one day)",
        "",
        f"Each tier on every clock it can be read on; {COUNTED}.",
        "",
        overall_table(sum23),
        "",
        "Of the incidents of each tier's class and kinds (sudden incidents and probes, before",
        "the 'reported' condition), what became of those the tier did not reach:",
        "",
        outcomes23,
        "",
        "### By land use",
        "",
        f"Each tier on its own clock; police also from occurrence. {COUNTED[0].upper()}"
        f"{COUNTED[1:]}.",
        "",
        by_table(by_use, "land_use", sorted(by_use["land_use"].unique()), tiers),
        "",
        f"The full standard holds most often at {joint.iloc[-1]['land_use']} sites"
        f" ({joint.iloc[-1]['mean']:.0%}) and least often at {joint.iloc[0]['land_use']} sites"
        f" ({joint.iloc[0]['mean']:.0%}): MEU sites give self-rescue on the spot, residential",
        "streets have only volunteers on patrol and calls.",
        "",
        "### By time of day",
        "",
        by_table(by_period, "period", PERIODS, tiers),
        "",
        "![Compliance by hour](img/findings_by_hour.png)",
        "",
        "### By distance from the nearest police station",
        "",
        by_table(by_distance, "distance", DISTANCE_LABELS, tiers),
        "",
        f"Police on scene within 5 minutes of the alert: {share(*near)} of incidents within",
        f"1 km of a station, {share(*far)} at 4 km or more (from occurrence: {share(*near_occ)}",
        f"and {share(*far_occ)}). Distance drives the 5-minute tier; the 3-minute tier depends",
        "on MEUs and volunteers near the scene instead.",
        "",
        "![Compliance by distance](img/findings_by_distance.png)",
        "",
        "## 3. 2018 against 2023: what the MEU layer changed (whole city)",
        "",
        "Same city, same layouts, incidents and probes (paired by replication): 2018 has",
        "1,000,000 volunteers and no MEUs (seed 001, seed 002), 2023 has 670,000 volunteers and",
        f"23,000 MEUs. {COUNTED[0].upper()}{COUNTED[1:]}.",
        "",
        paired_table(paired_city, ("2018", "2023"), tiers),
        "",
        change_words(
            paired_city,
            "mutual",
            "3-minute tier (from the alert), with a third fewer volunteers but 23,000 MEUs,",
        ),
        change_words(paired_city, "joint", "share meeting every tier"),
        "Where a row gives two counts, staffing changed which incidents the tier counts: the",
        "tiers that need an alert count only reported incidents, and MEU staff on the scene",
        "raise alerts for some incidents nobody would have called in (the self-rescue tier",
        "counts every sudden incident of its kinds). Police staffing is the same in both years.",
        "",
        "![2018 vs 2023](img/findings_2018_vs_2023_mutual.png)",
        "",
        f"## 4. One sub-district ({sub_reps} layouts x {sub_days:g} days)",
        "",
        "The city's figures divided by its 170 towns and sub-districts. A sub-district sees a",
        "real sudden incident every few months, so these figures rest on probes (5 a day). The",
        "'as designed' preset puts every MEU at full on-duty strength and sends every alerted",
        f"volunteer; the calibrated one matches the published activity. {COUNTED[0].upper()}"
        f"{COUNTED[1:]}.",
        "",
        *sub_tables,
        "2018 against 2023 (calibrated), paired by replication:",
        "",
        paired_table(paired_sub, ("2018", "2023"), tiers),
        "",
        change_words(paired_sub, "mutual", "3-minute tier (from the alert)"),
        "",
        "2023 as calibrated against 2023 as designed, paired by replication:",
        "",
        paired_table(paired_design, ("as calibrated", "as designed"), tiers),
        "",
        change_words(paired_design, "mutual", "3-minute tier (from the alert)"),
        "Police are the same in both presets, so the 5-minute tier does not move.",
        "",
        "![Sub-district](img/findings_subdistrict.png)",
        "",
        "## 5. The 705 daily readiness tests (seed 002)",
        "",
        "Modelled as unannounced tests of a random unit between 08:00 and 20:00 "
        f"({tests_per_day:.0f} a day in the whole-city runs); a unit is ready when it is open and",
        "has a full team on site and free. Share of tests that found the unit ready:",
        f"{share(*ready_share)}.",
        "",
        "| site | tests | share ready (95 % CI) |",
        "|---|---|---|",
        *[
            f"| {use} | {int(r['size'])} | {share(*proportion_ci([r['mean']], [r['size']]))} |"
            for use, r in ready_by_use.iterrows()
        ],
        "",
        "Units fail a test mainly outside their opening hours (schools after 18:00) or while",
        "their team is out on an incident.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=10,
                        help="whole-city replications (layouts) per scenario")  # fmt: skip
    parser.add_argument("--sub-replications", type=int, default=20,
                        help="sub-district replications (layouts) per scenario")  # fmt: skip
    parser.add_argument("--drill-layouts", type=int, default=10)
    parser.add_argument("--drill-sites", type=int, default=5, help="drill sites per layout")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="write docs/findings.md")
    args = parser.parse_args(argv)
    text = build(args.replications, args.sub_replications, args.drill_layouts,
                 args.drill_sites, args.seed)  # fmt: skip
    if args.write:
        DOC.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
