"""Plug-ins that fail mid-run (how a run reports them; tests/test_plugins.py): a fleet whose
radio fails at its n-th alert, a dispatch policy that raises at its first call."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FaultyRadio:
    name = "faulty_radio"

    class Config(BaseModel):
        model_config = ConfigDict(extra="forbid")
        fail_at_alert: int = Field(1, ge=1)  # the alert that raises (1: the first)

    def __init__(self, model, config) -> None:
        self.model, self.cfg, self.alerts = model, config, 0

    def alert(self, t: float, incident: int, needed: int) -> None:
        self.alerts += 1
        if self.alerts == self.cfg.fail_at_alert:
            raise RuntimeError("radio link lost")

    def clear(self, t: float, incident: int) -> None:
        return None


class JammedDispatch:
    """A dispatch policy whose console freezes: it raises at its first call."""

    name = "jammed"

    def choose(self, *call_and_units):
        raise RuntimeError("dispatch console frozen")
