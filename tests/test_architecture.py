"""The package's architecture, checked on its import graph (every import statement of every module,
at any depth): packages by role with arrows pointing one way, no cycle, and the public names."""
from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

PACKAGE = Path(importlib.util.find_spec("mosaic").origin).parent
# What each role may import from the project (a module always may import its own package).
ALLOWED = {
    "mosaic.interface": set(),
    "mosaic.kernels": set(),
    "mosaic.model": {"mosaic.interface", "mosaic.kernels"},
    "mosaic.baselines": {"mosaic.interface"},
    "mosaic.registry": {"mosaic.interface"},
    "mosaic.harness": {"mosaic.interface", "mosaic.registry"},
    "mosaic.experiments": {"mosaic.interface", "mosaic.registry", "mosaic.harness", "mosaic.model",
                           "mosaic.kernels", "mosaic", "mosaic.experiments"},
    "mosaic.cli": {"mosaic.harness"},
    "mosaic.__main__": {"mosaic.cli"},
    "mosaic": {"mosaic.interface", "mosaic.model", "mosaic.registry", "mosaic.harness.hub"},  # the facade wires persistence
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules ``name`` imports, anywhere in the file (function-local imports count)."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            for alias in node.names:  # `from pkg import module` names a module
                full = f"{base}.{alias.name}"
                out.add(full if full in known else base)
    return {m for m in out if m == "mosaic" or m.startswith("mosaic.")}


def role(name: str) -> str:
    for prefix in sorted(ALLOWED, key=len, reverse=True):
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    raise AssertionError(f"module {name} belongs to no role of ALLOWED")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(path, name, set(known)) for name, path in known.items()}


def test_every_import_points_the_allowed_way(graph):
    wrong = []
    for name, targets in graph.items():
        own = role(name)
        for target in targets:
            if role(target) != own and role(target) not in ALLOWED[own] and target not in ALLOWED[own]:
                wrong.append(f"{name} -> {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def test_the_model_imports_only_torch_and_the_interface(graph):
    model = {n: t for n, t in graph.items() if n.startswith("mosaic.model")}
    assert model and all(t <= {"mosaic.interface", "mosaic.kernels", *model} for t in model.values()), model


def test_no_import_cycle(graph):
    """Depth-first search over module-to-module edges (a package's own __init__ excluded as an
    edge target of its submodules: Python imports parents first)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if node.startswith(nxt + "."):
                continue  # a submodule naming its parent package
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if state.get(nxt) is None and nxt in graph:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if state.get(node) is None:
            visit(node)


def test_public_names():
    import mosaic

    for name in ("MemoryMosaic", "MemoryMosaicConfig", "LanguageModel", "build_model"):
        assert hasattr(mosaic, name), name
    model = mosaic.MemoryMosaic(mosaic.MemoryMosaicConfig(vocab_size=16, n_layer=1, n_head=2, n_embd=8))
    assert isinstance(mosaic.build_model("mosaic", vocab_size=16, n_layer=1, n_head=2, n_embd=8), type(model))


def test_no_function_local_project_import():
    """Imports of the project's own modules sit at the top of each module, where the graph above
    sees them: a function-local import would hide a cycle instead of removing it."""
    hidden = []
    for path in modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for sub in ast.walk(node):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)) and imports_of_node(sub):
                        hidden.append(f"{path.relative_to(PACKAGE.parent)}:{sub.lineno}")
    assert not hidden, "function-local imports of project modules: " + ", ".join(hidden)


def imports_of_node(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name == "mosaic" or a.name.startswith("mosaic.") for a in node.names)
    return bool(node.module) and (node.module == "mosaic" or node.module.startswith("mosaic.")) or node.level > 0
