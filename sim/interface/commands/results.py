"""Commands on results folders: ``plot``, ``breakdown``, ``compare`` and ``report``."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from sim.analysis.plots import save_figure
from sim.experiment.breakdown_folder import (
    compare_equity,
    equity_change_text,
    worst_text,
    write_breakdown_folder,
)
from sim.experiment.compare import compare, overlay_ecdf
from sim.experiment.report import (
    compare_report,
    figures_for,
    html_report,
    is_compare_folder,
    write_figures,
)
from sim.experiment.results import ResultsError, kind_of, open_results
from sim.experiment.store import (
    OutputError,
    atomic_write_bytes,
    check_replaceable,
    ensure_folder,
    safe_name,
    sha256,
    write_csv,
    write_json,
)
from sim.interface.commands.common import EXIT_OK


def _results_folder(path: Path) -> Path:
    kind_of(path)  # a clear error for anything that is not a results folder
    return path


def cmd_plot(args) -> int:
    opened = open_results(args.results)  # read and verified before anything is written
    out = args.out or args.results / "figures"
    ensure_folder(out)
    written = write_figures(figures_for(opened), out)
    print(f"{len(written)} files in {out}/: " + ", ".join(sorted({p.stem for p in written})))
    return EXIT_OK


def cmd_breakdown(args) -> int:
    out = args.out or args.results / "breakdown"
    tables = write_breakdown_folder(args.results, out, zone_cells=args.zone_cells,
                                    min_incidents=args.min_incidents,
                                    focus_land_use=args.land_use)  # fmt: skip
    print(worst_text(tables))
    print(f"results in {out}/")
    return EXIT_OK


def cmd_compare(args) -> int:
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
    if (out / "manifest.json").exists() and not is_compare_folder(out):
        raise OutputError(f"{out}: holds another kind of results (its manifest.json is not "
                          "a compare manifest); choose a new folder")  # fmt: skip
    write_csv(table, out / "compare.csv")
    save_figure(overlay_ecdf(args.a, args.b, labels), out / "compare_ecdf.png")
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


#: How compare prints each metric: compliance in %, times in minutes (the table keeps seconds).
_METRIC_LABELS = {"compliance": "compliance, %", "p50_s": "P50, min", "p90_s": "P90, min"}


def _num(value: float) -> str:
    return f"{'never':>9}" if math.isinf(value) else f"{value:9.2f}"


def cmd_report(args) -> int:
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
