"""The Linkage Mapper chain on one resistance grid: corridors → pinch points → barriers → centrality.

The cost-weighted distances are computed once and shared; every step writes the same files as
its own command (:mod:`.files`).  Options are checked here, once, before any long computation.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from .files import (LINK_TABLE, barrier_map, pinchpoint_map, write_barrier_outputs, write_centrality_outputs,
                    write_linkage_outputs, write_pinchpoint_outputs)

SOLVERS = ("auto", "direct", "mg", "amg")
ADJACENCIES = ("cwd", "euclidean", "both")
WEIGHT_NAMES = {"cwd": "cwd", "eff-resist": "eff_resist", "eff_resist": "eff_resist"}


def load_inputs(resistance: Path, cores: Path, core_field: str = "core_id"):
    """(resistance array, GridSpec, Cores) with cores rasterised onto the resistance grid."""
    from ..io.cores import read_cores
    from ..io.raster import read_raster

    r, spec = read_raster(resistance, name="resistance raster")
    return r, spec, read_cores(cores, spec, r, field=core_field)


def cellsize_of(spec):
    """(cell width, cell height): rectangular cells are supported."""
    return (abs(spec.transform.a), abs(spec.transform.e))


def linkage_options(adjacency="both", max_cwd=None, max_euclid=None, knn=None, connect_constellations=True,
                    drop_crossing=True, cwd_threshold=None, method="auto"):
    """Checked Linkage Pathways options (errors name the command-line option)."""
    from ..analysis.corridors import LinkageOptions

    adjacency = adjacency.lower()
    if adjacency not in ADJACENCIES:
        raise InputError(f"--adjacency must be cwd, euclidean or both, not {adjacency!r}")
    for name, v in (("--max-cwd", max_cwd), ("--max-euclid", max_euclid), ("--cwd-threshold", cwd_threshold)):
        if v is not None and not v > 0:
            raise InputError(f"{name} must be positive, got {v}")
    return LinkageOptions(
        cwd_adjacency=adjacency in ("cwd", "both"), euclidean_adjacency=adjacency in ("euclidean", "both"),
        max_cwd=max_cwd, max_euclidean=max_euclid, drop_crossing=drop_crossing, knn=knn,
        connect_constellations=connect_constellations, cwd_threshold=cwd_threshold, method=method,
    )


def check_solver(solver: str) -> str:
    solver = solver.lower()
    if solver not in SOLVERS:
        raise InputError(f"--solver must be one of {', '.join(SOLVERS)}, not {solver!r}")
    return solver


def pinchpoint_options(cutoff, adjacent=True, all_pairs=True, all_to_one=True, squared=False, solver="auto"):
    """Checked Pinchpoint Mapper options."""
    from ..analysis.pinchpoints import PinchpointOptions, check_cutoff, solve_options

    mode = "all-to-one" if all_to_one else "pairwise"
    opts = PinchpointOptions(cutoff=check_cutoff(cutoff), adjacent=adjacent, all_pairs=mode if all_pairs else None,
                             squared=squared, solve=solve_options(check_solver(solver)))
    if not (opts.adjacent or opts.all_pairs):
        raise InputError("nothing for pinch points: --no-adjacent together with --no-all-pairs")
    return opts


def check_weight(weight: str) -> str:
    key = weight.lower()
    if key not in WEIGHT_NAMES:
        raise InputError(f"--weight must be cwd or eff-resist, not {weight!r}")
    return WEIGHT_NAMES[key]


@dataclass
class ChainOptions:
    """Everything the chain needs besides its inputs, checked by :func:`chain_options`."""

    linkage: object
    pinchpoints: object
    radii: list[float]
    weight: str = "cwd"
    write_cwd: bool = False
    percent: bool = False
    want_sum: bool = False
    raw_scores: bool = False  # also write the barrier scores below 0 (``_raw`` GeoTIFFs)


def chain_options(link_opts, pp_opts, radius_start=None, radius_end=None, radius_step=None, weight="cwd",
                  write_cwd=False, percent=False, want_sum=False, raw_scores=False) -> ChainOptions:
    """Check the cross-step rules (eff-resist weights need adjacent pairs; radii all or none)."""
    from ..analysis.barriers import radii_list

    w = check_weight(weight)
    if w == "eff_resist" and not pp_opts.adjacent:
        raise InputError("--weight eff-resist needs the adjacent-pairs pinch points (drop --no-adjacent)")
    given = [x is not None for x in (radius_start, radius_end, radius_step)]
    if any(given) and not all(given):
        raise InputError("barriers need all of --radius-start, --radius-end and --radius-step (or none)")
    radii = radii_list(radius_start, radius_end, radius_step) if all(given) else []
    return ChainOptions(link_opts, pp_opts, radii, w, write_cwd, percent, want_sum, raw_scores)


def check_radii(radii, cellsize) -> None:
    """Linkage Mapper refuses a barrier radius below the cell size: its disc would hold only the centre cell."""
    small = [x for x in radii if x < min(cellsize)]
    if small:
        raise InputError(f"barrier radius {small[0]:g} is smaller than the cell size {min(cellsize):g}; "
                         "start the radii at one cell or more")


def run_linkage(r, spec, cores, options, report):
    from ..analysis.corridors import linkage_pathways, polygon_core_distances

    euclid = polygon_core_distances(cores.geometries) if cores.geometries else None
    return linkage_pathways(r, cores.labels, cellsize_of(spec), options, euclidean_distances=euclid,
                            progress=report)


def links_and_cwds(out: Path, r, spec, core_set, method: str, report):
    """Active links from ``OUT/link_table.csv`` when present (CWDs recomputed), else a fresh Linkage Pathways run.

    Returns ``(links, cwds, fresh)``: ``fresh`` is the new :class:`LinkageResult` (None when the
    table was reused).  A table whose least-cost distances the inputs do not reproduce is an error.
    """
    from ..analysis.corridors import LinkageOptions, core_distances, read_link_table
    from ..analysis.cwd import CostSurface

    table = out / LINK_TABLE
    if not table.exists():
        result = run_linkage(r, spec, core_set, LinkageOptions(method=method), report)
        return result.links, result.cwd, result
    links = read_link_table(table)
    active = [lk for lk in links if lk.active]
    needed = sorted({c for lk in active for c in (lk.core_a, lk.core_b)})
    unknown = [c for c in needed if c not in core_set.ids]
    if unknown:
        raise InputError(f"link table {table} names core(s) {', '.join(map(str, unknown))} not in the cores given")
    cwds = core_distances(CostSurface(r, cellsize_of(spec)), core_set.labels, needed, method, report)
    check_link_distances(active, cwds, core_set.labels, table)
    return links, cwds, None


def check_link_distances(active, cwds, labels, table: Path) -> None:
    """Replace the table's rounded LCDs by the CWDs' own; a real mismatch (other inputs) is an error."""
    for lk in active:
        lcd = float(np.min(cwds[lk.core_a][labels == lk.core_b]))
        if not np.isclose(lcd, lk.lcd, rtol=1e-6):
            raise InputError(f"link table {table}: link {lk.link_id} has CWD {lk.lcd:g} but the inputs give "
                             f"{lcd:g}; rerun 'gpucircuit corridors' on these inputs")
        lk.lcd = lcd


@dataclass
class ChainResult:
    linkage: object
    pinchpoints: object
    barriers: object | None
    centrality: object
    outputs: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    pinch_map: Path | None = None     # the maps the report classifies
    barrier_map: Path | None = None


def run_chain(r, spec, core_set, options: ChainOptions, out: Path,
              report: Callable[[str, int, int | None], None]) -> ChainResult:
    """Run the four tools on ``r`` and the cores, writing every tool's files into ``out``.

    InputError when Linkage Pathways leaves no active link (its outputs are kept).
    """
    from ..analysis.barriers import barrier_analysis
    from ..analysis.centrality import centrality
    from ..analysis.pinchpoints import pinchpoint_analysis

    cellsize = cellsize_of(spec)
    check_radii(options.radii, cellsize)
    out.mkdir(parents=True, exist_ok=True)
    timings, outputs = {}, []
    t = time.perf_counter()
    result = run_linkage(r, spec, core_set, options.linkage, report)
    report("write: corridors", 0, None)
    outputs += write_linkage_outputs(out, result, spec, options.write_cwd)
    timings["corridors"] = time.perf_counter() - t
    if not result.active_links:
        raise InputError("no active links after Linkage Pathways: nothing for the other tools to map "
                         f"(corridor outputs are in {out})")

    t = time.perf_counter()
    pp = pinchpoint_analysis(r, core_set.labels, result.cwd, result.links, cellsize, options.pinchpoints,
                             progress=report)
    report("write: pinch points", 0, None)
    outputs += write_pinchpoint_outputs(out, pp, spec, result.links, core_set.labels)
    timings["pinchpoints"] = time.perf_counter() - t

    bar = None
    if options.radii:
        t = time.perf_counter()
        bar = barrier_analysis(result.cwd, result.links, options.radii, cellsize, valid=np.isfinite(r),
                               percent=options.percent, want_sum=options.want_sum, progress=report)
        report("write: barriers", 0, None)
        outputs += write_barrier_outputs(out, bar, spec, options.want_sum, options.raw_scores)
        timings["barriers"] = time.perf_counter() - t

    t = time.perf_counter()
    report("centrality", 0, None)
    w = options.weight
    cen = centrality(result.links, core_set.ids, w, pp.eff_resist if w == "eff_resist" else None)
    outputs += write_centrality_outputs(out, cen, result.links, spec, core_set.labels)
    timings["centrality"] = time.perf_counter() - t
    return ChainResult(result, pp, bar, cen, outputs, timings, pinch_map=pinchpoint_map(out, pp),
                       barrier_map=barrier_map(out, options.percent) if bar is not None else None)
