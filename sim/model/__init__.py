"""The model: scenario configuration, the city, incidents, responders and their fleets,
dispatch and move-up policies, the incident ledger and the event loop (:class:`ResponseModel`).

It does no file I/O and no plotting: it turns ``(scenario, seed)`` into immutable records.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.model.response import ResponseModel

__all__ = ["ResponseModel"]

# Loaded on first use (PEP 562), so importing sim.model.config (the CLI's --help path)
# does not import Mesa.
_LAZY = {"ResponseModel": "sim.model.response"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sim.model' has no attribute {name!r}")
