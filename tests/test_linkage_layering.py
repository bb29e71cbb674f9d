"""The pipelines sit between the analyses and the CLI: nothing below imports them, they never import the CLI."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "gpucircuit"


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add(("." * node.level) + (node.module or ""))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_nothing_below_imports_the_pipelines():
    for sub in ("analysis", "io", "solver", "modes"):
        for f in (PKG / sub).glob("*.py"):
            bad = [n for n in imported(f) if "linkage" in n.split(".") or n.startswith("gpucircuit._cli")]
            assert not bad, f"{f.relative_to(PKG)} imports {bad}"


def test_pipelines_do_not_import_the_cli():
    for f in (PKG / "linkage").glob("*.py"):
        bad = [n for n in imported(f) if "_cli" in n]
        assert not bad, f"{f.relative_to(PKG)} imports {bad}"
