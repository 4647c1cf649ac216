"""Historical incidents replayed: the same incidents in every replication (issue 15).

The file ``incidents.replay`` names is read and checked by the scenario loader
(:mod:`sim.geo.replay`); the model gets the parsed columns here and does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np


@dataclass(frozen=True, eq=False)
class ReplayIncidents:
    """Parsed replay rows in file order. Times in s from the start of the run, places in
    grid m.

    Args:
        source: the file's path.
        sha256: SHA-256 of the file's bytes (recorded in the run's manifest).
        occurred_s: occurrence times, s in [0, horizon).
        xy: (n, 2) positions, m east of the west edge and south of the north edge.
        kind: kind names (object array of str).
    """

    source: str
    sha256: str
    occurred_s: np.ndarray
    xy: np.ndarray
    kind: np.ndarray

    def __len__(self) -> int:
        return int(self.occurred_s.shape[0])

    def __eq__(self, other: object) -> bool:
        # Scenarios compare equal when they replay the same incidents (pydantic compares
        # private attributes; numpy arrays have no truth value).
        if not isinstance(other, ReplayIncidents):
            return NotImplemented
        return (
            self.sha256 == other.sha256
            and np.array_equal(self.occurred_s, other.occurred_s)
            and np.array_equal(self.xy, other.xy)
            and np.array_equal(self.kind, other.kind)
        )

    def __hash__(self) -> int:
        return hash((self.sha256, len(self)))


#: Times are held as int64 nanoseconds since 1970, which span 1677-09-21 to 2262-04-11:
#: whole years inside that, so a date outside is one clear message, not an overflow.
_EARLIEST, _LATEST = np.datetime64("1678-01-01", "s"), np.datetime64("2262-01-01", "s")
_YEARS = "a date and time from 1678 to 2261"


def _epoch_ns(text: str) -> int:
    """An ISO 8601 time as ns since the epoch; no offset: UTC."""
    t = datetime.fromisoformat(text)
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return round(t.timestamp() * 1e6) * 1000


def check_start(text: str) -> str:
    """``incidents.replay_start``'s check: an ISO 8601 date and time."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("expected an ISO 8601 date and time, e.g. 2024-05-01T00:00") from None
    if not _EARLIEST <= np.datetime64(t.replace(tzinfo=None), "s") < _LATEST:
        raise ValueError(f"expected {_YEARS}")
    return text


__all__ = ["ReplayIncidents", "check_start"]
