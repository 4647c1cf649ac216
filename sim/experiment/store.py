"""Result files, the run manifest, sweep stores and run folders.

Every file is written whole or not at all (:mod:`sim.files`). A run folder is written whole into a
staging folder beside it and swapped in at the end (:class:`RunFolder`), so a folder is
always either the previous complete run or the new one. Nothing replaces an existing path
that is not a regular file (a device, FIFO, socket or symbolic link).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import math
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from sim.files import (  # re-exported: the names sim.experiment.store always had
    OutputError,
    _kind,
    _make_folder,
    _umask,
    _write_unsynced,
    atomic_write_bytes,
    check_replaceable,
    ensure_folder,
    exchange,
    fault_point,
    fsync_folder,
    probe_writable,
    sha256,
    sync_file_system,
)
from sim.model.plugins import provenance


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def record_bytes(record: pd.DataFrame) -> bytes:
    """A one-row run record as a sweep store keeps it: Parquet with page checksums, so
    damage is found on resume."""
    buf = io.BytesIO()
    record.to_parquet(buf, index=False, engine="pyarrow", compression="zstd",
                      write_page_checksum=True)  # fmt: skip
    return buf.getvalue()


def stored_run(
    record: dict[str, Any], incidents: pd.DataFrame | None
) -> tuple[dict[str, Any], bytes, bytes | None]:
    """(the record with its incidents' SHA-256, the record's bytes, the incidents' bytes):
    the files a sweep store keeps for one run. Workers make them, so that the driver only
    writes bytes (:meth:`SweepStore.put`)."""
    record = dict(record)
    data = None
    if incidents is not None:
        data = parquet_bytes(incidents)
        record["incidents_sha256"] = hashlib.sha256(data).hexdigest()
    return record, record_bytes(pd.DataFrame([record])), data


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, parquet_bytes(df))


def write_json(obj: Any, path: Path) -> None:
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Every CSV jiefang writes, with text cells made safe to open in a spreadsheet."""
    data = formula_safe(df).to_csv(index=False, float_format="%.6g")
    atomic_write_bytes(path, data.encode("utf-8"))


#: What makes a spreadsheet read a cell as a formula (OWASP's list): a kind named
#: ``=HYPERLINK(...)`` would be a live link in summary.csv.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each text cell that starts like a formula prefixed by ``'`` (which a
    spreadsheet shows as text and hides); numbers, and text that is a number (``-1.5``),
    are left alone. Parquet and JSON outputs keep names as they are."""

    def safe(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(FORMULA_STARTS):
            try:
                float(value)
            except ValueError:
                return "'" + value
        return value

    text = [c for c in df.columns
            if df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype)]  # fmt: skip
    if not text:
        return df
    out = df.copy(deep=False)
    for c in text:
        out[c] = df[c].map(safe)
    return out


def _json_safe(obj: Any) -> Any:
    """JSON has no inf or NaN: both become null (the docs say what null means where)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _json_safe(obj.item())
    return obj


def git_commit() -> str | None:
    """Commit of the source tree the package runs from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5, check=False,
    ).stdout.strip()  # fmt: skip
    return commit + ("-dirty" if dirty else "")


def environment() -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for pkg in ("jiefang", "mesa", "numpy", "scipy", "pandas", "pyarrow", "pydantic"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": git_commit(),
    }


def manifest(scenario, seed: int, replications: int, files: dict[str, Path], **extra) -> dict:
    return {
        "scenario": scenario.model_dump(mode="json"),
        "seed": seed,
        "replications": replications,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": environment(),
        "plugins": provenance(scenario),
        "files": {name: {"path": p.name, "sha256": sha256(p)} for name, p in files.items()},
        **extra,
    }


class SweepStore:
    """Resumable sweep output, content-addressed by run key.

    Layout under ``root``::

        incidents/key=<key>/part.parquet   per-incident records of one run (hive-partitioned)
        runs/<key>.parquet                 one-row run record; written last, it marks the run done
        runs.parquet, points.parquet, paired.parquet, marginal.parquet, manifest.json
                                           rebuilt at the end
        unused/                            runs of keys the current sweep does not have
        quarantine/                        damaged files found on resume, moved out of the way

    A run counts as finished only when its run record reads back (its pages carry
    checksums) and its incidents match the SHA-256 the record holds, and every file is
    written atomically, so a sweep killed at any moment keeps every finished run and leaves no
    partial file under a name a reader trusts (files being written start with '.', which
    Parquet dataset readers skip). At the end of each sweep the dataset under ``incidents/``
    holds exactly the current sweep's runs, labelled with the current point ids.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.incidents_dir = self.root / "incidents"
        self.unused_dir = self.root / "unused"
        self.quarantine_dir = self.root / "quarantine"
        self.unsynced = 0  # runs put since the last sync
        self._runs_dir_made = False

    def record_path(self, key: str, base: Path | None = None) -> Path:
        return (base or self.root) / "runs" / f"{key}.parquet"

    def part_path(self, key: str, base: Path | None = None) -> Path:
        return (base or self.root) / "incidents" / f"key={key}" / "part.parquet"

    # ---------------------------------------------------------------- writing
    def save(self, key: str, record: dict, incidents: pd.DataFrame | None) -> None:
        """Store one run and make it durable at once (a sweep puts and syncs in batches)."""
        _, record_data, incidents_data = stored_run(record, incidents)
        self.put(key, record_data, incidents_data)
        self.sync()

    def put(self, key: str, record: bytes, incidents: bytes | None) -> None:
        """Store a finished run's files (:func:`stored_run`): the partition first, then the
        record, which marks the run done. Neither is flushed to disk here; :meth:`sync`
        flushes every run put so far in one call. A killed process loses nothing written
        (the kernel holds it); a machine crash before the sync may tear these files, which
        the checks on resume find (page checksums, the partition's SHA-256) and rerun."""
        if incidents is not None:
            part = self.part_path(key)
            _make_folder(part.parent)
            _write_unsynced(part, incidents)
        if not self._runs_dir_made:
            _make_folder(self.runs_dir)
            self._runs_dir_made = True
        _write_unsynced(self.record_path(key), record)
        self.unsynced += 1

    def sync(self) -> None:
        """Flush every run put so far to disk: one call for the batch instead of two fsyncs
        per run."""
        if self.unsynced:
            sync_file_system(self.root)
            self.unsynced = 0
            fault_point("synced")

    def _write_record(self, key: str, record: pd.DataFrame, base: Path | None = None) -> None:
        atomic_write_bytes(self.record_path(key, base), record_bytes(record))

    # ---------------------------------------------------------------- reading, checking
    def _read_record(self, path: Path) -> pd.DataFrame:
        import pyarrow.parquet as pq

        data = _read_regular_bytes(path)
        table = pq.read_table(io.BytesIO(data), page_checksum_verification=True)
        df = table.to_pandas()
        if len(df) != 1 or "status" not in df.columns or df["key"].iloc[0] != path.stem:
            raise ValueError("not a run record")
        return df

    def _damage(self, key: str, base: Path | None = None) -> str | None:
        """Why the stored run ``key`` (under ``base``) cannot be used, or None when it can."""
        record_path, part = self.record_path(key, base), self.part_path(key, base)
        try:
            record = self._read_record(record_path)
        except Exception:  # any failure to read back is damage
            return "run record unreadable"
        if record["status"].iloc[0] != "ok":
            return "failed run"
        digest = record["incidents_sha256"].iloc[0] if "incidents_sha256" in record else None
        try:
            data = _read_regular_bytes(part)
        except OSError:
            return "incidents missing"
        if isinstance(digest, str):
            if hashlib.sha256(data).hexdigest() != digest:
                return "incidents do not match the recorded SHA-256"
        else:  # stored before hashes were recorded: it must at least read back
            try:
                _check_parquet(data)
            except Exception:
                return "incidents unreadable"
        return None

    def finished(self, notice=None) -> set[str]:
        """Keys of runs recorded as successful whose files are whole. Damaged runs are moved
        to ``quarantine/`` (and reported through ``notice``) so that they run again."""
        if not self.runs_dir.is_dir():
            return set()
        done = set()
        for path in sorted(self.runs_dir.iterdir()):
            if path.name.startswith(".") or path.suffix != ".parquet":
                continue
            key = path.stem
            why = self._damage(key)
            if why is None:
                done.add(key)
            elif why != "failed run":
                moved = self.quarantine(key)
                if notice is not None:
                    notice(f"run {key} is damaged ({why}); moved {moved} file(s) to "
                           f"{self.quarantine_dir}/ and running it again")  # fmt: skip
        return done

    def quarantine(self, key: str) -> int:
        """Move the files of run ``key`` under ``quarantine/``; the number moved."""
        moved = 0
        for path in (self.record_path(key), self.part_path(key)):
            if os.path.lexists(path):
                _move_aside(path, self.quarantine_dir / path.relative_to(self.root))
                moved += 1
        _remove_empty(self.part_path(key).parent)
        return moved

    def revive(self, key: str) -> bool:
        """Bring back run ``key`` from ``unused/`` if it is there and whole."""
        base = self.unused_dir
        if not os.path.lexists(self.record_path(key, base)) or self._damage(key, base):
            return False
        self.part_path(key).parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.part_path(key, base), self.part_path(key))  # the record marks it done
        os.replace(self.record_path(key, base), self.record_path(key))
        _remove_empty(self.part_path(key, base).parent)
        return True

    def clean_temporaries(self) -> int:
        """Remove half-written files (``.NAME.XXXX.tmp``) of an interrupted sweep."""
        removed = 0
        for folder in (self.root, self.runs_dir, self.unused_dir / "runs",
                       *self._partition_dirs(self.incidents_dir),
                       *self._partition_dirs(self.unused_dir / "incidents")):  # fmt: skip
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                if path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file():
                    path.unlink()
                    removed += 1
        return removed

    @staticmethod
    def _partition_dirs(folder: Path) -> list[Path]:
        if not folder.is_dir():
            return []
        return [p for p in folder.iterdir() if p.name.startswith("key=") and p.is_dir()]

    def records(self, keys: list[str], fresh: dict[str, dict] | None = None) -> pd.DataFrame:
        """The run records of ``keys`` that exist, in that order: those in ``fresh`` (just
        stored, by key) as given, the others read back. The columns are those of
        concatenating every record in key order, so the tables do not depend on which
        runs were read back."""
        fresh = fresh or {}
        stored = [self._read_record(self.record_path(k)) for k in keys
                  if k not in fresh and self.record_path(k).exists()]  # fmt: skip
        new = [fresh[k] for k in keys if k in fresh]
        parts = ([pd.DataFrame(new)] if new else []) + stored
        if not parts:
            return pd.DataFrame()
        columns = {}  # ordered union, by key order
        by_key = {str(f["key"].iloc[0]): list(f.columns) for f in stored}
        for k in keys:
            cols = list(fresh[k]) if k in fresh else by_key.get(k, [])
            columns.update(dict.fromkeys(cols))
        table = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        order = {k: i for i, k in enumerate(keys)}
        table = table.iloc[table["key"].map(order).argsort(kind="stable")]
        return table[list(columns)].reset_index(drop=True)

    # ---------------------------------------------------------------- the dataset
    def publish(
        self, point_of: dict[str, int], done: set[str], labelled: set[str] | None = None
    ) -> None:
        """Make ``incidents/`` exactly the runs ``done`` of the current sweep, each labelled
        with its current point id (``point_of``): runs of other keys move to ``unused/``,
        partitions without a run record are removed. Runs in ``labelled`` (stored by this
        sweep, with these point ids) are not read back to check their label."""
        for folder in self._partition_dirs(self.incidents_dir):
            key = folder.name.removeprefix("key=")
            if key in done:
                continue
            if os.path.lexists(self.record_path(key)):
                self._retire(key)
            else:
                shutil.rmtree(folder, ignore_errors=True)
        for path in sorted(self.runs_dir.glob("*.parquet")) if self.runs_dir.is_dir() else []:
            if not path.name.startswith(".") and path.stem not in point_of:
                self._retire(path.stem)  # failed runs of keys this sweep does not have
        for key in sorted(done - (labelled or set())):
            self._relabel(key, point_of[key])

    def _relabel(self, key: str, want: int) -> None:
        """Give the stored partition of ``key`` the point id ``want`` if it has another."""
        import pyarrow as pa  # here: a sweep that reuses no run never needs them
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        part = self.part_path(key)
        table = pq.read_table(io.BytesIO(_read_regular_bytes(part)))
        i = table.schema.get_field_index("point_id")
        if i < 0 or not len(table) or pc.all(pc.equal(table.column(i), want)).as_py():
            return
        # Reused after the grid was reordered: relabel at the Arrow level, which writes
        # the same bytes a fresh run at this point would (pandas' round trip does not).
        field = table.schema.field(i)
        table = table.set_column(i, field, pa.array([want] * len(table), type=field.type))
        buf = io.BytesIO()
        pq.write_table(table, buf, compression="zstd")
        data = buf.getvalue()
        record = self._read_record(self.record_path(key))
        record["incidents_sha256"] = hashlib.sha256(data).hexdigest()
        record["point_id"] = want
        atomic_write_bytes(part, data)
        self._write_record(key, record)

    def _retire(self, key: str) -> None:
        for path in (self.record_path(key), self.part_path(key)):
            if os.path.lexists(path):
                target = self.unused_dir / path.relative_to(self.root)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        _remove_empty(self.part_path(key).parent)


def _read_regular_bytes(path: Path) -> bytes:
    st = os.lstat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def _check_parquet(data: bytes) -> None:
    import pyarrow.parquet as pq

    pq.read_table(io.BytesIO(data))


def _move_aside(path: Path, target: Path) -> Path:
    """Move ``path`` to ``target``, or ``target.1``, ``.2`` ... when that is taken."""
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = target, 0
    while os.path.lexists(candidate):
        n += 1
        candidate = target.with_name(f"{target.name}.{n}")
    os.replace(path, candidate)
    return candidate


def _remove_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


# ---------------------------------------------------------------- names, locks, run folders
_UNSAFE = re.compile(r"[^\w.-]+")
MAX_NAME = 80


def safe_name(name: str) -> str:
    """A folder name made from a scenario or sweep name: letters, digits, ``- _ .`` only, no
    leading dot, at most 80 characters, so a name can never point outside ``results/``
    (``/abs/path``, ``../../x``). The manifest keeps the name as written."""
    slug = _UNSAFE.sub("-", name).lstrip(".-")
    return slug[:MAX_NAME].rstrip(".-") or "unnamed"


class FolderLock:
    """An exclusive ``flock`` on the file ``path`` for as long as the ``with`` block runs, so
    two commands writing one folder cannot interleave; the second gets a clear error at once.
    The lock file is removed on exit; a holder checks after locking that the name still
    refers to the file it locked, so a file being removed is never taken as a lock."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        self.fd: int | None = None

    def _busy(self) -> OutputError:
        return OutputError(
            f"{self.what}: another jiefang command is writing there now; wait for it to "
            "finish or choose another --out"
        )

    def __enter__(self) -> FolderLock:
        check_replaceable(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as err:
            raise OutputError(f"{self.path}: cannot create a lock file ({err.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            same = os.path.samestat(os.fstat(fd), os.lstat(self.path))
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.ENOENT):
                raise self._busy() from None
            raise OutputError(f"{self.path}: cannot lock ({err.strerror})") from None
        if not same:  # the holder removed it between our open and our lock
            os.close(fd)
            raise self._busy()
        self.fd = fd
        _held_locks.add(fd)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            _held_locks.discard(self.fd)
            os.close(self.fd)  # closing releases the flock
            self.fd = None


#: Descriptors of the folder locks this process holds.
_held_locks: set[int] = set()


def _drop_inherited_locks() -> None:
    """In a forked child (a sweep worker): close the parent's lock descriptors. A flock
    belongs to the open file, so a worker outliving a killed driver for a moment would
    otherwise keep the folder locked against the resumed sweep."""
    for fd in _held_locks:
        with contextlib.suppress(OSError):
            os.close(fd)
    _held_locks.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited_locks)


def check_made_by(out: Path, command: str, replace: bool = True) -> None:
    """A results folder is replaced only by the command that wrote it (a run by a run, a
    sweep by a sweep, an optimisation by an optimisation): OutputError naming the folder and
    what wrote it otherwise, and for any earlier results when ``replace`` is False."""
    if not os.path.lexists(Path(out) / "manifest.json"):
        return
    from sim.experiment.results import made_by

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


#: Rows of one run table held in memory before it is streamed to disk. Up to this many, a
#: table is written whole as it always was (the same bytes); a longer one goes out in row
#: groups of this many rows as the run proceeds (the same table, another row-group layout).
STREAM_ROWS = 262_144


class TableStream:
    """One Parquet table of a run folder, fed in chunks of rows, in order.

    Chunks are kept until ``rows`` have come; a table that never gets that long is written
    whole at :meth:`close` with :func:`write_parquet`, as before. Past that, full row groups
    go to a hidden temporary file beside ``path`` as they fill, and :meth:`close` flushes it
    to disk and renames it to ``path``, so ``path`` only ever names a whole table (and the run
    folder it sits in is staged and swapped in whole by :class:`RunFolder`).
    """

    def __init__(self, path: Path, rows: int | None = None) -> None:
        self.path = Path(path)
        self._rows = rows or STREAM_ROWS
        self._chunks: list[pd.DataFrame] = []
        self._held = 0
        self._template: pd.DataFrame | None = None
        self._writer: Any = None  # pyarrow's ParquetWriter, once streaming
        self._file: Any = None
        self._tmp = ""  # the temporary file's path, once streaming
        self.streamed = False

    def add(self, chunk: pd.DataFrame) -> None:
        if self._template is None:
            self._template = chunk.iloc[:0]
        if not len(chunk):
            return
        self._chunks.append(chunk)
        self._held += len(chunk)
        if self._held >= self._rows:
            self._write_row_groups(final=False)

    def close(self) -> pd.DataFrame | None:
        """Finish the file. Returns the table when it was written whole (it was in memory
        anyway), None when it was streamed (read it back with :meth:`read_back`)."""
        if self._writer is None:
            table = self._whole()
            write_parquet(table, self.path)
            return table
        self._write_row_groups(final=True)
        self._writer.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        check_replaceable(self.path)
        os.replace(self._tmp, self.path)
        self._writer = self._file = None
        fault_point(f"wrote {self.path.name}")
        return None

    @property
    def columns(self) -> list[str]:
        """The table's columns, in order (known once a chunk has come)."""
        if self._template is None:
            raise ValueError(f"{self.path.name}: nothing was written")
        return list(self._template.columns)

    def read_back(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The streamed table from disk (only ``columns``, if given), with the dtypes of the
        chunks it was written from."""
        if self._template is None:
            raise ValueError(f"{self.path.name}: nothing was written")
        # Arrow's buffers are freed as they are converted, and columns are cast one at a
        # time, so the read-back never holds the table twice (it is the city year's peak).
        table = pd.read_parquet(
            self.path,
            columns=columns,
            to_pandas_kwargs={"self_destruct": True, "split_blocks": True},
        )
        # Text stays in Arrow-backed strings (a tenth of the memory of Python objects at a
        # city year's 2.5 million rows); numbers and flags get the chunks' dtypes.
        for column, dtype in self._template.dtypes.items():
            if column not in table.columns:
                continue
            if dtype.kind != "O" and table[column].dtype != dtype:
                table[column] = table[column].astype(dtype)
        return table

    def abort(self) -> None:
        """Drop the temporary file of a table that will not be finished."""
        if self._file is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._file.close()
            with contextlib.suppress(OSError):
                os.unlink(self._tmp)
            self._writer = self._file = None

    def _whole(self) -> pd.DataFrame:
        chunks, self._chunks, self._held = self._chunks, [], 0
        if not chunks:
            if self._template is None:
                raise ValueError(f"{self.path.name}: no rows and no columns were given")
            return self._template.reset_index(drop=True)
        return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)

    def _write_row_groups(self, final: bool) -> None:
        import pyarrow as pa

        held = self._whole()
        cut = len(held) if final else len(held) - len(held) % self._rows
        if cut < len(held):
            rest = held.iloc[cut:].reset_index(drop=True)
            self._chunks, self._held = [rest], len(rest)
        if cut == 0:
            return
        table = pa.Table.from_pandas(held.iloc[:cut], preserve_index=False)
        if self._writer is None:
            self._open(table.schema)
        self._writer.write_table(table.cast(self._writer.schema), row_group_size=self._rows)
        self.streamed = True

    def _open(self, schema) -> None:
        import pyarrow.parquet as pq

        check_replaceable(self.path)
        fd, self._tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.fchmod(fd, 0o666 & ~_umask())
        self._file = os.fdopen(fd, "wb")
        self._writer = pq.ParquetWriter(self._file, schema, compression="zstd")
