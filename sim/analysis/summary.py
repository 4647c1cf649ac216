"""The run summary as a document (summary.json) and as a short human table.

Both are built from the tidy summary table (:func:`sim.analysis.metrics.summarise`) and the
scenario's tier table, so every tier a scenario defines appears, each with its definition beside it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.metrics import OUTCOMES, as_tiers, mean_ci, proportion_ci
from sim.model.config import Scenario

NOTE = (
    "compliance: share of the incidents a tier counts (its scope) reached within its target, "
    "timed on its clock; mean over replications with a 95 % interval (ci95_low..ci95_high: "
    "hull of the Student-t interval over replications and the pooled Wilson interval). "
    "Percentiles in seconds; null = more than that share never reached (or no incidents). "
    "Every tier is also reported on each other clock it can be read on (by_clock). "
    "Probes are counted by the tiers, never as activity."
)


def tier_definitions(scenario: Scenario) -> list[dict[str, Any]]:
    return [
        {
            "name": t.name,
            "target_s": t.target_s,
            "responders": list(t.responders),
            "clock": t.clock,
            "scope": t.scope,
            "incidents": t.incidents,
            "kinds": scenario.counted_kinds(t),
        }
        for t in scenario.tiers
    ]


def _entry(row) -> dict[str, Any]:
    return {
        "mean": _finite(row.mean),
        "ci95_low": _finite(row.ci95_low),
        "ci95_high": _finite(row.ci95_high),
        "incidents": int(row.incidents),
    }


def _finite(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


#: The incident columns the activity counts read.
ACTIVITY_COLUMNS = ("replication", "sudden", "police_dispatched_s", "meu_teams_sent",
                    "self_rescue_by", "volunteers_sent", "alerted_s")  # fmt: skip

#: The incident columns that :func:`summary_document` and :func:`summary_text` read of every
#: incident (the tiers' figures come from ``tables.summary``): all a streamed run keeps of
#: the incidents no tier counts (on a city without a geographic frame).
EVERY_ROW_COLUMNS = ("in_warmup", "probe", *ACTIVITY_COLUMNS)


def activity(incidents: pd.DataFrame, reps: int, days: float) -> dict[str, Any]:
    """Per simulated day, real incidents only (probes never count): incidents, police
    dispatches, incidents where MEUs acted (a team sent or the unit's own staff on site),
    incidents volunteers attended, never reported."""
    # Counted from masks over the columns as they are, not a copy of the rows (a city year's
    # table has 2.4 million; the copy and its groups were ~150 MB at the run's end).
    real = ~_flag(incidents, "in_warmup") & ~_flag(incidents, "probe")
    replication = incidents["replication"].to_numpy()[real]

    def per_replication(mask: np.ndarray | None) -> np.ndarray:
        chosen = replication if mask is None else replication[mask[real]]
        return np.bincount(chosen, minlength=reps)[:reps]

    rescued_by = incidents["self_rescue_by"]
    counts = {
        "incidents": per_replication(None),
        "sudden_incidents": per_replication(_flag(incidents, "sudden")),
        "police_dispatches": per_replication(~_isnan(incidents, "police_dispatched_s")),
        "meu_engaged": per_replication(
            (incidents["meu_teams_sent"].to_numpy() > 0)
            | (rescued_by == "meu_staff").to_numpy(bool, na_value=False)
        ),
        "volunteer_attended": per_replication(
            (incidents["volunteers_sent"].to_numpy() > 0)
            | (rescued_by == "volunteer_on_site").to_numpy(bool, na_value=False)
        ),
        "never_reported": per_replication(_isnan(incidents, "alerted_s")),
    }
    out: dict[str, Any] = {"per_day": {}, "days_per_replication": days}
    for name, count in counts.items():
        mean, half = mean_ci(count.astype(float) / days)
        out["per_day"][name] = {"mean": mean, "ci95_half_width": _finite(half)}
    return out


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].to_numpy(bool)


def _isnan(frame: pd.DataFrame, column: str) -> np.ndarray:
    return np.isnan(frame[column].to_numpy(float))


def summary_document(scenario: Scenario, seed: int, reps: int, tables) -> dict:
    """summary.json: definitions, then the headline metrics with their intervals."""
    inc = tables.incidents
    counted = inc.loc[~inc["in_warmup"], ["probe"]]  # the one column read: no copy of the rest
    days = (scenario.horizon_hours - scenario.warmup_hours) / 24.0
    doc: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": seed,
        "replications": reps,
        "layout": scenario.layout,
        "layout_note": (
            "each replication drew its own synthetic layout: intervals cover the layout"
            if scenario.layout == "per_replication"
            else "one fixed layout for every replication: intervals are conditional on it"
        ),
        "incidents_per_replication": len(counted) / reps,
        "probes_per_replication": int(counted["probe"].sum()) / reps,
        "note": NOTE,
        "tier_definitions": tier_definitions(scenario),
        "tiers": {},
        "by_kind": {},
        "activity": activity(inc, reps, days),
    }
    if len(tables.readiness):
        shares = tables.readiness.groupby("replication")["ready"].mean().to_numpy(dtype=float)
        n = tables.readiness.groupby("replication").size().to_numpy(dtype=float)
        mean, low, high = proportion_ci(shares, n)
        doc["meu_readiness"] = {"tests": len(tables.readiness), "ready_share": mean,
                                "ci95_low": low, "ci95_high": high}  # fmt: skip
    for row in tables.summary.itertuples(index=False):
        if row.scope == "all":
            entry = doc["tiers"].setdefault(row.tier, {})
        else:
            entry = doc["by_kind"].setdefault(row.kind, {}).setdefault(row.tier, {})
        if row.own_clock or row.metric in OUTCOMES:
            entry[row.metric] = _entry(row)
        if row.metric == "compliance" and row.tier != "joint":
            entry.setdefault("by_clock", {})[row.clock] = _entry(row)
    return doc


def summary_text(scenario: Scenario, seed: int, reps: int, tables, elapsed: float, out) -> str:
    """The short table printed after a run: each tier on its own clock, police on all three,
    and what was never reported."""
    s = tables.summary
    s = s[s["scope"] == "all"]
    own = s[s["own_clock"]].set_index(["tier", "metric"])
    counted = tables.incidents.loc[~tables.incidents["in_warmup"], ["probe", "sudden"]]
    probes = int(counted["probe"].sum())
    sudden = int((counted["sudden"] & ~counted["probe"]).sum())
    lines = [
        f"{scenario.name}: seed {seed}, {reps} replication(s), {len(counted) - probes} incidents "
        f"({sudden} sudden) + {probes} probes "
        f"({'own layout each' if scenario.layout == 'per_replication' else 'one fixed layout'})"
        f", {elapsed:.1f} s",
    ]
    tiers = as_tiers(scenario.tiers)
    w = max(8, *(len(t.name) for t in tiers))  # tier tables name tiers as they like
    lines.append(f"{'tier':<{w}} {'target':>6} {'from':<10} {'compliance (95% CI)':<21} "
                 f"{'P50':>6} {'P90':>6}")  # fmt: skip
    for tier in [*tiers, None]:
        name = tier.name if tier else "joint"
        if (name, "compliance") not in own.index:
            continue
        c = own.loc[(name, "compliance")]
        target = f"{tier.target_s / 60:g} min" if tier else "all"
        clock = tier.clock if tier else "own"
        p50, p90 = _minutes(own, name, "p50_s"), _minutes(own, name, "p90_s")
        lines.append(f"{name:<{w}} {target:>6} {clock:<10} {_pct_ci(c):<21} {p50:>6} {p90:>6}")
    police_tiers = [t.name for t in tiers if t.responders == ["police"]]
    for name in police_tiers:  # police-only tiers: 'police' (1-3-5), 'street' (guangzhou-2024)
        police = s[(s["metric"] == "compliance") & (s["tier"] == name)]
        if len(police):
            by_clock = ", ".join(f"{r.clock} {_pct_ci(r)}" for r in police.itertuples())
            lines.append(f"{name} within target, by clock: {by_clock}")
    out_rows = s[s["metric"].isin(OUTCOMES)].set_index(["tier", "metric"])
    reported = [t.name for t in tiers if t.scope == "reported"]
    if len(out_rows) and reported:
        # the police tier where there is one (it counts the most kinds), else the last
        tier0 = next((n for n in police_tiers if n in reported), reported[-1])
        unrep = out_rows.loc[(tier0, "never_reported_share"), "mean"]
        lines.append(f"never reported: {unrep:.1%} of {tier0}-tier incidents (not counted as "
                     "failures of tiers that need an alert)")  # fmt: skip
    lines.append(f"results in {out}/")
    return "\n".join(lines)


def _pct_ci(row) -> str:
    """A share with its interval; ``row`` is a summary row (Series or named tuple)."""
    r = row.to_dict() if isinstance(row, pd.Series) else row._asdict()
    mean, low, high = r["mean"], r["ci95_low"], r["ci95_high"]
    if not np.isfinite(mean):
        return "-"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.1%}"
    return f"{mean:.1%} ({low:.1%}-{high:.1%})"


def _minutes(s: pd.DataFrame, tier: str, metric: str) -> str:
    if (tier, metric) not in s.index:
        return "-"
    v = s.loc[(tier, metric), "mean"]
    return "never" if not math.isfinite(v) else f"{v / 60:.1f}m"
