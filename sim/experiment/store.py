"""Result files, the run manifest, sweep stores and run folders: the names the rest of
sim/ and the tests import, each defined in the module of its concern.

- :mod:`sim.files`: a file written whole or not at all (atomic writes, refusing special files);
- :mod:`sim.experiment.writers`: Parquet, JSON and spreadsheet-safe CSV;
- :mod:`sim.experiment.provenance`: the manifest and the environment it records;
- :mod:`sim.experiment.folders`: run folders staged and swapped in whole, safe names;
- :mod:`sim.experiment.locks`: one writer per folder;
- :mod:`sim.experiment.sweepstore`: the resumable store of a sweep's runs;
- :mod:`sim.experiment.streams`: run tables streamed to disk as a run proceeds.

A setting is changed in its own module (``sim.experiment.streams.STREAM_ROWS``), not here.
"""

from __future__ import annotations

from sim.experiment.folders import (
    MAX_NAME,
    RunFolder,
    check_made_by,
    safe_name,
)
from sim.experiment.locks import (
    FolderLock,
)
from sim.experiment.provenance import (
    environment,
    git_commit,
    manifest,
)
from sim.experiment.streams import (
    STREAM_ROWS,
    TableStream,
)
from sim.experiment.sweepstore import (
    SweepStore,
)
from sim.experiment.writers import (
    FORMULA_STARTS,
    formula_safe,
    parquet_bytes,
    record_bytes,
    stored_run,
    write_csv,
    write_json,
    write_parquet,
)
from sim.files import (
    OutputError,
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

__all__ = [
    "FORMULA_STARTS",
    "MAX_NAME",
    "STREAM_ROWS",
    "FolderLock",
    "OutputError",
    "RunFolder",
    "SweepStore",
    "TableStream",
    "atomic_write_bytes",
    "check_made_by",
    "check_replaceable",
    "ensure_folder",
    "environment",
    "exchange",
    "fault_point",
    "formula_safe",
    "fsync_folder",
    "git_commit",
    "manifest",
    "parquet_bytes",
    "probe_writable",
    "record_bytes",
    "safe_name",
    "sha256",
    "stored_run",
    "sync_file_system",
    "write_csv",
    "write_json",
    "write_parquet",
]
