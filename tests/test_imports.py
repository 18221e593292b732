"""The package's imports point one way: no cycles, and spacy_elmo/nn/ is pure PyTorch.

The graph is read from the source with ``ast``: every import, at module level or inside a
function (a lazy import is still a dependency), except those under ``if TYPE_CHECKING:``
(annotations only, never run). Importing a package's module does not count as importing
the package's ``__init__`` (Python runs it first, whichever module asks).
"""
import ast
import functools
import importlib
from pathlib import Path
from typing import Dict, FrozenSet, Set

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "spacy_elmo"
NAME = PACKAGE.name


def _module_name(path: Path) -> str:
    parts = (NAME,) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _runtime_nodes(tree: ast.AST):
    """All nodes, skipping the bodies of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)


@functools.lru_cache(maxsize=None)  # the sources do not change during a test run
def _imports(module: str, path: Path) -> FrozenSet[str]:
    """Absolute names imported by ``module``; ``from X import y`` gives X.y when that is a
    module (X is then only the package it lives in), else X."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")[: len(module.split(".")) - node.level + is_package]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            names = [f"{target}.{alias.name}" for alias in node.names]
            found.update(n for n in names if n in MODULES)
            if not all(n in MODULES for n in names):  # a name defined in target itself
                found.add(target)
    return frozenset(found)


def _graph() -> Dict[str, Set[str]]:
    return {name: {m for m in _imports(name, path) if m in MODULES and m != name}
            for name, path in MODULES.items()}


def _find_cycle(graph: Dict[str, Set[str]]):
    done, on_path, path = set(), set(), []

    def visit(node):
        on_path.add(node)
        path.append(node)
        for dep in sorted(graph[node]):
            if dep in on_path:
                return path[path.index(dep):] + [dep]
            if dep not in done:
                cycle = visit(dep)
                if cycle:
                    return cycle
        on_path.discard(node)
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_lazy_and_relative_imports():
    """The reader itself: known edges of today's code (relative, nested and package imports)."""
    graph = _graph()
    assert "spacy_elmo._cli_app" in graph["spacy_elmo.commands.embed"]
    assert "spacy_elmo.nn.embedder" in graph["spacy_elmo.nn.bilm"]
    assert "spacy_elmo.nn.bilm" not in graph["spacy_elmo.nn.embedder"]  # TYPE_CHECKING only
    assert "spacy_elmo.pretrain.train" in graph["spacy_elmo.commands.pretrain"]  # inside a function
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_import_graph_has_no_cycle():
    assert _find_cycle(_graph()) is None


# The PyTorch layer and the format readers (and all they import from the package).
NO_SPACY = (f"{NAME}.nn", f"{NAME}.elmo_format", f"{NAME}.efml_format", f"{NAME}.model_files")


@pytest.mark.parametrize("root", NO_SPACY)
def test_nn_and_format_readers_import_no_spacy_or_thinc(root):
    """spacy_elmo/nn, the format readers and everything they import from the package
    stay free of spaCy and Thinc."""
    graph = _graph()
    reached = {m for m in MODULES if m == root or m.startswith(f"{root}.")}
    todo = list(reached)
    while todo:
        for dep in graph[todo.pop()] - reached:
            if dep != NAME:
                reached.add(dep)
                todo.append(dep)
    for module in sorted(reached):
        outside = {m.split(".")[0] for m in _imports(module, MODULES[module])}
        assert not outside & {"spacy", "thinc"}, module


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    importlib.import_module(module)


def test_one_cli_layout_commands_over_the_library():
    """Typer lives only in the command modules (and the app); no library module imports
    a command module or the app."""
    graph = _graph()
    cli = {m for m in MODULES if m.startswith(f"{NAME}.commands")}
    cli |= {f"{NAME}._cli_app", f"{NAME}.cli", f"{NAME}.__main__"}
    for module, path in MODULES.items():
        if module in cli:
            continue
        assert not graph[module] & cli, module
        assert "typer" not in _imports(module, path), module
    assert {m for m in MODULES if m.startswith(f"{NAME}.commands.")} == {
        f"{NAME}.commands.{name}" for name in ("adapt", "convert", "download", "embed", "pretrain")}
