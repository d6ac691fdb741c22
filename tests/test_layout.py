"""The package's shape: no import cycles, and one module that names the run folder's files."""

from __future__ import annotations

import ast
from pathlib import Path

from densecli.runs import files

from conftest import ROOT

PACKAGE = ROOT / "densecli"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST) -> list[str]:
    """Every module an import names, inside functions too, outside `if TYPE_CHECKING:`."""
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for statement in node.orelse:
                visit(statement)
            return
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
            found.append(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(importer: str, name: str) -> set[str]:
    """The densecli modules an import runs: the module itself and the packages above it
    (a package's __init__ runs first), except the importer's own packages."""
    if name not in MODULES:
        return set()
    parts = name.split(".")
    targets = {name}
    for end in range(2, len(parts)):
        package = ".".join(parts[:end])
        if not (importer + ".").startswith(package + "."):
            targets.add(package)
    targets.discard("densecli")  # the top package holds only the version
    return targets - {importer}


def import_graph() -> dict[str, set[str]]:
    return {
        module: {
            t for name in _imported(ast.parse(path.read_text())) for t in _targets(module, name)
        }
        for module, path in MODULES.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    return found


def test_no_module_is_part_of_an_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 40 and graph["densecli.cli._commands"]  # the graph was really built
    assert _cycles(graph) == []


def test_a_cycle_would_be_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _string_literals(tree: ast.AST) -> list[str]:
    """String constants, docstrings left out (they describe files, they do not name them)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


RUN_FILE_NAMES = [
    files.CONFIG, files.ENVIRONMENT, files.FOLDS, files.INPUTS, files.METRICS, files.HISTORY,
    files.PREDICTIONS, files.STATUS, files.LEARNING_CURVES, files.FOLDS_CHART, files.PREDICTED_CHART,
    files.MODEL_SUFFIX, files.PREPROCESS_SUFFIX, files.SWEEP,
    files.RESULTS_CSV, files.RESULTS_MD, files.COMPARE_CSV, files.COMPARE_MD,
]  # fmt: skip
RUN_FOLDER_NAMES = [files.MODELS_FOLDER, files.TENSORBOARD]


def test_run_files_are_named_in_one_module_only() -> None:
    owners: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        for text in _string_literals(ast.parse(path.read_text())):
            named = [n for n in RUN_FILE_NAMES if n in text]
            # Bare "models" is also a metrics key; a folder shows as the start of a path.
            named += [n for n in RUN_FOLDER_NAMES if text.startswith(n + "/")]
            for name in named:
                owners.setdefault(name, set()).add(module)
    assert set(owners) == set(RUN_FILE_NAMES)  # each found where it lives
    assert {name: sorted(o) for name, o in owners.items() if o != {"densecli.runs.files"}} == {}
