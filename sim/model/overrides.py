"""``--set dotted.key=value``: one value of a scenario changed from the command line.

A value is read as YAML by the scenario files' own safe, bounded loader (``12`` an integer,
``0.5`` a number, ``true``, ``null``, ``[1, 2]``), set on the scenario's mapping after its
``extends:`` chain is merged, and checked with the rest of the file, so a wrong value gets
the message the file would get, naming ``--set KEY``. A key the schema does not have is
refused first, naming the keys that are there.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from sim.model.catalogue import name_of
from sim.model.config.errors import ScenarioError, _escape, check_path_text
from sim.model.config.messages import SET_ORIGIN, Origins
from sim.model.config.raw import PATH_KEYS, deep_merge, set_path
from sim.model.config.reading import _parse_yaml
from sim.model.config.scenario import Scenario

#: Longest ``KEY=VALUE`` read from the command line (a profile of 24 numbers fits).
MAX_SET_CHARS = 2000
EXAMPLE = "police.units=12"


def parse_set(text: str) -> tuple[str, Any]:
    """``"police.units=12"`` -> ``("police.units", 12)``; the key checked against the schema."""
    if len(text) > MAX_SET_CHARS:
        raise ScenarioError(f"--set: at most {MAX_SET_CHARS:,} characters, got {len(text):,}")
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep:
        raise ScenarioError(
            f"--set {_escape(text, 60)}: expected KEY=VALUE (e.g. --set {EXAMPLE}), no '=' given"
        )
    check_key(key)
    try:
        parsed = _parse_yaml(value) if value.strip() else None
    except Exception:  # the loader's own errors: any is one bad value
        raise ScenarioError(
            f"--set {key}: the value is not a YAML scalar or flow value "
            f"(got {_escape(value, 60)!r}; e.g. 12, 0.5, true, null, [1, 2])"
        ) from None
    return key, parsed


def parse_sets(texts: Sequence[str] | None) -> list[tuple[str, Any]]:
    return [parse_set(t) for t in texts or ()]


def check_key(key: str) -> None:
    """Refuse a key path the scenario schema does not have, naming the keys it does."""
    if not key:
        raise ScenarioError(f"--set: expected KEY=VALUE (e.g. --set {EXAMPLE}), the key is empty")
    node: Any = Scenario
    done: list[str] = []
    for part in key.split("."):
        fields = _fields(node)
        where = f"--set {_escape(key, 80)}"
        if fields is None:
            if _is_mapping(node):  # a mapping of the user's names (incident kinds, fleets)
                node = typing.get_args(_strip(node))[1]
                done.append(part)
                continue
            raise ScenarioError(
                f"{where}: {'.'.join(done)} holds a value, not keys; set {'.'.join(done)} itself"
            )
        if part not in fields:
            inside = f"{'.'.join(done)}" if done else "the scenario"
            raise ScenarioError(
                f"{where}: unknown key {_escape(part, 40)!r}; the keys of {inside} are: "
                f"{', '.join(sorted(fields))}"
            )
        node = fields[part]
        done.append(part)


def _strip(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, type(int | None)) and len(args) == 1:
        return args[0]
    return annotation


def _fields(annotation: Any) -> dict[str, Any] | None:
    """Key -> annotation of a section (a model, or a union of models: a distribution)."""
    annotation = _strip(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    members = typing.get_args(annotation) if _is_union(annotation) else (annotation,)
    models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
    if not models:
        return None
    return {name: f.annotation for m in models for name, f in m.model_fields.items()}


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, type(int | None))


def _is_mapping(annotation: Any) -> bool:
    return typing.get_origin(_strip(annotation)) is dict


def apply_overrides(raw: dict, origins: Origins, overrides: Sequence[tuple[str, Any]]) -> None:
    """Set each value on the merged mapping ``raw``; its key paths are then the command
    line's (errors name ``--set KEY`` and may echo the value: the user typed it). A file
    path (``--set incidents.replay=log.csv``) is relative to the working folder, as
    ``--incidents`` is."""
    for key, value in overrides:
        check_key(key)
        if tuple(key.split(".")) in PATH_KEYS and isinstance(value, str):
            check_path_text(value, f"--set {key}")
            value = str(Path(value).resolve())
        set_path(raw, key, value)
        path = tuple(key.split("."))
        for stale in [k for k in origins if k[: len(path)] == path]:
            del origins[stale]
        origins[path] = SET_ORIGIN


def nested(overrides: Sequence[tuple[str, Any]]) -> dict:
    """The overrides as one nested mapping (``{"police": {"units": 12}}``), later ones last."""
    out: dict = {}
    for key, value in overrides:
        set_path(out, key, value)
    return out


def recorded(overrides: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """The overrides as the manifest records them: dotted key -> value, in order."""
    return dict(overrides)


def optimised_text(text: str, overrides: Sequence[tuple[str, Any]], source: Path) -> str:
    """``optimised.yaml`` as ``jiefang optimize`` writes it (``text``: it extends ``source``),
    extending a shipped scenario by its name and carrying the ``--set`` values, so that it
    runs the scenario that was planned on. The plan's own values win over ``--set`` ones:
    they were computed from the overridden scenario."""
    name = name_of(source)
    if name is not None:
        text = re.sub(r"^extends: .*$", f"extends: {name}", text, count=1, flags=re.M)
    if not overrides:
        return text
    doc = _parse_yaml(text)
    parent = doc.pop("extends")
    merged = {"extends": parent, **deep_merge(nested(overrides), doc)}
    head = [line for line in text.splitlines() if line.startswith("#")]
    shown = " ".join(f"--set {k}={json.dumps(v)}" for k, v in overrides)
    head.append(f"# With {shown}.")
    body = yaml.safe_dump(merged, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(head) + "\n" + body
