"""Imports go one way (issue 22; docs/architecture.md draws the layers).

The imports of every module of sim/ are read with ``ast`` (those under ``if TYPE_CHECKING:``
apart: they are never run). Layers, lowest first: ``model`` < ``geo`` < ``analysis`` (works
on tables) < ``experiment`` (runs things, writes and reads folders), ``planning`` <
``interface``; the package root (``sim``, ``sim.extras``, ``sim.files``...) sits outside
them. A module may import its own layer and those below, never
one above; no import circle among modules; no import inside a function except of an
optional extra (a library of an extra in pyproject.toml, or a module of sim/ that needs one).

What main still does wrong is listed below, explicitly: each list must only shrink. A pair
that is fixed must leave its list (the test fails on a stale entry too), and a new one fails.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

from tests.conftest import ROOT

SIM = ROOT / "sim"
LAYER = {"model": 0, "geo": 1, "analysis": 2, "experiment": 3, "planning": 3, "interface": 4}
#: Libraries of the optional extras, and the modules of sim/ that load one at import:
#: imported inside functions so that the core install and ``import sim`` stay light.
OPTIONAL = {
    "numba", "geopandas", "shapely", "rasterio", "affine", "pyproj", "pyrosm", "networkx",
    "scipy", "pandas", "matplotlib", "dask", "distributed", "solara", "optuna", "ortools",
    "plotly", "pyarrow", "pulp", "spopt", "tqdm", "sim.model.police_kernel", "sim.extras",
}  # fmt: skip

#: Imports from a lower layer up into a higher one (importer, imported), to be removed.
#: None since issue 22: GIS layers of results are analysis (sim.analysis.layers), reading run
#: folders back is experiment (sim.experiment.compare, .report), value labels of tables and
#: atomic writes went down (sim.analysis.values, sim.files).
KNOWN_UPWARD: set[tuple[str, str]] = set()
#: Import circles (each as its sorted modules), to be broken. None since issue 22: the
#: scenario loader (sim.geo.scenario) reads the files a scenario names and hands the model
#: values, and sim.model.config is a package of modules that import one way.
KNOWN_CIRCLES: set[tuple[str, ...]] = set()


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in SIM.rglob("*.py")}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYER.get(parts[1]) if len(parts) > 1 else None


def _run_time_imports(tree: ast.AST):
    """(node, inside a function) for each import that runs (not under TYPE_CHECKING)."""

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for orelse in child.orelse:
                    yield from visit(orelse, in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_function
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            yield from visit(child, inner)

    yield from visit(tree, False)


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The modules an import names (a sim module, or a library by its top name)."""
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            is_package = MODULES[module].name == "__init__.py"
            package = package[: len(package) - node.level + is_package]
            base = ".".join([*package, *([node.module] if node.module else [])])
        names = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
        names = names or [base]
    out = []
    for name in names:
        while name not in MODULES and "." in name and name.startswith("sim."):
            name = name.rsplit(".", 1)[0]
        out.append(name if name in MODULES else name.split(".")[0])
    return out


#: Tables of modules imported by name when first needed (``importlib.import_module``), read
#: as imports of the module holding them: the package root's PEP 562 table (``import sim``
#: stays light), the model package's (importing sim.model.config does not load Mesa), the
#: names the CLI's parser module had before the commands got modules of their own (PEP 562),
#: and the CLI's per-command modules, imported on dispatch.
LAZY_TABLES = {
    "sim": "_LAZY",
    "sim.model": "_LAZY",
    "sim.interface.cli": "MOVED",
    "sim.interface.commands.dispatch": "COMMANDS",
}


def _lazy_targets(module: str, tree: ast.Module) -> set[str]:
    """The modules of sim/ named in ``module``'s lazy table (see LAZY_TABLES)."""
    table = LAZY_TABLES.get(module)
    for node in tree.body:
        if isinstance(node, ast.Assign) and table in {ast.unparse(t) for t in node.targets}:
            return {c.value for c in ast.walk(node.value)
                    if isinstance(c, ast.Constant) and c.value in MODULES}  # fmt: skip
    assert table is None, f"{module} has no table {table}"
    return set()


def _graph():
    edges: dict[str, set[str]] = defaultdict(set)
    inner: set[tuple[str, str]] = set()
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        edges[module] |= _lazy_targets(module, tree)
        for node, in_function in _run_time_imports(tree):
            for target in _targets(module, node):
                if target in MODULES and target != module:
                    edges[module].add(target)
                    if not in_function:
                        edges[module] |= _packages_run(module, target)
                if in_function:
                    inner.add((module, target))
    return edges, inner


def _packages_run(module: str, target: str) -> set[str]:
    """The packages whose ``__init__`` importing ``target`` runs first, except those
    ``module`` is inside (already running): ``from sim.model.config.errors import ...`` in
    sim.model.catalogue runs sim/model/config/__init__.py, and all that it imports."""
    parts = target.split(".")
    parents = {".".join(parts[:k]) for k in range(1, len(parts))}
    return {
        p for p in parents
        if p in MODULES and p != module and not module.startswith(p + ".")
    }  # fmt: skip


def _circles(edges) -> set[tuple[str, ...]]:
    """Strongly connected components of two or more modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = set()

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.add(tuple(sorted(comp)))

    for v in sorted({*edges, *(w for ws in edges.values() for w in ws)}):
        if v not in index:
            strong(v)
    return out


def test_no_import_goes_up_a_layer():
    edges, _ = _graph()
    upward = {
        (a, b)
        for a, targets in edges.items()
        for b in targets
        if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)
    }
    assert upward - KNOWN_UPWARD == set(), "new imports up a layer"
    assert KNOWN_UPWARD - upward == set(), "fixed: take them off KNOWN_UPWARD"


def test_no_import_circle():
    circles = _circles(_graph()[0])
    assert circles - KNOWN_CIRCLES == set(), "new or grown import circles"
    assert KNOWN_CIRCLES - circles == set(), "broken or shrunk: update KNOWN_CIRCLES"


def test_the_model_core_imports_nothing_above_it_and_is_in_no_circle():
    """The engine core and its rules (issue 22) stand on numpy alone, out of every circle."""
    edges, _ = _graph()
    core = {"sim.model.spatial", "sim.model.lifecycle", "sim.model.policies",
            "sim.model.vocab", "sim.model.ledger"}  # fmt: skip
    for module in core:
        assert edges[module] <= {"sim.model.vocab", "sim.model.config"}, module
    assert not any(core & set(c) for c in _circles(edges))


def test_imports_inside_functions_are_optional_extras_only():
    _, inner = _graph()
    internal = {(a, b) for a, b in inner if b not in OPTIONAL and b.split(".")[0] not in OPTIONAL}
    assert internal - KNOWN_INNER - DEFERRED == set(), "new import inside a function"
    assert KNOWN_INNER - internal == set(), "fixed: take it off KNOWN_INNER"
    assert DEFERRED - internal == set(), "no longer deferred: take it off DEFERRED"
    assert not KNOWN_INNER & DEFERRED


def test_the_cli_tables_name_what_they_import():
    """Every command the parser knows is in the dispatcher's table, in the module named;
    each name the parser module hands on is where its table says; and the parser module
    imports nothing that loads numpy, pandas or pydantic (its imports at the top)."""
    from importlib import import_module

    from sim.interface import cli
    from sim.interface.commands.dispatch import COMMANDS

    parser = cli.build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(commands) == set(COMMANDS)
    for name, module in COMMANDS.items():
        assert callable(getattr(import_module(module), f"cmd_{name}")), name
    for name, module in cli.MOVED.items():
        assert getattr(cli, name) is getattr(import_module(module), name)
    edges, _ = _graph()
    assert set(COMMANDS.values()) <= edges["sim.interface.commands.dispatch"]
    light = {"sim", "sim.interface", "sim.interface.commands", "sim.interface.commands.common",
             "sim.model", "sim.model.budget", "sim.interface.commands.dispatch",
             *cli.MOVED.values()}  # fmt: skip
    assert edges["sim.interface.cli"] <= light


def test_the_graph_is_read_as_python_reads_it():
    """The reader sees what it claims to: a real circle and a deferred import of main."""
    edges, inner = _graph()
    assert "sim.model.response" in edges["sim.model"]  # sim/model/__init__.py
    assert ("sim.model.response", "sim.model.police_kernel") in inner
    assert "sim.model.responders.police" in edges["sim.model.response"]
    assert "sim.model.response" not in edges["sim.model.fleets"]  # under TYPE_CHECKING
    assert _circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == {("a", "b")}
    # Importing a module of a package runs the package's __init__ first (a circle through
    # it fails at import as any other), but not for a module inside that package.
    assert _packages_run("sim.model.catalogue", "sim.model.config.errors") == {"sim.model.config"}
    assert _packages_run("sim.model.config.scenario", "sim.model.config.errors") == set()
    assert "sim.model.config" in edges["sim.geo.scenario"]


#: Imports inside functions kept on purpose, for start-up time (importer, imported).
DEFERRED = {
    # `jiefang --help` and argument errors answer before numpy, pandas and pydantic load
    # (tests/test_cli.py): the parser imports the dispatcher only when a command runs, and
    # the dispatcher that command's module (its table COMMANDS, read above as imports).
    ("sim.interface.cli", "sim.interface.commands.dispatch"),
    # `import sim` stays light (tests/test_api.py): the notebook API's functions import
    # what they run, as its PEP 562 table does.
    ("sim", "sim.experiment.batch"),
    ("sim", "sim.experiment.runfolder"),
    ("sim", "sim.experiment.runner"),
    ("sim", "sim.experiment.sweep"),
    ("sim", "sim.geo.scenario"),
    ("sim", "sim.model.config"),
    # matplotlib (about 0.5 s) only when a run draws its figure (not `run --no-plot`).
    ("sim.experiment.runfolder", "sim.analysis.plots"),
}

#: Imports of sim modules (or the standard library) inside functions, to be moved up or
#: removed (importer, imported). None since issue 22: sim.model loads ResponseModel through
#: its PEP 562 table (LAZY_TABLES).
KNOWN_INNER: set[tuple[str, str]] = set()


def test_the_root_helpers_stand_under_every_layer():
    """sim.files (atomic writes) and sim.extras (optional extras) serve every layer, so they
    import none of them (sim.files is the standard library alone)."""
    edges, _ = _graph()
    for module in ("sim.files", "sim.extras"):
        assert not {t for t in edges[module] if _layer(t) is not None}, module
    tree = ast.parse(MODULES["sim.files"].read_text())
    imported = {t for node, _ in _run_time_imports(tree) for t in _targets("sim.files", node)}
    assert imported <= set(sys.stdlib_module_names), imported


def test_what_moved_between_layers_still_imports_from_its_old_path():
    """Issue 22 moved four modules between layers; their old paths are aliases of the new
    modules (sim/_moved.py, with a DeprecationWarning), and no file is left to shadow one."""
    import subprocess

    moved = {"sim.analysis.report": "sim.experiment.report",
             "sim.analysis.compare": "sim.experiment.compare",
             "sim.experiment.values": "sim.analysis.values",
             "sim.geo.layers": "sim.analysis.layers"}  # fmt: skip
    assert not set(moved) & set(MODULES)
    code = (
        "import importlib, warnings\n"
        f"for old, new in {moved!r}.items():\n"
        "    with warnings.catch_warnings(record=True) as seen:\n"
        "        warnings.simplefilter('always')\n"
        "        same = importlib.import_module(old) is importlib.import_module(new)\n"
        "    print(same, any(new in str(w.message) for w in seen))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)  # fmt: skip
    assert out.stdout.split() == ["True", "True"] * len(moved)
