"""Each epoi package's public API is its ``__init__``'s ``__all__``; no package reaches into
another package's private (``_``-prefixed) modules; the package ships ``py.typed``."""

from __future__ import annotations

import ast
import configparser
import importlib
from pathlib import Path

import pytest

import epoi

EPOI = Path(epoi.__file__).parent
REPO = EPOI.parent


def _packages() -> list[str]:
    """Every package under epoi (a directory with an ``__init__.py``), by dotted name."""
    return sorted(
        ".".join(init.parent.relative_to(REPO).parts) for init in EPOI.rglob("__init__.py")
    )


def _modules() -> list[Path]:
    return sorted(EPOI.rglob("*.py"))


def _module_parts(path: Path) -> tuple[str, ...]:
    parts = path.relative_to(REPO).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _is_module(parts: list[str]) -> bool:
    base = REPO.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _imported_modules(tree: ast.AST, package: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """(line, dotted parts) of every epoi module an AST imports, relative imports resolved
    against ``package``; ``from pkg import _mod`` counts as importing ``pkg._mod``."""
    found: list[tuple[int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
            else:
                base = []
            module = base + (node.module.split(".") if node.module else [])
            found.append((node.lineno, module))
            found += [
                (node.lineno, module + [alias.name])
                for alias in node.names
                if alias.name.startswith("_") and _is_module(module + [alias.name])
            ]
    return [(line, parts) for line, parts in found if parts and parts[0] == "epoi"]


def reach_throughs(source: str, module: tuple[str, ...], *, is_package: bool) -> list[str]:
    """The imports in ``source`` (the text of ``module``) of a private module that belongs to
    a package the importer is not inside.  epoi's own top-level private modules
    (``epoi._logging``, ``epoi._clock``, ...) belong to the top package, which every module is
    inside, so they pass."""
    package = module if is_package else module[:-1]
    bad = []
    for line, parts in _imported_modules(ast.parse(source), package):
        for i, part in enumerate(parts):
            if part.startswith("_") and not part.startswith("__"):
                owner = tuple(parts[:i])
                if package[: len(owner)] != owner:
                    bad.append(f"{'.'.join(module)}:{line} imports {'.'.join(parts)}")
                break
    return bad


@pytest.mark.parametrize("name", _packages())
def test_every_package_declares_its_public_api(name: str) -> None:
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    missing = [n for n in exported if not hasattr(package, n)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


def test_the_packages_are_found() -> None:
    assert {"epoi", "epoi.parsers", "epoi.schemas", "epoi.store", "epoi.matching"} <= set(
        _packages()
    )


def test_no_module_imports_another_packages_private_module() -> None:
    bad = []
    for path in _modules():
        bad += reach_throughs(
            path.read_text(encoding="utf-8"),
            _module_parts(path),
            is_package=path.name == "__init__.py",
        )
    assert not bad, "import these through the owning package's __init__:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("source", "module", "is_package", "bad"),
    [
        # another package's private module, relative and absolute, and as a name
        ("from ..store._registrations import match_results", ("epoi", "matching", "_hook"), False,
         True),
        ("import epoi.store._registrations", ("epoi", "matching", "_hook"), False, True),
        ("from epoi.store import _registrations", ("epoi", "matching", "_hook"), False, True),
        ("from .parsers._acks import ack_file_name", ("epoi", "intake"), False, True),
        ("def f():\n    from ..parsers._acks import ack_file_name", ("epoi", "pipeline", "_x"),
         False, True),
        # the package's own private modules, its public API, and the top package's own
        ("from ._stage import _match_batch", ("epoi", "matching", "_hook"), False, False),
        ("from ._acks import write_acks", ("epoi", "parsers"), True, False),
        ("from ..store import match_results", ("epoi", "matching", "_hook"), False, False),
        ("from .._logging import get_logger", ("epoi", "pipeline", "_stages"), False, False),
        ("from epoi.store._base import Base", ("epoi", "store", "migrations", "env"), False, False),
    ],
)
def test_the_reach_through_check_tells_them_apart(
    source: str, module: tuple[str, ...], is_package: bool, bad: bool
) -> None:
    assert bool(reach_throughs(source, module, is_package=is_package)) is bad


def test_the_package_ships_py_typed() -> None:
    assert (EPOI / "py.typed").is_file()
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    assert "py.typed" in setup["options.package_data"]["epoi"]
