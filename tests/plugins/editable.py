"""Install a plug-in package of tests/plugins the way ``pip install -e`` does, without pip.

An installed package is found by ``importlib.metadata`` through its ``.dist-info`` folder
(its ``entry_points.txt`` names the classes); an editable install adds that folder and the
package's source folder to the path. :func:`install` writes the folder from the package's own
pyproject.toml into a directory of the caller's and returns the paths to put on ``sys.path``
(this process) and ``PYTHONPATH`` (subprocesses: ``jiefang run``, sweep workers, Dask).

Why not pip: a fresh clone's venv (``pip install -e .[test]``) has no setuptools to build with
(pip builds in an isolated environment it downloads), and a suite must not need the network
or change the environment it runs in. What is exercised is the same: entry points read by
``importlib.metadata`` from an installed distribution's metadata.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

PLUGINS = Path(__file__).resolve().parent


def install(package: str, site: Path) -> list[Path]:
    """Write ``package``'s dist-info into ``site``; the folders to put on the path."""
    root = PLUGINS / package
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    groups = project.get("entry-points", {})
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
        for group, eps in groups.items()
    ))  # fmt: skip
    (info / "INSTALLER").write_text("tests/plugins/editable.py\n")
    return [site, root / "src"]
