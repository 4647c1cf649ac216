"""Where and when the standard fails (issue 25): breakdown tables by hour, zone, land use and
kind; planted weak spots found; the rules they share with the summary; bad input refused."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.analysis.breakdown import Settings, breakdown, breakdowns, worst
from sim.analysis.equity import equity_table, worst_zones
from sim.analysis.metrics import summarise
from sim.experiment.runner import run_replications
from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from sim.model.config import ScenarioError
from sim.model.zones import ZoneGrid, zone_grid, zone_size_problem

# A strip city of five 500 m zones (50 x 10 cells of 50 m), nearly uniform population, one
# sudden kind that calls for an MEU team and a police unit, everyone calling 110.
STRIP = {
    "name": "strip",
    "horizon_hours": 24,
    "replications": 4,
    "drain_hours": 4,
    "layout": "fixed",
    "city": {"width": 50, "height": 10, "cell_size_m": 50, "population": 50000,
             "centres": [{"x": 0.5, "y": 0.5, "weight": 1, "scale_km": 100}],
             "land_use_shares": {}},
    "police": {"stations": 5, "grids": 5, "units": 10, "car_share": 0.0,
               "patrol_when_idle": False,
               "station_cells": [[5, 5], [15, 5], [25, 5], [35, 5], [45, 5]]},
    "meus": {"count": 5, "site_cells": [[5, 5], [15, 5], [25, 5], [35, 5], [45, 5]],
             "coverage_radius_m": 800},
    "volunteers": {"count": 0},
    "incidents": {"rate_per_day": 120,
                  "kinds": {"fight": {"share": 1, "self_rescue": False, "volunteers": False,
                                      "call_probability": 1.0}}},
    "breakdown": {"zone_cells": 10, "min_incidents": 10},
}  # fmt: skip


def _scenario(tmp_path, changes=None, name="strip.yaml"):
    raw = yaml.safe_load(yaml.safe_dump(STRIP))
    for path, value in (changes or {}).items():
        node = raw
        *head, last = path.split(".")
        for k in head:
            node = node.setdefault(k, {})
        node[last] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return load_scenario(path)


def _tables(scenario, seed=3):
    run = run_replications(scenario, seed, scenario.replications)
    cells = run.layout_cells[run.layout_cells["layout"] == run.layout_cells["layout"].iloc[0]]
    return run, breakdowns(run.incidents, scenario.tiers, cells, Settings.of(scenario.breakdown),
                           scenario.replications)  # fmt: skip


# ------------------------------------------------------------------ zones
def test_zone_grid_numbers_zones_row_major_from_the_north_west():
    g = ZoneGrid(100.0, 50, 10, 10)
    col, row = g.zone_of(np.array([0.0, 999.0, 1000.0, 4999.0, 5200.0]),
                         np.array([0.0, 0.0, 999.0, 999.0, 50.0]))  # fmt: skip
    assert col.tolist() == [0, 0, 1, 4, 4]  # past the east edge: clipped to the last cell
    assert row.tolist() == [0, 0, 0, 0, 0]
    assert g.zone_id(col, row).tolist() == [0, 0, 1, 4, 4]
    assert (g.zones_wide, g.zones_high) == (5, 1)
    assert g.cells_in(np.array([0, 4]), np.array([0, 0])).tolist() == [100, 100]


def test_default_zones_are_about_a_kilometre_and_clip_at_the_edge():
    g = zone_grid(200.0, 38, 29, None)
    assert g.zone_cells == 5 and (g.zones_wide, g.zones_high) == (8, 6)
    assert g.cells_in(np.array([7]), np.array([5])).tolist() == [3 * 4]


def test_a_zone_size_that_does_not_divide_the_city_is_named():
    assert zone_size_problem(10, 50, 10) is None
    problem = zone_size_problem(7, 50, 10)
    assert "7 cells does not divide the city (50 x 10 cells)" in problem
    assert "1, 2, 5, 10" in problem  # the sizes that would


# ------------------------------------------------------------------ rules shared with summary
def _synthetic(n_rep: int, per_rep: list[int], met_share: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_rep):
        for i in range(per_rep[r]):
            t = float(rng.exponential(200.0)) if rng.random() < met_share else np.nan
            rows.append({"replication": r, "incident_id": i, "kind": "k", "sudden": True,
                         "probe": False, "in_warmup": False, "land_use": "residential",
                         "hour": int(rng.integers(0, 24)), "x_m": 10.0, "y_m": 10.0,
                         "station_distance_m": 0.0, "kind_self_rescue": False,
                         "kind_volunteers": False, "meu_teams_needed": 0, "police_needed": 1,
                         "meu_staff_on_scene": False, "volunteer_on_scene": False,
                         "occurred_s": 0.0, "alerted_s": 0.0, "police_dispatched_s": 0.0,
                         "first_police_s": t, "self_rescue_s": np.nan, "self_rescue_by": "",
                         "first_meu_s": np.nan, "first_volunteer_s": np.nan,
                         "status": "cleared"})  # fmt: skip
    return pd.DataFrame(rows)


TIERS = [{"name": "police", "target_s": 300.0, "responders": ["police"], "clock": "alert"}]


@settings(max_examples=25, deadline=None)
@given(n_rep=st.integers(1, 4), per_rep=st.lists(st.integers(1, 30), min_size=4, max_size=4),
       met=st.floats(0, 1), seed=st.integers(0, 1000))  # fmt: skip
def test_one_group_is_the_summary_and_every_interval_lies_in_0_1(n_rep, per_rep, met, seed):
    inc = _synthetic(n_rep, per_rep, met, seed).assign(everywhere="city")
    table = breakdown(inc, TIERS, ["everywhere"], min_incidents=1)
    s = summarise(inc, TIERS)
    s = s[(s["scope"] == "all") & s["own_clock"].astype(bool)].set_index(["tier", "metric"])
    for tier in ("police", "joint"):
        row = table[table["tier"] == tier].iloc[0]
        want = s.loc[(tier, "compliance")]
        assert row["incidents"] == want["incidents"]
        for ours, theirs in (("compliance", "mean"), ("ci95_low", "ci95_low"),
                             ("ci95_high", "ci95_high")):  # fmt: skip
            a, b = row[ours], want[theirs]
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)
        assert 0.0 <= row["compliance"] <= 1.0
        if not math.isnan(row["ci95_low"]):
            assert 0.0 <= row["ci95_low"] <= row["compliance"] <= row["ci95_high"] <= 1.0
    p90 = table[table["tier"] == "police"].iloc[0]["p90_s"]
    want = s.loc[("police", "p90_s"), "mean"]
    assert (math.isinf(p90) and math.isinf(want)) or p90 == pytest.approx(want)


def test_a_group_under_the_minimum_count_says_so_instead_of_a_share():
    inc = _synthetic(2, [6, 6], 0.5, 1)
    table = breakdown(inc, TIERS, ["land_use"], min_incidents=13)
    row = table[table["tier"] == "police"].iloc[0]
    assert row["incidents"] == 12 and bool(row["too_few"])
    assert math.isnan(row["compliance"]) and math.isnan(row["ci95_low"])
    table = breakdown(inc, TIERS, ["land_use"], min_incidents=12)
    assert not table["too_few"].any() and table["compliance"].notna().all()


# ------------------------------------------------------------------ planted weak spots
def test_a_zone_stripped_of_police_and_meus_is_the_worst_zone_of_both_tiers(tmp_path):
    control = _scenario(tmp_path)
    # The middle zone (cells 20-29) loses its police station and its MEU: both move west.
    planted = _scenario(tmp_path, {"police.station_cells": [[5, 5], [15, 5], [14, 5], [35, 5],
                                                             [45, 5]],
                                   "meus.site_cells": [[5, 5], [15, 5], [14, 5], [35, 5],
                                                       [45, 5]]}, "planted.yaml")  # fmt: skip
    _, base = _tables(control)
    _, weak = _tables(planted)
    for tier in ("police", "mutual"):
        found = worst(weak["breakdown_area"], ["zone"], tier, 1)
        assert found["zone"].tolist() == [2], tier
        zone2 = {name: t[(t["tier"] == tier) & (t["zone"] == 2)].iloc[0]
                 for name, t in (("base", base["breakdown_area"]),
                                 ("weak", weak["breakdown_area"]))}  # fmt: skip
        # A real effect, beyond the intervals: the same zone did far better with its units.
        assert zone2["weak"]["ci95_high"] < zone2["base"]["ci95_low"], tier
        assert worst_zones(weak["breakdown_area"], tier) == [2]


def test_an_hour_when_units_are_off_is_the_worst_hour(tmp_path):
    # Every police unit is off duty from 02:00 to 04:00 (police.on_duty_share) and every MEU
    # is closed then (opening_hours): both tiers have nobody to send in those hours.
    roster = [1.0] * 24
    roster[2] = roster[3] = 0.0
    sc = _scenario(tmp_path, {"police.on_duty_share": roster,
                              "meus.opening_hours": {"residential": [4, 2]},
                              "incidents.rate_per_day": 240})  # fmt: skip
    _, tables = _tables(sc)
    hours = tables["breakdown_hour"]
    for tier in ("police", "mutual"):
        found = worst(hours, ["hour"], tier, 2)
        assert set(found["hour"]) == {2, 3}, tier
    # A real effect, beyond the intervals: the same hours did far better with units on duty
    # (the hours after 04:00 suffer too, from the backlog: hence the control run).
    _, control = _tables(
        _scenario(
            tmp_path,
            {"meus.opening_hours": {"residential": [4, 2]}, "incidents.rate_per_day": 240},
            "control.yaml",
        )
    )
    police = {
        name: t[t["tier"] == "police"].set_index("hour").loc[[2, 3]]
        for name, t in (("planted", hours), ("control", control["breakdown_hour"]))
    }
    assert (police["planted"]["ci95_high"] < police["control"]["ci95_low"]).all()
    assert (police["planted"]["compliance"] < 0.1).all()


def test_equity_puts_the_stripped_zone_in_the_worst_tenth(tmp_path):
    planted = _scenario(tmp_path, {"police.station_cells": [[5, 5], [15, 5], [14, 5], [35, 5],
                                                             [45, 5]]}, "planted.yaml")  # fmt: skip
    run, tables = _tables(planted)
    cells = run.layout_cells[run.layout_cells["layout"] == 0]
    eq = equity_table(run.incidents, planted.tiers, cells, Settings.of(planted.breakdown),
                      tables["breakdown_area"])  # fmt: skip
    row = eq[(eq["tier"] == "police") & (eq["comparison"] == "worst_zones")].iloc[0]
    assert row["zones"] == "2" and row["group"] == "worst 1 of 5 zones"
    assert row["gap"] < -0.3 and row["gap_ci95_high"] < 0  # far worse, beyond its interval
    assert -1.0 <= row["gap_ci95_low"] <= row["gap_ci95_high"] <= 1.0
    # A strip city with no urban villages has no land-use comparison by default.
    assert not (eq["comparison"] == "land_use").any()


# ------------------------------------------------------------------ bad input, exit 2
def test_bad_zone_size_and_absent_land_use_are_one_message_exit_2(tmp_path, capsys):
    raw = yaml.safe_load(yaml.safe_dump(STRIP))
    raw["breakdown"]["zone_cells"] = 7
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(raw))
    assert main(["run", str(tmp_path / "a.yaml"), "-q", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "breakdown.zone_cells" in err and "Traceback" not in err
    assert err.count("\n") == 1 and not (tmp_path / "a").exists()
    raw["breakdown"] = {"focus_land_use": "urban_village"}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(raw))
    assert main(["run", str(tmp_path / "b.yaml"), "-q", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "breakdown.focus_land_use: the city has no urban_village cells" in err
    assert err.count("\n") == 1


def test_scenario_errors_name_the_key(tmp_path):
    with pytest.raises(ScenarioError, match=r"breakdown\.zone_cells"):
        _scenario(tmp_path, {"breakdown.zone_cells": 3})


@pytest.mark.parametrize(
    ("name", "changes"),
    [("demo.yaml", {"replications": 3}),
     ("guangzhou-2023-subdistrict.yaml", {"replications": 2}),
     ("guangzhou-2023.yaml", {"replications": 1})],  # routine calls no tier counts
)  # fmt: skip
def test_the_tiers_figures_come_from_the_incidents_some_tier_counts(name, changes):
    """`jiefang run` takes the summary, the breakdowns and the ECDF from the incidents some
    tier counts (sim.model.tiers.of_any_tier) and the kinds that occurred from them all: the
    same tables as from every incident."""
    from sim.analysis.breakdown import occurred_kinds
    from sim.analysis.equity import equity_table
    from sim.analysis.metrics import as_tiers
    from sim.analysis.plots import ecdf_series, mark_compliance
    from sim.model.tiers import of_any_tier
    from tests.conftest import SCENARIOS

    sc = load_scenario(SCENARIOS / name).with_changes(changes)
    run = run_replications(sc, 1, sc.replications)
    every = run.incidents
    rows = of_any_tier(every, as_tiers(sc.tiers))
    assert rows.sum() > 0
    counted = every.loc[rows]
    if name == "guangzhou-2023.yaml":
        assert rows.mean() < 0.5  # most of the city's incidents are calls no tier counts
    pd.testing.assert_frame_equal(summarise(counted, sc.tiers), run.summary, check_exact=True)
    cells = run.layout_cells[run.layout_cells["layout"] == run.layout_cells["layout"].iloc[0]]
    settings_ = Settings.of(sc.breakdown)
    whole = breakdowns(every, sc.tiers, cells, settings_, sc.replications)
    cut = breakdowns(counted, sc.tiers, cells, settings_, sc.replications, occurred_kinds(every))
    assert whole.keys() == cut.keys()
    for table in whole:
        pd.testing.assert_frame_equal(cut[table], whole[table], check_exact=True)
    pd.testing.assert_frame_equal(
        equity_table(counted, sc.tiers, cells, settings_, cut["breakdown_area"]),
        equity_table(every, sc.tiers, cells, settings_, whole["breakdown_area"]),
        check_exact=True,
    )
    assert mark_compliance(counted, sc.tiers) == mark_compliance(every, sc.tiers)
    a, b = ecdf_series(counted, sc.tiers), ecdf_series(every, sc.tiers)
    assert a.keys() == b.keys()
    for tier in a:
        np.testing.assert_array_equal(a[tier][0], b[tier][0])
