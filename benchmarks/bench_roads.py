"""Road-network travel at city scale: a Guangzhou city day on grid travel and on streets.

    PYTHONPATH=. python benchmarks/bench_roads.py [--repeat 3] [--spacing 200]

Issue 15's target: travel on a road network keeps a city day within 3x of grid travel's
time (pre-computation allowed). The network is synthetic, of Guangzhou's size: a street node
every ``--spacing`` m over the whole 86 x 86 km grid of ``scenarios/guangzhou-2023.yaml``
(185,000 nodes and 370,000 streets at 200 m), each street 0-30 % longer than the straight
line (as winding streets are), and the river's water cells without nodes except on its
bridges. Both runs are the same scenario and seed; only ``city.roads`` differs. Times are CPU
(``time.process_time``) of building the model and running the day, each street run from cold
caches; the network's own build (reading it, KD-tree snapping) is reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from sim.geo import inputs
from sim.geo.network import graph_on_grid
from sim.geo.scenario import load_scenario
from sim.model import response
from sim.model.city import build_city
from sim.model.rng import Stream, generator
from sim.model.vocab import LandUse

ROOT = Path(__file__).resolve().parents[1]


def street_grid(city, spacing: float, seed: int = 0):
    """A jittered street grid over ``city``'s extent, with no node on water but bridges."""
    w_m, h_m = city.extent_m
    xs = np.arange(spacing / 2, w_m, spacing)
    ys = np.arange(spacing / 2, h_m, spacing)
    gx, gy = np.meshgrid(xs, ys)
    xy = np.stack([gx.ravel(), gy.ravel()], axis=1)
    col, row = city.cell_of(xy)
    wet = city.land_use[row, col] == LandUse.WATER
    nx_, ny_ = xs.size, ys.size
    idx = np.arange(nx_ * ny_).reshape(ny_, nx_)
    u = np.r_[idx[:, :-1].ravel(), idx[:-1, :].ravel()]
    v = np.r_[idx[:, 1:].ravel(), idx[1:, :].ravel()]
    keep = ~(wet[u] | wet[v])
    u, v = u[keep], v[keep]
    rng = np.random.default_rng(seed)
    length = spacing * (1 + 0.3 * rng.random(u.size))
    return graph_on_grid(xy, u, v, length, city.width, city.height, city.cell_size_m,
                         snap_m=1.5 * spacing, where="synthetic network")  # fmt: skip


def day(sc, roads) -> tuple[float, int]:
    """CPU seconds of building the model and running the day, and the incidents. With
    ``roads``, the city is built on them as from a road-network file (``roads_for``)."""
    if roads is not None:
        sc = sc.with_changes({"travel.road_network": "synthetic"})
    original = inputs.roads_for
    inputs.roads_for = lambda city, travel: roads
    try:
        started = time.process_time()
        model = response.ResponseModel(sc, seed=0)
        records = model.run()
        return time.process_time() - started, len(records)
    finally:
        inputs.roads_for = original


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each (median reported)")
    ap.add_argument("--spacing", type=float, default=200.0, help="street node spacing, m")
    ap.add_argument("--warm", action="store_true",
                    help="keep tile subgraphs and station searches between street runs "
                    "(pre-computation a run's later replications share)")  # fmt: skip
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "guangzhou-2023.yaml"))
    args = ap.parse_args(argv)
    sc = load_scenario(args.scenario)
    # The same city (river and bridges) the model builds for seed 0.
    city = build_city(sc.city, sc.police, generator(0, 0, Stream.CITY))
    started = time.process_time()
    roads = street_grid(city, args.spacing)
    built = time.process_time() - started
    print(f"network: {roads.node_xy.shape[0]:,} nodes, {roads.graph.nnz // 2:,} streets, "
          f"built in {built:.2f} s CPU")  # fmt: skip
    grid, street = [], []
    for _ in range(args.repeat):
        t, n = day(sc, None)
        grid.append(t)
        # Each street run starts cold: no memoised search, tile or kept station search
        # (a run of several replications shares them, so later replications are faster).
        roads._memo.clear()
        roads._memo_values = 0
        if not args.warm:
            roads._tiles.clear()
            roads._pinned.clear()
        t2, n2 = day(sc, roads)
        street.append(t2)
        print(f"grid {t:.2f} s ({n:,} incidents), streets {t2:.2f} s ({n2:,} incidents)")
    g, s = statistics.median(grid), statistics.median(street)
    print(f"median CPU: grid {g:.2f} s, streets {s:.2f} s, ratio {s / g:.2f} (target <= 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
