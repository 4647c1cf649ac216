"""Raw scenario mappings (as read from YAML, before validation): merging and dotted keys."""

from __future__ import annotations

import copy
from typing import Any

from sim.model.config.errors import ScenarioError, _show


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` on top of ``base``: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        base_value = out.get(key)
        if (
            isinstance(value, dict)
            and isinstance(base_value, dict)
            and _same_dist(base_value, value)
        ):
            out[key] = deep_merge(base_value, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _same_dist(base: dict, override: dict) -> bool:
    """A distribution mapping whose ``dist`` changes is replaced whole, not merged: the keys
    of a lognormal mean nothing to a fixed duration."""
    return "dist" not in override or override.get("dist") == base.get("dist")


def set_path(raw: dict, path: str, value: Any) -> None:
    """Set ``raw[a][b][c] = value`` for ``path == "a.b.c"``, creating mappings on the way."""
    keys = path.split(".")
    node = raw
    for key in keys[:-1]:
        nxt = node.get(key)
        if nxt is None:
            nxt = node[key] = {}
        if not isinstance(nxt, dict):
            raise ScenarioError(
                f"{_show(path)}: {_show(key)} is not a mapping, cannot set a key inside it"
            )
        node = nxt
    node[keys[-1]] = value


#: Keys holding file paths (section, key): each is relative to the file that names it.
PATH_KEYS = (
    ("city", "map_file"),
    ("city", "population_raster"),
    ("city", "sites_file"),
    ("police", "stations_file"),
    ("meus", "sites_file"),
    ("travel", "road_network"),
    ("incidents", "replay"),
)
