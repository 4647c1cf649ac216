"""jiefang: agent-based simulation of tiered community emergency response on Mesa.

The public API, enough for a notebook::

    import sim
    scenario = sim.load_scenario("demo")      # a shipped scenario by name, or a YAML path
    tables = sim.run(scenario, seed=0, replications=3)   # incidents, summary, ... as tables
    model = sim.ResponseModel(scenario, seed=0)           # or drive the model yourself
    outcome = sim.sweep("scenarios/sweeps/subdistrict-staffing.yaml", "results/sweeps/x")

Names are imported on first use, so ``import sim`` stays light (the CLI's ``--help``).
"""

from __future__ import annotations

from importlib import import_module, metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim import _moved

try:
    __version__ = metadata.version("jiefang")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "ResponseModel",
    "RunTables",
    "Scenario",
    "ScenarioError",
    "__version__",
    "load_scenario",
    "run",
    "sweep",
]

_LAZY = {
    "Scenario": "sim.model.config",
    "ScenarioError": "sim.model.config",
    "load_scenario": "sim.geo.scenario",
    "ResponseModel": "sim.model.response",
    "RunTables": "sim.experiment.runner",
}

if TYPE_CHECKING:
    from sim.experiment.runner import RunTables
    from sim.geo.scenario import load_scenario
    from sim.model.config import Scenario, ScenarioError
    from sim.model.response import ResponseModel


_moved.install()  # old flat paths (sim.config, sim.runner, ...) still import, with a warning


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def run(
    scenario: Scenario | str | Path,
    seed: int = 0,
    replications: int | None = None,
    out: str | Path | None = None,
):
    """Run replications ``0..R-1`` of a scenario (a :class:`Scenario` or a YAML path) and
    return its tables (:class:`sim.experiment.runner.RunTables`: incidents, assignments, summary,
    readiness, layout). With ``out``, also write the run folder ``jiefang run`` writes there
    (replaced whole; :mod:`sim.experiment.runfolder`); without, nothing is written. A run
    written to ``out`` whose incidents table streamed to disk (``STREAM_ROWS`` rows or more,
    :mod:`sim.experiment.streams`) returns only the columns the summary reads of every
    incident (with a geographic frame, the breakdowns' and GIS layers' too:
    :func:`sim.experiment.runfolder.write_run`); incidents.parquet has them all."""
    from sim.geo.scenario import load_scenario
    from sim.model.config import Scenario

    source = None if isinstance(scenario, Scenario) else str(scenario)
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    reps = replications or scenario.replications
    if out is None:
        from sim.experiment.runner import run_replications

        return run_replications(scenario, seed, reps)
    from sim.experiment.runfolder import write_run

    return write_run(scenario, seed, reps, Path(out), source_file=source)[0]


def sweep(path: str | Path, out: str | Path, workers: int = 1, scheduler: str | None = None):
    """Run a sweep file into ``out`` (resumable; see docs/sweeps.md) and return its outcome
    (counts and the runs, points and paired tables)."""
    from sim.experiment.batch import run_sweep
    from sim.experiment.sweep import load_sweep

    return run_sweep(load_sweep(path), Path(out), workers=workers, scheduler=scheduler)
