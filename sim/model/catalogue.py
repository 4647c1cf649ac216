"""The scenarios shipped with the package: found by name, described, copied.

The repository keeps them once, in its top-level ``scenarios/`` folder, which installs as
the data package ``sim.scenarios`` (pyproject.toml maps it); they are read through
:mod:`importlib.resources`, so an installed wheel and an editable install see the same
files. A *name* is a shipped file's stem (``demo``, ``guangzhou-2023-subdistrict``); a
scenario argument, an ``extends:`` and a sweep's ``base:`` take a file or a name. A file of
that exact text wins over a name, so a name never hides a file the user has.
"""

from __future__ import annotations

import re
from pathlib import Path

from sim.model.config.raw import PATH_KEYS
from sim.model.config.reading import read_yaml_mapping
from sim.model.config.scenario import Scenario
from sim.model.config.shipped import (
    FOLDERS,
    NAME,
    PACKAGE,
    Kind,
    choices,
    find,
    is_name,
    locate,
    name_of,
    shipped,
    shipped_folder,
)

__all__ = [
    "FOLDERS", "NAME", "PACKAGE", "Kind", "choices", "copy_plan", "copy_text", "description",
    "facts", "find", "is_name", "locate", "name_of", "shipped", "shipped_folder",
]  # fmt: skip


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
