"""``jiefang scenarios``: the shipped scenarios listed, shown resolved, copied to edit."""

from __future__ import annotations

from pathlib import Path

import yaml

from sim.experiment.store import OutputError, atomic_write_bytes, check_replaceable
from sim.interface.commands.common import EXIT_OK
from sim.model.catalogue import Kind, copy_plan, description, facts, find, is_name, locate, shipped
from sim.model.config import Scenario, resolve_extends


def cmd_scenarios(args) -> int:
    """``jiefang scenarios [show NAME | copy NAME [DEST]]``."""
    if args.action == "show":
        print(_scenario_text(args.name), end="")
        return EXIT_OK
    if args.action == "copy":
        return _copy_scenario(args.name, args.dest, args.force)
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
    if is_name(name) and name in shipped("sweep") and name not in shipped("scenario"):
        return find(name, "sweep").read_text(encoding="utf-8")
    path = locate(name)
    merged = resolve_extends(path)
    head = (f"# {name}: its extends: chain merged (file paths made absolute); "
            f"jiefang scenarios copy {name} writes an editable copy\n")  # fmt: skip
    return head + yaml.safe_dump(merged, sort_keys=False, allow_unicode=True, width=100)


def _copy_scenario(name: str, dest: Path | None, force: bool) -> int:
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
