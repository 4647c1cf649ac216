"""Run a sweep: skip what is finished, execute the rest, store each run as it lands,
then rebuild the sweep tables (runs, points, paired differences) from the stored runs."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.metrics import mean_ci
from sim.analysis.stats import welch_difference
from sim.experiment import executors
from sim.experiment.outcome import METRICS, run_metrics  # noqa: F401  (re-exported)
from sim.experiment.store import (
    FolderLock,
    SweepStore,
    atomic_write_bytes,
    ensure_folder,
    environment,
    parquet_bytes,
    probe_writable,
    write_json,
)
from sim.experiment.sweep import Sweep, Task

#: Runs stored between two flushes to disk (or fewer, see SYNC_EVERY_S): a machine crash
#: costs at most this batch of runs, found damaged or missing on resume and run again.
SYNC_EVERY_RUNS = 32
SYNC_EVERY_S = 5.0


@dataclass(frozen=True)
class SweepOutcome:
    total: int
    skipped: int
    ran: int
    failed: int
    runs: pd.DataFrame
    points: pd.DataFrame
    paired: pd.DataFrame
    notices: tuple[str, ...] = ()  # damage found and repaired on the way, for the user


def run_sweep(
    sweep: Sweep,
    out: Path,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Execute every unfinished run of ``sweep`` and write the sweep tables under ``out``.

    Args:
        sweep: a loaded sweep (:func:`sim.experiment.sweep.load_sweep`).
        out: output folder; runs already stored there are skipped. It is locked while the
            sweep runs: a second sweep into it fails at once with :class:`OutputError`.
        workers: processes (local or Dask LocalCluster); 1 runs in this process.
        scheduler: Dask scheduler address, or "local" for a LocalCluster; None for local
            processes.
        progress: called with (runs done, runs to do) after each run.
        notice: called with a sentence for each repair made to the stored runs (damaged runs
            quarantined, half-written files removed); they are in the outcome too.
    """
    out = ensure_folder(Path(out))
    with FolderLock(out / ".lock", str(out)):
        probe_writable(out)  # before any run: an unwritable folder is found at once
        return _run_locked(sweep, out, workers, scheduler, progress, notice)


def _run_locked(sweep, out, workers, scheduler, progress, notice) -> SweepOutcome:
    notices: list[str] = []

    def say(message: str) -> None:
        notices.append(message)
        if notice is not None:
            notice(message)

    store = SweepStore(out)
    removed = store.clean_temporaries()
    if removed:
        say(f"removed {removed} half-written file(s) of an interrupted sweep in {out}")
    tasks = sweep.tasks()
    by_key: dict[str, Task] = {}
    for t in tasks:
        by_key.setdefault(t.key, t)  # identical points share one run
    done = store.finished(say)
    done |= {k for k in by_key if k not in done and store.revive(k)}
    pending = [t for k, t in by_key.items() if k not in done]
    started = time.perf_counter()
    if scheduler is not None:
        results = executors.dask(pending, scheduler, workers)
    elif workers > 1 and len(pending) > 1:
        results = executors.local_processes(pending, workers)
    else:
        results = executors.sequential(pending)
    fresh, failed = _store_results(results, store, len(pending), progress)
    done |= {k for k, record in fresh.items() if record["status"] == "ok"}
    # The dataset holds exactly this sweep's runs, with this sweep's point ids (the runs
    # stored just now carry them already).
    store.publish({k: t.point_id for k, t in by_key.items()}, done & set(by_key),
                  labelled=set(fresh))  # fmt: skip
    runs, points, paired = sweep_tables(sweep, store, tasks, fresh)
    files = {}
    for name, table in (("runs", runs), ("points", points), ("paired", paired)):
        data = parquet_bytes(table)
        atomic_write_bytes(out / f"{name}.parquet", data)
        files[name] = {"path": f"{name}.parquet", "sha256": hashlib.sha256(data).hexdigest()}
    write_json(
        {
            "sweep": sweep.spec.model_dump(mode="json", by_alias=True),
            "source_file": str(sweep.source),
            "base_scenario": sweep.base.model_dump(mode="json"),
            "points": len(sweep.points),
            "runs": len(tasks),
            "ran_now": len(pending),
            "failed_now": failed,
            "executor": (scheduler and f"dask:{scheduler}") or ("processes" if workers > 1 else
                                                              "sequential"),
            "workers": workers,
            "wall_time_s": round(time.perf_counter() - started, 3),
            "files": files,
            "repairs": notices,
            "environment": environment(),
        },
        out / "manifest.json",
    )  # fmt: skip
    return SweepOutcome(len(tasks), len(tasks) - len(pending), len(pending), failed, runs,
                        points, paired, tuple(notices))  # fmt: skip


def _store_results(
    results: Iterable[executors.TaskResult],
    store: SweepStore,
    todo: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[dict[str, dict], int]:
    """Write each run as it lands, flushing to disk once per batch; returns the records
    stored (by key) and the number of failed runs."""
    fresh: dict[str, dict] = {}
    failed = 0
    synced = time.monotonic()
    try:
        for n, result in enumerate(results, start=1):
            store.put(result.key, result.record_parquet, result.incidents_parquet)
            fresh[result.key] = result.record
            failed += result.error is not None
            if store.unsynced >= SYNC_EVERY_RUNS or time.monotonic() - synced >= SYNC_EVERY_S:
                store.sync()
                synced = time.monotonic()
            if progress is not None:
                progress(n, todo)
    finally:
        store.sync()  # what was stored stays stored, also when the sweep stops on an error
    return fresh, failed


def sweep_tables(
    sweep: Sweep,
    store: SweepStore,
    tasks: list[Task] | None = None,
    fresh: dict[str, dict] | None = None,
):
    """runs (one row per run), points (long: point x metric) and paired differences.

    ``tasks``: ``sweep.tasks()`` when the caller has them; ``fresh``: records of runs just
    stored, by key, used as they are instead of being read back."""
    tasks = sweep.tasks() if tasks is None else tasks
    records = store.records(sorted({t.key for t in tasks}), fresh or {})
    if records.empty:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    dropped = ["point_id", "replication", "seed", "wall_s", "incidents_sha256"]
    by_key = records.set_index("key").drop(columns=dropped, errors="ignore").to_dict("index")
    values = {p.point_id: p.values for p in sweep.points}
    rows = [{"point_id": t.point_id, **values[t.point_id], "replication": t.replication,
             "seed": t.seed, "key": t.key, **by_key[t.key]}
            for t in tasks if t.key in by_key]  # fmt: skip
    runs = pd.DataFrame(rows).sort_values(["point_id", "replication"], kind="stable")
    runs = runs.reset_index(drop=True)
    metric_cols = [c for c in runs.columns if c.endswith(METRICS) or c in ("incidents",
                   "open_share")]  # fmt: skip
    return runs, _points(runs, sweep.varied, metric_cols), _paired(runs, metric_cols)


def _points(runs: pd.DataFrame, varied: list[str], metrics: list[str]) -> pd.DataFrame:
    ok = runs[runs["status"] == "ok"]
    block = _by_metric(ok, metrics)
    rows = []
    for point_id, where in _point_rows(ok):
        first = ok.iloc[where[0]]
        for metric, values in zip(metrics, block[:, where], strict=True):
            values = values[~np.isnan(values)]  # NaN: the run had no incident the tier counts
            mean, half = mean_ci(values)
            rows.append({"point_id": point_id, **{k: first[k] for k in varied},
                         "metric": metric, "mean": mean, "ci95_half_width": half,
                         "replications": len(values)})  # fmt: skip
    return pd.DataFrame(rows)


def _paired(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Each point against point 0, paired by replication (common random numbers), with the
    unpaired half-width beside it to show what the pairing buys."""
    ok = runs[runs["status"] == "ok"]
    if ok.empty:
        return pd.DataFrame()
    block = _by_metric(ok, metrics)
    replication = ok["replication"].to_numpy()
    groups = _point_rows(ok)
    baseline, base_rows = groups[0]
    base_at = {int(r): i for i, r in zip(base_rows, replication[base_rows], strict=True)}
    rows = []
    for point_id, where in groups[1:]:
        # Replications both points ran, in this point's order (ascending: runs are sorted).
        common = [(i, base_at[int(r)]) for i, r in zip(where, replication[where], strict=True)
                  if int(r) in base_at]  # fmt: skip
        ours = np.ascontiguousarray(block[:, [i for i, _ in common]])
        theirs = np.ascontiguousarray(block[:, [j for _, j in common]])
        for metric, a, b in zip(metrics, ours, theirs, strict=True):
            with np.errstate(invalid="ignore"):  # inf - inf: both never arrived
                diff = a - b
            mean, paired_half = mean_ci(diff)
            _, unpaired = welch_difference(b, a)
            rows.append({
                "point_id": point_id, "baseline_point_id": baseline, "metric": metric,
                "mean_difference": mean, "paired_ci95_half_width": paired_half,
                "unpaired_ci95_half_width": float(unpaired), "replications": len(common),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _by_metric(runs: pd.DataFrame, metrics: list[str]) -> np.ndarray:
    """The runs' values, one row per metric: one pandas selection for the whole table
    instead of one per point and metric (the tables cost the driver 5 ms per run)."""
    return runs[metrics].to_numpy(dtype=float).T


def _point_rows(ok: pd.DataFrame) -> list[tuple[int, np.ndarray]]:
    """(point id, positions of its runs in ``ok``) for each point, by ascending id."""
    ids = ok["point_id"].to_numpy()
    return [(int(p), np.flatnonzero(ids == p)) for p in np.unique(ids)]
