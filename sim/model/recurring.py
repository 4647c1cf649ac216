"""Mesa's recurring events (``Model.schedule_recurring``) on the model's own clock.

Mesa's ``EventGenerator`` puts its events straight into Mesa's event list, which
:class:`~sim.model.response.ResponseModel` does not run (its events live in its own heap; its
``schedule_event`` puts Mesa events there). :class:`RecurringEvent` is the same contract built
on ``schedule_event``: the function runs at ``schedule.start`` (default: one interval from
now), then every interval, until ``schedule.end`` or ``schedule.count``; held by weak reference
(a removed agent's method stops it), ``stop()`` ends it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mesa


class RecurringEvent:
    """A function run at the times a ``mesa.time.Schedule`` gives (see the module).

    Args:
        model: the model whose ``schedule_event`` runs it (times in its seconds).
        function: an agent's method or a named function (a lambda is refused, as by Mesa).
        schedule: ``interval`` (s, or a function of the model), ``start``, ``end``, ``count``.
    """

    def __init__(self, model: Any, function: Callable[[], Any], schedule: mesa.time.Schedule):
        self.model, self.schedule = model, schedule
        self._holder = mesa.time.Event(model.time, function)  # Mesa's weak reference, checked
        self.execution_count = 0
        self.is_active = False
        self._next: mesa.time.Event | None = None

    def _interval(self) -> float:
        interval = self.schedule.interval
        value = float(interval(self.model) if callable(interval) else interval)
        if value <= 0:
            raise ValueError(f"a recurring event's interval must be > 0 s, got {value}")
        return value

    def start(self) -> RecurringEvent:
        if not self.is_active:
            start = self.schedule.start
            first = float(self.model.time) + self._interval() if start is None else start
            self.is_active = True
            self.model.recurring.add(self)  # alive while active (the events hold it weakly)
            self._next = self.model.schedule_event(self._run, at=first)
        return self

    def stop(self) -> None:
        self.is_active = False
        if self._next is not None:
            self._next.cancel()
            self._next = None
        self.model.recurring.discard(self)

    @property
    def next_scheduled_time(self) -> float | None:
        return None if self._next is None else self._next.time

    def _run(self) -> None:
        self._next = None
        function = self._holder.fn() if self._holder.fn is not None else None
        if function is None:  # its agent is gone
            self.stop()
            return
        function()
        self.execution_count += 1
        later = float(self.model.time) + self._interval()
        schedule = self.schedule
        if (schedule.count is not None and self.execution_count >= schedule.count) or (
            schedule.end is not None and later > schedule.end
        ):
            self.stop()
        else:
            self._next = self.model.schedule_event(self._run, at=later)
