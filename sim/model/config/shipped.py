"""The shipped scenarios' files, found by name (described and copied by
:mod:`sim.model.catalogue`): an ``extends:`` may name one, so the schema's loading finds them
here without importing the catalogue."""

from __future__ import annotations

import importlib
import importlib.resources
import re
from pathlib import Path
from typing import Literal

from sim.model.config.errors import ScenarioError, _show

PACKAGE = "sim.scenarios"
Kind = Literal["scenario", "sweep"]
#: Folders of the package holding each kind (scenario examples of a data path sit in
#: replay/ beside their data).
FOLDERS: dict[Kind, tuple[str, ...]] = {"scenario": ("", "replay"), "sweep": ("sweeps",)}
#: What a name looks like: a file stem with no folder and no suffix.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def shipped_folder() -> Path:
    """The folder of the shipped scenarios (inside the installed package, or the checkout's
    ``scenarios/`` in an editable install)."""
    try:
        root = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        # A source checkout run without installing (or an install made before the mapping
        # existed): the folder beside the package is the same one the wheel ships.
        return Path(__file__).resolve().parents[3] / "scenarios"
    if isinstance(root, Path):
        return root
    # Not a plain folder (a namespace portion): the package's first folder on disk.
    return Path(next(iter(importlib.import_module(PACKAGE).__path__)))


def shipped(kind: Kind = "scenario") -> dict[str, Path]:
    """Name -> file of every shipped scenario (or sweep), sorted by name."""
    folder = shipped_folder()
    files = [p for sub in FOLDERS[kind] for p in (folder / sub).glob("*.yaml")]
    return {p.stem: p for p in sorted(files, key=lambda p: p.stem)}


def is_name(text: str | Path) -> bool:
    return bool(NAME.fullmatch(str(text)))


def choices(kind: Kind = "scenario") -> str:
    return ", ".join(shipped(kind))


def find(name: str, kind: Kind = "scenario", *, echo: bool = True) -> Path:
    """The file of a shipped name, or one error naming the choices."""
    found = shipped(kind).get(name)
    if found is None:
        shown = _show(name) if echo else "the name given"
        raise ScenarioError(
            f"{shown}: no {kind} file and no shipped {kind} of that name; shipped {kind}s: "
            f"{choices(kind)} (`jiefang scenarios` describes them)"
        )
    return found


def locate(text: str | Path, folder: Path | None = None, kind: Kind = "scenario",
           *, echo: bool = True) -> Path:  # fmt: skip
    """The file ``text`` names, relative to ``folder``: a file when one of that text exists
    (or it does not look like a name), else the shipped file of that name. A folder of that
    name does not hide a shipped name (a copied ``helsinki`` keeps its data in ``helsinki/``)."""
    path = Path(text) if folder is None else folder / text
    if not is_name(text) or path.is_file():
        return path
    if str(text) in shipped(kind) or not path.exists():
        return find(str(text), kind, echo=echo)
    return path  # something else of that name: reading it says what it is


def name_of(path: Path, kind: Kind = "scenario") -> str | None:
    """The shipped name of ``path`` (None: not a shipped file)."""
    try:
        resolved = path.resolve()
    except OSError:
        return None
    return next((n for n, p in shipped(kind).items() if p.resolve() == resolved), None)
