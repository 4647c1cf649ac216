"""Issue 27, hostile inputs round two: every case of tests/hostile/corpus2.py exits 2 with one
message line, no traceback, and leaves its folder byte for byte as it was; a representative
of each class also runs as a real process under a 1 GiB address-space limit; every reader of
run and sweep folders works under `ulimit -v 3000000`; and the few inputs that are defined
rather than refused (formula-like names, 0.0.0.0) do what docs/reliability.md says.
"""

from __future__ import annotations

import collections
import csv
import importlib.util
import io
import logging
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from sim.experiment import results
from sim.experiment.store import OutputError, check_made_by, formula_safe
from sim.interface.cli import main
from sim.model.config import ScenarioError
from tests.hostile.corpus import Case, materialise
from tests.hostile.corpus2 import (
    FOLDERS,
    LIBRARY,
    MEMORY,
    SMALL,
    manifest,
    results_folder,
    round_two_cases,
)
from tests.test_hostile_inputs import run_materialised

CASES = round_two_cases()
ROOT = Path(__file__).resolve().parents[1]
TIME_LIMIT_S, DASK_LIMIT_S, MEMORY_LIMIT = 10.0, 30.0, 1 << 30
GEO = all(importlib.util.find_spec(m) for m in ("rasterio", "pyproj", "networkx", "geopandas"))


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every path under ``folder`` (hidden ones too) with its bytes, or its kind."""
    seen: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        seen[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else "dir"
    return seen


def message_lines(err: str) -> list[str]:
    """stderr without argparse's usage block (which comes before its one error line)."""
    lines = err.splitlines()
    if lines and lines[0].startswith("usage:"):
        lines = lines[next(i for i, t in enumerate(lines) if t.startswith("jiefang: error:")) :]
    return [line for line in lines if line.strip()]


def assert_refused(case: Case, code, out: str, err: str) -> None:
    assert code == 2, (case.id, code, err[-2000:])
    assert "Traceback" not in err + out, err
    lines = message_lines(err)
    assert len(lines) == 1 and lines[0].startswith("jiefang: error: "), (case.id, err)
    assert "\x1b" not in err + out and len(lines[0]) < 1000, lines[0]


def test_round_two_covers_every_class():
    by_class = collections.Counter(c.cls for c in CASES)
    assert len(by_class) == 5 and min(by_class.values()) >= 3, by_class
    assert len(CASES) >= 70 and len({c.id for c in CASES}) == len(CASES), len(CASES)


def _skip_without_geo(case: Case) -> None:
    if case.name.startswith("geo-") and not GEO:
        pytest.skip("the geo extra is not installed")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_round_two_case_exits_2_and_changes_nothing(case, tmp_path, capsys, monkeypatch):
    _skip_without_geo(case)
    monkeypatch.chdir(tmp_path)
    materialise(case, tmp_path)
    before = snapshot(tmp_path)
    code, out, err, elapsed = run_materialised(case, tmp_path, capsys, monkeypatch)
    assert_refused(case, code, out, err)
    assert snapshot(tmp_path) == before  # nothing written, replaced or left behind
    assert elapsed < (DASK_LIMIT_S if "dask" in case.name else TIME_LIMIT_S), (case.id, elapsed)


#: What each message must name (the folder and its kind, the file, the address...).
NAMED = {
    "run-over-sweep": "is a `jiefang sweep` results folder; `jiefang run` replaces only its own",
    "sweep-over-run": "is a `jiefang run` results folder; `jiefang sweep` replaces only its own",
    "optimize-over-optimize": "add --force to replace them",
    "optimize-force-over-run": "is a `jiefang run` results folder",
    "run-over-damaged": "manifest.json that no jiefang command wrote (or a damaged one)",
    "geo-raster-100000x100000": "pop.tif: the raster has 100,000 x 100,000 pixels",
    "geo-points-file-65MiB-st.csv": "st.csv: the file is over 64 MiB",
    "geo-raster-local-crs-city-crs": "pop.tif: cannot transform the raster's CRS into city.crs",
    "geo-raster-residents-1e308": "pop.tif: the raster holds more than 1e+10 residents",
    "optimize-4000x4000-meus=2": "--add meus=2: needs about",
    "optimize-2000x2000-meus=2": "coverage problem: mutual/meu_team",
    "geo-graphml-engineering-crs": "roads.graphml: the network's CRS is not one pyproj knows",
    "geo-graphml-self-loops": "roads.graphml: the road network has no streets (every edge is a loop)",
    "geo-city-crs-engineering": "s.yaml: city.crs: not a CRS pyproj knows and can transform",
    "geo-city-crs-degrees-extends": "s.yaml: city.crs: expected a projected CRS in metres",
    "geo-geojson-crs-unknown-epsg": "st.geojson: the file declares a CRS that pyproj does not know",
    "replay-time-1600": "log.csv: line 2: time: expected a date and time from 1678 to 2261",
    "replay-start-1600": "incidents.replay_start: expected a date and time from 1678 to 2261",
    "dask-scheduler-gopher": "--scheduler 'gopher://x': expected 'local' or a Dask scheduler",
    "dask-scheduler-refused": "cannot reach a Dask scheduler at 127.0.0.1:",
    "path-report-300": "a folder name is longer than 255 bytes",
    "host-empty": "--host '': would listen on every interface; give --host 0.0.0.0",
    "add-twice": "--add: 'meus' given 2 times; give it once",
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_messages_name_the_problem(name, tmp_path, capsys, monkeypatch):
    case = next(c for c in CASES if c.name == name)
    _skip_without_geo(case)
    monkeypatch.chdir(tmp_path)
    materialise(case, tmp_path)
    code, _, err, _ = run_materialised(case, tmp_path, capsys, monkeypatch)
    assert code == 2 and NAMED[name] in err, err


# ---------------------------------------------------------------------------- real processes
#: One or two of every class through a real process (what a user sees in a terminal).
REPRESENTATIVE = [
    "run-over-sweep",
    "optimize-over-optimize",
    "geo-raster-100000x100000",
    "geo-raster-residents-1e308",
    "optimize-4000x4000-meus=2",
    "geo-graphml-engineering-crs",
    "geo-raster-local-crs-no-city-crs",  # GDAL printed "ERROR 6:" and the CRS as JSON
    "replay-time-1600",
    "dask-scheduler-refused",
    "path-compare-5000",
    "host-empty",
    "add-twice",
]


def _limit_memory(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def run_limited(argv: list[str], cwd: Path, limit: int, timeout: float):
    """``jiefang ARGV`` in a fresh interpreter under an address-space limit: (exit code,
    stdout, stderr, peak resident bytes, CPU seconds) of that one child (wait4)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim.interface.cli", *argv],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=err,
            preexec_fn=lambda: _limit_memory(limit),
        )
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (
            proc.returncode,
            out.read(),
            err.read(),
            usage.ru_maxrss * 1024,
            usage.ru_utime + usage.ru_stime,
        )


@pytest.mark.slow  # about 3 s each: a fresh interpreter imports numpy, pandas, the geo stack
@pytest.mark.parametrize("name", REPRESENTATIVE)
def test_representative_cases_in_a_real_process(name, tmp_path):
    """Under a 1 GiB address-space limit set by the kernel: the refusal comes before the
    memory is spent. The wall clock gets room for a loaded 2-core machine; the CPU time is
    what is held to the limit."""
    case = next(c for c in CASES if c.name == name)
    _skip_without_geo(case)
    materialise(case, tmp_path)
    before = snapshot(tmp_path)
    argv = [a.replace("{d}", str(tmp_path)) for a in case.argv]
    limit = DASK_LIMIT_S if "dask" in name else TIME_LIMIT_S
    code, out, err, peak, cpu = run_limited(argv, tmp_path, MEMORY_LIMIT, 6 * limit)
    assert_refused(case, code, out, err)
    assert snapshot(tmp_path) == before
    assert cpu < limit and peak < MEMORY_LIMIT, (cpu, peak)


# ---------------------------------------------------------------------------- readers
def test_results_are_read_in_bounded_chunks(tmp_path, monkeypatch):
    """No single read asks for more than READ_CHUNK (a read of the 2 GiB cap allocated the
    cap: MemoryError under `ulimit -v 3000000` for every reader)."""
    path = tmp_path / "t.bin"
    data = os.urandom(3 * results.READ_CHUNK + 17)
    path.write_bytes(data)
    asked: list[int] = []
    real_read = os.read

    def spy(fd: int, n: int) -> bytes:
        asked.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", spy)
    assert results.read_regular(path) == data
    assert asked and max(asked) <= results.READ_CHUNK
    # A file that grew after its size was checked: the chunks stop just past the cap.
    asked.clear()
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(results.ResultsError, match="more than the 1000 bytes"):
            results._read_bounded(fd, 1000, path)
    finally:
        os.close(fd)
    assert len(asked) == 1


@pytest.fixture(scope="module")
def shipped_examples(tmp_path_factory):
    """Two runs of scenarios/demo.yaml (seeds 0, 1) and a small sweep over it."""
    folder = tmp_path_factory.mktemp("shipped")
    demo = ROOT / "scenarios" / "demo.yaml"
    for seed in (0, 1):
        assert (
            main(
                [
                    "run",
                    str(demo),
                    "--seed",
                    str(seed),
                    "--out",
                    str(folder / f"run{seed}"),
                    "-q",
                    "--no-plot",
                ]
            )
            == 0
        )
    (folder / "w.yaml").write_text(
        f"name: tiny\nbase: {demo}\nreplications: 2\nset: {{horizon_hours: 6}}\n"
        "grid: {volunteers.acceptance: [0.3, 0.6]}\n"
    )
    assert main(["sweep", str(folder / "w.yaml"), "--out", str(folder / "sweep"), "-q"]) == 0
    return folder


@pytest.mark.slow  # five fresh interpreters drawing figures: about 30 s
@pytest.mark.parametrize(
    "command",
    [
        "report {d}/run0 --out {d}/out/r.html",
        "plot {d}/run0 --out {d}/out/rf",
        "report {d}/sweep --out {d}/out/s.html",
        "plot {d}/sweep --out {d}/out/sf",
        "compare {d}/run0 {d}/run1 --out {d}/out/c",
    ],
)
def test_readers_work_under_ulimit_v_3000000(command, shipped_examples):
    """`ulimit -v 3000000` is 3,000,000 KiB of address space."""
    argv = command.format(d=shipped_examples).split()
    code, _, err, _, _ = run_limited(argv, shipped_examples, 3_000_000 * 1024, 300)
    assert code == 0, err[-2000:]


# ---------------------------------------------------------------------------- folders
def test_each_command_replaces_only_its_own_folder(tmp_path):
    for kind in ("run", "sweep", "optimize", "compare"):
        folder = tmp_path / kind
        materialise(Case(FOLDERS, kind, results_folder(kind), []), folder)
        (folder / "out").rename(folder / "r")
        check_made_by(folder / "r", kind)  # its own: replaced (or resumed)
        for other in {"run", "sweep", "optimize"} - {kind}:
            with pytest.raises(OutputError, match=f"is a `jiefang {kind}` results folder"):
                check_made_by(folder / "r", other)
    with pytest.raises(OutputError, match="add --force"):
        check_made_by(tmp_path / "optimize" / "r", "optimize", replace=False)
    check_made_by(tmp_path / "nothing-here", "run", replace=False)  # a new folder is fine
    assert results.made_by(tmp_path / "run" / "r") == "run"
    assert manifest("damaged") and results.made_by(tmp_path) == "unknown"


# ---------------------------------------------------------------------------- view
def _listening(host: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family)
    sock.bind((host, 0))
    sock.listen()
    return sock


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_view_on_a_busy_port_is_one_line_before_any_url(host, tmp_path, capsys, monkeypatch):
    pytest.importorskip("solara")
    monkeypatch.setattr(subprocess, "Popen", _must_not_serve)
    (tmp_path / "s.yaml").write_text(SMALL)
    with _listening(host) as busy:
        started = time.perf_counter()
        code = main(
            ["view", str(tmp_path / "s.yaml"), "--host", host, "--port", str(busy.getsockname()[1])]
        )
    out, err = capsys.readouterr()
    assert code == 2 and out == ""  # no URL printed for a page that never comes
    lines = err.splitlines()
    assert lines[-1].startswith("jiefang: error: --host") and "in use" in lines[-1], err
    if host == "0.0.0.0":  # asked for by name: allowed, with a warning first
        assert len(lines) == 2 and "warning: listening on every interface" in lines[0]
    else:
        assert len(lines) == 1
    assert time.perf_counter() - started < 5


def _must_not_serve(*args, **kwargs):
    raise AssertionError("the view started a server")


# ---------------------------------------------------------------------------- CSV
def test_formula_like_cells_are_written_as_text():
    table = pd.DataFrame(
        {
            "kind": ['=HYPERLINK("http://x")', "+1+1", "-x", "@SUM(A1)", "ok", "-1.5", "\tx", None],
            "value": [-1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        }
    )
    safe = formula_safe(table)
    assert safe["kind"].tolist()[:7] == [
        '\'=HYPERLINK("http://x")',
        "'+1+1",
        "'-x",
        "'@SUM(A1)",
        "ok",
        "-1.5",
        "'\tx",
    ]
    assert safe["value"].tolist() == table["value"].tolist()  # numbers stay numbers
    assert table["kind"][0].startswith("=")  # the caller's table is left as it was


def test_a_formula_kind_reaches_summary_csv_as_text(tmp_path):
    kind = '=HYPERLINK("http://evil.example","click")'
    (tmp_path / "s.yaml").write_text(
        SMALL.replace("horizon_hours: 1", "horizon_hours: 6")
        + f"incidents: {{kinds: {{'{kind}': {{share: 1}}, ok: {{share: 1}}}}}}\n"
    )
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "s.yaml"), "--out", str(out), "-q", "--no-plot"]) == 0
    cells = [c for row in csv.reader(io.StringIO((out / "summary.csv").read_text())) for c in row]
    assert "'" + kind in cells
    risky = [c for c in cells if c[:1] in ("=", "+", "-", "@")]
    assert all(_is_number(c) for c in risky), risky
    assert kind in pd.read_parquet(out / "incidents.parquet")["kind"].unique()  # kept as written


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------- library noise
def test_library_warnings_and_log_lines_are_not_printed(tmp_path, capsys, monkeypatch):
    """A library that warns and logs (as PROJ, GDAL and shapely do through pyproj, rasterio
    and pyogrio) before the clean error leaves only the error on stderr."""

    def noisy(*args, **kwargs):
        warnings.warn("PROJ: proj_create: unrecognized format", RuntimeWarning, stacklevel=1)
        logging.getLogger("rasterio._env").warning("CPLE_AppDefined in TIFFReadDirectory")
        logging.getLogger("pyogrio._err").error("GDAL: Warning 1: bad geometry")
        raise ScenarioError("s.yaml: city.population_raster: pop.tif: cannot read the raster")

    monkeypatch.setattr("sim.geo.scenario.load_scenario", noisy)
    code = main(["run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "out"), "-q"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "jiefang: error: s.yaml: city.population_raster: pop.tif: cannot read the raster"
    ]


def test_classes_of_round_two_are_the_issues():
    names = {c.cls for c in CASES}
    assert {FOLDERS, MEMORY, LIBRARY} <= names


def test_optimize_replaces_its_own_folder_only_with_force(tmp_path, capsys):
    import yaml

    from tests.test_optimize import small

    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small(horizon_hours=6.0).model_dump(mode="json")))
    out = tmp_path / "o"
    argv = ["optimize", str(path), "--add", "meus=1", "-r", "2", "--random-arms", "0",
            "--out", str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    first = snapshot(out)
    assert main(argv) == 2
    assert "holds the results of an earlier `jiefang optimize`; add --force" in (
        capsys.readouterr().err
    )
    assert snapshot(out) == first
    assert main([*argv, "--force"]) == 0
    assert results.made_by(out) == "optimize" and (out / "placement.csv").is_file()
    run = ["run", str(out / "optimised.yaml"), "--out", str(out), "-q", "--no-plot"]
    assert main(run) == 2  # the plan's own folder is not a run's to replace
    assert "is a `jiefang optimize` results folder" in capsys.readouterr().err
