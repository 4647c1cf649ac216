"""Reductions of the model to textbook cases: each returns the checks it makes.

Used by the tests (tests/validation/test_theory.py) and by the report that writes
docs/validation.md (``python -m tests.validation.report``), so both show the same numbers.

Tolerances come from the sampling distribution, never tuned: a check passes when the
theoretical value lies inside a two-sided confidence interval at level 1 - ALPHA around the
simulated estimate, ALPHA = 0.001 (a correct model fails a given check about once in a
thousand seeds; seeds are fixed, so the suite is deterministic).

* Independent samples (distances): standard error from the sample standard deviation.
* Queue waits are autocorrelated, so they use batch means: the post-warm-up incidents, in
  order, are cut into K = 20 contiguous batches whose means are close to independent; the
  interval is mean +- t(1 - ALPHA/2, K - 1) * sd(batch means) / sqrt(K).
* Distributions: a Kolmogorov-Smirnov test at level ALPHA.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from tests.conftest import run, scenario

ALPHA = 0.001
BATCHES = 20
MEAN_SERVICE_S = 600.0
FIXED = lambda s: {"dist": "fixed", "value": s}  # noqa: E731


@dataclass(frozen=True)
class Check:
    case: str
    formula: str
    expected: float
    simulated: float
    half_width: float  # at level 1 - ALPHA; for a KS test: nan
    p_value: float = float("nan")  # KS tests only

    @property
    def passed(self) -> bool:
        if not math.isnan(self.p_value):
            return self.p_value > ALPHA
        if self.half_width == 0:
            return self.simulated == self.expected
        return abs(self.simulated - self.expected) <= self.half_width


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


def erlang_case(units: int, rho: float) -> list[Check]:
    # Waits at high load are strongly autocorrelated: simulate longer to keep checks sharp.
    calls = 30_000 if rho <= 0.5 else 100_000
    mu = 1 / MEAN_SERVICE_S
    lam = rho * units * mu
    hours = calls / lam / 3600
    _, df, _ = run(queue_scenario(units, lam, MEAN_SERVICE_S, hours), seed=units * 10 + 7)
    df = df[~df["in_warmup"]].sort_values("occurred_s")
    wait = df["police_wait_s"].to_numpy()
    c = erlang_c(units, lam / mu)
    name = f"M/M/{units}, load {rho:.0%}"
    return [
        Check(name, "P(wait) = Erlang C(c, a)", c, *batch_interval((wait > 0).astype(float))),
        Check(name, "E[wait] = C / (c mu - lambda), s", c / (units * mu - lam),
              *batch_interval(wait)),
    ]  # fmt: skip


def busy_units_case() -> list[Check]:
    """Little's law on the servers: time-average busy units = lambda x mean service = a."""
    units, rho = 4, 0.7
    mu = 1 / MEAN_SERVICE_S
    lam = rho * units * mu
    hours = 30_000 / lam / 3600
    _, _, asg = run(queue_scenario(units, lam, MEAN_SERVICE_S, hours), seed=99)
    edges = np.linspace(48 * 3600.0, hours * 3600.0, BATCHES + 1)
    busy = asg[asg["responder"] == "police"]
    per_batch = []
    for lo, hi in itertools.pairwise(edges):
        overlap = (np.minimum(busy["released_s"], hi) - np.maximum(busy["sent_s"], lo)).clip(0)
        per_batch.append(overlap.sum() / (hi - lo))
    per_batch = np.array(per_batch)
    half = stats.t.ppf(1 - ALPHA / 2, BATCHES - 1) * per_batch.std(ddof=1) / math.sqrt(BATCHES)
    return [Check("M/M/4, load 70%: busy units (Little's law)", "L = lambda / mu",
                  lam / mu, float(per_batch.mean()), float(half))]  # fmt: skip


def unlimited_case() -> list[Check]:
    mu = 1 / MEAN_SERVICE_S
    lam = 3 * mu  # offered load 3 with 40 units: P(40 busy) < 1e-20
    _, df, _ = run(queue_scenario(40, lam, MEAN_SERVICE_S, 2000.0), seed=5)
    return [Check(f"40 units, load 3 ({len(df)} calls)", "wait = 0 (M/M/infinity)", 0.0,
                  float(df["police_wait_s"].max()), 0.0)]  # fmt: skip


def manhattan_case() -> list[Check]:
    """Station at the centre of a W x H rectangle, incidents uniform on it:
    E|X - W/2| + E|Y - H/2| = (W + H) / 4, SD = sqrt((W^2 + H^2) / 48)."""
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
    # Calls that found the unit busy (two within a second) left from the last scene: drop
    # them (whether a call waits does not depend on where it is).
    df = df[df["police_wait_s"] == 0]
    distance = ((df["first_police_s"] - df["police_call_s"]) * speed).to_numpy()
    w, h = cols * size, rows * size
    sd = math.sqrt((w * w + h * h) / 48)
    # Standard error of a sample SD by the delta method: sqrt((m4 - s^4) / (4 s^2 n)).
    s = distance.std(ddof=1)
    m4 = float(np.mean((distance - distance.mean()) ** 4))
    sd_half = stats.norm.ppf(1 - ALPHA / 2) * math.sqrt((m4 - s**4) / (4 * s * s * distance.size))
    return [
        Check("1 unit, uniform incidents on 2.1 x 1.5 km", "E[L1 distance] = (W + H) / 4, m",
              (w + h) / 4, *iid_interval(distance)),
        Check("1 unit, uniform incidents on 2.1 x 1.5 km",
              "SD[L1 distance] = sqrt((W^2 + H^2) / 48), m", sd,
              float(distance.std(ddof=1)), sd_half),
    ]  # fmt: skip


def nearest_volunteer_case() -> list[Check]:
    """N volunteers uniform on an area A; for a query point farther than r from every edge,
    P(nearest L1 distance > r) = (1 - 2 r^2 / A)^N (the L1 ball of radius r has area 2 r^2)."""
    cols, size, n_vol = 60, 50.0, 3000
    side = cols * size
    reach = 300.0
    sc = scenario(
        horizon_hours=500.0,
        drain_hours=1.0,
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
    df = pd.concat([run(sc, seed=21 + r)[1] for r in range(10)])
    inside = df["x_m"].between(reach, side - reach) & df["y_m"].between(reach, side - reach)
    d = (df.loc[inside, "first_volunteer_s"] - df.loc[inside, "alerted_s"]).to_numpy()
    area = side * side

    def cdf(r):
        return 1 - np.clip(1 - 2 * np.asarray(r) ** 2 / area, 0, 1) ** n_vol

    grid = np.linspace(0, reach, 30_001)
    expected_mean = float(np.sum(np.diff(grid) * (1 - cdf(grid[:-1]))))
    name = f"nearest of {n_vol} volunteers on 3 x 3 km ({d.size} incidents)"
    ks = stats.kstest(d, cdf)
    return [
        Check(name, "E[D] = integral of (1 - 2r^2/A)^N dr, m", expected_mean, *iid_interval(d)),
        Check(name, "KS test of D against 1 - (1 - 2r^2/A)^N", float("nan"),
              float(ks.statistic), float("nan"), float(ks.pvalue)),
    ]  # fmt: skip


ERLANG_LOADS = [(1, 0.5), (3, 0.5), (3, 0.8), (6, 0.9)]


def all_checks() -> list[Check]:
    checks = []
    for units, rho in ERLANG_LOADS:
        checks += erlang_case(units, rho)
    checks += busy_units_case() + unlimited_case() + manhattan_case() + nearest_volunteer_case()
    return checks
