"""Travel on a road network: shortest paths between grid positions along real streets.

A :class:`RoadNetwork` holds the street graph in grid metres (read by :mod:`sim.geo.network`
while the city is built; the model itself reads no file). A position reaches the network at
the node nearest its cell's centre (a KD-tree, once per cell), walking or driving the straight
*access leg* from the position to that node at the mode's speed. The trip length is

    access(a) + path(node(a), node(b)) + access(b)

with ``path`` the shortest path on the graph (``scipy.sparse.csgraph.dijkstra``). Two
positions whose cells share one node are a straight line apart. Every edge is at least as
long as the straight line between its nodes, so a trip is never shorter than the straight
line: the model's straight-line pre-filters (MEU coverage, volunteer alert radius) stay exact.

Water and bridges come from the data: the graph crosses water only where a street (a bridge)
does. A cell with no node within ``snap_m`` of its centre is off the network: every trip to
or from it is unreachable (``inf``).

Paths are searched from the destination's node with a length limit (the search radius) and
memoised per node: a trip longer than the limit is searched again without one when it is
asked for exactly. Only numpy and scipy are used here (no extra needed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree


def _dijkstra(graph: csr_matrix, **options):
    """``scipy.sparse.csgraph.dijkstra(graph, **options)``, its module imported at the first
    search: 15 ms that a run on a city without streets, and every import of the model, do
    without."""
    from scipy.sparse.csgraph import dijkstra

    return dijkstra(graph, **options)


#: Every search reaches at least this far, m: one search from a scene then serves the police
#: search, the MEU and volunteer trips and the way home (each asks a little less), and a
#: search's fixed cost (scipy's per-call set-up over all nodes) is paid once per scene.
MIN_SEARCH_M = 4000.0
#: Above this many nodes, short searches run on a tile's subgraph (see ``_tile``).
TILED_NODES = 20_000
#: Radius of the search kept from each police station (for the units' ways home), m.
HOME_SEARCH_M = 16_000.0
#: Path lengths remembered at most (summed over the memoised searches; about 16 B each).
MEMO_VALUES = 4_000_000


def kth_smallest(values: np.ndarray, k: int) -> float:
    """The k-th smallest of ``values`` (1-based, counting repeats): ``np.partition``'s
    value, found by k minimum scans for the small k of a dispatch (a partition of a fleet's
    1,700 times costs more than a few scans)."""
    if k > 4:
        return float(np.partition(values, k - 1)[k - 1])
    if k > 1:
        values = values.copy()
        for _ in range(k - 1):
            values[values.argmin()] = np.inf
    return float(values.min())


def quickest(time: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` smallest ``time``, ties to the lower ``ids``, in that order:
    ``np.lexsort((ids, time))[:n]``, sorting only the times up to the n-th smallest."""
    if 0 < n < time.size:
        cand = np.flatnonzero(time <= kth_smallest(time, n))
        return cand[np.lexsort((ids[cand], time[cand]))][:n]
    return np.lexsort((ids, time))[:n]


@dataclass(eq=False)
class RoadNetwork:
    """A street graph snapped onto a city grid.

    Args:
        node_xy: (n_nodes, 2) node positions in grid metres (x east, y south).
        graph: (n_nodes, n_nodes) sparse matrix of edge lengths, m; symmetric (streets are
            travelled both ways by every mode).
        width: grid width, cells.
        height: grid height, cells.
        cell_size_m: side of a cell, m.
        snap_m: a cell whose centre has no node this near is off the network, m.
        source: the file it was read from (for messages).
    """

    node_xy: np.ndarray
    graph: csr_matrix
    width: int
    height: int
    cell_size_m: float
    snap_m: float
    source: str = "road network"
    cell_node: np.ndarray = field(init=False)  # (height*width,) nearest node, -1: off network
    _memo: dict[int, tuple[float, np.ndarray, np.ndarray]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.node_xy.shape[0] == 0:
            raise ValueError(f"{self.source}: the road network has no nodes")
        s = self.cell_size_m
        cols, rows = np.meshgrid(np.arange(self.width), np.arange(self.height))
        centres = np.stack([(cols.ravel() + 0.5) * s, (rows.ravel() + 0.5) * s], axis=1)
        gap, node = cKDTree(self.node_xy).query(centres)
        self.cell_node = np.where(gap <= self.snap_m, node, -1).astype(np.int64)
        self._memo = {}
        self._memo_values = 0
        self._scratch = np.full(self.node_xy.shape[0] + 1, np.inf)  # see _lookup
        self._local: np.ndarray | None = None  # see _subgraph
        self._tiles: dict[tuple[int, int], tuple[np.ndarray, csr_matrix]] = {}
        self._pinned: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._by_tile: tuple[np.ndarray, np.ndarray, int, int, int] | None = None

    # ------------------------------------------------------------------ snapping
    @property
    def on_network(self) -> np.ndarray:
        """(height, width) bool: the cell reaches the network."""
        return (self.cell_node >= 0).reshape(self.height, self.width)

    def snap(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(node, access leg in m) of each position; node -1 and inf off the network."""
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if xy.shape[0] == 1:  # one position (a scene): the same arithmetic, in plain Python
            one, leg = self._snap_one(float(xy[0, 0]), float(xy[0, 1]))
            return np.array([one], np.int64), np.array([leg])
        inv = 1.0 / self.cell_size_m
        col = np.clip((xy[:, 0] * inv).astype(np.int64), 0, self.width - 1)
        row = np.clip((xy[:, 1] * inv).astype(np.int64), 0, self.height - 1)
        node = self.cell_node[row * self.width + col]
        ok = node >= 0
        at = self.node_xy[np.where(ok, node, 0)]
        access = np.where(ok, np.hypot(xy[:, 0] - at[:, 0], xy[:, 1] - at[:, 1]), np.inf)
        return node, access

    # ------------------------------------------------------------------ paths
    def paths_from(
        self, node: int, limit: float = math.inf
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """(radius searched, nodes within it ascending, their path lengths in m) from
        ``node``: every node within ``limit`` m (the radius is at least that); memoised, a
        search with a larger radius serving smaller ones."""
        got = self._memo.get(node)
        if got is not None and got[0] >= limit:
            return got
        limit = max(limit, MIN_SEARCH_M)
        if limit <= MIN_SEARCH_M and self.node_xy.shape[0] > TILED_NODES:
            # A path of length L stays within L (straight line) of its start: the search
            # runs on the tile's subgraph, which holds every node that near, at a fraction
            # of a whole-graph search's set-up (scipy's is over all nodes).
            nodes, sub, local = self._tile(node)
            d = _dijkstra(sub, directed=True, indices=local, limit=limit)
            hit = np.flatnonzero(np.isfinite(d))
            reached, length = nodes[hit], d[hit]
        else:
            # The graph holds both directions: a directed search spares scipy a transposed
            # copy.
            d = _dijkstra(self.graph, directed=True, indices=node, limit=limit)
            reached = np.flatnonzero(np.isfinite(d))
            length = d[reached]
        out = (float(limit), reached, length)
        if got is not None:
            self._memo_values -= self._memo.pop(node)[1].size
        while self._memo and self._memo_values + reached.size > MEMO_VALUES:
            oldest = next(iter(self._memo))  # forget the oldest search (insertion order)
            self._memo_values -= self._memo.pop(oldest)[1].size
        self._memo[node] = out
        self._memo_values += reached.size
        return out

    def home_distance(self, home: np.ndarray, at: np.ndarray) -> float:
        """Trip length from ``at`` (2,) to ``home`` (2,), m, exact: read from ``home``'s
        search within HOME_SEARCH_M (kept for good: homes are the few police stations), or
        searched from ``at`` when longer."""
        hx, hy = float(home[0]), float(home[1])
        ax, ay = float(at[0]), float(at[1])
        h_node, h_access = self._snap_one(hx, hy)
        at_node, at_access = self._snap_one(ax, ay)
        if h_node < 0 or at_node < 0:
            return math.inf
        if h_node == at_node:
            return math.hypot(hx - ax, hy - ay)
        got = self._pinned.get(h_node)
        if got is None:
            d = _dijkstra(self.graph, directed=True, indices=h_node, limit=HOME_SEARCH_M)
            reached = np.flatnonzero(np.isfinite(d))
            got = self._pinned[h_node] = (reached, d[reached])
        reached, length = got
        k = int(np.searchsorted(reached, at_node))
        if k < reached.size and reached[k] == at_node:
            return at_access + float(length[k]) + h_access
        # Farther than the kept search: an exact search from the scene.
        return float(self.exact_distances_to(home, np.asarray(at).reshape(1, 2), MIN_SEARCH_M)[0])

    def _snap_one(self, x: float, y: float) -> tuple[int, float]:
        """:meth:`snap` for one position, in plain Python (the same arithmetic)."""
        inv = 1.0 / self.cell_size_m
        col = min(max(int(x * inv), 0), self.width - 1)
        row = min(max(int(y * inv), 0), self.height - 1)
        node = int(self.cell_node[row * self.width + col])
        if node < 0:
            return -1, math.inf
        nx_, ny_ = self.node_xy[node]
        return node, float(np.hypot(x - nx_, y - ny_))

    def _tile(self, node: int) -> tuple[np.ndarray, csr_matrix, int]:
        """(global ids ascending, subgraph, the node's local id) of the square tile of side
        MIN_SEARCH_M holding ``node``, widened by MIN_SEARCH_M on every side; built once."""
        x, y = self.node_xy[node]
        key = (int(x // MIN_SEARCH_M), int(y // MIN_SEARCH_M))
        got = self._tiles.get(key)
        if got is None:
            if self._by_tile is None:  # nodes sorted by tile, once: a tile's are 9 ranges
                kx = (self.node_xy[:, 0] // MIN_SEARCH_M).astype(np.int64)
                ky = (self.node_xy[:, 1] // MIN_SEARCH_M).astype(np.int64)
                code = (kx - kx.min()) * (int(ky.max() - ky.min()) + 3) + (ky - ky.min())
                order = np.argsort(code, kind="stable")
                self._by_tile = (order, code[order], int(kx.min()), int(ky.min()),
                                 int(ky.max() - ky.min()) + 3)  # fmt: skip
            order, codes, kx0, ky0, span = self._by_tile
            parts = []
            for dx in (-1, 0, 1):
                base = (key[0] + dx - kx0) * span + (key[1] - ky0)
                lo = np.searchsorted(codes, base - 1)
                hi = np.searchsorted(codes, base + 2)
                parts.append(order[lo:hi])
            # Every node within MIN_SEARCH_M of the tile lies in the 3 x 3 tiles around it.
            nodes = np.sort(np.concatenate(parts))
            got = self._tiles[key] = (nodes, self._subgraph(nodes))
        nodes, sub = got
        return nodes, sub, int(np.searchsorted(nodes, node))

    def _subgraph(self, nodes: np.ndarray) -> csr_matrix:
        """The graph's streets between ``nodes`` (global ids ascending), in local ids: read
        straight from the CSR arrays (rows in order, each row's columns still sorted)."""
        g = self.graph
        if self._local is None:  # global id -> local id of the subgraph being built, else -1
            self._local = np.full(self.node_xy.shape[0], -1, g.indices.dtype)
        local = self._local
        local[nodes] = np.arange(nodes.size, dtype=g.indices.dtype)
        starts, ends = g.indptr[nodes], g.indptr[nodes + 1]
        counts = ends - starts
        total = int(counts.sum())
        # Position of every entry of the rows: its row's start plus its rank in the row.
        offset = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        pos = np.arange(total, dtype=offset.dtype) + offset
        col = local[g.indices[pos]]
        keep = col >= 0
        kept = np.bincount(np.repeat(np.arange(nodes.size), counts)[keep], minlength=nodes.size)
        local[nodes] = -1  # cleared for the next subgraph
        indptr = np.zeros(nodes.size + 1, g.indptr.dtype)
        np.cumsum(kept, out=indptr[1:])
        return csr_matrix((g.data[pos[keep]], col[keep], indptr), shape=(nodes.size, nodes.size))

    def _lookup(self, reached: np.ndarray, length: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Path length to each of ``nodes`` from a search's ``reached``/``length``; inf for
        nodes it did not reach (and -1, off the network). The lengths are scattered into a
        scratch array over all nodes (inf everywhere between lookups; its last slot, read
        for -1, always), gathered, and cleared again: O(reached + nodes)."""
        scratch = self._scratch
        scratch[reached] = length
        out = scratch[nodes]
        scratch[reached] = np.inf
        return out

    def _via(self, s: int, nodes: np.ndarray, limit: float) -> np.ndarray:
        """Path length from node ``s`` to each of ``nodes`` (-1: off the network), m; inf
        where longer than ``limit``."""
        _, reached, length = self.paths_from(s, limit)
        return self._lookup(reached, length, nodes)

    def _lengths(
        self, dst: np.ndarray, src: np.ndarray, node: np.ndarray, access: np.ndarray,
        limit: float,
    ) -> np.ndarray:  # fmt: skip
        """Trip lengths from ``src`` (snapped to ``node``/``access``) to one ``dst``, m: exact
        up to ``limit``, longer trips exact or inf."""
        d_node, d_access = self.snap(dst)
        out = np.full(src.shape[0], np.inf)
        if d_node[0] < 0 or src.shape[0] == 0:
            return out
        s, a_s = int(d_node[0]), float(d_access[0])
        # A trip within the limit has its path within limit - a_s.
        out = access + self._via(s, node, limit - a_s) + a_s
        same = node == s
        if np.any(same):  # one node's catchment: the straight line
            out[same] = np.hypot(src[same, 0] - dst[0], src[same, 1] - dst[1])
        return out

    def distances_to(self, dst: np.ndarray, src: np.ndarray, limit: float = math.inf) -> np.ndarray:
        """Trip length from each of ``src`` (n, 2) to ``dst`` (2,), m; exact when at most
        ``limit`` m (longer trips: exact or inf)."""
        src = np.asarray(src, dtype=float).reshape(-1, 2)
        dst = np.asarray(dst, dtype=float).reshape(2)
        node, access = self.snap(src)
        return self._lengths(dst, src, node, access, limit)

    def exact_distances_to(self, dst: np.ndarray, src: np.ndarray, first: float) -> np.ndarray:
        """:meth:`distances_to` without a limit: searched within ``first`` m first (most
        trips are short; a memoised wider search serves too), then 4x wider until every
        trip is found (the last time without a limit)."""
        src = np.asarray(src, dtype=float).reshape(-1, 2)
        dst = np.asarray(dst, dtype=float).reshape(2)
        node, access = self.snap(src)
        limit = first
        while True:
            out = self._lengths(dst, src, node, access, limit)
            if limit == math.inf or not np.any(np.isinf(out) & (node >= 0)):
                return out
            limit = limit * 4 if limit < 64 * first else math.inf

    def nearest_sources(self, sources: np.ndarray) -> np.ndarray:
        """For every node, the index of the source position nearest along the streets
        (access legs left out; -1 where no source reaches)."""
        node, _ = self.snap(sources)
        ok = np.flatnonzero(node >= 0)
        if ok.size == 0:
            return np.full(self.node_xy.shape[0], -1)
        _, _, src = _dijkstra(self.graph, directed=True, indices=node[ok], min_only=True,
                              return_predecessors=True)  # fmt: skip
        owner = np.full(self.node_xy.shape[0], -1)
        reached = src >= 0
        # src holds the source *node*; map it back to the first position snapped to it.
        first_of = {}
        for k in ok[::-1].tolist():
            first_of[int(node[k])] = k
        owner[reached] = np.array([first_of[int(s)] for s in src[reached].tolist()])
        return owner

    def pair_distances(self, a: np.ndarray, b: np.ndarray, limit: float = math.inf) -> np.ndarray:
        """Trip length between paired positions ``a[k]`` and ``b[k]``, m: exact up to
        ``limit`` (with a limit, longer trips may read inf; without one, all are exact)."""
        a = np.asarray(a, dtype=float).reshape(-1, 2)
        b = np.asarray(b, dtype=float).reshape(-1, 2)
        out = np.full(a.shape[0], np.inf)
        if a.shape[0] == 0:
            return out
        node, access = self.snap(a)
        b_node, b_access = self.snap(b)
        straight = np.hypot(a[:, 0] - b[:, 0], a[:, 1] - b[:, 1])
        # Without a limit, search the memoised radius first (most trips fit), then wider.
        first = limit if limit < math.inf else MIN_SEARCH_M
        # One search per destination node: the positions snapped to it share it.
        order = np.argsort(b_node, kind="stable")
        sorted_nodes = b_node[order]
        starts = np.flatnonzero(np.r_[True, sorted_nodes[1:] != sorted_nodes[:-1]])
        ends = np.r_[starts[1:], order.size]
        for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
            s = int(sorted_nodes[lo])
            if s < 0:
                continue  # destination off the network: unreachable
            k = order[lo:hi]
            via, lim = self._via(s, node[k], first), first
            while limit == math.inf and np.any(np.isinf(via) & (node[k] >= 0)):
                lim = lim * 4 if lim < 64 * first else math.inf
                via = self._via(s, node[k], lim)
            out[k] = access[k] + via + b_access[k]
        same = (node == b_node) & (node >= 0)
        out[same] = straight[same]  # one node's catchment: the straight line
        return out

    def nearest_from(
        self, dst: np.ndarray, src: np.ndarray, speed: np.ndarray, n: int, first: float,
        snapped: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:  # fmt: skip
        """Travel time (s) of each of ``src`` to ``dst`` at ``speed`` (m/s), exact for at least
        the ``n`` quickest (the rest: exact or inf). The search radius starts at ``first`` m
        (or the memoised search's) and grows until the n-th quickest time is within it at
        the fastest speed. ``snapped``: (node, access) of ``src`` if already known."""
        src = np.asarray(src, dtype=float).reshape(-1, 2)
        dst = np.asarray(dst, dtype=float).reshape(2)
        node, access = self.snap(src) if snapped is None else snapped
        s, a_s = self._snap_one(float(dst[0]), float(dst[1]))
        if s < 0 or src.shape[0] == 0:
            return np.full(src.shape[0], np.inf)
        same = node == s
        straight = np.hypot(src[same, 0] - dst[0], src[same, 1] - dst[1]) if same.any() else None
        top = float(np.max(speed))
        k = min(n, src.shape[0])
        limit = first
        while True:
            radius, reached, length = self.paths_from(s, limit)
            dist = access + self._lookup(reached, length, node) + a_s
            if straight is not None:  # one node's catchment: the straight line
                dist[same] = straight
            time = dist / speed
            if radius == math.inf or k == 0:
                return time
            # Every path within the radius was found; a trip not found is longer than
            # radius + a_s, so slower than that at the top speed: the k quickest are final
            # once the k-th is no slower.
            if kth_smallest(time, k) <= (radius + a_s) / top:
                return time
            limit = radius * 2 if radius < 16 * MIN_SEARCH_M else math.inf
