"""Sweep stores that are stale, edited, damaged or shared (issue 11, output side): a resumed
sweep gives the tables and dataset of a fresh sweep, byte for byte, and says what it
repaired; two sweeps never write one folder at once; workers die with their driver."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.experiment.batch import run_sweep
from sim.experiment.store import FolderLock, OutputError
from sim.experiment.sweep import load_sweep
from sim.interface.cli import main

BASE = """\
name: tiny
horizon_hours: 12
drain_hours: 3
replications: 1
city: {width: 12, height: 12, cell_size_m: 100.0, population: 8000, map_file: city.map}
police: {stations: 1, grids: 4, units: 1}  # on every grid: baseline is a point
incidents: {rate_per_day: 80}
"""
MAP_A = "\n".join(["." * 12] * 6 + ["C" * 12] * 6) + "\n"
MAP_B = "\n".join(["C" * 12] * 6 + ["." * 12] * 6) + "\n"


def write(folder: Path, grid: str, map_text: str = MAP_A, reps: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "city.map").write_text(map_text)
    (folder / "base.yaml").write_text(BASE)
    path = folder / "sweep.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: store
        base: base.yaml
        seed: 3
        replications: {reps}
        grid: {grid}
    """)
    )
    return path


GRID = "{police.units: [1, 3]}"


def tables(out: Path) -> dict[str, bytes]:
    """Every table a reader sees, by relative path: the sweep tables and the dataset."""
    found = {name: (out / name).read_bytes() for name in
             ("runs.parquet", "points.parquet", "paired.parquet", "marginal.parquet")}  # fmt: skip
    for part in (out / "incidents").rglob("*.parquet"):
        found[str(part.relative_to(out))] = part.read_bytes()
    return found


def fresh(path: Path) -> dict[str, bytes]:
    """The tables of the sweep file ``path`` as it is now, run afresh into a new folder (the
    same sweep file: keys hold the map's absolute path)."""
    out = path.parent / f"fresh{len(list(path.parent.glob('fresh*')))}"
    run_sweep(load_sweep(path), out)
    return tables(out)


# ---------------------------------------------------------------- class 8: edited files
@pytest.mark.slow
def test_editing_the_map_reruns_every_run(tmp_path):
    path = write(tmp_path / "s", GRID)
    out = tmp_path / "s" / "out"
    assert run_sweep(load_sweep(path), out).ran == 4
    (tmp_path / "s" / "city.map").write_text(MAP_B)  # same path, other content
    again = run_sweep(load_sweep(path), out)
    assert (again.skipped, again.ran) == (0, 4)
    assert tables(out) == fresh(path)
    assert not (out / "incidents").exists() or len(list((out / "incidents").iterdir())) == 4
    (tmp_path / "s" / "city.map").write_text(MAP_A)  # back: the first runs are reused
    back = run_sweep(load_sweep(path), out)
    assert (back.skipped, back.ran) == (4, 0)
    assert tables(out) == fresh(path)


# ---------------------------------------------------------------- class 9: the dataset
@pytest.mark.slow
def test_reordered_grid_relabels_the_dataset(tmp_path):
    path = write(tmp_path / "s", GRID)
    out = tmp_path / "s" / "out"
    run_sweep(load_sweep(path), out)
    path = write(tmp_path / "s", "{police.units: [3, 1]}")
    again = run_sweep(load_sweep(path), out)
    assert (again.skipped, again.ran) == (4, 0)
    assert tables(out) == fresh(path)
    inc = pd.read_parquet(out / "incidents")
    runs = pd.read_parquet(out / "runs.parquet")
    pairs = set(inc[["key", "point_id"]].astype(str).drop_duplicates().itertuples(index=False))
    assert pairs == set(runs[["key", "point_id"]].astype(str).itertuples(index=False))


@pytest.mark.slow
def test_changed_value_leaves_no_stale_run_in_the_dataset(tmp_path):
    path = write(tmp_path / "s", GRID)
    out = tmp_path / "s" / "out"
    run_sweep(load_sweep(path), out)
    path = write(tmp_path / "s", "{police.units: [1, 4]}")
    again = run_sweep(load_sweep(path), out)
    assert (again.skipped, again.ran) == (2, 2)
    assert tables(out) == fresh(path)
    assert set(pd.read_parquet(out / "incidents")["key"].astype(str)) == set(
        pd.read_parquet(out / "runs.parquet")["key"]
    )


# ---------------------------------------------------------------- class 10: damage
def _damage_cases():
    def truncate(path: Path, keep: int = 40) -> None:
        path.write_bytes(path.read_bytes()[:keep])

    def flip(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x55
        path.write_bytes(bytes(data))

    def first(out: Path, pattern: str) -> Path:
        return sorted(out.glob(pattern))[0]

    return {
        "truncated run record": lambda out: truncate(first(out, "runs/*.parquet")),
        "empty run record": lambda out: first(out, "runs/*.parquet").write_bytes(b""),
        "flipped run record": lambda out: flip(first(out, "runs/*.parquet")),
        "truncated partition": lambda out: truncate(first(out, "incidents/*/part.parquet")),
        "flipped partition": lambda out: flip(first(out, "incidents/*/part.parquet")),
        "missing partition": lambda out: first(out, "incidents/*/part.parquet").unlink(),
        "partition is a FIFO": lambda out: (
            first(out, "incidents/*/part.parquet").unlink(),
            os.mkfifo(first(out, "incidents/*") / "part.parquet"),
        ),
        "stray tmp files": lambda out: (
            (out / "runs" / ".x.parquet.abc123.tmp").write_bytes(b"half"),
            (first(out, "incidents/*") / ".part.parquet.zz.tmp").write_bytes(b"half"),
        ),
        "damaged tables": lambda out: truncate(out / "runs.parquet"),
    }


@pytest.mark.slow
def test_damaged_stores_are_quarantined_rerun_and_equal_a_fresh_sweep(tmp_path):
    path = write(tmp_path / "ref", GRID)
    run_sweep(load_sweep(path), tmp_path / "ref" / "out")
    want = tables(tmp_path / "ref" / "out")
    for n, (label, damage) in enumerate(_damage_cases().items()):
        out = tmp_path / f"case{n}"
        shutil.copytree(tmp_path / "ref" / "out", out)
        damage(out)
        said = []
        outcome = run_sweep(load_sweep(path), out, notice=said.append)
        assert tables(out) == want, label
        assert not list(out.rglob(".*.tmp")), label
        if label == "damaged tables" or (label.startswith("flipped") and not said):
            # Rebuilt from the stored runs. A flipped byte that leaves every value as it was
            # (in Parquet metadata the reader does not use) goes unseen and does no harm.
            assert outcome.ran == 0
        elif label == "stray tmp files":
            assert said == [f"removed 2 half-written file(s) of an interrupted sweep in {out}"]
        else:
            assert outcome.ran == 1 and len(said) == 1 and "is damaged" in said[0], (label, said)
            assert list((out / "quarantine").rglob("*")), label


@pytest.mark.slow
def test_cli_says_what_it_repaired(tmp_path):
    path = write(tmp_path / "s", GRID)
    out = tmp_path / "s" / "out"
    run_sweep(load_sweep(path), out)
    record = sorted((out / "runs").glob("*.parquet"))[0]
    record.write_bytes(record.read_bytes()[:50])
    result = subprocess.run(
        [sys.executable, "-m", "sim.interface.cli", "sweep", str(path), "--out", str(out), "-q"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"jiefang: run {record.stem} is damaged (run record unreadable)" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- kills at every write step
def _sweep_killed_at(step: int, path: Path, out: Path, workers: int) -> None:
    """In a forked child: run the sweep, SIGKILLed at its ``step``-th write step (each file
    stored and each batched sync counts), with a sync every 2 runs."""
    import sim.experiment.batch as batch
    import sim.files

    sim.files._steps = 0
    os.environ["JIEFANG_KILL_AT"] = str(step)
    batch.SYNC_EVERY_RUNS = 2
    run_sweep(load_sweep(path), out, workers=workers)
    os._exit(0)


def _kill_then_resume(tmp_path: Path, path: Path, want: dict, workers: int, step: int) -> bool:
    """Kill a sweep at ``step``, resume it here and check it against ``want``; False when
    the sweep finished before reaching ``step``."""
    import multiprocessing

    out = tmp_path / f"w{workers}-step{step}"
    child = multiprocessing.get_context("fork").Process(
        target=_sweep_killed_at, args=(step, path, out, workers)
    )
    child.start()
    child.join(120)
    if child.exitcode == 0:
        return False
    assert child.exitcode == -signal.SIGKILL, (workers, step, child.exitcode)
    stored = list((out / "runs").glob("*.parquet")) if (out / "runs").exists() else []
    resumed = run_sweep(load_sweep(path), out)
    assert resumed.skipped == len(stored), (workers, step)  # every stored run kept
    assert tables(out) == want, (workers, step)
    assert not list(out.rglob(".*.tmp")), (workers, step)
    return True


#: 6 runs x 2 files (partition, record), a sync after every 2 runs, 4 tables and the
#: manifest: 20 write steps. Step 4 is the record of run 2, 5 the sync, 6 run 3's partition.
WRITE_STEPS = 20
SIX_RUNS = "{police.units: [1, 2, 3]}"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_sigkill_around_a_batch_sync_then_resume(tmp_path):
    """Durable writes are batched (one sync per few runs): a kill just before, at or just
    after a batch's sync, or among the final tables, loses no stored run, and the resumed
    sweep equals an uninterrupted one byte for byte."""
    path = write(tmp_path / "s", SIX_RUNS, reps=2)
    want = fresh(path)
    for step in (4, 5, 6, 17):
        assert _kill_then_resume(tmp_path, path, want, 1, step)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.parametrize("workers", [1, 2])
def test_sigkill_at_every_write_step_then_resume(tmp_path, workers):
    path = write(tmp_path / "s", SIX_RUNS, reps=2)
    want = fresh(path)
    killed = [n for n in range(1, WRITE_STEPS + 2)
              if _kill_then_resume(tmp_path, path, want, workers, n)]  # fmt: skip
    assert killed == list(range(1, WRITE_STEPS + 1))  # every step, and then it finishes


# ---------------------------------------------------------------- class 12: concurrency
def test_second_sweep_into_a_locked_folder_is_refused(tmp_path, capsys):
    path = write(tmp_path / "s", GRID)
    out = tmp_path / "s" / "out"
    out.mkdir()
    with FolderLock(out / ".lock", str(out)):
        with pytest.raises(OutputError, match="another jiefang command is writing there now"):
            run_sweep(load_sweep(path), out)
        assert main(["sweep", str(path), "--out", str(out), "-q"]) == 2
        assert "another jiefang command" in capsys.readouterr().err
    assert not (out / "runs").exists()
    assert run_sweep(load_sweep(path), out).ran == 4
    assert not (out / ".lock").exists()


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat_line = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat_line.rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(entry.name))
    return kids


def _is_worker(pid: int, driver_cmdline: bytes) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return cmdline == driver_cmdline or b"spawn_main" in cmdline


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forks")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_workers_do_not_hold_the_folder_lock(tmp_path):
    import multiprocessing

    lock = FolderLock(tmp_path / ".lock", "out").__enter__()
    fork = multiprocessing.get_context("fork")
    running = fork.Event()
    worker = fork.Process(target=lambda: (running.set(), time.sleep(60)))
    worker.start()  # a sweep worker, forked while the driver holds the lock
    try:
        assert running.wait(30)
        os.close(lock.fd)  # the driver dies (SIGKILL: its descriptors close, the file stays)
        with FolderLock(tmp_path / ".lock", "out"):  # the resumed sweep gets the folder
            pass
    finally:
        worker.kill()
        worker.join()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited, only not yet been reaped


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_the_driver(tmp_path):
    body = GRID.replace("[1, 3]", "[1, 2, 3, 4]")
    path = write(tmp_path / "s", body, reps=4)
    (tmp_path / "s" / "base.yaml").write_text(
        BASE.replace("horizon_hours: 12", "horizon_hours: 400")
    )
    driver = subprocess.Popen(
        [sys.executable, "-m", "sim.interface.cli", "sweep", str(path), "--out", str(tmp_path / "o"),
         "-q", "--workers", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    workers: list[int] = []
    while time.monotonic() < deadline and len(workers) < 2:
        # Workers are forked from the driver (its command line) or spawned (spawn_main).
        own = Path(f"/proc/{driver.pid}/cmdline").read_bytes()
        workers = [k for k in _children(driver.pid) if _is_worker(k, own)]
        time.sleep(0.1)
    assert len(workers) == 2, "the workers did not start"
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    alive = [w for w in workers if _alive(w)]
    for w in alive:  # clean up before failing
        os.kill(w, signal.SIGKILL)
    assert not alive, "workers outlived their driver"


# ---------------------------------------------------------------- class 12: the view
@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_view_server_stops_with_jiefang_view(how):
    import importlib.util
    import socket
    import urllib.request

    if importlib.util.find_spec("solara") is None:
        pytest.skip("needs the viz extra")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.interface.cli", "view", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"

    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not answers():
            time.sleep(0.5)
        assert answers(), "the view server did not start"
        os.kill(proc.pid, getattr(signal, how))  # the jiefang process only, not its group
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and answers():
            time.sleep(0.5)
        assert not answers(), f"the server still answers after {how} to jiefang view"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


# ---------------------------------------------------------------- class 5: sweep folders
@pytest.mark.slow
def test_sweep_folders_that_cannot_be_drawn_exit_2(tmp_path, monkeypatch, capsys):
    import json

    import sim.experiment.executors

    path = write(tmp_path / "s", GRID)
    good = tmp_path / "good"
    run_sweep(load_sweep(path), good)

    def broken(*a, **k):
        raise RuntimeError("boom")

    with monkeypatch.context() as m:
        m.setattr(sim.experiment.executors, "run_one", broken)
        outcome = run_sweep(load_sweep(path), tmp_path / "failed")
    assert outcome.failed == 4

    def copy(name: str) -> Path:
        shutil.copytree(good, tmp_path / name)
        return tmp_path / name

    bad_points = copy("bad-points")
    (bad_points / "points.parquet").write_bytes(b"PAR1")
    bad_spec = copy("bad-spec")
    meta = json.loads((bad_spec / "manifest.json").read_text())
    meta["sweep"]["grid"] = "not a mapping"
    (bad_spec / "manifest.json").write_text(json.dumps(meta))
    cases = {
        tmp_path / "failed": "no finished runs (4 failed in the last sweep",
        bad_points: "points.parquet: does not match the SHA-256",
        bad_spec: "sweep: expected name, grid and lhs",
    }
    for folder, message in cases.items():
        for command in (["plot", str(folder)], ["report", str(folder)]):
            assert main(command) == 2, (folder, command)
            err = capsys.readouterr().err
            assert message in err and err.count("\n") == 1, err
    assert main(["compare", str(good), str(good)]) == 2
    assert "compare needs two `jiefang run` results folders" in capsys.readouterr().err
    assert main(["report", str(good)]) == 0  # the undamaged sweep still reports
