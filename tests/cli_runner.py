"""Running the CLI in-process, and the one-line error contract every bad input must keep."""
from typer.testing import CliRunner

from gpucircuit._cli.main import app


def run(*args):
    """(exit status, output) of ``gpucircuit --backend cpu ARGS``."""
    result = CliRunner().invoke(app, ["--backend", "cpu", *map(str, args)])
    return result.exit_code, result.output.strip()


def assert_one_line_error(code, out, *needles):
    """Exit status 1, exactly one line starting 'error: ', no traceback, and every needle in it."""
    assert code == 1, out
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out
    assert "Traceback" not in out
    for n in needles:
        assert n in out, out
