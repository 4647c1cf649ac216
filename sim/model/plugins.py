"""Plug-ins found by name: responder fleets, dispatch and move-up policies.

A scenario names a fleet (``fleets.<name>``, ``kinds.<kind>.fleets``, a tier's
``responders``) or a policy (``police.dispatch``, ``police.move_up``). The name is looked up

1. among the built-ins and the classes registered in this process through the Python API
   (:func:`sim.model.fleets.register_fleet`, :func:`sim.model.policies.register_dispatch_policy`,
   :func:`sim.model.policies.register_move_up_policy`), then
2. among the entry points of the installed packages, in the groups of :data:`GROUPS`
   (``jiefang.fleets``, ``jiefang.dispatch_policies``, ``jiefang.move_up_policies``): the
   entry point's name is the name scenarios use, its object the class.

Installed plug-ins are what every process sees: ``jiefang run``, the worker processes of a
sweep (``--workers``, Dask), ``optimize`` and ``view`` find them without an import by the
user; a class registered through the Python API exists only in the process that registered it.
Entry points are listed lazily (importing ``sim`` loads no plug-in) and a class is loaded when
a scenario names it. docs/extending.md walks through a plug-in package.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as metadata
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from sim.model.fleets import BUILT_IN, FLEETS, fleet_class_problem
from sim.model.policies import DISPATCH_POLICIES, MOVE_UP_POLICIES


class PlugInError(ValueError):
    """A scenario names a plug-in that no installed package provides, or an installed
    plug-in cannot be loaded. The message names the plug-in and, where useful, the choices."""


class PlugInFailed(RuntimeError):
    """A plug-in raised while a run used it: the run fails with this (its message names the
    plug-in, the hook, the simulated time and the incident); the original is its cause."""


def _check_fleet(name: str, fleet: Any) -> None:
    problem = fleet_class_problem(name, fleet)
    if problem:
        raise PlugInError(problem)


def _check_policy(method: str) -> Callable[[str, Any], None]:
    def check(name: str, policy: Any) -> None:
        if getattr(policy, "name", None) != name or not callable(getattr(policy, method, None)):
            raise PlugInError(
                f"policy {name!r}: the class needs name = {name!r} and a method {method}"
            )

    return check


@functools.lru_cache(maxsize=4)
def _entry_points(path: tuple[str, ...]) -> metadata.EntryPoints:
    """Every installed entry point, for the ``sys.path`` given: one scan of the installed
    distributions (~60 ms) serves the three groups; none is made while scenarios name only
    built-ins."""
    return metadata.entry_points()


class PlugInGroup:
    """One kind of plug-in: the classes known in-process and an entry-point group.

    Args:
        group: the entry-point group installed packages declare (``jiefang.fleets``).
        what: what one is called in messages ("fleet", "dispatch policy").
        known: the built-in and registered classes by name (a live mapping: registering
            later adds to it).
        check: raises :class:`PlugInError` when a loaded class is not fit to be used.
    """

    def __init__(
        self, *, group: str, what: str, known: Mapping[str, Any],
        check: Callable[[str, Any], None],
    ) -> None:  # fmt: skip
        self.group, self.what, self.known, self.check = group, what, known, check
        self._loaded: dict[str, Any] = {}
        self._listed: tuple[tuple[str, ...], dict[str, list[metadata.EntryPoint]]] | None = None

    def installed(self) -> dict[str, list[metadata.EntryPoint]]:
        """The group's entry points by name (more than one: two packages claim the name).
        Listed again whenever ``sys.path`` changed (a folder added to it at run time)."""
        key = tuple(sys.path)
        if self._listed is None or self._listed[0] != key:
            found: dict[str, list[metadata.EntryPoint]] = {}
            for ep in _entry_points(key).select(group=self.group):
                if all(ep.value != other.value for other in found.get(ep.name, [])):
                    found.setdefault(ep.name, []).append(ep)
            self._listed = (key, found)
            self._loaded.clear()  # what a name stands for may have changed
        return self._listed[1]

    def names(self) -> tuple[str, ...]:
        """Every name a scenario may use: built-in and registered first, then installed."""
        known = tuple(self.known)
        return (*known, *sorted(n for n in self.installed() if n not in known))

    def choices(self) -> str:
        return ", ".join(self.names()) or "none"

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.known or name in self.installed())

    def get(self, name: str) -> Any:
        """The class scenarios call ``name``; :class:`PlugInError` when none is installed or
        it cannot be loaded (the message names the entry point and the error, not a
        traceback)."""
        if name in self.known:
            return self.known[name]
        entry_points = self.installed().get(name)
        if name in self._loaded:
            return self._loaded[name]
        if not entry_points:
            raise PlugInError(f"unknown {self.what} {name!r}; installed: {self.choices()}")
        if len(entry_points) > 1:
            raise PlugInError(
                f"{self.what} {name!r} is provided by more than one installed package "
                f"({', '.join(ep.value for ep in entry_points)}): uninstall all but one"
            )
        (ep,) = entry_points
        try:
            loaded = ep.load()
        except Exception as err:  # any import-time failure of foreign code is reported alike
            raise PlugInError(
                f"{self.what} {name!r} ({self.group} entry point {ep.value}) cannot be "
                f"loaded: {type(err).__name__}: {err}"
            ) from None
        self.check(name, loaded)
        self._loaded[name] = loaded
        return loaded

    def refresh(self) -> None:
        """Forget what was listed and loaded (after installing a package in this process)."""
        importlib.invalidate_caches()
        _entry_points.cache_clear()
        self._listed = None
        self._loaded.clear()


FLEET_GROUP = "jiefang.fleets"
DISPATCH_GROUP = "jiefang.dispatch_policies"
MOVE_UP_GROUP = "jiefang.move_up_policies"

FLEET_PLUGINS = PlugInGroup(group=FLEET_GROUP, what="fleet", known=FLEETS,
                            check=_check_fleet)  # fmt: skip
DISPATCH_PLUGINS = PlugInGroup(group=DISPATCH_GROUP, what="dispatch policy",
                               known=DISPATCH_POLICIES, check=_check_policy("choose"))  # fmt: skip
MOVE_UP_PLUGINS = PlugInGroup(group=MOVE_UP_GROUP, what="move-up policy",
                              known=MOVE_UP_POLICIES, check=_check_policy("rebalance"))  # fmt: skip
GROUPS = (FLEET_PLUGINS, DISPATCH_PLUGINS, MOVE_UP_PLUGINS)


def known_responders() -> tuple[str, ...]:
    """Built-in responders, then every fleet registered or installed."""
    return (*BUILT_IN, *FLEET_PLUGINS.names())


def is_responder(name: str) -> bool:
    """A built-in responder or a fleet registered or installed (built-ins need no scan)."""
    return name in BUILT_IN or name in FLEET_PLUGINS


def refresh() -> None:
    """Forget every group's listing (after a package was installed into this process)."""
    for group in GROUPS:
        group.refresh()


def describe() -> list[str]:
    """One line per installed plug-in: its group, name and where it comes from (``-v``)."""
    lines = []
    for group in GROUPS:
        for name, eps in sorted(group.installed().items()):
            for ep in eps:
                dist = ep.dist.name if ep.dist is not None else "?"
                lines.append(f"{group.group}: {name} = {ep.value} ({dist})")
    return lines


def provenance(scenario: Any) -> dict[str, str]:
    """Where each plug-in a scenario names comes from, by scenario key (built-ins left out):
    ``{"fleets.ambulance": "jiefang_ambulance.fleet:Ambulances (jiefang-ambulance 0.1.0)"}``;
    a class registered in-process is ``module:qualname (registered in-process)``. For run
    manifests: what produced a run folder, beside the package versions."""
    out = {}
    police = scenario.police
    named = [(f"fleets.{n}", FLEET_PLUGINS, n) for n in scenario.fleets]
    named += [("police.dispatch", DISPATCH_PLUGINS, police.dispatch),
              ("police.move_up", MOVE_UP_PLUGINS, police.move_up)]  # fmt: skip
    for key, group, name in named:
        if name in group.known:
            cls = group.known[name]
            if cls.__module__.startswith("sim."):
                continue  # built in
            out[key] = f"{cls.__module__}:{cls.__qualname__} (registered in-process)"
        else:
            eps = group.installed().get(name, [])
            out[key] = "; ".join(
                f"{ep.value} ({ep.dist.name} {ep.dist.version})" if ep.dist else ep.value
                for ep in eps
            )
    return out


class GuardedPolicy:
    """A plug-in policy whose ``choose``/``rebalance`` failing fails the run as
    :class:`PlugInFailed` naming it (what a fleet's hooks get from the model); every other
    attribute is the policy's own (``sends_nearest``, ``reach_only``, its state)."""

    def __init__(self, policy: Any, what: str) -> None:
        self._policy, self._what = policy, what

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_policy", "_what"):
            raise AttributeError(name)  # copy and pickle ask before _policy is set
        value = getattr(self._policy, name)
        if name in ("choose", "rebalance") and callable(value):
            return functools.partial(self._call, value, name)
        return value

    def _call(self, method: Callable, name: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except PlugInFailed:
            raise
        except Exception as err:
            frame = traceback.extract_tb(err.__traceback__)[-1]
            raise PlugInFailed(
                f"plug-in {self._what} ({name}) raised {type(err).__name__}: {err} "
                f"({frame.filename}:{frame.lineno})"
            ) from err


def policy(group: PlugInGroup, name: str) -> Any:
    """A new instance of the policy ``name``: a plug-in's guarded (:class:`GuardedPolicy`),
    a built-in as it is (the model calls it in its hot loop)."""
    instance = group.get(name)()
    if type(instance).__module__.startswith("sim."):
        return instance
    return GuardedPolicy(instance, f"{group.what} {name!r}")
