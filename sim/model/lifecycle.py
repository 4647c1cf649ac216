"""The incident lifecycle's rules, once: how an incident is detected, when a call's last
unit is sent, when a scene clears.

Written, like :mod:`sim.model.spatial`, in the subset of Python that numba compiles and that
runs as plain Python: the model's handlers (sim.model.response) call them as they are, the
compiled loop (sim.model.police_kernel) calls them compiled, so a rule changed here changes
in both.
"""

from __future__ import annotations

from sim.model.vocab import DetectedBy

#: Ways an alert is raised, in the order that wins a tie (codes of :func:`first_alert`).
BY_CALL, BY_CAMERA, BY_WITNESS = 0, 1, 2
#: The DetectedBy of each code.
DETECTED_BY = (DetectedBy.CALL, DetectedBy.CAMERA, DetectedBy.WITNESS)


def first_alert(call_delay, camera_delay, witness_delay):
    """(delay, way) of the earliest way the alert is raised (inf: never): a later way in
    the order call, camera, witness wins only when strictly earlier."""
    delay, how = call_delay, BY_CALL
    if camera_delay < delay:
        delay, how = camera_delay, BY_CAMERA
    if witness_delay < delay:
        delay, how = witness_delay, BY_WITNESS
    return delay, how


def clears_at(first_arrival, handling, t):
    """When a scene whose last needed unit arrives at ``t`` clears: the handling time
    counts from the first arrival, and never before the last unit is there."""
    done = first_arrival + handling
    return t if t > done else done
