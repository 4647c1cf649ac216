"""The scenario: its sections, its tiers, and the checks across them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from sim.model.config.errors import ScenarioError
from sim.model.config.feasibility import check_feasible
from sim.model.config.files import reads_files, scenario_files
from sim.model.config.messages import format_validation_error
from sim.model.config.raw import set_path
from sim.model.config.sections import (
    BreakdownConfig,
    CityConfig,
    IncidentsConfig,
    MeuConfig,
    NonNeg,
    PoliceConfig,
    Strict,
    TravelConfig,
    VolunteerConfig,
)
from sim.model.config.tiers import (
    TIER_TABLES,
    TierConfig,
    counted_kinds,
    default_tiers,
    tier_table,
)
from sim.model.fleets import is_off
from sim.model.plugins import FLEET_PLUGINS, PlugInError


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
    fleets: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="settings of responder fleets (sim.model.fleets: the built-in professional "
        "crews, plug-ins), by fleet name",
    )
    tiers: list[TierConfig] = Field(
        default_factory=default_tiers,
        min_length=1,
        description="the tiers of the standard measured: a tier table by name ("
        + ", ".join(TIER_TABLES)
        + ") or a list of tiers (name, target, responders, clock, scope); default: 1-3-5 "
        "(docs/model.md, Definitions)",
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
    # The parsed incidents.replay file (sim.model.replay), attached by the loader
    # (sim.geo.scenario): the model does no I/O, and pickling a scenario to a worker
    # carries it.
    _replay: Any = PrivateAttr(default=None)
    # The tier table the scenario named (``tiers: guangzhou-2024``), or None: with_changes
    # names it again, so a change (a fleet turned off) keeps the table's rule of dropping
    # the tiers the scenario cannot use.
    _tier_table: str | None = PrivateAttr(default=None)

    @property
    def replay(self):
        """The replayed incidents (:class:`sim.model.replay.ReplayIncidents`) or None."""
        if self.incidents.replay is not None and self._replay is None:
            raise ValueError(
                "incidents.replay is set but not read: build scenarios with load_scenario "
                "or with_changes, which read the file"
            )
        return self._replay

    @field_validator("tiers", mode="before")
    @classmethod
    def _named_table(cls, v: Any, info: ValidationInfo) -> Any:
        """``tiers: guangzhou-2024``: the named table (:data:`TIER_TABLES`), less the tiers
        this scenario's kinds cannot use (as the default table: a scenario without the
        professional fleet has no 20-minute circle)."""
        if not isinstance(v, str):
            return v
        table = tier_table(v)
        incidents, fleets = info.data.get("incidents"), info.data.get("fleets")
        if incidents is None or fleets is None:
            return table  # a section failed: its own error is reported
        off = fleets_off(fleets)
        usable = [t for t in table if counted_kinds(t, incidents.kinds, off)]
        if not usable:
            raise ValueError(f"tier table {v!r}: no tier of it can count this scenario's kinds")
        return usable

    @model_validator(mode="wrap")
    @classmethod
    def _remember_table(cls, data: Any, handler: Any) -> Any:
        scenario = handler(data)
        if isinstance(data, dict) and isinstance(data.get("tiers"), str):
            scenario._tier_table = data["tiers"]
        return scenario

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
        return counted_kinds(tier, self.incidents.kinds, fleets_off(self.fleets))

    def fleets_on(self) -> list[str]:
        """The fleets this scenario builds: those configured, less those their section turns
        off (sim.model.fleets.is_off: the professional crews with ``stations: 0``)."""
        off = fleets_off(self.fleets)
        return [name for name in self.fleets if name not in off]

    def with_changes(self, changes: dict[str, Any], *, replay: bool = True) -> Scenario:
        """A copy with values replaced at dotted key paths, validated again.

        ``replay=False`` leaves the replay file unread (the caller attaches it)."""
        raw = self.model_dump(mode="python")
        if self._tier_table is not None and not any(p.split(".")[0] == "tiers" for p in changes):
            raw["tiers"] = self._tier_table
        for path, value in changes.items():
            set_path(raw, path, value)
        # Only the changed values are echoed; the rest come from the scenario's files.
        changed = {tuple(p.split(".")): "<changes>" for p in changes}
        try:
            scenario = Scenario.model_validate(raw)
        except ValidationError as err:
            raise ScenarioError(
                format_validation_error("<changes>", err, changed, "the scenario", schema=Scenario)
            ) from None
        if reads_files(scenario, replay):
            # Its map or replay file: read by the scenario loader (the model reads no file).
            files = scenario_files("<changes>")
            files.check(scenario, "<changes>", changed, replay=replay,
                        own="incidents.replay" in changes)  # fmt: skip
        else:
            check_feasible(scenario, "<changes>", changed)
        return scenario


def fleets_off(fleets: dict[str, dict[str, Any]]) -> set[str]:
    """Names of the fleets whose section turns them off; a section that does not validate
    (or a fleet not installed) is left to :meth:`Scenario._check_fleets` to report."""
    off = set()
    for name, section in fleets.items():
        try:
            if is_off(FLEET_PLUGINS.get(name).Config.model_validate(section)):
                off.add(name)
        except (PlugInError, ValidationError):
            continue
    return off
