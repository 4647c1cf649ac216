"""Run tables streamed to disk in row groups as a run proceeds (:class:`TableStream`)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.experiment.writers import write_parquet
from sim.files import (  # re-exported: the names sim.experiment.store always had
    _umask,
    check_replaceable,
    fault_point,
)

#: Rows of one run table held in memory before it is streamed to disk. A table with fewer
#: rows is written whole as it always was (the same bytes); one that reaches this many goes
#: out in row groups of this many rows as the run proceeds (the same table, another
#: row-group layout).
STREAM_ROWS = 32_768


def release_freed_memory() -> None:
    """Hand what the Arrow pool and glibc keep of freed memory back to the system: a row
    group's frames and Arrow tables are gone once it is written, and the pages they leave
    would otherwise stay in the process to the end of a run (each row group of a city year
    left about 0.1 GB behind)."""
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


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
        # Frames until the first row group is written (a table that never gets long is
        # written whole from them), then Arrow tables in the file's schema: held as they will
        # be written.
        self._frames: list[pd.DataFrame] = []
        self._tables: list[pa.Table] = []
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
        if self._writer is None:
            self._frames.append(chunk)
        else:
            self._tables.append(self._arrow(chunk))
        self._held += len(chunk)
        if self._held >= self._rows:
            self._write_row_groups(final=False)

    def close(self) -> pd.DataFrame | None:
        """Finish the file. Returns the table when it was written whole (it was in memory
        anyway), None when it was streamed (read it back with :meth:`row_groups` or
        :meth:`read_back`)."""
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
        return list(self._template_of().columns)

    def _template_of(self) -> pd.DataFrame:
        if self._template is None:
            raise ValueError(f"{self.path.name}: nothing was written")
        return self._template

    def read_back(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The streamed table from disk (only ``columns``, if given), with the dtypes of the
        chunks it was written from: :meth:`row_groups` joined."""
        wanted = self.columns if columns is None else list(columns)
        return pd.concat(list(self.row_groups(wanted)), ignore_index=True)

    def row_groups(self, columns: list[str]) -> Iterator[pd.DataFrame]:
        """The streamed table from disk one row group at a time (``columns`` of it, with the
        dtypes of the chunks it was written from): a reader that keeps a few columns of
        every row and every column of a few rows never holds the whole table."""
        dtypes = self._template_of().dtypes
        with pq.ParquetFile(self.path) as file:
            for group in range(file.num_row_groups):
                part = file.read_row_group(group, columns=list(columns)).to_pandas(
                    self_destruct=True, split_blocks=True
                )
                # Numbers and flags get the chunks' dtypes (Parquet may widen them); text
                # stays in the Arrow-backed strings it is read as (a tenth of the memory of
                # Python objects).
                cast = {c: dtypes[c] for c in part.columns if dtypes[c].kind != "O"}
                yield part.astype({c: d for c, d in cast.items() if part[c].dtype != d})

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
        """The frames held, as one (before the first row group is written)."""
        frames, self._frames, self._held = self._frames, [], 0
        if not frames:
            if self._template is None:
                raise ValueError(f"{self.path.name}: no rows and no columns were given")
            return self._template.reset_index(drop=True)
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)

    def _write_row_groups(self, final: bool) -> None:
        if self._writer is None:  # the first row group: its frames joined fix the schema
            table = pa.Table.from_pandas(self._whole(), preserve_index=False)
            self._open(table.schema)
            self._tables = [table]
        # The rest as one Arrow table without a copy of the rows: chunks come in the file's
        # schema (:meth:`_arrow`) and Arrow joins tables without copying, so writing a row
        # group costs the encoder's buffers, not three copies of its rows (frames joined,
        # converted, cast: 25 MB over a 10 MB row group of incidents at the city year's peak).
        if not self._tables:  # (closing, with every row written)
            return
        held = pa.concat_tables(self._tables)
        self._tables, self._held = [], 0
        cut = len(held) if final else len(held) - len(held) % self._rows
        if cut < len(held):
            self._tables, self._held = [held.slice(cut)], len(held) - cut
        if cut == 0:
            return
        self._writer.write_table(held.slice(0, cut), row_group_size=self._rows)
        self.streamed = True
        del held
        release_freed_memory()

    def _arrow(self, chunk: pd.DataFrame) -> pa.Table:
        """A chunk in the file's schema (columns by name, each converted to its type)."""
        return pa.Table.from_pandas(chunk, schema=self._writer.schema, preserve_index=False)

    def _open(self, schema) -> None:
        check_replaceable(self.path)
        fd, self._tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        os.fchmod(fd, 0o666 & ~_umask())
        self._file = os.fdopen(fd, "wb")
        self._writer = pq.ParquetWriter(self._file, schema, compression="zstd")
