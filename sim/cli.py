"""``jiefang``: thin commands over the runner, the store and the plots.

Exit codes: 0 success; 2 a user mistake (bad scenario, bad arguments, unwritable output),
reported in one message without a traceback; 3 a sweep finished but some runs failed (each
recorded with its error); 130 interrupted; 1 an internal error.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from sim import __version__
from sim.config import ScenarioError, load_scenario
from sim.metrics import TARGETS, mean_ci
from sim.store import OutputError

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
        raise argparse.ArgumentTypeError("expected a folder path, got an empty string")
    if "\x00" in text:
        raise argparse.ArgumentTypeError(f"a path cannot contain a NUL byte: {_show_arg(text)}")
    if len(text.encode("utf-8", "surrogateescape")) > 4095:
        raise argparse.ArgumentTypeError(f"path longer than 4095 bytes: {_show_arg(text)}")
    return Path(text)


def _in_path(text: str) -> Path:
    if not text:
        raise argparse.ArgumentTypeError("expected a file path, got an empty string")
    return Path(text)


def _add_budget(parser: argparse.ArgumentParser) -> None:
    from sim.budget import DEFAULT_CPU_MINUTES, DEFAULT_MEMORY_GB, ENV_CPU, ENV_MEMORY

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


def _budget(args):
    from sim.budget import Budget

    return Budget.from_env(args.budget_memory_gb, args.budget_cpu_minutes)


def _check_run_budget(scenario, replications: int, source: Path, budget) -> None:
    """All replications of a run, before the first is built (the file alone was checked)."""
    from sim.budget import check_run

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
        "response_ecdf.png into the output folder.",
    )
    run.add_argument("scenario", type=_in_path, help="scenario YAML file")
    run.add_argument("--seed", type=_non_negative_int, default=0, help="base seed (default 0)")
    run.add_argument(
        "--replications", "-r", type=_bounded(1, 100_000, "as in a scenario file"), default=None,
        help="replications (default: the scenario's `replications`)",
    )  # fmt: skip
    run.add_argument(
        "--out", type=_out_path, default=None,
        help="output folder (default results/<scenario name>/seed-<seed>)",
    )  # fmt: skip
    run.add_argument("--no-plot", action="store_true", help="skip the figure")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar or table")
    _add_budget(run)

    sweep = sub.add_parser(
        "sweep",
        help="run a sweep file (parameters x replications), resumable",
        description="Run every (point, replication) of SWEEP and write runs.parquet, "
        "points.parquet, paired.parquet, incidents/ (partitioned) and manifest.json. "
        "Runs already stored in the output folder are skipped, so an interrupted sweep "
        "resumes where it stopped.",
    )
    sweep.add_argument("sweep", type=_in_path, help="sweep YAML file")
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
    _add_budget(sweep)

    plot = sub.add_parser(
        "plot", help="figures (PNG and SVG) from a run's or a sweep's results folder"
    )
    plot.add_argument("results", type=Path, help="folder written by `jiefang run` or `sweep`")
    plot.add_argument("--out", type=_out_path, default=None, help="default RESULTS/figures")

    compare = sub.add_parser(
        "compare", help="two runs side by side: differences with 95 %% CIs, overlaid ECDFs"
    )
    compare.add_argument("a", type=Path, help="results folder of run A")
    compare.add_argument("b", type=Path, help="results folder of run B")
    compare.add_argument("--out", type=_out_path, default=None,
                         help="default results/compare/<A>-vs-<B>")  # fmt: skip

    view = sub.add_parser(
        "view", help="watch a scenario in the browser (Mesa SolaraViz on 127.0.0.1)"
    )
    view.add_argument("scenario", type=_in_path, nargs="?", default=None,
                      help="scenario YAML file (default scenarios/demo.yaml)")  # fmt: skip
    view.add_argument("--host", default="127.0.0.1", help="address to listen on")
    view.add_argument("--port", type=_bounded(1, 65535, "a TCP port"), default=8765,
                      help="port (default 8765)")  # fmt: skip

    report = sub.add_parser("report", help="one self-contained HTML report of a results folder")
    report.add_argument("results", type=Path, help="folder written by `jiefang run` or `sweep`")
    report.add_argument("--out", type=_out_path, default=None, help="default RESULTS/report.html")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "sweep":
            return cmd_sweep(args)
        if args.command == "plot":
            return cmd_plot(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "view":
            return cmd_view(args)
    except (ScenarioError, OutputError) as err:
        print(f"jiefang: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("jiefang: interrupted; files already written are complete", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stderr.close()
        return EXIT_OK
    return EXIT_INTERNAL


def cmd_run(args) -> int:
    from tqdm import tqdm

    from sim.plots import response_ecdf, save_figure
    from sim.runner import run_replications
    from sim.store import manifest, write_csv, write_json, write_parquet

    budget = _budget(args)
    scenario = load_scenario(args.scenario, budget=budget)
    reps = args.replications or scenario.replications
    _check_run_budget(scenario, reps, args.scenario, budget)
    out = args.out or Path("results") / scenario.name / f"seed-{args.seed}"
    started = time.perf_counter()
    bar = tqdm(
        total=1000, disable=True if args.quiet else None, unit="‰", leave=False,
        desc=f"{scenario.name} x{reps}", file=sys.stderr,
    )  # fmt: skip

    def progress(frac: float) -> None:
        bar.update(int(frac * 1000) - bar.n)

    tables = run_replications(scenario, args.seed, reps, progress)
    bar.close()
    elapsed = time.perf_counter() - started
    files = {
        "incidents": out / "incidents.parquet",
        "assignments": out / "assignments.parquet",
        "summary_table": out / "summary.csv",
        "summary": out / "summary.json",
    }
    write_parquet(tables.incidents, files["incidents"])
    write_parquet(tables.assignments, files["assignments"])
    if len(tables.readiness):
        files["readiness"] = out / "readiness.parquet"
        write_parquet(tables.readiness, files["readiness"])
    files["layout_cells"] = out / "layout_cells.parquet"
    files["layout_sites"] = out / "layout_sites.parquet"
    write_parquet(tables.layout_cells, files["layout_cells"])
    write_parquet(tables.layout_sites, files["layout_sites"])
    write_csv(tables.summary, files["summary_table"])
    write_json(summary_document(scenario.name, args.seed, reps, tables), files["summary"])
    if not args.no_plot:
        files["ecdf_plot"] = out / "response_ecdf.png"
        title = f"{scenario.name}: time to help ({reps} replication{'s' * (reps > 1)})"
        save_figure(response_ecdf(tables.incidents, title), files["ecdf_plot"])
    meta = manifest(scenario, args.seed, reps, files, source_file=str(args.scenario),
                    command=sys.argv, wall_time_s=round(elapsed, 3))  # fmt: skip
    write_json(meta, out / "manifest.json")
    if not args.quiet:
        print(summary_text(scenario.name, args.seed, reps, tables, elapsed, out))
    return EXIT_OK


def cmd_sweep(args) -> int:
    from tqdm import tqdm

    from sim.batch import run_sweep
    from sim.sweep import load_sweep

    sweep = load_sweep(args.sweep, budget=_budget(args), workers=args.workers)
    out = args.out or Path("results") / "sweeps" / sweep.spec.name
    total = len(sweep.points) * sweep.spec.replications
    bar = tqdm(total=total, disable=True if args.quiet else None, unit="run", leave=False,
               desc=sweep.spec.name, file=sys.stderr)  # fmt: skip
    first = True

    def progress(done: int, todo: int) -> None:
        nonlocal first
        if first:
            bar.update(total - todo)
            first = False
        bar.update(1)

    outcome = run_sweep(sweep, out, workers=args.workers, scheduler=args.scheduler,
                        progress=progress)  # fmt: skip
    bar.close()
    if not args.quiet:
        print(f"{sweep.spec.name}: {len(sweep.points)} points x {sweep.spec.replications} "
              f"replications = {outcome.total} runs; {outcome.skipped} already done, "
              f"{outcome.ran} ran, {outcome.failed} failed")  # fmt: skip
        print(points_text(outcome.points, sweep.varied))
        print(f"results in {out}/")
    return EXIT_FAILED_RUNS if outcome.failed else EXIT_OK


def _results_folder(path: Path) -> Path:
    from sim.report import kind_of

    if not path.is_dir():
        raise ScenarioError(f"{path}: no such results folder")
    kind_of(path)
    return path


def cmd_plot(args) -> int:
    from sim.report import figures_for, write_figures

    folder = _results_folder(args.results)
    out = args.out or folder / "figures"
    written = write_figures(figures_for(folder), out)
    print(f"{len(written)} files in {out}/: " + ", ".join(sorted({p.stem for p in written})))
    return EXIT_OK


def cmd_compare(args) -> int:
    from sim.compare import compare, overlay_ecdf
    from sim.plots import save_figure
    from sim.report import kind_of
    from sim.store import write_csv

    for folder in (args.a, args.b):
        if not folder.is_dir() or kind_of(folder) != "run":
            raise ScenarioError(f"{folder}: compare needs two `jiefang run` results folders")
    table, paired = compare(args.a, args.b)
    labels = (args.a.name if args.a.name != "seed-0" else args.a.parent.name,
              args.b.name if args.b.name != "seed-0" else args.b.parent.name)  # fmt: skip
    out = args.out or Path("results") / "compare" / f"{labels[0]}-vs-{labels[1]}"
    write_csv(table, out / "compare.csv")
    save_figure(overlay_ecdf(args.a, args.b, labels), out / "compare_ecdf.png")
    how = "paired by replication (same incidents)" if paired else "independent (Welch t)"
    print(f"B - A, {how}; A = {args.a}, B = {args.b}")
    print(f"  {'tier':<7} {'metric':<11} {'A':>9} {'B':>9}   B - A (95% CI)")
    for row in table.itertuples(index=False):
        scale, unit = (100, " pp") if row.metric == "compliance" else (1 / 60, " min")
        half = "" if np.isnan(row.ci95_half_width) else f" ± {row.ci95_half_width * scale:.2f}"
        diff = ("-" if not np.isfinite(row.difference)
                else f"{row.difference * scale:+.2f}{half}{unit}")  # fmt: skip
        print(f"  {row.tier:<7} {row.metric:<11} {_num(row.a * scale)} {_num(row.b * scale)}"
              f"   {diff}")  # fmt: skip
    print(f"results in {out}/")
    return EXIT_OK


def cmd_view(args) -> int:
    import importlib.util
    import os
    import subprocess

    if importlib.util.find_spec("solara") is None:
        raise ScenarioError("jiefang view needs the viz extra: pip install -e '.[viz]'")
    app = Path(__file__).with_name("app.py")
    env = dict(os.environ)
    if args.scenario is not None:
        load_scenario(args.scenario)  # a bad file is a clear error before any server starts
        env["JIEFANG_VIEW_SCENARIO"] = str(args.scenario.resolve())
    print(f"jiefang view: http://{args.host}:{args.port}/  (Ctrl-C to stop)", flush=True)
    command = [sys.executable, "-m", "solara", "run", str(app), "--host", args.host,
               "--port", str(args.port), "--production", "--no-open"]  # fmt: skip
    return subprocess.call(command, env=env)


def _num(value: float) -> str:
    return f"{'never':>9}" if np.isinf(value) else f"{value:9.2f}"


def cmd_report(args) -> int:
    from sim.report import html_report
    from sim.store import atomic_write_bytes

    folder = _results_folder(args.results)
    out = args.out or folder / "report.html"
    atomic_write_bytes(out, html_report(folder).encode("utf-8"))
    print(f"report: {out}")
    return EXIT_OK


def points_text(points: pd.DataFrame, varied: list[str], limit: int = 20) -> str:
    if points.empty:
        return "(no finished runs)"
    wide = points[points["metric"].isin(["mutual_compliance", "police_compliance",
                                         "joint_compliance"])]  # fmt: skip
    table = wide.pivot_table(index=["point_id", *varied], columns="metric", values="mean")
    text = (table * 100).round(1).to_string(max_rows=limit)
    return "compliance, % (mean over replications):\n" + text


def summary_document(name: str, seed: int, reps: int, tables) -> dict:
    """summary.json: the run's headline metrics (mean and 95 % CI over replications)."""
    inc = tables.incidents
    counted = inc[~inc["in_warmup"]]
    doc = {
        "scenario": name,
        "seed": seed,
        "replications": reps,
        "incidents_per_replication": len(counted) / reps,
        "open_at_end_share": float((counted["status"] == "open").mean()) if len(counted) else None,
        "note": "times in seconds from occurrence; compliance is the share within the tier's "
        "target; null percentile = more than that share never got the tier; null CI = one "
        "replication",
        "tiers": {},
        "by_kind": {},
    }
    if len(tables.readiness):
        shares = tables.readiness.groupby("replication")["ready"].mean().to_numpy(dtype=float)
        mean, half = mean_ci(shares)
        doc["meu_readiness"] = {"tests": len(tables.readiness), "ready_share": mean,
                                "ci95_half_width": half}  # fmt: skip
    for row in tables.summary.itertuples(index=False):
        target = doc["tiers"] if row.scope == "all" else doc["by_kind"].setdefault(row.kind, {})
        entry = target.setdefault(row.tier, {"target_s": TARGETS.get(row.tier)})
        entry[row.metric] = {
            "mean": row.mean,
            "ci95_half_width": row.ci95_half_width,
            "incidents": row.incidents,
        }
    return doc


def summary_text(name, seed, reps, tables, elapsed, out) -> str:
    s = tables.summary
    s = s[s["scope"] == "all"].set_index(["tier", "metric"])
    n = len(tables.incidents[~tables.incidents["in_warmup"]])
    lines = [
        f"{name}: seed {seed}, {reps} replication(s), {n} incidents, {elapsed:.1f} s",
        f"{'tier':<8} {'target':>6}  {'compliance (95% CI)':<22} {'P50':>7} {'P90':>7}",
    ]
    for tier in ("self", "mutual", "police", "joint"):
        if (tier, "compliance") not in s.index:
            continue
        c = s.loc[(tier, "compliance")]
        ci = "" if math.isnan(c["ci95_half_width"]) else f" ± {c['ci95_half_width']:.1%}"
        target = f"{TARGETS[tier] / 60:.0f} min" if tier in TARGETS else "all"
        p50 = _minutes(s, tier, "p50_s")
        p90 = _minutes(s, tier, "p90_s")
        lines.append(f"{tier:<8} {target:>6}  {c['mean']:>6.1%}{ci:<15} {p50:>7} {p90:>7}")
    lines.append(f"results in {out}/")
    return "\n".join(lines)


def _minutes(s: pd.DataFrame, tier: str, metric: str) -> str:
    if (tier, metric) not in s.index:
        return "-"
    v = s.loc[(tier, metric), "mean"]
    return "never" if not math.isfinite(v) else f"{v / 60:.1f}m"


if __name__ == "__main__":
    sys.exit(main())
