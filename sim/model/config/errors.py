"""The one error of a bad scenario or sweep file, and the rules for quoting its text.

Every user mistake becomes one :class:`ScenarioError` whose message names the file, the key
path and what was expected; nothing here echoes more than a short escaped fragment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: Longest path the kernel accepts (PATH_MAX) and longest path component (NAME_MAX).
MAX_PATH_BYTES, MAX_NAME_BYTES = 4095, 255
#: At most this many problems are listed in one message; the rest are counted.
MAX_PROBLEMS = 20


#: Why a scenario naming a file cannot be checked without the loader (the model reads no file).
NOT_READ = (
    "this file is read by the scenario loader: build scenarios with load_scenario "
    "(sim.geo.scenario), or import it before changing them"
)


class ScenarioError(ValueError):
    """A scenario or sweep file is not valid. The message is meant for the user as is."""


def _show(value: Any, limit: int = 60) -> str:
    """A short escaped fragment of a value: never more than ``limit`` characters, no control
    characters, so a message can neither flood a terminal nor steer it."""
    return _short(value, limit)


def _show_path(text: str | Path) -> str:
    text = str(text)
    return text if len(text) <= 200 and text.isprintable() else _short(text, 80)


def check_path_text(text: str, where: str, *, echo: bool = True) -> None:
    """A file path named in a file: something the OS can open, or one clear error.

    ``echo=False``: the path was read from a file whose text is never shown.
    """
    got = f" (got {_short(text)})" if echo else ""
    if not text:
        raise ScenarioError(f"{where}: expected a file path, got an empty string")
    if "\x00" in text:
        raise ScenarioError(f"{where}: a file path cannot contain a NUL byte{got}")
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_PATH_BYTES:
        raise ScenarioError(
            f"{where}: file path is {len(raw):,} bytes long; at most {MAX_PATH_BYTES}{got}"
        )
    if any(len(part) > MAX_NAME_BYTES for part in raw.split(b"/")):
        raise ScenarioError(
            f"{where}: a file or folder name in the path is longer than {MAX_NAME_BYTES} bytes{got}"
        )


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )


def _escape(text: str, limit: int) -> str:
    """Text with control and format characters escaped, cut to ``limit`` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters. repr escapes control and format characters, so
    no fragment can carry a terminal escape sequence or a line break."""
    if isinstance(value, str):
        text = repr(value[: limit + 1])
    elif isinstance(value, list | dict | tuple) and len(value) > limit:
        text = f"{type(value).__name__} of {len(value):,} values"
    else:
        try:
            text = repr(value)
        except (RecursionError, ValueError):
            text = type(value).__name__
        text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."
