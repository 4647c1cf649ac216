"""Soak at city scale: after the first day, memory grows only by the records the run keeps."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


def test_city_memory_is_flat_after_warm_up_apart_from_records():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from soak import soak

    result = soak(days=2.0)
    samples = {round(day, 2): (mb, inc, asg) for day, mb, inc, asg in result["samples"]}
    mb1, inc1, asg1 = samples[1.0]
    mb2, inc2, asg2 = samples[2.0]
    # A record costs about 250 bytes (a tuple of six fields and their floats); allow four times
    # that per new record before calling the growth a leak.
    allowance_mb = 4 * 250 * ((asg2 - asg1) + (inc2 - inc1)) / 2**20
    assert mb2 - mb1 <= allowance_mb, (mb1, mb2, allowance_mb)
    assert inc2 > inc1 > 0
