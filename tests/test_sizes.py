"""Size limits that keep the house readable (issue 13): no module over 400 lines, and no CLI
command function over 60 lines (a command parses options, calls one library function and prints;
anything longer belongs in the library)."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_COMMAND_LINES = 60


def sources() -> list[Path]:
    return sorted(p for folder in ("gpucircuit", "cli", "kernels") for p in (ROOT / folder).rglob("*.py"))


def is_command(node: ast.AST) -> bool:
    """A function registered as a CLI command: decorated with ``app.command(...)`` (or ``@command``)."""
    for dec in getattr(node, "decorator_list", ()):
        target = dec.func if isinstance(dec, ast.Call) else dec
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name == "command":
            return True
    return False


def command_lengths(path: Path) -> dict[str, int]:
    """Command function name -> lines from its ``def`` to its last line (decorators excluded)."""
    tree = ast.parse(path.read_text(), str(path))
    return {n.name: n.end_lineno - n.lineno + 1 for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and is_command(n)}


def test_sources_are_found():
    # the walk itself must see the package, the CLI and its commands, or the limits below test nothing
    files = sources()
    assert any(p.name == "raster.py" for p in files) and any(p.parent.name == "cli" for p in files)
    assert sum(len(command_lengths(p)) for p in files if p.parent.name == "cli") >= 10


def test_command_lengths_are_measured(tmp_path):
    text = "def register(app):\n    @app.command('x')\n    def x():\n" + "        pass\n" * 61
    text += "\n    @app.callback()\n    def y():\n        pass\n"
    (tmp_path / "m.py").write_text(text)
    assert command_lengths(tmp_path / "m.py") == {"x": 62}


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in sources()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_cli_command_over_60_lines():
    long = {f"{p.relative_to(ROOT)}:{name}": n for p in sources() if p.parent.name == "cli"
            for name, n in command_lengths(p).items() if n > MAX_COMMAND_LINES}
    assert not long, f"CLI command functions over {MAX_COMMAND_LINES} lines: {long}"
