"""Plug-in responder fleets: a new kind of responder is one class plus configuration.

Volunteers, MEUs and police are built into the model. Any other responder (a fire brigade
for the official 20-minute professional circle, ambulances, town and street forces for the
10-minute circle) is a class with a ``name``, a pydantic ``Config`` for its section of the
scenario (``fleets: {<name>: {...}}``), and the hooks of :class:`ResponderFleet`. An installed
package declares it as an entry point in the group ``jiefang.fleets`` (:mod:`sim.model.plugins`);
in one process :func:`register_fleet` does too. Scenarios can then

- configure it under ``fleets.<name>``,
- ask for it from incident kinds (``kinds.<kind>.fleets: {<name>: units}``),
- count it in tiers (``tiers: [{name: ..., responders: [<name>], ...}]``).

The ledger gets ``first_<name>_s`` and ``<name>_sent`` columns, and the incidents table a
``<name>_needed`` column, so metrics and plots treat it like any built-in responder. See
docs/extending.md for a worked example (tests/plugins/jiefang_ambulance is one, installed
by the suite through its entry points). A fleet of units at stations that sends the nearest
free ones and queues calls need not write these rules again: it subclasses
:class:`StationFleet` (from here; sim/model/responders/stations.py), as the built-in
professional teams do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
from pydantic import BaseModel

from sim.model.responders.professional import ProfessionalTeams
from sim.model.responders.stations import StationFleet as StationFleet  # for plug-ins

if TYPE_CHECKING:
    from sim.model.response import ResponseModel


class ResponderFleet(Protocol):
    """What the model needs from a plug-in fleet.

    The model streams an incident's record out once the incident is cleared and no event a
    fleet scheduled for it (:meth:`ResponseModel.schedule` with that incident, or a Mesa
    event scheduled before the clearance) is still to come. So a fleet writes an incident's
    ledger entries only before its clearance or from such an event, never from anything
    scheduled later. An incident whose kind needs no police is cleared after its first help
    (a fleet's first arrival included) plus its handling time."""

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]]
    #: Optional, True unless declared: whether the hooks may read the police fleet or the
    #: call queue. The compiled loop (sim.model.police_kernel) holds their state in its own
    #: arrays until it returns, so it calls only hooks that declare ``reads_police = False``;
    #: a run with any other plug-in fleet takes the Python loop.
    reads_police: ClassVar[bool]
    #: Optional, False unless declared: whether ``clear`` changes nothing for an incident
    #: whose kind does not ask for this fleet; the model then calls it only for those (most
    #: clearances of a city then call no Python at all in the compiled loop).
    clears_only_alerted: ClassVar[bool]

    def __init__(self, model: ResponseModel, config: Any) -> None: ...

    def alert(self, t: float, incident: int, needed: int) -> None:
        """The system learned of ``incident`` at ``t`` and its kind asks for ``needed`` units.
        Send them with :meth:`ResponseModel.schedule` (an event back to :meth:`event`) and
        record arrivals with ``model.ledger.arrived(name, incident, t)``."""
        ...

    def event(self, t: float, incident: int, payload: int) -> None:
        """An event this fleet scheduled is due (``payload`` is what it passed). Needed only
        by a fleet that schedules through :meth:`ResponseModel.schedule`; a fleet of Mesa
        agents schedules their methods with ``model.schedule_event`` instead."""
        ...

    def clear(self, t: float, incident: int) -> None:
        """``incident`` is cleared at ``t``: release what was committed to it."""
        ...


class DrawnFleet(Protocol):
    """What the view (``jiefang view``) draws of a plug-in fleet, optional: a fleet with
    :meth:`positions` is drawn from it. A fleet of Mesa agents needs none: its ``agents``
    are drawn where their ``position`` is (metres, ``(x, y)``), busy where ``busy`` is
    true. Any other fleet is named in the map's legend as not drawn."""

    def positions(self, t: float) -> tuple[Any, Any]:
        """Every unit at ``t``: ``(xy, busy)``, an (n, 2) array of metres east and south of
        the city's north-west corner and an (n,) array of bools (committed to an incident)."""
        ...


#: Fleets by name: the built-in professional teams (the official 20-minute circle, written to
#: this protocol) and those registered in-process. Built-in responders are not here.
FLEETS: dict[str, type[Any]] = {ProfessionalTeams.name: ProfessionalTeams}
BUILT_IN = ("meu_staff", "volunteer_on_site", "meu_team", "volunteer", "police")


def fleet_class_problem(name: object, fleet: Any) -> str | None:
    """What keeps ``fleet`` from being used as the fleet ``name`` (None: nothing)."""
    if not isinstance(name, str) or not name.isidentifier() or name in BUILT_IN:
        return (
            f"a fleet needs a new identifier as its name (built in: {', '.join(BUILT_IN)}), "
            f"got {name!r}"
        )
    if getattr(fleet, "name", None) != name:
        return f"fleet {name!r}: the class's name is {getattr(fleet, 'name', None)!r}"
    config = getattr(fleet, "Config", None)
    if not (isinstance(config, type) and issubclass(config, BaseModel)):
        return f"fleet {name!r} needs a pydantic Config class for its section"
    missing = [hook for hook in ("alert", "clear") if not callable(getattr(fleet, hook, None))]
    if missing:
        return f"fleet {name!r} needs the method {missing[0]}"
    return None


def is_off(config: BaseModel) -> bool:
    """Whether a fleet's validated section turns it off: a Config may say so with a true
    ``off`` property (the professional fleet with ``stations: 0``). An off fleet is not built:
    it has no ledger columns, kinds asking for it get nobody, and tiers counting only it can
    count nothing (a named tier table drops them)."""
    return bool(getattr(config, "off", False))


def register_fleet(fleet: type[Any]) -> type[Any]:
    """Make a fleet class available to scenarios under its ``name`` in this process (usable
    as a decorator). Worker processes of a sweep do not see it: a package installed with an
    entry point in ``jiefang.fleets`` is seen everywhere (docs/extending.md)."""
    problem = fleet_class_problem(getattr(fleet, "name", None), fleet)
    if problem:
        raise ValueError(problem)
    FLEETS[fleet.name] = fleet
    return fleet


def unregister_fleet(name: str) -> None:
    FLEETS.pop(name, None)


def fleet_positions(fleet: Any, t: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Where ``fleet``'s units are at ``t`` and which are busy (:class:`DrawnFleet`):
    ``(xy (n, 2) metres, busy (n,) bool)``, or None for a fleet that says neither."""
    if callable(getattr(fleet, "positions", None)):
        xy, busy = fleet.positions(t)
        xy = np.asarray(xy, float).reshape(-1, 2)
        busy = np.asarray(busy, bool).reshape(-1)
        if len(busy) != len(xy):
            raise ValueError(f"fleet {fleet.name!r}: positions() gave {len(xy)} places and "
                             f"{len(busy)} busy flags")  # fmt: skip
        return xy, busy
    agents = getattr(fleet, "agents", None)
    if agents is None or not all(hasattr(a, "position") for a in agents):
        return None
    agents = list(agents)
    xy = np.array([a.position for a in agents], float).reshape(-1, 2)
    return xy, np.array([bool(getattr(a, "busy", False)) for a in agents], bool)
