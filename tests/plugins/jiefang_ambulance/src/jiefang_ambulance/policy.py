"""A second police dispatch policy: spread the work over the units."""

from __future__ import annotations

import math
from collections import Counter


class LeastUsed:
    """The units with the fewest calls so far among those that can reach the scene, the
    nearest first among equals (ties to the lower unit id): a crew that has just had a call
    is spared the next one if another can go."""

    name = "least_used"

    def __init__(self) -> None:
        self.calls: Counter[int] = Counter()

    def choose(self, call, units):
        ids, travel = units.nearest(len(units))  # every available unit, quickest first
        reachable = [(self.calls[u], dt, u) for u, dt in zip(ids, travel, strict=True)
                     if math.isfinite(dt)]  # fmt: skip
        chosen = sorted(reachable)[: call.need]
        self.calls.update(u for _, _, u in chosen)
        return [u for _, _, u in chosen], [dt for _, dt, _ in chosen]
