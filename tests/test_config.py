"""Scenario files: every class of invalid input gives one clear error before anything runs."""

from __future__ import annotations

import textwrap

import pytest

from sim.geo.scenario import load_scenario
from sim.model.config import ScenarioError
from tests.conftest import SCENARIOS


def write(tmp_path, text: str, name: str = "s.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path) -> str:
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    return str(err.value)


@pytest.mark.parametrize(
    ("body", "key_path", "expected"),
    [
        ("name: x\npolice: {units: -3}\n", "police.units", "greater than or equal to 0"),
        ("name: x\nvolunteers: {count: many}\n", "volunteers.count", "valid integer"),
        ("name: x\nvolunteers: {count: 2.5}\n", "volunteers.count", "valid integer"),
        ("name: x\nvolunteers: {count: true}\n", "volunteers.count", "valid integer"),
        ("name: x\npolise: {units: 3}\n", "polise", "unknown key"),
        ("name: x\npolice: {unit: 3}\n", "police.unit", "unknown key"),
        ("police: {units: 3}\n", "name", "required key is missing"),
        (
            "name: x\nvolunteers: {acceptance: 1.5}\n",
            "volunteers.acceptance",
            "less than or equal to 1",
        ),
        (
            "name: x\nvolunteers: {acceptance: -0.1}\n",
            "volunteers.acceptance",
            "greater than or equal to 0",
        ),
        ("name: x\nhorizon_hours: .nan\n", "horizon_hours", "finite number"),
        ("name: x\nhorizon_hours: 0\n", "horizon_hours", "greater than 0"),
        (
            "name: x\nwarmup_hours: 30\nhorizon_hours: 24\n",
            "(top level)",
            "warmup_hours (30.0) must be less",
        ),
        (
            "name: x\nvolunteers: {on_duty_share: [0.1, 0.2]}\n",
            "volunteers.on_duty_share",
            "24 numbers",
        ),
        ("name: x\ntravel: {congestion_by_hour: 0.5}\n", "travel.congestion_by_hour", ">= 1.0"),
        (
            "name: x\npolice: {stations: 5, grids: 2}\n",
            "police",
            "grids (2) must be >= stations (5)",
        ),
        ("name: x\nmeus: {count: 5, team_size: 20}\n", "meus.team_size", "no team could ever go"),
        (
            "name: x\ncity: {land_use_shares: {school: 0.7, market: 0.6}}\n",
            "city.land_use_shares",
            "sum to at most 1",
        ),
        (
            "name: x\ncity: {land_use_shares: {moon: 0.1}}\n",
            "city.land_use_shares.moon",
            "'residential'",
        ),
        ("name: x\nincidents: {kinds: {}}\n", "incidents.kinds", "at least 1"),
        (
            "name: x\nincidents: {kinds: {a: {share: 0}}}\n",
            "incidents.kinds.a.share",
            "greater than 0",
        ),
        (
            "name: x\npolice: {call_handling: {dist: gamma, mean_s: 3}}\n",
            "police.call_handling",
            "does not match",
        ),
        (
            "name: x\npolice: {call_handling: {dist: uniform, low_s: 9, high_s: 3}}\n",
            "police.call_handling",
            "must be >= low_s",
        ),
        ("name: x\nmeus: {count: 2, site_cells: [[1, 1]]}\n", "meus", "site_cells lists 1 cells"),
        (
            "name: x\ntiers: guangzhou-2025\n",
            "tiers",
            "unknown tier table 'guangzhou-2025'; known: 1-3-5, guangzhou-2024, police-1-3-5",
        ),
    ],
)
def test_invalid_values_name_file_key_and_expectation(tmp_path, body, key_path, expected):
    path = write(tmp_path, body)
    message = error_of(path)
    assert message.startswith(f"{path}: {key_path}: ") or f"\n{path}: {key_path}: " in message
    assert expected in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", "file is empty"),
        ("- a\n- b\n", "expected a mapping of keys at the top, got a list"),
        ("name: [unclosed\n", "invalid YAML"),
        ("name: x\nname: y\n", "duplicate key 'name'"),
        ("name: !!python/object/apply:os.system ['echo pwned']\n", "invalid YAML"),
        ("name: x\nextends: 3\n", "extends: expected a file path"),
    ],
)
def test_unreadable_files_give_one_clear_error(tmp_path, body, expected):
    assert expected in error_of(write(tmp_path, body))


def test_missing_file_and_directory(tmp_path):
    assert "file not found" in error_of(tmp_path / "nope.yaml")
    assert "is a directory" in error_of(tmp_path)


def test_binary_junk(tmp_path):
    path = tmp_path / "junk.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01binary")
    assert "not a UTF-8 text file" in error_of(path)


def test_extends_merges_nested_keys_and_resolves_relative_paths(tmp_path):
    (tmp_path / "base").mkdir()
    write(tmp_path / "base", "name: base\npolice: {units: 7, stations: 2, grids: 4}\n", "b.yaml")
    child = write(tmp_path, "extends: base/b.yaml\nname: child\npolice: {units: 9}\n")
    sc = load_scenario(child)
    assert (sc.name, sc.police.units, sc.police.stations, sc.police.grids) == ("child", 9, 2, 4)


def test_extends_cycle_and_missing_parent(tmp_path):
    write(tmp_path, "extends: b.yaml\nname: a\n", "a.yaml")
    write(tmp_path, "extends: a.yaml\nname: b\n", "b.yaml")
    assert "extends: cycle" in error_of(tmp_path / "a.yaml")
    orphan = write(tmp_path, "extends: missing.yaml\nname: c\n", "c.yaml")
    assert "missing.yaml: file not found" in error_of(orphan)


def test_map_file_errors_name_row_and_column(tmp_path):
    """A bad map is found at load (not when the city is built), by row and column."""
    write(tmp_path, "..C\n.X.\n", "map.txt")
    message = error_of(write(tmp_path, "name: m\ncity: {map_file: map.txt}\n"))
    assert "city.map_file: " in message and "map row 2, column 2: not a map character" in message
    assert "'X'" not in message  # the map may be any file: its text is never echoed
    message = error_of(write(tmp_path, "name: m\ncity: {map_file: gone.txt}\n", "g.yaml"))
    assert "city.map_file: " in message and "gone.txt: file not found" in message


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_scenario_loads(path):
    sc = load_scenario(path)
    assert sc.name
