"""Demand: expected incidents per cell and day that a tier counts and a unit could serve.

Read from the scenario's own incident generation (:mod:`sim.model.incidents`): the daily
rate of each kind (its class's rate, plus probes for sudden kinds, shared by ``share``), the
cell of each incident drawn by residents x the kind's land-use weight, and for tiers that
count only reported incidents the chance that it is reported (a 110 call, or a camera on the
cell). Time of day is the hour profile (:func:`time_slots`).
"""

from __future__ import annotations

import numpy as np

from sim.model.city import City
from sim.model.config import Scenario, TierConfig, kind_calls_for
from sim.model.incidents import kind_cell_weights
from sim.model.responders.meus import open_at

#: Slots per hour for opening hours (given in hours, possibly fractional).
SLOTS_PER_HOUR = 4


def kind_rates_per_day(scenario: Scenario) -> dict[str, float]:
    """Expected incidents (and probes) of each kind per day, whole scenario area."""
    cfg = scenario.incidents
    kinds = cfg.kinds
    sudden = {k for k, v in kinds.items() if v.sudden}
    rates = dict.fromkeys(kinds, 0.0)

    def spread(rate: float, names: set[str]) -> None:
        total = sum(kinds[k].share for k in names)
        for k in names:
            rates[k] += rate * kinds[k].share / total if total > 0 else 0.0

    if cfg.sudden_rate_per_day is None:
        spread(cfg.rate_per_day, set(kinds))
    else:
        spread(cfg.rate_per_day, set(kinds) - sudden)
        spread(cfg.sudden_rate_per_day, sudden)
    if sudden:
        spread(cfg.probes_per_day, sudden)
    return rates


def served_kinds(scenario: Scenario, tier: TierConfig, responder: str) -> list[str]:
    """Kinds the tier counts whose incidents call for ``responder``."""
    kinds = scenario.incidents.kinds
    return [k for k in scenario.counted_kinds(tier) if kind_calls_for(kinds[k], responder)]


def cell_demand(
    scenario: Scenario, city: City, tier: TierConfig, responder: str,
    also: str | None = None,
) -> np.ndarray:  # fmt: skip
    """Expected incidents per day in each cell (flat, row-major) that ``tier`` counts and
    ``responder`` could serve (and, with ``also``, that call for that responder too)."""
    cfg = scenario.incidents
    rates = kind_rates_per_day(scenario)
    out = np.zeros(city.width * city.height)
    camera = city.camera.reshape(-1)
    names = served_kinds(scenario, tier, responder)
    if also is not None:
        names = [k for k in names if kind_calls_for(cfg.kinds[k], also)]
    for name in names:
        weights = kind_cell_weights(cfg, name, city)
        share = rates[name] * weights / weights.sum()
        if tier.scope == "reported":
            call = cfg.kinds[name].call_probability
            seen = camera * cfg.camera_detect_probability
            share = share * (1.0 - (1.0 - call) * (1.0 - seen))
        out += share
    return out


def time_slots(scenario: Scenario) -> np.ndarray:
    """Share of the day's incidents in each slot (24 x SLOTS_PER_HOUR slots, sums to 1)."""
    profile = np.asarray(scenario.incidents.hourly_profile, dtype=float)
    per_slot = np.repeat(profile / SLOTS_PER_HOUR, SLOTS_PER_HOUR)
    return per_slot / per_slot.sum()


def open_by_slot(scenario: Scenario, uses: list[str]) -> np.ndarray:
    """(slots, len(uses)) bool: a unit on a site of each use is open in each slot (the rule of
    :func:`sim.model.responders.meus.open_at`, at the slot's middle)."""
    hours = (np.arange(24 * SLOTS_PER_HOUR) + 0.5) / SLOTS_PER_HOUR
    out = np.ones((hours.size, len(uses)), dtype=bool)
    for j, use in enumerate(uses):
        span = scenario.meus.opening_hours.get(use)  # type: ignore[call-overload]
        if span is None:
            continue
        out[:, j] = open_at(hours, *span)
    return out
