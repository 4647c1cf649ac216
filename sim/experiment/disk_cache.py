"""Cities and layout parts kept on disk between processes, by the hash of what built them.

Building the city of a city-scale scenario and its volunteers' homes costs about 0.45 s CPU,
as much as half a day's event loop, and every ``jiefang run`` of the same scenario and seed
builds the same ones. :mod:`sim.model.city_cache` keeps them within a process; this module
keeps them across processes: each is pickled to a file named by the SHA-256 of

- what it is built from (:func:`sim.model.city_cache.city_key`, the contents of the files'
  arrays, and for a part its name and settings), and
- what builds it: the source of every module of ``sim.model`` and the versions of Python,
  numpy and SciPy (:func:`fingerprint`), so a change of the code or of a library that could
  change a city is another file, never a stale one.

A file is read back only if it unpickles to the type that was stored; anything else (a file
cut short, another version's) is built again and written over. Files are written whole or
not at all (:mod:`sim.files`) and the least recently used go beyond :data:`MAX_FILES`.

Where: only in the folder ``$JIEFANG_CACHE_DIR`` names, when it names one; unset (or ``off``,
``0``, ``no``, ``false``, empty) nothing is kept on disk, so a run writes nothing outside its
output folder unless asked. The files are the user's own: pickles are read only from the
folder the user chose. The model does no file I/O: this module is handed to
:func:`sim.model.city_cache.use_disk` by the experiment layer (:func:`install`, at the import
of :mod:`sim.experiment.runner`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from sim.files import atomic_write_bytes
from sim.model import city_cache

#: Files kept (a city-scale city is about 4 MB, its volunteers' homes about 21 MB: four layouts,
#: about 100 MB).
MAX_FILES = 8
#: Bumped when what a file holds changes in a way the sources' hash would not see.
FORMAT = 1
_OFF = ("", "0", "off", "no", "false")


def folder() -> Path | None:
    """The cache folder, or None when the cache is off (``JIEFANG_CACHE_DIR`` unset or off)."""
    wanted = os.environ.get("JIEFANG_CACHE_DIR", "")
    return None if wanted.strip().lower() in _OFF else Path(wanted)


def enabled() -> bool:
    """Whether anything is kept on disk (a folder is set)."""
    return folder() is not None


def install() -> None:
    """Cities and layout parts of this process's runs kept here too (when a folder is set)."""
    city_cache.use_disk(sys.modules[__name__])


@functools.cache
def fingerprint() -> str:
    """The SHA-256 of what builds a city: every module of sim.model, Python, numpy, SciPy."""
    digest = hashlib.sha256(f"{FORMAT} {sys.version} {np.__version__} {scipy.__version__}".encode())
    root = Path(city_cache.__file__).resolve().parent  # sim/model
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _path(key: str) -> Path | None:
    base = folder()
    return None if base is None else base / f"{hashlib.sha256(key.encode()).hexdigest()}.pickle"


def load(key: str, kind: type) -> Any | None:
    """What was stored under ``key``, if it is there and a ``kind``; else None."""
    path = _path(key + fingerprint())
    if path is None:
        return None
    try:
        with path.open("rb") as f:
            value = pickle.load(f)
        os.utime(path)  # least recently used goes first
    except Exception:  # absent, cut short, another version's: build it again
        return None
    return value if isinstance(value, kind) else None


def store(key: str, value: Any) -> None:
    """Keep ``value`` under ``key``; nothing if the cache is off, the value cannot be
    pickled or the folder cannot be written (the cache is never a reason to fail)."""
    path = _path(key + fingerprint())
    if path is None:
        return
    try:
        data = pickle.dumps(value, protocol=5)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data, durable=False)  # a file cut short is built again
        _evict(path.parent)
    except Exception:  # unpicklable, read-only or full disk: not kept
        return


def _evict(base: Path) -> None:
    """Remove the least recently used files beyond MAX_FILES."""
    files = sorted(base.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[MAX_FILES:]:
        old.unlink(missing_ok=True)
