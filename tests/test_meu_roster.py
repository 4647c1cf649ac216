"""MEU members on post, drawn (``meus.on_duty_share``): each member of a unit checks in on a
day with the share's probability, so a unit's members on post are Binomial(members, share),
never rounded up to a team. The city preset's members on post against the published
expectation (chinajcwh.net, 12 Dec 2024: 41,000 of 369,600 members check in a day; seed 002:
290,000 members in 23,000 units), with intervals derived from the binomial statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from scipy.stats import binom, chisquare

from sim.geo.scenario import load_scenario
from sim.interface.cli import main
from sim.model.city import build_city
from sim.model.distributions import binomial_cdf
from sim.model.responders.meus import EmergencyUnitFleet, members_on_post
from sim.model.response import ResponseModel
from sim.model.rng import Stream, generator
from tests.conftest import SCENARIOS, scenario

PUBLISHED_MEMBERS = 290_000  # seed 002, 2023
PUBLISHED_SHARE = 41_000 / 369_600  # chinajcwh.net, 12 Dec 2024: check in on a day
DAYS = 3


@pytest.fixture(scope="module")
def city_fleet():
    sc = load_scenario(SCENARIOS / "guangzhou-2023.yaml")
    city = build_city(sc.city, sc.police, generator(0, 0, Stream.CITY), sc.travel)
    fleet = EmergencyUnitFleet(sc.meus, city, generator(0, 0, Stream.MEU_SITES),
                               roster=generator(0, 0, Stream.MEU_ROSTER), days=DAYS)  # fmt: skip
    return sc, fleet


def test_members_on_post_a_day_are_the_published_expectation_within_its_interval(city_fleet):
    sc, fleet = city_fleet
    p, n, mean_size = sc.meus.on_duty_share, sc.meus.count, sc.meus.members_per_unit
    # The preset's expectation is the published one up to the rounding of 11.09 % to 11 %
    # and of 290,000 / 23,000 to 12.6 members.
    expected = n * mean_size * p
    assert abs(expected / (PUBLISHED_MEMBERS * PUBLISHED_SHARE) - 1) < 0.012
    # Var(on post) = E[members] p (1 - p) + p^2 Var(members); a unit has floor(12.6) members
    # plus one with probability 0.6.
    frac = mean_size - math.floor(mean_size)
    sd = math.sqrt(n * mean_size * p * (1 - p) + p * p * n * frac * (1 - frac))
    totals = [int(fleet.on_post(d).sum()) for d in range(DAYS)]
    for total in totals:
        assert abs(total - expected) <= 4 * sd, (total, expected, sd)
    # ...and not the rounded-up team of two at every unit (46,000) that it replaces
    assert max(totals) < 2 * n - 40 * sd


def test_a_units_members_on_post_are_binomial_not_rounded_up(city_fleet):
    sc, fleet = city_fleet
    p = sc.meus.on_duty_share
    for size in np.unique(fleet.members):
        on = fleet.on_post(0)[fleet.members == size]
        observed = np.bincount(on, minlength=size + 1)
        pmf = binom.pmf(np.arange(size + 1), size, p)
        # pool the cells expected below 5 into one (chi-square's rule)
        small = pmf * on.size < 5
        obs = np.append(observed[~small], observed[small].sum())
        exp = np.append(pmf[~small], pmf[small].sum()) * on.size
        assert chisquare(obs, exp).pvalue > 1e-4
        # P(two or more on post) at 11 %: about 0.39-0.43, far from the 1.00 rounding gave
        share_two = float(np.mean(on >= 2))
        p_two = float(binom.sf(1, size, p))
        assert abs(share_two - p_two) <= 4 * math.sqrt(p_two * (1 - p_two) / on.size)


def test_who_is_on_post_is_drawn_again_each_day(city_fleet):
    _, fleet = city_fleet
    changed = np.mean(fleet.on_post(0) != fleet.on_post(1))
    assert 0.4 < changed < 0.8  # two independent draws of Binomial(12-13, 0.11) differ 73-74 %
    assert np.array_equal(fleet.on_post(DAYS + 5), fleet.on_post(DAYS - 1))  # last day kept


def test_readiness_tests_find_the_drawn_strength():
    """At readiness tests the open units' free members average E[members on post] (1.39 at
    11 % of 12.6), not the 2.00 of the rounded-up roster, and the share ready (a team of
    two free) is P(two or more on post), each within its binomial interval."""
    sc = load_scenario(SCENARIOS / "guangzhou-2023.yaml")
    sc = sc.with_changes({"horizon_hours": sc.warmup_hours + 24.0})
    model = ResponseModel(sc, seed=0, replication=0)
    model.run()
    open_tests = [t for t in model.readiness if t.open]
    free = np.array([t.members_free for t in open_tests])
    p = sc.meus.on_duty_share
    sizes = model.meus.members
    mean_on = float(np.mean(sizes)) * p
    sd_on = math.sqrt(float(np.mean(sizes)) * p * (1 - p))
    assert len(free) > 400
    # members away with a team only lower it, and hardly: teams are out rarely
    assert mean_on - 4 * sd_on / math.sqrt(len(free)) <= free.mean() + 0.05
    assert free.mean() <= mean_on + 4 * sd_on / math.sqrt(len(free))
    p_ready = float(np.mean([binom.sf(sc.meus.team_size - 1, m, p) for m in sizes]))
    ready = np.mean([t.ready for t in open_tests])
    assert abs(ready - p_ready) <= 4 * math.sqrt(p_ready * (1 - p_ready) / len(free)) + 0.01


def test_nobody_on_post_sends_no_team_and_gives_no_self_rescue():
    fleet_sc = scenario(meus={"count": 50, "members_per_unit": 3.0, "on_duty_share": 0.3,
                              "team_size": 1})  # fmt: skip
    model = ResponseModel(fleet_sc, seed=2)
    meus = model.meus
    for day in range(2):
        t = day * 86400.0 + 12 * 3600.0
        on = meus.on_post(day)
        ids = np.arange(len(meus))
        assert np.array_equal(meus.can_send(ids, t), meus.open_mask(t, ids) & (on >= 1))
        empty = ids[on == 0]
        assert empty.size  # P(0 of 3 at 30 %) = 0.34: some of 50 units have nobody
        for u in empty.tolist():
            assert u not in meus.at_cell(int(meus.cell[u]), t).tolist()


@pytest.mark.parametrize("size", [127, 128, 129, 32_767, 32_768])
def test_the_roster_type_holds_every_member_of_the_largest_unit(size):
    """The roster is kept in the smallest integer type (roster_dtype): a unit of ``size``
    members all on post is ``size``, never wrapped past the type's end."""
    members = np.array([size, 3])
    on = members_on_post(members, 1.0, 2, np.random.default_rng(0))
    assert np.iinfo(on.dtype).max >= size
    assert np.array_equal(on, np.tile(members, (2, 1)))


def test_more_units_keep_the_first_units_roster_and_a_larger_share_never_fewer():
    members = np.array([12, 13, 12, 13, 13, 12, 12])
    small = members_on_post(members[:4], 0.11, 5, np.random.default_rng(9))
    large = members_on_post(members, 0.11, 5, np.random.default_rng(9))
    assert np.array_equal(small, large[:, :4])
    more = members_on_post(members, 0.3, 5, np.random.default_rng(9))
    assert np.all(more >= large) and np.any(more > large)
    assert np.all(members_on_post(members, 1.0, 5, np.random.default_rng(9)) == members)
    assert not members_on_post(members, 0.0, 5, np.random.default_rng(9)).any()


@pytest.mark.parametrize(
    ("section", "says"),
    [
        ({"meus": {"count": 5, "on_duty_share": 0.0}},
         "meus.on_duty_share: 0 with units to staff: no member is ever on post"),
        ({"meus": {"count": 5, "members_per_unit": 2.0, "team_size": 3}},
         "meus.team_size: 3 exceeds the members of a unit"),
        ({"volunteers": {"count": 10, "on_duty_share": [0.0] * 24}},
         "volunteers.on_duty_share: 0 in every hour with volunteers registered"),
        ({"police": {"units": 4, "on_duty_share": 0.0}},
         "police.on_duty_share: share x units, rounded half up, is 0 in every hour"),
    ],
    ids=["meus", "meu-team", "volunteers", "police"],
)  # fmt: skip
def test_a_roster_with_no_one_on_duty_is_one_message_naming_the_key_exit_2(
    tmp_path, capsys, section, says
):
    raw = {"name": "bad", **section}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    assert main(["run", str(tmp_path / "bad.yaml"), "-q", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert says in err and "Traceback" not in err
    assert err.count("\n") == 1 and not (tmp_path / "o").exists()


def test_no_one_on_duty_is_fine_where_there_is_no_one_to_staff():
    assert scenario(meus={"count": 0, "on_duty_share": 0.0}).meus.count == 0
    assert scenario(volunteers={"count": 0, "on_duty_share": 0.0}).volunteers.total == 0


def test_the_binomial_cdf_is_scipy_stats_binom_cdf_bit_for_bit():
    """members_on_post inverts sim.model.distributions.binomial_cdf (binom.cdf's own kernel,
    so that a run need not import scipy.stats, issue 23): the same numbers, to the bit."""
    shares = [0.0, 1.0, 0.11, 0.5, 1e-9, 1 - 1e-12, *np.random.default_rng(3).random(40)]
    for n in range(0, 60):
        for p in shares:
            assert np.array_equal(binomial_cdf(n, p), binom.cdf(np.arange(n + 1), n, p))
