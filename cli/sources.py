"""``gpucircuit sources``: candidate habitat patches ranked by Conefor's dPC, selected as ecological sources."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from .common import analysis_progress, cli_command, say
from .mspa import cell_area_m2, class_mask, parse_classes

MSPA_CODES = {0, 1, 3, 5, 9, 17, 33, 35, 37, 65, 67, 69, 100, 101, 103, 105, 109, 117, 129, 133, 135, 137, 165,
              167, 169, 220}
MSPA_CORE = (17, 117)


def habitat(values, classes: Optional[str], binary: bool, path: Path):
    """(candidate cells, study-area cells) of INPUT: MSPA core by default, else --classes or --binary."""
    import numpy as np

    from gpucircuit.errors import InputError

    finite = np.isfinite(values)
    if classes is not None and binary:
        raise InputError("give either --classes or --binary, not both")
    if classes is not None:
        return class_mask(values, parse_classes(classes, "--classes")), finite
    if binary:
        return finite & (values != 0), finite
    odd = finite & ~np.isin(values, np.array(sorted(MSPA_CODES), dtype=np.float64))
    if odd.any():
        r, c = np.argwhere(odd)[0]
        raise InputError(f"{path} holds {values[r, c]:g} at row {r}, column {c}, not an MSPA code: "
                         "give --classes CODES for a class raster or --binary for a habitat mask")
    return class_mask(values, list(MSPA_CORE)), finite & (values != 129)


def patches_csv(p, result, selected) -> str:
    import numpy as np

    rank = np.empty(p.n, dtype=int)
    rank[np.argsort(-result.pc.dpc, kind="stable")] = np.arange(1, p.n + 1)
    lines = ["id,area_km2,dPC,dPC_intra,dPC_flux,dPC_connector,dIIC,selected,dPC_rank"]
    for i in range(p.n):
        lines.append(f"{i + 1},{p.area_km2[i]:.6f},{result.pc.dpc[i]:.6g},{result.pc.dpc_intra[i]:.6g},"
                     f"{result.pc.dpc_flux[i]:.6g},{result.pc.dpc_connector[i]:.6g},{result.diic[i]:.6g},"
                     f"{int(selected[i])},{rank[i]}")
    return "\n".join(lines) + "\n"


def plot_sweep(path: Path, rows: list[dict], unit: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gpucircuit.io.quicklook import save_figure

    x = [r["distance"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.plot(x, [r["nc"] for r in rows], "o-", color="#336699", label="NC")
    ax.set_xlabel(f"distance threshold ({unit})")
    ax.set_ylabel("number of components (NC)", color="#336699")
    ax2 = ax.twinx()
    ax2.plot(x, [r["pc"] for r in rows], "s-", color="#cc3300", label="PC")
    ax2.set_ylabel("probability of connectivity (PC)", color="#cc3300")
    ax.set_title("connectivity against the distance threshold")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def write_outputs(out: Path, found, values, spec, thresholds, probability: float, unit: str) -> int:
    """sources.tif, sources.gpkg, patches.csv and, with ``thresholds``, sweep.csv / sweep.png; the count."""
    import numpy as np

    from gpucircuit.analysis.conefor import threshold_sweep
    from gpucircuit.analysis.patches import patches_to_polygons
    from gpucircuit.io.raster import write_raster, write_text_atomic
    from gpucircuit.io.vector import write_polygons

    p, ix = found.patches, found.indices
    out.mkdir(parents=True, exist_ok=True)
    chosen = np.where(np.isin(p.labels, np.flatnonzero(found.selected) + 1), p.labels, 0)
    write_raster(out / "sources.tif", np.where(np.isfinite(values), chosen, np.nan), spec, compress=True)
    polys = patches_to_polygons(chosen, spec.transform)
    at = [pid - 1 for _, pid in polys]
    write_polygons(out / "sources.gpkg", [g for g, _ in polys], {
        "id": [int(i + 1) for i in at], "area_km2": [float(p.area_km2[i]) for i in at],
        "dPC": [float(ix.pc.dpc[i]) for i in at], "dIIC": [float(ix.diic[i]) for i in at]},
        crs=spec.crs, layer="sources")
    write_text_atomic(out / "patches.csv", patches_csv(p, ix, found.selected))
    if thresholds is None:
        return 3
    rows = threshold_sweep(p.area_km2, found.distances, thresholds, probability, found.landscape_km2)
    write_text_atomic(out / "sweep.csv", "distance,nc,pc,iic\n" + "".join(
        f"{r['distance']:g},{r['nc']},{r['pc']:.8g},{r['iic']:.8g}\n" for r in rows))
    plot_sweep(out / "sweep.png", rows, unit)
    return 5


def register(app: typer.Typer) -> None:
    @app.command("sources")
    @cli_command
    def sources(
        input_path: Path = typer.Argument(..., metavar="INPUT", help="MSPA map (core = 17/117), a class raster (--classes) or a "
                                     "habitat mask (--binary); nodata (and MSPA missing 129) is outside the study area."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created)."),
        classes: Optional[str] = typer.Option(None, "--classes", help="Habitat class codes of INPUT, e.g. 41-43."),
        binary: bool = typer.Option(False, "--binary/--no-binary", show_default=True, help="INPUT is a habitat mask: non-zero cells are habitat."),
        min_area: float = typer.Option(0.0, "--min-area", help="Drop patches smaller than this (km²)."),
        connectivity: int = typer.Option(8, "--connectivity", help="Patch connectivity: 8 or 4."),
        distance: float = typer.Option(5000.0, "--distance",
                                       help="Conefor distance threshold (map units; cost units with --resistance)."),
        probability: float = typer.Option(0.5, "--probability", help="Dispersal probability at --distance (PC)."),
        resistance: Optional[Path] = typer.Option(None, "--resistance",
                                                  help="Cost-weighted edge-to-edge distances over this raster."),
        dpc_min: Optional[float] = typer.Option(None, "--dpc-min", help="Select patches with dPC at least this (%)."),
        top: Optional[int] = typer.Option(None, "--top", help="Select the N patches of largest dPC."),
        top_percent: Optional[float] = typer.Option(
            None, "--top-percent", help="Select the top P % of patches by dPC; with --score, the top P % of cells."),
        score: Optional[Path] = typer.Option(
            None, "--score", help="Ecosystem-service raster: sources are patches of its top --top-percent % cells "
            "(INPUT then only sets the grid and the study area)."),
        sweep: Optional[str] = typer.Option(None, "--sweep", help="NC and PC per threshold START:STOP:STEP "
                                            "(sweep.csv, sweep.png)."),
    ):
        """Ecological sources: patches ranked by Conefor's PC/dPC and IIC/dIIC, selected, written for 'linkage'.

        Writes sources.tif (ids of the selected patches, usable as cores), sources.gpkg, patches.csv
        (all candidates) and, with --sweep, sweep.csv and sweep.png.
        """
        from gpucircuit.analysis.sources import parse_sweep, screen_sources, top_score_cells
        from gpucircuit.errors import InputError
        from gpucircuit.io.notice import warn_user
        from gpucircuit.io.raster import check_same_grid, read_raster

        t0 = time.perf_counter()
        thresholds = parse_sweep(sweep) if sweep is not None else None
        if sum(x is not None for x in (dpc_min, top, None if score is not None else top_percent)) > 1:
            raise InputError("choose one selection rule: --dpc-min, --top or --top-percent")
        values, spec = read_raster(input_path, name="input raster")
        area = cell_area_m2(spec, input_path, strict=True)
        cells, study = habitat(values, classes, binary, input_path)
        if score is not None:
            if top_percent is None:
                raise InputError("--score needs --top-percent (the share of cells taken as sources)")
            s, sspec = read_raster(score, name="score raster")
            check_same_grid(spec, sspec, "input raster", "score raster", score)
            cells, top_percent = top_score_cells(s, study, top_percent), None
        r = None
        if resistance is not None:
            r, rspec = read_raster(resistance, name="resistance raster")
            check_same_grid(spec, rspec, "input raster", "resistance raster", resistance)
        with analysis_progress() as report:
            try:
                found = screen_sources(cells, study, area, (abs(spec.transform.a), abs(spec.transform.e)),
                                       min_area_km2=min_area, connectivity=connectivity, distance=distance,
                                       probability=probability, resistance=r, dpc_min=dpc_min, top=top,
                                       top_percent=top_percent, progress=lambda i, n: report("edge-to-edge distances", i, n),
                                       notice=warn_user)
            except InputError as err:  # say which input the patches came from
                raise InputError(f"{input_path}: {err}") from None
        written = write_outputs(out, found, values, spec, thresholds, probability,
                                "cost units" if resistance is not None else "map units")
        p, ix = found.patches, found.indices
        say(f"sources: {p.n} candidate patches ({found.found - p.n} below --min-area), PC {ix.pc.pc:.4g}, "
                   f"IIC {ix.iic:.4g}, NC {ix.nc} at {distance:g}; {int(found.selected.sum())} selected; "
                   f"wrote {written} files to {out} in {time.perf_counter() - t0:.2f} s")
