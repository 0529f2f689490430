"""The shape of the package (issue 12, "the house"): imports go one way, cli and api on top
of the library (cli -> pipeline -> stages -> store/schemas), no import circle between
modules or packages, no SQL in the command line, and no module too long to read.

The import graph is built from the source with ``ast``: module-level imports only (those in
function bodies run late and under ``if TYPE_CHECKING:`` never), relative imports resolved,
``from pkg import name`` counted as an import of ``pkg.name`` when that is a module."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "epoi"
MAX_LINES = 500

# Longer than MAX_LINES on purpose: the compiled validation engine is one state machine.
LONG_BY_DESIGN = {"epoi/parsers/_fast.py"}
# The front doors: only they may import each other (`python -m epoi` -> cli -> api).
FRONT_DOORS = ("epoi.cli", "epoi.api", "epoi.__main__")
# The layers, top to bottom: a module imports from its own layer or the ones below, never
# from above (a stage does not call back up into the pipeline that runs it).
LAYERS = (
    {"epoi.cli", "epoi.api", "epoi.__main__"},
    {"epoi.pipeline", "epoi.reports"},
    {"epoi.intake", "epoi.parsers", "epoi.transforms", "epoi.matching", "epoi.queues",
     "epoi.sample"},
    {"epoi.store"},
    {"epoi.schemas", "epoi.config", "epoi.errors", "epoi._logging", "epoi._clock", "epoi._gc",
     "epoi._orphans", "epoi"},
)


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()


def _top_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: at module level, or in a top-level
    ``try``/``if`` (but not ``if TYPE_CHECKING:``)."""
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop(0)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            test = ast.unparse(node.test)
            if "TYPE_CHECKING" not in test:
                stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            stack.extend(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                stack.extend(handler.body)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _with_parents(name: str, importer: str) -> set[str]:
    """``name`` and the packages above it that importing it runs, except the importer's own
    ancestors (being imported already when the importer runs)."""
    parts = name.split(".")
    names = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    ancestors = {importer} | {".".join(importer.split(".")[:i])
                              for i in range(1, importer.count(".") + 1)}  # fmt: skip
    return {n for n in names if n in MODULES} - ancestors


def _imports(module: str) -> set[str]:
    """The epoi modules that importing ``module`` runs first."""
    path, is_package = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in _top_level_imports(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out |= _with_parents(alias.name, module)
            continue
        source = _resolve(module, is_package, node)
        out |= _with_parents(source, module)
        for alias in node.names:  # ``from pkg import mod``: the module runs too
            if f"{source}.{alias.name}" in MODULES:
                out |= _with_parents(f"{source}.{alias.name}", module)
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _unit(module: str) -> str:
    """The package a module belongs to for layering: ``epoi.store._repo`` -> ``epoi.store``;
    a top-level module (``epoi.intake``, ``epoi.errors``) is a unit of its own."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_the_graph_sees_the_imports_it_should() -> None:
    # The checks below mean nothing if the graph misses edges: a few known ones.
    assert "epoi.cli._app" in GRAPH["epoi.cli._run"]
    assert "epoi.pipeline" in GRAPH["epoi.cli._run"]
    assert "epoi.store._repo" in GRAPH["epoi.store"]
    assert "epoi.cli._app" in GRAPH["epoi.cli"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_between_modules() -> None:
    assert _cycles(GRAPH) == []


def test_no_import_circle_between_packages() -> None:
    units: dict[str, set[str]] = {}
    for module, targets in GRAPH.items():
        units.setdefault(_unit(module), set()).update(
            _unit(t) for t in targets if _unit(t) != _unit(module))
    assert _cycles(units) == []


def test_only_the_front_doors_import_the_front_doors() -> None:
    wrong = sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items() for t in targets
        if _unit(t) in FRONT_DOORS and _unit(m) not in FRONT_DOORS
    )  # fmt: skip
    assert wrong == []
    # The service never needs the command line.
    assert not any(_unit(t) == "epoi.cli" for m, ts in GRAPH.items() if _unit(m) == "epoi.api"
                   for t in ts)


def _layer(unit: str) -> int:
    return next(n for n, layer in enumerate(LAYERS) if unit in layer)


def test_every_package_has_a_layer() -> None:
    assert {_unit(m) for m in MODULES} <= set().union(*LAYERS)


def test_imports_go_down_the_layers() -> None:
    upward = sorted(
        f"{m} imports {t}"
        for m, targets in GRAPH.items() for t in targets
        if _layer(_unit(t)) < _layer(_unit(m))
    )  # fmt: skip
    assert upward == []


def test_command_modules_register_on_main_without_importing_the_cli_package() -> None:
    for module in MODULES:
        if module.startswith("epoi.cli."):
            assert "epoi.cli" not in GRAPH[module], module


def test_no_sql_in_the_command_line() -> None:
    """The command line calls the library; it builds and runs no query of its own."""
    for module, (path, _pkg) in MODULES.items():
        if _unit(module) != "epoi.cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]  # fmt: skip
                assert not any(n.split(".")[0] == "sqlalchemy" for n in names), module
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in {"execute", "scalars", "scalar", "exec_driver_sql"}, \
                    f"{module}:{node.lineno} calls .{node.func.attr}()"  # fmt: skip


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_too_long(module: str) -> None:
    path, _pkg = MODULES[module]
    rel = path.relative_to(REPO).as_posix()
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if rel in LONG_BY_DESIGN:
        return
    assert lines <= MAX_LINES, f"{rel}: {lines} lines (at most {MAX_LINES})"
