"""The layout a plan is made on, and the cells new units may stand on.

Sites are cells of one city, so a plan and its evaluation use one layout: layout 0 of the
seed (``layout: fixed``), built exactly as :class:`sim.model.response.ResponseModel` builds
it. The scenario's own MEUs are pinned at the cells that layout drew for them
(``meus.site_cells``, at the cell centres), so every arm of the evaluation shares them and
``optimised.yaml`` only adds sites.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.geo.crs import frame_of
from sim.geo.sites import read_points
from sim.model.city import City, build_city
from sim.model.config import (
    LandUseName,
    Scenario,
    ScenarioError,
    _show_path,
    read_regular_file,
)
from sim.model.responders.meus import EmergencyUnitFleet
from sim.model.rng import Stream, generator
from sim.model.vocab import LandUse


@dataclass(frozen=True, eq=False)
class PlanningLayout:
    """One pinned layout: the scenario fixed to it, its city, and the base units' cells."""

    scenario: Scenario  # layout: fixed, meus.site_cells = base_cells
    seed: int
    city: City
    base_cells: np.ndarray  # (n, 2) int [column, row] of the scenario's own MEUs

    @property
    def base_flat(self) -> np.ndarray:
        return self.base_cells[:, 1] * self.city.width + self.base_cells[:, 0]

    @property
    def station_cells(self) -> np.ndarray:
        """(n, 2) int [column, row] of the police stations."""
        col, row = self.city.cell_of(self.city.station_xy)
        return np.stack([col, row], axis=1).astype(np.int64).reshape(-1, 2)

    @property
    def station_flat(self) -> np.ndarray:
        cells = self.station_cells
        return cells[:, 1] * self.city.width + cells[:, 0]


def pin_layout(scenario: Scenario, seed: int, stations: bool = False) -> PlanningLayout:
    """Layout 0 of ``seed`` with the scenario's MEUs pinned at the cells it drew for them (and
    with ``stations`` its police stations at theirs: the same city, as the grids are drawn
    before the stations and nothing is drawn after them)."""
    fixed = scenario if scenario.layout == "fixed" else scenario.with_changes({"layout": "fixed"})
    # As ResponseModel builds the layout (its layout index is 0 under layout: fixed).
    # The model's travel too: on a road network the plan's coverage uses street trips.
    city = build_city(fixed.city, fixed.police, generator(seed, 0, Stream.CITY), fixed.travel)
    fleet = EmergencyUnitFleet(fixed.meus, city, generator(seed, 0, Stream.MEU_SITES))
    col, row = city.cell_of(fleet.xy) if len(fleet) else (np.zeros(0, int), np.zeros(0, int))
    base = np.stack([col, row], axis=1).astype(np.int64).reshape(-1, 2)
    pinned = fixed.with_changes({"meus.site_cells": base.tolist()}) if len(base) else fixed
    layout = PlanningLayout(pinned, seed, city, base)
    if stations:
        cells = layout.station_cells.tolist()
        layout = PlanningLayout(
            pinned.with_changes({"police.station_cells": cells}), seed, city, base
        )
    return layout


def site_uses(scenario: Scenario) -> list[LandUseName]:
    """Land uses MEUs stand on in this scenario (``meus.site_shares`` with a share > 0)."""
    return [use for use, share in scenario.meus.site_shares.items() if share > 0]


def post_cells(city: City) -> np.ndarray:
    """Flat cells a new police post may stand on: populated land cells without a station."""
    land = (city.bank >= 0).reshape(-1) & (city.population.reshape(-1) > 0)
    col, row = city.cell_of(city.station_xy)
    land[row * city.width + col] = False
    cells = np.flatnonzero(land)
    if cells.size == 0:
        raise ScenarioError(
            "no candidate cells: the layout has no populated land without a station"
        )
    return cells


def candidate_cells(scenario: Scenario, city: City) -> np.ndarray:
    """Flat indices (row * width + column) of the cells a new MEU may stand on: land cells of
    the uses in ``meus.site_shares`` where people live (where the model draws MEU sites)."""
    uses = site_uses(scenario)
    codes = [int(LandUse[u.upper()]) for u in uses]
    land = (city.bank >= 0).reshape(-1)
    ok = np.isin(city.land_use.reshape(-1), codes) & (city.population.reshape(-1) > 0) & land
    cells = np.flatnonzero(ok)
    if cells.size == 0:
        raise ScenarioError(
            f"no candidate cells: the layout has no populated land of the uses MEUs stand on "
            f"(meus.site_shares: {', '.join(uses) or 'none'})"
        )
    return cells


def random_placement(
    scenario: Scenario, city: City, candidates: np.ndarray, n: int, seed: int, arm: int,
    by_site_shares: bool = True,
) -> np.ndarray:  # fmt: skip
    """``n`` distinct candidate cells drawn as the model draws MEU sites (land use by
    ``meus.site_shares``, then the cell by residents), from the planning stream of ``arm``.
    Candidates of uses without a share (a candidate file), and without ``by_site_shares``
    (police posts) all candidates, are drawn by residents alone."""
    use = city.land_use.reshape(-1)[candidates]
    pop = city.population.reshape(-1)[candidates]
    weight = np.zeros(candidates.size)
    for name in site_uses(scenario) if by_site_shares else []:
        at = use == int(LandUse[name.upper()])
        if at.any() and pop[at].sum() > 0:
            weight[at] = scenario.meus.site_shares[name] * pop[at] / pop[at].sum()
    if np.count_nonzero(weight) < n:
        weight = pop + 1e-9 * max(float(pop.sum()), 1.0)  # every candidate can be drawn
    rng = generator(seed, arm, Stream.PLANNING)
    return rng.choice(candidates, size=n, replace=False, p=weight / weight.sum())


def cells_of(city: City, flat: np.ndarray) -> np.ndarray:
    """[column, row] of flat cell indices."""
    flat = np.asarray(flat, dtype=np.int64)
    return np.stack([flat % city.width, flat // city.width], axis=1)


#: Candidate files are small tables; anything larger is a mistake.
MAX_CANDIDATE_BYTES = 16 << 20


def read_candidates(path: Path, city: City, scenario: Scenario | None = None) -> np.ndarray:
    """Flat cells of a candidate file: a CSV with ``col,row`` (cells) or ``x_m,y_m``
    (scenario metres), or GeoJSON points in scenario metres. A city placed on the Earth
    (``scenario`` with ``city.crs`` and ``city.origin``) reads GeoJSON and GeoPackage in their
    own CRS and CSV with ``lon``/``lat`` too (:func:`sim.geo.sites.read_points`, the geo
    extra). Every candidate must be inside the city and on land, and on a road network on
    the streets (one :class:`ScenarioError` naming the entry otherwise); repeats count once."""
    where = f"--candidates {_show_path(path)}"
    data = read_regular_file(Path(path), MAX_CANDIDATE_BYTES, where)
    suffix = Path(path).suffix.lower()
    placed = scenario is not None and scenario.city.crs is not None
    if suffix == ".gpkg" or (placed and (suffix in (".geojson", ".json") or (
            suffix == ".csv" and _has_lonlat(data)))):  # fmt: skip
        cols, rows, labels = _geo_cells(Path(path), city, scenario, where)
        return _checked(city, cols, rows, labels, where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{where}: not a UTF-8 text file") from None
    if suffix in (".geojson", ".json"):
        points = _geojson_points(text, where)
        labels = [f"feature {i + 1}" for i in range(len(points))]
        xy = np.asarray(points, dtype=float).reshape(-1, 2)
        cols, rows = np.floor(xy / city.cell_size_m).T
    else:
        cols, rows, labels = _csv_cells(text, where, city.cell_size_m)
    return _checked(city, cols, rows, labels, where)


def _has_lonlat(data: bytes) -> bool:
    """The CSV's header names lon and lat (any case)."""
    header = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip().lower()
    names = {h.strip().strip('"') for h in header.split(",")}
    return {"lon", "lat"} <= names


def _geo_cells(path: Path, city: City, scenario: Scenario | None, where: str):
    """(columns, rows, labels) of a GIS candidate file, via :mod:`sim.geo` (geo extra)."""
    from sim.extras import require

    require("geo")

    frame = frame_of(scenario.city) if scenario is not None else None
    x, y, _ = read_points(path, frame, where)
    cols, rows = np.floor(x / city.cell_size_m), np.floor(y / city.cell_size_m)
    return cols, rows, [f"point {k + 1}" for k in range(x.size)]


def _checked(city: City, cols: np.ndarray, rows: np.ndarray, labels: list[str], where: str):
    """Flat cells of candidates at ``cols``/``rows``, each inside the city, on land and (on a
    road network) on the streets; repeats count once."""
    if len(labels) == 0:
        raise ScenarioError(f"{where}: no candidates in the file")
    on_streets = city.roads.on_network if city.roads is not None else None
    for c, r, label in zip(cols.tolist(), rows.tolist(), labels, strict=True):
        if not (0 <= c < city.width and 0 <= r < city.height):
            raise ScenarioError(
                f"{where}: {label}: cell [{int(c)}, {int(r)}] is outside the city "
                f"({city.width} x {city.height} cells)"
            )
        if city.bank[int(r), int(c)] < 0:
            raise ScenarioError(f"{where}: {label}: cell [{int(c)}, {int(r)}] is on water or a "
                                "bridge, not on land")  # fmt: skip
        if on_streets is not None and not on_streets[int(r), int(c)]:
            raise ScenarioError(f"{where}: {label}: cell [{int(c)}, {int(r)}] is off the "
                                "street network")  # fmt: skip
    flat = rows.astype(np.int64) * city.width + cols.astype(np.int64)
    return np.unique(flat)


def _csv_cells(text: str, where: str, cell_m: float):
    reader = csv.DictReader(io.StringIO(text))
    fields = set(reader.fieldnames or [])
    if {"col", "row"} <= fields:
        keys, scale = ("col", "row"), None
    elif {"x_m", "y_m"} <= fields:
        keys, scale = ("x_m", "y_m"), cell_m
    else:
        raise ScenarioError(f"{where}: expected columns col,row (cells) or x_m,y_m (metres)")
    cols, rows, labels = [], [], []
    for line, rec in enumerate(reader, start=2):
        try:
            a, b = (float(rec[k]) for k in keys)
        except (TypeError, ValueError):
            raise ScenarioError(
                f"{where}: line {line}: {keys[0]} and {keys[1]} must be numbers"
            ) from None
        if not (np.isfinite(a) and np.isfinite(b)):
            raise ScenarioError(f"{where}: line {line}: {keys[0]} and {keys[1]} must be finite")
        if scale is None and not (a.is_integer() and b.is_integer()):
            raise ScenarioError(f"{where}: line {line}: col and row must be whole numbers")
        cols.append(a // scale if scale else a)
        rows.append(b // scale if scale else b)
        labels.append(f"line {line}")
    return np.array(cols, dtype=float), np.array(rows, dtype=float), labels


def _geojson_points(text: str, where: str) -> list[list[float]]:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise ScenarioError(f"{where}: not valid JSON") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise ScenarioError(f"{where}: expected a GeoJSON FeatureCollection")
    points = []
    for i, f in enumerate(features):
        geom = f.get("geometry") if isinstance(f, dict) else None
        xy = geom.get("coordinates") if isinstance(geom, dict) else None
        ok = (isinstance(geom, dict) and geom.get("type") == "Point" and isinstance(xy, list)
              and len(xy) >= 2 and all(isinstance(v, int | float) and not isinstance(v, bool)
                                       and np.isfinite(v) for v in xy[:2]))  # fmt: skip
        if not ok or not isinstance(xy, list):
            raise ScenarioError(f"{where}: feature {i + 1}: expected a Point [x_m, y_m]")
        points.append([float(xy[0]), float(xy[1])])
    return points
