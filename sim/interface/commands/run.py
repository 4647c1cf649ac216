"""``jiefang run``: a scenario's replications into a run folder."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from sim.analysis.summary import summary_text
from sim.experiment.results import read_manifest
from sim.experiment.runfolder import compiled_loop_lines, write_run
from sim.experiment.store import safe_name
from sim.geo import scenario as loader  # looked up when called: tests replace it
from sim.interface.commands.common import EXIT_OK, _budget, _check_run_budget
from sim.model.config import ScenarioError
from sim.model.overrides import parse_sets
from sim.model.plugins import describe


def cmd_run(args) -> int:
    budget = _budget(args)
    overrides = parse_sets(args.overrides)
    scenario = loader.load_scenario(args.scenario, budget=budget, replay=args.incidents,
                                    overrides=overrides)  # fmt: skip
    reps = args.replications or scenario.replications
    _check_run_budget(scenario, reps, args.scenario, budget)
    out = args.out or Path("results") / safe_name(scenario.name) / f"seed-{args.seed}"
    bar = tqdm(
        total=1000, disable=True if args.quiet else None, unit="‰", leave=False,
        desc=f"{scenario.name} x{reps}", file=sys.stderr,
    )  # fmt: skip

    def progress(frac: float) -> None:
        bar.update(int(frac * 1000) - bar.n)

    try:
        tables, elapsed = write_run(scenario, args.seed, reps, out, progress=progress,
                                    plot=not args.no_plot, source_file=str(args.scenario),
                                    command=sys.argv, overrides=overrides)  # fmt: skip
    except ScenarioError as err:
        # What only building the city can find (a layout's rivers leaving no land, a cell
        # given for a station that this layout puts on water) names its key; add the file.
        raise ScenarioError(f"{args.scenario}: {err}") from None
    finally:
        bar.close()
    if args.verbose:
        _print_how_it_ran(out)
    if not args.quiet:
        print(summary_text(scenario, args.seed, reps, tables, elapsed, out))
    return EXIT_OK


def _print_how_it_ran(out: Path) -> None:
    """``run -v``: the installed plug-ins, and the compiled loop's part as the manifest says."""
    for line in describe() or ["no plug-ins installed"]:
        print(f"plug-in: {line}")
    for line in compiled_loop_lines(read_manifest(out)):
        print(f"compiled loop, {line}")
