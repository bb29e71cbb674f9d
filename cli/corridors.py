"""``gpucircuit corridors``: Linkage Pathways (cost-weighted distance, links, normalised corridors)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from . import options as opt
from .common import analysis_progress, cli_command, say

LINK_TABLE = "link_table.csv"
CORRIDORS = "corridors.tif"
PATHS = "least_cost_paths.gpkg"


def load_inputs(resistance: Path, cores: Path, core_field: str):
    """(resistance array, GridSpec, Cores) with cores rasterised onto the resistance grid."""
    from gpucircuit.io.cores import read_cores
    from gpucircuit.io.raster import read_raster

    r, spec = read_raster(resistance, name="resistance raster")
    return r, spec, read_cores(cores, spec, r, field=core_field)


def cellsize_of(spec):
    """(cell width, cell height): rectangular cells are supported."""
    return (abs(spec.transform.a), abs(spec.transform.e))


def run_linkage(r, spec, cores, options, report):
    from gpucircuit.analysis.corridors import linkage_pathways, polygon_core_distances

    euclid = polygon_core_distances(cores.geometries) if cores.geometries else None
    return linkage_pathways(r, cores.labels, cellsize_of(spec), options, euclidean_distances=euclid,
                            progress=report)


def write_linkage_outputs(outdir: Path, result, spec, write_cwd: bool) -> list[Path]:
    from gpucircuit.analysis.corridors import link_table_text
    from gpucircuit.io.quicklook import save_png
    from gpucircuit.io.raster import write_raster, write_text_atomic
    from gpucircuit.io.vector import cell_centres, write_lines

    outputs = [write_raster(outdir / CORRIDORS, result.corridors, spec, compress=True)]
    outputs.append(save_png(outdir / "corridors.png", result.corridors, "normalised least-cost corridors",
                            cmap="magma_r"))
    table = outdir / LINK_TABLE
    write_text_atomic(table, link_table_text(result.links))
    outputs.append(table)
    with_path = [lk for lk in result.links if lk.path is not None]
    outputs.append(write_lines(
        outdir / PATHS, [cell_centres(lk.path, spec.transform) for lk in with_path],
        {
            "link_id": [lk.link_id for lk in with_path],
            "core_a": [lk.core_a for lk in with_path],
            "core_b": [lk.core_b for lk in with_path],
            "status": [lk.status for lk in with_path],
            "cwd": [lk.lcd for lk in with_path],
            "lcp_length": [lk.lcp_length for lk in with_path],
            "euclidean_distance": [lk.euclidean for lk in with_path],
        },
        crs=spec.crs, layer="least_cost_paths",
    ))
    if write_cwd:
        import numpy as np

        for cid, d in result.cwd.items():
            outputs.append(write_raster(outdir / f"cwd_core_{cid}.tif", np.where(np.isfinite(d), d, np.nan), spec,
                                        compress=True))
    return outputs


def linkage_options(adjacency, max_cwd, max_euclid, knn, connect_constellations, drop_crossing, cwd_threshold,
                    method):
    """Checked Linkage Pathways options from the command-line values."""
    from gpucircuit.analysis.corridors import LinkageOptions
    from gpucircuit.errors import InputError

    adjacency = adjacency.lower()
    if adjacency not in ("cwd", "euclidean", "both"):
        raise InputError(f"--adjacency must be cwd, euclidean or both, not {adjacency!r}")
    for name, v in (("--max-cwd", max_cwd), ("--max-euclid", max_euclid), ("--cwd-threshold", cwd_threshold)):
        if v is not None and not v > 0:
            raise InputError(f"{name} must be positive, got {v}")
    return LinkageOptions(
        cwd_adjacency=adjacency in ("cwd", "both"), euclidean_adjacency=adjacency in ("euclidean", "both"),
        max_cwd=max_cwd, max_euclidean=max_euclid, drop_crossing=drop_crossing, knn=knn,
        connect_constellations=connect_constellations, cwd_threshold=cwd_threshold, method=method,
    )


def register(app: typer.Typer) -> None:
    @app.command("corridors")
    @cli_command
    def corridors(
        resistance: Path = opt.RESISTANCE,
        cores: Path = opt.CORES,
        out: Path = opt.OUT,
        core_field: str = opt.CORE_FIELD,
        adjacency: str = opt.ADJACENCY,
        max_cwd: Optional[float] = opt.MAX_CWD,
        max_euclid: Optional[float] = opt.MAX_EUCLID,
        knn: Optional[int] = opt.KNN,
        connect_constellations: bool = opt.CONNECT,
        drop_crossing: bool = opt.DROP_CROSSING,
        cwd_threshold: Optional[float] = opt.CWD_THRESHOLD,
        write_cwd: bool = opt.WRITE_CWD,
        method: str = opt.CWD_METHOD,
    ):
        """Linkage Pathways: least-cost corridors between adjacent cores, link table and least-cost paths."""
        options = linkage_options(adjacency, max_cwd, max_euclid, knn, connect_constellations, drop_crossing,
                                  cwd_threshold, method)
        t0 = time.perf_counter()
        r, spec, core_set = load_inputs(resistance, cores, core_field)
        with analysis_progress() as report:
            result = run_linkage(r, spec, core_set, options, report)
        out.mkdir(parents=True, exist_ok=True)
        outputs = write_linkage_outputs(out, result, spec, write_cwd)
        n_active = len(result.active_links)
        say(f"corridors: {len(core_set.ids)} cores, {len(result.links)} candidate links, {n_active} active; "
            f"wrote {len(outputs)} files to {out} in {time.perf_counter() - t0:.2f} s")
