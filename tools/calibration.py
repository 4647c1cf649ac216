"""docs/calibration.md: every parameter of every shipped scenario, its value, unit and source.

    python -m tools.calibration --write              # regenerate docs/calibration.md
    python -m tools.calibration --measure --write    # rerun the measured figures first

Sources come from each scenario's ``sources:`` block (a key path covers the keys below it);
parameters a scenario leaves at the model default carry the default's stated reason. A test
fails when a scenario sets a parameter without a source, or when the document is stale.

``--measure`` runs the scenarios of :data:`MEASURE_RUNS` and caches, per replication, every
measure of :data:`PUBLISHED` in docs/calibration_measured.json; the document sets each
published figure beside the model's mean (95 % interval), the ratio and a verdict (within 3x,
or the reason). Tests (tests/test_calibration.py) check that every row is within 3x or
carries its reason, that the cache equals a rerun of one scenario's first replication, and
that every shipped scenario's volunteer parameters lie in :data:`VOLUNTEER_RANGES`.
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
    ("share of police dispatches on scene in 5-10 min of the call (Ankang)", 0.127,
     "Ankang police weekly report", "guangzhou-2023", "police_5_to_10_min_of_alert",
     "the model's first unit comes after 110's call handling (median 90 s) and a drive "
     "from a patrol spot in its 4.4 km2 grid, so its times bunch either side of 5 minutes "
     "(the median row above) where Ankang's spread wide (61.8 % within 5 min, 12.4 % over "
     "30); read with the 0-5 row, the two bands hold most dispatches in both"),
    ("share of police dispatches on scene over 30 min after the call (Ankang)", 0.124,
     "Ankang police weekly report", "guangzhou-2023", "police_over_30_min_of_alert",
     "Ankang's week includes calls answered by appointment and from outlying townships; the "
     "model's routine calls are all answered at once by the grid's patrol unit, and with units "
     "committed a third of their time no call waits long (guangzhou-2023-peak is where calls "
     "queue)"),
    ("share of on-duty patrol time committed to calls (about a third)", 1 / 3,
     "McCabe, ICMA Center for Public Safety Management; California Commission on POST",
     "guangzhou-2023", "police_committed_share", ""),
    ("median distance of the first alerted volunteer to arrive, m (Stockholm app responders)",
     956, "Resuscitation 2020 (Stockholm app responders)", "guangzhou-2023",
     "first_volunteer_median_m",
     "the presets alert volunteers within 500 m straight-line (Ringh et al. 2011) and 5 % of "
     "Guangzhou's 670,000 volunteers are on duty at a time, so the first comes from close by; "
     "a 956 m median needs alerts well beyond 500 m (the Heartrunner app alerts within "
     "1.8 km, JACC 2020) and fewer responders per km2"),
    ("median distance of the first alerted volunteer to arrive, m (Stockholm app responders)",
     956, "Resuscitation 2020 (Stockholm app responders)", "stockholm-2011",
     "first_volunteer_median_m",
     "Ringh et al. 2011 alerted within 500 m straight-line; the 956 m median is of the later "
     "app, whose alerts reach well beyond 500 m"),
    ("share of incidents with a volunteer before the first police unit, against lay "
     "responders before the ambulance (Heartrunner)", 0.42,
     "Heartrunner, Denmark: JACC 76(1):43-53, 2020", "guangzhou-2023",
     "volunteer_before_police",
     "not the same race: Guangzhou's first police unit is a patrol in the incident's grid, "
     "the published figure is against an ambulance from its station"),
    ("share of incidents with a volunteer before the first police unit, against lay "
     "responders before the ambulance (Stockholm, true arrests)", 0.56,
     "Ringh et al., Resuscitation 2011", "guangzhou-2023", "volunteer_before_police",
     "not the same race: Guangzhou's first police unit is a patrol in the incident's grid, "
     "the published figure is against an ambulance from its station"),
    ("validation: share of alerts with a volunteer before the ambulance (Stockholm, 45 % of "
     "92 suspected arrests)", 0.45, "Ringh et al., Resuscitation 2011", "stockholm-2011",
     "volunteer_before_police", ""),
    ("validation: share of alerts with a volunteer before the ambulance (Stockholm, true "
     "arrests)", 0.56, "Ringh et al., Resuscitation 2011", "stockholm-2011",
     "volunteer_before_police", ""),
    ("validation: the ambulance's mean minutes from the alert to the scene (Stockholm city "
     "centre, 5:18: volunteers 2:20 = 44 % faster)", 5.3, "Ringh et al., Resuscitation 2011",
     "stockholm-2011", "police_alert_to_scene_mean_min", ""),
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
MEASURE_RUNS = {
    "guangzhou-2023": (3, 2),
    "guangzhou-2018": (3, 2),
    "baota": (7, 5),
    "stockholm-2011": (5, 8),
}


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


def _spy_first_volunteer_distance(model) -> dict[int, float]:
    """Record, per incident, the travel distance of the first volunteer sent (the model keeps
    arrival times, not distances): wraps the model's own alert step, changes nothing."""
    distance: dict[int, float] = {}
    alert = model._alert_volunteers

    def alert_and_record(t: float, i: int) -> None:
        before = len(model.assignments)
        alert(t, i)
        if len(model.assignments) > before:
            ids, _, dist = model._volunteer_lists.get(i)[0].of(i)
            first = model.assignments[before].responder_id
            distance[i] = float(dist[ids == first][0])

    model._alert_volunteers = alert_and_record
    return distance


def measure_run(name: str, days: float, reps: int, seed: int = 0) -> dict[str, list[float]]:
    """Per replication: every measure of :data:`PUBLISHED` for one scenario (counts per
    simulated day after the warm-up)."""
    import numpy as np

    from sim.model.frames import assignments_frame, incidents_frame
    from sim.model.response import ResponseModel

    sc = load_scenario(SCENARIOS / f"{name}.yaml")
    sc = sc.with_changes({"horizon_hours": sc.warmup_hours + 24.0 * days})
    start, end = sc.warmup_hours * 3600.0, sc.horizon_hours * 3600.0
    out: dict[str, list[float]] = {}
    for r in range(reps):
        model = ResponseModel(sc, seed=seed, replication=r)
        distance = _spy_first_volunteer_distance(model)
        df = incidents_frame(model.run())
        df["first_volunteer_m"] = df["incident_id"].map(distance)
        real = df[~df["in_warmup"] & ~df["probe"]]
        sent = real[real["police_dispatched_s"].notna()]
        to_scene = (sent["first_police_s"] - sent["alerted_s"]).dropna()
        # The 1-3-5 standard's incidents (sudden ones and probes) that alert volunteers and
        # need police: who comes first, and from how far the first volunteer came.
        sudden = df[
            ~df["in_warmup"]
            & df["sudden"]
            & df["kind_volunteers"]
            & (df["police_needed"] > 0)
            & df["alerted_s"].notna()
        ]
        first_vol = sudden["first_volunteer_s"].fillna(np.inf)
        asg = assignments_frame(model.assignments)
        police = asg[asg["responder"] == "police"]
        busy = np.minimum(police["released_s"], end) - np.maximum(police["sent_s"], start)
        values = {
            "police_calls": real["police_call_s"].notna().sum() / days,
            "police_dispatches": len(sent) / days,
            "meu_engaged": ((real["meu_teams_sent"] > 0)
                            | (real["self_rescue_by"] == "meu_staff")).sum() / days,
            "meu_members_on_site": float(model.meus.on_site.sum()),
            "readiness_tests": sum(t.time_s >= sc.warmup_hours * 3600 for t in model.readiness)
            / days,
            "police_call_to_scene_min": float(to_scene.median() / 60) if len(to_scene) else nan,
            "police_alert_to_scene_mean_min": float(to_scene.mean() / 60) if len(to_scene)
            else nan,
            "police_within_5_min_of_alert": float((to_scene <= 300).mean()) if len(to_scene)
            else nan,
            "police_5_to_10_min_of_alert": float(((to_scene > 300) & (to_scene <= 600)).mean())
            if len(to_scene) else nan,
            "police_over_30_min_of_alert": float((to_scene > 1800).mean()) if len(to_scene)
            else nan,
            "police_committed_share": float(busy.clip(lower=0).sum()
                                            / (len(model.police) * (end - start))),
            "volunteer_before_police": float((first_vol < sudden["first_police_s"]).mean())
            if len(sudden) else nan,
            "first_volunteer_median_m": float(sudden["first_volunteer_m"].median())
            if sudden["first_volunteer_m"].notna().any() else nan,
            "volunteer_witness_alerts": ((real["detected_by"] == "witness")
                                         & real["volunteer_on_scene"]
                                         & ~real["meu_staff_on_scene"]).sum() / days,
            "volunteer_attended": ((real["volunteers_sent"] > 0)
                                   | (real["self_rescue_by"] == "volunteer_on_site")).sum() / days,
            "sudden_counted": float(len(sudden)),
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


def rows(measured: dict) -> list[dict]:
    """One row per figure of :data:`PUBLISHED` with a measured run: the published value, the
    model's mean and 95 % half-width over replications, the ratio and the verdict."""
    from sim.analysis.metrics import mean_ci

    out = []
    for label, value, where, name, key, why in PUBLISHED:
        run = measured.get(name)
        if run is None or key not in run["values"]:
            continue
        mean, half = mean_ci(run["values"][key])
        ratio = mean / value
        inside = 1 / 3 <= ratio <= 3
        verdict = "within 3x" if inside else "OUTSIDE 3x"
        out.append({"label": label, "published": value, "where": where, "scenario": name,
                    "key": key, "mean": mean, "half": half, "ratio": ratio, "inside": inside,
                    "verdict": verdict, "why": why, "days": run["days"],
                    "replications": run["replications"]})  # fmt: skip
    return out


def published_table(measured: dict) -> list[str]:
    """Published figure | model (95 % CI) | ratio, one row per figure of sources.md."""
    lines = [
        "## Published activity and response figures beside the model",
        "",
        "Generated by `python -m tools.calibration --measure --write` (runs each scenario named",
        "below for the days and replications shown, each replication its own layout; probes",
        "never count as activity, and count beside sudden incidents where a row measures",
        "response). Model: mean over replications, 95 % Student-t interval.",
        "Ratio = model / published; verdict: within 3x, or outside with the reason (a row",
        "that is inside 3x keeps a reason where the figures measure different things).",
        "",
        "Definitions. Police bands: on-scene time of the first unit from the alert, over",
        "dispatched routine and sudden calls. Committed share: police unit time from dispatch",
        "to release over on-duty unit time after the warm-up. Volunteer rows count sudden",
        "incidents and probes that alert volunteers and need police: the share where the first",
        "alerted volunteer is on scene before the first police unit (none came: not before),",
        "and the median travel distance of the first volunteer sent. The validation rows",
        "(`stockholm-2011`, Ringh et al. 2011's setting rebuilt, the police fleet standing in",
        "for the ambulances) measure the same share against the published one; the test",
        "(tests/test_calibration.py) holds it within the 95 % binomial interval of the",
        "difference (the published 92 alerts, the model's incidents).",
        "",
        "| published figure | published | where | model (95 % CI) | runs | ratio | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows(measured):
        half = row["half"]
        ci = "" if half != half else f" ± {_num(half)}"
        verdict = row["verdict"] + (f": {row['why']}" if row["why"] else "")
        lines.append(f"| {row['label']} | {_num(row['published'])} | {row['where']} | "
                     f"{_num(row['mean'])}{ci} | {row['scenario']}, {row['days']} d x "
                     f"{row['replications']} | {row['ratio']:.2f} | {verdict} |")  # fmt: skip
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
