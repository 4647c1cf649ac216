"""Typed scenario files: YAML loading with ``extends``, validation, and clear errors.

A scenario is validated completely at load, before anything runs. Every user mistake
becomes one :class:`ScenarioError` whose message names the file, the key path and what was
expected; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import copy
import math
import os
import re
import stat
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.model.crs import crs_problem
from sim.model.distributions import Duration, Exponential, Fixed, Lognormal
from sim.model.plugins import (
    DISPATCH_PLUGINS,
    FLEET_PLUGINS,
    MOVE_UP_PLUGINS,
    PlugInError,
    is_responder,
    known_responders,
)

LandUseName = Literal[
    "residential",
    "commercial",
    "school",
    "market",
    "mall",
    "night_market",
    "urban_village",
    "hospital",
]

Share = Annotated[float, Field(ge=0, le=1)]
NonNeg = Annotated[float, Field(ge=0)]
Hour = Annotated[float, Field(ge=0, le=24)]


class ScenarioError(ValueError):
    """A scenario or sweep file is not valid. The message is meant for the user as is."""


class Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, allow_inf_nan=False, validate_default=True
    )


def _hourly(name: str, v: Any, low: float, high: float | None = None) -> list[float]:
    """A 24-value hour-of-day profile given as one number or as 24 numbers."""
    values = [v] * 24 if isinstance(v, int | float) and not isinstance(v, bool) else v
    if not isinstance(values, list) or len(values) != 24:
        raise ValueError(f"{name} must be one number or a list of 24 numbers (hours 0-23)")
    for h, x in enumerate(values):
        if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
            # The type only: the value may come from a file whose text must not be echoed.
            raise ValueError(f"{name}[{h}] must be a finite number, got {_kind(x)}")
        if x < low or (high is not None and x > high):
            bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise ValueError(f"{name}[{h}] must be {bound}, got {x!r}")
    return [float(x) for x in values]


#: A share on duty by hour of day, one value or 24 (police units, volunteers), in [0, 1].
OnDutyShare = Annotated[
    float | list[float], BeforeValidator(lambda v: _hourly("on_duty_share", v, 0.0, 1.0))
]


def _by_use(values: dict[LandUseName, float]) -> dict[LandUseName, float]:
    """A default keyed by land use, typed as such (a bare dict literal reads as dict[str, ...])."""
    return values


def by_hour(values: float | list[float]) -> list[float]:
    """An hour-of-day profile as its 24 values (validation has already expanded one value)."""
    return values if isinstance(values, list) else [float(values)] * 24


def on_duty_counts(share: float | list[float], units: int) -> list[int]:
    """Police units on duty in each hour of the day: ``share x units`` rounded half up (so a
    share of 0.5 of 3 units is 2), the one rounding rule of ``police.on_duty_share``."""
    return [math.floor(s * units + 0.5) for s in by_hour(share)]


def _check_cells(name: str, cells: list[list[int]] | None, count_name: str, count: int) -> None:
    """Explicit [column, row] cells: one per unit, whole and non-negative."""
    if cells is None:
        return
    if len(cells) != count:
        raise ValueError(f"{name} lists {len(cells)} cells but {count_name} is {count}")
    for c in cells:
        if len(c) != 2 or min(c) < 0:
            raise ValueError(f"{name} entries must be [column, row] >= 0, got {c}")


# ---------------------------------------------------------------------------- city
class Centre(Strict):
    """A centre of population density; density falls off exponentially with distance."""

    x: Share = Field(0.5, description="position across the city, fraction of its width")
    y: Share = Field(0.5, description="position down the city, fraction of its height")
    weight: float = Field(1.0, gt=0, description="relative peak density")
    scale_km: float = Field(3.0, gt=0, description="distance over which density falls by e, km")


class River(Strict):
    """A band of water across the city, crossed only at bridges."""

    axis: Literal["horizontal", "vertical"] = Field(
        "horizontal", description="direction the river runs"
    )
    position: Share = Field(0.5, description="centre line, fraction of the city's extent")
    width_cells: int = Field(2, ge=1, description="width of the water band, cells")
    meander_cells: float = Field(0.0, ge=0, description="amplitude of the river's bends, cells")
    bridges: int = Field(3, ge=0, description="number of bridges, evenly spaced")


class CityConfig(Strict):
    map_file: str | None = Field(
        None,
        description="text raster (one character per cell, see docs/model.md) replacing the "
        "generated land use; path relative to the scenario file",
    )
    width: int = Field(60, ge=1, le=4000, description="cells west-east (ignored with map_file)")
    height: int = Field(40, ge=1, le=4000, description="cells north-south (ignored with map_file)")
    cell_size_m: float = Field(100.0, gt=0, le=5000, description="side of a square cell, m")
    population: int = Field(100_000, ge=0, description="resident population, persons")
    centres: list[Centre] = Field(
        default_factory=lambda: [Centre()], min_length=1, description="density centres"
    )
    background_density: float = Field(
        0.05, ge=0, description="density floor relative to the peak centre"
    )
    land_use_shares: dict[LandUseName, Share] = Field(
        default_factory=lambda: _by_use(
            {
                "commercial": 0.08,
                "school": 0.03,
                "market": 0.02,
                "mall": 0.02,
                "night_market": 0.005,
                "urban_village": 0.05,
                "hospital": 0.005,
            }
        ),
        description="share of land cells of each key-site use; the rest is residential",
    )
    rivers: list[River] = Field(default_factory=list, description="rivers (generator only)")
    camera_share: Share = Field(0.0, description="share of land cells watched by a public camera")
    crs: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="projected CRS in metres that places the grid on the Earth (e.g. "
        "'EPSG:3067'); with origin; none for a synthetic city",
    )
    origin: tuple[float, float] | None = Field(
        None,
        # YAML has no tuples: a two-item list is the natural spelling, so this one field is lax.
        strict=False,
        description="easting and northing in crs of the grid's north-west corner, m "
        "(x grows east, y grows south: docs/geography.md)",
    )
    population_raster: str | None = Field(
        None,
        description="GeoTIFF of residents per pixel (any CRS; geo extra), resampled onto the "
        "grid keeping its total; it places the grid: crs (default: the UTM zone of its "
        "centre), origin (default: its north-west corner), width, height and population "
        "are taken from it; path relative to the scenario file (docs/geography.md)",
    )
    sites_file: str | None = Field(
        None,
        description="key sites (GeoJSON, GeoPackage or CSV with lon/lat or x_m/y_m "
        "columns, and a land_use column) replacing the generated ones; needs crs and origin "
        "or population_raster; path relative to the scenario file",
    )
    key_sites: list[tuple[int, int, LandUseName]] | None = Field(
        None,
        description="explicit [column, row, land use] key sites replacing the generated ones "
        "(filled from sites_file)",
    )

    @field_validator("origin", mode="before")
    @classmethod
    def _origin_from_yaml(cls, v):
        # YAML has no tuples: an [easting, northing] list is one.
        return tuple(v) if isinstance(v, list) else v

    @field_validator("key_sites", mode="before")
    @classmethod
    def _sites_from_yaml(cls, v):
        # YAML has no tuples: each [column, row, land use] list is one.
        return [tuple(p) if isinstance(p, list) else p for p in v] if isinstance(v, list) else v

    @field_validator("land_use_shares")
    @classmethod
    def _shares_fit(cls, v):
        if sum(v.values()) > 1:
            raise ValueError(f"shares sum to {sum(v.values()):.3f}; they must sum to at most 1")
        return v

    @model_validator(mode="after")
    def _frame_complete(self):
        if self.population_raster is not None and self.map_file is not None:
            raise ValueError("population_raster and map_file cannot be combined: each sets "
                             "the grid")  # fmt: skip
        if self.population_raster is None and (self.crs is None) != (self.origin is None):
            raise ValueError("crs and origin go together: give both or neither")
        if self.origin is not None and not all(math.isfinite(v) for v in self.origin):
            raise ValueError("origin must be two finite numbers of metres")
        return self


# ---------------------------------------------------------------------------- responders
class PoliceConfig(Strict):
    stations: int = Field(1, ge=1, description="police stations")
    grids: int = Field(1, ge=1, description="police grids (patrol areas); at least `stations`")
    units: int = Field(4, ge=0, description="patrol units (cars and foot patrols) on duty")
    car_share: Share = Field(1.0, description="share of units that drive; the rest walk")
    call_handling: Duration = Field(
        default_factory=lambda: Lognormal(dist="lognormal", median_s=60.0, sigma=0.5),
        description="110 call taking and dispatch, s",
    )
    patrol_when_idle: bool = Field(
        True, description="idle units patrol their station's grids instead of waiting at base"
    )
    patrol_leg_s: float = Field(
        900.0, gt=0, description="a patrolling unit moves to a new spot in its grids this often, s"
    )
    station_cells: list[list[int]] | None = Field(
        None, description="explicit [column, row] cells of the stations; default: generated"
    )
    stations_file: str | None = Field(
        None,
        description="station points (GeoJSON, GeoPackage or CSV with lon/lat or x_m/y_m "
        "columns; geo extra) setting station_cells and stations; path relative to the "
        "scenario file",
    )
    dispatch: str = Field(
        "nearest",
        description="dispatch policy: nearest (the units that arrive first) or own_grid_first "
        "(units patrolling the incident's grid first); plug-ins: sim.model.policies",
    )
    move_up: str = Field(
        "none",
        description="idle-unit relocation: none, or uncovered_longest (an idle unit covers the "
        "grid left uncovered longest); plug-ins: sim.model.policies",
    )
    on_duty_share: OnDutyShare = Field(
        1.0,
        description="share of units on duty, one value or 24 by hour of day: round(share x "
        "units) (half up) from each hour's start, the last units of the roster order off "
        "first (docs/model.md)",
    )

    @property
    def has_roster(self) -> bool:
        """Whether some hour has fewer than all units on duty."""
        return min(on_duty_counts(self.on_duty_share, self.units)) < self.units

    @model_validator(mode="after")
    def _consistent(self):
        for key, plugins in (("dispatch", DISPATCH_PLUGINS), ("move_up", MOVE_UP_PLUGINS)):
            name = getattr(self, key)
            if name not in plugins:
                raise ValueError(f"{key}: unknown policy {name!r}; installed: "
                                 f"{plugins.choices()}")  # fmt: skip
            try:
                plugins.get(name)  # an installed one that cannot be loaded is named here
            except PlugInError as err:
                raise ValueError(f"{key}: {err}") from None
        if self.grids < self.stations:
            raise ValueError(f"grids ({self.grids}) must be >= stations ({self.stations})")
        _check_cells("station_cells", self.station_cells, "stations", self.stations)
        if self.units and max(on_duty_counts(self.on_duty_share, self.units)) == 0:
            raise ValueError(f"on_duty_share: share x units, rounded half up, is 0 in every hour "
                             f"({self.units} units): no unit is ever on duty")  # fmt: skip
        return self


class VolunteerConfig(Strict):
    count: int = Field(0, ge=0, description="registered volunteers")
    on_duty_share: OnDutyShare = Field(
        0.05, description="share of volunteers on duty, one value or 24 by hour of day"
    )
    patrol_radius_m: NonNeg = Field(
        300.0, description="on duty, volunteers patrol this near home, m"
    )
    alert_radius_m: NonNeg = Field(500.0, description="on-duty volunteers this near are alerted, m")
    acceptance: Share = Field(0.5, description="probability an alerted volunteer goes")
    max_responders: int = Field(3, ge=0, description="at most this many nearest volunteers go")
    response_delay: Duration = Field(
        default_factory=lambda: Lognormal(dist="lognormal", median_s=30.0, sigma=0.5),
        description="from alert to setting off, s",
    )
    on_scene_s: NonNeg = Field(900.0, description="time a volunteer stays at a scene, s")
    witness_radius_m: NonNeg = Field(
        30.0, description="an on-duty volunteer this near the scene is at the scene, m"
    )
    recruited: list[list[int]] = Field(
        default_factory=list,
        description="more volunteers recruited by cell, [column, row, count] each (whole "
        "numbers >= 0), added to count's volunteers; each lives uniformly in its cell and "
        "behaves as any other (jiefang optimize --add volunteers writes it)",
    )

    @field_validator("recruited")
    @classmethod
    def _recruited_cells(cls, v: list[list[int]]) -> list[list[int]]:
        for entry in v:
            if len(entry) != 3 or min(entry) < 0:
                raise ValueError(f"entries must be [column, row, count] >= 0, got {entry}")
        return v

    @property
    def total(self) -> int:
        """All volunteers: ``count`` spread by residents plus those ``recruited`` by cell."""
        return self.count + sum(c[2] for c in self.recruited)

    @model_validator(mode="after")
    def _someone_on_duty(self):
        if self.total and max(by_hour(self.on_duty_share)) == 0:
            raise ValueError("on_duty_share: 0 in every hour with volunteers registered: "
                             "no volunteer is ever on duty")  # fmt: skip
        return self


class MeuConfig(Strict):
    count: int = Field(0, ge=0, description="minimal emergency units")
    members_per_unit: float = Field(12.6, ge=1, description="trained members per unit (mean)")
    on_duty_share: Share = Field(
        0.3,
        description="probability a member is on post on a day (drawn per member and day: "
        "Binomial(members, share) per unit, on site while the unit is open)",
    )
    team_size: int = Field(3, ge=1, description="members sent as one team with equipment")
    site_shares: dict[LandUseName, Share] = Field(
        default_factory=lambda: _by_use(
            {
                "school": 0.2,
                "mall": 0.2,
                "market": 0.2,
                "commercial": 0.2,
                "urban_village": 0.2,
            }
        ),
        description="share of units at each kind of site",
    )
    opening_hours: dict[LandUseName, list[Hour]] = Field(
        default_factory=dict,
        description="[open, close) hour by site land use; close < open wraps midnight; "
        "unlisted uses are open all day",
    )
    mobilisation: Duration = Field(
        default_factory=lambda: Lognormal(dist="lognormal", median_s=45.0, sigma=0.4),
        description="from alert to the team setting off with equipment, s",
    )
    coverage_radius_m: NonNeg = Field(
        500.0, description="a unit sends teams to incidents within this travel distance, m"
    )
    site_cells: list[list[int]] | None = Field(
        None,
        description="explicit [column, row] cell of each unit (at the cell's centre); "
        "default: drawn by site_shares",
    )
    sites_file: str | None = Field(
        None,
        description="MEU site points (GeoJSON, GeoPackage or CSV with lon/lat or x_m/y_m "
        "columns; geo extra) setting site_cells and count; path relative to the scenario file",
    )
    readiness_tests_per_day: NonNeg = Field(
        0.0, description="unannounced readiness tests of a random unit per day (whole area)"
    )
    readiness_test_hours: list[Hour] = Field(
        default_factory=lambda: [8.0, 20.0],
        min_length=2,
        max_length=2,
        description="[start, end) clock hours in which readiness tests are made",
    )

    @model_validator(mode="after")
    def _consistent(self):
        start, end = self.readiness_test_hours
        if end < start:
            raise ValueError(f"readiness_test_hours: end ({end}) must be >= start ({start})")
        _check_cells("site_cells", self.site_cells, "count", self.count)
        if self.count and sum(self.site_shares.values()) <= 0:
            raise ValueError("site_shares must have a positive share when count > 0")
        if self.count and self.on_duty_share == 0:
            raise ValueError("on_duty_share: 0 with units to staff: no member is ever on post")
        if self.count and self.team_size > math.ceil(self.members_per_unit):
            raise ValueError(
                f"team_size: {self.team_size} exceeds the members of a unit "
                f"(members_per_unit {self.members_per_unit}): no team could ever go"
            )
        for use, hours in self.opening_hours.items():
            if len(hours) != 2:
                raise ValueError(f"opening_hours.{use} must be [open, close], got {hours}")
        return self


class TravelConfig(Strict):
    walk_m_s: float = Field(1.4, gt=0, description="walking speed (MEU teams returning), m/s")
    volunteer_m_s: float = Field(2.3, gt=0, description="alerted volunteers' speed, m/s")
    run_with_equipment_m_s: float = Field(2.0, gt=0, description="MEU team with kit, m/s")
    foot_patrol_m_s: float = Field(1.6, gt=0, description="police foot patrol hurrying, m/s")
    drive_m_s: float = Field(8.3, gt=0, description="police car, free-flow, m/s")
    congestion_by_hour: float | list[float] = Field(
        1.0, description="driving-time multiplier, one value or 24 by hour of day (>= 1)"
    )
    road_network: str | None = Field(
        None,
        description="street network for travel (an OpenStreetMap .osm.pbf or a GraphML file; "
        "geo extra): trips follow the shortest streets at each mode's speed; default: the "
        "grid's Manhattan metric; path relative to the scenario file (docs/geography.md)",
    )
    road_network_type: Literal["driving", "walking", "all"] = Field(
        "driving", description="which streets of an .osm.pbf are read (pyrosm's network_type)"
    )
    road_snap_m: float = Field(
        300.0,
        gt=0,
        description="a cell whose centre has no street node this near is off the network "
        "(unreachable), m",
    )

    @field_validator("congestion_by_hour", mode="before")
    @classmethod
    def _congestion_by_hour(cls, v):
        return _hourly("congestion_by_hour", v, 1.0)


# ---------------------------------------------------------------------------- incidents
class IncidentKind(Strict):
    share: float = Field(gt=0, description="relative frequency among incidents of its class")
    sudden: bool = Field(
        True,
        description="a sudden incident (突发事件), the class the 1-3-5 standard is written for; "
        "false: a routine 110 call (traffic, theft, ...) that loads the police",
    )
    priority: int = Field(2, ge=0, le=9, description="queue priority, 0 most urgent")
    self_rescue: bool = Field(True, description="people at the scene can act (1-minute tier)")
    volunteers: bool = Field(True, description="volunteers are alerted (3-minute tier)")
    meu_teams: int = Field(1, ge=0, description="MEU teams sent (3-minute tier)")
    police_units: int = Field(1, ge=0, description="police units needed (5-minute tier)")
    call_probability: Share = Field(0.9, description="probability someone calls 110")
    handling: Duration = Field(
        default_factory=lambda: Lognormal(dist="lognormal", median_s=1200.0, sigma=0.6),
        description="on-scene time once police (or else first help) arrive, s",
    )
    land_use_weight: dict[LandUseName, NonNeg] | None = Field(
        None, description="overrides incidents.land_use_weight for this kind"
    )
    fleets: dict[str, Annotated[int, Field(ge=1, le=1000)]] = Field(
        default_factory=dict,
        description="units asked of plug-in fleets (sim.model.fleets), by fleet name",
    )


def _default_kinds() -> dict[str, IncidentKind]:
    return {"disturbance": IncidentKind(share=1.0)}


class IncidentsConfig(Strict):
    rate_per_day: NonNeg = Field(
        50.0,
        description="mean incidents per day, whole scenario area; with sudden_rate_per_day "
        "set, routine incidents only",
    )
    sudden_rate_per_day: NonNeg | None = Field(
        None,
        description="mean sudden incidents per day, drawn from their own stream; unset: "
        "sudden kinds share rate_per_day with the routine kinds",
    )
    probes_per_day: NonNeg = Field(
        0.0,
        description="probe emergencies per day: sudden incidents placed where and when sudden "
        "incidents happen, from their own stream, counted by the tiers but never as activity",
    )
    hourly_profile: float | list[float] = Field(
        1.0, description="relative rate by hour of day (normalised to mean 1)"
    )
    land_use_weight: dict[LandUseName, NonNeg] = Field(
        default_factory=lambda: _by_use(
            {
                "commercial": 2.0,
                "market": 3.0,
                "mall": 3.0,
                "night_market": 4.0,
                "school": 1.5,
                "urban_village": 1.5,
            }
        ),
        description="incident risk per resident relative to residential land",
    )
    kinds: dict[str, IncidentKind] = Field(
        default_factory=_default_kinds, min_length=1, description="incident kinds"
    )
    call_delay: Duration = Field(
        default_factory=lambda: Lognormal(dist="lognormal", median_s=60.0, sigma=0.7),
        description="occurrence to a 110 call, s",
    )
    witness_delay: Duration = Field(
        default_factory=lambda: Lognormal(dist="lognormal", median_s=20.0, sigma=0.5),
        description="occurrence to an alert raised by someone at the scene, s",
    )
    camera_delay: Duration = Field(
        default_factory=lambda: Lognormal(dist="lognormal", median_s=90.0, sigma=0.7),
        description="occurrence to a camera operator's alert, s",
    )
    camera_detect_probability: Share = Field(
        0.5, description="probability a camera on the cell leads to an alert"
    )
    self_rescue_delay: Duration = Field(
        default_factory=lambda: Lognormal(dist="lognormal", median_s=30.0, sigma=0.5),
        description="occurrence to people at the scene acting, s",
    )
    replay: str | None = Field(
        None,
        min_length=1,
        description="CSV of historical incidents replayed in every replication (columns "
        "time_s or time, x_m/y_m or lon/lat, kind: docs/outputs.md); path relative to the "
        "scenario file",
    )
    replay_mode: Literal["replace", "add"] = Field(
        "replace",
        description="replace: the replay is every incident (no generated incidents or "
        "probes); add: replayed incidents join the generated ones",
    )
    replay_start: str | None = Field(
        None,
        description="ISO 8601 date and time that is t = 0 for a replay file's time column "
        "(with an offset: converted to UTC, as the file's times); unset: midnight of the "
        "earliest incident's day",
    )

    @field_validator("replay_start")
    @classmethod
    def _start_is_iso(cls, v):
        from sim.model.replay import check_start

        return v if v is None else check_start(v)

    @field_validator("hourly_profile", mode="before")
    @classmethod
    def _profile_by_hour(cls, v):
        return _hourly("hourly_profile", v, 0.0)

    @model_validator(mode="after")
    def _profile_positive(self):
        if sum(by_hour(self.hourly_profile)) <= 0:
            raise ValueError("hourly_profile must have at least one positive hour")
        sudden = [k for k, v in self.kinds.items() if v.sudden]
        routine = [k for k, v in self.kinds.items() if not v.sudden]
        if self.sudden_rate_per_day is not None:
            if self.sudden_rate_per_day > 0 and not sudden:
                raise ValueError("sudden_rate_per_day is set but no kind is sudden")
            if self.rate_per_day > 0 and not routine:
                raise ValueError(
                    "with sudden_rate_per_day set, rate_per_day is the routine rate, "
                    "but every kind is sudden (set rate_per_day: 0 or add a routine kind)"
                )
        if self.probes_per_day > 0 and not sudden:
            raise ValueError("probes_per_day > 0 needs at least one sudden kind to probe")
        if self.replay is None and self.replay_mode == "add":
            raise ValueError("replay_mode: add needs incidents.replay (a CSV of incidents)")
        if self.replay is None and self.replay_start is not None:
            raise ValueError("replay_start: needs incidents.replay (a CSV of incidents)")
        return self


# ---------------------------------------------------------------------------- tiers
#: Built-in responders; plug-in fleets (sim.model.fleets) add their own names.
Responder = str
#: Responders who are at the scene when it happens (they are never sent).
ON_SITE_RESPONDERS = ("meu_staff", "volunteer_on_site")
Clock = Literal["occurrence", "alert", "dispatch"]
TierScope = Literal["all", "reported", "on_scene"]


#: Validation context for a tier table read back from a run folder (``{RECORDED: True}``): its
#: responders are whatever the run recorded, whether or not their plug-in is installed here.
RECORDED = "recorded"


class TierConfig(Strict):
    """One tier of the standard: who counts, by when, from which clock, for which incidents."""

    name: str = Field(
        min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$", description="tier name"
    )
    target_s: float = Field(gt=0, le=86400, description="the tier is met within this time, s")
    responders: list[Responder] = Field(
        min_length=1, description="responders whose arrival counts (the earliest of them)"
    )
    clock: Clock = Field(
        "occurrence",
        description="when the tier's time starts: occurrence, alert (the system learns of "
        "it) or dispatch (the first police unit is sent; police tiers only)",
    )
    scope: TierScope = Field(
        "reported",
        description="incidents counted: all, reported (an alert was raised) or on_scene "
        "(someone able to act was at the scene: on-site responders only)",
    )
    incidents: Literal["sudden", "routine", "all"] = Field(
        "sudden", description="incident class counted (probes are sudden)"
    )
    kinds: list[str] | None = Field(
        None,
        description="incident kinds counted; default: every kind that calls for the responders",
    )

    @field_validator("responders")
    @classmethod
    def _known_responders(cls, v, info: ValidationInfo):
        if info.context is not None and info.context.get(RECORDED):
            return v  # what a run measured: its columns are in its tables
        unknown = [r for r in v if not is_responder(r)]
        if unknown:
            raise ValueError(
                f"unknown responder {unknown[0]!r}; installed: {', '.join(known_responders())} "
                "(other kinds of responder are plug-in fleets: docs/extending.md)"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if len(set(self.responders)) != len(self.responders):
            raise ValueError(f"tier {self.name!r}: responders lists a responder twice")
        on_site = [r for r in self.responders if r in ON_SITE_RESPONDERS]
        if self.clock == "dispatch" and self.responders != ["police"]:
            raise ValueError(
                f"tier {self.name!r}: clock 'dispatch' exists for police-only tiers (MEU teams "
                "and volunteers are sent at the alert; people on site are never sent)"
            )
        if self.scope == "on_scene" and not on_site:
            raise ValueError(
                f"tier {self.name!r}: scope 'on_scene' needs an on-site responder "
                f"({', '.join(ON_SITE_RESPONDERS)}); nothing else is at the scene when it happens"
            )
        if self.clock == "alert" and on_site:
            raise ValueError(
                f"tier {self.name!r}: on-site responders act before any alert; use clock "
                "'occurrence'"
            )
        return self


def default_tiers() -> list[TierConfig]:
    """The 1-3-5 standard of seed 002: self-rescue in 1 minute, mutual rescue in 3, police in 5."""
    return [
        TierConfig(name="self", target_s=60.0, responders=["meu_staff", "volunteer_on_site"],
                   clock="occurrence", scope="on_scene"),
        TierConfig(name="mutual", target_s=180.0, responders=["meu_team", "volunteer"],
                   clock="alert", scope="reported"),
        TierConfig(name="police", target_s=300.0, responders=["police"], clock="alert",
                   scope="reported"),
    ]  # fmt: skip


def kind_calls_for(kind: IncidentKind, responder: str) -> bool:
    """Whether incidents of this kind call for this responder at all."""
    if responder in ON_SITE_RESPONDERS:
        return kind.self_rescue
    if responder == "meu_team":
        return kind.meu_teams > 0
    if responder == "volunteer":
        return kind.volunteers
    if responder == "police":
        return kind.police_units > 0
    return kind.fleets.get(responder, 0) > 0


# ---------------------------------------------------------------------------- breakdowns
class BreakdownConfig(Strict):
    """How the run's breakdowns (sim.analysis.breakdown) cut the city: read after the run,
    never by the model."""

    zone_cells: int | None = Field(
        None, ge=1, le=4000,
        description="side of a planning zone in city cells (the cells aggregate to square "
        "zones); must divide the city's width and height. Default: the whole number of "
        "cells nearest 1 km, edge zones clipped to the city",
    )  # fmt: skip
    min_incidents: int = Field(
        10, ge=1, le=1_000_000,
        description="a zone, hour, land use or kind with fewer counted incidents (all "
        "replications together) shows no share: too_few is set instead",
    )  # fmt: skip
    focus_land_use: LandUseName | None = Field(
        None,
        description="neighbourhood type compared with the rest of the city in the equity "
        "table; default urban_village where the city has any (a land use the city lacks "
        "is an error)",
    )


# ---------------------------------------------------------------------------- scenario
class Scenario(Strict):
    name: str = Field(min_length=1, description="short name used in output folders")
    description: str = Field("", description="what the scenario represents")
    horizon_hours: float = Field(
        24.0, gt=0, le=24 * 366 * 20, description="incidents occur in [0, horizon), h"
    )
    warmup_hours: NonNeg = Field(
        0.0, description="incidents before this are simulated but excluded from metrics, h"
    )
    replications: int = Field(
        5, ge=1, le=100_000, description="independent replications per run (CLI may override)"
    )
    drain_hours: NonNeg = Field(
        12.0, description="after the horizon, time allowed for open incidents to clear, h"
    )
    city: CityConfig = Field(default_factory=CityConfig)
    police: PoliceConfig = Field(default_factory=PoliceConfig)
    volunteers: VolunteerConfig = Field(default_factory=VolunteerConfig)
    meus: MeuConfig = Field(default_factory=MeuConfig)
    incidents: IncidentsConfig = Field(default_factory=IncidentsConfig)
    travel: TravelConfig = Field(default_factory=TravelConfig)
    breakdown: BreakdownConfig = Field(
        default_factory=BreakdownConfig,
        description="planning zones and the minimum count of the breakdown tables",
    )
    tiers: list[TierConfig] = Field(
        default_factory=default_tiers,
        min_length=1,
        description="the tiers of the standard measured (name, target, responders, clock, "
        "scope); default: 1-3-5 (docs/model.md, Definitions)",
    )
    fleets: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="settings of plug-in responder fleets (sim.model.fleets), by fleet name",
    )
    layout: Literal["per_replication", "fixed"] = Field(
        "per_replication",
        description="per_replication: each replication draws its own synthetic layout (city, "
        "stations, homes, MEU sites), so intervals cover the layout; fixed: every replication "
        "uses the seed's one layout (a real city is one layout)",
    )
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="key path -> where its value comes from (seed file and figure, or "
        "'assumption: reason')",
    )
    # The parsed incidents.replay file (sim.model.replay), attached by the loader: the model
    # does no I/O, and pickling a scenario to a worker carries it.
    _replay: Any = PrivateAttr(default=None)

    @property
    def replay(self):
        """The replayed incidents (:class:`sim.model.replay.ReplayIncidents`) or None."""
        if self.incidents.replay is not None and self._replay is None:
            raise ValueError(
                "incidents.replay is set but not read: build scenarios with load_scenario "
                "or with_changes, which read the file"
            )
        return self._replay

    @model_validator(mode="after")
    def _consistent(self):
        if self.warmup_hours >= self.horizon_hours:
            raise ValueError(
                f"warmup_hours ({self.warmup_hours}) must be less than "
                f"horizon_hours ({self.horizon_hours})"
            )
        if "tiers" not in self.model_fields_set:
            # The default 1-3-5 table keeps the tiers this scenario's kinds can use (a
            # police-only scenario has no self-rescue tier); a table the user writes is
            # checked in full instead.
            usable = [t for t in self.tiers if self.counted_kinds(t)]
            object.__setattr__(self, "tiers", usable)
        self._check_tiers()
        self._check_fleets()
        return self

    def _check_fleets(self) -> None:
        """Each fleet's section checked by its plug-in's Config and kept with its defaults
        filled in (a sweep's baseline reads a default the scenario does not write)."""
        sections = {}
        for name, section in self.fleets.items():
            try:
                fleet = FLEET_PLUGINS.get(name)
            except PlugInError as err:
                raise ValueError(f"fleets.{name}: {err}") from None
            try:
                sections[name] = fleet.Config.model_validate(section).model_dump(mode="json")
            except ValidationError as err:
                first = err.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"fleets.{name}.{where}: {first['msg']}") from None
        object.__setattr__(self, "fleets", sections)
        for kind_name, kind in self.incidents.kinds.items():
            for name in kind.fleets:
                if name not in self.fleets:
                    raise ValueError(
                        f"incidents.kinds.{kind_name}.fleets: {name!r} is not configured "
                        "under fleets"
                    )

    def _check_tiers(self) -> None:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names) or "joint" in names:
            raise ValueError(f"tiers: names must be distinct and not 'joint', got {names}")
        kinds = self.incidents.kinds
        for i, tier in enumerate(self.tiers):
            listed = tier.kinds if tier.kinds is not None else list(kinds)
            unknown = [k for k in listed if k not in kinds]
            if unknown:
                raise ValueError(f"tiers.{i}.kinds: unknown incident kinds {unknown}")
            if not self.counted_kinds(tier):
                raise ValueError(
                    f"tiers.{i}: tier {tier.name!r} can count no incident: no "
                    f"{tier.incidents} kind among {listed} calls for {tier.responders}"
                )

    def counted_kinds(self, tier: TierConfig) -> list[str]:
        """Kinds whose incidents a tier counts (its class, calling for its responders)."""
        kinds = self.incidents.kinds
        listed = tier.kinds if tier.kinds is not None else list(kinds)
        return [
            k for k in listed
            if any(kind_calls_for(kinds[k], r) for r in tier.responders)
            and (tier.incidents == "all" or kinds[k].sudden == (tier.incidents == "sudden"))
        ]  # fmt: skip

    def with_changes(self, changes: dict[str, Any], *, replay: bool = True) -> Scenario:
        """A copy with values replaced at dotted key paths, validated again.

        ``replay=False`` leaves the replay file unread (the caller attaches it)."""
        raw = self.model_dump(mode="python")
        for path, value in changes.items():
            set_path(raw, path, value)
        # Only the changed values are echoed; the rest come from the scenario's files.
        changed = {tuple(p.split(".")): "<changes>" for p in changes}
        try:
            scenario = Scenario.model_validate(raw)
        except ValidationError as err:
            raise ScenarioError(
                format_validation_error("<changes>", err, changed, "the scenario")
            ) from None
        check_feasible(scenario, "<changes>", changed)
        if replay:
            _attach_replay(scenario, "<changes>", "incidents.replay" in changes)
        return scenario


# Defaults for the distributions are built by factories; keep names importable for tests.
__all__ = ["Exponential", "Fixed", "Lognormal", "Scenario", "ScenarioError", "load_scenario"]


# ---------------------------------------------------------------------------- feasibility
#: A scenario's name goes into folder names and reports.
MAX_NAME_CHARS = 200


def check_feasible(
    scenario: Scenario, source: str, origins: Origins | None = None, own: str | None = None
) -> None:
    """Refuse scenarios that validate key by key yet cannot be simulated meaningfully.

    Each is found from the configuration alone (and the map file, read once with a size
    cap), before anything is built. Behaviour that is allowed and defined instead is
    documented in docs/reliability.md (e.g. ``police.units: 0`` means no police tier).
    """
    own = source if own is None else own
    map_from = (origins or {}).get(("city", "map_file"), own)
    problems = [
        f"{source}: {_render_loc(loc, own, origins, None)[0]}: {what}"
        for loc, what in _infeasible(scenario, source, map_from == own)
    ]
    if problems:
        raise ScenarioError("\n".join(problems[:MAX_PROBLEMS]))


def _infeasible(sc: Scenario, source: str, own_map: bool = True):
    """(key path, what is wrong) for each way the scenario cannot run, in the order a reader
    meets them: its name and shares, its incident kinds, its people, then its grid."""
    yield from _name_and_share_problems(sc)
    yield from _kind_problems(sc)
    yield from _population_problems(sc)
    shape, land = yield from _grid_of(sc, source, own_map)
    if shape is not None:
        yield from _grid_problems(sc, shape, land)


def _name_and_share_problems(sc: Scenario):
    if not sc.name.isprintable() or len(sc.name) > MAX_NAME_CHARS:
        yield (
            ("name",),
            (
                f"must be printable text of at most {MAX_NAME_CHARS} characters "
                f"(got {len(sc.name):,} characters)"
            ),
        )
    shares = [k.share for k in sc.incidents.kinds.values()]
    if not math.isfinite(sum(shares)):
        yield (
            ("incidents", "kinds"),
            (
                "the kinds' shares add up to more than the largest number (about 1.8e308); "
                "shares are relative frequencies, so use numbers of a sensible size"
            ),
        )


def _kind_problems(sc: Scenario):
    """Kinds that would wait for good or that nobody can help."""
    vol, meu, police = sc.volunteers, sc.meus, sc.police
    volunteers_can = (
        vol.total > 0 and vol.acceptance > 0 and vol.max_responders > 0
        and max(by_hour(vol.on_duty_share)) > 0
    )  # fmt: skip
    for name, kind in sc.incidents.kinds.items():
        loc = ("incidents", "kinds", name)
        if 0 < police.units < kind.police_units:
            yield (
                (*loc, "police_units"),
                (
                    f"needs {kind.police_units} police units at once but police.units is "
                    f"{police.units}: units would wait at these incidents for good"
                ),
            )
        helped = (
            kind.self_rescue or (kind.volunteers and volunteers_can)
            or (kind.meu_teams > 0 and meu.count > 0 and meu.coverage_radius_m > 0)
            or (kind.police_units > 0 and police.units > 0)
            or bool(kind.fleets)  # a plug-in fleet's own config says whether it can go
        )  # fmt: skip
        if not helped:
            yield (
                loc,
                (
                    "nobody can ever help with this kind: self_rescue is off and no volunteers, "
                    "MEU teams or police units can be sent to it"
                ),
            )


def _population_problems(sc: Scenario):
    """Volunteers or MEU sites placed among residents of a city without any."""
    vol, meu = sc.volunteers, sc.meus
    if sc.city.population == 0 and vol.count > 0:
        yield (
            ("city", "population"),
            (
                f"is 0 but volunteers.count is {vol.count:,}: volunteers live among the "
                "residents, so none could be placed"
            ),
        )
    if sc.city.population == 0 and meu.count > 0 and meu.site_cells is None:
        yield (
            ("city", "population"),
            (
                f"is 0 but meus.count is {meu.count:,}: MEU sites are drawn where people live "
                "(give meus.site_cells to place them by hand)"
            ),
        )


def _grid_of(sc: Scenario, source: str, own_map: bool):
    """The grid's (rows, cols) and land mask, read from the map file (once per map: every
    sweep point names the same one) or generated; yields the map's own problems."""
    if sc.city.map_file is not None:
        key = _map_key(Path(sc.city.map_file))
        if key in _MAP_SEEN:  # every sweep point names the same map: read it once
            shape, land = _MAP_SEEN[key]
        else:
            shape, land = yield from _map_problems(Path(sc.city.map_file), source, own_map)
            if key is not None and shape is not None:
                if len(_MAP_SEEN) > 16:
                    _MAP_SEEN.clear()
                _MAP_SEEN[key] = (shape, land)
    else:
        shape, land = (sc.city.height, sc.city.width), _generated_land(sc.city)
    return shape, land


def _grid_problems(sc: Scenario, shape: tuple[int, int], land):
    """Police grids and stations the cells cannot hold, a city of water, placed cells off the
    grid or on water, and the breakdown's zones."""
    vol, meu, police = sc.volunteers, sc.meus, sc.police
    yield from _breakdown_problems(sc, shape, land is not None)
    cells = shape[0] * shape[1]
    for count in ("grids", "stations"):
        if getattr(police, count) > cells:
            yield (
                ("police", count),
                (
                    f"{getattr(police, count):,} is more than the city's {cells:,} cells "
                    f"(each police {count[:-1]} needs at least one cell)"
                ),
            )
    if land is not None and not land.any():
        yield ("city",), "has no land cells (all water or bridges): nobody could live there"
    placed = (("police", "station_cells", police.station_cells),
              ("meus", "site_cells", meu.site_cells),
              ("volunteers", "recruited", [c[:2] for c in vol.recruited]))  # fmt: skip
    for section, name, given in placed:
        for i, (col, row) in enumerate(given or []):
            if row >= shape[0] or col >= shape[1]:
                yield (
                    (section, name, i),
                    (f"[{col}, {row}] is outside the city ({shape[1]} x {shape[0]} cells)"),
                )
            elif land is not None and not land[row, col]:
                yield (section, name, i), f"[{col}, {row}] is on water or a bridge, not on land"


def _breakdown_problems(sc: Scenario, shape: tuple[int, int], known: bool):
    """A zone size that does not divide the city, or a focus land use it cannot have (only
    where the grid is known before the build: a raster sets it at build, and the breakdown
    checks again on the built city)."""
    if sc.city.population_raster is not None:
        return
    from sim.model.zones import land_use_problem, zone_size_problem

    problem = zone_size_problem(sc.breakdown.zone_cells, shape[1], shape[0])
    if problem:
        yield ("breakdown", "zone_cells"), problem
    use = sc.breakdown.focus_land_use
    if use is not None and sc.city.map_file is None and known:
        present = {"residential"} if sum(sc.city.land_use_shares.values()) < 1 else set()
        present |= {u for u, share in sc.city.land_use_shares.items() if share > 0}
        present |= {site[2] for site in sc.city.key_sites or []}
        problem = land_use_problem(use, present)
        if problem:
            yield ("breakdown", "focus_land_use"), problem


#: Map files already checked, by (path, modification time, size).
_MAP_SEEN: dict[tuple, tuple] = {}


def _map_key(path: Path) -> tuple | None:
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (str(path), info.st_mtime_ns, info.st_size, info.st_ino)


def _generated_land(city: CityConfig):
    """Cells of a generated city that may be land: only cells every river covers whatever
    the seed are water here (exact for rivers that do not meander)."""
    import numpy as np

    if city.width * city.height > 4_000_000:
        return None
    land = np.ones((city.height, city.width), dtype=bool)
    for r in city.rivers:
        across = city.height if r.axis == "horizontal" else city.width

        def low(centre: float, across=across, r=r) -> int:
            return int(np.clip(np.round(centre - r.width_cells / 2), 0, across - 1))

        # The bend moves the band by up to meander_cells either way (sim.model.city._carve_river).
        lo_min = low(r.position * across - r.meander_cells)
        lo_max = low(r.position * across + r.meander_cells)
        band = slice(lo_max, min(lo_min + r.width_cells, across))
        if r.axis == "horizontal":
            land[band, :] = False
        else:
            land[:, band] = False
    return land


def _map_problems(path: Path, source: str, own: bool = True):
    """Check a map file as the city will read it; return ((rows, columns), land mask).

    Messages give row and column, never the file's text (it may be any file).
    """
    import numpy as np

    from sim.model.vocab import MAP_CHARS, LandUse

    where = ("city", "map_file")
    shown = _show_path(path) if own else "(the map file named in another file)"
    try:
        data = read_regular_file(path, MAX_MAP_BYTES, f"{source}: city.map_file: {shown}")
    except ScenarioError as err:
        raise ScenarioError(str(err)) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        yield where, f"{shown}: not a UTF-8 text file"
        return None, None
    lines = [ln.rstrip("\r\n") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        yield where, f"{shown}: map file has no rows"
        return None, None
    width = len(lines[0])
    if len(lines) > MAX_MAP_CELLS or width > MAX_MAP_CELLS:
        yield (
            where,
            (
                f"{shown}: map is {width:,} x {len(lines):,} cells; at most "
                f"{MAX_MAP_CELLS} x {MAX_MAP_CELLS}"
            ),
        )
        return None, None
    codes = np.full(128, -1, dtype=np.int16)
    for ch, use in MAP_CHARS.items():
        codes[ord(ch)] = int(use)
    grid = np.zeros((len(lines), width), dtype=np.int16)
    for r, line in enumerate(lines):
        if len(line) != width:
            yield (
                where,
                (f"{shown}: map row {r + 1} has {len(line)} cells, expected {width} like row 1"),
            )
            return None, None
        raw = np.frombuffer(line.encode("utf-32-le"), dtype=np.uint32)
        row = np.where(raw < 128, codes[np.minimum(raw, 127)], -1)
        bad = np.flatnonzero(row < 0)
        if bad.size:
            allowed = " ".join(MAP_CHARS)
            yield (
                where,
                (
                    f"{shown}: map row {r + 1}, column {bad[0] + 1}: not a map "
                    f"character (expected one of {allowed})"
                ),
            )
            return None, None
        grid[r] = row
    land = (grid != LandUse.WATER) & (grid != LandUse.BRIDGE)
    return grid.shape, land


# ---------------------------------------------------------------------------- loading
#: Scenario and sweep files are small; anything larger is a mistake or hostile (issue 11).
MAX_YAML_BYTES = 1 << 20
#: Map files: a 4000 x 4000 raster with line ends and a few comment lines.
MAX_MAP_BYTES = 17 << 20
MAX_MAP_CELLS = 4000
#: Values in one YAML document after aliases are expanded (a 1 MiB file without aliases
#: holds fewer); bounds "billion laughs" documents before anything walks them.
MAX_YAML_VALUES = 250_000
#: Longest path the kernel accepts (PATH_MAX) and longest path component (NAME_MAX).
MAX_PATH_BYTES, MAX_NAME_BYTES = 4095, 255
#: At most this many problems are listed in one message; the rest are counted.
MAX_PROBLEMS = 20

_EXP_NUMBER_TAG = "tag:jiefang,2026:exponent-number"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses duplicate keys (a silent last-one-wins is a user trap),
    refuses keys that are lists or mappings, keeps the standard ``<<`` merge key, and reads
    ``1e5`` as a number (YAML 1.1 makes it a string)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:  # merged keys may be overridden: not duplicates
            continue
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(
                None, None, "a key must be a plain name, not a list or a mapping",
                key_node.start_mark,
            )  # fmt: skip
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {_short(key)}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


def _construct_exponent_number(loader: _UniqueKeyLoader, node: yaml.ScalarNode):
    """``1e5`` -> 100000 (whole, exactly representable) and ``2.5e-3`` -> 0.0025."""
    value = float(loader.construct_scalar(node).replace("_", ""))
    if math.isfinite(value) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_UniqueKeyLoader.add_constructor(_EXP_NUMBER_TAG, _construct_exponent_number)
_EXP_NUMBER = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
# add_implicit_resolver appends (after YAML 1.1's float rule); ours must come first, in this
# class's own copy of the table.
_UniqueKeyLoader.yaml_implicit_resolvers = {
    k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "-+.0123456789":
    _UniqueKeyLoader.yaml_implicit_resolvers.setdefault(_first, []).insert(
        0, (_EXP_NUMBER_TAG, _EXP_NUMBER)
    )


class _TooBig(Exception):
    pass


def _expanded_size(root: yaml.Node) -> int:
    """Values in the document once every alias is expanded, without expanding any.

    Aliases share their node, so the document is a graph; sizes are summed over it once.
    Raises _TooBig over MAX_YAML_VALUES, ValueError for a node that contains itself.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = (
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
            else node.value if isinstance(node, yaml.SequenceNode) else []
        )  # fmt: skip
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            if size[key] > MAX_YAML_VALUES:
                raise _TooBig
            continue
        if key in size:
            continue
        if key in on_path:
            raise ValueError("an alias refers to a value that contains it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)
    return size[id(root)]


def _parse_yaml(text: str) -> Any:
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _show(value: Any, limit: int = 60) -> str:
    """A short escaped fragment of a value: never more than ``limit`` characters, no control
    characters, so a message can neither flood a terminal nor steer it."""
    return _short(value, limit)


def _show_path(text: str | Path) -> str:
    text = str(text)
    return text if len(text) <= 200 and text.isprintable() else _short(text, 80)


def check_path_text(text: str, where: str, *, echo: bool = True) -> None:
    """A file path named in a file: something the OS can open, or one clear error.

    ``echo=False``: the path was read from a file whose text is never shown.
    """
    got = f" (got {_short(text)})" if echo else ""
    if not text:
        raise ScenarioError(f"{where}: expected a file path, got an empty string")
    if "\x00" in text:
        raise ScenarioError(f"{where}: a file path cannot contain a NUL byte{got}")
    raw = text.encode("utf-8", "surrogateescape")
    if len(raw) > MAX_PATH_BYTES:
        raise ScenarioError(
            f"{where}: file path is {len(raw):,} bytes long; at most {MAX_PATH_BYTES}{got}"
        )
    if any(len(part) > MAX_NAME_BYTES for part in raw.split(b"/")):
        raise ScenarioError(
            f"{where}: a file or folder name in the path is longer than {MAX_NAME_BYTES} bytes{got}"
        )


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)  # fmt: skip


def read_regular_file(path: Path, limit: int, where: str | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or one clear error.

    Devices, FIFOs and sockets are refused before they are opened (``/dev/zero`` would be
    read until memory runs out, a FIFO would block for good); the open itself does not
    block and the type is checked again on the open file.
    """
    where = where or _show_path(path)
    check_path_text(str(path), where)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise _NotRegular(info.st_mode)
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise _NotRegular(info.st_mode)
            if info.st_size > limit:
                raise _Oversize(info.st_size)
            data = b""
            while len(data) <= limit:
                chunk = os.read(fd, limit + 1 - len(data))
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise ScenarioError(f"{where}: file not found") from None
    except NotADirectoryError:
        raise ScenarioError(f"{where}: file not found (a folder on the path is a file)") from None
    except PermissionError:
        raise ScenarioError(f"{where}: cannot read (permission denied)") from None
    except _NotRegular as err:
        kind = next((name for test, name in _FILE_KINDS if test(err.mode)), "not a regular file")
        # The same reader serves YAML, map, replay and candidate files: name no format here.
        if stat.S_ISDIR(err.mode):
            raise ScenarioError(f"{where}: is {kind}, expected a file") from None
        raise ScenarioError(
            f"{where}: is {kind}, expected a regular file (only regular files are read)"
        ) from None
    except _Oversize as err:
        raise ScenarioError(
            f"{where}: file is {err.size:,} bytes; at most {limit:,} are read"
        ) from None
    except OSError as err:
        raise ScenarioError(f"{where}: cannot read ({err.strerror or 'error'})") from None
    if len(data) > limit:
        raise ScenarioError(f"{where}: file is larger than {limit:,} bytes; at most that is read")
    return data


class _NotRegular(Exception):
    def __init__(self, mode: int):
        self.mode = mode


class _Oversize(Exception):
    def __init__(self, size: int):
        self.size = size


def read_yaml_mapping(path: Path, where: str | None = None, *, own: bool = True) -> dict:
    """Read a YAML file that must hold a mapping; errors become :class:`ScenarioError`.

    ``own``: the file is the one the user named. Problems in any other file (a scenario's
    ``extends`` chain, a sweep's base) are reported by line and column only, since that
    file's text may be anything the user can name (``/etc/shadow``).
    """
    where = where or _show_path(path)
    data = read_regular_file(path, MAX_YAML_BYTES, where)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(f"{where}: not a UTF-8 text file") from None
    try:
        doc = _parse_yaml(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = _escape(str(err.problem), 160) if own and err.problem else ""
        detail = f": {problem}" if problem else ""
        raise ScenarioError(f"{where}: {at}invalid YAML{detail}") from None
    except yaml.YAMLError:
        raise ScenarioError(f"{where}: invalid YAML") from None
    except RecursionError:
        raise ScenarioError(f"{where}: invalid YAML: nested too deeply") from None
    except _TooBig:
        raise ScenarioError(
            f"{where}: the document expands to more than {MAX_YAML_VALUES:,} values "
            "(aliases repeated inside aliases?); scenario and sweep files are far smaller"
        ) from None
    except ValueError as err:  # the recursive alias
        raise ScenarioError(f"{where}: invalid YAML: {err}") from None
    if doc is None:
        raise ScenarioError(f"{where}: file is empty, expected a mapping of scenario keys")
    if not isinstance(doc, dict):
        raise ScenarioError(f"{where}: expected a mapping of keys at the top, got {_kind(doc)}")
    return doc


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        base_value = out.get(key)
        if (
            isinstance(value, dict)
            and isinstance(base_value, dict)
            and _same_dist(base_value, value)
        ):
            out[key] = deep_merge(base_value, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _same_dist(base: dict, override: dict) -> bool:
    """A distribution mapping whose ``dist`` changes is replaced whole, not merged: the keys
    of a lognormal mean nothing to a fixed duration."""
    return "dist" not in override or override.get("dist") == base.get("dist")


def set_path(raw: dict, path: str, value: Any) -> None:
    """Set ``raw[a][b][c] = value`` for ``path == "a.b.c"``, creating mappings on the way."""
    keys = path.split(".")
    node = raw
    for key in keys[:-1]:
        nxt = node.get(key)
        if nxt is None:
            nxt = node[key] = {}
        if not isinstance(nxt, dict):
            raise ScenarioError(
                f"{_show(path)}: {_show(key)} is not a mapping, cannot set a key inside it"
            )
        node = nxt
    node[keys[-1]] = value


#: key path (tuple of keys) -> file its value was read from (see :func:`resolve_origins`).
Origins = dict[tuple, str]
#: The origin of a value given on the command line (``--set KEY=VALUE``).
SET_ORIGIN = "--set"


def resolve_extends(path: Path) -> dict[str, Any]:
    """The raw mapping of a scenario with its ``extends`` chain merged in (base first)."""
    return resolve_origins(path)[0]


def resolve_origins(
    path: Path, where: str | None = None, _chain: tuple[Path, ...] = (), *, own: bool = True
) -> tuple[dict[str, Any], Origins]:
    """:func:`resolve_extends`, and the file each key path was read from."""
    where = where or _show_path(path)
    check_path_text(str(path), where, echo=own)
    try:
        path = path.resolve() if path.exists() else path
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop (Python < 3.13)
        raise ScenarioError(
            f"{where}: cannot read ({getattr(err, 'strerror', None) or 'symlink loop'})"
        ) from None
    if path in _chain:
        raise ScenarioError(
            f"{where}: extends: cycle (the chain of {len(_chain)} file(s) returns to "
            f"{_show_path(_chain[0]) if path == _chain[0] else 'a file in it'})"
        )
    raw = read_yaml_mapping(path, where, own=own)
    parent = raw.pop("extends", None)
    raw = _anchor_paths(raw, path.parent, where, own=own)
    origins: Origins = {}
    _mark_origins(raw, (), str(path), origins)
    if parent is None:
        return raw, origins
    if not isinstance(parent, str):
        raise ScenarioError(f"{where}: extends: expected a file path, got {_kind(parent)}")
    check_path_text(parent, f"{where}: extends", echo=own)
    # A path read from another file is not shown either: it is that file's text.
    shown = _show_path(parent) if own else "(the file it names)"
    from sim.model.catalogue import locate

    try:  # a file beside this one, or a shipped scenario by name (`extends: demo`)
        parent_path = locate(parent, path.parent, echo=own)
    except ScenarioError as err:
        raise ScenarioError(f"{where}: extends: {err}") from None
    base, base_origins = resolve_origins(
        parent_path, f"{where}: extends: {shown}", (*_chain, path), own=False
    )
    return deep_merge(base, raw), {**base_origins, **origins}


def _mark_origins(node: Any, prefix: tuple, label: str, out: Origins) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            out[(*prefix, key)] = label
            _mark_origins(value, (*prefix, key), label, out)


#: Keys holding file paths (section, key): each is relative to the file that names it.
PATH_KEYS = (
    ("city", "map_file"),
    ("city", "population_raster"),
    ("city", "sites_file"),
    ("police", "stations_file"),
    ("meus", "sites_file"),
    ("travel", "road_network"),
    ("incidents", "replay"),
)


def _anchor_paths(raw: dict, folder: Path, where: str = "", *, own: bool = True) -> dict:
    """File paths inside a scenario are relative to the file that names them."""
    for section_name, key in PATH_KEYS:
        section = raw.get(section_name)
        if not (isinstance(section, dict) and isinstance(section.get(key), str)):
            continue
        check_path_text(section[key], f"{where}: {section_name}.{key}", echo=own)
        section = dict(section)
        try:
            section[key] = str((folder / section[key]).resolve())
        except (OSError, RuntimeError):
            raise ScenarioError(f"{where}: {section_name}.{key}: cannot resolve the path") from None
        raw = {**raw, section_name: section}
    return raw


def _schema_names() -> frozenset[str]:
    """Every key the scenario and sweep schemas know: safe to print from any file."""
    names: set[str] = set(typing.get_args(LandUseName))
    todo: list[Any] = [Scenario]
    seen: set[Any] = set()
    while todo:
        item = todo.pop()
        if item in seen:
            continue
        seen.add(item)
        if isinstance(item, type) and issubclass(item, BaseModel):
            for name, field in item.model_fields.items():
                names.update(n for n in (name, field.alias) if n)
                todo.append(field.annotation)
        else:
            todo.extend(typing.get_args(item))
    return frozenset(names)


_SCHEMA_NAMES: frozenset[str] | None = None


def _key_text(key: Any) -> str:
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    text = str(key) if isinstance(key, str) else repr(key)
    return text if len(text) <= 60 and text.isprintable() and " " not in text else _short(text)


def _render_loc(loc: tuple, own: str, origins: Origins | None, default: str | None):
    """The key path as text, and the file its value came from when that is not ``own``.

    Keys read from another file are printed only when they are the schema's own names.
    """
    global _SCHEMA_NAMES
    if _SCHEMA_NAMES is None:
        _SCHEMA_NAMES = _schema_names()
    parts, origin = [], None if origins is None else default
    for i, part in enumerate(loc):
        if origins is not None and loc[: i + 1] in origins:
            origin = origins[loc[: i + 1]]
        mine = origin is None or origin in (own, SET_ORIGIN)
        if mine or (isinstance(part, str) and part in _SCHEMA_NAMES):
            parts.append(_key_text(part))
        elif (
            isinstance(part, int)
            and not isinstance(part, bool)
            and loc[: i + 1] not in (origins or {})
        ):
            parts.append(str(part))  # a list index
        else:
            parts.append("<a key>")
    text = ".".join(parts) or "(top level)"
    return text, None if origin is None or origin == own else origin


def format_validation_error(
    source: str, err: ValidationError, origins: Origins | None = None,
    default_origin: str | None = None, own: str | None = None,
) -> str:  # fmt: skip
    """One line per problem: ``{source}: {key.path}: {what was expected}``.

    ``origins`` maps key paths to the file each value came from (``default_origin`` for the
    rest); a value from a file other than ``own`` (default: ``source``) is never echoed,
    nor its keys.
    """
    own = source if own is None else own
    lines = []
    seen = set()
    for e in err.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if not _is_union_tag(p) and p != "[key]")
        text, origin = _render_loc(loc, own, origins, default_origin)
        msg = e["msg"]
        located = _KEY_PREFIX.match(msg.removeprefix("Value error, "))
        if located:  # a check over a whole section that names the key it is about
            key = located.group(1)  # the schema's own key path, from our own validators
            text = key if text == "(top level)" else f"{text}.{key}"
            msg = located.group(2)
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/model.md for the keys)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        elif e["type"] == "union_tag_invalid" and origin is not None:  # it quotes the tag
            msg = f"unknown `dist` (expected one of {e.get('ctx', {}).get('expected_tags')})"
        msg = _escape(msg.removeprefix("Value error, "), 300)
        quiet = e["type"] in ("missing", "extra_forbidden") or isinstance(e["input"], dict)
        if origin == SET_ORIGIN:  # the user's own --set value: named as such, echoed
            text, origin = f"--set {text}", None
        if origin is not None:
            got = f" (from {_show_path(origin)}, whose text is not shown)"
        else:
            got = "" if quiet else f" (got {_short(e['input'])})"
        line = f"{source}: {text}: {msg}{got}"
        if line in seen:  # one message per key: alternatives of a union repeat the key
            continue
        seen.add(line)
        lines.append(line)
    if len(lines) > MAX_PROBLEMS:
        lines = [*lines[:MAX_PROBLEMS], f"{source}: ... and {len(lines) - MAX_PROBLEMS} more"]
    return "\n".join(lines)


_KEY_PREFIX = re.compile(r"^([a-z_]+(?:\.[a-z0-9_]+)*): (.*)$", re.S)


def _is_union_tag(part: Any) -> bool:
    """Parts of pydantic's error locations that name a union member, not a key."""
    text = str(part)
    return part in ("fixed", "exponential", "lognormal", "uniform", "Span") or (
        "[" in text and text.endswith("]")
    )


def _escape(text: str, limit: int) -> str:
    """Text with control and format characters escaped, cut to ``limit`` characters."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _short(value: Any, limit: int = 60) -> str:
    """``repr`` cut to ``limit`` characters. repr escapes control and format characters, so
    no fragment can carry a terminal escape sequence or a line break."""
    if isinstance(value, str):
        text = repr(value[: limit + 1])
    elif isinstance(value, list | dict | tuple) and len(value) > limit:
        text = f"{type(value).__name__} of {len(value):,} values"
    else:
        try:
            text = repr(value)
        except (RecursionError, ValueError):
            text = type(value).__name__
        text = text.encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def validate_scenario(
    raw: dict[str, Any], source: str, origins: Origins | None = None, own: str | None = None
) -> Scenario:
    """A validated scenario, or one :class:`ScenarioError` naming ``source`` and key paths."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as err:
        default = None if own is None or own == source else "another file"
        raise ScenarioError(format_validation_error(source, err, origins, default, own)) from None
    if scenario.city.crs is not None:
        problem = crs_problem(scenario.city.crs)
        if problem is not None:
            raise ScenarioError(f"{source}: city.crs: {problem}")
    if uses_geo_files(scenario):
        from sim.geo.inputs import resolve_files

        scenario = resolve_files(scenario, source)
    check_feasible(scenario, source, origins, own)
    mine = source if own is None else own
    _attach_replay(scenario, source, (origins or {}).get(("incidents", "replay"), mine) == mine)
    return scenario


def uses_geo_files(scenario: Scenario) -> bool:
    """The scenario names a GIS file (read by :mod:`sim.geo.inputs`, geo extra)."""
    c = scenario.city
    return any(
        v is not None
        for v in (c.population_raster, c.sites_file, scenario.police.stations_file,
                  scenario.meus.sites_file, scenario.travel.road_network)
    )  # fmt: skip


def _attach_replay(scenario: Scenario, source: str, own: bool) -> None:
    """Read and check the scenario's replay file (a cached parse when it was read before).
    ``own``: the path was written in the file the user named (else it is not shown)."""
    if scenario.incidents.replay is not None:
        from sim.model.replay import load_replay

        scenario._replay = load_replay(scenario, source, own)


def load_scenario(
    path: str | Path, *, budget: Any = None, own: bool = True, replay: str | Path | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
) -> Scenario:  # fmt: skip
    """Load, merge ``extends`` chains, and validate a scenario file or a shipped scenario by
    name (``"demo"``; :mod:`sim.model.catalogue`; a file of that name wins).

    ``budget``: a :class:`sim.model.budget.Budget` for the estimate of one replication (default:
    the stated default, raised by the environment variables in :mod:`sim.model.budget`).
    ``own=False``: the file was named by another file (a sweep's base), so none of its text
    is echoed in errors. ``replay``: a CSV of incidents to replay instead of the file's
    ``incidents.replay`` (``jiefang run --incidents``; relative to the working folder).
    ``overrides``: (dotted key, value) pairs set after the ``extends`` chain is merged and
    checked with the file (``--set``; :mod:`sim.model.overrides`); errors name ``--set KEY``.
    """
    from sim.model import budget as budgets
    from sim.model.catalogue import is_name, locate

    if isinstance(path, str):
        check_path_text(path, _show_path(path))
    source = _show_path(path)
    if is_name(path):
        path = locate(path, echo=own)
    path = Path(path)
    raw, origins = resolve_origins(path, source, own=own)
    if own:
        top = str(path.resolve()) if path.exists() else str(path)
        origins = {k: (source if v == top else v) for k, v in origins.items()}
    if replay is not None:
        check_path_text(str(replay), "--incidents")
        set_path(raw, "incidents.replay", str(Path(replay).resolve()))
        origins[("incidents", "replay")] = source
    if overrides:
        from sim.model.overrides import apply_overrides

        apply_overrides(raw, origins, overrides)
    # Not own: no key path is the user's own text ("" is never a file's label).
    scenario = validate_scenario(raw, source, origins, source if own else "")
    budgets.check_scenario(scenario, source, budget or budgets.Budget.from_env())
    return scenario
