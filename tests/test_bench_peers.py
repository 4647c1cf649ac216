"""benchmarks/bench_peers.py: its M/M/c is the validated one, and its Erlang C checks run
(a tiny case; the benchmark itself is timed by hand, never here)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from tests.conftest import ROOT
from tests.validation.cases import MEAN_SERVICE_S, queue_scenario


@pytest.fixture(scope="module")
def bench():
    path = ROOT / "benchmarks" / "bench_peers.py"
    spec = importlib.util.spec_from_file_location("bench_peers", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_peers"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bench_peers", None)


def test_the_benchmark_queue_is_the_validated_construction(bench):
    q = bench.Queue(10, 0.8, 5000)
    ours = bench.mmc_scenario(q).model_dump()
    theirs = queue_scenario(q.units, q.lam, MEAN_SERVICE_S, q.horizon_s / 3600).model_dump()
    for key in ("name", "drain_hours"):  # the benchmark stops every simulator at the horizon
        ours.pop(key), theirs.pop(key)
    assert ours == theirs


# Waits at rho 0.8 are autocorrelated over hundreds of calls: batch means need ~20,000 calls
# (about 1 s of CPU for jiefang) to be honest intervals; at rho 1.1 a few thousand suffice.
@pytest.mark.slow
@pytest.mark.parametrize(("rho", "calls"), [(0.8, 20_000), (1.1, 4_000)])
def test_theory_checks_run_and_pass_on_a_small_queue(bench, rho, calls):
    names = ["jiefang", "heapq"]
    names += [n for n in ("simpy", "ciw") if importlib.util.find_spec(n)]
    rows = bench.measure(bench.Queue(10, rho, calls), names, repeat=1)  # raises on a failure
    for name in names:
        (row,) = rows[name]
        assert row["calls"] > 0.9 * calls and row["cpu_s"] > 0
        assert len(row["checks"]) == 2
