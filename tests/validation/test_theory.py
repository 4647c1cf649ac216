"""Reductions of the model to textbook cases, checked against their formulas.

Tolerances come from the sampling distribution, never tuned: each check passes when the
theoretical value lies inside a two-sided confidence interval at level 1 - ALPHA around the
simulated estimate. ALPHA = 0.001, so a correct model fails a given check about once in a
thousand seeds; the seeds are fixed, so the suite is deterministic.

* Independent samples (distances): standard error from the sample standard deviation.
* Queue waits are autocorrelated, so they use batch means: the post-warm-up incidents, in
  order, are cut into K = 20 contiguous batches whose means are close to independent; the
  interval is mean +- t(1 - ALPHA/2, K - 1) * sd(batch means) / sqrt(K).
* Distributions: a Kolmogorov-Smirnov test at level ALPHA.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.conftest import run, scenario

ALPHA = 0.001
BATCHES = 20
FIXED = lambda s: {"dist": "fixed", "value": s}  # noqa: E731

pytestmark = pytest.mark.slow


def batch_interval(values: np.ndarray) -> tuple[float, float]:
    """Mean and batch-means half-width at level 1 - ALPHA."""
    batches = np.array([b.mean() for b in np.array_split(values, BATCHES)])
    half = stats.t.ppf(1 - ALPHA / 2, BATCHES - 1) * batches.std(ddof=1) / math.sqrt(BATCHES)
    return float(values.mean()), float(half)


def iid_interval(values: np.ndarray) -> tuple[float, float]:
    half = stats.norm.ppf(1 - ALPHA / 2) * values.std(ddof=1) / math.sqrt(values.size)
    return float(values.mean()), float(half)


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival waits in M/M/c with offered load a = lambda / mu < c."""
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) * c / (c - a)
    return tail / (head + tail)


def queue_scenario(units: int, rate_per_s: float, mean_service_s: float, hours: float):
    """All incidents and the station in one 10 m cell; instant calls and driving; exponential
    on-scene times: police dispatch is then exactly an M/M/c queue."""
    return scenario(
        horizon_hours=hours,
        warmup_hours=48.0,
        drain_hours=48.0,
        city={"width": 1, "height": 1, "cell_size_m": 10.0, "population": 100,
              "land_use_shares": {}},
        police={"stations": 1, "grids": 1, "units": units, "station_cells": [[0, 0]],
                "patrol_when_idle": False, "call_handling": FIXED(0.0)},
        travel={"drive_m_s": 1e6},
        incidents={
            "rate_per_day": rate_per_s * 86400,
            "call_delay": FIXED(0.0),
            "kinds": {"call": {"share": 1.0, "self_rescue": False, "volunteers": False,
                               "meu_teams": 0, "police_units": 1, "call_probability": 1.0,
                               "handling": {"dist": "exponential", "mean_s": mean_service_s}}},
        },
    )  # fmt: skip


MEAN_SERVICE_S = 600.0


@pytest.mark.parametrize(("units", "rho"), [(1, 0.5), (3, 0.5), (3, 0.8), (6, 0.9)])
def test_police_queue_matches_erlang_c(units, rho):
    mu = 1 / MEAN_SERVICE_S
    lam = rho * units * mu
    hours = 30_000 / lam / 3600  # about 30,000 calls
    _, df, _ = run(queue_scenario(units, lam, MEAN_SERVICE_S, hours), seed=units * 10 + 7)
    df = df[~df["in_warmup"]].sort_values("occurred_s")
    wait = df["police_wait_s"].to_numpy()
    c = erlang_c(units, lam / mu)

    p_wait, half_p = batch_interval((wait > 0).astype(float))
    assert abs(p_wait - c) <= half_p, (p_wait, c, half_p)
    mean_wait, half_w = batch_interval(wait)
    expected = c / (units * mu - lam)
    assert abs(mean_wait - expected) <= half_w, (mean_wait, expected, half_w)


def test_mean_busy_units_equal_offered_load():
    """Little's law on the servers: time-average busy units = lambda x mean service = a."""
    units, rho = 4, 0.7
    mu = 1 / MEAN_SERVICE_S
    lam = rho * units * mu
    hours = 30_000 / lam / 3600
    _model, _df, asg = run(queue_scenario(units, lam, MEAN_SERVICE_S, hours), seed=99)
    start, end = 48 * 3600.0, hours * 3600.0
    edges = np.linspace(start, end, BATCHES + 1)
    busy = asg[asg["responder"] == "police"]
    per_batch = []
    for lo, hi in itertools.pairwise(edges):
        overlap = (np.minimum(busy["released_s"], hi) - np.maximum(busy["sent_s"], lo)).clip(0)
        per_batch.append(overlap.sum() / (hi - lo))
    per_batch = np.array(per_batch)
    half = stats.t.ppf(1 - ALPHA / 2, BATCHES - 1) * per_batch.std(ddof=1) / math.sqrt(BATCHES)
    assert abs(per_batch.mean() - lam / mu) <= half, (per_batch.mean(), lam / mu, half)


def test_unlimited_responders_never_wait():
    mu = 1 / MEAN_SERVICE_S
    lam = 3 * mu  # offered load 3 with 40 units: P(40 busy) < 1e-20
    _, df, _ = run(queue_scenario(40, lam, MEAN_SERVICE_S, 2000.0), seed=5)
    assert len(df) > 10_000
    assert (df["police_wait_s"] == 0).all()


def test_one_unit_uniform_incidents_mean_manhattan_distance():
    """Station at the centre of a W x H rectangle, incidents uniform on it:
    E|X - W/2| + E|Y - H/2| = (W + H) / 4, Var = (W^2 + H^2) / 48."""
    cols, rows, size = 21, 15, 100.0
    speed = 1e4  # the unit is back at its station long before the next call
    sc = scenario(
        horizon_hours=6000.0,
        drain_hours=1.0,
        city={"width": cols, "height": rows, "cell_size_m": size, "population": 10_000,
              "land_use_shares": {}, "centres": [{"scale_km": 1e9}]},
        police={"stations": 1, "grids": 1, "units": 1, "station_cells": [[cols // 2, rows // 2]],
                "patrol_when_idle": False, "call_handling": FIXED(0.0)},
        travel={"drive_m_s": speed},
        incidents={"rate_per_day": 24.0, "call_delay": FIXED(0.0),
                   "kinds": {"call": {"share": 1.0, "self_rescue": False, "volunteers": False,
                                      "meu_teams": 0, "police_units": 1, "call_probability": 1.0,
                                      "handling": FIXED(1.0)}}},
    )  # fmt: skip
    _, df, _ = run(sc, seed=3)
    distance = ((df["first_police_s"] - df["police_call_s"]) * speed).to_numpy()
    w, h = cols * size, rows * size
    mean, half = iid_interval(distance)
    assert abs(mean - (w + h) / 4) <= half, (mean, (w + h) / 4, half)
    assert distance.std(ddof=1) == pytest.approx(math.sqrt((w * w + h * h) / 48), rel=0.05)


def test_nearest_volunteer_distance_follows_the_binomial_point_process_law():
    """N volunteers uniform on an area A; for a query point farther than r from every edge,
    P(nearest L1 distance > r) = (1 - 2 r^2 / A)^N (the L1 ball of radius r has area 2 r^2)."""
    cols, size, n_vol = 60, 50.0, 3000
    side = cols * size
    reach = 300.0
    sc = scenario(
        horizon_hours=500.0,
        drain_hours=1.0,
        replications=10,
        city={"width": cols, "height": cols, "cell_size_m": size, "population": 100_000,
              "land_use_shares": {}, "centres": [{"scale_km": 1e9}]},
        police={"units": 0},
        volunteers={"count": n_vol, "on_duty_share": 1.0, "patrol_radius_m": 0.0,
                    "alert_radius_m": reach * 1.5, "acceptance": 1.0, "max_responders": 1,
                    "response_delay": FIXED(0.0), "on_scene_s": 0.0, "witness_radius_m": 0.0},
        travel={"volunteer_m_s": 1.0},
        incidents={"rate_per_day": 24.0, "call_delay": FIXED(0.0),
                   "kinds": {"call": {"share": 1.0, "self_rescue": False, "volunteers": True,
                                      "meu_teams": 0, "police_units": 0, "call_probability": 1.0,
                                      "handling": FIXED(1.0)}}},
    )  # fmt: skip
    # Ten seeds, so ten independent volunteer patterns (a seed fixes the placement).
    frames = [run(sc, seed=21 + r)[1] for r in range(10)]
    df = pd.concat(frames)
    inside = df["x_m"].between(reach, side - reach) & df["y_m"].between(reach, side - reach)
    d = (df.loc[inside, "first_volunteer_s"] - df.loc[inside, "alerted_s"]).to_numpy()
    assert np.isfinite(d).all() and d.size > 2000
    area = side * side

    def cdf(r):
        return 1 - np.clip(1 - 2 * np.asarray(r) ** 2 / area, 0, 1) ** n_vol

    assert stats.kstest(d, cdf).pvalue > ALPHA
    expected_mean = float(
        np.sum(
            np.diff(np.linspace(0, reach, 30_001)) * (1 - cdf(np.linspace(0, reach, 30_001)[:-1]))
        )
    )  # integral of the survival function
    mean, half = iid_interval(d)
    assert abs(mean - expected_mean) <= half, (mean, expected_mean, half)
