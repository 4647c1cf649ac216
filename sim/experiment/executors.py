"""Where sweep runs execute: in this process, in local worker processes, or on Dask.

Every executor maps the same function, :func:`run_task`, over the same tasks and yields
results as they finish. A worker does all of a run's work: the model, its metrics and the
Parquet bytes of its files, and sends back those bytes with a one-row record; the driver
alone writes them (see :class:`sim.experiment.store.SweepStore`), so the output does not
depend on the executor or on the order runs finish in, and the driver's share of a run is
a few file writes. Workers live for the whole sweep (a process pool, Dask workers) and
take one task after another.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import multiprocessing
import os
import re
import signal
import socket
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from sim.experiment.outcome import run_record
from sim.experiment.runner import run_one
from sim.experiment.store import stored_run
from sim.experiment.sweep import Task


@dataclass(frozen=True)
class TaskResult:
    """A finished run as a worker sends it back: compact, ready to store."""

    key: str
    point_id: int
    replication: int
    record: dict[str, Any]  # the one-row run record (metrics, the incidents' SHA-256)
    record_parquet: bytes  # the record as stored
    incidents_parquet: bytes | None  # the per-incident partition; None when the run raised
    error: str | None
    wall_s: float
    pid: int = 0  # the process that ran it (workers stay alive: a few pids per sweep)


def run_task(task: Task) -> TaskResult:
    """Run one (point, replication) and make its stored files; an exception in the model
    becomes a recorded error, not a crash."""
    started = time.perf_counter()
    try:
        incidents, _ = run_one(task.scenario, task.seed, task.replication)
        error = None
    except Exception as exc:
        incidents = None
        last = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} ({last.filename}:{last.lineno})"
    wall_s = time.perf_counter() - started  # the model's, as before the work moved here
    if incidents is not None:
        incidents.insert(0, "point_id", task.point_id)
    record, record_parquet, incidents_parquet = stored_run(
        run_record(task, error, wall_s, incidents), incidents
    )
    return TaskResult(task.key, task.point_id, task.replication, record, record_parquet,
                      incidents_parquet, error, wall_s, os.getpid())  # fmt: skip


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


def start_method() -> str:
    """How local workers start: forked from the driver on Linux, so that a worker inherits
    the imports (numpy, pandas, Mesa, the model: about 2 s of CPU per spawned worker) and
    starts in milliseconds; spawned elsewhere (fork is unsafe on macOS).
    ``JIEFANG_WORKER_START=spawn`` forces spawning."""
    wanted = os.environ.get("JIEFANG_WORKER_START")
    if wanted in multiprocessing.get_all_start_methods():
        return wanted
    return "fork" if sys.platform.startswith("linux") else "spawn"


def local_processes(tasks: list[Task], workers: int) -> Iterator[TaskResult]:
    """A pool of worker processes on this machine, alive for the whole sweep. A forked
    worker shares nothing with the driver afterwards but the pipes of the pool: runs depend
    only on their task, and the driver's folder locks are closed in the child
    (:mod:`sim.experiment.store`)."""
    method = start_method()
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=multiprocessing.get_context(method),
        initializer=die_with_parent, initargs=(os.getpid(),),
    )  # fmt: skip
    batch = next(_batches)
    with pool:
        with warnings.catch_warnings():
            # Python 3.12 warns on forking a process with threads (the driver may have a
            # progress bar's or Arrow's); the workers only run the model and encode Parquet.
            warnings.filterwarnings(
                "ignore", "This process .* is multi-threaded", DeprecationWarning
            )
            if method == "fork":
                # Forked workers inherit the tasks: send each one's number, not the pickled
                # scenario (the pool's cost per task falls by a third). The pool forks its
                # workers at the first submit, after this assignment.
                _inherited[batch] = tasks
                futures = [pool.submit(_run_inherited, batch, i) for i in range(len(tasks))]
            else:
                futures = [pool.submit(run_task, t) for t in tasks]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            _inherited.pop(batch, None)
            for future in futures:
                future.cancel()


#: Task lists of the sweeps running in local processes, by batch number: forked workers
#: read their tasks here.
_inherited: dict[int, list[Task]] = {}
_batches = itertools.count()


def _run_inherited(batch: int, index: int) -> TaskResult:
    return run_task(_inherited[batch][index])


#: A Dask scheduler address as `--scheduler` takes it: ``tcp://`` (the default) or
#: ``tls://``, a host name or address ([...] for IPv6) and a port (Dask's default 8786).
SCHEDULER_ADDRESS = re.compile(
    r"(?:(?P<scheme>tcp|tls)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]{0,252})"
    r"(?::(?P<port>[0-9]{1,5}))?/?"
)
DASK_PORT = 8786
#: Seconds to wait for the scheduler to answer a connection before refusing the sweep.
CONNECT_TIMEOUT_S = 10.0


class SchedulerError(ValueError):
    """`--scheduler` names no usable Dask scheduler. The message is meant for the user."""


def check_scheduler(address: str) -> tuple[str, int]:
    """(host, port) of a Dask scheduler address; SchedulerError for any other form (Dask
    raises a bare ValueError for ``gopher://x`` deep inside)."""
    found = SCHEDULER_ADDRESS.fullmatch(address)
    port = int(found["port"]) if found and found["port"] else DASK_PORT
    if found is None or not 1 <= port <= 65535:
        raise SchedulerError(
            "expected 'local' or a Dask scheduler address tcp://HOST:PORT (or tls://)"
        )
    return found["host"].strip("[]"), port


def reach_scheduler(address: str) -> None:
    """A TCP connection to the scheduler, within ``CONNECT_TIMEOUT_S``: a refused or
    silent address is one SchedulerError before any folder is written (Dask's own Client
    retries for 30 s and raises OSError)."""

    host, port = check_scheduler(address)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S):
            pass
    except TimeoutError:
        raise SchedulerError(
            f"no answer from a Dask scheduler at {host}:{port} within {CONNECT_TIMEOUT_S:g} s"
        ) from None
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise SchedulerError(f"cannot reach a Dask scheduler at {host}:{port} ({reason})") from None


def dask(tasks: list[Task], scheduler: str, workers: int) -> Iterator[TaskResult]:
    """Runs on a Dask distributed cluster: ``scheduler`` is its address (tcp://host:8786),
    or ``local`` for a LocalCluster of ``workers`` single-threaded processes here."""
    from sim.extras import require

    require("dask")
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_completed

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, ValueError) as err:  # it answered the probe, then not Dask
            raise SchedulerError(
                f"the Dask scheduler at {scheduler} did not accept a client ({type(err).__name__})"
            ) from None
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
