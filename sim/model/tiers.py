"""Which incidents a tier counts and when it reaches them, on each clock.

The tier definitions of docs/model.md ("Definitions") as pure functions of the record
columns and a :class:`~sim.model.config.TierConfig`. The model uses them for its live tier
counts (the view); :mod:`sim.analysis.metrics` builds every figure on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from sim.model.config import ON_SITE_RESPONDERS, RECORDED, TierConfig, default_tiers

#: Where each clock starts, as a record column.
CLOCK_COLUMN = {
    "occurrence": "occurred_s",
    "alert": "alerted_s",
    "dispatch": "police_dispatched_s",
}
#: Arrival columns of the responders who are sent.
ARRIVAL_COLUMN = {"meu_team": "first_meu_s", "volunteer": "first_volunteer_s",
                  "police": "first_police_s"}  # fmt: skip
#: Presence columns of the responders who are at the scene.
PRESENT_COLUMN = {"meu_staff": "meu_staff_on_scene", "volunteer_on_site": "volunteer_on_scene"}


def as_tiers(tiers: Iterable[Any] | None) -> list[TierConfig]:
    """A tier table from the scenario's tiers, their dicts (a manifest), or the default. A
    manifest's responders are not checked against the plug-ins installed here: reading a
    run folder needs its columns, not the fleet that wrote them."""
    if tiers is None:
        return default_tiers()
    return [t if isinstance(t, TierConfig)
            else TierConfig.model_validate(t, context={RECORDED: True}) for t in tiers]  # fmt: skip


def clocks_of(tier: TierConfig) -> list[str]:
    """The clocks a tier's time can be read on: occurrence always; the alert for responders
    who are sent; the dispatch for police-only tiers."""
    out = ["occurrence"]
    if not any(r in ON_SITE_RESPONDERS for r in tier.responders):
        out.append("alert")
    if tier.responders == ["police"]:
        out.append("dispatch")
    return out


def _col(df, name: str) -> np.ndarray:
    """A column as an array: ``df`` is a DataFrame or a mapping of arrays (the live view)."""
    return np.asarray(df[name])


def _isin(df, name: str, values) -> np.ndarray:
    """Where a text column is one of ``values``. On a DataFrame the comparison stays in the
    column's string array (``_col`` of a text column read back from Parquet makes a Python
    string per row, 2.4 million on a city year)."""
    if isinstance(df, pd.DataFrame):
        return df[name].isin(list(values)).to_numpy(bool, na_value=False)
    return np.isin(_col(df, name), values)


def _rows(df) -> int:
    return len(df) if isinstance(df, pd.DataFrame) else len(_col(df, "occurred_s"))


def _has(df, name: str) -> bool:
    return name in (df.columns if isinstance(df, pd.DataFrame) else df)


def _calls_for(df, responder: str) -> np.ndarray:
    if responder in ON_SITE_RESPONDERS:
        return _col(df, "kind_self_rescue").astype(bool)
    if responder == "meu_team":
        return _col(df, "meu_teams_needed") > 0
    if responder == "volunteer":
        return _col(df, "kind_volunteers").astype(bool)
    if responder == "police":
        return _col(df, "police_needed") > 0
    column = f"{responder}_needed"  # a plug-in fleet (sim.model.fleets)
    return _col(df, column) > 0 if _has(df, column) else np.zeros(_rows(df), bool)


def _of_class_and_kind(df, tier: TierConfig) -> np.ndarray:
    """Incidents of the tier's class and kinds that call for one of its responders."""
    mask = np.zeros(_rows(df), bool)
    for r in tier.responders:
        mask |= _calls_for(df, r)
    if tier.incidents != "all":
        mask &= _col(df, "sudden").astype(bool) == (tier.incidents == "sudden")
    if tier.kinds is not None:
        mask &= _isin(df, "kind", tier.kinds)
    if tier.scope == "on_scene":
        present = np.zeros(_rows(df), bool)
        for r in tier.responders:
            if r in PRESENT_COLUMN:
                present |= _col(df, PRESENT_COLUMN[r]).astype(bool)
        mask &= present
    return mask


def of_any_tier(df, tiers: Iterable[TierConfig]) -> np.ndarray:
    """Boolean mask of the incidents of some tier's class and kinds: every tier figure (its
    counts, times, outcome shares and the joint tier) is over these rows alone, so a table
    cut to them gives the same figures (on a city year about 110,000 of 2.4 million rows)."""
    mask = np.zeros(_rows(df), bool)
    for tier in tiers:
        mask |= _of_class_and_kind(df, tier)
    return mask


def counted(df, tier: TierConfig) -> np.ndarray:
    """Boolean mask of the incidents a tier counts."""
    mask = _of_class_and_kind(df, tier)
    if tier.scope == "reported":
        mask &= ~np.isnan(_col(df, "alerted_s").astype(float))
    return mask


def arrival_s(df, tier: TierConfig) -> np.ndarray:
    """Earliest arrival of any of the tier's responders (NaN: none came)."""
    best = np.full(_rows(df), np.inf)
    for r in tier.responders:
        if r in ON_SITE_RESPONDERS:
            t = np.where(_isin(df, "self_rescue_by", [r]), _col(df, "self_rescue_s"), np.nan)
        else:
            t = _col(df, ARRIVAL_COLUMN.get(r, f"first_{r}_s")).astype(float)
        best = np.fmin(best, np.where(np.isnan(t), np.inf, t))
    return np.where(np.isinf(best), np.nan, best)


def times_on_own_clock(df, tier: TierConfig) -> np.ndarray:
    """Time to the tier on its own clock for the incidents it counts (inf: not reached)."""
    mask = counted(df, tier)
    arrived = arrival_s(df, tier)[mask]
    t = arrived - _col(df, CLOCK_COLUMN[tier.clock]).astype(float)[mask]
    return np.where(np.isnan(t), np.inf, t)
