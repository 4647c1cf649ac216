"""``jiefang``: thin commands over the runner, the store and the plots.

Exit codes: 0 success; 2 a user mistake (bad scenario, bad arguments, unwritable output),
reported in one message without a traceback; 3 a sweep finished but some runs failed (each
recorded with its error); 130 interrupted; 1 an internal error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from sim import __version__

if TYPE_CHECKING:
    import pandas as pd

# numpy, pandas, pydantic and the model are imported by the commands that need them, so
# `jiefang --help` and argument errors answer at once.

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_FAILED_RUNS, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors exit 2 too, with usage
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"jiefang: error: {message}\n")


def _show_arg(text: str) -> str:
    """An argument echoed in an error: escaped and short (it may be anything)."""
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:61])
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _non_negative_int(text: str, limit: int = 2**63 - 1) -> int:
    try:
        value = int(text) if len(text) <= 30 else None
    except ValueError:
        value = None
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {_show_arg(text)}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    if value > limit:
        raise argparse.ArgumentTypeError(f"expected a number <= {limit:,}, got {value:,}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _bounded(low: int, high: int, what: str):
    """A whole number in [low, high]; ``what`` says why the bound is there."""

    def parse(text: str) -> int:
        value = _non_negative_int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a number >= {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(
                f"expected a number <= {high:,} ({what}), got {value:,}"
            )
        return value

    return parse


def _positive_float(text: str) -> float:
    import math  # here, not at the top: the parser's helpers stand alone

    try:
        value = float(text) if len(text) <= 30 else math.nan
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {_show_arg(text)}")
    return value


def _out_path(text: str) -> Path:
    """An output folder: `--out ""` would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a folder path, got {_show_arg(text)}")
    if "\x00" in text:
        raise argparse.ArgumentTypeError(f"a path cannot contain a NUL byte: {_show_arg(text)}")
    if len(text.encode("utf-8", "surrogateescape")) > 4095:
        raise argparse.ArgumentTypeError(f"path longer than 4095 bytes: {_show_arg(text)}")
    return Path(text)


def _results_path(text: str) -> Path:
    """A results folder to read: a path the system can take (a 5,000-character name would
    be ENAMETOOLONG deep in the reader)."""
    path = _out_path(text)
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in path.parts):
        raise argparse.ArgumentTypeError(
            f"a folder name is longer than 255 bytes: {_show_arg(text)}"
        )
    return path


def _run_out_path(text: str) -> Path:
    """`run --out ""` is let through: the run folder refuses the current folder by name
    (sim/experiment/store.py RunFolder), which says more than a usage error."""
    return Path(text) if text == "" else _out_path(text)


def _add_spec(text: str) -> tuple[str, int]:
    """``KIND=N``: what to add and how many."""
    kind, sep, count = text.partition("=")
    if not sep or not kind:
        raise argparse.ArgumentTypeError(f"expected KIND=N (e.g. meus=20), got {_show_arg(text)}")
    return kind, _bounded(1, 1_000_000, "units to add")(count)


def _in_path(text: str) -> Path:
    if not text:
        raise argparse.ArgumentTypeError("expected a file path, got an empty string")
    return Path(text)


def _add_budget(parser: argparse.ArgumentParser) -> None:
    from sim.model.budget import DEFAULT_CPU_MINUTES, DEFAULT_MEMORY_GB, ENV_CPU, ENV_MEMORY

    parser.add_argument(
        "--budget-memory-gb", type=_positive_float, default=None, metavar="GB",
        help=f"refuse work estimated to need more memory (default {DEFAULT_MEMORY_GB:g}, "
        f"or ${ENV_MEMORY})",
    )  # fmt: skip
    parser.add_argument(
        "--budget-cpu-minutes", type=_positive_float, default=None, metavar="MIN",
        help=f"refuse work estimated to need more CPU time (default {DEFAULT_CPU_MINUTES:g}, "
        f"or ${ENV_CPU})",
    )  # fmt: skip


def _add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="change one scenario value, e.g. --set police.units=12 (repeatable; the value "
        "is read as YAML and checked like the file; recorded in the manifest)",
    )  # fmt: skip


def _overrides(args) -> list:
    """``--set`` pairs, parsed and their keys checked (one clear error, exit 2)."""
    from sim.model.overrides import parse_sets

    return parse_sets(getattr(args, "overrides", None))


def _budget(args):
    from sim.model.budget import Budget

    return Budget.from_env(args.budget_memory_gb, args.budget_cpu_minutes)


def _check_run_budget(scenario, replications: int, source: Path, budget) -> None:
    """All replications of a run, before the first is built (the file alone was checked)."""
    from sim.model.budget import check_run

    check_run(scenario, replications, str(source), budget)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jiefang",
        description="Agent-based simulation of tiered community emergency response "
        "(1-minute self-rescue, 3-minute mutual rescue, 5-minute police on site).",
    )
    parser.add_argument("--version", action="version", version=f"jiefang {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = sub.add_parser(
        "run",
        help="run a scenario file and write per-incident results, a summary and a plot",
        description="Run SCENARIO for R replications and write incidents.parquet, "
        "assignments.parquet, summary.json, summary.csv, manifest.json and "
        "response_ecdf.png into the output folder; when the city has a frame (city.crs), "
        "also layers.gpkg (cells, police stations, MEU sites, responders) and "
        "sites.geojson (stations and MEU sites in lon/lat; docs/outputs.md).",
    )
    run.add_argument("scenario", type=_in_path,
                     help="scenario YAML file, or a shipped scenario by name "
                     "(`jiefang scenarios`)")  # fmt: skip
    run.add_argument("--seed", type=_non_negative_int, default=0, help="base seed (default 0)")
    run.add_argument(
        "--replications", "-r", type=_bounded(1, 100_000, "as in a scenario file"), default=None,
        help="replications (default: the scenario's `replications`)",
    )  # fmt: skip
    run.add_argument(
        "--out", type=_run_out_path, default=None,
        help="output folder (default results/<scenario name>/seed-<seed>)",
    )  # fmt: skip
    run.add_argument(
        "--incidents", type=_in_path, default=None, metavar="FILE",
        help="CSV of historical incidents to replay (overrides incidents.replay; "
        "docs/outputs.md)",
    )  # fmt: skip
    run.add_argument("--no-plot", action="store_true", help="skip the figure")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table")
    run.add_argument("--verbose", "-v", action="store_true",
                     help="also print the installed plug-ins and, per replication, whether the "
                     "compiled loop ran it and why not (as the manifest records)")  # fmt: skip
    _add_set(run)
    _add_budget(run)

    sweep = sub.add_parser(
        "sweep",
        help="run a sweep file (parameters x replications), resumable",
        description="Run every (point, replication) of SWEEP and write runs.parquet, "
        "points.parquet, paired.parquet (differences from the baseline), marginal.parquet "
        "(value per staffing unit), incidents/ (partitioned) and manifest.json. "
        "Runs already stored in the output folder are skipped, so an interrupted sweep "
        "resumes where it stopped.",
    )
    sweep.add_argument(
        "sweep",
        type=_in_path,
        help="sweep YAML file, or a shipped sweep by name (`jiefang scenarios`)",
    )
    sweep.add_argument(
        "--workers", "-w", type=_bounded(1, 512, "worker processes"), default=1,
        help="worker processes (default 1: run in this process)",
    )  # fmt: skip
    sweep.add_argument(
        "--scheduler", default=None,
        help="Dask scheduler address (tcp://host:8786), or 'local' to start a Dask "
        "LocalCluster of --workers processes",
    )  # fmt: skip
    sweep.add_argument(
        "--out", type=_out_path, default=None, help="output folder (default results/sweeps/<name>)"
    )
    sweep.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table")
    _add_set(sweep)  # on the base scenario, before the sweep's own `set:` and grid
    _add_budget(sweep)

    plot = sub.add_parser(
        "plot", help="figures (PNG and SVG) from a run's or a sweep's results folder"
    )
    plot.add_argument("results", type=_results_path,
                      help="folder written by `jiefang run` or `sweep`")  # fmt: skip
    plot.add_argument("--out", type=_out_path, default=None, help="default RESULTS/figures")

    compare = sub.add_parser(
        "compare", help="two runs side by side: differences with 95 %% CIs, overlaid ECDFs"
    )
    compare.add_argument("a", type=_results_path, help="results folder of run A")
    compare.add_argument("b", type=_results_path, help="results folder of run B")
    compare.add_argument("--out", type=_out_path, default=None,
                         help="default results/compare/<A>-vs-<B>")  # fmt: skip

    view = sub.add_parser(
        "view", help="watch a scenario in the browser (Mesa SolaraViz on 127.0.0.1)"
    )
    view.add_argument("scenario", type=_in_path, nargs="?", default=None,
                      help="scenario YAML file or shipped name (default: demo)")  # fmt: skip
    _add_set(view)
    view.add_argument("--host", default="127.0.0.1", help="address to listen on")
    view.add_argument("--port", type=_bounded(1, 65535, "a TCP port"), default=8765,
                      help="port (default 8765)")  # fmt: skip

    opt = sub.add_parser(
        "optimize",
        help="where the next units go: MCLP placement judged by simulation",
        description="Place N new units on the layout of --seed (MCLP with PySAL spopt on "
        "HiGHS), then judge the placement by simulation against the base and random "
        "placements of the same budget, paired over replications. Writes placement.csv, "
        "placement.geojson, optimised.yaml (runnable with `jiefang run`), evaluation.csv, "
        "per_replication.csv, placement.png and manifest.json (docs/planning.md).",
    )
    opt.add_argument("scenario", type=_in_path,
                     help="scenario YAML file, or a shipped scenario by name "
                     "(`jiefang scenarios`)")  # fmt: skip
    opt.add_argument("--add", type=_add_spec, required=True, metavar="KIND=N", action="append",
                     help="what to add: meus=N, police_posts=N (a station with one unit "
                     "each) or volunteers=N (a recruitment map by cell)")  # fmt: skip
    opt.add_argument("--objective", choices=["mutual", "self", "police", "joint"],
                     default=None, help="tier whose coverage is maximised (default: mutual "
                     "for MEUs and volunteers, police for police posts; joint: self and "
                     "mutual)")  # fmt: skip
    opt.add_argument("--method", choices=["mclp", "lscp", "pmedian", "sim"], default=None,
                     help="mclp (default): cover the most; lscp: the fewest sites covering all "
                     "coverable demand; pmedian: least demand-weighted time; sim: MCLP "
                     "then swaps kept when simulation says they help (held-out "
                     "replications)")  # fmt: skip
    opt.add_argument("--search-evaluations", type=_bounded(1, 100_000, "placements"),
                     default=40, help="--method sim: placements simulated (40)")  # fmt: skip
    opt.add_argument("--search-replications", type=_bounded(1, 10_000, "replications"),
                     default=4, help="--method sim: replications a placement (4)")  # fmt: skip
    opt.add_argument("--seed", type=_non_negative_int, default=0,
                     help="base seed; its layout 0 is planned on (default 0)")  # fmt: skip
    opt.add_argument("--candidates", type=_in_path, default=None, metavar="FILE",
                     help="candidate sites: CSV (col,row or x_m,y_m) or GeoJSON points in "
                     "scenario metres (default: populated cells of the MEU site uses)")  # fmt: skip
    opt.add_argument("--replications", "-r", type=_bounded(2, 10_000, "paired intervals"),
                     default=10, help="replications per arm (default 10)")  # fmt: skip
    opt.add_argument("--random-arms", type=_bounded(0, 100, "comparison arms"), default=5,
                     help="random placements of the same budget (default 5)")  # fmt: skip
    opt.add_argument("--out", type=_run_out_path, default=None,
                     help="output folder (default results/optimize/<scenario>-<kind>-<N>)",
                     )  # fmt: skip
    opt.add_argument("--force", action="store_true",
                     help="replace the results of an earlier `jiefang optimize` in --out",
                     )  # fmt: skip
    opt.add_argument("--quiet", "-q", action="store_true", help="no progress or table")
    _add_set(opt)
    _add_budget(opt)

    scen = sub.add_parser(
        "scenarios",
        help="the scenarios shipped with jiefang: list, show one resolved, copy one to edit",
        description="With no action: every shipped scenario and sweep, one line each (its "
        "description, then what it runs, read from the file). `show NAME` prints a scenario "
        "with its extends: chain merged; `copy NAME [DEST]` writes an editable copy (its "
        "extends: names the shipped parent; data files it names are copied beside it).",
    )
    scen_sub = scen.add_subparsers(dest="action", parser_class=_Parser)
    show = scen_sub.add_parser("show", help="print a shipped scenario with extends: resolved")
    show.add_argument("name", help="shipped scenario (or sweep) name, or a scenario file")
    copy = scen_sub.add_parser("copy", help="write an editable copy of a shipped scenario")
    copy.add_argument("name", help="shipped scenario or sweep name")
    copy.add_argument("dest", type=_out_path, nargs="?", default=None,
                      help="file or folder to write (default ./NAME.yaml)")  # fmt: skip
    copy.add_argument("--force", action="store_true", help="replace files that exist")

    bd = sub.add_parser(
        "breakdown",
        help="each tier by hour, planning zone, land use and kind, from a run folder",
        description="Recompute a run folder's breakdown tables (breakdown_hour, _area, "
        "_landuse, _kind and _equity .parquet; docs/outputs.md) with other zones, minimum "
        "count or focus land use, write them into --out and print where and when each tier "
        "fails most.",
    )
    bd.add_argument("results", type=_results_path, help="folder written by `jiefang run`")
    bd.add_argument("--zone-cells", type=_bounded(1, 4000, "cells"), default=None,
                    help="side of a planning zone in cells; must divide the city "
                    "(default: the run's breakdown.zone_cells)")  # fmt: skip
    bd.add_argument("--min-incidents", type=_bounded(1, 1_000_000, "incidents"), default=None,
                    help="fewest counted incidents a zone needs for a share")  # fmt: skip
    bd.add_argument("--land-use", default=None, metavar="USE",
                    help="land use compared with the rest (default urban_village)")  # fmt: skip
    bd.add_argument("--out", type=_out_path, default=None, help="default RESULTS/breakdown")

    report = sub.add_parser("report", help="one self-contained HTML report of a results folder")
    report.add_argument("results", type=_results_path,
                        help="folder written by `jiefang run` or `sweep`")  # fmt: skip
    report.add_argument("--out", type=_out_path, default=None, help="default RESULTS/report.html")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from sim.experiment.results import ResultsError
    from sim.experiment.store import OutputError
    from sim.extras import MissingExtraError
    from sim.model.config import ScenarioError
    from sim.model.plugins import PlugInFailed

    commands = {"run": cmd_run, "sweep": cmd_sweep, "plot": cmd_plot, "compare": cmd_compare,
                "report": cmd_report, "view": cmd_view, "optimize": cmd_optimize,
                "scenarios": cmd_scenarios, "breakdown": cmd_breakdown}  # fmt: skip
    command = commands.get(args.command)
    if command is None:
        return EXIT_INTERNAL
    try:
        with _library_noise_captured():
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


def cmd_run(args) -> int:
    from tqdm import tqdm

    from sim.analysis.summary import summary_text
    from sim.experiment.runfolder import write_run
    from sim.experiment.store import safe_name
    from sim.geo.scenario import load_scenario
    from sim.model.config import ScenarioError

    budget = _budget(args)
    overrides = _overrides(args)
    scenario = load_scenario(args.scenario, budget=budget, replay=args.incidents,
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
    from sim.experiment.results import read_manifest
    from sim.experiment.runfolder import compiled_loop_lines
    from sim.model.plugins import describe

    for line in describe() or ["no plug-ins installed"]:
        print(f"plug-in: {line}")
    for line in compiled_loop_lines(read_manifest(out)):
        print(f"compiled loop, {line}")


def cmd_sweep(args) -> int:
    from tqdm import tqdm

    from sim.experiment.batch import run_sweep
    from sim.experiment.store import check_made_by, safe_name
    from sim.experiment.sweep import load_sweep

    sweep = load_sweep(args.sweep, budget=_budget(args), workers=args.workers,
                       overrides=_overrides(args))  # fmt: skip
    _check_scheduler(args.scheduler)
    out = args.out or Path("results") / "sweeps" / safe_name(sweep.spec.name)
    check_made_by(out, "sweep")  # before anything is written: a run's folder is left alone
    total = len(sweep.tasks())  # the grid's runs and the baseline arm's, if it is extra
    bar = tqdm(total=total, disable=True if args.quiet else None, unit="run", leave=False,
               desc=sweep.spec.name, file=sys.stderr)  # fmt: skip
    first = True

    def progress(done: int, todo: int) -> None:
        nonlocal first
        if first:
            bar.update(total - todo)
            first = False
        bar.update(1)

    def notice(message: str) -> None:
        bar.clear()
        print(f"jiefang: {message}", file=sys.stderr)

    with _scheduler_errors(args.scheduler):
        outcome = run_sweep(sweep, out, workers=args.workers, scheduler=args.scheduler,
                            progress=progress, notice=notice)  # fmt: skip
    bar.close()
    if not args.quiet:
        extra = " + a baseline arm" if len(sweep.arms) > len(sweep.points) else ""
        print(f"{sweep.spec.name}: {len(sweep.points)} points{extra} x "
              f"{sweep.spec.replications} replications = {outcome.total} runs; "
              f"{outcome.skipped} already done, {outcome.ran} ran, {outcome.failed} "
              "failed")  # fmt: skip
        print(points_text(outcome.points, sweep.varied))
        if sweep.baseline is not None:
            print(paired_text(outcome.paired, sweep.varied, sweep.baseline.values,
                              sweep.baseline_id))  # fmt: skip
        if not outcome.marginal.empty:
            print(marginal_text(outcome.marginal, sweep.varied))
        print(f"results in {out}/")
    return EXIT_FAILED_RUNS if outcome.failed else EXIT_OK


def _check_scheduler(address: str | None) -> None:
    """A remote Dask scheduler's address has its form and answers, before any folder is
    written (else Dask's ValueError, or its OSError after 30 s)."""
    if address not in (None, "local"):
        from sim.experiment.executors import reach_scheduler

        with _scheduler_errors(address):
            reach_scheduler(address)


@contextlib.contextmanager
def _scheduler_errors(address: str | None):
    from sim.experiment.executors import SchedulerError
    from sim.model.config import ScenarioError

    try:
        yield
    except SchedulerError as err:
        raise ScenarioError(f"--scheduler {_show_arg(address or '')}: {err}") from None


def _results_folder(path: Path) -> Path:
    from sim.experiment.results import kind_of

    kind_of(path)  # a clear error for anything that is not a results folder
    return path


def cmd_plot(args) -> int:
    from sim.experiment.report import figures_for, write_figures
    from sim.experiment.results import open_results
    from sim.experiment.store import ensure_folder

    opened = open_results(args.results)  # read and verified before anything is written
    out = args.out or args.results / "figures"
    ensure_folder(out)
    written = write_figures(figures_for(opened), out)
    print(f"{len(written)} files in {out}/: " + ", ".join(sorted({p.stem for p in written})))
    return EXIT_OK


def cmd_breakdown(args) -> int:
    from sim.experiment.breakdown_folder import worst_text, write_breakdown_folder

    out = args.out or args.results / "breakdown"
    tables = write_breakdown_folder(args.results, out, zone_cells=args.zone_cells,
                                    min_incidents=args.min_incidents,
                                    focus_land_use=args.land_use)  # fmt: skip
    print(worst_text(tables))
    print(f"results in {out}/")
    return EXIT_OK


def cmd_compare(args) -> int:
    import numpy as np

    from sim.analysis.plots import save_figure
    from sim.experiment.compare import compare, overlay_ecdf
    from sim.experiment.results import ResultsError, kind_of
    from sim.experiment.store import ensure_folder, safe_name, write_csv

    for folder in (args.a, args.b):
        if kind_of(folder) != "run":
            raise ResultsError(f"{folder}: compare needs two `jiefang run` results folders")
    table, paired = compare(args.a, args.b)
    full = [Path(os.path.abspath(f)) for f in (args.a, args.b)]
    a, b = (f.name if f.name != "seed-0" else f.parent.name for f in full)
    labels = (a, b)
    # Folder names make the default output folder: slugs, so it stays under results/compare.
    out = args.out or Path("results") / "compare" / "-vs-".join(safe_name(x) for x in labels)
    ensure_folder(out)
    from sim.experiment.report import is_compare_folder
    from sim.experiment.store import OutputError

    if (out / "manifest.json").exists() and not is_compare_folder(out):
        raise OutputError(f"{out}: holds another kind of results (its manifest.json is not "
                          "a compare manifest); choose a new folder")  # fmt: skip
    write_csv(table, out / "compare.csv")
    save_figure(overlay_ecdf(args.a, args.b, labels), out / "compare_ecdf.png")
    from sim.experiment.breakdown_folder import compare_equity, equity_change_text
    from sim.experiment.store import sha256, write_json

    equity = compare_equity(args.a, args.b) if paired else None
    written = [("compare", "csv"), ("compare_ecdf", "png")]
    if equity is not None:
        write_csv(equity, out / "compare_equity.csv")
        written.append(("compare_equity", "csv"))
    write_json({"compare": {"a": str(args.a), "b": str(args.b), "labels": list(labels),
                            "paired": bool(paired)},
                "files": {n: {"path": f"{n}.{ext}", "sha256": sha256(out / f"{n}.{ext}")}
                          for n, ext in written}},
               out / "manifest.json")  # fmt: skip
    how = "paired by replication (same incidents)" if paired else "independent (Welch t)"
    print(f"B - A, {how}; A = {args.a}, B = {args.b}")
    w = max(7, *(len(str(t)) for t in table.get("tier", [])))
    print(f"  {'tier':<{w}} {'metric':<14} {'A':>9} {'B':>9}   B - A (95% CI)")
    for row in table.itertuples(index=False):
        scale, unit = (100, " pp") if row.metric == "compliance" else (1 / 60, " min")
        shown = _METRIC_LABELS.get(row.metric, row.metric)
        half = "" if np.isnan(row.ci95_half_width) else f" ± {row.ci95_half_width * scale:.2f}"
        diff = ("-" if not np.isfinite(row.difference)
                else f"{row.difference * scale:+.2f}{half}{unit}")  # fmt: skip
        print(f"  {row.tier:<{w}} {shown:<14} {_num(row.a * scale)} {_num(row.b * scale)}"
              f"   {diff}")  # fmt: skip
    if table.attrs.get("not_compared"):
        print(table.attrs["not_compared"])
    if equity is not None and len(equity):
        print("the worst places (A's worst zones held fixed), compliance, paired by replication:")
        print(equity_change_text(equity))
    print(f"results in {out}/")
    return EXIT_OK


#: Seconds `jiefang view` gives the server to stop after Ctrl-C before killing it.
VIEW_STOP_S = 5.0


def cmd_view(args) -> int:
    import signal
    import subprocess

    from sim.extras import require
    from sim.geo.scenario import load_scenario

    require("viz")
    from sim.model.catalogue import locate

    app = Path(__file__).with_name("app.py")
    env = dict(os.environ)
    scenario = args.scenario or Path("demo")
    overrides = _overrides(args)
    # A bad file or --set is a clear error before any server starts.
    load_scenario(scenario, overrides=overrides)
    env["JIEFANG_VIEW_SCENARIO"] = str(locate(scenario).resolve())
    env["JIEFANG_VIEW_SET"] = json.dumps(overrides)
    _check_listen(args.host, args.port)
    print(f"jiefang view: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    command = [sys.executable, "-m", "solara", "run", str(app), "--host", args.host,
               "--port", str(args.port), "--production", "--no-open",
               # no upgrade prompt: solara-assets (the offline front end) holds Solara at 1.58
               "--no-check-version"]  # fmt: skip
    from sim.experiment.executors import signal_at_parent_death

    # The server is a child process: it must stop when `jiefang view` is told to stop
    # (SIGTERM, SIGHUP) or is killed, or it goes on answering with nobody to stop it.
    server = subprocess.Popen(
        command, env=env, preexec_fn=lambda: signal_at_parent_death(signal.SIGTERM)
    )

    def stop(signum, frame) -> None:
        server.terminate()
        raise KeyboardInterrupt  # then as Ctrl-C

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    try:
        code = server.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches the server too (same process group)
        # Ctrl-C is how a server is meant to stop. Solara's shutdown waits on its open pages
        # (for good while a page plays); the view holds nothing but models in memory, so a
        # server still shutting down after a few seconds is killed.
        try:
            server.wait(timeout=VIEW_STOP_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        print("jiefang view: stopped", file=sys.stderr)
        return EXIT_OK
    return EXIT_OK if code in (0, -signal.SIGTERM) else code


def cmd_scenarios(args) -> int:
    """``jiefang scenarios [show NAME | copy NAME [DEST]]``."""
    if args.action == "show":
        print(_scenario_text(args.name), end="")
        return EXIT_OK
    if args.action == "copy":
        return _copy_scenario(args.name, args.dest, args.force)
    from sim.model.catalogue import description, facts, shipped
    from sim.model.config import Scenario, resolve_extends

    print("Shipped scenarios: jiefang run NAME (or view, optimize); "
          "jiefang scenarios show NAME; jiefang scenarios copy NAME [DEST]")  # fmt: skip
    names = shipped("scenario")
    width = max(map(len, names))
    for name, path in names.items():
        # What it runs is read from the merged file (schema only: no data file is opened).
        what = facts(Scenario.model_validate(resolve_extends(path)))
        print(f"  {name:<{width}}  {_first_sentence(description(path))} [{what}]")
    print("Shipped sweeps: jiefang sweep NAME")
    for name, path in shipped("sweep").items():
        print(f"  {name:<{width}}  {_first_sentence(description(path))}")
    return EXIT_OK


def _first_sentence(text: str, limit: int = 110) -> str:
    head = text.split(". ")[0].rstrip(".")
    return head if len(head) <= limit else head[: limit - 3] + "..."


def _scenario_text(name: str) -> str:
    """A shipped scenario (or a scenario file) with its extends: chain merged, as YAML; a
    sweep as its file."""
    import yaml  # `jiefang --help` imports nothing heavy (tests/test_cli.py)

    from sim.model.catalogue import find, is_name, locate, shipped
    from sim.model.config import resolve_extends

    if is_name(name) and name in shipped("sweep") and name not in shipped("scenario"):
        return find(name, "sweep").read_text(encoding="utf-8")
    path = locate(name)
    merged = resolve_extends(path)
    head = (f"# {name}: its extends: chain merged (file paths made absolute); "
            f"jiefang scenarios copy {name} writes an editable copy\n")  # fmt: skip
    return head + yaml.safe_dump(merged, sort_keys=False, allow_unicode=True, width=100)


def _copy_scenario(name: str, dest: Path | None, force: bool) -> int:
    from sim.experiment.store import OutputError, atomic_write_bytes, check_replaceable
    from sim.model.catalogue import Kind, copy_plan, shipped

    kind: Kind = (
        "sweep" if name in shipped("sweep") and name not in shipped("scenario") else "scenario"
    )
    plan = copy_plan(name, dest, kind)
    for target in plan:  # every target checked before the first is written
        check_replaceable(target)
        if target.exists() and not force:
            raise OutputError(f"{target}: exists; give another DEST or --force to replace it")
    for target, data in plan.items():
        atomic_write_bytes(target, data)
    first, *data_files = plan
    extra = f" and {len(data_files)} data file(s) beside it" if data_files else ""
    how = "sweep" if kind == "sweep" else "run"
    print(f"wrote {first}{extra}; edit it, then: jiefang {how} {first}")
    return EXIT_OK


#: Hosts that listen on every interface: only these spellings, asked for by name.
_EVERY_INTERFACE = ("0.0.0.0", "::", "[::]")


def _check_listen(host: str, port: int) -> None:
    """The view listens where it was asked to, and only there: an empty or ``*`` host (every
    interface, by accident) is refused, ``0.0.0.0`` or ``::`` is a warning, and the port
    must be free before the URL is printed (else uvicorn's error came after it, exit 3)."""

    from sim.experiment.store import OutputError

    if host.strip() in ("", "*"):
        raise OutputError(
            f"--host {_show_arg(host)}: would listen on every interface; give --host 0.0.0.0 "
            "if the page is meant to be reachable from other machines"
        )
    if host in _EVERY_INTERFACE:
        print(f"jiefang view: warning: listening on every interface ({host}): anyone who can "
              "reach this machine can open the page and run simulations",
              file=sys.stderr)  # fmt: skip
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As uvicorn binds: a port left in TIME_WAIT is free, one listened on is not.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except (OSError, UnicodeError) as err:
        reason = getattr(err, "strerror", None) or type(err).__name__
        raise OutputError(f"--host {_show_arg(host)} --port {port}: cannot listen there "
                          f"({reason})") from None  # fmt: skip


#: How compare prints each metric: compliance in %, times in minutes (the table keeps seconds).
_METRIC_LABELS = {"compliance": "compliance, %", "p50_s": "P50, min", "p90_s": "P90, min"}


def _num(value: float) -> str:
    return f"{'never':>9}" if math.isinf(value) else f"{value:9.2f}"


def cmd_report(args) -> int:
    from sim.experiment.report import compare_report, html_report, is_compare_folder
    from sim.experiment.store import atomic_write_bytes, check_replaceable

    if is_compare_folder(args.results):  # a `jiefang compare` folder: its table and figure
        out = args.out or args.results / "report.html"
        check_replaceable(out)
        atomic_write_bytes(out, compare_report(args.results).encode("utf-8"))
        print(f"report: {out}")
        return EXIT_OK
    folder = _results_folder(args.results)
    out = args.out or folder / "report.html"
    check_replaceable(out)  # before the work of drawing: a device or link is never replaced
    atomic_write_bytes(out, html_report(folder).encode("utf-8"))
    print(f"report: {out}")
    return EXIT_OK


def cmd_optimize(args) -> int:
    from datetime import UTC, datetime

    from tqdm import tqdm

    from sim.analysis.plots import save_figure
    from sim.experiment.store import (
        RunFolder,
        atomic_write_bytes,
        environment,
        safe_name,
        sha256,
        write_csv,
        write_json,
    )
    from sim.geo.scenario import load_scenario
    from sim.model.catalogue import locate
    from sim.planning.plan import PlanRequest, check_request, plan_placement

    budget = _budget(args)
    overrides = _overrides(args)
    scenario = load_scenario(args.scenario, budget=budget, overrides=overrides)
    source = locate(args.scenario)  # a shipped name: its file, which optimised.yaml extends
    kind, count = _one_add(args.add)
    req = PlanRequest(kind=kind, budget=count, objective=args.objective, method=args.method,
                      seed=args.seed, replications=args.replications,
                      random_arms=args.random_arms,
                      search_replications=args.search_replications,
                      search_evaluations=args.search_evaluations,
                      candidates_file=args.candidates and str(args.candidates))  # fmt: skip
    req = check_request(scenario, req)
    from sim.extras import require

    require("plan")
    if kind == "meus":
        # Only the run budget reads it: where the new units stand does not change the cost,
        # and a scenario that pins its sites (site_cells, a sites file) has none for them yet.
        grown = scenario.with_changes(
            {"meus.count": scenario.meus.count + count, "meus.site_cells": None}
        )
    elif kind == "police_posts":
        grown = scenario.with_changes({"police.units": scenario.police.units + count})
    else:
        grown = scenario.with_changes({"volunteers.count": scenario.volunteers.count + count})
    # Volunteers have one arm more: N recruited as today (by residents).
    runs = args.replications * (2 + args.random_arms + (kind == "volunteers"))
    if req.method == "sim":
        runs += args.search_evaluations * args.search_replications
    _check_run_budget(grown, runs, args.scenario, budget)
    from sim.planning.plan import check_plan_budget

    check_plan_budget(scenario, req, str(args.scenario), budget)
    name = f"{safe_name(scenario.name)}-{safe_name(kind)}-{count}"
    out = args.out or Path("results") / "optimize" / name
    with RunFolder(out, made_by="optimize", replace=args.force) as staging:
        started = time.perf_counter()
        if kind == "volunteers":
            return _recruit(args, scenario, req, out, staging, started, source, overrides)
        total = args.replications * (2 + args.random_arms)
        if req.method == "sim":
            total += args.search_evaluations * args.search_replications
        bar = tqdm(total=total, disable=True if args.quiet else None, unit="run", leave=False,
                   desc=f"{scenario.name} +{count} {kind}", file=sys.stderr)  # fmt: skip

        def say(line: str) -> None:
            if not args.quiet:
                bar.write(f"jiefang optimize: {line}", file=sys.stderr)

        result = plan_placement(scenario, req, say=say, tick=lambda: bar.update(1))
        bar.close()
        elapsed = time.perf_counter() - started
        from sim.planning import report

        table = report.placement_table(result)
        files = {
            "placement": staging / "placement.csv",
            "placement_geojson": staging / "placement.geojson",
            "optimised": staging / "optimised.yaml",
            "evaluation": staging / "evaluation.csv",
            "per_replication": staging / "per_replication.csv",
            "figure": staging / "placement.png",
        }
        write_csv(table, files["placement"])
        write_json(report.placement_geojson(result, table), files["placement_geojson"])
        from sim.model.overrides import optimised_text

        text = optimised_text(report.optimised_yaml(result, source, out), overrides, source)
        atomic_write_bytes(files["optimised"], text.encode("utf-8"))
        write_csv(result.evaluation, files["evaluation"])
        write_csv(result.per_replication, files["per_replication"])
        save_figure(report.figure(result), files["figure"])
        problem, solution = result.problem, result.solution
        meta = {
            "optimize": {
                "source_file": str(args.scenario), "kind": kind, "added": count,
                "overrides": dict(overrides),
                "objective": req.objective, "method": req.method, "seed": args.seed,
                "replications": args.replications, "random_arms": args.random_arms,
                "placed": int(result.added.size),
                "objective_tiers": list(problem.tiers),
                "candidate_cells": int(result.candidates.size),
                "demand_per_day": problem.total_per_day,
                "covered_by_base_per_day": problem.base_per_day,
                "covered_by_new_per_day": solution.covered_per_day,
                "solver_objective": solution.objective, "solver_status": solution.status,
                "statement": solution.statement, "lscp_needed": solution.needed,
                "pmedian_weighted_cost": solution.weighted_cost,
                "rows": int(problem.weights.size), "columns": int(problem.columns.size),
                "pairs": int(problem.matrix.nnz),
                "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
                "search": None if result.search is None else result.search.__dict__,
                "wall_time_s": round(elapsed, 3),
                "scenario": result.optimised.model_dump(mode="json"),
            },
            "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "environment": environment(),
            "command": sys.argv,
            "files": {k: {"path": p.name, "sha256": sha256(p)} for k, p in files.items()},
        }  # fmt: skip
        write_json(meta, staging / "manifest.json")
    if not args.quiet:
        share = solution.covered_per_day / max(problem.total_per_day, 1e-300)
        method = "mclp" if req.method == "sim" else str(req.method)
        how = f"{method.upper()} {solution.status.lower()}"
        if result.search is not None:
            how += f", then {result.search.accepted} swaps by simulation"
        print(f"{scenario.name}: +{result.added.size} {kind} (objective {req.objective}, "
              f"{how}): the sites cover {share:.1%} more of the {req.objective} demand; "
              f"{elapsed:.1f} s")  # fmt: skip
        print(f"compliance by arm, {args.replications} replications on layout 0 of seed "
              f"{args.seed}; in brackets: minus base, pp, paired 95 % CI")  # fmt: skip
        print(report.summary_text(result))
        print(f"results in {out}/; run the plan: jiefang run {out}/optimised.yaml "
              f"--seed {args.seed}")  # fmt: skip
    return EXIT_OK


def _one_add(adds: list[tuple[str, int]]) -> tuple[str, int]:
    """The one ``--add KIND=N`` of an optimisation: a repeated one was the last silently."""
    from sim.model.config import ScenarioError

    kinds = [kind for kind, _ in adds]
    if len(adds) > 1:
        same = len(set(kinds)) == 1
        raise ScenarioError(
            f"--add: {_show_arg(kinds[0])} given {len(adds)} times; give it once"
            if same else f"--add: one kind at a time, got {len(set(kinds))} "
            f"({', '.join(_show_arg(k) for k in dict.fromkeys(kinds))})"
        )  # fmt: skip
    return adds[0]


def _recruit(args, scenario, req, out: Path, staging: Path, started: float, source: Path,
             overrides: list) -> int:  # fmt: skip
    """``jiefang optimize --add volunteers=N``: the recruitment map (sim.planning.recruit)."""
    from sim.planning.recruit import write_recruitment

    lines = write_recruitment(scenario, req, source, out, staging, started,
                              quiet=args.quiet, overrides=overrides)  # fmt: skip
    if not args.quiet:
        print(lines)
    return EXIT_OK


def points_text(points: pd.DataFrame, varied: list[str], limit: int = 20) -> str:
    if points.empty:
        return "(no finished runs)"
    wide = _short_labels(points[points["metric"].str.endswith("_compliance")], varied)
    table = wide.pivot_table(index=["point_id", *varied], columns="metric", values="mean")
    text = (table * 100).round(1).to_string(max_rows=limit)
    return "compliance, % (mean over replications):\n" + text


def _short_labels(table: pd.DataFrame, varied: list[str]) -> pd.DataFrame:
    """The table with each list value's label (its canonical JSON, 24 numbers of an hourly
    profile) shortened for printing, ``[0.05 x8, 0.3 x8, 0.1 x8]``; other values as they are."""
    from sim.analysis.values import shown

    labelled = [k for k in varied
                if k in table.columns and table[k].dtype.kind not in "biufc"]  # fmt: skip
    return table.assign(**{k: table[k].map(shown) for k in labelled}) if labelled else table


def _pp(mean: float, low: float, high: float, n: int | None = None) -> str:
    """A difference in percentage points with its interval: ``+2.1 (+1.2..+3.0)``; with
    fewer than two pairs ``+2.1 (n=1, no interval)``: never a bare number under a CI."""
    if not math.isfinite(mean):
        return "-"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:+.2f} (n={n if n is not None else '?'}, no interval)"
    return f"{mean:+.2f} ({low:+.2f}..{high:+.2f})"


def paired_text(paired: pd.DataFrame, varied: list[str], baseline: dict, baseline_id: int,
                limit: int = 20) -> str:  # fmt: skip
    """Each point's compliance minus the baseline's, pp, paired 95 % CI, one column a tier."""
    from sim.analysis.metrics import tier_order
    from sim.analysis.values import shown as short

    shown = ", ".join(f"{k}={short(v)}" for k, v in baseline.items())
    where = "an extra arm" if baseline_id < 0 else f"point {baseline_id}"
    head = (f"compliance minus the baseline ({shown}; {where}), percentage points, paired "
            "95 % CI (clipped to -100..+100) over the replications where both counted "
            "incidents (n=1: no interval):")  # fmt: skip
    if paired.empty:
        return head + "\n(no finished runs of the baseline)"
    rows = _short_labels(paired[paired["measure"] == "compliance"], varied)
    text = rows.assign(cell=[_pp(r.diff * 100, r.ci_low * 100, r.ci_high * 100, r.n)
                             for r in rows.itertuples()])  # fmt: skip
    wide = text.pivot_table(index=["point_id", *varied], columns="tier", values="cell",
                            aggfunc="first", sort=False)  # fmt: skip
    wide = wide[tier_order(wide.columns)]
    wide.columns.name = None
    return head + "\n" + wide.to_string(max_rows=limit)


def _value_text(value) -> str:
    """A varied value as printed: empty for none, whole numbers without ``.0`` (a column
    with empty cells turns into floats), others to 4 significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if not isinstance(value, int | float):  # a list, or its label: shortened
        from sim.analysis.values import value_text

        return value_text(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def marginal_text(marginal: pd.DataFrame, varied: list[str], limit: int = 20) -> str:
    """The marginal value per unit: one row a step between adjacent levels."""
    from sim.analysis.metrics import tier_order

    others = [k for k in varied if k in marginal.columns]
    text = marginal.assign(cell=[_pp(r.gain_pp_per_unit, r.ci_low_pp, r.ci_high_pp, r.n)
                                 for r in marginal.itertuples()])  # fmt: skip
    text = text.assign(
        step=[
            f"{_value_text(a)}->{_value_text(b)}"
            for a, b in zip(text["from_value"], text["to_value"], strict=True)
        ]
    )
    for k in others:  # a key's own column is empty on its rows; pivot would drop them
        text[k] = [_value_text(v) for v in text[k]]
    wide = text.pivot_table(index=["key", "unit", "step", *others], columns="tier",
                            values="cell", aggfunc="first", sort=False)  # fmt: skip
    wide = wide[tier_order(wide.columns)]
    wide.columns.name = None
    return (
        "marginal value per unit: compliance gain from one level to the next (other keys "
        "fixed), pp per unit, paired 95 % CI (n=1: no interval):\n" + wide.to_string(max_rows=limit)
    )


if __name__ == "__main__":
    sys.exit(main())
