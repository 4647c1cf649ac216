"""Run folders: safe names, which command may replace a folder, and a folder written whole
into a staging folder beside it and swapped in at the end (:class:`RunFolder`), so a folder
is always either the previous complete run or the new one."""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

from sim.experiment.locks import FolderLock
from sim.experiment.results import made_by
from sim.files import (  # re-exported: the names sim.experiment.store always had
    OutputError,
    _kind,
    _umask,
    ensure_folder,
    exchange,
    fault_point,
    fsync_folder,
    probe_writable,
)

# ---------------------------------------------------------------- names, locks, run folders
_UNSAFE = re.compile(r"[^\w.-]+")


MAX_NAME = 80


def safe_name(name: str) -> str:
    """A folder name made from a scenario or sweep name: letters, digits, ``- _ .`` only, no
    leading dot, at most 80 characters, so a name can never point outside ``results/``
    (``/abs/path``, ``../../x``). The manifest keeps the name as written."""
    slug = _UNSAFE.sub("-", name).lstrip(".-")
    return slug[:MAX_NAME].rstrip(".-") or "unnamed"


def check_made_by(out: Path, command: str, replace: bool = True) -> None:
    """A results folder is replaced only by the command that wrote it (a run by a run, a
    sweep by a sweep, an optimisation by an optimisation): OutputError naming the folder and
    what wrote it otherwise, and for any earlier results when ``replace`` is False."""
    if not os.path.lexists(Path(out) / "manifest.json"):
        return

    kind = made_by(Path(out))
    if kind == "unknown":
        raise OutputError(
            f"{out}: holds a manifest.json that no jiefang command wrote (or a damaged one); "
            f"`jiefang {command}` does not replace it: choose a new folder"
        )
    if kind != command:
        raise OutputError(
            f"{out}: is a `jiefang {kind}` results folder; `jiefang {command}` replaces only "
            f"its own: choose a new folder"
        )
    if not replace:
        raise OutputError(
            f"{out}: holds the results of an earlier `jiefang {command}`; add --force to "
            "replace them, or choose a new folder"
        )


class RunFolder:
    """Write a run folder as a whole: files go into a staging folder beside ``out``, which
    replaces ``out`` in one atomic swap on success (the old run is then removed). A kill at
    any moment leaves ``out`` as the previous complete run or the new complete run, and at
    most a hidden ``.NAME.new-*`` or ``.NAME.old-*`` folder beside it, removed by the next run
    into ``out``. Entering checks, locks and probes the target, so an unwritable ``--out`` is
    found before anything is simulated.

    Usage::

        with RunFolder(out) as staging:
            write_parquet(table, staging / "incidents.parquet")
    """

    def __init__(self, out: Path, made_by: str = "run", replace: bool = True) -> None:
        """Args:
        out: the results folder.
        made_by: the command writing it; a folder another command wrote is refused.
        replace: False: a folder this command wrote earlier is refused too (``optimize``
            without ``--force``).
        """
        self.out = Path(os.path.abspath(out))
        self.made_by, self.replace = made_by, replace
        self.lock = FolderLock(self.out.parent / f".{self.out.name}.lock", str(out))
        self.staging: Path | None = None

    def _check_target(self) -> None:
        if self.out.name in ("", ".", "..") or self.out == self.out.parent:
            raise OutputError(f"{self.out}: not a usable run folder; give a folder name")
        if Path.cwd() == self.out or Path.cwd().is_relative_to(self.out):
            # `--out ""` or `--out .`: the folder is replaced whole, never the one we are in.
            raise OutputError(f"{self.out}: is the current folder; give a new folder name")
        try:
            st = os.lstat(self.out)
        except FileNotFoundError:
            return
        except OSError as err:
            raise OutputError(f"{self.out}: cannot use as output ({err.strerror})") from None
        if not stat.S_ISDIR(st.st_mode):
            raise OutputError(
                f"{self.out}: exists and is {_kind(st.st_mode)}, not a run folder; cannot write "
                "results there"
            )
        entries = [e for e in os.listdir(self.out) if not e.startswith(".")]
        if entries and "manifest.json" not in entries:
            # The whole folder is replaced: never take a folder holding other things with it.
            raise OutputError(
                f"{self.out}: exists and is not a `jiefang {self.made_by}` results folder (no "
                "manifest.json); choose a new or empty folder"
            )
        check_made_by(self.out, self.made_by, self.replace)

    def __enter__(self) -> Path:
        parent = ensure_folder(self.out.parent)
        self._check_target()
        self.lock.__enter__()
        try:
            self._clear_leftovers()
            probe_writable(parent)
            self.staging = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.new-", dir=parent))
        except OSError as err:
            self.lock.__exit__()
            if isinstance(err, OutputError):
                raise
            raise OutputError(f"{parent}: cannot write results here ({err.strerror})") from None
        return self.staging

    def _clear_leftovers(self) -> None:
        """Staging and old folders of an earlier run into ``out`` that was killed (we hold
        the lock, so nobody is writing them)."""
        for pattern in (f".{self.out.name}.new-*", f".{self.out.name}.old-*"):
            for path in self.out.parent.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._commit()
            else:
                shutil.rmtree(self._staged(), ignore_errors=True)
        finally:
            self.lock.__exit__()

    def _staged(self) -> Path:
        if self.staging is None:  # only if __exit__ is called without __enter__
            raise OutputError(f"{self.out}: the run folder was never opened")
        return self.staging

    def _commit(self) -> None:
        made = staging = self._staged()
        try:
            os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes 0700
            fsync_folder(staging)
            fault_point("staged")
            self._check_target()  # nothing else may have appeared there meanwhile
            if os.path.lexists(self.out):
                if not exchange(staging, self.out):
                    # No atomic swap here: two renames, with a moment where out is absent.
                    old = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.old-",
                                                dir=self.out.parent))  # fmt: skip
                    os.replace(self.out, old)
                    os.replace(staging, self.out)
                    staging = old
                fault_point("swapped")
                fsync_folder(self.out.parent)
                shutil.rmtree(staging, ignore_errors=True)
            else:
                os.rename(staging, self.out)
                fsync_folder(self.out.parent)
            fault_point("committed")
        except OutputError:
            shutil.rmtree(made, ignore_errors=True)
            raise
        except OSError as err:
            shutil.rmtree(made, ignore_errors=True)
            raise OutputError(f"{self.out}: cannot write ({err.strerror})") from None
