"""What a planner reads first in a report: findings per tier written as sentences from the
numbers (each with its interval and its clock), the definitions, and the scenario as a
table. Pure functions of tables and dicts (the report assembles them into HTML)."""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

from sim.analysis.breakdown import worst
from sim.analysis.metrics import as_tiers

#: `jiefang optimize` objective and what it adds, per tier of the 1-3-5 standard.
OPTIMIZE = {"self": ("self", "meus=5"), "mutual": ("mutual", "meus=5"),
            "police": ("police", "police_posts=2"), "joint": ("joint", "meus=5")}  # fmt: skip
_WORDS = {
    "occurrence": "from the moment it happened",
    "alert": "from the alert",
    "dispatch": "from the first police dispatch",
    "own": "on each tier's own clock",
}


def _pct(v: float) -> str:
    return "–" if not (isinstance(v, float | int) and math.isfinite(v)) else f"{v:.0%}"


def _share_text(mean: float, low: float, high: float) -> str:
    if not math.isfinite(mean):
        return "no share (no incident counted)"
    if math.isfinite(low) and math.isfinite(high):
        return f"{mean:.1%} (95 % interval {low:.1%} to {high:.1%})"
    return f"{mean:.1%} (one replication: no interval)"


def _tier_words(name: str, tiers) -> tuple[str, str]:
    """(what the tier is, its clock in words)."""
    for t in as_tiers(tiers):
        if t.name == name:
            return f"{name} ({t.target_s / 60:g}-minute target)", _WORDS.get(t.clock, t.clock)
    return "the joint standard (every tier that counts an incident met)", _WORDS["own"]


def tier_finding(
    name: str,
    summary: pd.DataFrame,
    tables: dict[str, pd.DataFrame],
    tiers,
    scenario_file: str | None,
) -> str:
    """One paragraph (HTML) on one tier: how often it is met, where and when it fails most,
    how the worst places and the focus land use compare, and the command that targets them."""
    what, clock = _tier_words(name, tiers)
    s = summary[(summary["scope"] == "all") & summary["own_clock"].astype(bool)
                & (summary["tier"] == name) & (summary["metric"] == "compliance")]  # fmt: skip
    parts = []
    if len(s):
        r = s.iloc[0]
        parts.append(
            f"<b>{html.escape(what)}</b>, timed {clock}: met for "
            f"{_share_text(float(r['mean']), float(r['ci95_low']), float(r['ci95_high']))} of "
            f"the {int(r['incidents']):,} incidents it counts."
        )
    area, hour = tables.get("breakdown_area"), tables.get("breakdown_hour")
    if area is not None:
        zones = worst(area, ["zone", "zone_col", "zone_row"], name)
        if len(zones):
            listed = "; ".join(
                f"zone {int(z.zone)} (column {int(z.zone_col)}, row {int(z.zone_row)}): "
                f"{_share_text(z.compliance, z.ci95_low, z.ci95_high)} of {int(z.incidents)}"
                for z in zones.itertuples()
            )
            parts.append(f"It fails most in {listed}.")
        else:
            parts.append("No zone has enough incidents to rank (see the zone map's hatching).")
    if hour is not None:
        hours = worst(hour, ["hour"], name)
        if len(hours):
            listed = "; ".join(f"{int(h.hour):02d}:00–{int(h.hour) + 1:02d}:00: "
                               f"{_share_text(h.compliance, h.ci95_low, h.ci95_high)}"
                               for h in hours.itertuples())  # fmt: skip
            parts.append(f"Worst hours of the day: {listed}.")
    parts.extend(_equity_sentences(name, tables.get("breakdown_equity")))
    parts.append(_action(name, scenario_file))
    return "<p>" + " ".join(parts) + "</p>"


def _equity_sentences(name: str, equity: pd.DataFrame | None) -> list[str]:
    if equity is None or equity.empty:
        return []
    out = []
    for r in equity[equity["tier"] == name].itertuples():
        if bool(getattr(r, "too_few", False)) or not math.isfinite(r.gap):
            continue
        who = ("its worst tenth of zones" if r.comparison == "worst_zones"
               else f"{str(r.group).replace('_', ' ')} cells")  # fmt: skip
        gap = f"{r.gap * 100:+.1f} pp"
        if math.isfinite(r.gap_ci95_low):
            gap += f" ({r.gap_ci95_low * 100:+.1f} to {r.gap_ci95_high * 100:+.1f})"
        out.append(f"In {html.escape(who)} it is met for {_pct(r.group_compliance)} against "
                   f"{_pct(r.rest_compliance)} elsewhere: a gap of {gap}.")  # fmt: skip
    return out


def _action(name: str, scenario_file: str | None) -> str:
    if name not in OPTIMIZE:
        return "No <code>jiefang optimize</code> objective targets this tier."
    objective, add = OPTIMIZE[name]
    file = html.escape(scenario_file or "SCENARIO.yaml")
    return (
        "To place units where it fails: <code>jiefang breakdown RUN</code> writes the worst "
        f"zones' cells as <code>candidates_{html.escape(name)}.csv</code>, then "
        f"<code>jiefang optimize {file} --add {add} --objective {objective} --candidates "
        f"RUN/breakdown/candidates_{html.escape(name)}.csv</code> places them there and "
        "judges the placement by simulation."
    )


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Key paths and leaf values of a nested dict (lists of scalars stay one value)."""
    if isinstance(obj, dict):
        out: list[tuple[str, Any]] = []
        for k, v in obj.items():
            out.extend(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(obj, list) and obj and any(isinstance(v, dict) for v in obj):
        out = []
        for i, v in enumerate(obj):
            out.extend(flatten(v, f"{prefix}.{i}"))
        return out
    return [(prefix, obj)]


def value_text(v: Any, limit: int = 80) -> str:
    if isinstance(v, list):
        if len(v) == 24 and all(isinstance(x, int | float) for x in v):
            return f"by hour: {min(v):g}–{max(v):g}" if min(v) != max(v) else f"{v[0]:g} all day"
        text = ", ".join(value_text(x, limit) for x in v)
    elif isinstance(v, float):
        text = f"{v:g}"
    elif v is None:
        text = "–"
    else:
        text = str(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scenario_rows(scenario: dict, overrides: dict[str, Any] | None = None,
                  varied: dict[str, Any] | None = None) -> list[list[str]]:  # fmt: skip
    """Rows (key path, value, note) of a scenario; ``overrides`` (a sweep's ``set``) replace
    the base's values and say so; ``varied`` (a sweep's grid) lists each key's values."""
    overrides, varied = overrides or {}, varied or {}
    rows = []
    for key, value in flatten({k: v for k, v in scenario.items() if k != "sources"}):
        if key in varied:
            rows.append([key, value_text(varied[key]), "varied by the sweep"])
        elif key in overrides:
            rows.append([key, value_text(overrides[key]), "set by the sweep"])
        else:
            rows.append([key, value_text(value), ""])
    known = {r[0] for r in rows}
    for key, value in {**overrides, **varied}.items():
        if key not in known:
            note = "varied by the sweep" if key in varied else "set by the sweep"
            rows.append([key, value_text(value), note])
    return rows


def definition_rows(tiers) -> list[list[str]]:
    """Rows (tier, target, responders, clock, counts) of the tier table."""
    rows = []
    for t in as_tiers(tiers):
        counts = {"on_scene": "its on-site responders were at the scene",
                  "reported": "an alert was raised"}.get(t.scope, t.scope)  # fmt: skip
        rows.append([t.name, f"{t.target_s / 60:g} min", ", ".join(t.responders),
                     _WORDS.get(t.clock, t.clock),
                     f"{t.incidents} incidents of kinds calling for its responders"
                     + (f" ({', '.join(t.kinds)})" if t.kinds else "")
                     + ("" if t.scope == "all" else f", where {counts}")])  # fmt: skip
    return rows
