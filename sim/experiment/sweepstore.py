"""Resumable sweep output, content-addressed by run key (:class:`SweepStore`)."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import shutil
import stat
from pathlib import Path

import pandas as pd

from sim.experiment.writers import record_bytes, stored_run
from sim.files import (  # re-exported: the names sim.experiment.store always had
    _make_folder,
    _write_unsynced,
    atomic_write_bytes,
    fault_point,
    sync_file_system,
)


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
