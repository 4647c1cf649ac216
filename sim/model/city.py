"""The city raster: land use, residents, cameras, water and bridges, police grids and stations.

Positions are in metres from the north-west corner, ``x`` east and ``y`` south; cell
``(col, row)`` covers ``[col*s, (col+1)*s) x [row*s, (row+1)*s)``.

Travel follows the grid (Manhattan metric). Water is impassable; land is split into *banks*
(4-connected land without bridges), and a trip between two banks goes through bridges. Within
a bank the Manhattan distance is used; that is exact for banks without concave bays between
the two points and is the model's stated approximation otherwise.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from sim.model.config.errors import ScenarioError
from sim.model.config.files import CityInputs, city_inputs
from sim.model.config.sections import CityConfig, PoliceConfig, TravelConfig
from sim.model.roads import RoadNetwork
from sim.model.spatial import BOUND_SLACK
from sim.model.vocab import LandUse

_FOUR = ndimage.generate_binary_structure(2, 1)
#: First search radius of a trip on a road network, m: most trips are shorter; a longer
#: one is searched again without a limit (the result is exact either way).
ROAD_SEARCH_M = 3000.0
#: Elements of one block of the distance matrices of station_distances (2 MB of floats: a
#: block of incidents x stations, or x bridges x bridges, at a time; each row's minimum is
#: the same whatever the block).
BLOCK_ELEMENTS = 1 << 18


def manhattan_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The Manhattan distance from each point of ``a`` (n, 2) to each of ``b`` (m, 2), m: the
    two absolute differences added, the same floats as summing them over a last axis of two,
    which numpy's reduction takes eight times longer to do."""
    return np.abs(a[:, None, 0] - b[None, :, 0]) + np.abs(a[:, None, 1] - b[None, :, 1])


@dataclass(frozen=True, eq=False)
class City:
    """An immutable city. Arrays are indexed ``[row, col]``."""

    cell_size_m: float
    land_use: np.ndarray  # int8 LandUse codes
    population: np.ndarray  # float64 residents per cell
    camera: np.ndarray  # bool, a public camera watches the cell
    bank: np.ndarray  # int32 bank label per cell, -1 on water and bridges
    bank_near: np.ndarray  # int32 bank of the nearest land cell (for points on water)
    bridge_xy: np.ndarray  # (n_bridges, 2) centre of each bridge, m
    bank_bridges: np.ndarray  # (n_banks, n_bridges) bool, bridge touches bank
    bridge_dist: np.ndarray  # (n_bridges, n_bridges) shortest distance between bridges, m
    grid_of_cell: np.ndarray  # int32 police grid per cell, -1 on water
    grid_centre_xy: np.ndarray  # (n_grids, 2) m
    station_xy: np.ndarray  # (n_stations, 2) m
    station_of_grid: np.ndarray  # (n_grids,) int
    #: Streets for travel (issue 15); None: the grid's Manhattan metric with banks and bridges.
    roads: RoadNetwork | None = None

    @cached_property
    def _bridge_list(self) -> list[tuple[float, float]]:
        return [tuple(b) for b in self.bridge_xy.tolist()]

    @cached_property
    def _bridge_dist_list(self) -> list[list[float]]:
        return self.bridge_dist.tolist()

    @cached_property
    def _bridges_of_bank(self) -> list[list[int]]:
        return [np.flatnonzero(row).tolist() for row in self.bank_bridges]

    @cached_property
    def region_of_bank(self) -> np.ndarray:
        """Label of each bank's region: the banks joined through bridges. A trip between two
        banks has a finite length exactly when they are of one region."""
        n_banks = self.bank_bridges.shape[0]
        region = np.arange(max(n_banks, 1))
        for bridge in self.bank_bridges.T:  # banks a bridge touches are of one region
            touched = np.flatnonzero(bridge)
            if touched.size:
                joined = np.isin(region, region[touched])
                region[joined] = region[touched].min()
        return region

    @property
    def height(self) -> int:
        return self.land_use.shape[0]

    @property
    def width(self) -> int:
        return self.land_use.shape[1]

    @property
    def extent_m(self) -> tuple[float, float]:
        return self.width * self.cell_size_m, self.height * self.cell_size_m

    @property
    def area_km2(self) -> float:
        land = np.count_nonzero(self.land_use != LandUse.WATER)
        return land * self.cell_size_m**2 / 1e6

    # ------------------------------------------------------------------ geometry
    def cell_of(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(col, row) of positions, clipped to the raster."""
        xy = np.asarray(xy, dtype=float)
        col = np.clip((xy[..., 0] // self.cell_size_m).astype(np.int64), 0, self.width - 1)
        row = np.clip((xy[..., 1] // self.cell_size_m).astype(np.int64), 0, self.height - 1)
        return col, row

    def require_land(self, key: str, col: int, row: int) -> None:
        """A user-given cell must be inside the city and on land (ScenarioError otherwise)."""
        if col >= self.width or row >= self.height or self.bank[row, col] < 0:
            raise ScenarioError(
                f"{key}: [{col}, {row}] is outside the city or on water "
                f"(city is {self.width} x {self.height} cells)"
            )

    def cell_centre(self, col, row) -> np.ndarray:
        s = self.cell_size_m
        return np.stack([(np.asarray(col) + 0.5) * s, (np.asarray(row) + 0.5) * s], axis=-1)

    def bank_of(self, xy: np.ndarray) -> np.ndarray:
        """Bank of each position; a point on water or a bridge takes its nearest bank."""
        if self.single_bank:
            return np.zeros(np.shape(xy)[:-1], np.int32)
        xy = np.asarray(xy, dtype=float)
        inv = 1.0 / self.cell_size_m
        col = np.minimum((xy[..., 0] * inv).astype(np.intp), self.width - 1)
        row = np.minimum((xy[..., 1] * inv).astype(np.intp), self.height - 1)
        return self.bank_near[np.maximum(row, 0), np.maximum(col, 0)]

    def bank_at(self, x: float, y: float) -> int:
        """:meth:`bank_of` for one point, in plain Python (the same cell arithmetic)."""
        if self.single_bank:
            return 0
        inv = 1.0 / self.cell_size_m
        col = max(min(int(x * inv), self.width - 1), 0)
        row = max(min(int(y * inv), self.height - 1), 0)
        return int(self.bank_near[row, col])

    def via_bridges_from(self, x: float, y: float, bank: int, h: list[float]) -> float:
        """Distance from (x, y) on ``bank`` to a destination whose bridge legs are ``h``
        (see :meth:`distances_to`), in plain Python with the same arithmetic."""
        best = math.inf
        bridges = self._bridge_list
        for i in self._bridges_of_bank[bank]:
            bx, by = bridges[i]
            best = min(best, (abs(x - bx) + abs(y - by)) + h[i])
        return best

    @property
    def single_bank(self) -> bool:
        """All land is one bank: every trip is a plain Manhattan distance."""
        return self.bank_bridges.shape[0] <= 1

    def clip(self, xy: np.ndarray) -> np.ndarray:
        """Points (..., 2) moved onto the city (:meth:`clip_xy`)."""
        return np.stack(self.clip_xy(xy[..., 0], xy[..., 1]), axis=-1)

    def clip_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates moved onto the city: into [0, width) and [0, height), a micrometre
        inside the far edges (so the cell of a point on them is the last one)."""
        w, h = self.extent_m
        eps = 1e-6
        return np.clip(x, 0, w - eps), np.clip(y, 0, h - eps)

    def distances_to(
        self, dst: np.ndarray, src: np.ndarray, src_bank: np.ndarray, dst_bank: int | None = None
    ) -> np.ndarray:
        """Travel distance (m) from each source position to one destination.

        Args:
            dst: destination position, shape (2,), m.
            src: source positions, shape (n, 2), m.
            src_bank: bank label of each source (from :meth:`bank_of`), shape (n,).
            dst_bank: bank of the destination, if already known.
        """
        src = np.asarray(src, dtype=float).reshape(-1, 2)
        if self.roads is not None:
            return self.roads.exact_distances_to(dst, src, ROAD_SEARCH_M)
        direct = np.abs(src[:, 0] - dst[0]) + np.abs(src[:, 1] - dst[1])
        if self.single_bank:
            return direct
        if dst_bank is None:
            dst_bank = int(self.bank_of(np.asarray(dst, dtype=float)))
        other = np.flatnonzero(np.asarray(src_bank) != dst_bank)
        if other.size == 0:
            return direct
        if self.bridge_xy.shape[0] == 0:
            direct[other] = np.inf
            return direct
        # h[i]: bridge i to the destination, through further bridges where needed.
        to_dst = manhattan_matrix(self.bridge_xy, np.reshape(dst, (1, 2)))[:, 0]
        to_dst[~self.bank_bridges[dst_bank]] = np.inf
        h = (self.bridge_dist + to_dst[None, :]).min(axis=1)
        leg = manhattan_matrix(src[other], self.bridge_xy) + h
        leg[~self.bank_bridges[np.asarray(src_bank)[other]]] = np.inf
        direct[other] = leg.min(axis=1)
        return direct

    def pair_distances(self, a: np.ndarray, a_bank, b: np.ndarray, b_bank=None) -> np.ndarray:
        """Travel distance (m) between paired positions ``a[k]`` and ``b[k]``.

        Within a bank: Manhattan. Across banks: the best route through bridges, where
        ``bridge_dist`` holds the shortest bridge-to-bridge walks. Unreachable: ``inf``.
        On a road network: the trip along the streets (:mod:`sim.model.roads`).
        """
        if self.roads is not None:
            return self.roads.pair_distances(a, b)
        direct = np.abs(a[:, 0] - b[:, 0]) + np.abs(a[:, 1] - b[:, 1])
        if self.single_bank:
            return direct
        a_bank = np.asarray(a_bank)
        b_bank = self.bank_of(b) if b_bank is None else np.asarray(b_bank)
        other = np.flatnonzero(a_bank != b_bank)
        if other.size == 0:
            return direct
        out = direct.copy()
        if self.bridge_xy.shape[0] == 0:
            out[other] = np.inf
            return out
        block = max(1, BLOCK_ELEMENTS // self.bridge_xy.shape[0] ** 2)  # bounds memory
        for lo in range(0, other.size, block):
            k = other[lo : lo + block]
            out[k] = self._via_bridges(a[k], a_bank[k], b[k], b_bank[k])
        return out

    def station_distances(self, xy: np.ndarray) -> np.ndarray:
        """Travel distance (m) from each position to its nearest police station: exactly
        ``min`` over stations of :meth:`pair_distances`, without a tensor per station.

        Within a bank it is the nearest station's Manhattan distance. Across banks,
        ``pair_distances`` adds ``(leg_a[i] + bridge_dist[i, j]) + leg_b[j]``; rounding is
        monotone, so the minimum over stations of the last addend can be taken first
        (``far[bank, j]``) and the sum is the same float as the per-station minimum.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        if self.roads is not None:
            return self._station_roads(xy)
        best = np.full(xy.shape[0], np.inf)
        stations = self.station_xy
        if xy.shape[0] == 0 or stations.shape[0] == 0:
            return best
        bank = self.bank_of(xy)
        station_bank = self.bank_of(stations)
        for b in np.unique(bank).tolist():
            rows = np.flatnonzero(bank == b)
            near = stations[station_bank == b]
            if near.shape[0]:
                best[rows] = self._nearest_manhattan(xy[rows], near)
            if self.single_bank or not np.any(station_bank != b):
                continue
            # A route over bridges is no shorter than the Manhattan distance: only where that
            # bound is below the nearest station on the bank may a far station be nearer.
            bound = self._nearest_manhattan(xy[rows], stations[station_bank != b])
            rows = rows[bound * (1 - BOUND_SLACK) < best[rows]]
            best[rows] = np.minimum(best[rows], self._via_far_stations(xy[rows], b, station_bank))
        return best

    @cached_property
    def _station_paths(self) -> np.ndarray:
        """Per node: the shortest trip from it to any station along the streets, m (one
        search from a virtual node joined to each station's node by its access leg)."""
        from scipy.sparse import coo_matrix, hstack, vstack
        from scipy.sparse.csgraph import dijkstra

        assert self.roads is not None
        roads = self.roads
        node, access = roads.snap(self.station_xy)
        ok = node >= 0
        n = roads.node_xy.shape[0]
        if not ok.any():
            return np.full(n, np.inf)
        # csgraph reads an explicit zero as no edge: a zero access leg keeps a millimetre.
        legs = coo_matrix((np.maximum(access[ok], 1e-3), (np.zeros(ok.sum(), np.int64),
                          node[ok])), shape=(1, n))  # fmt: skip
        graph = vstack([hstack([roads.graph, legs.T]), hstack([legs, coo_matrix((1, 1))])])
        return dijkstra(graph.tocsr(), directed=True, indices=n)[:n]  # symmetric graph

    def _station_roads(self, xy: np.ndarray) -> np.ndarray:
        """:meth:`station_distances` on the road network (each station: its own search)."""
        assert self.roads is not None
        node, access = self.roads.snap(xy)
        out = np.where(node >= 0, access + self._station_paths[np.maximum(node, 0)], np.inf)
        for st in self.station_xy:  # a station in the position's node catchment: straight
            s_node = self.roads.snap(st)[0][0]
            near = (node == s_node) & (node >= 0)
            out[near] = np.minimum(out[near], np.hypot(*(xy[near] - st).T))
        return out

    @staticmethod
    def _nearest_manhattan(xy: np.ndarray, sites: np.ndarray) -> np.ndarray:
        """Manhattan distance to the nearest of ``sites``, in blocks (bounds memory)."""
        out = np.empty(xy.shape[0])
        block = max(1, BLOCK_ELEMENTS // sites.shape[0])
        for lo in range(0, xy.shape[0], block):
            out[lo : lo + block] = manhattan_matrix(xy[lo : lo + block], sites).min(axis=1)
        return out

    def _via_far_stations(self, xy: np.ndarray, bank: int, station_bank: np.ndarray) -> np.ndarray:
        """Distance through bridges from positions on ``bank`` to the nearest station on
        another bank (the same arithmetic as :meth:`_via_bridges`)."""
        if self.bridge_xy.shape[0] == 0:
            return np.full(xy.shape[0], np.inf)
        far = self.station_xy[station_bank != bank]
        leg_b = manhattan_matrix(far, self.bridge_xy)
        leg_b[~self.bank_bridges[station_bank[station_bank != bank]]] = np.inf
        leg_b = leg_b.min(axis=0)  # the nearest far station's leg from each bridge j
        out = np.empty(xy.shape[0])
        block = max(1, BLOCK_ELEMENTS // self.bridge_xy.shape[0] ** 2)  # bounds memory
        for lo in range(0, xy.shape[0], block):
            a = xy[lo : lo + block]
            leg_a = manhattan_matrix(a, self.bridge_xy)
            leg_a[:, ~self.bank_bridges[bank]] = np.inf
            via = leg_a[:, :, None] + self.bridge_dist[None, :, :] + leg_b[None, None, :]
            out[lo : lo + block] = via.min(axis=(1, 2))
        return out

    def _via_bridges(self, a, a_bank, b, b_bank) -> np.ndarray:
        # leg_a[k, i]: a to bridge i (only bridges on a's bank); leg_b[k, j] likewise for b.
        leg_a = manhattan_matrix(a, self.bridge_xy)
        leg_a[~self.bank_bridges[a_bank]] = np.inf
        leg_b = manhattan_matrix(b, self.bridge_xy)
        leg_b[~self.bank_bridges[b_bank]] = np.inf
        via = leg_a[:, :, None] + self.bridge_dist[None, :, :] + leg_b[:, None, :]
        return via.min(axis=(1, 2))


# ---------------------------------------------------------------------------- building
def build_city(
    cfg: CityConfig, police: PoliceConfig, rng: np.random.Generator,
    travel: TravelConfig | None = None, inputs: CityInputs | None = None,
) -> City:  # fmt: skip
    """Generate the raster (or take the one of the map file), then derive banks, bridges,
    grids and stations.

    Args:
        cfg: the city section (GIS files already resolved: :mod:`sim.geo.inputs`).
        police: the police section (stations and grids).
        rng: the city's random stream.
        travel: the travel section; with ``road_network``, trips follow its streets.
        inputs: the arrays of the files the sections name (:mod:`sim.geo.scenario`);
            default: those the scenario loader reads
            (:func:`sim.model.config.files.city_inputs`; none for a city without files).
    """
    if inputs is None:
        inputs = city_inputs(cfg, travel)
    roads = inputs.roads if travel is not None and travel.road_network is not None else None
    land_use = _base_land_use(cfg, inputs, rng)
    h, w = land_use.shape
    if cfg.population_raster is not None:
        population = _given("city.population_raster", inputs.population)
    else:
        population = _distribute(_density(cfg, w, h), land_use, cfg.population)
    if roads is not None:
        # Cells no street reaches are water unless people live there (those stay land,
        # unreachable: docs/geography.md); the streets' own bridges cross the water.
        land_use = np.where(~roads.on_network & (population <= 0), LandUse.WATER, land_use)
        land_use = land_use.astype(np.int8)
    if cfg.key_sites is not None:
        land_use = land_use.copy()
        for c, r, use in cfg.key_sites:
            land_use[r, c] = LandUse[use.upper()]
    elif cfg.map_file is None:
        land_use = _place_sites(cfg, land_use, population, rng)
    land = (land_use != LandUse.WATER) & (land_use != LandUse.BRIDGE)
    camera = land & (rng.random((h, w)) < cfg.camera_share)
    bank, bridge_xy, bank_bridges, bridge_dist = _banks(land_use, land, roads, cfg.cell_size_m)
    _, (near_r, near_c) = ndimage.distance_transform_edt(bank < 0, return_indices=True)
    bank_near = bank[near_r, near_c]
    partial = City(
        cfg.cell_size_m, land_use, population, camera, bank, bank_near, bridge_xy, bank_bridges,
        bridge_dist, np.zeros((h, w), np.int32), np.zeros((0, 2)), np.zeros((0, 2)),
        np.zeros(0, np.int64), roads,
    )  # fmt: skip
    grid_of_cell, grid_xy, station_xy, station_of_grid = _police_layout(partial, police, rng)
    if roads is not None:
        _stations_on_streets(roads, station_xy, cfg.cell_size_m)
    return City(
        cfg.cell_size_m, land_use, population, camera, bank, bank_near, bridge_xy, bank_bridges,
        bridge_dist, grid_of_cell, grid_xy, station_xy, station_of_grid, roads,
    )  # fmt: skip


def _given(key: str, array: np.ndarray | None) -> np.ndarray:
    """An array of a file the scenario names, as the loader handed it over."""
    if array is None:
        raise ValueError(f"{key} is set but its file was not read: pass build_city its inputs")
    return array


def _base_land_use(cfg: CityConfig, inputs: CityInputs, rng: np.random.Generator) -> np.ndarray:
    """Land use before the roads and the key sites: the map's, residential under a
    population raster (real geography: no generated rivers), or generated."""
    if cfg.map_file is not None:
        return _given("city.map_file", inputs.land_use)
    if cfg.population_raster is not None:
        return np.full((cfg.height, cfg.width), LandUse.RESIDENTIAL, dtype=np.int8)
    land_use = _generate_land_use(cfg, rng)
    if not np.any((land_use != LandUse.WATER) & (land_use != LandUse.BRIDGE)):
        # The check before the run knows only the water every bend gives; this layout's
        # bends covered the rest.
        raise ScenarioError(
            "city.rivers: in this layout the rivers' bends cover every cell of the "
            f"{cfg.width} x {cfg.height} city, leaving no land (narrow them, lower "
            "meander_cells or enlarge the city)"
        )
    return land_use


def _banks(land_use: np.ndarray, land: np.ndarray, roads: RoadNetwork | None, s: float):
    """Bank of each cell, bridge centres, which bridges touch which bank, bridge distances."""
    if roads is None:
        return _banks_and_bridges(land_use, s)
    # On streets the network, not the water, joins places: bank 0 is the land the streets
    # reach, bank 1 the land they do not (a region of its own: its calls wait aside, as
    # nobody can come).
    bank = np.where(land, np.where(roads.on_network, 0, 1), -1).astype(np.int32)
    return bank, np.zeros((0, 2)), np.zeros((2, 0), bool), np.zeros((0, 0))


def _stations_on_streets(roads: RoadNetwork, station_xy: np.ndarray, s: float) -> None:
    """A police station no street node is near could reach nobody: refused."""
    off = np.flatnonzero(roads.snap(station_xy)[0] < 0)
    if off.size:
        c, r = (station_xy[off[0]] // s).astype(int).tolist()
        raise ScenarioError(
            f"{roads.source}: police station at cell [{c}, {r}] is not on the connected "
            f"street network (no node within travel.road_snap_m): it could reach nobody"
        )


def _density(cfg: CityConfig, w: int, h: int) -> np.ndarray:
    s_km = cfg.cell_size_m / 1000
    xs = (np.arange(w) + 0.5) * s_km
    ys = (np.arange(h) + 0.5) * s_km
    gx, gy = np.meshgrid(xs, ys)
    dens = np.zeros((h, w))
    for c in cfg.centres:
        d = np.hypot(gx - c.x * w * s_km, gy - c.y * h * s_km)
        dens += c.weight * np.exp(-d / c.scale_km)
    peak = max(c.weight for c in cfg.centres)
    return dens + cfg.background_density * peak


def _distribute(density: np.ndarray, land_use: np.ndarray, total: int) -> np.ndarray:
    habitable = (land_use != LandUse.WATER) & (land_use != LandUse.BRIDGE)
    weights = np.where(habitable, density, 0.0)
    if not weights.sum() > 0:  # every habitable cell far beyond the centres (exp underflows)
        weights = habitable.astype(float)
    return total * weights / weights.sum()


def _generate_land_use(cfg: CityConfig, rng: np.random.Generator) -> np.ndarray:
    h, w = cfg.height, cfg.width
    land_use = np.full((h, w), LandUse.RESIDENTIAL, dtype=np.int8)
    for river in cfg.rivers:
        _carve_river(land_use, river, rng)
    return land_use


def _carve_river(land_use: np.ndarray, river, rng: np.random.Generator) -> None:
    h, w = land_use.shape
    along, across = (w, h) if river.axis == "horizontal" else (h, w)
    phase = rng.uniform(0, 2 * np.pi)
    t = np.arange(along)
    centre = river.position * across + river.meander_cells * np.sin(2 * np.pi * t / along + phase)
    lo = np.clip(np.round(centre - river.width_cells / 2).astype(int), 0, across - 1)
    bridge_at = set()
    if river.bridges:
        spots = (np.arange(river.bridges) + 0.5) * along / river.bridges
        bridge_at = {int(s) for s in spots}
    for i in range(along):
        span = slice(lo[i], min(lo[i] + river.width_cells, across))
        code = LandUse.BRIDGE if i in bridge_at else LandUse.WATER
        if river.axis == "horizontal":
            land_use[span, i] = np.where(land_use[span, i] == LandUse.BRIDGE, LandUse.BRIDGE, code)
        else:
            land_use[i, span] = np.where(land_use[i, span] == LandUse.BRIDGE, LandUse.BRIDGE, code)


def _place_sites(cfg: CityConfig, land_use, population, rng: np.random.Generator) -> np.ndarray:
    """Scatter key sites over residential land, more of them where more people live."""
    land_use = land_use.copy()
    flat = land_use.reshape(-1)
    n_land = int(np.count_nonzero((flat != LandUse.WATER) & (flat != LandUse.BRIDGE)))
    pop = population.reshape(-1)
    for name, share in cfg.land_use_shares.items():
        n = round(share * n_land)
        free = np.flatnonzero((flat == LandUse.RESIDENTIAL) & (pop > 0))
        if n == 0 or free.size == 0:
            continue
        p = pop[free] / pop[free].sum()
        chosen = rng.choice(free, size=min(n, free.size), replace=False, p=p)
        flat[chosen] = LandUse[name.upper()]
    return land_use


def _banks_and_bridges(land_use: np.ndarray, s: float):
    land = (land_use != LandUse.WATER) & (land_use != LandUse.BRIDGE)
    bank, n_banks = ndimage.label(land, structure=_FOUR)
    bank = bank.astype(np.int32) - 1  # -1 on water and bridges
    bridges, n_bridges = ndimage.label(land_use == LandUse.BRIDGE, structure=_FOUR)
    bridge_xy = np.zeros((n_bridges, 2))
    touches = np.zeros((max(n_banks, 1), n_bridges), dtype=bool)
    for b in range(n_bridges):
        cells = bridges == b + 1
        rows, cols = np.nonzero(cells)
        bridge_xy[b] = ((cols.mean() + 0.5) * s, (rows.mean() + 0.5) * s)
        ring = ndimage.binary_dilation(cells, structure=_FOUR) & ~cells
        for label in np.unique(bank[ring]):
            if label >= 0:
                touches[label, b] = True
    # Floyd-Warshall over bridges: two bridges on a common bank are linked by a walk on it.
    d = manhattan_matrix(bridge_xy, bridge_xy)
    linked = (touches.T.astype(int) @ touches.astype(int)) > 0
    dist = np.where(linked, d, np.inf)
    np.fill_diagonal(dist, 0.0)
    for k in range(n_bridges):
        dist = np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :])
    return bank, bridge_xy, touches, dist


def _police_layout(city: City, cfg: PoliceConfig, rng: np.random.Generator):
    """Police grids as Voronoi cells of population-weighted centres; stations spread by k-means."""
    h, w = city.land_use.shape
    pop = city.population.reshape(-1)
    land = city.bank.reshape(-1) >= 0
    candidates = np.flatnonzero(land & (pop > 0))
    if candidates.size == 0:
        candidates = np.flatnonzero(land)
    p = pop[candidates] + 1e-12
    p = p / p.sum()
    replace = candidates.size < cfg.grids
    centres = rng.choice(candidates, size=cfg.grids, replace=replace, p=p)
    grid_xy = city.cell_centre(centres % w, centres // w)
    cols, rows = np.meshgrid(np.arange(w), np.arange(h))
    all_xy = city.cell_centre(cols.reshape(-1), rows.reshape(-1))
    _, nearest = cKDTree(grid_xy).query(all_xy, p=1)
    grid_of_cell = np.where(land, nearest, -1).reshape(h, w).astype(np.int32)
    if cfg.station_cells is not None:
        for c, r in cfg.station_cells:
            city.require_land("police.station_cells", c, r)
        station_xy = city.cell_centre(*np.array(cfg.station_cells).T)
    elif cfg.stations >= cfg.grids:
        station_xy = grid_xy.copy()
    else:
        first = np.unique(grid_xy, axis=0, return_index=True)[1]
        if first.size <= cfg.stations:
            # Fewer distinct grid centres than stations (a few populated cells, centres drawn
            # with replacement): k-means would leave clusters empty. Every distinct centre
            # gets a station, the rest go to other grids.
            pick = np.sort(first)
        else:
            with warnings.catch_warnings():
                # A cluster k-means leaves empty keeps its old centre; _distinct below makes
                # the stations distinct whatever k-means returns, so scipy's warning says
                # nothing a user can act on.
                warnings.filterwarnings("ignore", "One of the clusters is empty", UserWarning)
                means, _ = kmeans2(grid_xy, cfg.stations, minit="++", seed=rng)
            _, pick = cKDTree(grid_xy).query(means)
        station_xy = grid_xy[_distinct(pick, cfg.stations, grid_xy.shape[0], rng)]
    if city.roads is not None:
        # Each grid to the station nearest its centre along the streets: one search from all
        # stations at once (access legs left out), not one per grid.
        owner = city.roads.nearest_sources(station_xy)
        node, _ = city.roads.snap(grid_xy)
        station_of_grid = np.where(node >= 0, owner[np.maximum(node, 0)], -1)
        station_of_grid = np.where(station_of_grid >= 0, station_of_grid, 0)
        return grid_of_cell, grid_xy, station_xy, station_of_grid.astype(np.int64)
    station_of_grid = _nearest_stations(city, grid_xy, station_xy)
    return grid_of_cell, grid_xy, station_xy, station_of_grid


#: Grid x station x bridge route lengths held at once by _nearest_stations.
_ROUTES_PER_BLOCK = 1 << 22


def _nearest_stations(city: City, grid_xy: np.ndarray, station_xy: np.ndarray) -> np.ndarray:
    """Each grid's station: the one nearest its centre by :meth:`City.distances_to` (ties to
    the lower station), for blocks of grids at once. The same sums as distances_to, term by
    term and in its order, so the same floats and the same stations."""
    station_bank = city.bank_of(station_xy)
    grid_bank = city.bank_of(grid_xy)
    n_st, n_br = station_xy.shape[0], city.bridge_xy.shape[0]
    block = max(_ROUTES_PER_BLOCK // max(n_st * max(n_br, 1), 1), 1)
    bridges = city.bridge_xy
    # station -> bridge legs (the first leg of a route from a station across water)
    first_leg = manhattan_matrix(station_xy, bridges)
    off_bank = ~city.bank_bridges[station_bank]  # (stations, bridges): not on its bank
    out = np.empty(grid_xy.shape[0], np.int64)
    for lo in range(0, grid_xy.shape[0], block):
        g, gb = grid_xy[lo : lo + block], grid_bank[lo : lo + block]
        dist = np.abs(station_xy[None, :, 0] - g[:, None, 0]) + np.abs(
            station_xy[None, :, 1] - g[:, None, 1]
        )  # (grids, stations), as distances_to's `direct`
        other = station_bank[None, :] != gb[:, None]
        if not city.single_bank and other.any():
            if n_br == 0:
                dist[other] = np.inf
            else:
                to_dst = manhattan_matrix(g, bridges)
                to_dst[~city.bank_bridges[gb]] = np.inf  # (grids, bridges)
                h = (city.bridge_dist[None, :, :] + to_dst[:, None, :]).min(axis=2)
                leg = first_leg[None, :, :] + h[:, None, :]  # (grids, stations, bridges)
                leg[np.broadcast_to(off_bank, leg.shape)] = np.inf
                dist = np.where(other, leg.min(axis=2), dist)
        out[lo : lo + block] = np.argmin(dist, axis=1)
    return out


def _distinct(pick: np.ndarray, k: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Make k station choices distinct (k-means can map two clusters to one grid centre)."""
    chosen = list(dict.fromkeys(pick.tolist()))
    spare = [i for i in rng.permutation(n).tolist() if i not in set(chosen)]
    return np.array((chosen + spare)[:k])
