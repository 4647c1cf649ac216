"""Randomness: named streams, counter-based draws, and the coupling the docs promise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.model.rng import CounterRng, Purpose, Stream, generator, split_uniforms, stream_seed
from tests.conftest import scenario


def test_streams_are_distinct_and_reproducible():
    a = generator(7, 0, Stream.INCIDENTS).random(4)
    assert np.array_equal(a, generator(7, 0, Stream.INCIDENTS).random(4))
    assert not np.array_equal(a, generator(7, 0, Stream.BEHAVIOUR).random(4))
    assert not np.array_equal(a, generator(7, 1, Stream.INCIDENTS).random(4))
    assert not np.array_equal(a, generator(8, 0, Stream.INCIDENTS).random(4))
    with pytest.raises(ValueError, match=">= 0"):
        stream_seed(-1, 0, Stream.CITY)


@given(responder=st.integers(0, 2**40), incident=st.integers(0, 2**40))
def test_counter_draws_are_pure_functions_with_scalar_and_vector_paths_equal(responder, incident):
    rng = CounterRng(np.random.SeedSequence(3))
    one = rng.uniform(Purpose.VOLUNTEER_ACCEPT, [responder], incident)
    pair = rng.uniform(Purpose.VOLUNTEER_ACCEPT, [responder], [incident])
    again = CounterRng(np.random.SeedSequence(3)).uniform(Purpose.VOLUNTEER_ACCEPT, [responder],
                                                          incident)  # fmt: skip
    assert one[0] == pair[0] == again[0]
    assert 0 < one[0] < 1
    other = rng.uniform(Purpose.VOLUNTEER_DELAY, [responder], incident)
    assert other[0] != one[0]


def test_counter_draws_are_uniform():
    from scipy import stats

    u = CounterRng(np.random.SeedSequence(1)).uniform(Purpose.MEU_MOBILISE, np.arange(50_000), 9)
    assert stats.kstest(u, "uniform").pvalue > 0.001
    bits = CounterRng(np.random.SeedSequence(1)).bits(Purpose.POLICE_PATROL, np.arange(50_000), 9)
    for part in split_uniforms(bits, 3):
        assert stats.kstest(part, "uniform").pvalue > 0.001


def test_a_larger_pool_starts_with_the_smaller_one():
    """The first n volunteers and MEUs of a larger pool are those of a pool of n."""
    from sim.model.response import ResponseModel

    small = ResponseModel(scenario(volunteers={"count": 300}, meus={"count": 5}), seed=2)
    large = ResponseModel(scenario(volunteers={"count": 900}, meus={"count": 12}), seed=2)
    assert np.array_equal(large.volunteers.home_xy[:300], small.volunteers.home_xy)
    assert np.array_equal(large.volunteers.duty_rank[:300], small.volunteers.duty_rank)
    assert np.array_equal(large.meus.xy[:5], small.meus.xy)
    assert np.array_equal(large.meus.members[:5], small.meus.members)
    # ...and volunteers never move MEUs (nor MEUs volunteers).
    other = ResponseModel(scenario(volunteers={"count": 50}, meus={"count": 12}), seed=2)
    assert np.array_equal(other.meus.xy, large.meus.xy)
