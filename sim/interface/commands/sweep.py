"""``jiefang sweep``: a sweep file's runs, resumable, and its tables as printed."""

from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from sim.analysis.metrics import tier_order
from sim.analysis.values import shown, value_text
from sim.analysis.values import shown as short
from sim.experiment import batch  # looked up when called: tests replace it
from sim.experiment.executors import SchedulerError, reach_scheduler
from sim.experiment.store import check_made_by, safe_name
from sim.experiment.sweep import load_sweep
from sim.interface.commands.common import EXIT_FAILED_RUNS, EXIT_OK, _budget, _show_arg
from sim.model.config import ScenarioError
from sim.model.overrides import parse_sets

if TYPE_CHECKING:
    import pandas as pd


def cmd_sweep(args) -> int:
    sweep = load_sweep(args.sweep, budget=_budget(args), workers=args.workers,
                       overrides=parse_sets(args.overrides))  # fmt: skip
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
        outcome = batch.run_sweep(sweep, out, workers=args.workers, scheduler=args.scheduler,
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
        with _scheduler_errors(address):
            reach_scheduler(address)


@contextlib.contextmanager
def _scheduler_errors(address: str | None):
    try:
        yield
    except SchedulerError as err:
        raise ScenarioError(f"--scheduler {_show_arg(address or '')}: {err}") from None


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
        return value_text(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def marginal_text(marginal: pd.DataFrame, varied: list[str], limit: int = 20) -> str:
    """The marginal value per unit: one row a step between adjacent levels."""
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
