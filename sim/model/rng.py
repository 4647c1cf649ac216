"""Named random streams for one run, all spawned from one ``numpy.random.SeedSequence``.

A run is ``(scenario, seed, replication)``. Every stream is derived from
``SeedSequence(seed, spawn_key=(replication, STREAM_ID))``, so a stream depends only on
the seed, the replication and its own name: adding a stream never shifts another one, and
the incident stream of replication ``r`` is the same whatever the staffing (common random
numbers). The layout streams (city, placement, MEU sites) are taken at the replication's
*layout index*: the replication itself by default (each replication its own synthetic city),
or 0 for every replication when the scenario says ``layout: fixed``.

Responder behaviour (acceptance, patrol positions, mobilisation delays) uses a
counter-based generator (:class:`CounterRng`): the draw for a given (purpose, responder,
incident) is a pure function of the key, so adding a responder never changes what any
other responder draws. That coupling is what makes "more responders is never slower"
hold run by run, not only on average.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import numpy as np


class Stream(IntEnum):
    """The named streams of a run. Values are part of the reproducibility contract."""

    CITY = 1  # generated city raster, police grids and stations (layout streams)
    INCIDENTS = 2  # times, cells, kinds, handling and detection delays
    PLACEMENT = 3  # volunteer homes and duty rank
    BEHAVIOUR = 4  # key of the counter-based generator for responder decisions
    MESA = 5  # handed to mesa.Model(rng=...); the model draws nothing from it itself
    READINESS = 6  # times and units of unannounced MEU readiness tests
    MEU_SITES = 7  # MEU sites and sizes, apart from the volunteers so that a change of
    # volunteer count never moves a unit
    SUDDEN = 8  # sudden incidents when they have their own rate (incidents.sudden_rate_per_day)
    PROBES = 9  # probe emergencies (incidents.probes_per_day)
    PLANNING = 10  # random comparison placements of `jiefang optimize` (never the model's)
    REPLAY = 11  # handling and detection delays of replayed incidents (incidents.replay)
    MEU_ROSTER = 12  # MEU members on post, per unit per day (meus.on_duty_share)
    PROFESSIONAL = 13  # stations of the professional fleet (fleets.professional; layout stream)


def stream_seed(seed: int, replication: int, stream: Stream) -> np.random.SeedSequence:
    """Seed sequence of one named stream of one replication."""
    if seed < 0 or replication < 0:
        raise ValueError(f"seed and replication must be >= 0, got {seed}, {replication}")
    return np.random.SeedSequence(entropy=seed, spawn_key=(replication, int(stream)))


def generator(seed: int, replication: int, stream: Stream) -> np.random.Generator:
    """A fresh PCG64 generator for one named stream."""
    return np.random.Generator(np.random.PCG64(stream_seed(seed, replication, stream)))


_M64 = (1 << 64) - 1
_GOLDEN, _M1, _M2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _mix(z: int) -> int:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014) on a Python int."""
    z = (z + _GOLDEN) & _M64
    z = ((z ^ (z >> 30)) * _M1) & _M64
    z = ((z ^ (z >> 27)) * _M2) & _M64
    return z ^ (z >> 31)


def _mix_array(z: np.ndarray) -> np.ndarray:
    """The same finaliser on a uint64 array (array arithmetic wraps modulo 2**64 silently)."""
    z = z + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


class Purpose(IntEnum):
    """What a counter-based draw is for; part of its key."""

    VOLUNTEER_ACCEPT = 1
    VOLUNTEER_POSITION = 2
    VOLUNTEER_DELAY = 3
    MEU_MOBILISE = 4
    POLICE_PATROL = 5


class CounterRng:
    """Uniform draws in (0, 1) that are pure functions of (purpose, responder, incident).

    ``hash(purpose, responder, incident) = mix(mix(mix(key ^ purpose') ^ incident) ^ responder)``
    with SplitMix64's finaliser ``mix``; the scalar and the vectorised paths compute the
    same function.
    """

    def __init__(self, seed_sequence: np.random.SeedSequence) -> None:
        self._key = int(seed_sequence.generate_state(1, dtype=np.uint64)[0])
        self._purpose = {p: _mix(self._key ^ (int(p) * 0x100000001B3)) for p in Purpose}

    def bits(self, purpose: Purpose, responders, incidents) -> np.ndarray:
        """64 random bits per (responder, incident) pair; either may be a scalar."""
        ids = np.asarray(responders, dtype=np.uint64)
        inner: Any
        if np.ndim(incidents) == 0:
            inner = np.uint64(_mix(self._purpose[purpose] ^ int(incidents)))
        else:
            inner = _mix_array(np.uint64(self._purpose[purpose]) ^ np.asarray(incidents, np.uint64))
        return _mix_array(inner ^ ids)

    def uniform(self, purpose: Purpose, responders, incidents) -> np.ndarray:
        """One uniform in (0, 1) per (responder, incident) pair."""
        h = self.bits(purpose, responders, incidents)
        # 53 high bits -> double in [0, 1); half an ulp up so 0 is never returned.
        return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def split_uniforms(bits: np.ndarray, k: int) -> list[np.ndarray]:
    """``k`` (<= 3) independent uniforms in (0, 1) from 21-bit fields of 64 random bits."""
    if not 1 <= k <= 3:
        raise ValueError("at most three 21-bit uniforms fit in 64 bits")
    scale = 1.0 / (1 << 21)
    mask = np.uint64((1 << 21) - 1)
    return [
        (((bits >> np.uint64(21 * j)) & mask).astype(np.float64) + 0.5) * scale for j in range(k)
    ]
