"""The definitions behind every figure: patrols, tier tables, clocks, scopes, intervals, layouts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.analysis.metrics import outcome_shares, per_replication, proportion_ci, summarise, wilson
from sim.geo.scenario import load_scenario
from sim.model.config import ScenarioError
from sim.model.frames import incidents_frame
from sim.model.response import ResponseModel
from tests.conftest import SCENARIOS, run, scenario

UNIFORM_CITY = {
    "width": 20, "height": 20, "cell_size_m": 100.0, "population": 40000,
    "background_density": 1.0, "land_use_shares": {},
    "centres": [{"x": 0.5, "y": 0.5, "weight": 1.0, "scale_km": 1000.0}],
}  # fmt: skip


def test_idle_patrols_are_uniform_over_their_grid():
    """One station, one grid, five cars: the nearest unit's distance to a uniform scene equals
    the same expectation with five independent uniform spots, computed by Monte Carlo.

    Tolerance: 4.5 combined standard errors of the two means (a false alarm about 1 in 150,000);
    patrol spots pinned near the grid centre miss it by hundreds of metres.
    """
    sc = scenario(city=UNIFORM_CITY, police={"grids": 1, "units": 5, "patrol_leg_s": 900.0})
    model = ResponseModel(sc, seed=3)
    fleet, side = model.police, 2000.0
    rng = np.random.default_rng(7)
    legs = 3000
    scenes = rng.random((legs, 2)) * side
    avail = np.arange(5)
    dist = np.empty(legs)
    for k in range(legs):
        _, travel = fleet.nearest(avail, k * 900.0 + 1.0, scenes[k], 0, 1)
        dist[k] = travel[0] * sc.travel.drive_m_s
    mc_n = 400_000
    spots = rng.random((mc_n, 5, 2)) * side
    scene = rng.random((mc_n, 1, 2)) * side
    mc = np.abs(spots - scene).sum(axis=2).min(axis=1)
    se = math.hypot(dist.std(ddof=1) / math.sqrt(legs), mc.std(ddof=1) / math.sqrt(mc_n))
    assert abs(dist.mean() - mc.mean()) < 4.5 * se, (dist.mean(), mc.mean(), se)


def test_more_units_in_one_grid_bring_the_nearest_closer():
    """Adding units must buy coverage: the mean nearest distance falls with the fleet."""
    means = []
    for units in (1, 3, 9):
        sc = scenario(city=UNIFORM_CITY, police={"grids": 1, "units": units})
        fleet = ResponseModel(sc, seed=3).police
        scene = np.array([700.0, 1300.0])
        d = [fleet.nearest(np.arange(units), k * 900.0 + 1, scene, 0, 1)[1][0]
             for k in range(400)]  # fmt: skip
        means.append(np.mean(d))
    assert means[0] > means[1] > means[2]


# ---------------------------------------------------------------- tier tables
def _write(tmp_path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nincidents: {rate_per_day: 10}\n" + text)
    return path


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        ("[{name: fire, target_s: 600, responders: [fire_brigade]}]", "tiers.0.responders"),
        ("[{name: x, target_s: 60, responders: [police], clock: lunchtime}]", "tiers.0.clock"),
        ("[{name: x, target_s: 60, responders: [police], scope: on_scene}]", "on_scene"),
        ("[{name: x, target_s: 60, responders: [meu_team], clock: dispatch}]", "dispatch"),
        ("[{name: x, target_s: 60, responders: [police], kinds: [riot]}]", "unknown incident"),
        ("[{name: x, target_s: 60, responders: [police], incidents: routine}]", "can count no incident"),
        ("[{name: x, target_s: 60, responders: [meu_staff], clock: alert}]", "occurrence"),
        ("[{name: joint, target_s: 60, responders: [police]}]", "joint"),
    ],
    ids=["responder", "clock", "scope", "dispatch-clock", "kind", "unsatisfiable", "alert-on-site",
         "reserved-name"],
)  # fmt: skip
def test_bad_tier_tables_are_refused_naming_file_and_key(tmp_path, tiers, expected):
    path = _write(tmp_path, f"tiers: {tiers}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert str(path) in message and "tiers" in message and expected in message


def test_bad_tier_table_exits_2_without_traceback(tmp_path, capsys):
    from sim.interface.cli import main

    path = _write(tmp_path, "tiers: [{name: x, target_s: 60, responders: [ambulance]}]\n")
    assert main(["run", str(path), "-q", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "tiers.0.responders" in err


def test_a_distribution_whose_dist_changes_is_replaced_not_merged(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(
        "name: b\npolice: {call_handling: {dist: lognormal, median_s: 60, sigma: 0.5}}\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text(
        "extends: base.yaml\nname: c\npolice: {call_handling: {dist: fixed, value: 400}}\n"
    )
    assert load_scenario(child).police.call_handling.mean == 400.0


def test_default_tiers_follow_the_standard_and_skip_what_no_kind_uses():
    sc = scenario()  # one kind, every tier applies
    assert [(t.name, t.target_s, t.clock) for t in sc.tiers] == [
        ("self", 60.0, "occurrence"),
        ("mutual", 180.0, "alert"),
        ("police", 300.0, "alert"),
    ]
    police_only = scenario(
        incidents={
            "kinds": {
                "call": {"share": 1, "self_rescue": False, "volunteers": False, "meu_teams": 0}
            }
        }
    )
    assert [t.name for t in police_only.tiers] == ["police"]


# ---------------------------------------------------------------- scopes and outcomes
def test_outcome_shares_partition_the_tier_incidents():
    sc = scenario(police={"units": 1}, incidents={"rate_per_day": 80.0},
                  drain_hours=0.01, horizon_hours=24.0)  # fmt: skip
    _, df, _ = run(sc, seed=5)
    out = outcome_shares(df, sc.tiers)
    police = out[out["tier"] == "police"].iloc[0]
    counted = df[~df["in_warmup"] & (df["police_needed"] > 0)]
    reported = counted["alerted_s"].notna()
    reached = counted["first_police_s"].notna()
    assert police["never_reported_share"] == pytest.approx((~reported).mean())
    assert police["waiting_at_end_share"] + police["never_reached_share"] == pytest.approx(
        (reported & ~reached).mean()
    )
    assert police["waiting_at_end_share"] > 0  # a short drain leaves calls waiting


def test_self_rescue_counts_every_sudden_self_rescue_incident_or_only_those_with_someone_able():
    sc = load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml").with_changes(
        {"horizon_hours": 72.0, "warmup_hours": 0.0}
    )
    (self_tier,) = [t for t in sc.tiers if t.name == "self"]
    conditional = self_tier.model_copy(update={"name": "self_on_scene", "scope": "on_scene"})
    tiers = [self_tier, conditional]
    _, df, _ = run(sc, seed=2)
    per = per_replication(df, tiers).query("own_clock").set_index("tier")
    of_kind = df["sudden"] & df["kind_self_rescue"]
    able = of_kind & (df["meu_staff_on_scene"] | df["volunteer_on_scene"])
    # The default scope (all): every sudden incident of a self-rescue kind, so that the staff
    # on site move the share; on_scene: only those where someone able to act was there.
    assert self_tier.scope == "all"
    assert int(per.loc["self", "n"]) == int(of_kind.sum()) > int(able.sum()) > 0
    assert int(per.loc["self_on_scene", "n"]) == int(able.sum())
    assert (df.loc[able, "self_rescue_s"].notna()).all()
    assert df.loc[of_kind & ~able, "self_rescue_s"].isna().all()  # nobody there acts
    met = int(per.loc["self", "n"]) * per.loc["self", "compliance"]
    assert met == pytest.approx(int(able.sum()) * per.loc["self_on_scene", "compliance"])


# ---------------------------------------------------------------- intervals
def test_zero_compliance_carries_an_interval_above_zero():
    sc = scenario(tiers=[{"name": "instant", "target_s": 0.001, "responders": ["police"]}])
    _, df, _ = run(sc, seed=1)
    df = pd.concat([df.assign(replication=r) for r in range(3)])
    row = summarise(df, sc.tiers).query("scope == 'all' and tier == 'instant' and own_clock "
                                        "and metric == 'compliance'").iloc[0]  # fmt: skip
    assert row["mean"] == 0.0 and row["ci95_low"] == 0.0 and row["ci95_high"] > 0.0


def test_wilson_interval_matches_its_closed_form():
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(1.959963984540054**2 / (10 + 1.959963984540054**2))
    mean, low, high = proportion_ci(np.array([1.0, 1.0, 1.0]), np.array([5, 5, 5]))
    assert mean == 1.0 and high == 1.0 and low < 1.0


def _police_compliance(sc, seed: int, reps: int) -> tuple[float, float, float]:
    frames = []
    for r in range(reps):
        _, df, _ = run(sc, seed=seed, replication=r)
        frames.append(df.assign(replication=r))
    s = summarise(pd.concat(frames), sc.tiers)
    row = s.query("scope == 'all' and tier == 'police' and own_clock and metric == 'compliance'")
    return tuple(row[["mean", "ci95_low", "ci95_high"]].iloc[0])


@pytest.mark.slow
@pytest.mark.parametrize("target_s", [300.0, 45.0], ids=["middle", "near-zero"])
def test_reported_intervals_cover_as_often_as_they_claim(target_s):
    """Truth: the mean of 800 replications' compliance (layouts vary). Then 120 independent
    seeds of 5 replications each: the 95 % intervals must cover it at least
    0.95 - 3 * sqrt(0.95 * 0.05 / 120) = 0.89 of the time (the truth's own standard error is
    under a tenth of an interval's half-width, so it does not move the count)."""
    sc = scenario(
        horizon_hours=12.0, drain_hours=4.0, incidents={"rate_per_day": 30.0},
        police={"units": 2, "grids": 2},
        tiers=[{"name": "police", "target_s": target_s, "responders": ["police"], "clock": "alert"}],
    )  # fmt: skip
    truth_runs = []
    for r in range(800):
        _, df, _ = run(sc, seed=10_000, replication=r)
        counted = df[df["police_needed"].gt(0) & df["alerted_s"].notna()]
        t = (counted["first_police_s"] - counted["alerted_s"]).fillna(np.inf)
        if len(t):
            truth_runs.append(float((t <= target_s).mean()))
    truth = float(np.mean(truth_runs))
    trials = 120
    covered = 0
    for seed in range(trials):
        _, low, high = _police_compliance(sc, seed, 5)
        covered += low <= truth <= high
    floor = 0.95 - 3 * math.sqrt(0.95 * 0.05 / trials)
    assert covered / trials >= floor, (covered, truth)


# ---------------------------------------------------------------- layouts and CRN
def test_replications_draw_their_own_layout_unless_fixed():
    sc = scenario()
    a, b = ResponseModel(sc, seed=4, replication=0), ResponseModel(sc, seed=4, replication=1)
    assert not np.array_equal(a.city.grid_of_cell, b.city.grid_of_cell)
    fixed = sc.with_changes({"layout": "fixed"})
    a, b = ResponseModel(fixed, seed=4, replication=0), ResponseModel(fixed, seed=4, replication=1)
    assert np.array_equal(a.city.grid_of_cell, b.city.grid_of_cell)
    assert np.array_equal(a.city.population, b.city.population)


def test_staffing_changes_keep_incidents_and_probes():
    sc = load_scenario(SCENARIOS / "guangzhou-2023-subdistrict.yaml").with_changes(
        {"horizon_hours": 96.0, "warmup_hours": 0.0}
    )
    cols = ["incident_id", "occurred_s", "kind", "probe", "sudden", "x_m", "y_m", "layout"]
    for r in (0, 1):
        base = incidents_frame(ResponseModel(sc, seed=9, replication=r).run())
        for change in ({"police.units": 20}, {"meus.count": 40, "volunteers.count": 9000}):
            other = incidents_frame(ResponseModel(sc.with_changes(change), seed=9,
                                                  replication=r).run())  # fmt: skip
            assert base[cols].equals(other[cols])
        assert base["probe"].sum() > 0


def test_probes_never_count_as_activity(tmp_path):
    from sim.analysis.summary import activity
    from sim.experiment.runner import run_replications

    sc = scenario(incidents={"rate_per_day": 20.0, "probes_per_day": 50.0})
    tables = run_replications(sc, 0, 2)
    real = tables.incidents[~tables.incidents["probe"]]
    per_day = activity(tables.incidents, 2, 1.0)["per_day"]
    assert per_day["incidents"]["mean"] == pytest.approx(len(real) / 2)
    assert tables.incidents["probe"].sum() > 50


@pytest.mark.slow
def test_city_preset_puts_meus_on_the_reported_number_of_incidents():
    """guangzhou-2023 over 3 simulated days: MEUs (a team sent, or a unit's own staff acting)
    on 0.45-4.2 real incidents a day city-wide (seed 002: 868 in ~640 days, ~1.4 a day)."""
    sc = load_scenario(SCENARIOS / "guangzhou-2023.yaml").with_changes(
        {"horizon_hours": 74.0, "warmup_hours": 2.0}
    )
    df = incidents_frame(ResponseModel(sc, seed=0, replication=0).run())
    real = df[~df["in_warmup"] & ~df["probe"]]
    engaged = (real["meu_teams_sent"] > 0) | (real["self_rescue_by"] == "meu_staff")
    per_day = engaged.sum() / 3.0
    assert 0.45 <= per_day <= 4.2, per_day
