"""Old flat module paths (``sim.config``, ``sim.runner``, ...) as aliases of their new homes.

Version 0.1 kept every module directly in ``sim/``, and issue 22 moved a few more between
layers (``sim.analysis.report``, ...); code and notebooks written against them keep working,
with a DeprecationWarning naming the new path. The alias *is* the new module
(same object in ``sys.modules``), so classes, pickles and monkeypatches agree.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

MOVED = {
    "sim.config": "sim._config_v01",  # the schema and its loader, now two modules
    "sim.vocab": "sim.model.vocab",
    "sim.rng": "sim.model.rng",
    "sim.distributions": "sim.model.distributions",
    "sim.city": "sim.model.city",
    "sim.incidents": "sim.model.incidents",
    "sim.responders": "sim.model.responders",
    "sim.responders.police": "sim.model.responders.police",
    "sim.responders.meus": "sim.model.responders.meus",
    "sim.responders.volunteers": "sim.model.responders.volunteers",
    "sim.dispatch": "sim.model.dispatch",
    "sim.policies": "sim.model.policies",
    "sim.ledger": "sim.model.ledger",
    "sim.fleets": "sim.model.fleets",
    "sim.records": "sim.model.records",
    "sim.budget": "sim.model.budget",
    "sim.runner": "sim.experiment.runner",
    "sim.results": "sim.experiment.results",
    "sim.sweep": "sim.experiment.sweep",
    "sim.batch": "sim.experiment.batch",
    "sim.executors": "sim.experiment.executors",
    "sim.store": "sim.experiment.store",
    "sim.metrics": "sim.analysis.metrics",
    "sim.stats": "sim.analysis.stats",
    "sim.compare": "sim.experiment.compare",
    "sim.plots": "sim.analysis.plots",
    "sim.report": "sim.experiment.report",
    "sim.summary": "sim.analysis.summary",
    "sim.cli": "sim.interface.cli",
    "sim.app": "sim.interface.app",
    # Issue 22, analysis below experiment: what reads run folders went up, table helpers down.
    "sim.analysis.report": "sim.experiment.report",
    "sim.analysis.compare": "sim.experiment.compare",
    "sim.experiment.values": "sim.analysis.values",
    "sim.geo.layers": "sim.analysis.layers",
}

#: Where a module that split went, as the warning says it.
SAYS = {"sim.config": "sim.model.config (load_scenario: sim.geo.scenario)"}


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.new)
        self.spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias spec on the real module; give its own back.
        module.__spec__ = self.spec


class MovedModules(importlib.abc.MetaPathFinder):
    """Finds ``sim.<old>`` names and hands back the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None:
            return None
        warnings.warn(
            f"{fullname} moved to {SAYS.get(fullname, new)} (jiefang 0.2); import it from there",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        # First, so that no stale copy of an old module on the path shadows the alias.
        sys.meta_path.insert(0, MovedModules())
