"""Atomic writes of result files and the run manifest.

Every file is written to a temporary name in its own folder, flushed to disk, then renamed
over the target (``os.replace`` is atomic on POSIX), so a reader never sees half a file and
an interrupted run leaves every earlier file intact.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd


class OutputError(OSError):
    """The output folder cannot be written. The message is meant for the user as is."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise OutputError(f"{path.parent}: cannot write results here ({err.strerror})") from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputError(f"{path}: cannot write ({err.strerror})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow", compression="zstd")
    return buf.getvalue()


def write_parquet(df: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, parquet_bytes(df))


def write_json(obj: Any, path: Path) -> None:
    text = json.dumps(_json_safe(obj), indent=2, sort_keys=False, allow_nan=False)
    atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_bytes(path, df.to_csv(index=False, float_format="%.6g").encode("utf-8"))


def _json_safe(obj: Any) -> Any:
    """JSON has no inf or NaN: both become null (the docs say what null means where)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _json_safe(obj.item())
    return obj


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def git_commit() -> str | None:
    """Commit of the source tree the package runs from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5, check=False,
    ).stdout.strip()  # fmt: skip
    return commit + ("-dirty" if dirty else "")


def environment() -> dict[str, Any]:
    versions = {}
    for pkg in ("jiefang", "mesa", "numpy", "scipy", "pandas", "pyarrow", "pydantic"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": git_commit(),
    }


def manifest(scenario, seed: int, replications: int, files: dict[str, Path], **extra) -> dict:
    return {
        "scenario": scenario.model_dump(mode="json"),
        "seed": seed,
        "replications": replications,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": environment(),
        "files": {name: {"path": p.name, "sha256": sha256(p)} for name, p in files.items()},
        **extra,
    }


class SweepStore:
    """Resumable sweep output, content-addressed by run key.

    Layout under ``root``::

        incidents/key=<key>/part.parquet   per-incident records of one run (hive-partitioned)
        runs/<key>.parquet                 one-row run record; written last, it marks the run done
        runs.parquet, points.parquet, paired.parquet, manifest.json   rebuilt at the end

    A run counts as finished only when its run record exists, and every file is written
    atomically, so a sweep killed at any moment keeps every finished run and leaves no
    partial file under a name a reader trusts (files being written start with '.', which
    Parquet dataset readers skip).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.incidents_dir = self.root / "incidents"

    def finished(self) -> set[str]:
        """Keys of runs recorded as successful."""
        if not self.runs_dir.is_dir():
            return set()
        done = set()
        for path in self.runs_dir.glob("*.parquet"):
            if path.name.startswith("."):
                continue
            status = pd.read_parquet(path, columns=["status"])["status"].iloc[0]
            if status == "ok":
                done.add(path.stem)
        return done

    def save(self, key: str, record: dict, incidents: pd.DataFrame | None) -> None:
        if incidents is not None:
            write_parquet(incidents, self.incidents_dir / f"key={key}" / "part.parquet")
        write_parquet(pd.DataFrame([record]), self.runs_dir / f"{key}.parquet")

    def records(self, keys: list[str]) -> pd.DataFrame:
        frames = [pd.read_parquet(self.runs_dir / f"{k}.parquet") for k in keys
                  if (self.runs_dir / f"{k}.parquet").exists()]  # fmt: skip
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
