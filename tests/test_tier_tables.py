"""Tier tables by name (issue 24): ``tiers: guangzhou-2024`` and the others, and a bad name."""

from __future__ import annotations

import textwrap

import pytest

from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from sim.model.config import TIER_TABLES, Scenario, ScenarioError, default_tiers, tier_table
from tests.conftest import SCENARIOS


def write(tmp_path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


PROFESSIONAL_KIND = {"fire": {"share": 1.0, "fleets": {"professional": 1}}}


def test_each_table_is_its_published_circles():
    by_name = {n: [(t.name, t.target_s, t.responders, t.clock, t.scope) for t in tier_table(n)]
               for n in TIER_TABLES}  # fmt: skip
    on_site = ["meu_staff", "volunteer_on_site"]
    self_tier = ("self", 60.0, on_site, "occurrence", "all")
    assert by_name["1-3-5"] == [
        self_tier,
        ("mutual", 180.0, ["meu_team", "volunteer"], "alert", "reported"),
        ("police", 300.0, ["police"], "alert", "reported"),
    ]
    assert by_name["guangzhou-2024"] == [
        self_tier,
        ("mutual", 180.0, ["meu_team", "volunteer"], "alert", "reported"),
        ("unit_grid", 300.0, ["meu_team", "volunteer"], "alert", "reported"),
        ("street", 600.0, ["police"], "alert", "reported"),
        ("professional", 1200.0, ["professional"], "alert", "reported"),
    ]
    assert [(t[0], t[1]) for t in by_name["police-1-3-5"]] == [
        ("police_1", 60.0), ("police_3", 180.0), ("police_5", 300.0)
    ]  # fmt: skip
    assert default_tiers() == tier_table("1-3-5")
    assert tier_table("1-3-5") is not tier_table("1-3-5")  # a new list each time


def test_a_scenario_names_its_table_and_keeps_the_tiers_its_kinds_can_use():
    named = Scenario(name="x", tiers="guangzhou-2024", fleets={"professional": {"stations": 2}},
                     incidents={"kinds": PROFESSIONAL_KIND})  # fmt: skip
    assert [t.name for t in named.tiers] == [t.name for t in tier_table("guangzhou-2024")]
    # Without kinds that call for the professional fleet, its circle cannot count anything.
    plain = Scenario(name="x", tiers="guangzhou-2024")
    assert [t.name for t in plain.tiers] == ["self", "mutual", "unit_grid", "street"]
    assert Scenario(name="x", tiers="1-3-5").tiers == Scenario(name="x").tiers
    # A dumped scenario validates again to the same tiers (sweeps and manifests do this).
    again = Scenario.model_validate(named.model_dump(mode="json"))
    assert again.tiers == named.tiers


def test_an_unknown_table_is_one_error_naming_the_key_and_the_tables(tmp_path):
    path = write(tmp_path, "name: x\ntiers: guangzhou-2042\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert message.startswith(f"{path}: tiers: ")
    assert "unknown tier table 'guangzhou-2042'" in message
    assert all(name in message for name in TIER_TABLES)
    assert "Traceback" not in message


def test_an_unknown_table_exits_2_through_the_cli(tmp_path, capsys):
    path = write(tmp_path, "name: x\ntiers: 1-2-3\n")
    code = main(["run", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "tiers: unknown tier table '1-2-3'" in err and "guangzhou-2024" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_table_with_nothing_to_count_is_refused(tmp_path):
    police_only = """\
        name: x
        tiers: guangzhou-2024
        incidents:
          kinds:
            theft: {share: 1, self_rescue: false, volunteers: false, meu_teams: 0}
        """
    assert [t.name for t in load_scenario(write(tmp_path, police_only)).tiers] == ["street"]
    nothing = police_only.replace("tiers: guangzhou-2024", "tiers: police-1-3-5").replace(
        "meu_teams: 0", "meu_teams: 0, police_units: 0"
    )
    with pytest.raises(ScenarioError, match="tiers: tier table 'police-1-3-5': no tier"):
        load_scenario(write(tmp_path, nothing))


SMALL = """\
    name: {name}
    horizon_hours: 24
    replications: 2
    tiers: {tiers}
    fleets:
      professional: {{stations: 3}}
    incidents:
      rate_per_day: 200
      kinds:
        fire: {{share: 0.3, fleets: {{professional: 1}}}}
        fight: {{share: 0.7}}
    """


def _run(tmp_path, tiers, capsys):
    path = tmp_path / f"{tiers}.yaml"
    path.write_text(textwrap.dedent(SMALL.format(name=tiers, tiers=tiers)), encoding="utf-8")
    out = tmp_path / tiers
    assert main(["run", str(path), "--out", str(out), "--no-plot"]) == 0
    return out, capsys.readouterr().out


def test_outputs_name_the_tiers_of_any_table(tmp_path, capsys):
    official, printed = _run(tmp_path, "guangzhou-2024", capsys)
    rows = {line.split()[0]: line for line in printed.splitlines()[2:8]}
    assert list(rows) == ["self", "mutual", "unit_grid", "street", "professional", "joint"]
    assert len({line.index("min") for name, line in rows.items() if name != "joint"}) == 1
    assert "street within target, by clock: alert" in printed  # the police-only tier's clocks
    assert "of street-tier incidents" in printed  # never reported: of the police tier
    seed, printed = _run(tmp_path, "1-3-5", capsys)
    assert main(["compare", str(official), str(seed), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    # Tiers defined alike are compared; the others, and joint, are named as left out.
    table = printed.split("tier tables differ")[0]
    assert "  mutual  compliance" in table and "  self    compliance" in table
    assert "joint" not in table and "street" not in table
    assert ("tier tables differ: not compared (A only: unit_grid, street, professional; "
            "B only: police;") in printed  # fmt: skip


def test_the_police_objective_is_the_police_only_tier_of_any_table():
    from sim.planning.plan import objective_tiers

    chosen = {table: [t.name for t, _ in objective_tiers(Scenario(name="x", tiers=table),
                                                         "police", "police_posts")]
              for table in TIER_TABLES}  # fmt: skip
    assert chosen == {"1-3-5": ["police"], "guangzhou-2024": ["street"],
                      "police-1-3-5": ["police_5"]}  # fmt: skip


def test_optimize_police_posts_targets_the_street_tier_of_the_official_circles(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(f"extends: {SCENARIOS / 'guangzhou-2023-subdistrict.yaml'}\nname: official\n"
                    "tiers: guangzhou-2024\nhorizon_hours: 48\n")  # fmt: skip
    out = tmp_path / "plan"
    assert main(["optimize", str(path), "--add", "police_posts=1", "-r", "2", "--random-arms",
                 "1", "--out", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "street" in printed.split("compliance by arm")[1]
    assert "official: +1 police_posts (objective police" in printed
    assert [t.name for t in load_scenario(out / "optimised.yaml").tiers][3] == "street"


def test_changes_keep_the_named_table_and_its_rule():
    named = Scenario.model_validate({"name": "x", "tiers": "guangzhou-2024",
                                     "fleets": {"professional": {"stations": 2}},
                                     "incidents": {"kinds": PROFESSIONAL_KIND}})  # fmt: skip
    assert named.tiers[-1].name == "professional"
    off = named.with_changes({"fleets.professional.stations": 0})  # the crews turned off
    assert [t.name for t in off.tiers] == ["self", "mutual", "unit_grid", "street"]
    again = off.with_changes({"fleets.professional.stations": 3})
    assert again.tiers == named.tiers  # still the named table: its circle is back
    assert [t.name for t in named.with_changes({"tiers": "police-1-3-5"}).tiers] == [
        "police_1", "police_3", "police_5"
    ]  # fmt: skip
    listed = named.with_changes({"tiers": [t.model_dump() for t in named.tiers]})
    with pytest.raises(ScenarioError, match="tier 'professional' can count no incident"):
        listed.with_changes({"fleets.professional.stations": 0})  # a list is checked in full
