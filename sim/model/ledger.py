"""The incident ledger: what has happened to each incident so far, one named column per field.

The model writes here as events happen; :meth:`sim.model.response.ResponseModel.records` reads the
columns by the names of :class:`sim.model.records.IncidentRecord`'s fields, so a column and the
record field it becomes have the same name. Responder kinds added as plug-ins
(:mod:`sim.model.fleets`) get their own columns, ``first_<name>_s`` and ``<name>_sent``.
"""

from __future__ import annotations

import math
import mmap
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
#: Counts are int32 (a count never nears 2**31; 4 bytes an incident less for each, on a city
#: year's 2.4 million incidents); the tables keep int64 (sim.model.frames' schema).
COUNT_DTYPE = np.int32
#: How each incident was detected and who gave self-rescue, as codes: ``detected_by`` holds
#: the index of its DetectedBy in DETECTED_CODES, ``self_rescue_by`` that of its HelpSource
#: in RESCUE_CODES, or NO_RESCUE (one byte an incident, where a list held an 8-byte pointer).
DETECTED_CODES: tuple[DetectedBy, ...] = tuple(DetectedBy)
RESCUE_CODES: tuple[HelpSource, ...] = tuple(HelpSource)
DETECTED_CODE = {d: k for k, d in enumerate(DETECTED_CODES)}
RESCUE_CODE = {h: k for k, h in enumerate(RESCUE_CODES)}
NO_RESCUE = -1


class IncidentLedger:
    """Per-incident state for ``n`` incidents.

    Args:
        n: number of incidents (probes included).
        filled: whether every row holds its starting values from the start; False: rows get
            them as :meth:`fill_to` reaches them (a row's memory is taken only then: the
            model fills the rows of incidents as they occur).
    """

    def __init__(self, n: int, filled: bool = True) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        self.n = n
        #: Incidents before this were handed over and their rows' memory given back
        #: (:meth:`forget_before`); of them, how many were cleared.
        self.forgotten = self.cleared_forgotten = 0
        #: Rows before this hold their values (the rest: see ``filled``).
        self.filled = 0
        self._mapped: list[tuple[mmap.mmap, np.ndarray]] = []
        self._fills: list[tuple[np.ndarray, float]] = []  # columns that do not start at 0
        # The times are rows of one array (named views), as are the police counts below:
        # the compiled loop takes the block, not a column per field (sim.model.police_kernel).
        self.times = self._column(math.nan, np.float64, len(TIME_COLUMNS))
        for row, name in enumerate(TIME_COLUMNS):
            setattr(self, name, self.times[row])
        for name in COUNT_COLUMNS:
            setattr(self, name, self._column(0, COUNT_DTYPE))
        for name in FLAG_COLUMNS:
            setattr(self, name, self._column(0, bool))
        self.detected_by = self._column(DETECTED_CODE[DetectedBy.UNDETECTED], np.int8)
        self.self_rescue_by = self._column(NO_RESCUE, np.int8)
        # Police bookkeeping that is state, not a record field.
        self.police_counts = self._column(0, COUNT_DTYPE, len(POLICE_COUNTS))
        if filled:
            self.fill_to(n)
        self.police_pending, self.police_arrived = self.police_counts  # units still to send
        self.extra: dict[str, np.ndarray] = {}
        #: The extra columns that are counts kept as COUNT_DTYPE (int64 in every table).
        self.extra_counts: set[str] = set()
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

    def _column(self, fill: float, dtype, rows: int = 0) -> np.ndarray:
        """A column of ``n`` values (``rows`` > 0: that many rows of them) filled with
        ``fill``, in memory of its own that :meth:`forget_before` can give back in part."""
        shape = (rows, self.n) if rows else (self.n,)
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        pages = mmap.mmap(-1, max(size, 1))  # anonymous: zero pages until written
        column = np.frombuffer(pages, dtype, count=int(np.prod(shape))).reshape(shape)
        if fill != 0:
            self._fills.append((column, fill))
            column[..., : self.filled] = fill
        self._mapped.append((pages, column))
        return column

    def fill_to(self, k: int) -> None:
        """Rows before ``k`` hold their starting values (NaN times, no detection, ...)."""
        k = min(k, self.n)
        if k > self.filled:
            for column, fill in self._fills:
                column[..., self.filled : k] = fill
            self.filled = k

    def forget_before(self, k: int) -> None:
        """Incidents before ``k`` were handed over (ResponseModel.take_settled) and are never
        read again: the whole pages their rows fill go back to the system (a city year's
        ledger is ~280 MB); what such a row reads afterwards is undefined."""
        k = min(k, self.n)
        if k <= self.forgotten:
            return
        self.cleared_forgotten += int(
            np.count_nonzero(~np.isnan(self.cleared_s[self.forgotten : k]))
        )
        self.forgotten = k
        if not hasattr(mmap, "MADV_DONTNEED"):  # (not Linux or macOS: nothing given back)
            return
        for pages, column in self._mapped:
            width = column.dtype.itemsize
            for row in range(column.shape[0] if column.ndim == 2 else 1):
                start = row * self.n * width
                first = -(-start // mmap.PAGESIZE) * mmap.PAGESIZE  # pages wholly inside
                end = (start + k * width) // mmap.PAGESIZE * mmap.PAGESIZE
                if end > first:
                    pages.madvise(mmap.MADV_DONTNEED, first, end - first)

    def add_responder(self, name: str) -> None:
        """Columns for a plug-in responder kind: ``first_<name>_s`` and ``<name>_sent``."""
        self.extra[f"first_{name}_s"] = self._column(math.nan, np.float64)
        self.extra[f"{name}_sent"] = self._column(0, COUNT_DTYPE)
        self.extra_counts.add(f"{name}_sent")

    def extra_values(self, column: str, lo: int, hi: int) -> np.ndarray:
        """An extra column of incidents ``lo .. hi - 1`` as the tables hold it (the counts
        this ledger keeps in COUNT_DTYPE as int64; any other column as it is)."""
        values = self.extra[column][lo:hi]
        return values.astype(np.int64) if column in self.extra_counts else values

    def arrived(self, name: str, incident: int, t: float) -> None:
        """A plug-in responder reached ``incident`` at ``t`` (the earliest arrival is kept)."""
        column = self.extra[f"first_{name}_s"]
        if math.isnan(column[incident]) or t < column[incident]:
            column[incident] = t
            if self.on_arrival is not None:
                self.on_arrival(incident, t)

    def detected(self, incident: int, how: DetectedBy) -> None:
        """``incident`` was detected ``how``."""
        self.detected_by[incident] = DETECTED_CODE[how]

    def self_rescued(self, incident: int, by: HelpSource) -> None:
        """People at the scene of ``incident`` (``by``) acted."""
        self.self_rescue_by[incident] = RESCUE_CODE[by]

    def detected_values(self, lo: int, hi: int) -> np.ndarray:
        """``detected_by`` of incidents ``lo .. hi - 1`` as the tables' strings (objects)."""
        return _DETECTED_LABELS[self.detected_by[lo:hi]]

    def rescue_values(self, lo: int, hi: int, none: str = "") -> np.ndarray:
        """``self_rescue_by`` of incidents ``lo .. hi - 1`` as the tables' strings (objects),
        ``none`` where nobody acted."""
        labels = _RESCUE_LABELS.copy()
        labels[NO_RESCUE] = none
        return labels[self.self_rescue_by[lo:hi]]

    def sent(self, name: str, incident: int, count: int = 1) -> None:
        self.extra[f"{name}_sent"][incident] += count

    def is_open(self, incident: int) -> bool:
        return math.isnan(self.cleared_s[incident])


_DETECTED_LABELS = np.array([d.value for d in DETECTED_CODES], dtype=object)
#: Indexed by code; the last entry (index NO_RESCUE) is for no self-rescue.
_RESCUE_LABELS = np.array([*(h.value for h in RESCUE_CODES), ""], dtype=object)
