"""The tiers of the standard: who counts, by when, from which clock, for which incidents."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from sim.model.config.sections import IncidentKind, Strict
from sim.model.plugins import is_responder, known_responders

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


def _tier(name: str, minutes: float, responders: list[str], clock: Clock = "alert",
          scope: TierScope = "reported") -> TierConfig:  # fmt: skip
    return TierConfig(name=name, target_s=60.0 * minutes, responders=responders, clock=clock,
                      scope=scope)  # fmt: skip


#: The self-rescue tier: people at the scene act within a minute, counted over every sudden
#: incident of a kind that allows self-rescue (scope ``all``), so that it rises with the staff
#: and volunteers present. Scope ``on_scene`` (conditional on someone being there) restates
#: the self-rescue delay instead (docs/model.md, Definitions).
def _self_tier() -> TierConfig:
    return _tier("self", 1, list(ON_SITE_RESPONDERS), clock="occurrence", scope="all")


def tiers_1_3_5() -> list[TierConfig]:
    """Seed 002's standard (1分钟自救、3分钟互救、5分钟增援到位): self-rescue in 1 minute,
    mutual rescue by MEU teams and volunteers in 3, police reinforcement in 5."""
    return [_self_tier(), _tier("mutual", 3, ["meu_team", "volunteer"]),
            _tier("police", 5, ["police"])]  # fmt: skip


def tiers_guangzhou_2024() -> list[TierConfig]:
    """The official circles of Guangzhou's 2024 notice (穗应急委〔2024〕13号): 1 minute
    self-rescue on post, 3 minutes mutual rescue, 5 minutes the unit where it happens or its
    emergency grid (MEU teams, grid volunteers), 10 minutes town and street forces (police
    here), 20 minutes the fire brigade and professional teams (the ``professional`` fleet)."""
    return [
        _self_tier(),
        _tier("mutual", 3, ["meu_team", "volunteer"]),
        _tier("unit_grid", 5, ["meu_team", "volunteer"]),
        _tier("street", 10, ["police"]),
        _tier("professional", 20, ["professional"]),
    ]


def tiers_police_1_3_5() -> list[TierConfig]:
    """The police quick-response circles (1、3、5分钟快反圈, Tianjin and Wuhan police):
    the first police unit on scene within 1, 3 and 5 minutes of the alarm."""
    return [_tier(f"police_{m}", m, ["police"]) for m in (1, 3, 5)]


#: Tier tables a scenario names (``tiers: guangzhou-2024``), each a builder of a new list.
TIER_TABLES: dict[str, Callable[[], list[TierConfig]]] = {
    "1-3-5": tiers_1_3_5,
    "guangzhou-2024": tiers_guangzhou_2024,
    "police-1-3-5": tiers_police_1_3_5,
}
#: The table a scenario that names none measures.
DEFAULT_TIER_TABLE = "1-3-5"


def tier_table(name: str) -> list[TierConfig]:
    """The tier table called ``name`` (:data:`TIER_TABLES`); ValueError naming the known
    tables otherwise."""
    builder = TIER_TABLES.get(name)
    if builder is None:
        raise ValueError(
            f"unknown tier table {name!r}; known: {', '.join(TIER_TABLES)} "
            "(or a list of tiers: docs/model.md, Definitions)"
        )
    return builder()


def default_tiers() -> list[TierConfig]:
    """The default table, seed 002's 1-3-5 standard (:func:`tiers_1_3_5`)."""
    return tier_table(DEFAULT_TIER_TABLE)


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


def counted_kinds(
    tier: TierConfig, kinds: Mapping[str, IncidentKind], off: Collection[str] = ()
) -> list[str]:
    """Kinds whose incidents a tier counts (its class, calling for its responders); kinds it
    lists that ``kinds`` lacks are left out (the scenario reports them). Fleets in ``off``
    (sim.model.fleets.is_off) are asked for by no kind."""
    listed = tier.kinds if tier.kinds is not None else list(kinds)
    return [
        k for k in listed
        if k in kinds
        and any(r not in off and kind_calls_for(kinds[k], r) for r in tier.responders)
        and (tier.incidents == "all" or kinds[k].sudden == (tier.incidents == "sudden"))
    ]  # fmt: skip
