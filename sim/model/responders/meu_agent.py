"""The Mesa agent of a minimal emergency unit: a view on its fleet's columns
(:mod:`sim.model.responders.meus`). Kept apart from the fleet so that what reads the fleet
without a model (placement planning, ``jiefang optimize``) does not load Mesa."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from sim.model.vocab import LandUse

if TYPE_CHECKING:
    from sim.model.responders.meus import EmergencyUnitFleet


class EmergencyUnit(mesa.Agent):
    """One minimal emergency unit: a view on row ``index`` of its fleet."""

    def __init__(self, model: mesa.Model, fleet: EmergencyUnitFleet, index: int) -> None:
        super().__init__(model)
        self.fleet = fleet
        self.index = index

    @property
    def site_xy(self) -> tuple[float, float]:
        return tuple(self.fleet.xy[self.index])

    @property
    def site_use(self) -> LandUse:
        return LandUse(int(self.fleet.site_use[self.index]))

    @property
    def members(self) -> int:
        return int(self.fleet.members[self.index])

    @property
    def members_free(self) -> int:
        """Members on post today (on site when open) and not out with a team."""
        return max(int(self.fleet.on_site[self.index] - self.fleet.away[self.index]), 0)

    def is_open(self, t: float) -> bool:
        return bool(self.fleet.open_mask(t)[self.index])
