"""The sub-district cut keeps the police density around incidents of the city it is cut
from, so its police tier is the city's: within 5 points on the alert clock and on the
dispatch clock (issue 24; the land-average cut met it in 31 % against the city's 57 %)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.analysis.metrics import mean_ci, tier_times
from sim.geo.scenario import load_scenario
from sim.model.config import tier_table
from sim.model.frames import incidents_frame
from sim.model.response import ResponseModel
from tests.conftest import SCENARIOS


def police_compliance(name: str, reps: int, **changes) -> dict[str, list[float]]:
    """Per replication, the police tier's compliance on the alert and the dispatch clock."""
    sc = load_scenario(SCENARIOS / name)
    sc = sc.with_changes(changes) if changes else sc
    # The same 5-minute police tier in both (the city measures the official circles, where
    # police are the 10-minute street tier; the sub-district seed 002's 1-3-5).
    (police,) = [t for t in tier_table("1-3-5") if t.name == "police"]
    tier = police.name
    out: dict[str, list[float]] = {"alert": [], "dispatch": []}
    for r in range(reps):
        df = incidents_frame(ResponseModel(sc, seed=0, replication=r).run())
        times = tier_times(df, [police], all_clocks=True)
        for clock, values in out.items():
            values.append(float(times[(times.tier == tier) & (times.clock == clock)].met.mean()))
    return out


def units_per_km2_around_incidents(name: str, **changes) -> float:
    """Police units per km2 of the incident's police grid, averaged over incidents."""
    sc = load_scenario(SCENARIOS / name)
    model = ResponseModel(sc.with_changes(changes) if changes else sc, seed=0)
    grid = model.city.grid_of_cell
    area = np.bincount(grid[grid >= 0]) * (model.city.cell_size_m / 1000) ** 2
    col, row = model.city.cell_of(model.incidents.xy)
    return float(np.mean(len(model.police) / len(area) / area[grid[row, col]]))


@pytest.mark.slow
def test_the_subdistricts_police_tier_is_the_citys_within_5_points():
    city = police_compliance("guangzhou-2023.yaml", 4, horizon_hours=26.0)
    sub = police_compliance("guangzhou-2023-subdistrict.yaml", 10)
    for clock in ("alert", "dispatch"):
        (c, c_half), (s, s_half) = mean_ci(city[clock]), mean_ci(sub[clock])
        assert abs(s - c) <= 0.05, (
            f"{clock}: sub-district {s:.3f} ± {s_half:.3f}, city {c:.3f} ± {c_half:.3f}"
        )


def test_the_subdistrict_keeps_the_citys_density_around_incidents():
    city = units_per_km2_around_incidents("guangzhou-2023.yaml", horizon_hours=26.0)
    sub = units_per_km2_around_incidents("guangzhou-2023-subdistrict.yaml")
    land = load_scenario(SCENARIOS / "guangzhou-2023.yaml")
    land_average = land.police.units / (land.city.width * land.city.height * 0.04)
    assert city > 2 * land_average  # incidents are where people, and police grids, are
    assert abs(sub / city - 1) < 0.15, (sub, city)
