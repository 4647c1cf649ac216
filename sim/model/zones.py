"""Planning zones: the city's cells aggregated to square zones, the areas the breakdowns
(sim.analysis.breakdown) report on. The rule lives here, beside the city it cuts, so that a
scenario is checked by the same rule the tables use.

A zone is ``zone_cells`` x ``zone_cells`` cells; zone (0, 0) holds the city's north-west
corner, ``zone_col`` grows east and ``zone_row`` south, and ``zone`` = ``zone_row *
zones_wide + zone_col``. A size given in the scenario must divide the city's width and
height; the default (about 1 km) may leave the last column and row of zones clipped to the
city, which ``cells`` (land and water cells inside the city) says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Side of a default planning zone, m (rounded to whole cells).
DEFAULT_ZONE_M = 1000.0


def default_zone_cells(cell_size_m: float) -> int:
    """Whole cells nearest :data:`DEFAULT_ZONE_M` (at least one)."""
    return max(1, round(DEFAULT_ZONE_M / cell_size_m))


def zone_size_problem(zone_cells: int | None, width: int, height: int) -> str | None:
    """Why ``zone_cells`` cannot cut a ``width`` x ``height`` city, or None."""
    if zone_cells is None:
        return None
    if width % zone_cells == 0 and height % zone_cells == 0:
        return None
    fits = [d for d in range(1, math.gcd(width, height) + 1) if math.gcd(width, height) % d == 0]
    return (
        f"{zone_cells} cells does not divide the city ({width} x {height} cells) into whole "
        f"zones; sizes that do: {', '.join(map(str, fits[:12]))} (or leave it out: about 1 km, "
        "edge zones clipped)"
    )


def land_use_problem(use: str, present: set[str]) -> str | None:
    """Why ``use`` cannot be the focus of an equity table of a city with ``present``."""
    if use in present:
        return None
    return f"the city has no {use} cells (it has: {', '.join(sorted(present)) or 'none'})"


@dataclass(frozen=True)
class ZoneGrid:
    """Square zones over a grid city.

    Args:
        cell_size_m: side of a city cell, m.
        width, height: the city in cells (west-east, north-south).
        zone_cells: side of a zone, cells.
    """

    cell_size_m: float
    width: int
    height: int
    zone_cells: int

    def __post_init__(self) -> None:
        if self.cell_size_m <= 0 or self.width < 1 or self.height < 1 or self.zone_cells < 1:
            raise ValueError(
                f"a zone grid needs positive sizes, got cell {self.cell_size_m} m, "
                f"{self.width} x {self.height} cells, zones of {self.zone_cells}"
            )

    @property
    def zone_m(self) -> float:
        return self.zone_cells * self.cell_size_m

    @property
    def zones_wide(self) -> int:
        return -(-self.width // self.zone_cells)

    @property
    def zones_high(self) -> int:
        return -(-self.height // self.zone_cells)

    def zone_of(self, x_m, y_m) -> tuple[np.ndarray, np.ndarray]:
        """(zone_col, zone_row) of positions in grid metres (clipped to the city, as cells
        are)."""
        s = self.cell_size_m
        col = np.floor_divide(np.asarray(x_m, float), s).astype(np.int64)
        row = np.floor_divide(np.asarray(y_m, float), s).astype(np.int64)
        col, row = np.clip(col, 0, self.width - 1), np.clip(row, 0, self.height - 1)
        return col // self.zone_cells, row // self.zone_cells

    def zone_id(self, zone_col, zone_row) -> np.ndarray:
        return np.asarray(zone_row, np.int64) * self.zones_wide + np.asarray(zone_col, np.int64)

    def extent_cells(self, zone_col, zone_row) -> tuple[np.ndarray, np.ndarray]:
        """(cells west-east, cells north-south) of each zone inside the city (fewer than
        zone_cells at a clipped edge)."""
        z = self.zone_cells
        wide = np.minimum(self.width - np.asarray(zone_col) * z, z)
        high = np.minimum(self.height - np.asarray(zone_row) * z, z)
        return wide.astype(np.int64), high.astype(np.int64)

    def cells_in(self, zone_col, zone_row) -> np.ndarray:
        """City cells inside each zone (fewer than zone_cells² at a clipped edge)."""
        wide, high = self.extent_cells(zone_col, zone_row)
        return wide * high


def zone_grid(cell_size_m: float, width: int, height: int, zone_cells: int | None) -> ZoneGrid:
    """The zone grid of a city; ValueError naming the problem when ``zone_cells`` does not
    divide it."""
    problem = zone_size_problem(zone_cells, width, height)
    if problem:
        raise ValueError(problem)
    size = zone_cells if zone_cells is not None else default_zone_cells(cell_size_m)
    return ZoneGrid(cell_size_m, width, height, min(size, max(width, height)))
