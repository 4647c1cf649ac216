"""Duration distributions of a scenario (all in seconds), sampled by inverse CDF.

Every distribution maps a uniform ``u`` in (0, 1) to a value through its quantile function,
so the same code serves the incident stream (a numpy ``Generator``) and the counter-based
responder draws (:class:`sim.model.rng.CounterRng`), and a larger ``u`` always gives a longer time.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import ndtri

try:  # the kernel of scipy.stats.binom.cdf (SciPy >= 1.15), without scipy.stats' 0.3 s import
    from scipy.special._ufuncs import _binom_cdf
except ImportError:  # pragma: no cover - an older SciPy: binom.cdf itself
    from scipy.stats import binom as _binom

    def _binom_cdf(k, n, p):
        return _binom.cdf(k, n, p)


def binomial_cdf(n: int, p: float) -> np.ndarray:
    """``scipy.stats.binom.cdf(np.arange(n + 1), n, p)`` bit for bit (the same kernel; the
    last is 1.0, as binom.cdf gives at its support's end), without importing scipy.stats."""
    return np.append(_binom_cdf(np.arange(n, dtype=float), float(n), p), 1.0)


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    def quantile(self, u: np.ndarray | float) -> np.ndarray:
        raise NotImplementedError

    @property
    def mean(self) -> float:
        raise NotImplementedError


class Fixed(_Dist):
    """Always the same duration."""

    dist: Literal["fixed"]
    value: float = Field(ge=0, description="duration, s")

    def quantile(self, u):
        return np.full(np.shape(u), self.value, dtype=float)

    @property
    def mean(self) -> float:
        return self.value


class Exponential(_Dist):
    """Memoryless duration with the given mean."""

    dist: Literal["exponential"]
    mean_s: float = Field(gt=0, description="mean, s")

    def quantile(self, u):
        return -self.mean_s * np.log1p(-np.asarray(u, dtype=float))

    @property
    def mean(self) -> float:
        return self.mean_s


class Lognormal(_Dist):
    """Right-skewed duration given by its median and log-scale spread."""

    dist: Literal["lognormal"]
    median_s: float = Field(gt=0, description="median, s")
    sigma: float = Field(ge=0, le=5, description="standard deviation of log(duration)")

    def quantile(self, u):
        return self.median_s * np.exp(self.sigma * ndtri(np.asarray(u, dtype=float)))

    @property
    def mean(self) -> float:
        return self.median_s * float(np.exp(self.sigma**2 / 2))


class Uniform(_Dist):
    """Duration uniform between two bounds."""

    dist: Literal["uniform"]
    low_s: float = Field(ge=0, description="lower bound, s")
    high_s: float = Field(ge=0, description="upper bound, s")

    @model_validator(mode="after")
    def _ordered(self):
        if self.high_s < self.low_s:
            raise ValueError(f"high_s ({self.high_s}) must be >= low_s ({self.low_s})")
        return self

    def quantile(self, u):
        return self.low_s + (self.high_s - self.low_s) * np.asarray(u, dtype=float)

    @property
    def mean(self) -> float:
        return (self.low_s + self.high_s) / 2


Duration = Annotated[Fixed | Exponential | Lognormal | Uniform, Field(discriminator="dist")]
