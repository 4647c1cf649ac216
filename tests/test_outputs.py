"""Where results go (issue 11, output side): never over a device, FIFO or link, never outside
the output folder, a run folder whole or not at all, and results folders read only after
they verify against their manifest."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.experiment.results import ResultsError, open_run
from sim.experiment.store import FolderLock, OutputError, RunFolder, atomic_write_bytes, safe_name
from sim.interface.cli import main

TINY = """\
name: {name}
horizon_hours: 12
drain_hours: 4
replications: 1
city: {{width: 12, height: 12, cell_size_m: 100.0, population: 8000}}
police: {{stations: 1, grids: 4, units: 2}}
incidents: {{rate_per_day: {rate}}}
"""


def tiny(folder: Path, name: str = "tiny", rate: float = 60.0) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(TINY.format(name=json.dumps(name), rate=rate), encoding="utf-8")
    return path


def jiefang(*args: str, env: dict | None = None, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "sim.interface.cli", *args], capture_output=True, text=True, timeout=120,
        env={**os.environ, **(env or {})}, cwd=cwd,
    )  # fmt: skip


def tree(root: Path) -> dict[str, bytes | str]:
    """Every path under root with its bytes (files) or kind, links not followed."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = os.lstat(p)
            key = str(p.relative_to(root))
            if stat.S_ISREG(st.st_mode):
                out[key] = p.read_bytes()
            elif stat.S_ISLNK(st.st_mode):
                out[key] = "link->" + os.readlink(p)
            else:
                out[key] = f"mode {stat.S_IFMT(st.st_mode):o}"
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    out = root / "run"
    assert main(["run", str(tiny(root)), "-q", "--no-plot", "--out", str(out)]) == 0
    return out


def specials(folder: Path) -> dict[str, Path]:
    """A FIFO, a link to a file, a link to /dev/null and (as root) a character device."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    os.mkfifo(folder / "fifo")
    made["fifo"] = folder / "fifo"
    (folder / "precious.txt").write_text("keep me")
    os.symlink(folder / "precious.txt", folder / "link")
    made["link"] = folder / "link"
    os.symlink("/dev/null", folder / "devnull")
    made["devnull"] = folder / "devnull"
    if os.geteuid() == 0:
        os.mknod(folder / "chardev", 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null
        made["chardev"] = folder / "chardev"
    return made


# ---------------------------------------------------------------- class 3: special files
@pytest.mark.slow
def test_no_special_file_is_ever_replaced(run_dir, tmp_path, capsys):
    targets = specials(tmp_path / "private")
    before = tree(tmp_path / "private")
    for kind, target in targets.items():
        for args in (
            ["report", str(run_dir), "--out", str(target)],
            ["run", str(tiny(tmp_path)), "-q", "--no-plot", "--out", str(target)],
            ["plot", str(run_dir), "--out", str(target)],
            ["compare", str(run_dir), str(run_dir), "--out", str(target)],
        ):
            assert main(args) == 2, (kind, args[0])
            err = capsys.readouterr().err
            assert err.startswith("jiefang: error: ") and err.count("\n") == 1, err
            assert str(target) in err
        with pytest.raises(OutputError, match="refusing to replace"):
            atomic_write_bytes(target, b"x")
    assert tree(tmp_path / "private") == before  # same kinds, same links, same bytes
    assert not [p for p in (tmp_path / "private").iterdir() if p.name.startswith(".")]


def test_dev_full_is_refused_by_report(run_dir, capsys):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    before = os.lstat("/dev/full")
    assert main(["report", str(run_dir), "--out", "/dev/full"]) == 2
    assert "is a character device; refusing to replace it" in capsys.readouterr().err
    after = os.lstat("/dev/full")
    assert (after.st_mode, after.st_rdev, after.st_ino) == (before.st_mode, before.st_rdev,
                                                            before.st_ino)  # fmt: skip


def test_special_files_inside_a_results_folder_are_neither_read_nor_replaced(run_dir, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(run_dir, folder)
    os.symlink(tmp_path, folder / "figures")  # plot's default output: a link elsewhere
    assert main(["plot", str(folder)]) == 2
    assert not list(tmp_path.glob("*.png"))
    os.symlink("/dev/null", folder / "report.html")
    assert main(["report", str(folder)]) == 2
    assert os.readlink(folder / "report.html") == "/dev/null"
    (folder / "summary.csv").unlink()
    os.mkfifo(folder / "summary.csv")  # a FIFO would hang a reader that opened it
    started = time.monotonic()
    with pytest.raises(ResultsError, match=r"summary\.csv: not a regular file"):
        open_run(folder)
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- class 4: names
@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("demo", "demo"),
        ("/abs/path", "abs-path"),
        ("../../x", "x"),
        ("..", "unnamed"),
        (".hidden", "hidden"),
        ("a b/c\\d", "a-b-c-d"),
        ("广州 天河", "广州-天河"),
        ("x" * 300, "x" * 80),
        ("nul\0byte", "nul-byte"),
    ],
)
def test_safe_name(name, slug):
    assert safe_name(name) == slug


@pytest.mark.slow
@pytest.mark.parametrize("name", ["/abs/path/evil", "../../escaped", "..", "a/../../b"])
def test_scenario_name_never_steers_output_outside_results(tmp_path, monkeypatch, name):
    work = tmp_path / "work"
    work.mkdir()
    name = name.replace("/abs", str(tmp_path / "abs"))  # a private absolute path
    scenario = tiny(tmp_path, name=name)
    before = tree(tmp_path)
    monkeypatch.chdir(work)
    assert main(["run", str(scenario), "-q", "--no-plot"]) == 0
    changed = {k for k, v in tree(tmp_path).items() if before.get(k) != v}
    assert changed and all(k == "work/results" or k.startswith("work/results/") for k in changed)
    (folder,) = (work / "results").iterdir()
    assert folder.name == safe_name(name)
    manifest = json.loads((folder / "seed-0" / "manifest.json").read_text())
    assert manifest["scenario"]["name"] == name  # the manifest keeps the name as written


# ---------------------------------------------------------------- class 13: unwritable out
def test_unwritable_out_is_found_before_simulating(tmp_path, monkeypatch, capsys):
    import sim.experiment.runner

    def never(*a, **k):
        raise AssertionError("simulated although the output folder cannot be written")

    monkeypatch.setattr(sim.experiment.runner, "run_replications", never)
    monkeypatch.setattr(sim.experiment.runner, "stream_replications", never)
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file" / "sub", tmp_path / "file"):
        assert main(["run", str(tiny(tmp_path)), "-q", "--out", str(out)]) == 2
        assert "cannot write results" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(empty)
    for out in ("", ".", str(empty)):  # never the folder we are in, even when empty
        assert main(["run", str(tiny(tmp_path)), "-q", "--out", out]) == 2
        assert "is the current folder" in capsys.readouterr().err
    assert empty.is_dir() and not list(empty.iterdir())
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["run", str(tiny(tmp_path)), "-q", "--out", str(tmp_path / "other")]) == 2
    assert "not a `jiefang run` results folder" in capsys.readouterr().err
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


def test_a_folder_being_written_is_locked(tmp_path, capsys):
    out = tmp_path / "run"
    with RunFolder(out):
        assert main(["run", str(tiny(tmp_path)), "-q", "--no-plot", "--out", str(out)]) == 2
        assert "another jiefang command is writing there now" in capsys.readouterr().err
    assert out.is_dir() and not list(out.iterdir())  # the block wrote nothing: empty run
    assert main(["run", str(tiny(tmp_path)), "-q", "--no-plot", "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "tiny.yaml"]  # no leftovers


def test_lock_is_exclusive_across_threads_and_removed(tmp_path):
    path = tmp_path / ".lock"
    wins = []

    def take():
        try:
            with FolderLock(path, "x"):
                wins.append(1)
                time.sleep(0.2)
        except OutputError:
            wins.append(0)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [0, 0, 0, 1] and not path.exists()


# ---------------------------------------------------------------- class 11: whole folders
def manifest_state(folder: Path) -> tuple[int, dict[str, bytes]] | None:
    """(seed, files) when ``folder`` is one complete run: its files are exactly those of
    its manifest, each with the recorded hash; None when it is not."""
    try:
        meta = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    listed = {e["path"]: e["sha256"] for e in meta["files"].values()}
    present = {p.name for p in folder.iterdir()} - {"manifest.json"}
    if present != set(listed):
        return None
    files = {name: (folder / name).read_bytes() for name in listed}
    if any(hashlib.sha256(files[n]).hexdigest() != h for n, h in listed.items()):
        return None
    return meta["seed"], files


@pytest.mark.slow
def test_rerun_replaces_the_whole_folder(tmp_path):
    sc = tiny(tmp_path)
    out = tmp_path / "run"
    assert main(["run", str(sc), "-q", "--seed", "1", "--out", str(out)]) == 0
    (out / "report.html").write_text("old report")
    assert main(["run", str(sc), "-q", "--seed", "2", "--no-plot", "--out", str(out)]) == 0
    seed, files = manifest_state(out)
    assert seed == 2 and "response_ecdf.png" not in files  # nothing of the old run is left
    assert not (out / "report.html").exists()


def test_report_refuses_files_that_do_not_match_the_manifest(run_dir, tmp_path, capsys):
    import shutil

    folder = tmp_path / "mixed"
    shutil.copytree(run_dir, folder)
    other = tmp_path / "other"
    assert main(["run", str(tiny(tmp_path)), "-q", "--seed", "9", "--no-plot", "--out",
                 str(other)]) == 0  # fmt: skip
    shutil.copy(other / "incidents.parquet", folder / "incidents.parquet")  # new beside old
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "incidents.parquet: does not match the SHA-256 in manifest.json" in err
    assert not (folder / "report.html").exists()


def _kill_run_at(tmp_path: Path, sc: Path, out: Path, env: dict) -> None:
    result = jiefang("run", str(sc), "-q", "--seed", "2", "--out", str(out), env=env)
    assert result.returncode in (0, -9), result.stderr


def _assert_old_or_new(out: Path, old: dict, new: dict) -> str:
    state = manifest_state(out)
    assert state is not None, f"{out} is not one complete run: {sorted(os.listdir(out))}"
    seed, files = state
    assert files == (old if seed == 1 else new)  # byte for byte the old or the new run
    assert main(["report", str(out), "--out", str(out.parent / "r.html")]) == 0
    return "old" if seed == 1 else "new"


@pytest.fixture(scope="module")
def old_and_new(tmp_path_factory):
    root = tmp_path_factory.mktemp("kills")
    sc = tiny(root, rate=120.0)
    for seed in (1, 2):
        assert main(["run", str(sc), "-q", "--seed", str(seed), "--out",
                     str(root / f"seed{seed}")]) == 0  # fmt: skip
    return sc, manifest_state(root / "seed1")[1], manifest_state(root / "seed2")[1]


def _prepared(tmp_path: Path, old_and_new) -> Path:
    sc = old_and_new[0]
    out = tmp_path / "run"
    assert main(["run", str(sc), "-q", "--seed", "1", "--out", str(out)]) == 0
    return out


#: Files a tiny run writes before its folder is swapped in: the records, layouts, summary,
#: figure and manifest (8) and the five breakdown tables (issue 25).
FILES_WRITTEN = 8 + 5


@pytest.mark.slow
@pytest.mark.parametrize("step", [FILES_WRITTEN + 1, FILES_WRITTEN + 2, FILES_WRITTEN + 3])
def test_sigkill_at_the_swap_leaves_old_or_new_run(tmp_path, old_and_new, step):
    """The steps around the swap (staged, swapped, committed); every step is in the slow test."""
    sc, old, new = old_and_new
    out = _prepared(tmp_path, old_and_new)
    _kill_run_at(tmp_path, sc, out, {"JIEFANG_KILL_AT": str(step)})
    _assert_old_or_new(out, old, new)
    assert main(["run", str(sc), "-q", "--seed", "2", "--out", str(out)]) == 0  # recovers
    assert _assert_old_or_new(out, old, new) == "new"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "r.html") == ["run"]


@pytest.mark.slow
def test_sigkill_at_every_step_and_at_random_moments(tmp_path, old_and_new):
    import random

    sc, old, new = old_and_new
    outcomes = []
    # The files, then staged, swapped, committed; two more steps: it runs through.
    for step in range(1, FILES_WRITTEN + 6):
        case = tmp_path / f"step{step}"
        case.mkdir()
        out = _prepared(case, old_and_new)
        _kill_run_at(case, sc, out, {"JIEFANG_KILL_AT": str(step)})
        outcomes.append(_assert_old_or_new(out, old, new))
    assert outcomes == ["old"] * (FILES_WRITTEN + 1) + ["new"] * 4
    rng = random.Random(11)
    for n in range(8):
        case = tmp_path / f"random{n}"
        case.mkdir()
        out = _prepared(case, old_and_new)
        proc = subprocess.Popen(
            [sys.executable, "-m", "sim.interface.cli", "run", str(sc), "-q", "--seed", "2", "--out",
             str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(1.0, 4.0))
        proc.kill()
        proc.wait()
        outcomes.append(_assert_old_or_new(out, old, new))
    assert len(outcomes) == FILES_WRITTEN + 5 + 8  # every step, then the random kills


# ---------------------------------------------------------------- class 5: results folders
def _damaged(run_dir: Path, tmp_path: Path):
    """(label, prepare(folder), expected message) for damaged or foreign results folders."""
    import shutil

    def trunc(name, keep):
        def f(d):
            data = (d / name).read_bytes()
            (d / name).write_bytes(data[:keep])

        return f

    def manifest(text):
        return lambda d: (d / "manifest.json").write_text(text)

    def edit_manifest(fn):
        def f(d):
            meta = json.loads((d / "manifest.json").read_text())
            fn(meta)
            (d / "manifest.json").write_text(json.dumps(meta))

        return f

    def rehash(d, name):
        meta = json.loads((d / "manifest.json").read_text())
        for entry in meta["files"].values():
            if entry["path"] == name:
                entry["sha256"] = hashlib.sha256((d / name).read_bytes()).hexdigest()
        (d / "manifest.json").write_text(json.dumps(meta))

    def trunc_rehashed(d):
        trunc("incidents.parquet", 100)(d)
        rehash(d, "incidents.parquet")

    def empty_rehashed(d):
        (d / "incidents.parquet").write_bytes(b"")
        rehash(d, "incidents.parquet")

    def other_table(d):
        pd.DataFrame({"a": [1]}).to_parquet(d / "incidents.parquet")
        rehash(d, "incidents.parquet")

    return [
        ("truncated incidents", trunc("incidents.parquet", 500), "does not match the SHA-256"),
        ("truncated, rehashed", trunc_rehashed, "not a readable Parquet table"),
        ("empty, rehashed", empty_rehashed, "incidents.parquet: empty file"),
        ("other table", other_table, "missing columns"),
        ("empty manifest", manifest(""), "manifest.json: not valid JSON"),
        ("binary manifest", lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe\0"),
         "not valid JSON"),
        ("manifest list", manifest("[1, 2]"), "expected a JSON object"),
        ("other tool", manifest('{"tool": "x"}'), "not a jiefang manifest"),
        ("no manifest", lambda d: (d / "manifest.json").unlink(), "no manifest.json"),
        ("missing incidents", lambda d: (d / "incidents.parquet").unlink(),
         "incidents.parquet: missing"),
        ("escaping path", edit_manifest(lambda m: m["files"]["incidents"].update(
            path="../../etc/passwd")), "files.incidents.path: expected a file name"),
        ("bad hash", edit_manifest(lambda m: m["files"]["incidents"].update(sha256="zz")),
         "expected 64 hex digits"),
        ("files not a mapping", edit_manifest(lambda m: m.update(files=[1])), "not a jiefang"),
        ("seed string", edit_manifest(lambda m: m.update(seed="1")), "seed: expected a whole"),
        ("no summary entry", edit_manifest(lambda m: m["files"].pop("summary_table")),
         "no summary_table entry"),
        ("truncated summary", trunc("summary.csv", 10), "summary.csv: does not match"),
        ("huge file", lambda d: os.truncate(d / "assignments.parquet", 3 * 1024**3),
         "more than the"),
        ("folder is a file", lambda d: (shutil.rmtree(d), d.write_text("x")),
         "no such results folder"),
    ]  # fmt: skip


def test_damaged_results_folders_exit_2_with_one_message(run_dir, tmp_path, capsys):
    import shutil

    cases = _damaged(run_dir, tmp_path)
    handled = 0
    for n, (label, prepare, message) in enumerate(cases):
        folder = tmp_path / f"case{n}"
        shutil.copytree(run_dir, folder)
        prepare(folder)
        for command in (["report", str(folder), "--out", str(tmp_path / "r.html")],
                        ["plot", str(folder), "--out", str(tmp_path / "figs")],
                        ["compare", str(folder), str(run_dir), "--out", str(tmp_path / "c")]):  # fmt: skip
            assert main(command) == 2, (label, command[0])
            err = capsys.readouterr().err
            assert message in err and err.count("\n") == 1, (label, command[0], err)
            assert "Traceback" not in err
        handled += 1
    assert handled == len(cases)
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "figs").exists()


def test_a_run_with_no_incidents_is_a_clear_message(tmp_path, capsys):
    out = tmp_path / "quiet"
    assert main(["run", str(tiny(tmp_path, rate=0.0)), "-q", "--no-plot", "--out", str(out)]) == 0
    for command in (["report", str(out)], ["plot", str(out)]):
        assert main(command) == 2
        assert "no incidents after the warm-up" in capsys.readouterr().err
