"""What made a result: the source commit, the environment (Python, platform, package
versions) and the run manifest that records them with the scenario and each file's SHA-256."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from sim.files import (  # re-exported: the names sim.experiment.store always had
    sha256,
)
from sim.model.plugins import provenance


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
    versions: dict[str, str | None] = {}
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
        "plugins": provenance(scenario),
        "files": {name: {"path": p.name, "sha256": sha256(p)} for name, p in files.items()},
        **extra,
    }
