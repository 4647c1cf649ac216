"""Loading a scenario: files merged, validated, checked, replay attached."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.model.config.errors import ScenarioError, _show_path, check_path_text
from sim.model.config.extends import resolve_origins
from sim.model.config.feasibility import check_feasible
from sim.model.config.messages import Origins, format_validation_error
from sim.model.config.raw import set_path
from sim.model.config.scenario import Scenario, _attach_replay
from sim.model.crs import crs_problem


def validate_scenario(
    raw: dict[str, Any], source: str, origins: Origins | None = None, own: str | None = None
) -> Scenario:
    """A validated scenario, or one :class:`ScenarioError` naming ``source`` and key paths."""
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as err:
        default = None if own is None or own == source else "another file"
        raise ScenarioError(
            format_validation_error(source, err, origins, default, own, Scenario)
        ) from None
    if scenario.city.crs is not None:
        problem = crs_problem(scenario.city.crs)
        if problem is not None:
            raise ScenarioError(f"{source}: city.crs: {problem}")
    if uses_geo_files(scenario):
        from sim.geo.inputs import resolve_files

        scenario = resolve_files(scenario, source)
    check_feasible(scenario, source, origins, own)
    mine = source if own is None else own
    _attach_replay(scenario, source, (origins or {}).get(("incidents", "replay"), mine) == mine)
    return scenario


def uses_geo_files(scenario: Scenario) -> bool:
    """The scenario names a GIS file (read by :mod:`sim.geo.inputs`, geo extra)."""
    c = scenario.city
    return any(
        v is not None
        for v in (c.population_raster, c.sites_file, scenario.police.stations_file,
                  scenario.meus.sites_file, scenario.travel.road_network)
    )  # fmt: skip


def load_scenario(
    path: str | Path, *, budget: Any = None, own: bool = True, replay: str | Path | None = None,
    overrides: Sequence[tuple[str, Any]] = (),
) -> Scenario:  # fmt: skip
    """Load, merge ``extends`` chains, and validate a scenario file or a shipped scenario by
    name (``"demo"``; :mod:`sim.model.catalogue`; a file of that name wins).

    ``budget``: a :class:`sim.model.budget.Budget` for the estimate of one replication (default:
    the stated default, raised by the environment variables in :mod:`sim.model.budget`).
    ``own=False``: the file was named by another file (a sweep's base), so none of its text
    is echoed in errors. ``replay``: a CSV of incidents to replay instead of the file's
    ``incidents.replay`` (``jiefang run --incidents``; relative to the working folder).
    ``overrides``: (dotted key, value) pairs set after the ``extends`` chain is merged and
    checked with the file (``--set``; :mod:`sim.model.overrides`); errors name ``--set KEY``.
    """
    from sim.model import budget as budgets
    from sim.model.catalogue import is_name, locate

    if isinstance(path, str):
        check_path_text(path, _show_path(path))
    source = _show_path(path)
    if is_name(path):
        path = locate(path, echo=own)
    path = Path(path)
    raw, origins = resolve_origins(path, source, own=own)
    if own:
        top = str(path.resolve()) if path.exists() else str(path)
        origins = {k: (source if v == top else v) for k, v in origins.items()}
    if replay is not None:
        check_path_text(str(replay), "--incidents")
        set_path(raw, "incidents.replay", str(Path(replay).resolve()))
        origins[("incidents", "replay")] = source
    if overrides:
        from sim.model.overrides import apply_overrides

        apply_overrides(raw, origins, overrides)
    # Not own: no key path is the user's own text ("" is never a file's label).
    scenario = validate_scenario(raw, source, origins, source if own else "")
    budgets.check_scenario(scenario, source, budget or budgets.Budget.from_env())
    return scenario
