"""Where and when the standard fails: each tier's compliance, counts and P90 by hour of day,
by planning zone, by land use and by incident kind.

Pure functions of the incidents table, the layout's cells and the tier table (nothing here
reads a file). Every share follows the summary's rules (:mod:`sim.analysis.metrics`): each
tier on its own clock, the incidents it counts after the warm-up, never reached counting as
not met; per replication one value, then the mean over replications with the hull of the
Student-t and the pooled Wilson interval (:func:`sim.analysis.stats.proportion_ci`), so it
stays inside [0, 1]. P90: the mean of the replications' P90 with its Student-t interval
(``inf``: more than 10 % never reached). A group with fewer than ``min_incidents`` counted
incidents (all replications together) gets no share, P90 or interval: ``too_few`` says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.analysis.metrics import _joint_from_times, as_tiers, tier_times
from sim.analysis.stats import mean_ci, proportion_ci
from sim.model.config import ScenarioError
from sim.model.zones import ZoneGrid, land_use_problem, zone_grid

#: The tables a run folder holds, by manifest name -> (file, grouping columns).
TABLES = {
    "breakdown_hour": ("breakdown_hour.parquet", ["hour"]),
    "breakdown_area": ("breakdown_area.parquet", ["zone", "zone_col", "zone_row"]),
    "breakdown_landuse": ("breakdown_landuse.parquet", ["land_use"]),
    "breakdown_kind": ("breakdown_kind.parquet", ["kind"]),
}
#: Incident columns the breakdowns read (beyond those the tiers read).
PLACE_COLUMNS = ("x_m", "y_m", "land_use", "hour", "kind")
#: Columns of every breakdown table after its grouping columns.
VALUE_COLUMNS = ["tier", "clock", "target_s", "incidents", "incidents_per_replication",
                 "replications", "met", "compliance", "ci95_low", "ci95_high", "p90_s",
                 "p90_ci95_low", "p90_ci95_high", "too_few", "min_incidents"]  # fmt: skip
#: Land use compared with the rest when the scenario names none and the city has it.
DEFAULT_FOCUS = "urban_village"


@dataclass(frozen=True)
class Settings:
    """What the breakdowns need of the scenario's ``breakdown`` section.

    Args:
        zone_cells: side of a planning zone in cells (None: about 1 km).
        min_incidents: fewest counted incidents (all replications) a group needs for a share.
        focus_land_use: the land use the equity table compares with the rest (None: urban
            villages where the city has any).
    """

    zone_cells: int | None = None
    min_incidents: int = 10
    focus_land_use: str | None = None

    @classmethod
    def of(cls, section: Any) -> Settings:
        """From a scenario's ``breakdown`` (a BreakdownConfig or its dict in a manifest)."""
        if section is None:
            return cls()
        get = section.get if isinstance(section, dict) else lambda k, d=None: getattr(section, k, d)
        return cls(get("zone_cells", None), int(get("min_incidents", 10)),
                   get("focus_land_use", None))  # fmt: skip


def city_zones(cells: pd.DataFrame, zone_cells: int | None) -> ZoneGrid:
    """The zone grid over the city of the layout table (col, row, cell_size_m): a size that
    does not divide the city is a ScenarioError naming ``breakdown.zone_cells``."""
    width, height = int(cells["col"].max()) + 1, int(cells["row"].max()) + 1
    try:
        return zone_grid(float(cells["cell_size_m"].iloc[0]), width, height, zone_cells)
    except ValueError as err:
        raise ScenarioError(f"breakdown.zone_cells: {err}") from None


def occurred_kinds(incidents: pd.DataFrame) -> list[str]:
    """The kinds that occurred after the warm-up, sorted: breakdown_kind's rows."""
    return sorted(_distinct(incidents.loc[~incidents["in_warmup"].to_numpy(bool), "kind"]))


def _distinct(column: pd.Series) -> set[str]:
    """``set(column.astype(str))``, casting only the distinct values: a city's cells are
    some hundred thousand rows of a few land uses."""
    return set(pd.Series(column.unique()).astype(str))


def focus_land_use(cells: pd.DataFrame, asked: str | None) -> str | None:
    """The land use the equity table compares: the one asked for (a ScenarioError if the
    city has none of it), else urban villages where there are any, else none."""
    present = _distinct(cells["land_use"]) - {"water", "bridge"}
    if asked is not None:
        problem = land_use_problem(asked, present)
        if problem:
            raise ScenarioError(f"breakdown.focus_land_use: {problem}")
        return asked
    return DEFAULT_FOCUS if DEFAULT_FOCUS in present else None


def with_zones(incidents: pd.DataFrame, zones: ZoneGrid) -> pd.DataFrame:
    """``incidents`` with zone, zone_col and zone_row of each incident's cell."""
    col, row = zones.zone_of(incidents["x_m"].to_numpy(float), incidents["y_m"].to_numpy(float))
    return incidents.assign(zone=zones.zone_id(col, row), zone_col=col, zone_row=row)


def own_clock_times(
    incidents: pd.DataFrame, tiers, by: Sequence[str], extra: Sequence[str] = ()
) -> pd.DataFrame:
    """One row per (incident, tier) the tier counts, on the tier's own clock, plus the joint
    tier (every tier that counts it met; time NaN). Columns: replication, ``by``, the
    carried ``extra`` (hour, land_use, kind), tier, clock, time_s, met."""
    if "replication" not in incidents.columns:
        incidents = incidents.assign(replication=0)
    by = list(by)
    times = tier_times(incidents, tiers, by)
    joint = _joint_from_times(times, by).assign(time_s=np.nan)
    keep = ["replication", *dict.fromkeys([*by, *extra]), "tier", "clock", "time_s", "met"]
    return pd.concat([times[keep], joint[keep]], ignore_index=True)


def _p90(times: pd.DataFrame, keys: list[str]) -> pd.Series:
    """Empirical 90th percentile (inverted CDF, as the summary's) of time_s per group."""
    codes = times.groupby(keys, sort=True, observed=True).ngroup().to_numpy()
    t = times["time_s"].to_numpy(float)
    order = np.lexsort((t, codes))
    counts = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    at = starts + np.ceil(0.9 * counts).astype(np.int64) - 1
    return pd.Series(t[order][at])


def breakdown(
    incidents: pd.DataFrame,
    tiers,
    by: Sequence[str],
    *,
    min_incidents: int = 10,
    replications: int | None = None,
    times: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per (group, tier): the tier's compliance with its interval, its counts and its
    P90 over the incidents of the group (columns: ``by`` then :data:`VALUE_COLUMNS`).

    Args:
        incidents: the incidents table (replication column optional), with ``by``'s columns.
        tiers: the scenario's tier table (or its dicts).
        by: grouping columns (hour; zone, zone_col, zone_row; land_use; kind).
        min_incidents: fewer counted incidents than this over all replications: no share.
        replications: the run's replications (default: those in the table), the
            denominator of incidents_per_replication.
        times: :func:`own_clock_times` of these incidents with ``by`` among its columns, if
            the caller has it (one long table serves every grouping of a city year).
    """
    if min_incidents < 1:
        raise ValueError(f"min_incidents must be >= 1, got {min_incidents}")
    by = list(by)
    tiers = as_tiers(tiers)
    if replications is None:
        replications = int(incidents["replication"].nunique()) if "replication" in incidents else 1
    if times is None:
        times = own_clock_times(incidents, tiers, by)
    keys = ["replication", *by, "tier", "clock"]
    per = times.groupby(keys, sort=True, observed=True).agg(n=("met", "size"), met=("met", "sum"))
    per = per.reset_index()
    per["p90_s"] = _p90(times, keys).to_numpy() if len(times) else []
    per["compliance"] = per["met"] / per["n"]
    targets = {t.name: t.target_s for t in tiers}
    rows = []
    # The groups' rows as numpy slices (a city's zones are over a thousand groups, and a
    # pandas sub-frame per group cost more than the intervals): a stable sort on the group
    # number keeps each group's rows in the order groupby gives them.
    grouped = per.groupby([*by, "tier", "clock"], sort=True, observed=True)
    codes = grouped.ngroup().to_numpy()
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes, minlength=grouped.ngroups)
    ends = np.cumsum(sizes)
    ns, shares = per["n"].to_numpy(float)[order], per["compliance"].to_numpy(float)[order]
    p90s, mets = per["p90_s"].to_numpy(float)[order], per["met"].to_numpy()[order]
    for key, end, start in zip(grouped.size().index, ends, ends - sizes, strict=True):
        n = ns[start:end]
        total = int(n.sum())
        few = total < min_incidents
        c = (math.nan,) * 3 if few else proportion_ci(shares[start:end], n)
        if few:
            p_mean, p_half = math.nan, math.nan
        else:
            p_mean, p_half = mean_ci(p90s[start:end])
        rows.append((*key, targets.get(key[-2], math.nan), total, total / replications,
                     end - start, int(mets[start:end].sum()), *c, p_mean, p_mean - p_half,
                     p_mean + p_half, few, min_incidents))  # fmt: skip
    return pd.DataFrame(rows, columns=[*by, *VALUE_COLUMNS])


def _tier_names(tiers) -> list[str]:
    return [*(t.name for t in as_tiers(tiers)), "joint"]


def _complete(table: pd.DataFrame, by: list[str], groups: pd.DataFrame, tiers,
              min_incidents: int) -> pd.DataFrame:  # fmt: skip
    """Every group x tier, also those with no counted incident (incidents 0, too_few)."""
    names = _tier_names(tiers)
    full = groups.merge(pd.DataFrame({"tier": names}), how="cross")
    clocks = {t.name: t.clock for t in as_tiers(tiers)} | {"joint": "own"}
    targets = {t.name: t.target_s for t in as_tiers(tiers)}
    if table.empty:  # no counted incident: the keys take the groups' types
        table = table.astype({c: groups[c].dtype for c in by} | {"tier": object})
    out = full.merge(table.drop(columns=["clock", "target_s"]), on=[*by, "tier"], how="left")
    out["clock"] = out["tier"].map(clocks)
    out["target_s"] = out["tier"].map(targets).astype(float)
    for col in ("incidents", "replications", "met"):
        out[col] = out[col].fillna(0).astype(np.int64)
    out["incidents_per_replication"] = out["incidents_per_replication"].fillna(0.0)
    out["too_few"] = out["too_few"].astype("boolean").fillna(True).astype(bool)
    out["min_incidents"] = min_incidents
    return out[[*groups.columns, *VALUE_COLUMNS]]


def breakdowns(
    incidents: pd.DataFrame,
    tiers,
    cells: pd.DataFrame,
    settings: Settings,
    replications: int | None = None,
    kinds: Sequence[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """The four breakdown tables of a run (names as in :data:`TABLES`): by hour (all 24
    hours), by zone (every zone of the city, with its corner and size), by land use (every
    land use the city has) and by kind (every kind that occurred: ``kinds``, or
    :func:`occurred_kinds` of ``incidents``; a caller handing in only the incidents some
    tier counts (sim.model.tiers.of_any_tier) names the kinds of all of them)."""
    missing = [c for c in PLACE_COLUMNS if c not in incidents.columns]
    if missing:
        raise ValueError(f"the incidents table lacks {', '.join(missing)}")
    zones = city_zones(cells, settings.zone_cells)
    focus_land_use(cells, settings.focus_land_use)  # a land use the city lacks: refused now
    inc = with_zones(incidents, zones)
    m = settings.min_incidents
    # One long table of (incident, tier) serves all four groupings.
    times = own_clock_times(inc, tiers, ["zone", "zone_col", "zone_row"],
                            ["hour", "land_use", "kind"])  # fmt: skip
    r = replications
    out = {}
    hours = pd.DataFrame({"hour": np.arange(24, dtype=np.int64)})
    out["breakdown_hour"] = _complete(breakdown(inc, tiers, ["hour"], min_incidents=m,
                                                replications=r, times=times),
                                      ["hour"], hours, tiers, m)  # fmt: skip
    zr, zc = np.divmod(np.arange(zones.zones_wide * zones.zones_high), zones.zones_wide)
    area_keys = ["zone", "zone_col", "zone_row"]
    all_zones = pd.DataFrame({"zone": zones.zone_id(zc, zr), "zone_col": zc, "zone_row": zr})
    area = _complete(breakdown(inc, tiers, area_keys, min_incidents=m, replications=r,
                               times=times), area_keys, all_zones, tiers, m)  # fmt: skip
    area.insert(3, "x_m", area["zone_col"] * zones.zone_m)
    area.insert(4, "y_m", area["zone_row"] * zones.zone_m)
    area.insert(5, "zone_m", zones.zone_m)
    wide, high = zones.extent_cells(area["zone_col"], area["zone_row"])
    area.insert(6, "width_m", wide * zones.cell_size_m)
    area.insert(7, "height_m", high * zones.cell_size_m)
    area.insert(8, "cells", wide * high)
    out["breakdown_area"] = area
    uses = sorted(_distinct(cells["land_use"]) - {"water", "bridge"})
    out["breakdown_landuse"] = _complete(
        breakdown(inc, tiers, ["land_use"], min_incidents=m, replications=r, times=times),
        ["land_use"], pd.DataFrame({"land_use": uses}), tiers, m)  # fmt: skip
    kinds = occurred_kinds(inc) if kinds is None else list(kinds)
    out["breakdown_kind"] = _complete(
        breakdown(inc, tiers, ["kind"], min_incidents=m, replications=r, times=times),
        ["kind"], pd.DataFrame({"kind": kinds}), tiers, m)  # fmt: skip
    return out


def worst(table: pd.DataFrame, by: Sequence[str], tier: str, count: int = 3) -> pd.DataFrame:
    """The ``count`` groups of a breakdown table where ``tier`` is met least (groups with
    too few incidents left out), lowest compliance first."""
    rows = table[(table["tier"] == tier) & ~table["too_few"].astype(bool)]
    return rows.sort_values(["compliance", "incidents"], ascending=[True, False],
                            kind="stable").head(count)[[*by, *VALUE_COLUMNS]]  # fmt: skip
