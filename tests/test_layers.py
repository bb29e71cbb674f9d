"""The house's layering, checked on the source: every import (function-level ones included) goes
to the same or a lower layer, no two modules import each other (directly or round a circle), and
no private name (``_x``) is imported from, or read off, another module.

Layers, lowest first (ARCHITECTURE.md describes each): io -> grid/graph -> operators -> solver ->
modes -> analyses/pipelines -> cli. ``errors``, ``progress``, ``backend`` and ``memory`` are base
utilities every layer may use; they import nothing of the package but each other.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# package name -> folder, as pyproject's package-dir maps them
PACKAGES = {"gpucircuit": ROOT / "gpucircuit", "gpucircuit._cli": ROOT / "cli", "gpucircuit._kernels": ROOT / "kernels"}

BASE = {"gpucircuit.errors", "gpucircuit.progress", "gpucircuit.backend", "gpucircuit.memory"}
# module (or package prefix) -> layer; the longest matching prefix wins
LAYERS = {
    "gpucircuit.io": 0,
    "gpucircuit.grid": 1, "gpucircuit.graph": 1, "gpucircuit.edges": 1,
    "gpucircuit.operators": 2, "gpucircuit.kernels": 2, "gpucircuit._kernels": 2, "gpucircuit.currents": 2,
    "gpucircuit.currents_compiled": 2,
    "gpucircuit.solver": 3,
    "gpucircuit.modes": 4, "gpucircuit.distribute": 4,
    "gpucircuit.analysis": 5, "gpucircuit.linkage": 5, "gpucircuit.pipeline": 5, "gpucircuit.job": 5,
    "gpucircuit.network_job": 5, "gpucircuit.omniscape_job": 5, "gpucircuit.api": 5, "gpucircuit": 5,
    "gpucircuit._cli": 6,
}
NAMES = ["io", "grid/graph", "operators", "solver", "modes", "analyses/pipelines", "cli"]


def find_modules(packages: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> source file, packages as their ``__init__``."""
    mods = {}
    for pkg, folder in packages.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([pkg] + parts)] = path
    return mods


def resolve(importer: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` names."""
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_pkg else importer.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def walk_imports(mods: dict[str, Path]):
    """(importer, imported module, imported name or None, alias, line) for every import of the
    package's own modules, wherever it stands in the file (function-level ones included)."""
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in mods:
                        yield name, a.name, None, a.asname, node.lineno
            elif isinstance(node, ast.ImportFrom):
                target = resolve(name, is_pkg, node)
                if target not in mods:
                    continue
                for a in node.names:
                    sub = f"{target}.{a.name}"
                    if sub in mods:
                        yield name, sub, None, a.asname or a.name, node.lineno
                    else:
                        yield name, target, a.name, a.asname or a.name, node.lineno


def imports(mods: dict[str, Path]):
    """(importer, imported module, imported name or None, line) for every import of the package."""
    return [(src, dst, nm, line) for src, dst, nm, _, line in walk_imports(mods)]


def layer_of(module: str, layers: dict[str, int]) -> int:
    best = max((p for p in layers if module == p or module.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"{module} has no layer: add it to LAYERS in tests/test_layers.py")
    return layers[best]


def upward_imports(edges, layers, base) -> list[str]:
    bad = []
    for src, dst, _, line in edges:
        if src == dst or dst in base:
            continue
        if src in base:
            bad.append(f"{src}:{line} (a base utility) imports {dst}")
        elif layer_of(dst, layers) > layer_of(src, layers):
            bad.append(f"{src}:{line} imports {dst}, a higher layer")
    return bad


def circles(edges) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for src, dst, _, _ in edges:
        if src != dst and not dst.startswith(src + "."):  # a package importing its own submodule
            graph.setdefault(src, set()).add(dst)
            graph.setdefault(dst, set())
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def private_uses(mods: dict[str, Path]) -> list[str]:
    """``from X import _name`` across modules, and ``module._name`` read off an imported module."""
    def private(n):
        return n.startswith("_") and not n.startswith("__")

    bad, module_aliases = [], {}
    for src, dst, nm, alias, line in walk_imports(mods):
        if nm is not None and private(nm) and src != dst:
            bad.append(f"{src}:{line} imports {nm} from {dst}")
        if nm is None and alias:
            module_aliases.setdefault(src, set()).add(alias)
    for name, path in mods.items():
        aliases = module_aliases.get(name, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Attribute) and private(node.attr) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases):
                bad.append(f"{name}:{node.lineno} reads {node.value.id}.{node.attr}")
    return bad


MODULES = find_modules(PACKAGES)
EDGES = imports(MODULES)


def test_every_module_has_a_layer():
    for m in MODULES:
        if m not in BASE:
            layer_of(m, LAYERS)


def test_no_import_goes_up_a_layer():
    assert upward_imports(EDGES, LAYERS, BASE) == []


def test_no_import_circles():
    assert circles(EDGES) == []


def test_no_private_name_crosses_modules():
    assert private_uses(MODULES) == []


# the checks bite: a made-up package with each fault ---------------------------------------------

@pytest.fixture
def house(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "solver").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "errors.py": "",
        "grid.py": "from .errors import E\n",
        "solver/__init__.py": "",
        "solver/system.py": "from ..grid import G\n\ndef f():\n    from ..distribute import spread  # upward\n",
        "distribute.py": "from .solver.system import S\n",
        "modes.py": "from .solver import system\nfrom .grid import _cells\nx = system._setup\n",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    mods = find_modules({"pkg": pkg})
    layers = {"pkg.grid": 1, "pkg.solver": 3, "pkg.distribute": 4, "pkg.modes": 4, "pkg": 5}
    return mods, imports(mods), layers


def test_the_checks_catch_each_fault(house):
    mods, edges, layers = house
    assert upward_imports(edges, layers, {"pkg.errors"}) == [
        "pkg.solver.system:4 imports pkg.distribute, a higher layer"]
    assert circles(edges) == [["pkg.distribute", "pkg.solver.system"]]
    assert sorted(private_uses(mods)) == ["pkg.modes:2 imports _cells from pkg.grid",
                                                 "pkg.modes:3 reads system._setup"]
    with pytest.raises(AssertionError, match="pkg.other has no layer"):
        layer_of("pkg.other", {"pkg.grid": 1})
