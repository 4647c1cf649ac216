"""The compiled event loop (issues 13, 22, 23): the event heap and the police in numba, every
other responder's events handed to their Python handlers from inside it.

The Python loop (:meth:`sim.model.response.ResponseModel._advance` and its handlers) is the
reference: this module runs the same events in the same order with the same arithmetic, so
the tables are identical byte for byte (tests/test_police_kernel.py runs both on many
scenarios and compares tables, traces of state and runs advanced in pieces;
tests/test_identical_outputs.py pins every shipped scenario's tables).

What runs compiled: the heap and the merge of occurrences, the police (calls, dispatch of
the nearest units through the rules of :mod:`sim.model.spatial`, arrivals, clearances, the
call queue, units driving back), an occurrence where nobody can be on site
(:meth:`ResponseModel.someone_may_be_at`) and an alert that only calls the police
(:meth:`ResponseModel.alert_calls_others`). Every other event (an occurrence with MEU staff
or a volunteer near, an alert of volunteers, MEU teams or a plug-in fleet, a clearance's
release of those, an MEU team back, a readiness test, a plug-in fleet's event) goes to the
model's one Python handler for it (:func:`_python_event`, through numba's object mode, about
a microsecond a call), and the events that handler queues come back into the compiled heap.
So every rule is written once: the police's in the shared rules the Python loop calls too,
every other responder's in Python.

It covers runs on a grid city whose banks bridges join into one region (every unit can
reach every scene), with a dispatch policy that declares ``sends_nearest``, no move-up, no
police roster, no event trace, no Mesa events queued and plug-in fleets that declare
``reads_police = False`` (the loop holds the police's state until it returns); every other
run takes the Python loop (:func:`why_not` says why, ``jiefang run -v`` prints it and the
manifest keeps it). numba is the ``fast`` extra; without it every run takes the Python loop.

Between calls the model's own Python structures (the fleet's unit state, the event heap, the
call queue) hold the state: each :func:`advance` loads them into arrays, runs the compiled
loop and writes them back, so a run may switch between this loop and the Python one at any
call (a viewer's step, a streamed chunk) and anything reading the model between calls sees
what the Python loop would have left.
"""

from __future__ import annotations

import heapq
import itertools
import math
import types
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.model import lifecycle, spatial
from sim.model.config import by_hour
from sim.model.ledger import DETECTED_CODE, POLICE_COUNTS, TIME_COLUMNS
from sim.model.lifecycle import DETECTED_BY, clears_at, first_alert
from sim.model.spatial import (
    along_way_home,
    bank_at,
    bucket_grid_shape,
    bucket_index,
    drive_ended,
    earliest_home,
    nearest_in,
    ring_candidates,
)
from sim.model.vocab import EventKind

if TYPE_CHECKING:
    from sim.model.response import ResponseModel

try:  # the fast extra
    import numba
except Exception:  # pragma: no cover - the core-only install (or a broken numba)
    numba = None  # type: ignore[assignment]

#: From this many police units the compiled search takes its candidates from buckets of
#: the leg's patrol spots ring by ring around the scene (sim.model.spatial.ring_candidates:
#: a dispatch's cost flat in the fleet's size); below, it looks at every unit. The same
#: units either way (the one exact search, nearest_in, runs among the candidates).
RING_FROM = 256
#: What the compiled loop reports when it returns.
DONE, NEED_SPOTS, FAILED, NEED_WINDOW = 0, 1, 2, 3
#: The kind the loop hands to Python for the rest of a clearance (ResponseModel._release_others).
RELEASE_OTHERS = 100
#: Kinds of a call into Python that handles no event: the log of assignments is full (it is
#: recorded), or the events buffer was (the events the handler queued beyond it come next).
LOG_FULL, MORE_EVENTS = 101, 102
#: Rows of the buffers the loop and Python hand each other (model._kernel_xfer): released
#: assignments logged between calls into Python, events a handler queued.
LOG_ROWS, EVENT_ROWS = 4096, 64
_OCCURS, _ALERT, _CALL = int(EventKind.OCCURS), int(EventKind.ALERT), int(EventKind.POLICE_CALL)
_ARRIVES, _CLEARS = int(EventKind.POLICE_ARRIVES), int(EventKind.UNIT_CLEARS)
_TEAM_RETURNS = int(EventKind.TEAM_RETURNS)
#: Events the compiled loop does not take (their handlers may read the police fleet, whose
#: state the loop holds in its arrays until it returns): a run with them queued stays in Python.
_PYTHON_ONLY = frozenset({EventKind.MESA, EventKind.ROSTER})
_KIND_OF_CODE = {int(k): k for k in EventKind}
#: The ledger's code (sim.model.ledger.DETECTED_CODE) of each way of first_alert.
_DETECTED_CODE_OF_WAY = np.array([DETECTED_CODE[how] for how in DETECTED_BY], np.int8)

# The loop's columns are rows of a few 2-D arrays, named by these rows: numba counts a
# reference for every array a handler touches, so tuples of 19 unit and 10 incident columns
# cost the loop more than its rules (a police-only M/M/10 of 100,000 calls: 0.26 s of CPU in
# the compiled loop over tuples of columns, 0.13 s over these blocks).
#: Rows of ``incf`` (floats per incident of the call's window: see _window).
CALL_DELAY, CAMERA_DELAY, CALL_HANDLING, HANDLING, SCENE_X, SCENE_Y = range(6)
#: Rows of ``inci`` (integers per incident of the window; *_IN_PYTHON: 0/1, whether its
#: handler is Python's: ResponseModel.alert_calls_others, .someone_may_be_at and
#: .clearance_releases_others).
NEED, PRIORITY, SCENE_BANK, ALERT_IN_PYTHON, OCCURS_IN_PYTHON, RELEASE_IN_PYTHON = range(6)
#: Rows of the ledger's ``times`` and ``police_counts`` (``led``) the loop writes.
ALERTED, CALLED, DISPATCHED, WAITED, FIRST, LAST, CLEARED = (TIME_COLUMNS.index(name) for name in (
    "alerted_s", "police_call_s", "police_dispatched_s", "police_wait_s", "first_police_s",
    "last_police_s", "cleared_s"))  # fmt: skip
PENDING, ARRIVED = POLICE_COUNTS.index("police_pending"), POLICE_COUNTS.index("police_arrived")
#: Rows of ``uf`` (floats per unit).
WAY_LEFT, WAY_X, WAY_Y, WAY_MANH, STATION_X, STATION_Y, TOP, SENT_AT, ARRIVED_AT = range(9)
#: Rows of ``ui`` (integers per unit; flags 0/1; BACK_AT: the unit's place in the list of
#: units driving back, -1 if it is not driving back).
CODE, FREE, WAY_SAME, WAY_BANK, STATION_BANK, CAR, INCIDENT_OF, NEXT_UNIT, BACK_AT = range(9)


def available() -> bool:
    """Whether the compiled loop can run here: numba installed (the ``fast`` extra) and a
    place to cache its compilation."""
    return numba is not None and _UNUSABLE is None


def why_not_here() -> str:
    """Why the compiled loop cannot run in this process ('' if it can)."""
    if numba is None:
        return "numba is not installed (pip install -e '.[fast]')"
    return _UNUSABLE or ""


def loaded() -> bool:
    """Whether this process has run the compiled loop already (numba loaded, the loop
    compiled or read from the cache)."""
    return _LOADED


def why_not(model: ResponseModel) -> str | None:
    """Why this call of ``model`` cannot take the compiled loop (None: it can)."""
    if numba is None:
        return "numba is not installed (the fast extra)"
    if _UNUSABLE is not None:
        return _UNUSABLE
    why = model.outside_kernel()
    if why is not None:
        return why
    if model.trace is not None:
        return "an event trace is kept"
    if not model._direct_small:
        return "a dispatch policy that does not declare sends_nearest, or a street network"
    if model._moves_units or model.police.relocated:
        return "move-up"
    if np.unique(model.city.region_of_bank).size > 1:
        return "banks no bridge joins (calls a unit cannot reach wait aside)"
    if model._aside:
        return "calls set aside"
    if any(ev[1] in _PYTHON_ONLY for ev in model._heap):
        return "Mesa events or roster changes are queued"
    return None


# ---------------------------------------------------------------- the compiled loop
def _loop(until_s, ints, floats, occurred, inc, led, units, patrol, geo, heap_cols, queue_cols,
          xfer):  # fmt: skip
    """The events of ResponseModel._advance over arrays (see the module docstring): police
    events compiled, every other event by its Python handler (:func:`_python_event`).
    ``ints`` = [seq, fed, free units, units driving back, status, leg needed, rows logged] and
    ``floats``
    = [next_home] are updated in place; ``occurred``: every incident's time; ``inc`` =
    (incf, inci, base): the columns of incidents base, base + 1, ... (_window); ``led`` = (times,
    police_counts, detected_by) of the ledger, ``units`` = (uf, ui, head_of, back_ids) and
    ``patrol``: the columns of :func:`advance`; ``xfer`` = (log, events): the rows the loop
    and Python hand each other (:func:`_log`, :func:`_hand_to_python`). Returns the heap and
    the queue; the first ``ints[6]`` rows of the log are the released assignments (unit,
    incident, sent, arrived, cleared) not yet handed to Python, in the order they
    happened."""
    incf, inci, base = inc
    times, counts, detected_by = led
    leg_s, legs_from, n_legs = patrol[6], patrol[5], patrol[2].shape[0]
    heap, queue = _heap_of(heap_cols), _queue_of(queue_cols)
    n_units = units[0].shape[1]
    # the search's lists, reused: best units and times, candidates, their positions, legs
    # and the buckets of one leg's spots (its leg first: none yet)
    best = (np.empty(n_units, np.int64), np.empty(n_units), np.empty(n_units, np.int64),
            np.empty(n_units), np.empty(n_units), np.empty(n_units, np.int64),
            np.empty(geo[5].shape[0]), np.full(1, -1, np.int64),
            np.empty(patrol[8] * patrol[9] + 1, np.int64), np.empty(n_units, np.int64))  # fmt: skip
    ints[4], ints[5] = DONE, -1
    # The handlers are called from here, each with what it reads: numba counts a reference
    # for every array and list an inlined function is handed, at every call.
    while True:
        t, kind, i, d = _next_event(until_s, ints, occurred, heap, leg_s, legs_from, n_legs,
                                    base, incf.shape[1])  # fmt: skip
        in_python = -1  # the kind of event whose (rest of the) handler is Python's
        if kind < 0:  # nothing more in this call
            break
        if kind == _OCCURS and not inci[OCCURS_IN_PYTHON, i - base]:  # nobody on site
            _occurs(t, i, ints, heap, inc, times, detected_by)
        elif kind == _ALERT and not inci[ALERT_IN_PYTHON, i - base]:  # police alone
            if inci[NEED, i - base] > 0:
                _push(heap, ints, t + incf[CALL_HANDLING, i - base], _CALL, i, -1)
        elif kind == _CALL:  # _police_call: dispatch what the incident needs, or queue it
            need = inci[NEED, i - base]
            times[CALLED, i] = t
            counts[PENDING, i] = need
            if ints[2] > 0:
                _send(t, i, need, ints, floats, heap, inc, led, units, patrol, geo, best)
            if counts[PENDING, i] > 0:
                heapq.heappush(queue, (inci[PRIORITY, i - base], t, ints[0], i))
                ints[0] += 1
        elif kind == _ARRIVES:
            _arrives(t, i, d, ints, heap, inc, led, units)
        elif kind == _CLEARS:
            if not math.isnan(times[CLEARED, i]):
                continue
            times[CLEARED, i] = t
            _release(t, i, ints, floats, heap, xfer, inc, units)
            if inci[RELEASE_IN_PYTHON, i - base]:
                in_python = RELEASE_OTHERS
        else:
            in_python = kind
        if in_python >= 0 and not _hand_to_python(t, in_python, i, d, ints, heap, xfer):
            ints[4] = FAILED  # the handler raised
            break
        if kind == _CLEARS and len(queue) > 0 and ints[2] > 0:  # calls waiting, units free
            _serve_queue(t, ints, floats, heap, queue, inc, led, units, patrol, geo, best)
    return (*_heap_cols(heap), *_queue_cols(queue))


def _hand_to_python(t, kind, i, d, ints, heap, xfer):
    """The event's (rest of its) handling by its Python handler: the rows logged go first,
    the events the handler queues come into the heap (a rowful of the events buffer at a
    time). False: the handler raised."""
    events = xfer[1]
    n, ints[0] = _to_python(t, kind, i, d, ints[0], ints[6])
    ints[6] = 0
    while n > 0:
        for j in range(n):
            heapq.heappush(heap, (events[j, 0], int(events[j, 1]), int(events[j, 2]),
                                  int(events[j, 3]), int(events[j, 4])))  # fmt: skip
        if n < events.shape[0]:
            break
        n, ints[0] = _to_python(t, MORE_EVENTS, i, d, ints[0], 0)
    return n >= 0


def _to_python(t, kind, i, d, seq, logged):
    """:func:`_python_event` from the compiled loop (a function of its own: the block that
    leaves compiled code sees only these arguments). Scalars alone cross: the rows go
    through the buffers both sides hold (numba boxes an array at every crossing)."""
    with numba.objmode(n="int64", out_seq="int64"):
        n, out_seq = _python_event(t, kind, i, d, seq, logged)
    return n, out_seq


def _log(u, i, sent, arrived, cleared, ints, heap, xfer):
    """A released assignment into the log Python reads (a full log is handed over first)."""
    log = xfer[0]
    if ints[6] == log.shape[0]:
        _hand_to_python(cleared, LOG_FULL, i, u, ints, heap, xfer)  # queues no event
    k = ints[6]
    log[k, 0], log[k, 1], log[k, 2], log[k, 3], log[k, 4] = u, i, sent, arrived, cleared
    ints[6] = k + 1


def _next_event(until_s, ints, occurred, heap, leg_s, legs_from, n_legs, base, n_window):
    """The next event (t, kind, incident, detail) taken off: the heap's first or the next
    occurrence, by (time, kind, seq). Kind -1: none up to ``until_s``, or a search would
    read patrol spots not in the block handed in (ints[4] = NEED_SPOTS, ints[5] = the leg:
    the caller draws that block and calls again), or a police event is of an incident
    outside the window of incidents handed in (ints[4] = NEED_WINDOW, ints[5] = the
    incident: the caller widens the window and calls again)."""
    fed = ints[1]
    t_occ = occurred[fed] if fed < occurred.shape[0] else math.inf
    from_heap = len(heap) > 0 and (heap[0][0], heap[0][1], heap[0][2]) < (t_occ, _OCCURS, fed)
    if from_heap:
        if heap[0][0] > until_s:
            return math.inf, -1, 0, 0
        t, kind, s, i, d = heapq.heappop(heap)
    else:
        if t_occ > until_s or fed >= occurred.shape[0]:  # (never past the arrays)
            return math.inf, -1, 0, 0
        t, kind, s, i, d = t_occ, _OCCURS, fed, fed, -1
    leg = int(t // leg_s)
    if (kind == _CALL or kind == _CLEARS) and not legs_from <= leg < legs_from + n_legs:  # noqa: SIM109
        ints[4], ints[5] = NEED_SPOTS, leg
    elif kind <= _ARRIVES and kind != _TEAM_RETURNS and not base <= i < base + n_window:
        ints[4], ints[5] = NEED_WINDOW, i
    if ints[4] != DONE:
        if from_heap:  # back where it was: the same order follows
            heapq.heappush(heap, (t, kind, s, i, d))
        return math.inf, -1, 0, 0
    if not from_heap:
        ints[1] = fed + 1
    return t, kind, i, d


def _occurs(t, i, ints, heap, inc, times, detected_by):
    """_occurs with nobody at the scene: the first way the system learns of it."""
    incf, j = inc[0], i - inc[2]
    delay, how = first_alert(incf[CALL_DELAY, j], incf[CAMERA_DELAY, j], math.inf)
    if math.isfinite(delay):
        detected_by[i] = _DETECTED_CODE_OF_WAY[how]
        times[ALERTED, i] = t + delay
        _push(heap, ints, t + delay, _ALERT, i, -1)


def _push(heap, ints, t, kind, i, d):
    heapq.heappush(heap, (t, kind, ints[0], i, d))
    ints[0] += 1


def _send(t, i, need, ints, floats, heap, inc, led, units, patrol, geo, best):
    """_dispatch: the nearest available units that can reach incident i, up to ``need``,
    are sent (arrivals scheduled); police_pending[i] becomes what is still needed."""
    best_u, best_dt = best[0], best[1]
    j = i - inc[2]
    found, floats[0], ints[3] = nearest(
        t,
        inc[0][SCENE_X, j],
        inc[0][SCENE_Y, j],
        inc[1][SCENE_BANK, j],
        need,
        best,
        units,
        patrol,
        floats[0],
        ints[3],
        geo,
    )
    while found > 0 and not math.isfinite(best_dt[found - 1]):
        found -= 1  # units that cannot reach the scene are not sent
    if found == 0:
        return
    if math.isnan(led[0][DISPATCHED, i]):
        led[0][DISPATCHED, i] = t
    for k in range(found):
        u = best_u[k]
        ints[3] = commit(u, i, j, t, units, ints[3])
        ints[2] -= 1
        _push(heap, ints, t + best_dt[k], _ARRIVES, i, u)
    left = need - found
    led[1][PENDING, i] = left
    if left == 0:
        led[0][WAITED, i] = t - led[0][CALLED, i]


def _arrives(t, i, u, ints, heap, inc, led, units):
    """_police_arrives: unit u on scene; the last needed unit schedules the clearance."""
    uf, ui = units[0], units[1]
    if ui[FREE, u]:
        ui[FREE, u] = 0
        ints[2] -= 1
    ui[CODE, u] = 2  # on scene
    uf[ARRIVED_AT, u] = t
    arrived = led[1][ARRIVED, i] + 1
    led[1][ARRIVED, i] = arrived
    if arrived == 1:
        led[0][FIRST, i] = t
    if arrived == inc[1][NEED, i - inc[2]]:
        led[0][LAST, i] = t
        handling = inc[0][HANDLING, i - inc[2]]
        _push(heap, ints, clears_at(led[0][FIRST, i], handling, t), _CLEARS, i, -1)


def _release(t, i, ints, floats, heap, xfer, inc, units):
    """_clears: every unit of incident i is released and drives back to its station."""
    uf, ui, head_of = units[0], units[1], units[2]
    j = i - inc[2]
    ax, ay, bank = inc[0][SCENE_X, j], inc[0][SCENE_Y, j], inc[1][SCENE_BANK, j]
    u = head_of[j]
    head_of[j] = -1
    while u >= 0:
        _log(u, i, uf[SENT_AT, u], uf[ARRIVED_AT, u], t, ints, heap, xfer)
        nxt = ui[NEXT_UNIT, u]
        ui[NEXT_UNIT, u] = -1
        ui[INCIDENT_OF, u] = -1
        uf[SENT_AT, u] = math.nan
        uf[ARRIVED_AT, u] = math.nan
        # leave_scene: free again at the scene, driving back to the station
        manhattan = abs(uf[STATION_X, u] - ax) + abs(uf[STATION_Y, u] - ay)
        if ui[BACK_AT, u] < 0:
            ints[3] = _back_add(u, ui, units[3], ints[3])
        uf[WAY_LEFT, u], uf[WAY_X, u], uf[WAY_Y, u] = t, ax, ay
        ui[WAY_SAME, u] = 1 if bank == ui[STATION_BANK, u] else 0
        uf[WAY_MANH, u], ui[WAY_BANK, u] = manhattan, bank
        floats[0] = min(floats[0], earliest_home(t, manhattan, uf[TOP, u]))
        ui[CODE, u] = 0  # available
        if not ui[FREE, u]:
            ui[FREE, u] = 1
            ints[2] += 1
        u = nxt


def _serve_queue(t, ints, floats, heap, queue, inc, led, units, patrol, geo, best):
    """_serve_queue for the nearest-unit policy, nothing set aside: waiting calls in
    priority order while units are free (one region: no call is unreachable)."""
    kept = [(0, 0.0, 0, 0)]
    kept.pop()
    while len(queue) > 0 and ints[2] > 0:
        entry = heapq.heappop(queue)
        q = entry[3]
        _send(t, q, led[1][PENDING, q], ints, floats, heap, inc, led, units, patrol, geo, best)
        if led[1][PENDING, q] > 0:
            kept.append(entry)
    for entry in kept:
        heapq.heappush(queue, entry)


def _heap_of(cols):
    heap_t, heap_k, heap_s, heap_a, heap_b = cols
    heap = [(0.0, 0, 0, 0, 0)]
    heap.pop()
    for j in range(heap_t.shape[0]):  # already in heap order
        heap.append((heap_t[j], heap_k[j], heap_s[j], heap_a[j], heap_b[j]))
    return heap


def _queue_of(cols):
    queue_p, queue_t, queue_s, queue_i = cols
    queue = [(0, 0.0, 0, 0)]
    queue.pop()
    for j in range(queue_t.shape[0]):
        queue.append((queue_p[j], queue_t[j], queue_s[j], queue_i[j]))
    return queue


def _heap_cols(heap):
    """The heap back as columns (in heap order)."""
    m = len(heap)
    out_t, out_k, out_s = np.empty(m), np.empty(m, np.int64), np.empty(m, np.int64)
    out_a, out_b = np.empty(m, np.int64), np.empty(m, np.int64)
    for j in range(m):
        out_t[j], out_k[j], out_s[j], out_a[j], out_b[j] = heap[j]
    return out_t, out_k, out_s, out_a, out_b


def _queue_cols(queue):
    mq = len(queue)
    q_p, q_t, q_s, q_i = (
        np.empty(mq, np.int64),
        np.empty(mq),
        np.empty(mq, np.int64),
        np.empty(mq, np.int64),
    )
    for j in range(mq):
        q_p[j], q_t[j], q_s[j], q_i[j] = queue[j]
    return q_p, q_t, q_s, q_i


def nearest(t, sx, sy, sbank, need, lists, units, patrol, next_home, n_back, geo):
    """PoliceFleet.nearest_free on the arrays: units whose drive back has ended are home,
    then the candidates (every available unit, or from RING_FROM units those
    :func:`sim.model.spatial.ring_candidates` gives and the units driving back), each where
    it is at ``t``, go to the one search, :func:`sim.model.spatial.nearest_in`, filling the
    best units and times of ``lists`` (see _loop). Returns how many were found, and the
    fleet's next_home and count of units driving back after settling."""
    best_u, best_dt, ids, xs, ys, banks, via = lists[:7]
    single, bank_near, inv, width, height, bridge_x, bridge_y, bank_bridges, bridge_dist = geo
    uf, ui = units[0], units[1]
    drive_by_hour, foot, spot_x, spot_y, spot_bank, legs_from, leg_s = patrol[:7]
    drive = drive_by_hour[int(t // 3600.0) % 24]
    if n_back > 0 and t >= next_home:
        next_home, n_back = _settle(t, drive, foot, next_home, n_back, units)
    k_leg = int(t // leg_s) - legs_from
    if ui.shape[1] < RING_FROM:
        count = 0
        for u in range(ui.shape[1]):
            if ui[FREE, u]:
                ids[count] = u
                count += 1
    else:
        count = _ring_candidates(t, sx, sy, sbank, need, lists, units, patrol, n_back, single)
    for k in range(count):
        u = ids[k]
        if ui[BACK_AT, u] >= 0:  # _back_position: along the way home, or at the scene across water
            x, y = uf[WAY_X, u], uf[WAY_Y, u]
            if ui[WAY_SAME, u]:
                speed = drive if ui[CAR, u] else foot
                x, y = along_way_home(x, y, uf[STATION_X, u], uf[STATION_Y, u],
                                      (t - uf[WAY_LEFT, u]) * speed)  # fmt: skip
            xs[u], ys[u] = x, y
            banks[u] = 0 if single else bank_at(x, y, bank_near, inv, width, height)
        else:
            xs[u], ys[u], banks[u] = spot_x[k_leg, u], spot_y[k_leg, u], spot_bank[k_leg, u]
    found = nearest_in(ids, count, xs, ys, banks, ui[CAR], drive, foot, sx, sy, sbank, need,
                       best_u, best_dt, single, bridge_x, bridge_y, bank_bridges, bridge_dist,
                       via)  # fmt: skip
    return found, next_home, n_back


def _ring_candidates(t, sx, sy, sbank, need, lists, units, patrol, n_back, single):
    """The candidates of a large fleet into ``lists``' ids, ascending: the available units at
    their spots that :func:`sim.model.spatial.ring_candidates` finds in the buckets of the
    leg's spots (built when the leg changes), and every available unit driving back."""
    best_u, best_dt, ids = lists[0], lists[1], lists[2]
    grid_leg, starts, members = lists[7], lists[8], lists[9]
    ui, back_ids = units[1], units[3]
    drive_by_hour, foot, spot_x, spot_y, spot_bank, legs_from, leg_s, size, nx, ny = patrol
    leg = int(t // leg_s)
    k_leg = leg - legs_from
    if grid_leg[0] != leg:
        starts[:], members[:] = bucket_index(spot_x[k_leg], spot_y[k_leg], size, nx, ny)
        grid_leg[0] = leg
    count, _ = ring_candidates(starts, members, nx, ny, size, spot_x[k_leg], spot_y[k_leg],
                               spot_bank[k_leg], ui[FREE], ui[BACK_AT], ui[CAR],
                               drive_by_hour[int(t // 3600.0) % 24], foot, sx, sy, sbank, need,
                               single, ids, best_dt, best_u)  # fmt: skip
    for k in range(n_back):
        u = back_ids[k]
        if ui[FREE, u]:
            ids[count] = u
            count += 1
    ids[:count].sort()
    return count


def _settle(t, drive, foot, next_home, n_back, units):
    """_settle_units: available units whose drive back has ended are home (the units
    driving back alone are looked at: from the end of their list, which a drop reorders
    only behind the place looked at)."""
    uf, ui, back_ids = units[0], units[1], units[3]
    homed = False
    for k in range(n_back - 1, -1, -1):
        u = back_ids[k]
        speed = drive if ui[CAR, u] else foot
        if ui[FREE, u] and drive_ended(t, uf[WAY_LEFT, u], speed, uf[WAY_MANH, u]):
            n_back = _back_drop(u, ui, back_ids, n_back)
            homed = True
    if homed:
        next_home = math.inf
        for k in range(n_back):
            u = back_ids[k]
            next_home = min(next_home, earliest_home(uf[WAY_LEFT, u], uf[WAY_MANH, u],
                                                     uf[TOP, u]))  # fmt: skip
    return next_home, n_back


def _back_add(u, ui, back_ids, n_back):
    """Unit u drives back: put last in the list of units driving back; returns how many
    there are."""
    ui[BACK_AT, u] = n_back
    back_ids[n_back] = u
    return n_back + 1


def _back_drop(u, ui, back_ids, n_back):
    """Unit u no longer drives back: out of the list (the last takes its place); returns
    how many are left."""
    k, last = ui[BACK_AT, u], back_ids[n_back - 1]
    back_ids[k] = last
    ui[BACK_AT, last] = k
    ui[BACK_AT, u] = -1
    return n_back - 1


def commit(u, i, j, t, units, n_back):
    """PoliceFleet.commit: unit u sent to incident i (j in the window) at t (appended to
    i's units). Returns how many units drive back after it (one fewer if u did)."""
    uf, ui, head_of = units[0], units[1], units[2]
    ui[CODE, u] = 1  # en route
    ui[FREE, u] = 0
    if ui[BACK_AT, u] >= 0:
        n_back = _back_drop(u, ui, units[3], n_back)
    ui[NEXT_UNIT, u] = -1
    if head_of[j] < 0:
        head_of[j] = u
    else:
        v = head_of[j]
        while ui[NEXT_UNIT, v] >= 0:
            v = ui[NEXT_UNIT, v]
        ui[NEXT_UNIT, v] = u
    ui[INCIDENT_OF, u] = i
    uf[SENT_AT, u] = t
    return n_back


#: The rules of sim.model.spatial and sim.model.lifecycle the loop calls (their callees
#: compiled with them).
_SHARED = ("along_way_home", "bank_at", "drive_ended", "earliest_home", "nearest_in",
           "ring_candidates", "bucket_index", "keep_best", "bridge_legs", "via_bridges_from",
           "bucket_of", "bucket_cell", "ring_beyond", "_take_span", "_take_ring", "clears_at",
           "first_alert")  # fmt: skip
_kernel: Any  # the compiled _loop (numba's dispatcher), or _loop itself without numba
_kernel = _loop
#: Why the compiled loop cannot run here although numba is installed (None: it can).
_UNUSABLE: str | None = None
_LOADED = False  # set by the first compiled call of this process
if numba is not None:
    try:
        _jit = numba.njit(cache=True)
        # The handlers are inlined into the loop (numba's IR inlining): called, each would
        # take the tuples of columns by value at every event.
        _inline = numba.njit(cache=True, inline="always")
        # The rules of sim.model.spatial compiled, calling one another compiled (each
        # function again over a namespace where its callees are the compiled ones).
        _compiled = {**vars(spatial), **vars(lifecycle)}
        for _name in _SHARED:
            _py = getattr(spatial, _name, None) or getattr(lifecycle, _name)
            _compiled[_name] = _jit(types.FunctionType(_py.__code__, _compiled, _name))
        (
            along_way_home,
            bank_at,
            drive_ended,
            earliest_home,
            nearest_in,
            ring_candidates,
            bucket_index,
        ) = (_compiled[name] for name in _SHARED[:7])
        clears_at, first_alert = _compiled["clears_at"], _compiled["first_alert"]
        _next_event, _occurs, _push, _send, _arrives, _release, _serve_queue = (
            _inline(_next_event), _inline(_occurs), _inline(_push), _inline(_send),
            _inline(_arrives), _inline(_release), _inline(_serve_queue))  # fmt: skip
        _heap_of, _queue_of, _heap_cols, _queue_cols = (
            _jit(_heap_of),
            _jit(_queue_of),
            _jit(_heap_cols),
            _jit(_queue_cols),
        )
        nearest, _settle, commit = _inline(nearest), _inline(_settle), _inline(commit)
        _ring_candidates = _inline(_ring_candidates)
        _back_add, _back_drop = _inline(_back_add), _inline(_back_drop)
        _to_python, _hand_to_python, _log = (
            _jit(_to_python),
            _inline(_hand_to_python),
            _inline(_log),
        )
        _kernel = _jit(_loop)
    except RuntimeError:  # no writable cache beside the package or in the user's cache
        _UNUSABLE = (
            "numba has nowhere to cache the compiled loop (set NUMBA_CACHE_DIR to a writable "
            "folder)"
        )


# ---------------------------------------------------------------- the model's side
#: The models whose compiled loop is running (innermost last): what _python_event serves.
_RUNNING: list = []


def _python_event(t, kind, i, d, seq, logged):
    """An event the compiled loop hands to its Python handler (the one copy of that rule):
    the ``logged`` assignments of the log go to the model first (they keep their order), the
    model's sequence number is the loop's, and the events the handler queues (on the
    model's heap, empty while the loop holds the events) and its follow-on go into the
    events buffer as rows (time, kind, seq, subject, detail). Returns how many (at most a
    buffer's: the rest stay queued for a MORE_EVENTS call; -1: the handler raised, its
    exception kept for :func:`advance`) and the sequence number after them."""
    model = _RUNNING[-1]
    log, events = model._kernel_xfer
    _record(model, log, logged)
    if kind == LOG_FULL:
        return 0, seq
    heap = model._heap
    if kind != MORE_EVENTS:
        model._seq = seq
        try:
            if kind == RELEASE_OTHERS:
                follow = model._release_others(t, i)
            else:
                follow = model._handlers[_KIND_OF_CODE[kind]](model, t, i, d)
        except Exception as err:
            model._kernel_failure = err
            heap.clear()
            return -1, model._seq
        if follow is not None:
            heap.append(follow)
    n = min(len(heap), EVENT_ROWS)
    if n:
        events[:n] = heap[:n]  # kinds are IntEnums; seq, subject, detail < 2**53
        del heap[:n]
    return n, model._seq


#: Events whose subject is an incident whose columns the compiled loop may read (a plug-in
#: fleet's event may queue its incident's clearance).
_OF_INCIDENTS = [int(k) for k in (EventKind.OCCURS, EventKind.ALERT, EventKind.POLICE_CALL,
                                  EventKind.POLICE_ARRIVES, EventKind.UNIT_CLEARS,
                                  EventKind.FLEET)]  # fmt: skip


def _window(model: ResponseModel, until_s: float, heap_cols, queue_cols) -> tuple[int, int]:
    """The incidents [lo, hi) whose columns a call hands in: from the first that an event
    to come, a waiting call or a committed unit names to the last occurring by ``until_s``
    (the columns of a whole city year would cost ~200 MB). An event of an incident outside
    it (a call a plug-in fleet serves late) stops the loop, which widens it (NEED_WINDOW)."""
    fed = model._fed
    hi = max(fed, int(np.searchsorted(model._occurred, until_s, side="right")))
    named = (heap_cols[3][np.isin(heap_cols[1], _OF_INCIDENTS)], queue_cols[3],
             np.fromiter(model.police._incident_of.values(), np.int64))  # fmt: skip
    lo = min([fed, *(int(a.min()) for a in named if a.size)])
    return lo, max(hi, lo)


def _inputs(model: ResponseModel, lo: int, hi: int) -> tuple:
    """The columns the loop reads of incidents lo to hi - 1, and lo (``inc`` of _loop)."""
    inc, window = model.incidents, slice(lo, hi)
    kinds = model._kinds
    by_kind = np.array([[k.priority, model.alert_calls_others(k),
                         model.clearance_releases_others(k)] for k in kinds], np.int64)  # fmt: skip
    code = np.asarray(inc.kind[window], np.int64)
    xy = np.asarray(inc.xy[window], np.float64)
    incf = np.empty((6, hi - lo))
    incf[CALL_DELAY], incf[CAMERA_DELAY] = inc.call_delay_s[window], inc.camera_delay_s[window]
    incf[CALL_HANDLING], incf[HANDLING] = model._call_handling[window], inc.handling_s[window]
    incf[SCENE_X], incf[SCENE_Y] = xy[:, 0], xy[:, 1]
    inci = np.empty((6, hi - lo), np.int64)
    inci[NEED] = model.kind_column("police_needed", lo, hi)
    inci[PRIORITY], inci[ALERT_IN_PYTHON] = by_kind[code, 0], by_kind[code, 1]
    inci[RELEASE_IN_PYTHON] = by_kind[code, 2]
    inci[SCENE_BANK] = model._bank[window]
    inci[OCCURS_IN_PYTHON] = model.someone_may_be_at(lo, hi)
    return incf, inci, lo


def advance(model: ResponseModel, until_s: float) -> None:
    """Process every event up to and including ``until_s`` in the compiled loop (the
    caller has checked :func:`why_not`)."""
    police, ledger = model.police, model.ledger
    drive_by_hour = np.array(
        [model.config.travel.drive_m_s / c for c in by_hour(model.config.travel.congestion_by_hour)]
    )
    heap, queue = model._heap, model._queue
    heap_cols = (
        np.array([e[0] for e in heap], np.float64),
        *(np.array([e[j] for e in heap], np.int64) for j in range(1, 5)),
    )
    queue_cols = (
        np.array([e[0] for e in queue], np.int64),
        np.array([e[1] for e in queue], np.float64),
        np.array([e[2] for e in queue], np.int64),
        np.array([e[3] for e in queue], np.int64),
    )
    lo, hi = _window(model, until_s, heap_cols, queue_cols)
    fleet = _unit_columns(model, lo, hi)
    ints = np.array([model._seq, model._fed, len(police.free_ids), len(police._back), 0, -1, 0],
                    np.int64)  # fmt: skip
    floats = np.array([police._next_home])
    if police._legs_from < 0:
        police.spots_at(max(float(model.time), 0.0))
    led = (ledger.times, ledger.police_counts, ledger.detected_by)
    geo = _geo(model.city)
    model._heap.clear()  # the loop holds the events; Python handlers queue theirs here
    model._kernel_failure = None
    model._kernel_xfer = (np.empty((LOG_ROWS, 5)), np.empty((EVENT_ROWS, 5)))
    _RUNNING.append(model)
    try:
        heap_cols, queue_cols, fleet, lo = _compiled_calls(
            model, until_s, ints, floats, (lo, hi), led, fleet, drive_by_hour, geo, heap_cols,
            queue_cols)  # fmt: skip
    finally:
        _RUNNING.pop()
    global _LOADED
    _LOADED = True
    _store(model, ints, floats, fleet, lo, heap_cols, queue_cols)
    if ints[4] == FAILED:
        err, model._kernel_failure = model._kernel_failure, None
        raise err


def _compiled_calls(model, until_s, ints, floats, window, led, fleet, drive_by_hour, geo,
                    heap_cols, queue_cols):  # fmt: skip
    """The compiled loop called until it is done, each leg's patrol spots drawn and the
    window of incidents widened when it asks; returns the heap's and the queue's columns,
    the fleet's columns and the window's first incident."""
    police, leg_s = model.police, float(model.police._leg_s)
    w_m, h_m = model.city.extent_m
    buckets = (float(police._bucket_m), *bucket_grid_shape(w_m, h_m, police._bucket_m))
    lo, hi = window
    inc = _inputs(model, lo, hi)
    while True:
        patrol = (drive_by_hour, float(police._foot),
                  np.ascontiguousarray(police._spots[:, :, 0]),
                  np.ascontiguousarray(police._spots[:, :, 1]),
                  np.ascontiguousarray(police._spot_bank, np.int64),
                  int(police._legs_from), leg_s, *buckets)  # fmt: skip
        out = _kernel(float(until_s), ints, floats, model._occurred, inc, led, fleet, patrol,
                      geo, heap_cols, queue_cols, model._kernel_xfer)  # fmt: skip
        heap_cols, queue_cols = out[0:5], out[5:9]
        _record(model, model._kernel_xfer[0], int(ints[6]))
        ints[6] = 0
        if ints[4] == NEED_WINDOW:
            k = int(ints[5])
            new_lo, hi = min(lo, k), max(hi, k + 1)
            head_of = np.full(hi - new_lo, -1, np.int64)
            head_of[lo - new_lo : lo - new_lo + fleet[2].size] = fleet[2]
            fleet, lo = (fleet[0], fleet[1], head_of, fleet[3]), new_lo
            inc = _inputs(model, lo, hi)
            continue
        if ints[4] != NEED_SPOTS:
            return heap_cols, queue_cols, fleet, lo
        # the block holding the leg asked for, by a time inside that leg (leg * leg_s itself
        # can fall in the leg before when leg_s is not exact in binary)
        police.spots_at((int(ints[5]) + 0.5) * leg_s)
        if not police._legs_from <= ints[5] < police._legs_from + police._spots.shape[0]:
            raise RuntimeError("the patrol block does not hold the leg the loop needs")


def _unit_columns(model: ResponseModel, lo: int, hi: int) -> tuple:
    """The fleet's unit state as the loop's columns (see ``units`` of _release; head_of of
    incidents lo to hi - 1)."""
    police, head_of = model.police, np.full(hi - lo, -1, np.int64)
    n = len(police)
    uf = np.zeros((9, n))
    ui = np.zeros((9, n), np.int64)
    ui[BACK_AT], back_ids = -1, np.zeros(n, np.int64)
    for k, (u, way) in enumerate(sorted(police._way_back.items())):
        ui[BACK_AT, u], back_ids[k] = k, u  # _back_add
        uf[WAY_LEFT, u], uf[WAY_X, u], uf[WAY_Y, u], ui[WAY_SAME, u] = way[:4]
        uf[WAY_MANH, u], ui[WAY_BANK, u] = way[4], way[6]
    uf[STATION_X], uf[STATION_Y] = police.station_xy[:, 0], police.station_xy[:, 1]
    uf[TOP], uf[SENT_AT], uf[ARRIVED_AT] = police._top_speed, math.nan, math.nan
    ui[CODE], ui[FREE] = police._code, police._is_free
    ui[STATION_BANK], ui[CAR] = police.station_bank, police.is_car
    ui[INCIDENT_OF], ui[NEXT_UNIT] = -1, -1
    for u, s in police._sent_at.items():
        uf[SENT_AT, u] = s
    for u, s in police._arrived_at.items():
        uf[ARRIVED_AT, u] = s
    for u, i in police._incident_of.items():
        ui[INCIDENT_OF, u] = i
    for i, sent in police._units_of.items():
        head_of[i - lo] = sent[0]
        for a, b in itertools.pairwise(sent):
            ui[NEXT_UNIT, a] = b
    return uf, ui, head_of, back_ids


def _geo(city) -> tuple:
    """The city as the search reads it (sim.model.spatial)."""
    return (
        bool(city.single_bank),
        np.ascontiguousarray(city.bank_near, np.int64),
        1.0 / city.cell_size_m,
        int(city.width),
        int(city.height),
        np.ascontiguousarray(city.bridge_xy[:, 0], np.float64),
        np.ascontiguousarray(city.bridge_xy[:, 1], np.float64),
        np.ascontiguousarray(city.bank_bridges, np.bool_),
        np.ascontiguousarray(city.bridge_dist, np.float64),
    )


def _record(model: ResponseModel, log: np.ndarray, n: int) -> None:
    """The first ``n`` rows of the log (released assignments: unit, incident, sent, arrived,
    cleared) into the model's assignments, as columns (no record per row)."""
    if not n:
        return
    rows = log[:n]
    model.assignments.add_police(rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64),
                                 rows[:, 2], rows[:, 3], rows[:, 4])  # fmt: skip


def _store(model, ints, floats, fleet, lo, heap_cols, queue_cols) -> None:
    """The arrays back into the model's and the fleet's Python state (what the Python loop
    would have left)."""
    uf, ui, head_of = fleet[:3]
    police = model.police
    n = len(police)
    police._code[:] = ui[CODE].tolist()
    police._is_free[:] = (ui[FREE] != 0).tolist()
    police.free_ids[:] = np.flatnonzero(ui[FREE]).tolist()
    police._dirty.update(range(n))
    backs = np.flatnonzero(ui[BACK_AT] >= 0).tolist()
    police._back.clear()
    police._back.update(backs)
    police._way_back.clear()
    rows = uf[:, backs].tolist()  # Python floats and ints, a column at a time
    same, bank = (ui[WAY_SAME, backs] != 0).tolist(), ui[WAY_BANK, backs].tolist()
    for k, u in enumerate(backs):
        manhattan = rows[WAY_MANH][k]
        police._way_back[u] = (rows[WAY_LEFT][k], rows[WAY_X][k], rows[WAY_Y][k], same[k],
                               manhattan, manhattan, bank[k])  # fmt: skip
    police._back_changed()
    sent = np.flatnonzero(ui[INCIDENT_OF] >= 0)
    sent_at, arrived_at = uf[SENT_AT, sent].tolist(), uf[ARRIVED_AT, sent].tolist()
    incident_of, next_unit = ui[INCIDENT_OF, sent].tolist(), ui[NEXT_UNIT].tolist()
    committed: list[int] = sent.tolist()
    police._sent_at.clear()
    police._arrived_at.clear()
    police._incident_of.clear()
    police._units_of.clear()
    for u, at, arrived, i in zip(committed, sent_at, arrived_at, incident_of, strict=True):
        police._sent_at[u] = at
        if not math.isnan(arrived):
            police._arrived_at[u] = arrived
        police._incident_of[u] = i
    heads: list[int] = head_of.tolist()
    for i in sorted(set(incident_of)):
        units, u = [], heads[i - lo]
        while u >= 0:
            units.append(u)
            u = next_unit[u]
        police._units_of[i] = units
    police._next_home = float(floats[0])
    police._boxes_of = None  # the bound's boxes were not kept: taken again when needed
    kinds = _KIND_OF_CODE
    model._heap[:] = [
        (t, kinds[k], s, a, b)
        for t, k, s, a, b in zip(*(c.tolist() for c in heap_cols), strict=True)
    ]
    model._queue[:] = list(zip(*(c.tolist() for c in queue_cols), strict=True))
    model._seq = int(ints[0])
    model._fed = int(ints[1])
