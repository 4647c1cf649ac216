"""The model's small vocabularies: land uses, tiers of help, event kinds, lifecycle states."""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import NamedTuple


class LandUse(IntEnum):
    """Land use of a city cell. Values are the raster codes; map-file letters in ``MAP_CHARS``."""

    RESIDENTIAL = 0
    COMMERCIAL = 1  # shops, offices, street corners
    SCHOOL = 2
    MARKET = 3  # wholesale and vegetable markets
    MALL = 4  # malls, supermarkets, plazas
    NIGHT_MARKET = 5
    URBAN_VILLAGE = 6
    HOSPITAL = 7
    WATER = 8  # impassable
    BRIDGE = 9  # the only way across water

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def passable(self) -> bool:
        return self is not LandUse.WATER


#: One character per land use in a map file.
MAP_CHARS: dict[str, LandUse] = {
    ".": LandUse.RESIDENTIAL,
    "C": LandUse.COMMERCIAL,
    "S": LandUse.SCHOOL,
    "M": LandUse.MARKET,
    "P": LandUse.MALL,
    "N": LandUse.NIGHT_MARKET,
    "U": LandUse.URBAN_VILLAGE,
    "H": LandUse.HOSPITAL,
    "~": LandUse.WATER,
    "=": LandUse.BRIDGE,
}

#: Land uses that can hold residents, sites and incidents.
LAND_USE_NAMES = tuple(u.label for u in LandUse if u not in (LandUse.WATER, LandUse.BRIDGE))


class Tier(Enum):
    """Tier of help in the 1-3-5 standard."""

    SELF = "self"  # people at the scene act (1 minute)
    MUTUAL = "mutual"  # an MEU team or an alerted volunteer arrives (3 minutes)
    POLICE = "police"  # police reinforcement on site (5 minutes)


#: Each tier's target in seconds, measured from the incident's occurrence.
TIER_TARGET_S: dict[Tier, float] = {Tier.SELF: 60.0, Tier.MUTUAL: 180.0, Tier.POLICE: 300.0}


class HelpSource(Enum):
    """Who gave the first help."""

    MEU_STAFF = "meu_staff"  # staff of an MEU at the incident's own site (self-rescue)
    VOLUNTEER_ON_SITE = "volunteer_on_site"  # an on-duty volunteer at the scene (self-rescue)
    MEU_TEAM = "meu_team"  # a team sent by a nearby MEU (mutual rescue)
    VOLUNTEER = "volunteer"  # an alerted volunteer who walked there (mutual rescue)
    POLICE = "police"


class DetectedBy(Enum):
    """How the alert was raised."""

    CALL = "call"  # victim or bystander calls 110
    WITNESS = "witness"  # an MEU member or on-duty volunteer at the scene
    CAMERA = "camera"  # a camera operator sees it
    UNDETECTED = "undetected"


class EventKind(IntEnum):
    """Event vocabulary. At equal times the lower value runs first (deterministic tie-break),
    so a unit freed at time t can take a call placed at the same t."""

    UNIT_CLEARS = 0  # an incident is cleared; its units and teams are released
    TEAM_RETURNS = 1  # an MEU team is back at its site
    OCCURS = 2  # an incident happens
    ALERT = 3  # the system learns of it: volunteers alerted, MEU teams sent
    POLICE_CALL = 4  # 110 has handled the call: dispatch or queue
    POLICE_ARRIVES = 5  # a police unit reaches the scene
    READINESS_TEST = 6  # an unannounced radio/video test of one MEU
    FLEET = 7  # an event a plug-in fleet scheduled (sim.model.fleets)
    MESA = 8  # a callable scheduled through Mesa's Model.schedule_event
    ROSTER = 9  # an hour starts whose police on duty differ from the hour before's


# What the two integers of each event name: (subject, detail). The event queue holds plain
# tuples (time, kind, seq, subject, detail) because it is the hot loop; these names are what
# handlers, traces and plug-in fleets see.
EVENT_PAYLOAD: dict[EventKind, tuple[str, str | None]] = {
    EventKind.UNIT_CLEARS: ("incident", None),
    EventKind.TEAM_RETURNS: ("incident", "meu"),
    EventKind.OCCURS: ("incident", None),
    EventKind.ALERT: ("incident", None),
    EventKind.POLICE_CALL: ("incident", None),
    EventKind.POLICE_ARRIVES: ("incident", "unit"),
    EventKind.READINESS_TEST: ("test", "meu"),
    EventKind.FLEET: ("incident", "fleet_payload"),
    EventKind.MESA: ("event", None),
    EventKind.ROSTER: ("hour", "on_duty"),
}


class Event(NamedTuple):
    """One processed event, as kept in ``ResponseModel.trace``.

    ``subject`` and ``detail`` are named by :data:`EVENT_PAYLOAD` (e.g. a police arrival's
    subject is the incident and its detail the unit); ``detail`` is -1 where a kind has none.
    """

    time_s: float
    kind: EventKind
    subject: int
    detail: int

    @property
    def payload(self) -> dict[str, int]:
        """The integers by name, e.g. ``{"incident": 3, "unit": 1}``."""
        subject, detail = EVENT_PAYLOAD[self.kind]
        return {subject: self.subject} | ({detail: self.detail} if detail else {})


class UnitState(Enum):
    """Lifecycle of a police unit."""

    AVAILABLE = "available"  # at base, on patrol or driving back: can be sent
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OFF_DUTY = "off_duty"  # not on the roster this hour (police.on_duty_share): never sent


class IncidentStatus(Enum):
    CLEARED = "cleared"
    OPEN = "open"  # still open when the run ended
