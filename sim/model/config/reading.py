"""Reading scenario and sweep files: bounded regular files and safe YAML."""

from __future__ import annotations

import math
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from sim.model.config.errors import (
    ScenarioError,
    _escape,
    _kind,
    _short,
    _show_path,
    check_path_text,
)

#: Scenario and sweep files are small; anything larger is a mistake or hostile (issue 11).
MAX_YAML_BYTES = 1 << 20
#: Map files: a 4000 x 4000 raster with line ends and a few comment lines.
MAX_MAP_BYTES = 17 << 20
MAX_MAP_CELLS = 4000
#: Values in one YAML document after aliases are expanded (a 1 MiB file without aliases
#: holds fewer); bounds "billion laughs" documents before anything walks them.
MAX_YAML_VALUES = 250_000

_EXP_NUMBER_TAG = "tag:jiefang,2026:exponent-number"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses duplicate keys (a silent last-one-wins is a user trap),
    refuses keys that are lists or mappings, keeps the standard ``<<`` merge key, and reads
    ``1e5`` as a number (YAML 1.1 makes it a string)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:  # merged keys may be overridden: not duplicates
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain name, not a list or a mapping",
                key_node.start_mark,
            )  # fmt: skip
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {_short(key)}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _construct_exponent_number(loader: _UniqueKeyLoader, node: yaml.ScalarNode):
    """``1e5`` -> 100000 (whole, exactly representable) and ``2.5e-3`` -> 0.0025."""
    value = float(loader.construct_scalar(node).replace("_", ""))
    if math.isfinite(value) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_UniqueKeyLoader.add_constructor(_EXP_NUMBER_TAG, _construct_exponent_number)
_EXP_NUMBER = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
# add_implicit_resolver appends (after YAML 1.1's float rule); ours must come first, in this
# class's own copy of the table.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "-+.0123456789":
    _UniqueKeyLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, (_EXP_NUMBER_TAG, _EXP_NUMBER)
    )


class _TooBig(Exception):
    pass


def _expanded_size(root: yaml.Node) -> int:
    """Values in the document once every alias is expanded, without expanding any.

    Aliases share their node, so the document is a graph; sizes are summed over it once.
    Raises _TooBig over MAX_YAML_VALUES, ValueError for a node that contains itself.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
            else node.value if isinstance(node, yaml.SequenceNode) else []
        )  # fmt: skip
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_YAML_VALUES:
                raise _TooBig
            continue
        if key in size:
            continue
        if key in on_path:
            raise ValueError("an alias refers to a value that contains it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return size[id(root)]


def _parse_yaml(text: str) -> Any:
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)  # fmt: skip


def read_regular_file(path: Path, limit: int, where: str | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or one clear error.

    Devices, FIFOs and sockets are refused before they are opened (``/dev/zero`` would be
    read until memory runs out, a FIFO would block for good); the open itself does not
    block and the type is checked again on the open file.
    """
    where = where or _show_path(path)
    check_path_text(str(path), where)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular(info.st_mode)
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _NotRegular(info.st_mode)
            if info.st_size > limit:
                raise _Oversize(info.st_size)
            data = b""
            while len(data) <= limit:
                chunk = os.read(fd, limit + 1 - len(data))
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ScenarioError(f"{where}: file not found") from None
    except NotADirectoryError:
        raise ScenarioError(f"{where}: file not found (a folder on the path is a file)") from None
    except PermissionError:
        raise ScenarioError(f"{where}: cannot read (permission denied)") from None
    except _NotRegular as err:
        kind = next((name for test, name in _FILE_KINDS if test(err.mode)), "not a regular file")
        # The same reader serves YAML, map, replay and candidate files: name no format here.
        if stat.S_ISDIR(err.mode):
            raise ScenarioError(f"{where}: is {kind}, expected a file") from None
        raise ScenarioError(
            f"{where}: is {kind}, expected a regular file (only regular files are read)"
        ) from None
    except _Oversize as err:
        raise ScenarioError(
            f"{where}: file is {err.size:,} bytes; at most {limit:,} are read"
        ) from None
    except OSError as err:
        raise ScenarioError(f"{where}: cannot read ({err.strerror or 'error'})") from None
    if len(data) > limit:
        raise ScenarioError(f"{where}: file is larger than {limit:,} bytes; at most that is read")
    return data


class _NotRegular(Exception):
    def __init__(self, mode: int):
        self.mode = mode


class _Oversize(Exception):
    def __init__(self, size: int):
        self.size = size


def read_yaml_mapping(path: Path, where: str | None = None, *, own: bool = True) -> dict:
    """Read a YAML file that must hold a mapping; errors become :class:`ScenarioError`.

    ``own``: the file is the one the user named. Problems in any other file (a scenario's
    ``extends`` chain, a sweep's base) are reported by line and column only, since that
    file's text may be anything the user can name (``/etc/shadow``).
    """
    where = where or _show_path(path)
    data = read_regular_file(path, MAX_YAML_BYTES, where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{where}: not a UTF-8 text file") from None
    try:
        doc = _parse_yaml(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = _escape(str(err.problem), 160) if own and err.problem else ""
        detail = f": {problem}" if problem else ""
        raise ScenarioError(f"{where}: {at}invalid YAML{detail}") from None
    except yaml.YAMLError:
        raise ScenarioError(f"{where}: invalid YAML") from None
    except RecursionError:
        raise ScenarioError(f"{where}: invalid YAML: nested too deeply") from None
    except _TooBig:
        raise ScenarioError(
            f"{where}: the document expands to more than {MAX_YAML_VALUES:,} values "
            "(aliases repeated inside aliases?); scenario and sweep files are far smaller"
        ) from None
    except ValueError as err:  # the recursive alias
        raise ScenarioError(f"{where}: invalid YAML: {err}") from None
    if doc is None:
        raise ScenarioError(f"{where}: file is empty, expected a mapping of scenario keys")
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: expected a mapping of keys at the top, got {_kind(doc)}")
    return doc
