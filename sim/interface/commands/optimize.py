"""``jiefang optimize``: where the next units go, placed by MCLP and judged by simulation."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

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
from sim.extras import require
from sim.geo import scenario as loader  # looked up when called: tests replace it
from sim.interface.commands.common import EXIT_OK, _budget, _check_run_budget, _show_arg
from sim.model.catalogue import locate
from sim.model.config import ScenarioError
from sim.model.overrides import optimised_text, parse_sets
from sim.planning import report
from sim.planning.plan import PlanRequest, check_plan_budget, check_request, plan_placement
from sim.planning.recruit import write_recruitment


def cmd_optimize(args) -> int:
    budget = _budget(args)
    overrides = parse_sets(args.overrides)
    scenario = loader.load_scenario(args.scenario, budget=budget, overrides=overrides)
    source = locate(args.scenario)  # a shipped name: its file, which optimised.yaml extends
    kind, count = _one_add(args.add)
    req = PlanRequest(kind=kind, budget=count, objective=args.objective, method=args.method,
                      seed=args.seed, replications=args.replications,
                      random_arms=args.random_arms,
                      search_replications=args.search_replications,
                      search_evaluations=args.search_evaluations,
                      candidates_file=args.candidates and str(args.candidates))  # fmt: skip
    req = check_request(scenario, req)
    require("plan")
    _check_budgets(args, scenario, req, kind, count, budget)
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
        added = (kind, count)
        _write_placement(args, req, result, added, source, out, staging, overrides, elapsed)
    if not args.quiet:
        _print_placement(args, scenario, req, result, kind, out, elapsed)
    return EXIT_OK


def _check_budgets(args, scenario, req, kind: str, count: int, budget) -> None:
    """The run budget of every simulation the optimisation makes, on the grown scenario,
    and the planning budget, before anything is written."""
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
    check_plan_budget(scenario, req, str(args.scenario), budget)


def _write_placement(args, req, result, added: tuple[str, int], source: Path, out: Path,
                     staging: Path, overrides: list, elapsed: float) -> None:  # fmt: skip
    """The files of a placement, and its manifest last."""
    kind, count = added
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


def _print_placement(args, scenario, req, result, kind: str, out: Path, elapsed: float) -> None:
    problem, solution = result.problem, result.solution
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


def _one_add(adds: list[tuple[str, int]]) -> tuple[str, int]:
    """The one ``--add KIND=N`` of an optimisation: a repeated one was the last silently."""
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
    lines = write_recruitment(scenario, req, source, out, staging, started,
                              quiet=args.quiet, overrides=overrides)  # fmt: skip
    if not args.quiet:
        print(lines)
    return EXIT_OK
