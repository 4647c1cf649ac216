"""Named random streams for one run, all spawned from one ``numpy.random.SeedSequence``.

A run is ``(scenario, seed, replication)``. Every stream is derived from
``SeedSequence(seed, spawn_key=(replication, STREAM_ID))``, so a stream depends only on
the seed, the replication and its own name: adding a stream never shifts another one, and
the incident stream of replication ``r`` is the same whatever the staffing (common random
numbers).

Responder behaviour (acceptance, patrol positions, mobilisation delays) uses a
counter-based generator (:class:`CounterRng`): the draw for a given (purpose, responder,
incident) is a pure function of the key, so adding a responder never changes what any
other responder draws. That coupling is what makes "more responders is never slower"
hold run by run, not only on average.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class Stream(IntEnum):
    """The named streams of a run. Values are part of the reproducibility contract."""

    CITY = 1  # generated city raster, police grids and stations
    INCIDENTS = 2  # times, cells, kinds, handling and detection delays
    PLACEMENT = 3  # volunteer homes and duty rank, MEU sites and sizes
    BEHAVIOUR = 4  # key of the counter-based generator for responder decisions
    MESA = 5  # handed to mesa.Model(rng=...); the model draws nothing from it itself


def stream_seed(seed: int, replication: int, stream: Stream) -> np.random.SeedSequence:
    """Seed sequence of one named stream of one replication."""
    if seed < 0 or replication < 0:
        raise ValueError(f"seed and replication must be >= 0, got {seed}, {replication}")
    return np.random.SeedSequence(entropy=seed, spawn_key=(replication, int(stream)))


def generator(seed: int, replication: int, stream: Stream) -> np.random.Generator:
    """A fresh PCG64 generator for one named stream."""
    return np.random.Generator(np.random.PCG64(stream_seed(seed, replication, stream)))


_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea & Flood 2014), vectorised over uint64."""
    with np.errstate(over="ignore"):
        z = (x + _GOLDEN) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * _M1) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * _M2) & _MASK
        return z ^ (z >> np.uint64(31))


class Purpose(IntEnum):
    """What a counter-based draw is for; part of its key."""

    VOLUNTEER_ACCEPT = 1
    VOLUNTEER_OFFSET_X = 2
    VOLUNTEER_OFFSET_Y = 3
    VOLUNTEER_DELAY = 4
    MEU_MOBILISE = 5
    POLICE_PATROL_GRID = 6
    POLICE_PATROL_X = 7
    POLICE_PATROL_Y = 8
    POLICE_CALL_HANDLING = 9
    MEU_READY = 10


class CounterRng:
    """Uniform draws in (0, 1) that are pure functions of (purpose, responder, incident)."""

    def __init__(self, seed_sequence: np.random.SeedSequence) -> None:
        self._key = np.uint64(seed_sequence.generate_state(1, dtype=np.uint64)[0])

    def uniform(self, purpose: Purpose, responders: np.ndarray | int, incident: int) -> np.ndarray:
        """One uniform per responder id for the given incident and purpose."""
        ids = np.asarray(responders, dtype=np.uint64)
        with np.errstate(over="ignore"):
            h = _splitmix64(self._key ^ np.uint64(int(purpose) * 0x100000001B3))
            h = _splitmix64(h ^ np.uint64(incident))
            h = _splitmix64(h ^ ids)
        # 53 high bits -> double in [0, 1); shift by half an ulp so 0 is never returned.
        return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)

    def uniform1(self, purpose: Purpose, responder: int, incident: int) -> float:
        """Scalar form of :meth:`uniform`."""
        return float(self.uniform(purpose, np.array([responder]), incident)[0])
