"""The sections of a scenario: city, police, volunteers, MEUs, travel, incidents, breakdown."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from sim.model.config.errors import _kind
from sim.model.distributions import Duration, Lognormal
from sim.model.plugins import DISPATCH_PLUGINS, MOVE_UP_PLUGINS, PlugInError
from sim.model.replay import check_start

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

    @property
    def has_frame(self) -> bool:
        """Whether the grid is placed on the Earth (crs and origin given): its runs get
        lon/lat and GIS layers (sim.geo.crs.frame_of)."""
        return self.crs is not None and self.origin is not None

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
    acceptance: Share = Field(
        0.32,
        description="probability an alerted volunteer goes (published: 17-47 %)",
    )
    max_responders: int = Field(3, ge=0, description="at most this many nearest volunteers go")
    response_delay: Duration = Field(
        default_factory=lambda: Lognormal(dist="lognormal", median_s=105.0, sigma=0.5),
        description="from alert to setting off, s (published median 1:45, docs/calibration.md)",
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
