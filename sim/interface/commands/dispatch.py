"""Runs the command the parser chose: its module is imported only now (``jiefang run`` loads
no planning code, ``jiefang --help`` none of this), and the mistakes a user can fix are
reported in one line with exit 2 (:mod:`sim.interface.commands.common` lists the codes)."""

from __future__ import annotations

import sys
from importlib import import_module

from sim.experiment.results import ResultsError
from sim.extras import MissingExtraError
from sim.files import OutputError
from sim.interface.commands.common import (
    EXIT_FAILED_RUNS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    _library_noise_captured,
)
from sim.model.config import ScenarioError
from sim.model.plugins import PlugInFailed

#: The module of each command (``cmd_<command>`` in it), imported on dispatch: the CLI's
#: table of per-command modules (tests/test_import_graph.py reads it as imports).
COMMANDS = {
    "run": "sim.interface.commands.run",
    "sweep": "sim.interface.commands.sweep",
    "plot": "sim.interface.commands.results",
    "compare": "sim.interface.commands.results",
    "report": "sim.interface.commands.results",
    "breakdown": "sim.interface.commands.results",
    "view": "sim.interface.commands.view",
    "optimize": "sim.interface.commands.optimize",
    "scenarios": "sim.interface.commands.scenarios",
}


def execute(args) -> int:
    """Run ``args.command`` and turn what went wrong into its exit code."""
    module = COMMANDS.get(args.command)
    if module is None:
        return EXIT_INTERNAL
    try:
        with _library_noise_captured():
            command = getattr(import_module(module), f"cmd_{args.command}")
            return command(args)
    except (ScenarioError, OutputError, ResultsError, MissingExtraError) as err:
        print(f"jiefang: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except PlugInFailed as err:  # a plug-in raised mid-run: that run failed (nothing written)
        print(f"jiefang: run failed: {err}", file=sys.stderr)
        return EXIT_FAILED_RUNS
    except KeyboardInterrupt:
        print("jiefang: interrupted; files already written are complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return EXIT_OK
