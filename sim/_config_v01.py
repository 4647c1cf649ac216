"""``sim.config`` of version 0.1 (:mod:`sim._moved`): the scenario schema
(:mod:`sim.model.config`) and its loader (:mod:`sim.geo.scenario`) under the one old name,
so code written against it keeps working; new code imports each from its own module."""

from sim.geo.scenario import load_scenario, validate_scenario
from sim.model.config import *  # noqa: F403
from sim.model.config import __all__ as _schema

__all__ = [*_schema, "load_scenario", "validate_scenario"]
