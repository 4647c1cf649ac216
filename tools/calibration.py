"""docs/calibration.md: every parameter of every shipped scenario, its value, unit and source.

    python -m tools.calibration --write    # regenerate docs/calibration.md

Sources come from each scenario's ``sources:`` block (a key path covers the keys below it);
parameters a scenario leaves at the model default carry the default's stated reason. A test
fails when a scenario sets a parameter without a source, or when the document is stale.
"""

from __future__ import annotations

import os
import sys
from math import nan
from pathlib import Path
from typing import Any

from sim.geo.scenario import load_scenario
from sim.model.config import PATH_KEYS, resolve_extends
from tools.paramdoc import rows as parameter_rows

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
DOC = ROOT / "docs" / "calibration.md"

#: Keys that set up a run rather than describe the system; they need no source.
RUN_SETTINGS = {"name", "description", "horizon_hours", "warmup_hours", "drain_hours",
                "replications", "sources"}  # fmt: skip

#: Why each model default is what it is (used where a scenario keeps the default).
DEFAULT_REASONS = {
    "city.cell_size_m": "assumption: 100 m cells resolve a street block",
    "city.background_density": "assumption: density floor 5 % of the peak",
    "city.rivers": "assumption: no river unless the area has one",
    "city.camera_share": "assumption: no public cameras unless stated",
    "city.map_file": "generated city (no map file)",
    "police.car_share": "assumption: all units drive",
    "police.call_handling": "assumption: 110 takes about a minute to take a call and dispatch",
    "police.patrol_when_idle": "assumption: idle units patrol their grids",
    "police.patrol_leg_s": "assumption: a patrol moves to a new spot every 15 minutes",
    "police.station_cells": "generated station sites (k-means over police grids)",
    "police.dispatch": "assumption: 110 sends the units that arrive first",
    "police.move_up": "assumption: idle units keep to their own beats",
    "police.on_duty_share": "assumption: units is the strength on duty at every hour (no roster)",
    "volunteers.on_duty_share": "assumption: 5 % of registered volunteers on duty at any hour",
    "volunteers.patrol_radius_m": "assumption: volunteers patrol within 300 m of home",
    "volunteers.alert_radius_m": "Ringh et al. 2011: volunteers alerted within 500 m",
    "volunteers.acceptance": "Khalemsky et al., JMIR mHealth 2023: 17-47 % of alerted volunteers respond; 0.32, the middle of the range",
    "volunteers.max_responders": "assumption: the three who would arrive first go",
    "volunteers.response_delay": "Ganter et al., Resuscitation 2025: median turnout (alert to leaving) 1:45 (1:42 by day, 2:22 at night); sigma 0.5 an assumption",
    "volunteers.on_scene_s": "assumption: a volunteer stays 15 minutes",
    "volunteers.witness_radius_m": "assumption: within 30 m a volunteer is at the scene",
    "meus.members_per_unit": "seed 002: 290,000 personnel / 23,000 units = 12.6",
    "meus.on_duty_share": "assumption: 30 % of members on site while open",
    "meus.team_size": "assumption: a team of 3 with equipment",
    "meus.site_shares": "seed 002: schools, malls, markets, street corners, urban villages; equal shares assumed",
    "meus.opening_hours": "assumption: open all day",
    "meus.mobilisation": "assumption: median 45 s to take equipment and set off",
    "meus.coverage_radius_m": "assumption: about 3 minutes at a run with equipment",
    "meus.site_cells": "generated sites (by site_shares and population)",
    "meus.readiness_tests_per_day": "no readiness tests modelled",
    "meus.readiness_test_hours": "assumption: tests made 08:00-20:00",
    "incidents.hourly_profile": "assumption: flat over the day",
    "incidents.land_use_weight": "assumption: more incidents per resident at markets, malls, night markets",
    "incidents.call_delay": "assumption: median 1 minute from occurrence to a 110 call",
    "incidents.witness_delay": "assumption: median 20 s for someone at the scene to raise the alert",
    "incidents.camera_delay": "assumption: median 90 s for an operator to notice",
    "incidents.camera_detect_probability": "assumption: an operator notices half of what is in view",
    "incidents.self_rescue_delay": "assumption: median 30 s for people at the scene to act",
    "travel.walk_m_s": "assumption: 1.4 m/s walking",
    "travel.volunteer_m_s": "Resuscitation 2020 (Stockholm app responders): median 2.3 m/s (1.8 m/s where density > 8,000/km2)",
    "travel.run_with_equipment_m_s": "assumption: 2 m/s running with equipment",
    "travel.foot_patrol_m_s": "assumption: 1.6 m/s hurrying on foot",
    "travel.drive_m_s": "assumption: 30 km/h urban patrol driving",
    "travel.congestion_by_hour": "assumption: no congestion",
    "incidents.kinds.<name>.priority": "assumption: kind's queue priority",
    "incidents.kinds.<name>.self_rescue": "assumption: people at the scene can act",
    "incidents.kinds.<name>.volunteers": "assumption: volunteers are alerted",
    "incidents.kinds.<name>.meu_teams": "assumption: one MEU team",
    "incidents.kinds.<name>.police_units": "assumption: one police unit",
    "incidents.kinds.<name>.call_probability": "assumption: 90 % of incidents are called in",
    "incidents.kinds.<name>.handling": "assumption: median 20 minutes on scene",
    "incidents.kinds.<name>.land_use_weight": "the scenario's incidents.land_use_weight",
    "incidents.kinds.<name>.sudden": "assumption: a sudden incident, the class the 1-3-5 standard is written for",
    "incidents.sudden_rate_per_day": "sudden kinds share rate_per_day with the others",
    "incidents.probes_per_day": "no probes",
    "tiers": "seed 002: 1 min self-rescue (people on site, from occurrence), 3 min mutual rescue (MEU teams, volunteers), 5 min police on site; the alert clock for responders who are sent, as police practice and the 2024 response-circle notice count from the alarm",
    "layout": "a synthetic city is one draw of many: each replication draws its own layout",
    "fleets": "no plug-in fleets",
    "incidents.kinds.<name>.fleets": "no plug-in fleets asked for",
}

#: Published ranges of volunteer behaviour (docs/sources.md), the one place they are kept: key
#: path -> (low, high, where published). Every shipped scenario's value lies in its range
#: (tests/test_calibration.py); docs/calibration.md lists them.
VOLUNTEER_RANGES = {
    "volunteers.acceptance": (
        0.17, 0.47, "Khalemsky et al., JMIR mHealth 2023: 17-47 % of alerted volunteers respond"),
    "travel.volunteer_m_s": (
        1.8, 2.3, "Resuscitation 2020 (Stockholm app responders): median 2.3 m/s, 1.8 m/s where "
        "density > 8,000/km2"),
    "volunteers.alert_radius_m": (
        402.0, 1800.0, "PulsePoint 0.25 / 0.5 mile (402 / 805 m, AHA ReSS 2025); Ringh et al. "
        "2011: 500 m (Stockholm); Heartrunner 1.8 km (JACC 76(1), 2020)"),
    "volunteers.response_delay.median_s": (
        102.0, 142.0, "Ganter et al., Resuscitation 2025: median turnout (alert to leaving) "
        "1:45 over 4,138 operations, 1:42 by day, 2:22 at night"),
}  # fmt: skip
#: Density above which lay responders move at the low end of the speed range, residents/km2.
DENSE_PER_KM2 = 8000.0


def volunteer_values(scenario) -> dict[str, float]:
    """The values of :data:`VOLUNTEER_RANGES`' keys in a loaded scenario."""
    v = scenario.volunteers
    return {
        "volunteers.acceptance": v.acceptance,
        "travel.volunteer_m_s": scenario.travel.volunteer_m_s,
        "volunteers.alert_radius_m": v.alert_radius_m,
        "volunteers.response_delay.median_s": float(v.response_delay.quantile(0.5)),
    }


def out_of_range(scenario) -> list[str]:
    """Each volunteer parameter of a scenario outside its published range, with the range."""
    return [f"{key} = {value} outside [{lo}, {hi}] ({where})"
            for key, value in volunteer_values(scenario).items()
            for lo, hi, where in [VOLUNTEER_RANGES[key]] if not lo <= value <= hi]  # fmt: skip


def ranges_table() -> list[str]:
    """The published ranges as a markdown section of docs/calibration.md."""
    lines = [
        "## Volunteer behaviour: published ranges",
        "",
        "Every shipped scenario's volunteer parameters lie in these ranges (tested); the",
        "mutual tier's level follows from them. Where residents per km2 exceed 8,000 the",
        "scenario uses the dense-area speed (1.8 m/s).",
        "",
        "| key | published range | where published |",
        "|---|---|---|",
    ]
    for key, (lo, hi, where) in VOLUNTEER_RANGES.items():
        lines.append(f"| `{key}` | {lo:g} - {hi:g} | {where} |")
    return [*lines, ""]


#: Published activity and response figures (docs/sources.md) and how the model's value
#: is measured: (figure, published per day, where published, scenario, measure, why if off).
PUBLISHED = [
    ("110 calls a day, Guangzhou 2022", 5_753_400 / 365, "Guangzhou police, 10 Jan 2023",
     "guangzhou-2023", "police_calls",
     "the model represents the calls that need a unit sent; invalid, non-police and advice "
     "calls (about half of all calls, 110 command centre 2015) are not modelled"),
    ("police dispatches a day (calls x 38.3 % sent, Hefei 2018)", 5_753_400 / 365 * 0.383,
     "Guangzhou police 2023; Hefei police 2019", "guangzhou-2023", "police_dispatches", ""),
    ("incidents MEUs helped handle a day (868 in May 2021 - Feb 2023)", 868 / 640, "seed 002",
     "guangzhou-2023", "meu_engaged", ""),
    ("incidents MEUs helped handle a day (447 in about 15 months to Aug 2022)", 447 / 450,
     "Dayang net, 20 Aug 2022", "guangzhou-2023", "meu_engaged", ""),
    ("MEU members on duty (41,000 of 369,600 check in a day)", 41_000,
     "chinajcwh.net, 12 Dec 2024", "guangzhou-2023", "meu_members_on_site",
     ""),
    ("MEU readiness tests a day", 705, "seed 002", "guangzhou-2023", "readiness_tests", ""),
    ("median minutes from a 110 call to police on scene, urban Guangzhou (2-3 min)", 2.3,
     "Xinkuai Bao via Sina, 11 Jan 2005", "guangzhou-2023", "police_call_to_scene_min",
     "the model's time includes 110's call handling (median 90 s) and travel from a patrol "
     "spot in a 4.4 km2 grid; the 2005 figure is the reform's stated target for the urban core"),
    ("share of police dispatches on scene within 5 min of the call (Ankang)", 0.618,
     "Ankang police weekly report", "guangzhou-2023", "police_within_5_min_of_alert", ""),
    ("leads reported by volunteers a day, 2018 (4,240 a year)", 4240 / 365, "seed 001",
     "guangzhou-2018", "volunteer_witness_alerts",
     "not the same act: a lead (线索) is a clue passed to police that can open a case; the "
     "model counts every alert an on-duty volunteer within 30 m of an incident raises first, "
     "traffic accidents and disputes included (with 1,000,000 volunteers, about 4 % of "
     "incidents); the model has no measure of leads"),
    ("disputes mediated by volunteers a day, 2018 (63,900 a year)", 63_900 / 365, "seed 001",
     "guangzhou-2018", "volunteer_attended",
     "volunteers are sent to sudden incidents only; the disputes they settle on their rounds "
     "never reach 110 and are not modelled"),
    ("police calls a day, Baota (89 in the week of 3-9 Nov)", 89 / 7, "seed 004", "baota",
     "police_calls", ""),
]  # fmt: skip
MEASURED = ROOT / "docs" / "calibration_measured.json"
#: Runs behind the measured column: (scenario, simulated days after warm-up, replications).
MEASURE_RUNS = {"guangzhou-2023": (3, 2), "guangzhou-2018": (3, 2), "baota": (7, 5)}


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf key paths of a resolved scenario; kinds expand per kind, other mappings of
    plain values (land-use shares, distributions) stay whole."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if path in ("sources",):
            continue
        if isinstance(item, dict) and (path == "incidents.kinds" or _has_mappings(item)):
            out.update(flatten(item, path + "."))
        else:
            out[path] = item
    return out


def _has_mappings(d: dict) -> bool:
    return any(isinstance(v, dict) for v in d.values()) and "dist" not in d


def generic(path: str, kinds: list[str]) -> str:
    parts = path.split(".")
    if len(parts) > 3 and parts[:2] == ["incidents", "kinds"] and parts[2] in kinds:
        parts[2] = "<name>"
    return ".".join(parts)


def explicit_keys(raw: dict, prefix: str = "") -> set[str]:
    """Key paths a scenario file (with its extends chain) sets."""
    keys = set()
    for key, item in raw.items():
        path = f"{prefix}{key}"
        keys.add(path)
        if isinstance(item, dict) and key != "sources":
            keys |= explicit_keys(item, path + ".")
    return keys


def source_for(path: str, sources: dict[str, str]) -> str | None:
    parts = path.split(".")
    for n in range(len(parts), 0, -1):
        hit = sources.get(".".join(parts[:n]))
        if hit is not None:
            return hit
    return None


#: Values a scenario's GIS files set while it loads (sim.geo.inputs), by the file keys.
GEO_DERIVED = {
    "city.crs": ("city.population_raster",),
    "city.origin": ("city.population_raster",),
    "city.width": ("city.population_raster",),
    "city.height": ("city.population_raster",),
    "city.population": ("city.population_raster",),
    "city.key_sites": ("city.sites_file",),
    "police.station_cells": ("police.stations_file",),
    "police.stations": ("police.stations_file",),
    "meus.site_cells": ("meus.sites_file",),
    "meus.count": ("meus.sites_file",),
}


def scenario_rows(path: Path):
    """(key, value, unit and meaning, source, set in file) for one scenario file."""
    scenario = load_scenario(path)
    raw = resolve_extends(path)
    set_here = explicit_keys(raw)
    kinds = list(scenario.incidents.kinds)
    meaning = {p: d for p, _, _, d in parameter_rows()}
    dumped = scenario.model_dump(mode="json")
    files = {f"{a}.{b}" for a, b in PATH_KEYS if dumped[a].get(b) is not None}
    for key, value in flatten(dumped).items():
        if key in RUN_SETTINGS:
            continue
        if key in files:  # a file path: as the scenario's folder sees it, not this machine's
            value = os.path.relpath(value, path.parent)
        g = generic(key, kinds)
        src = source_for(key, scenario.sources)
        made_by = [f for f in GEO_DERIVED.get(key, ()) if f in files]
        if made_by:  # the value a GIS file set when the scenario loaded
            src = f"from {made_by[0]} (docs/geography.md)"
        is_set = key in set_here or any(k.startswith(key + ".") for k in set_here)
        if src is None and is_set:
            src = "UNSOURCED"
        elif src is None:
            src = "default: " + DEFAULT_REASONS.get(g, "model default (docs/model.md)")
        yield key, value, meaning.get(g, ""), src, is_set


def unsourced() -> list[tuple[str, str]]:
    """(file, key) of every parameter a shipped scenario sets without a source."""
    return [(p.name, key) for p in sorted(SCENARIOS.glob("*.yaml"))
            for key, _, _, src, _ in scenario_rows(p) if src == "UNSOURCED"]  # fmt: skip


def _fmt(value: Any) -> str:
    if isinstance(value, list) and len(value) == 24 and len(set(map(str, value))) == 1:
        value = value[0]
    text = str(value).replace("|", "\\|")
    return text if len(text) <= 90 else text[:87] + "..."


def document() -> str:
    lines = [
        "# Calibration: every parameter of every scenario",
        "",
        "Generated by `python -m tools.calibration --write` from the scenario files; do not edit.",
        "Each row: the key, its value, its meaning and unit (docs/model.md), and where the value",
        "comes from: a seed article and figure ([Sources](sources.md)), a published figure, or",
        "an assumption with its reason. **bold** keys are set by the scenario file (or a file",
        "it extends); the others keep the model default, whose reason is given.",
        "Run settings (horizon, warm-up, drain, replications) are listed in each file.",
        "",
    ]
    lines += ranges_table()
    if MEASURED.is_file():
        import json

        lines += published_table(json.loads(MEASURED.read_text(encoding="utf-8")))
    for path in sorted(SCENARIOS.glob("*.yaml")):
        sc = load_scenario(path)
        lines += [f"## {sc.name} (`scenarios/{path.name}`)", "", sc.description.strip(), "",
                  "| key | value | meaning, unit | source |", "|---|---|---|---|"]  # fmt: skip
        for key, value, meaning, src, is_set in scenario_rows(path):
            name = f"**`{key}`**" if is_set else f"`{key}`"
            lines.append(f"| {name} | {_fmt(value)} | {meaning} | {src.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def measure_run(name: str, days: float, reps: int, seed: int = 0) -> dict[str, list[float]]:
    """Per replication, per simulated day: every measure of :data:`PUBLISHED` for one scenario."""
    from sim.model.records import incidents_frame
    from sim.model.response import ResponseModel

    sc = load_scenario(SCENARIOS / f"{name}.yaml")
    sc = sc.with_changes({"horizon_hours": sc.warmup_hours + 24.0 * days})
    out: dict[str, list[float]] = {}
    for r in range(reps):
        model = ResponseModel(sc, seed=seed, replication=r)
        df = incidents_frame(model.run())
        real = df[~df["in_warmup"] & ~df["probe"]]
        sent = real[real["police_dispatched_s"].notna()]
        to_scene = (sent["first_police_s"] - sent["alerted_s"]).dropna()
        values = {
            "police_calls": real["police_call_s"].notna().sum() / days,
            "police_dispatches": len(sent) / days,
            "meu_engaged": ((real["meu_teams_sent"] > 0)
                            | (real["self_rescue_by"] == "meu_staff")).sum() / days,
            "meu_members_on_site": float(model.meus.on_site.sum()),
            "readiness_tests": sum(t.time_s >= sc.warmup_hours * 3600 for t in model.readiness)
            / days,
            "police_call_to_scene_min": float(to_scene.median() / 60) if len(to_scene) else nan,
            "police_within_5_min_of_alert": float((to_scene <= 300).mean()) if len(to_scene)
            else nan,
            "volunteer_witness_alerts": ((real["detected_by"] == "witness")
                                         & real["volunteer_on_scene"]
                                         & ~real["meu_staff_on_scene"]).sum() / days,
            "volunteer_attended": ((real["volunteers_sent"] > 0)
                                   | (real["self_rescue_by"] == "volunteer_on_site")).sum() / days,
        }  # fmt: skip
        for key, value in values.items():
            out.setdefault(key, []).append(float(value))
    return out


def measure(seed: int = 0) -> dict:
    """Run the scenarios behind the published figures; the measured column of the table."""
    runs = {name: {"days": days, "replications": reps, "seed": seed,
                   "values": measure_run(name, days, reps, seed)}
            for name, (days, reps) in MEASURE_RUNS.items()}  # fmt: skip
    return runs


def published_table(measured: dict) -> list[str]:
    """Published figure | model (95 % CI) | ratio, one row per figure of sources.md."""
    from sim.analysis.metrics import mean_ci

    lines = [
        "## Published activity and response figures beside the model",
        "",
        "Generated by `python -m tools.calibration --measure --write` (runs each scenario named",
        "below for the days and replications shown, each replication its own layout; probes",
        "never count as activity). Model: mean over replications, 95 % Student-t interval.",
        "Ratio = model / published; a ratio outside 1/3 to 3 carries the reason.",
        "",
        "| published figure | published | where | model (95 % CI) | runs | ratio | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, value, where, name, key, why in PUBLISHED:
        run = measured.get(name)
        if run is None:
            continue
        mean, half = mean_ci(run["values"][key])
        ci = "" if half != half else f" ± {_num(half)}"
        ratio = mean / value
        inside = 1 / 3 <= ratio <= 3
        note = why if (why and not inside) or (why and ratio < 0.5) else ""
        note = note or ("within 3x" if inside else "OUTSIDE 3x: " + why)
        lines.append(f"| {label} | {_num(value)} | {where} | {_num(mean)}{ci} | {name}, "
                     f"{run['days']} d x {run['replications']} | {ratio:.2f} | {note} |")  # fmt: skip
    return [*lines, ""]


def _num(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def main(argv: list[str]) -> int:
    import json

    if "--measure" in argv:
        MEASURED.write_text(json.dumps(measure(), indent=1) + "\n", encoding="utf-8")
    text = document()
    if "--write" in argv:
        DOC.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
