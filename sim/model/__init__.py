"""The model: scenario configuration, the city, incidents, responders and their fleets,
dispatch and move-up policies, the incident ledger and the event loop (:class:`ResponseModel`).

It does no file I/O and no plotting: it turns ``(scenario, seed)`` into immutable records.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ResponseModel"]


def __getattr__(name: str) -> Any:
    # Lazy, so importing sim.model.config (the CLI's --help path) does not import Mesa.
    if name == "ResponseModel":
        from sim.model.response import ResponseModel

        return ResponseModel
    raise AttributeError(f"module 'sim.model' has no attribute {name!r}")
