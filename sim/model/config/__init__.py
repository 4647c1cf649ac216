"""Typed scenario files: YAML loading with ``extends``, validation, and clear errors.

A scenario is validated completely at load (:mod:`sim.geo.scenario`), before anything runs.
Every user mistake becomes one :class:`ScenarioError` whose message names the file, the key
path and what was expected; the CLI prints it and exits with code 2.

The package by concern (each module imports only those above it in this list):

- :mod:`~sim.model.config.errors`: :class:`ScenarioError` and how file text is quoted;
- :mod:`~sim.model.config.reading`: bounded regular files and safe YAML;
- :mod:`~sim.model.config.sections`: the sections (city, police, ..., breakdown);
- :mod:`~sim.model.config.tiers`: the tiers of the standard;
- :mod:`~sim.model.config.raw`: raw mappings (merging, dotted keys, the path keys);
- :mod:`~sim.model.config.messages`: validation errors as messages;
- :mod:`~sim.model.config.feasibility`: what validates yet cannot run;
- :mod:`~sim.model.config.scenario`: the :class:`Scenario`;
- :mod:`~sim.model.config.shipped`: the shipped scenarios' files by name;
- :mod:`~sim.model.config.files`: what the model is handed from the files a scenario names;
- :mod:`~sim.model.config.extends`: ``extends`` chains and the file of each key.

The schema validates values and reads no file but the YAML: loading a scenario, with the
map, GIS and replay files it names, is :func:`sim.geo.scenario.load_scenario`. The names
below are importable from ``sim.model.config``, each loaded on first use (so that importing
one light module, such as :mod:`~sim.model.config.errors`, does not load pydantic and the
whole schema); modules of the model import the module that defines a name.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.model.config.errors import (
        MAX_NAME_BYTES,
        MAX_PATH_BYTES,
        MAX_PROBLEMS,
        ScenarioError,
        _escape,
        _kind,
        _short,
        _show,
        _show_path,
        check_path_text,
    )
    from sim.model.config.extends import resolve_extends, resolve_origins
    from sim.model.config.feasibility import MAX_NAME_CHARS, check_feasible
    from sim.model.config.messages import SET_ORIGIN, Origins, format_validation_error
    from sim.model.config.raw import PATH_KEYS, deep_merge, set_path
    from sim.model.config.reading import (
        MAX_MAP_BYTES,
        MAX_MAP_CELLS,
        MAX_YAML_BYTES,
        MAX_YAML_VALUES,
        _parse_yaml,
        read_regular_file,
        read_yaml_mapping,
    )
    from sim.model.config.scenario import Scenario
    from sim.model.config.sections import (
        BreakdownConfig,
        Centre,
        CityConfig,
        Hour,
        IncidentKind,
        IncidentsConfig,
        LandUseName,
        MeuConfig,
        NonNeg,
        OnDutyShare,
        PoliceConfig,
        River,
        Share,
        Strict,
        TravelConfig,
        VolunteerConfig,
        by_hour,
        on_duty_counts,
    )
    from sim.model.config.tiers import (
        ON_SITE_RESPONDERS,
        RECORDED,
        TIER_TABLES,
        Clock,
        Responder,
        TierConfig,
        TierScope,
        default_tiers,
        kind_calls_for,
        tier_table,
    )
    from sim.model.distributions import Exponential, Fixed, Lognormal

#: Each name and the module defining it.
# fmt: off
_LAZY = {
    name: module
    for module, names in {
        "sim.model.config.errors": (
            "_escape", "_kind", "_short", "_show", "_show_path", "check_path_text",
            "MAX_NAME_BYTES", "MAX_PATH_BYTES", "MAX_PROBLEMS", "ScenarioError",
        ),
        "sim.model.config.extends": (
            "resolve_extends", "resolve_origins",
        ),
        "sim.model.config.feasibility": (
            "check_feasible", "MAX_NAME_CHARS",
        ),
        "sim.model.config.messages": (
            "format_validation_error", "Origins", "SET_ORIGIN",
        ),
        "sim.model.config.raw": (
            "deep_merge", "PATH_KEYS", "set_path",
        ),
        "sim.model.config.reading": (
            "_parse_yaml", "MAX_MAP_BYTES", "MAX_MAP_CELLS", "MAX_YAML_BYTES",
            "MAX_YAML_VALUES", "read_regular_file", "read_yaml_mapping",
        ),
        "sim.model.config.scenario": (
            "Scenario",
        ),
        "sim.model.config.sections": (
            "BreakdownConfig", "by_hour", "Centre", "CityConfig", "Hour",
            "IncidentKind", "IncidentsConfig", "LandUseName", "MeuConfig", "NonNeg",
            "on_duty_counts", "OnDutyShare", "PoliceConfig", "River", "Share", "Strict",
            "TravelConfig", "VolunteerConfig",
        ),
        "sim.model.config.tiers": (
            "Clock", "default_tiers", "kind_calls_for", "ON_SITE_RESPONDERS",
            "RECORDED", "Responder", "TIER_TABLES", "TierConfig", "TierScope", "tier_table",
        ),
        "sim.model.distributions": (
            "Exponential", "Fixed", "Lognormal",
        ),
    }.items()
    for name in names
}
__all__ = [
    "MAX_MAP_BYTES",
    "MAX_MAP_CELLS",
    "MAX_NAME_BYTES",
    "MAX_NAME_CHARS",
    "MAX_PATH_BYTES",
    "MAX_PROBLEMS",
    "MAX_YAML_BYTES",
    "MAX_YAML_VALUES",
    "ON_SITE_RESPONDERS",
    "PATH_KEYS",
    "RECORDED",
    "SET_ORIGIN",
    "TIER_TABLES",
    "BreakdownConfig",
    "Centre",
    "CityConfig",
    "Clock",
    "Exponential",
    "Fixed",
    "Hour",
    "IncidentKind",
    "IncidentsConfig",
    "LandUseName",
    "Lognormal",
    "MeuConfig",
    "NonNeg",
    "OnDutyShare",
    "Origins",
    "PoliceConfig",
    "Responder",
    "River",
    "Scenario",
    "ScenarioError",
    "Share",
    "Strict",
    "TierConfig",
    "TierScope",
    "TravelConfig",
    "VolunteerConfig",
    "_escape",
    "_kind",
    "_parse_yaml",
    "_short",
    "_show",
    "_show_path",
    "by_hour",
    "check_feasible",
    "check_path_text",
    "deep_merge",
    "default_tiers",
    "format_validation_error",
    "kind_calls_for",
    "on_duty_counts",
    "read_regular_file",
    "read_yaml_mapping",
    "resolve_extends",
    "resolve_origins",
    "set_path",
    "tier_table",
]
# fmt: on


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in ("load_scenario", "validate_scenario", "uses_geo_files"):
        raise AttributeError(
            f"sim.model.config.{name} moved to sim.geo.scenario.{name}: the loader above the "
            "model reads the files a scenario names (sim.load_scenario is unchanged)"
        )
    raise AttributeError(f"module 'sim.model.config' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
