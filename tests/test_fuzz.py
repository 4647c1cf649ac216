"""Fuzzing the scenario and sweep loaders: every mutated file either loads or gives the one
clear error (ScenarioError -> exit code 2, no traceback). YAML is only ever loaded safely."""

from __future__ import annotations

import copy
import math
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.experiment.sweep import load_sweep
from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from sim.model.config import ScenarioError, resolve_extends
from tests.conftest import SCENARIOS

BASE_RAW = resolve_extends(SCENARIOS / "guangzhou-2023-subdistrict.yaml")
SWEEP_RAW = yaml.safe_load((SCENARIOS / "sweeps" / "subdistrict-staffing.yaml").read_text())
SWEEP_RAW["base"] = str(SCENARIOS / "guangzhou-2023-subdistrict.yaml")

junk_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e308, -1e308, 1e-320]),
    st.text(max_size=20), st.lists(st.integers(-5, 5), max_size=30),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)  # fmt: skip


def leaf_paths(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from leaf_paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield (*prefix, i)
            yield from leaf_paths(v, (*prefix, i))


@st.composite
def mutated(draw, raw):
    doc = copy.deepcopy(raw)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(leaf_paths(doc))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "unknown", "nest"]))
        if action == "replace":
            parent[path[-1]] = draw(junk_values)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "unknown" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=10))] = draw(junk_values)
        elif action == "nest":
            deep = draw(junk_values)
            for _ in range(draw(st.integers(1, 60))):
                deep = [deep]
            parent[path[-1]] = deep
    return doc


def dump(doc) -> str:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def loads_or_clear_error(load, path) -> None:
    try:
        load(path)
    except ScenarioError as err:
        text = str(err)
        assert text.startswith(str(path)) and "Traceback" not in text
        assert len(text) < 20_000


@pytest.mark.slow
@settings(max_examples=1200, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=mutated(BASE_RAW))
def test_mutated_scenarios_load_or_fail_clearly(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("fz") / "s.yaml"
    path.write_text(dump(doc), encoding="utf-8")
    loads_or_clear_error(load_scenario, path)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(doc=mutated(SWEEP_RAW))
def test_mutated_sweeps_load_or_fail_clearly(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("fz") / "w.yaml"
    path.write_text(dump(doc), encoding="utf-8")
    loads_or_clear_error(load_sweep, path)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.binary(max_size=400))
def test_binary_junk_is_a_clear_error(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fz") / "j.yaml"
    path.write_bytes(data)
    loads_or_clear_error(load_scenario, path)
    loads_or_clear_error(load_sweep, path)


HOSTILE = [
    "name: !!python/object/apply:os.system ['touch PWNED']\n",
    "!!python/object/new:subprocess.Popen [['touch', 'PWNED']]\n",
    "name: !!python/name:os.system\n",
    "a: &a [*a]\n",
    "name: x\n" + "k: " + "[" * 5000 + "]" * 5000 + "\n",
    "name: x\npolice: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
    "- " * 2000 + "x\n",
    "name: x\nvolunteers: {count: 1e400}\n",
    "name: x\nhorizon_hours: .inf\n",
    "\x00\x01\x02",
    "name: x\n\tbad: tab\n",
]


@pytest.mark.slow
def test_hostile_yaml_never_builds_objects_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for i, text in enumerate(HOSTILE):
        path = tmp_path / f"h{i}.yaml"
        path.write_text(text, encoding="utf-8")
        assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 2, text[:40]
        err = capsys.readouterr().err
        assert err.startswith("jiefang: error: ") and "Traceback" not in err
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_fuzzed_files_through_the_real_command_line(tmp_path):
    """A sample of broken files through a real process: exit 2, one message, no traceback."""
    docs = [dict(BASE_RAW, volunteers={"count": "lots"}), dict(BASE_RAW, city=[1, 2]),
            {"name": "x", "incidents": {"kinds": {"a": {"share": math.nan}}}}]  # fmt: skip
    for i, doc in enumerate(docs):
        path = tmp_path / f"c{i}.yaml"
        path.write_text(dump(doc), encoding="utf-8")
        result = subprocess.run([sys.executable, "-m", "sim.interface.cli", "run", str(path)],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and str(path) in result.stderr
