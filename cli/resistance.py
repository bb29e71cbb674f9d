"""``gpucircuit resistance CONFIG.toml -o OUT``: a resistance surface from graded factors and AHP weights."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from .common import cli_command, say


def register(app: typer.Typer) -> None:
    @app.command("resistance")
    @cli_command
    def resistance(
        config: Path = typer.Argument(..., help="TOML file: a grid table, factors, weights or an AHP matrix, "
                                                 "an optional correction (keys: gpucircuit/io/factors.py)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created)."),
    ):
        """Resistance surface: factors reclassified or graded by breaks, Jenks classes or distance to
        features on one grid, combined by weights or an AHP matrix, optionally corrected.

        Writes resistance.tif (float32), weights.csv (factor, weight, CR), grading.csv, resistance_table.md, a PNG.
        """
        import numpy as np

        from gpucircuit.analysis.resistance_surface import build_resistance, write_resistance
        from gpucircuit.io.factors import read_resistance_config

        t0 = time.perf_counter()
        result = build_resistance(read_resistance_config(config))
        files = write_resistance(result, out)
        weights = ", ".join(f"{n} {w:.3f}" for n, w in zip(result.factors, result.weights))
        cr = "" if result.cr is None else f" (AHP CR = {result.cr:.3f})"
        rows, cols = result.spec.shape
        valid = result.surface[np.isfinite(result.surface)]
        say(f"resistance: {rows} x {cols} cells, {valid.size} with data, {valid.min():.4g} to "
                   f"{valid.max():.4g}; weights {weights}{cr}")
        say(f"resistance: wrote {len(files)} files to {out} in {time.perf_counter() - t0:.2f} s")

