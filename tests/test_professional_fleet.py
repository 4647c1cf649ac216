"""The built-in professional fleet (the official 20-minute circle): the fleet protocol, off
unless configured, the nearest free teams after their turnout, and its section checked."""

from __future__ import annotations

import numpy as np
import pytest

from sim.model.config import Scenario, ScenarioError
from sim.model.plugins import provenance
from tests.conftest import run

KINDS = {"fire": {"share": 0.5, "fleets": {"professional": 1}}, "fight": {"share": 0.5}}


def scenario(**professional):
    return Scenario(name="p", horizon_hours=24.0, incidents={"rate_per_day": 150, "kinds": KINDS},
                    fleets={"professional": professional}, tiers="guangzhou-2024")  # fmt: skip


def test_off_unless_a_scenario_configures_it_with_stations():
    assert Scenario(name="x").fleets == {}
    off = scenario()  # configured with its default, no station: off, though kinds ask for it
    assert off.fleets_on() == [] and "professional" not in [t.name for t in off.tiers]
    model, _, _ = run(off, seed=3)
    df = model.incidents_table()
    assert model.fleets == [] and not any("professional" in c for c in df.columns)
    assert (df["kind"] == "fire").any()
    on = scenario(stations=2)
    assert on.fleets_on() == ["professional"] and on.tiers[-1].name == "professional"
    assert provenance(on) == {}  # built in: no plug-in package to name
    # A tier written out that counts only an off fleet is refused, as any that counts nothing.
    tier = {"name": "fire", "target_s": 1200, "responders": ["professional"]}
    with pytest.raises(ScenarioError, match=r"tiers\.0: tier 'fire' can count no incident"):
        off.with_changes({"tiers": [tier]})
    assert [t.name for t in on.with_changes({"tiers": [tier]}).tiers] == ["fire"]


def test_the_nearest_free_teams_arrive_after_their_turnout():
    sc = scenario(stations=4, per_station=1, speed_m_s=10.0, turnout_s=90.0)
    model, _, assignments = run(sc, seed=3)
    df = model.incidents_table()
    fleet = model.fleets[0]
    assert fleet.name == "professional" and len(fleet.xy) == 4
    fire = df[df["kind"] == "fire"]
    assert (fire["professional_sent"] <= 1).all() and fire["professional_sent"].sum() > 0
    assert (df.loc[df["kind"] != "fire", "professional_sent"] == 0).all()
    ours = assignments[assignments["responder"] == "professional"]
    assert len(ours) == fire["professional_sent"].sum()
    for a in ours.itertuples():
        row = df.set_index("incident_id").loc[a.incident_id]
        d = model.city.distances_to(np.array([row.x_m, row.y_m]), fleet.xy[[a.responder_id]],
                                    fleet.bank[[a.responder_id]])[0]  # fmt: skip
        assert a.arrived_s == pytest.approx(a.sent_s + 90.0 + d / 10.0)
        assert row.first_professional_s == pytest.approx(a.arrived_s)
        # ...and it was the nearest of the teams free when it was sent (ties: lower team)
        busy = ours[(ours.sent_s <= a.sent_s) & (ours.released_s > a.sent_s)
                    & (ours.index != a.Index)]["responder_id"]  # fmt: skip
        free = np.setdiff1d(np.arange(len(fleet.xy)), busy.to_numpy())
        all_d = model.city.distances_to(np.array([row.x_m, row.y_m]), fleet.xy[free],
                                        fleet.bank[free])  # fmt: skip
        assert a.responder_id == free[np.argmin(all_d)]
    # A team is with one incident at a time: its commitments do not overlap.
    for _, team in ours.sort_values("sent_s").groupby("responder_id"):
        assert (team["sent_s"].to_numpy()[1:] >= team["released_s"].to_numpy()[:-1]).all()


def test_a_bad_section_is_one_error_naming_the_key():
    with pytest.raises(ScenarioError, match=r"fleets\.professional\.speed_m_s"):
        Scenario(name="p").with_changes({"fleets": {"professional": {"speed_m_s": 0}}})
    with pytest.raises(ScenarioError, match=r"fleets\.professional\.station: "):
        Scenario(name="p").with_changes({"fleets": {"professional": {"station": 3}}})


def test_its_crews_change_no_other_responder():
    """Kinds that call for crews also call for police, who clear the scene: the crews add
    their own columns and trips, are first help where they come first, and leave every other
    column and trip as it was."""
    off_model, _, off_trips = run(scenario(), seed=5)
    on_model, _, on_trips = run(scenario(stations=3, per_station=2), seed=5)
    off, on = off_model.incidents_table(), on_model.incidents_table()
    assert on["professional_sent"].sum() > 0
    help_cols = ["first_help_s", "first_help_by"]
    rest = [c for c in off.columns if c not in help_cols]
    assert on[rest].equals(off[rest])
    first = np.fmin(off["first_help_s"], on["first_professional_s"])
    assert np.allclose(on["first_help_s"], first, equal_nan=True)
    crews_first = on["first_professional_s"] < off["first_help_s"]
    assert crews_first.any() and (on.loc[crews_first, "first_help_by"] == "professional").all()
    assert (
        on_trips[on_trips["responder"] != "professional"]
        .reset_index(drop=True)
        .equals(off_trips.reset_index(drop=True))
    )
