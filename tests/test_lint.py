"""Lint is part of the suite: ruff (configured in pyproject.toml) must find nothing."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_ruff_finds_nothing():
    ruff = [sys.executable, "-m", "ruff"]  # the suite's own interpreter, wherever its venv is
    result = subprocess.run(
        [*ruff, "check", "sim", "tests", "benchmarks", "tools"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    fmt = subprocess.run(
        [*ruff, "format", "--check", "sim", "tests", "benchmarks", "tools"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    assert sys.version_info >= (3, 12)
