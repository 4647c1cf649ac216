"""The incident ledger: what has happened to each incident so far, one named column per field.

The model writes here as events happen; :meth:`sim.model.response.ResponseModel.records` reads the
columns by the names of :class:`sim.model.records.IncidentRecord`'s fields, so a column and the
record field it becomes have the same name. Responder kinds added as plug-ins
(:mod:`sim.model.fleets`) get their own columns, ``first_<name>_s`` and ``<name>_sent``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.model.vocab import DetectedBy, HelpSource

#: Times, seconds from the start of the run (NaN: has not happened).
TIME_COLUMNS = (
    "alerted_s", "self_rescue_s", "first_meu_s", "first_volunteer_s", "police_call_s",
    "police_dispatched_s", "police_wait_s", "first_police_s", "last_police_s", "cleared_s",
)  # fmt: skip
#: Counts.
COUNT_COLUMNS = ("meu_teams_sent", "volunteers_sent", "volunteers_within_3min")
#: Police bookkeeping per incident, state rather than record fields: units still to be
#: sent, units arrived.
POLICE_COUNTS = ("police_pending", "police_arrived")
#: Who was at the scene when it happened.
FLAG_COLUMNS = ("meu_staff_on_scene", "volunteer_on_scene")


class IncidentLedger:
    """Per-incident state for ``n`` incidents.

    Args:
        n: number of incidents (probes included).
    """

    def __init__(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n = n
        # The times are rows of one array (named views), as are the police counts below:
        # the compiled loop takes the block, not a column per field (sim.model.police_kernel).
        self.times = np.full((len(TIME_COLUMNS), n), math.nan)
        for row, name in enumerate(TIME_COLUMNS):
            setattr(self, name, self.times[row])
        for name in COUNT_COLUMNS:
            setattr(self, name, np.zeros(n, np.int64))
        for name in FLAG_COLUMNS:
            setattr(self, name, np.zeros(n, bool))
        self.detected_by: list[DetectedBy] = [DetectedBy.UNDETECTED] * n
        self.self_rescue_by: list[HelpSource | None] = [None] * n
        # Police bookkeeping that is state, not a record field.
        self.police_counts = np.zeros((len(POLICE_COUNTS), n), np.int64)
        self.police_pending, self.police_arrived = self.police_counts  # units still to send
        self.extra: dict[str, np.ndarray] = {}
        # Told (incident, t) when a plug-in responder's first arrival at an incident is
        # recorded or brought forward (the model clears kinds needing no police after it).
        self.on_arrival: Callable[[int, float], None] | None = None

    # These accessors spell out the ledger's vocabulary for readers (viewers, tests).
    alerted_s: np.ndarray
    self_rescue_s: np.ndarray
    first_meu_s: np.ndarray
    first_volunteer_s: np.ndarray
    police_call_s: np.ndarray
    police_dispatched_s: np.ndarray
    police_wait_s: np.ndarray
    first_police_s: np.ndarray
    last_police_s: np.ndarray
    cleared_s: np.ndarray
    meu_teams_sent: np.ndarray
    volunteers_sent: np.ndarray
    volunteers_within_3min: np.ndarray
    meu_staff_on_scene: np.ndarray
    volunteer_on_scene: np.ndarray

    def add_responder(self, name: str) -> None:
        """Columns for a plug-in responder kind: ``first_<name>_s`` and ``<name>_sent``."""
        self.extra[f"first_{name}_s"] = np.full(self.n, math.nan)
        self.extra[f"{name}_sent"] = np.zeros(self.n, np.int64)

    def arrived(self, name: str, incident: int, t: float) -> None:
        """A plug-in responder reached ``incident`` at ``t`` (the earliest arrival is kept)."""
        column = self.extra[f"first_{name}_s"]
        if math.isnan(column[incident]) or t < column[incident]:
            column[incident] = t
            if self.on_arrival is not None:
                self.on_arrival(incident, t)

    def sent(self, name: str, incident: int, count: int = 1) -> None:
        self.extra[f"{name}_sent"][incident] += count

    def is_open(self, incident: int) -> bool:
        return math.isnan(self.cleared_s[incident])
