"""Validation errors as messages: one line per problem, naming the file and the key path,
never echoing text read from a file other than the user's own."""

from __future__ import annotations

import functools
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from sim.model.config.errors import MAX_PROBLEMS, _escape, _short, _show_path
from sim.model.config.sections import LandUseName

#: key path (tuple of keys) -> file its value was read from (see :func:`resolve_origins`).
Origins = dict[tuple, str]
#: The origin of a value given on the command line (``--set KEY=VALUE``).
SET_ORIGIN = "--set"


@functools.cache
def _schema_names(schema: type[BaseModel]) -> frozenset[str]:
    """Every key ``schema`` (the scenario) knows, and the land uses: safe to print from any
    file."""
    names: set[str] = set(typing.get_args(LandUseName))
    todo: list[Any] = [schema]
    seen: set[Any] = set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        if isinstance(item, type) and issubclass(item, BaseModel):
            for name, field in item.model_fields.items():
                names.update(n for n in (name, field.alias) if n)
                todo.append(field.annotation)
        else:
            todo.extend(typing.get_args(item))
    return frozenset(names)


def _key_text(key: Any) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    text = str(key) if isinstance(key, str) else repr(key)
    return text if len(text) <= 60 and text.isprintable() and " " not in text else _short(text)


def _render_loc(
    loc: tuple, own: str, origins: Origins | None, default: str | None,
    schema: type[BaseModel] | None = None,
):  # fmt: skip
    """The key path as text, and the file its value came from when that is not ``own``.

    Keys read from another file are printed only when they are the schema's own names.
    """
    names = _schema_names(schema) if schema is not None and origins is not None else frozenset()
    parts, origin = [], None if origins is None else default
    for i, part in enumerate(loc):
        if origins is not None and loc[: i + 1] in origins:
            origin = origins[loc[: i + 1]]
        mine = origin is None or origin in (own, SET_ORIGIN)
        if mine or (isinstance(part, str) and part in names):
            parts.append(_key_text(part))
        elif (
            isinstance(part, int)
            and not isinstance(part, bool)
            and loc[: i + 1] not in (origins or {})
        ):
            parts.append(str(part))  # a list index
        else:
            parts.append("<a key>")
    text = ".".join(parts) or "(top level)"
    return text, None if origin is None or origin == own else origin


def format_validation_error(
    source: str, err: ValidationError, origins: Origins | None = None,
    default_origin: str | None = None, own: str | None = None,
    schema: type[BaseModel] | None = None,
) -> str:  # fmt: skip
    """One line per problem: ``{source}: {key.path}: {what was expected}``.

    ``origins`` maps key paths to the file each value came from (``default_origin`` for the
    rest); a value from a file other than ``own`` (default: ``source``) is never echoed,
    nor its keys.
    """
    own = source if own is None else own
    lines = []
    seen = set()
    for e in err.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if not _is_union_tag(p) and p != "[key]")
        text, origin = _render_loc(loc, own, origins, default_origin, schema)
        msg = e["msg"]
        located = _KEY_PREFIX.match(msg.removeprefix("Value error, "))
        if located:  # a check over a whole section that names the key it is about
            key = located.group(1)  # the schema's own key path, from our own validators
            text = key if text == "(top level)" else f"{text}.{key}"
            msg = located.group(2)
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/model.md for the keys)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "union_tag_invalid" and origin is not None:  # it quotes the tag
            msg = f"unknown `dist` (expected one of {e.get('ctx', {}).get('expected_tags')})"
        msg = _escape(msg.removeprefix("Value error, "), 300)
        quiet = e["type"] in ("missing", "extra_forbidden") or isinstance(e["input"], dict)
        if origin == SET_ORIGIN:  # the user's own --set value: named as such, echoed
            text, origin = f"--set {text}", None
        if origin is not None:
            got = f" (from {_show_path(origin)}, whose text is not shown)"
        else:
            got = "" if quiet else f" (got {_short(e['input'])})"
        line = f"{source}: {text}: {msg}{got}"
        if line in seen:  # one message per key: alternatives of a union repeat the key
            continue
        seen.add(line)
        lines.append(line)
    if len(lines) > MAX_PROBLEMS:
        lines = [*lines[:MAX_PROBLEMS], f"{source}: ... and {len(lines) - MAX_PROBLEMS} more"]
    return "\n".join(lines)


_KEY_PREFIX = re.compile(r"^([a-z_]+(?:\.[a-z0-9_]+)*): (.*)$", re.S)


def _is_union_tag(part: Any) -> bool:
    """Parts of pydantic's error locations that name a union member, not a key."""
    text = str(part)
    return part in ("fixed", "exponential", "lognormal", "uniform", "Span") or (
        "[" in text and text.endswith("]")
    )
