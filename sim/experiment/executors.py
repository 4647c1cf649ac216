"""Where sweep runs execute: in this process, in local worker processes, or on Dask.

Every executor maps the same function, :func:`run_task`, over the same tasks and yields
results as they finish; the driver alone writes them (see
:class:`sim.experiment.store.SweepStore`), so the output does not depend on the executor or
on the order runs finish in.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import pandas as pd

from sim.experiment.runner import run_one
from sim.experiment.sweep import Task


@dataclass(frozen=True)
class TaskResult:
    key: str
    point_id: int
    replication: int
    incidents: pd.DataFrame | None  # None when the run raised
    error: str | None
    wall_s: float


def run_task(task: Task) -> TaskResult:
    """Run one (point, replication); an exception becomes a recorded error, not a crash."""
    started = time.perf_counter()
    try:
        incidents, _ = run_one(task.scenario, task.seed, task.replication)
        error = None
    except Exception as exc:
        incidents = None
        last = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} ({last.filename}:{last.lineno})"
    return TaskResult(
        task.key, task.point_id, task.replication, incidents, error,
        time.perf_counter() - started,
    )  # fmt: skip


def sequential(tasks: Iterable[Task]) -> Iterator[TaskResult]:
    for task in tasks:
        yield run_task(task)


def die_with_parent(parent: int) -> None:
    """Worker initializer: end this worker when the driver ends, however it ends (a SIGKILL
    of the driver used to leave its workers running for good). Linux asks the kernel for a
    SIGKILL at the parent's death; elsewhere a thread watches the parent's pid."""
    signal_at_parent_death(signal.SIGKILL)
    if os.getppid() != parent:  # the driver died before the request took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


_PR_SET_PDEATHSIG = 1


def signal_at_parent_death(signum: int) -> None:
    """Ask Linux to send ``signum`` to this process when its parent ends (nothing elsewhere).
    Safe in a ``preexec_fn``: no threads, no allocation beyond ctypes' call."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)


def local_processes(tasks: list[Task], workers: int) -> Iterator[TaskResult]:
    """Worker processes on this machine (spawned: no state inherited from the driver)."""
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=die_with_parent,
        initargs=(os.getpid(),),
    )  # fmt: skip
    with pool:
        futures = [pool.submit(run_task, t) for t in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()


def dask(tasks: list[Task], scheduler: str, workers: int) -> Iterator[TaskResult]:
    """Runs on a Dask distributed cluster: ``scheduler`` is its address (tcp://host:8786),
    or ``local`` for a LocalCluster of ``workers`` single-threaded processes here."""
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:  # depends on the install
        from sim.extras import MissingExtraError

        raise MissingExtraError(
            "Dask sweeps (--scheduler) need the dask extra: pip install 'jiefang[dask]'"
        ) from None
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="30s")
    try:
        futures = client.map(run_task, tasks, pure=False)
        try:
            for future in dask_completed(futures):
                yield future.result()
        finally:
            client.cancel(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
