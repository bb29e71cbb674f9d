"""The ``gpucircuit`` command: a thin typer app; each command lives in its own module."""
from __future__ import annotations

import importlib
from typing import Optional

import typer

from . import options as opt

app = typer.Typer(
    name="gpucircuit",
    help="GPU-accelerated circuit-theory connectivity: Circuitscape jobs and Linkage Mapper analyses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# each module defines register(app) and imports its heavy dependencies lazily, so --help is instant
COMMANDS = ("run", "circuit", "corridors", "pinchpoints", "barriers", "centrality", "linkage", "report",
            "omniscape", "resistance", "mspa", "sources", "network", "plan")


@app.callback()
def _main(ctx: typer.Context, backend: Optional[str] = opt.BACKEND, quiet: bool = opt.QUIET):
    """The shared options are accepted here too: ``gpucircuit --backend cpu run job.ini``."""
    from .common import use_shared_options

    use_shared_options(ctx, backend, quiet)


for _name in COMMANDS:
    importlib.import_module(f"{__package__}.{_name}").register(app)


def main():  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
