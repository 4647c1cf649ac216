"""The tiers of the standard: who counts, by when, from which clock, for which incidents."""

from __future__ import annotations

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
