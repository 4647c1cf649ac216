"""Plug-in responder fleets: a new kind of responder is one class plus configuration.

Volunteers, MEUs and police are built into the model. Any other responder (a fire brigade
for the official 20-minute professional circle, ambulances, town and street forces for the
10-minute circle) is a class with a ``name``, a pydantic ``Config`` for its section of the
scenario (``fleets: {<name>: {...}}``), and three hooks the model calls; register it with
:func:`register_fleet` and scenarios can then

- configure it under ``fleets.<name>``,
- ask for it from incident kinds (``kinds.<kind>.fleets: {<name>: units}``),
- count it in tiers (``tiers: [{name: ..., responders: [<name>], ...}]``).

The ledger gets ``first_<name>_s`` and ``<name>_sent`` columns, and the incidents table a
``<name>_needed`` column, so metrics and plots treat it like any built-in responder. See
docs/extending.md for a worked example (tests/test_fleets.py runs it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel

if TYPE_CHECKING:
    from sim.model.response import ResponseModel


class ResponderFleet(Protocol):
    """What the model needs from a plug-in fleet."""

    name: ClassVar[str]
    Config: ClassVar[type[BaseModel]]

    def __init__(self, model: ResponseModel, config: Any) -> None: ...

    def alert(self, t: float, incident: int, needed: int) -> None:
        """The system learned of ``incident`` at ``t`` and its kind asks for ``needed`` units.
        Send them with :meth:`ResponseModel.schedule` (an event back to :meth:`event`) and
        record arrivals with ``model.ledger.arrived(name, incident, t)``."""
        ...

    def event(self, t: float, incident: int, payload: int) -> None:
        """An event this fleet scheduled is due (``payload`` is what it passed)."""
        ...

    def clear(self, t: float, incident: int) -> None:
        """``incident`` is cleared at ``t``: release what was committed to it."""
        ...


#: Plug-in fleets by name. Built-in responders are not here.
FLEETS: dict[str, type[Any]] = {}
BUILT_IN = ("meu_staff", "volunteer_on_site", "meu_team", "volunteer", "police")


def register_fleet(fleet: type[Any]) -> type[Any]:
    """Make a fleet class available to scenarios under its ``name`` (usable as a decorator)."""
    name = getattr(fleet, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or name in BUILT_IN:
        raise ValueError(f"a fleet needs a new identifier as its name, got {name!r}")
    if not (isinstance(getattr(fleet, "Config", None), type)
            and issubclass(fleet.Config, BaseModel)):  # fmt: skip
        raise ValueError(f"fleet {name!r} needs a pydantic Config class for its section")
    FLEETS[name] = fleet
    return fleet


def unregister_fleet(name: str) -> None:
    FLEETS.pop(name, None)


def known_responders() -> tuple[str, ...]:
    return (*BUILT_IN, *FLEETS)
