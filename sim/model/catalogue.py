"""The scenarios shipped with the package: found by name, described, copied.

The repository keeps them once, in its top-level ``scenarios/`` folder, which installs as
the data package ``sim.scenarios`` (pyproject.toml maps it); they are read through
:mod:`importlib.resources`, so an installed wheel and an editable install see the same
files. A *name* is a shipped file's stem (``demo``, ``guangzhou-2023-subdistrict``); a
scenario argument, an ``extends:`` and a sweep's ``base:`` take a file or a name. A file of
that exact text wins over a name, so a name never hides a file the user has.
"""

from __future__ import annotations

import importlib
import importlib.resources
import re
from pathlib import Path
from typing import Literal

from sim.model.config.errors import ScenarioError, _show
from sim.model.config.raw import PATH_KEYS
from sim.model.config.reading import read_yaml_mapping
from sim.model.config.scenario import Scenario

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
        return Path(__file__).resolve().parents[2] / "scenarios"
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


# ------------------------------------------------------------------------------ describing
def description(path: Path) -> str:
    """A file's own ``description:`` on one line."""
    text = read_yaml_mapping(path).get("description", "")
    return " ".join(str(text).split())


def facts(scenario: Scenario) -> str:
    """What the scenario runs, read from it (so it cannot drift from the file): horizon,
    warm-up, replications and staffing."""
    active = scenario.horizon_hours - scenario.warmup_hours
    days = active / 24
    span = (f"{days:g} day{'s' if days != 1 else ''}" if days >= 1 and days == round(days)
            else f"{active:g} h")  # fmt: skip
    if scenario.warmup_hours:
        span += f" after a {scenario.warmup_hours:g} h warm-up"
    reps = scenario.replications
    return (f"{span}; {reps} replication{'s' if reps != 1 else ''}; "
            f"{scenario.volunteers.count:,} volunteers, {scenario.meus.count:,} MEUs, "
            f"{scenario.police.units:,} police units")  # fmt: skip


# ------------------------------------------------------------------------------ copying
_EXTENDS = re.compile(r"^(?P<key>extends|base):[ \t]*(?P<value>[^#\n]*?)[ \t]*(?P<rest>#.*)?$",
                      re.M)  # fmt: skip


def copy_text(name: str, kind: Kind = "scenario") -> tuple[str, list[str]]:
    """The text of an editable copy of a shipped file, and the data files it names by a
    relative path (to copy beside it).

    The copy keeps the file's text and comments; its ``extends:`` (a sweep's ``base:``)
    names the shipped parent by name, so it runs from any folder.
    """
    path = find(name, kind)
    text = path.read_text(encoding="utf-8")

    def by_name(match: re.Match) -> str:
        value = match["value"].strip().strip("'\"")
        parent = name_of(path.parent / value) if value else None
        if parent is None:
            return match[0]
        rest = f"  {match['rest']}" if match["rest"] else ""
        return f"{match['key']}: {parent}{rest}"

    text = _EXTENDS.sub(by_name, text)
    raw = read_yaml_mapping(path)
    data = []
    for section, key in PATH_KEYS:
        value = raw.get(section, {}).get(key) if isinstance(raw.get(section), dict) else None
        if isinstance(value, str) and not Path(value).is_absolute():
            data.append(value)
    return text, data


def copy_plan(name: str, dest: Path | None, kind: Kind = "scenario") -> dict[Path, bytes]:
    """Every file ``jiefang scenarios copy`` writes (target -> bytes): the copy at ``dest``
    (default ``./NAME.yaml``; a folder: ``dest/NAME.yaml``) and the data files it names,
    at the same relative paths beside it."""
    text, data = copy_text(name, kind)
    target = Path(f"{name}.yaml") if dest is None else dest
    if target.is_dir():
        target = target / f"{name}.yaml"
    source = find(name, kind)
    plan = {target: text.encode("utf-8")}
    for rel in data:
        plan[target.parent / rel] = (source.parent / rel).read_bytes()
    return plan
