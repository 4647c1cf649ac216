"""Types are part of the suite: mypy (configured in pyproject.toml, with the pydantic plugin)
must find nothing in sim/ and tools/."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_mypy_finds_nothing():
    result = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
    assert sys.version_info >= (3, 12)
