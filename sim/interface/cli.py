"""``jiefang``: the parser of the command line; the commands are sim/interface/commands/,
and what each exit code means is said in :mod:`sim.interface.commands.common`."""

from __future__ import annotations

import argparse
import math
import sys
from importlib import import_module
from pathlib import Path
from typing import Any

from sim import __version__
from sim.interface.commands.common import (  # noqa: F401  (EXIT_*: re-exported)
    EXIT_FAILED_RUNS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    _show_arg,
)
from sim.model.budget import DEFAULT_CPU_MINUTES, DEFAULT_MEMORY_GB, ENV_CPU, ENV_MEMORY

# numpy, pandas, pydantic and the model are imported by the commands that need them, so
# `jiefang --help` and argument errors answer at once: a command's module is imported when
# it runs (sim.interface.commands.dispatch).


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own errors exit 2 too, with usage
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"jiefang: error: {message}\n")


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jiefang",
        description="Agent-based simulation of tiered community emergency response "
        "(1-minute self-rescue, 3-minute mutual rescue, 5-minute police on site).",
    )
    parser.add_argument("--version", action="version", version=f"jiefang {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(sub)
    _add_sweep(sub)
    _add_plot(sub)
    _add_compare(sub)
    _add_view(sub)
    _add_optimize(sub)
    _add_scenarios(sub)
    _add_breakdown(sub)
    _add_report(sub)
    return parser


def _add_run(sub) -> None:
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


def _add_sweep(sub) -> None:
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


def _add_plot(sub) -> None:
    plot = sub.add_parser(
        "plot", help="figures (PNG and SVG) from a run's or a sweep's results folder"
    )
    plot.add_argument("results", type=_results_path,
                      help="folder written by `jiefang run` or `sweep`")  # fmt: skip
    plot.add_argument("--out", type=_out_path, default=None, help="default RESULTS/figures")


def _add_compare(sub) -> None:
    compare = sub.add_parser(
        "compare", help="two runs side by side: differences with 95 %% CIs, overlaid ECDFs"
    )
    compare.add_argument("a", type=_results_path, help="results folder of run A")
    compare.add_argument("b", type=_results_path, help="results folder of run B")
    compare.add_argument("--out", type=_out_path, default=None,
                         help="default results/compare/<A>-vs-<B>")  # fmt: skip


def _add_view(sub) -> None:
    view = sub.add_parser(
        "view", help="watch a scenario in the browser (Mesa SolaraViz on 127.0.0.1)"
    )
    view.add_argument("scenario", type=_in_path, nargs="?", default=None,
                      help="scenario YAML file or shipped name (default: demo)")  # fmt: skip
    _add_set(view)
    view.add_argument("--host", default="127.0.0.1", help="address to listen on")
    view.add_argument("--port", type=_bounded(1, 65535, "a TCP port"), default=8765,
                      help="port (default 8765)")  # fmt: skip


def _add_optimize(sub) -> None:
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


def _add_scenarios(sub) -> None:
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


def _add_breakdown(sub) -> None:
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


def _add_report(sub) -> None:
    report = sub.add_parser("report", help="one self-contained HTML report of a results folder")
    report.add_argument("results", type=_results_path,
                        help="folder written by `jiefang run` or `sweep`")  # fmt: skip
    report.add_argument("--out", type=_out_path, default=None, help="default RESULTS/report.html")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Imported on dispatch, not at the top: the parser answers before numpy, pandas and
    # pydantic load (tests/test_cli.py); the command's own module is imported after it.
    from sim.interface.commands.dispatch import execute

    return execute(args)


#: Names that were defined here before the commands got modules of their own (issue 22),
#: found on first use (PEP 562), so that importing the parser stays light.
MOVED = {
    "VIEW_STOP_S": "sim.interface.commands.view",
    "points_text": "sim.interface.commands.sweep",
    "paired_text": "sim.interface.commands.sweep",
    "marginal_text": "sim.interface.commands.sweep",
    **{f"cmd_{name}": module for name, module in (
        ("run", "sim.interface.commands.run"), ("sweep", "sim.interface.commands.sweep"),
        ("plot", "sim.interface.commands.results"), ("compare", "sim.interface.commands.results"),
        ("report", "sim.interface.commands.results"),
        ("breakdown", "sim.interface.commands.results"), ("view", "sim.interface.commands.view"),
        ("optimize", "sim.interface.commands.optimize"),
        ("scenarios", "sim.interface.commands.scenarios"),
    )},
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in MOVED:
        return getattr(import_module(MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
