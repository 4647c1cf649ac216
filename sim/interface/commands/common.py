"""What every command shares, light enough for ``jiefang --help`` to import (the standard
library and :mod:`sim.model.budget`): exit codes, arguments as echoed in errors, the filter
of library noise and the run budget.

Exit codes: 0 success; 2 a user mistake (bad scenario, bad arguments, unwritable output),
reported in one message without a traceback; 3 a sweep finished but some runs failed (each
recorded with its error); 130 interrupted; 1 an internal error.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

from sim.model.budget import Budget, check_run

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_FAILED_RUNS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def _show_arg(text: str) -> str:
    """An argument echoed in an error: escaped and short (it may be anything)."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:61])
    return repr(text if len(text) <= 60 else text[:57] + "...")


#: Loggers of the libraries that read user files: GDAL and PROJ speak through them.
_LIBRARY_LOGGERS = ("rasterio", "pyproj", "pyogrio", "fiona", "shapely", "geopandas", "pyrosm",
                    "numexpr", "matplotlib")  # fmt: skip


@contextlib.contextmanager
def _library_noise_captured():
    """Warnings and log lines of the libraries a command calls on user data (PROJ, shapely,
    pyogrio, rasterio printed up to 26 lines before a clean one-line error) are captured,
    not printed: the command's own lines are what the user reads. Logging gets a handler
    that drops them (else Python's last-resort handler prints every WARNING)."""

    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False
    with warnings.catch_warnings(record=True):  # the filters as they are; kept in a list
        yield


def _budget(args):
    return Budget.from_env(args.budget_memory_gb, args.budget_cpu_minutes)


def _check_run_budget(scenario, replications: int, source: Path, budget) -> None:
    """All replications of a run, before the first is built (the file alone was checked)."""
    check_run(scenario, replications, str(source), budget)
