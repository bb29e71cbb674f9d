"""``gpucircuit mspa``: Morphological Spatial Pattern Analysis of land-cover classes (GuidosToolbox codes)."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from .common import cli_command, say


def register(app: typer.Typer) -> None:
    @app.command("mspa")
    @cli_command
    def mspa(
        landcover: Path = typer.Argument(..., help="Land-cover raster (GeoTIFF or ASCII grid); nodata = missing."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created)."),
        foreground: str = typer.Option(..., "--foreground", help="Habitat class codes, e.g. 41,42,43 or 41-43."),
        edge_width: int = typer.Option(1, "--edge-width", help="EdgeWidth in pixels (e.g. 2 for 60 m at 30 m)."),
        connectivity: int = typer.Option(8, "--connectivity", help="Foreground connectivity: 8 or 4."),
        int_ext: bool = typer.Option(False, "--int-ext/--no-int-ext",
                                     help="GuidosToolbox's IntExt = 1: +100 inside core holes (core-opening 100, "
                                     "border-opening 220)."),
    ):
        """MSPA (GuidosToolbox's seven classes and byte codes): mspa.tif, mspa_stats.csv and a PNG.

        Codes: core 17, islet 9, perforation 5, edge 3, loop 65, bridge 33, branch 1, background 0,
        missing 129 (external codes; --int-ext adds GuidosToolbox's internal codes; no transition codes).
        """
        import numpy as np

        from gpucircuit.analysis.mspa import COLOURS, mspa as run_mspa, mspa_stats
        from gpucircuit.linkage.habitat import MSPA_TIF, cell_area_m2, class_mask, parse_classes, save_mspa_png, stats_csv
        from gpucircuit.backend import get_backend
        from gpucircuit.errors import InputError
        from gpucircuit.io.raster import read_raster
        from gpucircuit.io.raster_write import write_class_raster, write_text_atomic

        t0 = time.perf_counter()
        codes = parse_classes(foreground, "--foreground")
        if edge_width < 1:
            raise InputError(f"--edge-width must be at least 1 pixel, got {edge_width}")
        if connectivity not in (4, 8):
            raise InputError(f"--connectivity must be 4 or 8, got {connectivity}")
        values, spec = read_raster(landcover, name="land-cover raster")
        fg = class_mask(values, codes)
        if not fg.any():
            raise InputError(f"--foreground {foreground}: no cell of {landcover} holds these classes")
        area = cell_area_m2(spec, landcover, strict=False)
        classes = run_mspa(fg, ~np.isfinite(values), edge_width, connectivity, int_ext, xp=get_backend().xp)
        rows = mspa_stats(classes, area)
        out.mkdir(parents=True, exist_ok=True)
        write_class_raster(out / MSPA_TIF, classes, spec, colours=COLOURS)
        write_text_atomic(out / "mspa_stats.csv", stats_csv(rows))
        save_mspa_png(out / "mspa.png", classes, f"MSPA of {landcover.name} (EdgeWidth {edge_width}, "
                                                 f"{connectivity}-connectivity)")
        core = next(r for r in rows if r["class"] == "core")
        say(f"mspa: {int(fg.sum())} foreground cells, core {core['pixels']} ({core['share_pct']:.1f} %); "
                   f"wrote 3 files to {out} in {time.perf_counter() - t0:.2f} s")
