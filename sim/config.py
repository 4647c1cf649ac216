"""Typed scenario files: YAML loading with ``extends``, validation, and clear errors.

A scenario is validated completely at load, before anything runs. Every user mistake
becomes one :class:`ScenarioError` whose message names the file, the key path and what was
expected; the CLI prints it and exits with code 2.
"""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.distributions import Duration, Exponential, Fixed, Lognormal

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
            raise ValueError(f"{name}[{h}] must be a finite number, got {x!r}")
        if x < low or (high is not None and x > high):
            bound = f"in [{low}, {high}]" if high is not None else f">= {low}"
            raise ValueError(f"{name}[{h}] must be {bound}, got {x!r}")
    return [float(x) for x in values]


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
        default_factory=lambda: {
            "commercial": 0.08,
            "school": 0.03,
            "market": 0.02,
            "mall": 0.02,
            "night_market": 0.005,
            "urban_village": 0.05,
            "hospital": 0.005,
        },
        description="share of land cells of each key-site use; the rest is residential",
    )
    rivers: list[River] = Field(default_factory=list, description="rivers (generator only)")
    camera_share: Share = Field(0.0, description="share of land cells watched by a public camera")

    @field_validator("land_use_shares")
    @classmethod
    def _shares_fit(cls, v):
        if sum(v.values()) > 1:
            raise ValueError(f"shares sum to {sum(v.values()):.3f}; they must sum to at most 1")
        return v


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
    dispatch: str = Field(
        "nearest",
        description="dispatch policy: nearest (the units that arrive first) or own_grid_first "
        "(units patrolling the incident's grid first); plug-ins: sim.policies",
    )
    move_up: str = Field(
        "none",
        description="idle-unit relocation: none, or uncovered_longest (an idle unit covers the "
        "grid left uncovered longest); plug-ins: sim.policies",
    )

    @model_validator(mode="after")
    def _consistent(self):
        from sim.policies import DISPATCH_POLICIES, MOVE_UP_POLICIES

        if self.dispatch not in DISPATCH_POLICIES:
            raise ValueError(f"dispatch: unknown policy {self.dispatch!r}; "
                             f"known: {', '.join(sorted(DISPATCH_POLICIES))}")  # fmt: skip
        if self.move_up not in MOVE_UP_POLICIES:
            raise ValueError(f"move_up: unknown policy {self.move_up!r}; "
                             f"known: {', '.join(sorted(MOVE_UP_POLICIES))}")  # fmt: skip
        if self.grids < self.stations:
            raise ValueError(f"grids ({self.grids}) must be >= stations ({self.stations})")
        _check_cells("station_cells", self.station_cells, "stations", self.stations)
        return self


class VolunteerConfig(Strict):
    count: int = Field(0, ge=0, description="registered volunteers")
    on_duty_share: float | list[float] = Field(
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

    @field_validator("on_duty_share", mode="before")
    @classmethod
    def _duty_by_hour(cls, v):
        return _hourly("on_duty_share", v, 0.0, 1.0)


class MeuConfig(Strict):
    count: int = Field(0, ge=0, description="minimal emergency units")
    members_per_unit: float = Field(12.6, ge=1, description="trained members per unit (mean)")
    on_duty_share: Share = Field(0.3, description="share of members on site while a unit is open")
    team_size: int = Field(3, ge=1, description="members sent as one team with equipment")
    site_shares: dict[LandUseName, Share] = Field(
        default_factory=lambda: {
            "school": 0.2,
            "mall": 0.2,
            "market": 0.2,
            "commercial": 0.2,
            "urban_village": 0.2,
        },
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
        on_site = self.on_duty_share * math.ceil(self.members_per_unit)
        if self.count and self.team_size > math.ceil(on_site):
            raise ValueError(
                f"team_size ({self.team_size}) exceeds the members on site "
                f"(on_duty_share x members_per_unit = {on_site:.1f}): no team could ever go"
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
        description="units asked of plug-in fleets (sim.fleets), by fleet name",
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
        default_factory=lambda: {
            "commercial": 2.0,
            "market": 3.0,
            "mall": 3.0,
            "night_market": 4.0,
            "school": 1.5,
            "urban_village": 1.5,
        },
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

    @field_validator("hourly_profile", mode="before")
    @classmethod
    def _profile_by_hour(cls, v):
        return _hourly("hourly_profile", v, 0.0)

    @model_validator(mode="after")
    def _profile_positive(self):
        if sum(self.hourly_profile) <= 0:
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
        return self


# ---------------------------------------------------------------------------- tiers
#: Built-in responders; plug-in fleets (sim.fleets) add their own names.
Responder = str
#: Responders who are at the scene when it happens (they are never sent).
ON_SITE_RESPONDERS = ("meu_staff", "volunteer_on_site")
Clock = Literal["occurrence", "alert", "dispatch"]
TierScope = Literal["all", "reported", "on_scene"]


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
    def _known_responders(cls, v):
        from sim.fleets import known_responders

        unknown = [r for r in v if r not in known_responders()]
        if unknown:
            raise ValueError(
                f"unknown responder {unknown[0]!r}; known: {', '.join(known_responders())} "
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
    tiers: list[TierConfig] = Field(
        default_factory=default_tiers,
        min_length=1,
        description="the tiers of the standard measured (name, target, responders, clock, "
        "scope); default: 1-3-5 (docs/model.md, Definitions)",
    )
    fleets: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="settings of plug-in responder fleets (sim.fleets), by fleet name",
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
        from sim.fleets import FLEETS

        for name, section in self.fleets.items():
            if name not in FLEETS:
                raise ValueError(f"fleets.{name}: no plug-in fleet of that name is registered")
            try:
                FLEETS[name].Config.model_validate(section)
            except ValidationError as err:
                first = err.errors(include_url=False)[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(f"fleets.{name}.{where}: {first['msg']}") from None
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

    def with_changes(self, changes: dict[str, Any]) -> Scenario:
        """A copy with values replaced at dotted key paths, validated again."""
        raw = self.model_dump(mode="python")
        for path, value in changes.items():
            set_path(raw, path, value)
        try:
            return Scenario.model_validate(raw)
        except ValidationError as err:
            raise ScenarioError(format_validation_error("<changes>", err)) from None


# Defaults for the distributions are built by factories; keep names importable for tests.
__all__ = ["Exponential", "Fixed", "Lognormal", "Scenario", "ScenarioError", "load_scenario"]


# ---------------------------------------------------------------------------- loading
class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses duplicate keys (a silent last-one-wins is a user trap)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """Read a YAML file that must hold a mapping; errors become :class:`ScenarioError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ScenarioError(f"{path}: is a directory, expected a YAML file") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a UTF-8 text file") from None
    except OSError as err:
        raise ScenarioError(f"{path}: cannot read ({err.strerror})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ScenarioError(f"{path}: {where}invalid YAML: {err.problem or err}") from None
    except yaml.YAMLError as err:
        raise ScenarioError(f"{path}: invalid YAML: {err}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: invalid YAML: nested too deeply") from None
    if data is None:
        raise ScenarioError(f"{path}: file is empty, expected a mapping of scenario keys")
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping of keys at the top, got {_kind(data)}")
    return data


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
            raise ScenarioError(f"{path}: {key!r} is not a mapping, cannot set a key inside it")
        node = nxt
    node[keys[-1]] = value


def resolve_extends(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The raw mapping of a scenario with its ``extends`` chain merged in (base first)."""
    path = path.resolve() if path.exists() else path
    if path in _chain:
        cycle = " -> ".join(str(p) for p in (*_chain, path))
        raise ScenarioError(f"{path}: extends: cycle {cycle}")
    raw = read_yaml_mapping(path)
    parent = raw.pop("extends", None)
    if parent is None:
        return _anchor_paths(raw, path.parent)
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: extends: expected a file path, got {_kind(parent)}")
    base = resolve_extends(path.parent / parent, (*_chain, path))
    return deep_merge(base, _anchor_paths(raw, path.parent))


def _anchor_paths(raw: dict, folder: Path) -> dict:
    """File paths inside a scenario are relative to the file that names them."""
    city = raw.get("city")
    if isinstance(city, dict) and isinstance(city.get("map_file"), str):
        city = dict(city)
        city["map_file"] = str((folder / city["map_file"]).resolve())
        raw = {**raw, "city": city}
    return raw


def format_validation_error(source: str, err: ValidationError) -> str:
    lines = []
    seen = set()
    for e in err.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"] if not _is_union_tag(p)) or "(top level)"
        if loc in seen:  # one message per key: alternatives of a union repeat the key
            continue
        seen.add(loc)
        loc = loc.replace(".[key]", "")
        msg = e["msg"]
        located = _KEY_PREFIX.match(msg.removeprefix("Value error, "))
        if located:  # a check over a whole section that names the key it is about
            key = located.group(1)
            loc = key if loc == "(top level)" else f"{loc}.{key}"
            msg = located.group(2)
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see docs/model.md for the keys)"
        elif e["type"] == "missing":
            msg = "required key is missing"
        quiet = e["type"] in ("missing", "extra_forbidden") or isinstance(e["input"], dict)
        got = "" if quiet else f" (got {_short(e['input'])})"
        lines.append(f"{source}: {loc}: {msg.removeprefix('Value error, ')}{got}")
    return "\n".join(lines)


_KEY_PREFIX = re.compile(r"^([a-z_]+(?:\.[a-z0-9_]+)*): (.*)$", re.S)


def _is_union_tag(part: Any) -> bool:
    """Parts of pydantic's error locations that name a union member, not a key."""
    text = str(part)
    return part in ("fixed", "exponential", "lognormal", "uniform", "Span") or (
        "[" in text and text.endswith("]")
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def validate_scenario(raw: dict[str, Any], source: str) -> Scenario:
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as err:
        raise ScenarioError(format_validation_error(source, err)) from None
    if scenario.city.map_file is not None and not Path(scenario.city.map_file).is_file():
        raise ScenarioError(f"{source}: city.map_file: file not found ({scenario.city.map_file})")
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Load, merge ``extends`` chains, and validate a scenario file."""
    path = Path(path)
    return validate_scenario(resolve_extends(path), str(path))
