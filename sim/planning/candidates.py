"""The layout a plan is made on, and the cells new units may stand on.

Sites are cells of one city, so a plan and its evaluation use one layout: layout 0 of the
seed (``layout: fixed``), built exactly as :class:`sim.model.response.ResponseModel` builds
it. The scenario's own MEUs are pinned at the cells that layout drew for them
(``meus.site_cells``, at the cell centres), so every arm of the evaluation shares them and
``optimised.yaml`` only adds sites.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.model.city import City, build_city
from sim.model.config import LandUseName, Scenario, ScenarioError
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


def pin_layout(scenario: Scenario, seed: int) -> PlanningLayout:
    """Layout 0 of ``seed`` with the scenario's MEUs pinned at the cells it drew for them."""
    fixed = scenario if scenario.layout == "fixed" else scenario.with_changes({"layout": "fixed"})
    # As ResponseModel builds the layout (its layout index is 0 under layout: fixed).
    city = build_city(fixed.city, fixed.police, generator(seed, 0, Stream.CITY))
    fleet = EmergencyUnitFleet(fixed.meus, city, generator(seed, 0, Stream.MEU_SITES))
    col, row = city.cell_of(fleet.xy) if len(fleet) else (np.zeros(0, int), np.zeros(0, int))
    base = np.stack([col, row], axis=1).astype(np.int64).reshape(-1, 2)
    pinned = fixed.with_changes({"meus.site_cells": base.tolist()}) if len(base) else fixed
    return PlanningLayout(pinned, seed, city, base)


def site_uses(scenario: Scenario) -> list[LandUseName]:
    """Land uses MEUs stand on in this scenario (``meus.site_shares`` with a share > 0)."""
    return [use for use, share in scenario.meus.site_shares.items() if share > 0]


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
    scenario: Scenario, city: City, candidates: np.ndarray, n: int, seed: int, arm: int
) -> np.ndarray:
    """``n`` distinct candidate cells drawn as the model draws MEU sites (land use by
    ``meus.site_shares``, then the cell by residents), from the planning stream of ``arm``."""
    use = city.land_use.reshape(-1)[candidates]
    pop = city.population.reshape(-1)[candidates]
    weight = np.zeros(candidates.size)
    for name in site_uses(scenario):
        at = use == int(LandUse[name.upper()])
        if at.any() and pop[at].sum() > 0:
            weight[at] = scenario.meus.site_shares[name] * pop[at] / pop[at].sum()
    rng = generator(seed, arm, Stream.PLANNING)
    return rng.choice(candidates, size=n, replace=False, p=weight / weight.sum())


def cells_of(city: City, flat: np.ndarray) -> np.ndarray:
    """[column, row] of flat cell indices."""
    flat = np.asarray(flat, dtype=np.int64)
    return np.stack([flat % city.width, flat // city.width], axis=1)
