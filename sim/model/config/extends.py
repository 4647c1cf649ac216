"""A scenario file with its ``extends`` chain merged in, and the file each key came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.model.config.errors import ScenarioError, _kind, _show_path, check_path_text
from sim.model.config.messages import Origins
from sim.model.config.raw import PATH_KEYS, deep_merge
from sim.model.config.reading import read_yaml_mapping
from sim.model.config.shipped import locate


def resolve_extends(path: Path) -> dict[str, Any]:
    """The raw mapping of a scenario with its ``extends`` chain merged in (base first)."""
    return resolve_origins(path)[0]


def resolve_origins(
    path: Path, where: str | None = None, _chain: tuple[Path, ...] = (), *, own: bool = True
) -> tuple[dict[str, Any], Origins]:
    """:func:`resolve_extends`, and the file each key path was read from."""
    where = where or _show_path(path)
    check_path_text(str(path), where, echo=own)
    try:
        path = path.resolve() if path.exists() else path
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ScenarioError(
            f"{where}: cannot read ({getattr(err, 'strerror', None) or 'symlink loop'})"
        ) from None
    if path in _chain:
        raise ScenarioError(
            f"{where}: extends: cycle (the chain of {len(_chain)} file(s) returns to "
            f"{_show_path(_chain[0]) if path == _chain[0] else 'a file in it'})"
        )
    raw = read_yaml_mapping(path, where, own=own)
    parent = raw.pop("extends", None)
    raw = _anchor_paths(raw, path.parent, where, own=own)
    origins: Origins = {}
    _mark_origins(raw, (), str(path), origins)
    if parent is None:
        return raw, origins
    if not isinstance(parent, str):
        raise ScenarioError(f"{where}: extends: expected a file path, got {_kind(parent)}")
    check_path_text(parent, f"{where}: extends", echo=own)
    # A path read from another file is not shown either: it is that file's text.
    shown = _show_path(parent) if own else "(the file it names)"
    try:  # a file beside this one, or a shipped scenario by name (`extends: demo`)
        parent_path = locate(parent, path.parent, echo=own)
    except ScenarioError as err:
        raise ScenarioError(f"{where}: extends: {err}") from None
    base, base_origins = resolve_origins(
        parent_path, f"{where}: extends: {shown}", (*_chain, path), own=False
    )
    return deep_merge(base, raw), {**base_origins, **origins}


def _mark_origins(node: Any, prefix: tuple, label: str, out: Origins) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            out[(*prefix, key)] = label
            _mark_origins(value, (*prefix, key), label, out)


def _anchor_paths(raw: dict, folder: Path, where: str = "", *, own: bool = True) -> dict:
    """File paths inside a scenario are relative to the file that names them."""
    for section_name, key in PATH_KEYS:
        section = raw.get(section_name)
        if not (isinstance(section, dict) and isinstance(section.get(key), str)):
            continue
        check_path_text(section[key], f"{where}: {section_name}.{key}", echo=own)
        section = dict(section)
        try:
            section[key] = str((folder / section[key]).resolve())
        except (OSError, RuntimeError):
            raise ScenarioError(f"{where}: {section_name}.{key}: cannot resolve the path") from None
        raw = {**raw, section_name: section}
    return raw
