"""Run a sweep: skip what is finished, execute the rest, store each run as it lands,
then rebuild the sweep tables (runs, points, paired differences) from the stored runs."""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.analysis.metrics import mean_ci, proportion_ci
from sim.analysis.stats import welch_difference
from sim.analysis.values import table_values
from sim.experiment import executors
from sim.experiment.outcome import (  # noqa: F401  (re-exported)
    METRICS,
    SWEEP_MEASURES,
    run_metrics,
)
from sim.experiment.store import (
    FolderLock,
    SweepStore,
    atomic_write_bytes,
    check_made_by,
    ensure_folder,
    environment,
    parquet_bytes,
    probe_writable,
    write_json,
)
from sim.experiment.sweep import BASELINE_ARM, Sweep, Task

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
    marginal: pd.DataFrame
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
        check_made_by(out, "sweep")  # a run's or an optimisation's folder is never mixed in
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
    runs, points, paired, marginal = sweep_tables(sweep, store, tasks, fresh)
    files = {}
    for name, table in (("runs", runs), ("points", points), ("paired", paired),
                        ("marginal", marginal)):  # fmt: skip
        data = parquet_bytes(table)
        atomic_write_bytes(out / f"{name}.parquet", data)
        files[name] = {"path": f"{name}.parquet", "sha256": hashlib.sha256(data).hexdigest()}
    write_json(
        {
            "sweep": sweep.spec.model_dump(mode="json", by_alias=True),
            "source_file": str(sweep.source),
            "overrides": dict(sweep.overrides),
            "base_scenario": sweep.base.model_dump(mode="json"),
            "points": len(sweep.points),
            "baseline": {"point_id": sweep.baseline_id,
                         "values": sweep.baseline.values if sweep.baseline else {},
                         "extra_arm": sweep.baseline_id == BASELINE_ARM},
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
                        points, paired, marginal, tuple(notices))  # fmt: skip


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
    """runs (one row per run), points (long: point x metric), paired differences from the
    baseline and the marginal value per unit of each staffing key.

    ``tasks``: ``sweep.tasks()`` when the caller has them; ``fresh``: records of runs just
    stored, by key, used as they are instead of being read back."""
    tasks = sweep.tasks() if tasks is None else tasks
    records = store.records(sorted({t.key for t in tasks}), fresh or {})
    if records.empty:
        return pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    dropped = ["point_id", "replication", "seed", "wall_s", "incidents_sha256"]
    by_key = records.set_index("key").drop(columns=dropped, errors="ignore").to_dict("index")
    # Lists (hourly profiles) and keys mixing lists and numbers become labels: Parquet needs
    # one type per column, and the tables group and pivot by these columns.
    values = table_values(sweep.arms)
    rows = [{"point_id": t.point_id, **values[t.point_id], "replication": t.replication,
             "seed": t.seed, "key": t.key, **by_key[t.key]}
            for t in tasks if t.key in by_key]  # fmt: skip
    runs = pd.DataFrame(rows).sort_values(["point_id", "replication"], kind="stable")
    runs = runs.reset_index(drop=True)
    metric_cols = [c for c in runs.columns if c.endswith(SWEEP_MEASURES) or c in ("incidents",
                   "open_share")]  # fmt: skip
    grid = runs[runs["point_id"] != BASELINE_ARM]  # the extra arm is no point of the design
    varied = sweep.varied
    return (runs, _points(grid, varied, metric_cols),
            _paired(runs, varied, metric_cols, sweep.baseline_id),
            marginal_table(runs, varied, metric_cols))  # fmt: skip


def _points(runs: pd.DataFrame, varied: list[str], metrics: list[str]) -> pd.DataFrame:
    ok = runs[runs["status"] == "ok"]
    block = _by_metric(ok, metrics)
    rows = []
    for point_id, where in _point_rows(ok):
        first = ok.iloc[where[0]]
        for metric, values in zip(metrics, block[:, where], strict=True):
            keep = ~np.isnan(values)  # NaN: the run had no incident the tier counts
            low, high, half = _interval(ok, where, metric, values, keep)
            rows.append({"point_id": point_id, **{k: first[k] for k in varied},
                         "metric": metric, "mean": _mean(values[keep]), "ci95_half_width": half,
                         "ci95_low": low, "ci95_high": high,
                         "replications": int(keep.sum())})  # fmt: skip
    return pd.DataFrame(rows)


def _interval(ok: pd.DataFrame, where, metric: str, values: np.ndarray,
              keep: np.ndarray) -> tuple[float, float, float]:  # fmt: skip
    """(low, high, half-width) of a point's mean: a share takes the summary's interval,
    which lies in [0, 1] (the hull of Student-t and the pooled Wilson interval of its
    runs' ``<tier>_incidents``; without counts, the t interval clipped to [0, 1]); any
    other metric the Student-t interval."""
    tier, measure = tier_of(metric)
    if measure not in SHARE_MEASURES:
        mean, half = mean_ci(values[keep])
        return mean - half, mean + half, half
    counts = f"{tier}_incidents" if tier is not None else "incidents"
    if measure == "compliance" and counts in ok.columns:
        n = ok[counts].to_numpy(float)[where][keep]
        _, low, high = proportion_ci(values[keep], n)
    else:
        mean, half = mean_ci(values[keep])
        low, high = max(mean - half, 0.0), min(mean + half, 1.0)
    return low, high, (high - low) / 2


def tier_of(metric: str) -> tuple[str | None, str]:
    """(tier, measure) of a run metric: ``mutual_p90_s`` -> (mutual, p90_s); the counts
    (``incidents``, ``open_share``) have no tier."""
    for measure in SWEEP_MEASURES:
        if metric.endswith(f"_{measure}"):
            return metric[: -len(measure) - 1], measure
    return None, metric


#: Measures that are shares (0..1): a difference of two of them lies in [-1, 1], and the
#: paired interval is clipped to that range (a t interval over 2-3 replications is not).
SHARE_MEASURES = ("compliance", "open_share", "never_reported_share", "worst_zones_share",
                  "focus_share")  # fmt: skip


def _clip(mean: float, half: float, bound: float | None) -> tuple[float, float]:
    """``mean -+ half``, clipped to ``[-bound, bound]`` when a bound is given (NaN stays)."""
    low, high = mean - half, mean + half
    if bound is None:
        return low, high
    return (max(low, -bound) if np.isfinite(low) else low,
            min(high, bound) if np.isfinite(high) else high)  # fmt: skip


def _paired(runs: pd.DataFrame, varied: list[str], metrics: list[str],
            baseline: int) -> pd.DataFrame:  # fmt: skip
    """Each grid point against the baseline arm, paired by replication (common random
    numbers): the mean of the per-replication differences (point - baseline) with its
    Student-t 95 % interval over the replications both ran, and the unpaired (Welch)
    half-width beside it to show what the pairing buys. The baseline point itself is a
    row too (difference 0).

    Pairs left out: a replication where either side is NaN (a tier that counted no
    incident), and, for a time percentile, a replication where either side is ``inf``
    ("never": more than that share never reached; the difference is undefined, and a mean
    over it would be +-inf). ``n`` counts the pairs used, ``never_pairs`` those left out as
    never; ``baseline_mean`` and ``mean`` are over the pairs used, so ``diff`` = ``mean`` -
    ``baseline_mean``. With ``n`` < 2 there is no interval (NaN). For shares (compliance)
    the interval is clipped to the possible range of a difference, [-1, 1]."""
    ok = runs[runs["status"] == "ok"]
    block = _by_metric(ok, metrics)
    replication = ok["replication"].to_numpy()
    groups = dict(_point_rows(ok))
    if ok.empty or baseline not in groups:
        return pd.DataFrame()
    base_rows = groups[baseline]
    base_at = {int(r): i for i, r in zip(base_rows, replication[base_rows], strict=True)}
    rows = []
    for point_id, where in groups.items():
        if point_id == BASELINE_ARM:
            continue
        first = ok.iloc[where[0]]
        # Replications both points ran, in this point's order (ascending: runs are sorted).
        common = [(i, base_at[int(r)]) for i, r in zip(where, replication[where], strict=True)
                  if int(r) in base_at]  # fmt: skip
        ours = block[:, [i for i, _ in common]]
        theirs = block[:, [j for _, j in common]]
        for metric, a, b in zip(metrics, ours, theirs, strict=True):
            tier, measure = tier_of(metric)
            never = np.isinf(a) | np.isinf(b)
            keep = ~(np.isnan(a) | np.isnan(b) | never)
            diff = a[keep] - b[keep]
            mean, half = mean_ci(diff)
            low, high = _clip(mean, half, 1.0 if measure in SHARE_MEASURES else None)
            fa, fb = a[np.isfinite(a)], b[np.isfinite(b)]
            _, unpaired = welch_difference(fb, fa)
            rows.append({
                "point_id": point_id, **{k: first[k] for k in varied},
                "baseline_point_id": baseline, "metric": metric, "tier": tier,
                "measure": measure, "baseline_mean": _mean(b[keep]), "mean": _mean(a[keep]),
                "diff": mean, "ci_low": low, "ci_high": high,
                "paired_ci95_half_width": half, "unpaired_ci95_half_width": float(unpaired),
                "n": int(keep.sum()), "never_pairs": int((never & ~np.isnan(a)
                                                         & ~np.isnan(b)).sum()),
            })  # fmt: skip
    return pd.DataFrame(rows)


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


#: Staffing keys whose marginal value per unit is reported: key -> (units per step of the
#: gain, what one such step is called). Volunteers come in hundreds: one volunteer moves
#: compliance by less than the tables can show.
STAFFING_UNITS: dict[str, tuple[int, str]] = {
    "volunteers.count": (100, "100 volunteers"),
    "meus.count": (1, "MEU"),
    "police.units": (1, "police unit"),
    "police.stations": (1, "police station"),
}


def marginal_table(runs: pd.DataFrame, varied: list[str], metrics: list[str]) -> pd.DataFrame:
    """Marginal value per unit of each varied staffing key (:data:`STAFFING_UNITS`).

    For two adjacent levels ``a < b`` of the key, every other varied key held at the same
    values, and each replication ``r`` both ran: ``(c_b,r - c_a,r) / (b - a) * unit``, where
    ``c`` is a tier's compliance (share of the incidents it counts reached within its
    target on its own clock, after the warm-up). The gain is their mean over replications
    in percentage points per unit, with the paired Student-t 95 % interval; ``n`` is the
    number of pairs (with fewer than 2, no interval: NaN). The interval is clipped to the
    possible range, +-100 pp divided by the units of the step. The baseline arm, if extra,
    is no level of the design and is left out.
    """
    ok = runs[(runs["status"] == "ok") & (runs["point_id"] != BASELINE_ARM)]
    compliance = [m for m in metrics if m.endswith("_compliance")]
    rows: list[dict] = []
    for key in varied:
        if key not in STAFFING_UNITS:
            continue
        unit, label = STAFFING_UNITS[key]
        levels = ok[key]
        if not all(isinstance(v, int | float | np.number) and not isinstance(v, bool)
                   for v in levels):  # fmt: skip
            continue
        others = [k for k in varied if k != key]
        for grp in _held_fixed(ok, others):
            fixed = {k: grp[k].iloc[0] for k in others}
            ladder = sorted(set(grp[key].tolist()))
            for lo, hi in itertools.pairwise(ladder):
                # Two points with the same values (a repeated grid value): the first counts.
                a = _first_point(grp[grp[key] == lo]).set_index("replication")
                b = _first_point(grp[grp[key] == hi]).set_index("replication")
                common = a.index.intersection(b.index)
                for metric in compliance:
                    with np.errstate(invalid="ignore"):
                        per = ((b.loc[common, metric].to_numpy(float)
                                - a.loc[common, metric].to_numpy(float))
                               / (hi - lo) * unit * 100)  # fmt: skip
                    per = per[~np.isnan(per)]
                    gain, half = mean_ci(per)
                    # A compliance difference lies in [-100, 100] pp: per unit, that range
                    # divided by the units of the step.
                    low, high = _clip(gain, half, 100 * unit / (hi - lo))
                    rows.append({
                        "key": key, "unit": label, "unit_size": unit,
                        "from_value": lo, "to_value": hi,
                        "from_point_id": int(a["point_id"].iloc[0]),
                        "to_point_id": int(b["point_id"].iloc[0]),
                        **fixed,
                        "tier": tier_of(metric)[0], "gain_pp_per_unit": gain,
                        "ci_low_pp": low, "ci_high_pp": high, "n": len(per),
                    })  # fmt: skip
    return pd.DataFrame(rows)


def _held_fixed(runs: pd.DataFrame, keys: list[str]) -> list[pd.DataFrame]:
    """The runs split by the values of ``keys``, in order of first appearance. Grouped by
    each value's JSON text: pandas' groupby would drop a group whose value is missing, and
    lists (which the tables hold as labels, but a table built by hand may not) cannot be
    grouped at all."""
    if not keys:
        return [runs]
    text = pd.DataFrame({k: runs[k].map(lambda v: json.dumps(v, sort_keys=True, default=str))
                         for k in keys})  # fmt: skip
    return [runs.loc[sub.index] for _, sub in text.groupby(keys, sort=False)]


def _first_point(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["point_id"] == runs["point_id"].min()]


def _by_metric(runs: pd.DataFrame, metrics: list[str]) -> np.ndarray:
    """The runs' values, one row per metric: one pandas selection for the whole table
    instead of one per point and metric (the tables cost the driver 5 ms per run)."""
    return runs[metrics].to_numpy(dtype=float).T


def _point_rows(ok: pd.DataFrame) -> list[tuple[int, np.ndarray]]:
    """(point id, positions of its runs in ``ok``) for each point, by ascending id."""
    ids = ok["point_id"].to_numpy()
    return [(int(p), np.flatnonzero(ids == p)) for p in np.unique(ids)]
