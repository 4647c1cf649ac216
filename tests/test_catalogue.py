"""Shipped scenarios by name (sim.model.catalogue), `jiefang scenarios`, `--set`
(sim.model.overrides), and descriptions that agree with their files."""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import re
import tomllib

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from sim.model.catalogue import copy_text, facts, find, shipped, shipped_folder
from sim.model.config import PATH_KEYS, ScenarioError, resolve_extends
from sim.model.overrides import parse_set
from tests.conftest import ROOT, SCENARIOS

NAMES = list(shipped())


# ------------------------------------------------------------------------------ packaging
def test_the_shipped_folder_is_the_repository_one_read_through_importlib_resources():
    folder = importlib.resources.files("sim.scenarios")
    assert str(folder) == str(SCENARIOS), (
        "sim.scenarios is not mapped onto scenarios/: reinstall (pip install -e .)"
    )
    assert shipped_folder() == SCENARIOS


def test_pyproject_lists_every_package_and_ships_every_file_a_scenario_names():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    listed = config["setuptools"]["packages"]
    packages = [
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "sim").rglob("__init__.py")
    ]
    assert sorted(listed) == sorted([*packages, "sim.scenarios"])
    assert config["setuptools"]["package-dir"] == {"sim.scenarios": "scenarios"}
    globs = config["setuptools"]["package-data"]["sim.scenarios"]
    shipped_files = {p for g in globs for p in SCENARIOS.glob(g) if p.is_file()}
    tracked = {p for p in SCENARIOS.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert tracked - shipped_files == {SCENARIOS / "__init__.py"}  # a module, shipped as one


def test_names_are_the_files_stems_and_their_name_keys():
    expected = sorted(p.stem for p in [*SCENARIOS.glob("*.yaml"),
                                       *SCENARIOS.glob("replay/*.yaml")])  # fmt: skip
    assert expected == NAMES and len(set(NAMES)) == len(NAMES)
    for name, path in [*shipped().items(), *shipped("sweep").items()]:
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["name"] == name
    assert list(shipped("sweep")) == ["sanyuanli-cameras", "subdistrict-staffing"]


def test_a_name_loads_the_shipped_file_and_a_file_of_that_name_wins(tmp_path, monkeypatch):
    assert load_scenario("demo") == load_scenario(SCENARIOS / "demo.yaml")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").write_text("name: mine\nhorizon_hours: 5\n", encoding="utf-8")
    assert load_scenario("demo").name == "mine"


def test_an_unknown_name_is_one_line_with_the_choices():
    with pytest.raises(ScenarioError) as err:
        load_scenario("nosuch")
    text = str(err.value)
    assert "\n" not in text and text.startswith("'nosuch': no scenario file and no shipped")
    assert all(name in text for name in NAMES)


# ------------------------------------------------------------------------------ extends
def test_extends_may_name_a_shipped_scenario(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("extends: demo\nname: mine\npolice: {units: 3}\n", encoding="utf-8")
    mine = load_scenario(path)
    assert mine == load_scenario("demo").with_changes({"name": "mine", "police.units": 3})


def test_extends_of_an_unknown_name_lists_the_choices_and_a_parents_is_not_echoed(tmp_path):
    (tmp_path / "s.yaml").write_text("extends: nosuch\nname: s\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "s.yaml")
    assert str(err.value).startswith(f"{tmp_path / 's.yaml'}: extends: 'nosuch': no scenario")
    assert "guangzhou-2023-subdistrict" in str(err.value)
    # The same name read from a file the user did not name is not shown.
    (tmp_path / "p.yaml").write_text("extends: secretname\nname: p\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text("extends: p.yaml\nname: c\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_scenario(tmp_path / "c.yaml")
    assert "secretname" not in str(err.value) and "the name given" in str(err.value)


def test_a_sweep_base_may_name_a_shipped_scenario_and_sweeps_load_by_name(tmp_path):
    from sim.experiment.sweep import load_sweep

    path = tmp_path / "w.yaml"
    path.write_text("name: w\nbase: demo\nreplications: 2\ngrid: {police.units: [4, 8]}\n",
                    encoding="utf-8")  # fmt: skip
    sweep = load_sweep(path, overrides=[("horizon_hours", 26)])
    assert sweep.base == load_scenario("demo").with_changes({"horizon_hours": 26})
    assert sweep.overrides == (("horizon_hours", 26),)
    assert (
        load_sweep("subdistrict-staffing").spec
        == load_sweep(SCENARIOS / "sweeps" / "subdistrict-staffing.yaml").spec
    )


# ------------------------------------------------------------------------------ --set
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("police.units=12", ("police.units", 12)),
        ("horizon_hours=26.5", ("horizon_hours", 26.5)),
        ("volunteers.acceptance= 0.5", ("volunteers.acceptance", 0.5)),
        ("meus.site_cells=null", ("meus.site_cells", None)),
        ("layout=fixed", ("layout", "fixed")),
        ("incidents.hourly_profile=[1, 2]", ("incidents.hourly_profile", [1, 2])),
        ("incidents.kinds.cardiac_arrest.share=0.1", ("incidents.kinds.cardiac_arrest.share", 0.1)),
        ("name=a=b", ("name", "a=b")),
    ],
)
def test_set_values_are_read_as_yaml(text, expected):
    assert parse_set(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "police.units",
            "--set police.units: expected KEY=VALUE (e.g. --set police.units=12), no '=' given",
        ),
        (
            "nosuch.key=1",
            "--set nosuch.key: unknown key 'nosuch'; the keys of the scenario are: breakdown, city, description, drain_hours,",
        ),
        (
            "police.nosuch=1",
            "--set police.nosuch: unknown key 'nosuch'; the keys of police are: call_handling, car_share,",
        ),
        (
            "city.width.x=1",
            "--set city.width.x: city.width holds a value, not keys; set city.width itself",
        ),
        ("=1", "--set: expected KEY=VALUE (e.g. --set police.units=12), the key is empty"),
        (
            "police.units=[1",
            "--set police.units: the value is not a YAML scalar or flow value (got '[1'",
        ),
    ],
)
def test_set_mistakes_are_one_line_naming_the_key_and_the_choices(text, message):
    with pytest.raises(ScenarioError) as err:
        parse_set(text)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_set_values_are_checked_like_the_file_and_named_as_set():
    with pytest.raises(ScenarioError) as err:
        load_scenario("demo", overrides=[parse_set("police.units=-1")])
    assert str(err.value) == (
        "demo: --set police.units: Input should be greater than or equal to 0 (got -1)"
    )
    with pytest.raises(
        ScenarioError, match=r"^demo: --set police.car_share: .*less than or equal to 1 \(got 2\)$"
    ):
        load_scenario("demo", overrides=[parse_set("police.car_share=2")])
    # Set after the extends chain is merged: the last value wins, the rest of a section stays.
    sc = load_scenario("demo", overrides=[("police.units", 3), ("police.units", 7)])
    assert sc == load_scenario("demo").with_changes({"police.units": 7})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--set", "police.units=-1"],
            "jiefang: error: demo: --set police.units: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            ["--set", "nosuch.key=1"],
            "jiefang: error: --set nosuch.key: unknown key 'nosuch'; the keys of the scenario are: ",
        ),
        (["--set", "police.units"], "jiefang: error: --set police.units: expected KEY=VALUE"),
    ],
)
@pytest.mark.parametrize("command", ["run", "sweep", "optimize", "view"])
def test_cli_set_mistakes_exit_2_in_one_line_writing_nothing(tmp_path, capsys, monkeypatch,
                                                             command, args, message):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    target = {"sweep": "subdistrict-staffing"}.get(command, "demo")
    argv = [command, target, *args]
    if command != "view":
        argv += ["--out", str(tmp_path / "out")]
    if command == "optimize":
        argv += ["--add", "meus=1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    if command == "sweep" and "error: demo: " in message:  # the base's error, under the sweep
        head, tail = message.split("demo: ")
        assert err.startswith(f"{head}subdistrict-staffing: base: ") and tail in err
    else:
        assert err.startswith(message)
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["run", "optimize", "view", "sweep"])
def test_cli_unknown_shipped_name_exits_2_with_the_choices(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    argv = [command, "nosuch"] + (["--add", "meus=1"] if command == "optimize" else [])
    assert main(argv) == 2
    err = capsys.readouterr().err
    kind = "sweep" if command == "sweep" else "scenario"
    assert err.startswith(f"jiefang: error: 'nosuch': no {kind} file and no shipped {kind}")
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []
    assert ("subdistrict-staffing" if kind == "sweep" else "guangzhou-2023-subdistrict") in err


def test_run_records_the_overrides_in_the_manifest(tmp_path):
    out = tmp_path / "out"
    argv = ["run", "demo", "--set", "horizon_hours=6", "--set", "replications=1",
            "--set", "police.units=4", "-q", "--no-plot", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert meta["overrides"] == {"horizon_hours": 6, "replications": 1, "police.units": 4}
    assert meta["replications"] == 1 and meta["scenario"]["horizon_hours"] == 6
    assert meta["scenario"]["police"]["units"] == 4


def test_optimised_yaml_extends_the_shipped_name_and_keeps_the_set_values(tmp_path):
    from sim.model.overrides import optimised_text

    text = ("# Written by jiefang optimize.\nextends: \"../../x/demo.yaml\"\nname: \"demo\"\n"
            "police:\n  units: 11\n")  # fmt: skip
    out = optimised_text(text, [("police.units", 10), ("volunteers.count", 5)], find("demo"))
    doc = yaml.safe_load(out)
    assert out.startswith("# Written by jiefang optimize.\n# With --set police.units=10 ")
    assert doc == {"extends": "demo", "police": {"units": 11}, "volunteers": {"count": 5},
                   "name": "demo"}  # fmt: skip
    path = tmp_path / "optimised.yaml"
    path.write_text(out, encoding="utf-8")
    assert load_scenario(path) == load_scenario("demo").with_changes(
        {"police.units": 11, "volunteers.count": 5}
    )


# ------------------------------------------------------------------------------ the command
def test_scenarios_lists_every_shipped_scenario_and_sweep_one_line_each(capsys):
    assert main(["scenarios"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in [*NAMES, *shipped("sweep")]:
        (line,) = [x for x in lines if x.split()[:1] == [name]]
        assert len(line.split(maxsplit=1)) == 2  # and a description
    (demo,) = [x for x in lines if x.split()[:1] == ["demo"]]
    assert demo.endswith("[20 days after a 2 h warm-up; 3 replications; 3,941 volunteers, "
                         "135 MEUs, 10 police units]")  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_show_prints_the_merged_scenario(tmp_path, capsys, name):
    assert main(["scenarios", "show", name]) == 0
    text = capsys.readouterr().out
    assert "extends" not in yaml.safe_load(text)
    path = tmp_path / "shown.yaml"
    path.write_text(text, encoding="utf-8")
    assert yaml.safe_load(text) == resolve_extends(find(name))
    assert load_scenario(path) == load_scenario(name)


def _by_content(scenario) -> dict:
    """A scenario's dump with each data file's path replaced by its bytes' digest."""
    dump = scenario.model_dump(mode="json")
    for section, key in PATH_KEYS:
        if dump[section].get(key):
            with open(dump[section][key], "rb") as f:
                dump[section][key] = hashlib.sha256(f.read()).hexdigest()
    return dump


@pytest.mark.parametrize("name", NAMES)
def test_a_copy_runs_from_any_folder_as_the_shipped_scenario(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    dest = tmp_path / "elsewhere" / "mine.yaml"
    dest.parent.mkdir()
    assert main(["scenarios", "copy", name, str(dest)]) == 0
    text, data = copy_text(name)
    assert dest.read_text(encoding="utf-8") == text
    # The copy keeps its comments and names its parent by name (no path into the package).
    source = find(name).read_text(encoding="utf-8")
    assert [x for x in text.splitlines() if x.startswith("#")] == [
        x for x in source.splitlines() if x.startswith("#")
    ]
    parent = yaml.safe_load(text).get("extends")
    assert parent is None or parent in NAMES
    assert _by_content(load_scenario(dest)) == _by_content(load_scenario(name))
    assert sorted(p.relative_to(dest.parent).as_posix()
                  for p in dest.parent.rglob("*") if p.is_file()) == sorted(["mine.yaml", *data])  # fmt: skip


def test_copy_of_a_data_scenario_brings_its_files_and_refuses_to_replace(tmp_path, capsys):
    assert main(["scenarios", "copy", "demo-replay", str(tmp_path)]) == 0
    assert (tmp_path / "demo-replay.yaml").exists() and (tmp_path / "demo-incidents.csv").exists()
    before = (tmp_path / "demo-replay.yaml").read_bytes()
    (tmp_path / "demo-incidents.csv").write_text("edited\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["scenarios", "copy", "demo-replay", str(tmp_path)]) == 2
    assert "exists; give another DEST or --force" in capsys.readouterr().err
    assert (tmp_path / "demo-incidents.csv").read_text(encoding="utf-8") == "edited\n"
    assert main(["scenarios", "copy", "demo-replay", str(tmp_path), "--force"]) == 0
    assert (tmp_path / "demo-replay.yaml").read_bytes() == before
    assert (tmp_path / "demo-incidents.csv").read_bytes() == (
        SCENARIOS / "replay" / "demo-incidents.csv"
    ).read_bytes()


def test_copy_of_a_sweep_names_its_base_by_name(tmp_path):
    from sim.experiment.sweep import load_sweep

    dest = tmp_path / "w.yaml"
    assert main(["scenarios", "copy", "subdistrict-staffing", str(dest)]) == 0
    assert yaml.safe_load(dest.read_text(encoding="utf-8"))["base"] == "guangzhou-2023-subdistrict"
    shipped_sweep = load_sweep("subdistrict-staffing")
    assert load_sweep(dest).points == shipped_sweep.points


# ------------------------------------------------------------------------------ descriptions
_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
          "seven": 7, "eight": 8, "nine": 9, "ten": 10, "no": 0}  # fmt: skip
_NUM = r"(\d[\d,]*|" + "|".join(_WORDS) + ")"
_DAYS = {"day": (1, 1), "week": (7, 7), "month": (28, 31), "year": (365, 366)}
#: Claims a description can make about what its file runs: (pattern, what it claims).
_CLAIMS = [
    # "a week" of "89 calls a week" is a rate, not the horizon.
    (re.compile(rf"(?<!calls )\b{_NUM} (?:simulated )?(day|week|month|year)s?\b", re.I), "span"),
    (re.compile(rf"\b{_NUM} replications?\b", re.I), "replications"),
    (re.compile(rf"\b{_NUM} (?:registered )?volunteers\b", re.I), "volunteers.count"),
    (re.compile(rf"\b{_NUM} (?:MEUs|minimal emergency units)\b", re.I), "meus.count"),
    (re.compile(rf"\b{_NUM} police units?\b", re.I), "police.units"),
    (re.compile(rf"\b{_NUM} police stations?\b", re.I), "police.stations"),
]


def _number(text: str) -> int:
    return _WORDS[text.lower()] if text.lower() in _WORDS else int(text.replace(",", ""))


def description_problems(description: str, scenario) -> list[str]:
    """What ``description`` says about the horizon, replications or staffing that the
    scenario does not do."""
    problems = []
    days = (scenario.horizon_hours - scenario.warmup_hours) / 24
    for pattern, what in _CLAIMS:
        for match in pattern.finditer(description):
            n = _number(match[1])
            if what == "span":
                low, high = _DAYS[match[2].lower()]
                if not n * low <= days <= n * high:
                    problems.append(f"{match[0]!r}: the file runs {days:g} days")
                continue
            section, _, key = what.partition(".")
            value = getattr(getattr(scenario, section), key) if key else getattr(scenario, what)
            if n != value:
                problems.append(f"{match[0]!r}: the file has {what} = {value:,}")
    return problems


@pytest.mark.parametrize("name", [*NAMES, *shipped("sweep")])
def test_every_description_agrees_with_its_file(name):
    from sim.experiment.sweep import load_sweep

    if name in shipped("sweep"):
        sweep = load_sweep(name)
        scenario = sweep.base.with_changes(sweep.spec.set)  # what every point shares
        text = sweep.spec.description
    else:
        scenario = load_scenario(name)
        text = scenario.description
    assert text.strip(), "every shipped file says what it is"
    assert description_problems(text, scenario) == []


def test_the_description_check_finds_the_drifts_it_was_written_for():
    sub = load_scenario("guangzhou-2023-subdistrict")  # 482 h: 20 days after 2 h
    old = ("One sub-district cut of Guangzhou 2023 (city figures / 170 towns and "
           "sub-districts), with a river branch and three bridges; one day after a two-hour "
           "warm-up.")  # fmt: skip
    assert description_problems(old, sub) == ["'one day': the file runs 20 days"]
    one_day = sub.with_changes({"horizon_hours": 26})
    assert description_problems("three replications of 20 days", one_day) == [
        "'20 days': the file runs 1 days",
        "'three replications': the file has replications = 5",
    ]
    assert description_problems("Baota - 89 calls a week, no MEUs, 4 police units",
                                load_scenario("baota")) == []  # fmt: skip
    assert description_problems("5,882 volunteers, 135 MEUs", sub) == [
        "'5,882 volunteers': the file has volunteers.count = 3,941",
    ]


def test_facts_are_read_from_the_scenario():
    demo = load_scenario("demo")
    assert facts(demo) == ("20 days after a 2 h warm-up; 3 replications; 3,941 volunteers, "
                           "135 MEUs, 10 police units")  # fmt: skip
    short = demo.with_changes({"horizon_hours": 8, "warmup_hours": 0, "replications": 1})
    assert facts(short).startswith("8 h; 1 replication; ")


def test_a_checkout_that_is_not_installed_finds_the_folder_beside_the_package(monkeypatch):
    def missing(anchor):
        raise ModuleNotFoundError(anchor)

    monkeypatch.setattr(importlib.resources, "files", missing)
    assert shipped_folder() == SCENARIOS
    assert list(shipped()) == NAMES


def test_copy_and_show_of_an_unknown_name_are_one_short_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["scenarios", "copy", "x" * 5000]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < 1000 and "no scenario file and no shipped" in err
    assert main(["scenarios", "show", "nosuch"]) == 2
    assert "'nosuch': no scenario file and no shipped scenario" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_sweep_records_the_overrides_on_its_base(tmp_path):
    sweep = tmp_path / "w.yaml"
    sweep.write_text("name: w\nbase: demo\nreplications: 1\ngrid: {police.units: [4, 8]}\n",
                     encoding="utf-8")  # fmt: skip
    out = tmp_path / "out"
    argv = ["sweep", str(sweep), "--set", "horizon_hours=6", "--set", "volunteers.count=10",
            "-q", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert meta["overrides"] == {"horizon_hours": 6, "volunteers.count": 10}
    assert meta["base_scenario"]["horizon_hours"] == 6
    assert meta["base_scenario"]["volunteers"]["count"] == 10


@pytest.mark.slow
def test_optimize_by_name_with_overrides_writes_a_plan_that_runs_them(tmp_path):
    pytest.importorskip("spopt")
    out = tmp_path / "opt"
    argv = ["optimize", "demo", "--add", "meus=2", "--set", "horizon_hours=26",
            "--set", "volunteers.count=500", "-r", "2", "--random-arms", "1", "-q",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    meta = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert meta["optimize"]["overrides"] == {"horizon_hours": 26, "volunteers.count": 500}
    plan = yaml.safe_load((out / "optimised.yaml").read_text(encoding="utf-8"))
    assert plan["extends"] == "demo" and plan["horizon_hours"] == 26
    planned = load_scenario(out / "optimised.yaml")
    assert planned.horizon_hours == 26 and planned.volunteers.count == 500
    assert planned.meus.count == load_scenario("demo").meus.count + 2


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_set_text_is_a_value_or_one_short_line(text):
    try:
        key, _ = parse_set(text)
    except ScenarioError as err:
        message = str(err)
        assert message.startswith("--set") and "\n" not in message and len(message) < 600
        assert "\x1b" not in message
    else:
        assert "=" in text and key == text.partition("=")[0].strip()


def test_a_set_file_path_is_relative_to_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    log = (SCENARIOS / "replay" / "demo-incidents.csv").read_bytes()
    (tmp_path / "log.csv").write_bytes(log)
    sc = load_scenario("demo-replay", overrides=[parse_set("incidents.replay=log.csv")])
    assert sc.incidents.replay == str(tmp_path / "log.csv")
    assert len(sc.replay.occurred_s) == 40
