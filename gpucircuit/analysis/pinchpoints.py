"""Pinchpoint Mapper (Linkage Mapper v3): Circuitscape current through least-cost corridors.

Every circuit here is Circuitscape's raster graph with **8 neighbours and average resistances**
(``connect_using_avg_resistances``) and the **cores as focal regions** (each core's cells are
short-circuited into one node). The corridor of a link between cores A and B is where the
normalised least-cost corridor ``CWD_A + CWD_B - LCD`` is at most the CWD cutoff.

Adjacent pairs
    Per active link: habitat = the resistance raster on the link's corridor plus the cells of
    cores A and B (nodata elsewhere); Circuitscape pairwise between the two cores. Each per-link
    current map has the cells of cores A and B set to nodata (Pinchpoint Mapper's
    ``SETCORESTONULL`` in ``s8_pinchpoints.py``: their short-circuited cells would swamp the colour
    ramp and the classes), then the maps are mosaicked by maximum; so a core cell keeps the current
    of any other link whose corridor crosses it. The link's effective resistance ``R`` (Circuitscape's
    value, in resistance units: a cell of resistance ``r`` contributes about ``r``) is reported
    as ``Eff_Resist = cell size x R`` so that it is in the same cost-distance units as the LCD
    (as in DESIGN.md section 5), and ``CWD:ER = LCD / Eff_Resist``. With non-square cells the
    cell size is ``sqrt(dx * dy)``.
All pairs
    Habitat = the union of all active links' corridors plus every core; Circuitscape all-to-one
    (the mode the seed studies use) or pairwise over all cores. The cumulative current map is
    returned with the cores' current (and the pairwise resistance matrix in pairwise mode); the
    published map is :func:`blank_cores` of it (Pinchpoint Mapper's ``_noDataCores`` map: every
    core cell set to nodata).

``squared`` squares the resistances of every Circuitscape run (Linkage Mapper's "square
resistance values", which sharpens pinch points). ``Eff_Resist`` is then in squared units and
``CWD:ER`` is not computed (NaN).

Circuits are cropped to the bounding box of their habitat before solving, so a narrow corridor
on a large raster costs only its own size. Cells outside every circuit are NaN in the maps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..errors import InputError
from ..grid import build_raster_graph, conductance_from_habitat
from ..modes.one_to_all import all_to_one
from ..modes.pairwise import pairwise
from ..modes.raster import MapOptions
from ..solver.system import SolveOptions
from .corridors import Link, normalized_corridor
from .cwd import cell_steps

ALL_PAIRS_MODES = ("all-to-one", "pairwise")

def solve_options(method: str = "auto", **kw) -> SolveOptions:
    """Solver settings for Pinchpoint Mapper circuits: the engine's (``auto`` = direct for small
    circuits, else the grid multigrid, which treats the cores as merged regions)."""
    return SolveOptions(method=method, **kw)


@dataclass
class PinchpointOptions:
    """Pinchpoint Mapper settings (defaults: Linkage Mapper's demo choices, except the cutoff)."""

    cutoff: float = 5000.0  # CWD cutoff of the corridors (map cost units, like the LCD)
    adjacent: bool = True  # per-link pairwise runs (effective resistances, CWD:ER)
    all_pairs: str | None = "all-to-one"  # "all-to-one", "pairwise" or None
    squared: bool = False  # square resistances in the Circuitscape runs
    solve: SolveOptions = field(default_factory=solve_options)


@dataclass
class PinchpointResult:
    cutoff: float
    core_ids: list[int]
    adjacent_current: np.ndarray | None = None  # max over links of per-link current (its cores blanked)
    resistance: dict[int, float] = field(default_factory=dict)  # link id -> Circuitscape R
    eff_resist: dict[int, float] = field(default_factory=dict)  # link id -> cell size x R
    cwd_to_eff_resist: dict[int, float] = field(default_factory=dict)  # link id -> LCD / Eff_Resist
    all_pairs_mode: str | None = None
    all_pairs_current: np.ndarray | None = None  # cumulative current, NaN outside the circuit, cores kept
    all_pairs_resistances: np.ndarray | None = None  # (k, k) Circuitscape R, pairwise mode only
    squared: bool = False
    stats: list = field(default_factory=list)  # solver statistics of every system solved

    def link_columns(self) -> dict[str, dict[int, float]]:
        """New link-table columns: ``eff_resist`` and ``cwd_to_eff_resist`` by link id."""
        return {"eff_resist": dict(self.eff_resist), "cwd_to_eff_resist": dict(self.cwd_to_eff_resist)}


def check_cutoff(cutoff: float) -> float:
    """The cutoff as a float; InputError unless finite and non-negative."""
    cutoff = float(cutoff)
    if not (cutoff >= 0 and math.isfinite(cutoff)):
        raise InputError(f"CWD cutoff must be a finite non-negative number, got {cutoff:g}")
    return cutoff


def link_corridor_mask(cwds: dict[int, np.ndarray], link: Link, cutoff: float) -> np.ndarray:
    """Cells whose normalised corridor ``CWD_A + CWD_B - LCD`` is at most ``cutoff``.

    A relative tolerance of 1e-9 x LCD absorbs rounding, so the least-cost path (normalised
    value 0 up to rounding) is always in the corridor, even at cutoff 0.
    """
    tol = 1e-9 * abs(link.lcd)
    with np.errstate(invalid="ignore"):
        return normalized_corridor(cwds[link.core_a], cwds[link.core_b], link.lcd) <= cutoff + tol


def link_habitat(resistance: np.ndarray, labels: np.ndarray, cwds: dict[int, np.ndarray], link: Link,
                 cutoff: float) -> np.ndarray:
    """Circuit habitat of one link: resistance on its corridor and its two cores, NaN elsewhere."""
    keep = link_corridor_mask(cwds, link, cutoff) | (labels == link.core_a) | (labels == link.core_b)
    return np.where(keep, resistance, np.nan)


def union_habitat(resistance: np.ndarray, labels: np.ndarray, cwds: dict[int, np.ndarray], links: list[Link],
                  cutoff: float) -> np.ndarray:
    """All-pairs habitat: resistance on the union of active links' corridors and on every core."""
    keep = labels > 0
    for lk in links:
        if lk.active and math.isfinite(lk.lcd):
            keep |= link_corridor_mask(cwds, lk, cutoff)
    return np.where(keep, resistance, np.nan)


def _bbox(mask: np.ndarray) -> tuple[slice, slice]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _circuit(habitat: np.ndarray, labels: np.ndarray, core_ids, squared: bool):
    """(graph, focal cells, window) of a habitat raster cropped to its valid cells."""
    win = _bbox(np.isfinite(habitat))
    h = habitat[win]
    if squared:
        h = h * h
    g = conductance_from_habitat(h, is_resistance=True, where="resistance raster")
    graph = build_raster_graph(g, four_neighbors=False, avg_resistances=True)
    lab = labels[win]
    cells = {int(c): np.flatnonzero(lab == c) for c in core_ids}
    missing = [c for c, v in cells.items() if v.size == 0]
    if missing:
        raise InputError(f"core(s) {', '.join(map(str, missing))} have no cell on valid resistance")
    return graph, cells, win


def _paste(shape, win, values: np.ndarray, where: np.ndarray) -> np.ndarray:
    out = np.full(shape, np.nan)
    out[win] = np.where(where, values, np.nan)
    return out


def blank_cores(current: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``current`` with every core cell (``labels > 0``) set to NaN: the published all-pairs map."""
    return np.where(np.asarray(labels) > 0, np.nan, current)


def _effective_cellsize(cellsize) -> float:
    dx, dy = cell_steps(cellsize)
    return dx if dx == dy else math.sqrt(dx * dy)


def adjacent_pair_currents(resistance: np.ndarray, labels: np.ndarray, cwds: dict[int, np.ndarray], links: list[Link],
                   cutoff: float, *, squared: bool = False, options: SolveOptions | None = None,
                   progress: Callable[[str, int, int], None] | None = None):
    """Per active link: pairwise current between its cores on the link's corridor.

    Returns ``(current, resistance_by_link, stats)``: the per-link current maps, the link's two
    cores blanked, mosaicked by maximum (NaN outside every link's circuit and where only the
    blanked cores of links cover a cell) and Circuitscape's effective resistance per link
    id (-1 when the cores are not connected within the corridor, which cannot happen for a link
    whose least-cost path lies in its corridor).
    """
    cutoff = check_cutoff(cutoff)
    report = progress or (lambda stage, done, total: None)
    resistance = np.asarray(resistance, dtype=np.float64)
    active = [lk for lk in links if lk.active and math.isfinite(lk.lcd)]
    out = np.full(resistance.shape, np.nan)
    res: dict[int, float] = {}
    stats = []
    maps = MapOptions(currents=True, per_pair=False)
    for n, lk in enumerate(active):
        hab = link_habitat(resistance, labels, cwds, lk, cutoff)
        graph, cells, win = _circuit(hab, labels, (lk.core_a, lk.core_b), squared)
        rr = pairwise(graph, cells, maps=maps, options=options or solve_options())
        res[lk.link_id] = float(rr.resistances[0, 1])
        stats += rr.stats
        sub = out[win]
        lab = labels[win]
        keep = np.isfinite(hab[win]) & (lab != lk.core_a) & (lab != lk.core_b)
        out[win] = np.fmax(sub, np.where(keep, rr.cum_current, np.nan))
        report("pinch points: adjacent pairs", n + 1, len(active))
    return out, res, stats


def all_pairs_currents(resistance: np.ndarray, labels: np.ndarray, cwds: dict[int, np.ndarray], links: list[Link],
              cutoff: float, mode: str = "all-to-one", *, squared: bool = False, core_ids=None,
              options: SolveOptions | None = None):
    """Cumulative current over the union of corridors with every core as a focal region.

    Returns ``(cumulative current, RasterResult)``; the map is NaN outside the circuit's habitat
    (cores included). ``mode`` is ``"all-to-one"`` or ``"pairwise"``.
    """
    cutoff = check_cutoff(cutoff)
    if mode not in ALL_PAIRS_MODES:
        raise InputError(f"all-pairs mode must be one of {', '.join(ALL_PAIRS_MODES)}, not {mode!r}")
    resistance = np.asarray(resistance, dtype=np.float64)
    if core_ids is None:
        core_ids = [int(c) for c in np.unique(labels) if c > 0]
    hab = union_habitat(resistance, labels, cwds, links, cutoff)
    graph, cells, win = _circuit(hab, labels, core_ids, squared)
    maps = MapOptions(currents=True, per_pair=False)
    solve = options or solve_options()
    rr = all_to_one(graph, cells, maps=maps, options=solve) if mode == "all-to-one" else \
        pairwise(graph, cells, maps=maps, options=solve)
    return _paste(resistance.shape, win, rr.cum_current, np.isfinite(hab[win])), rr


def pinchpoint_analysis(resistance: np.ndarray, labels: np.ndarray, cwds: dict[int, np.ndarray], links: list[Link],
                        cellsize=1.0, options: PinchpointOptions | None = None, *,
                        progress: Callable[[str, int, int], None] | None = None) -> PinchpointResult:
    """Run Pinchpoint Mapper: adjacent pairs and/or all pairs, per ``options``.

    ``resistance`` (NaN = nodata), core ``labels`` (0 = none), the CWD of every core that an
    active link names (from :func:`~gpucircuit.analysis.corridors.linkage_pathways`) and the links.
    """
    opts = options or PinchpointOptions()
    cutoff = check_cutoff(opts.cutoff)
    report = progress or (lambda stage, done, total: None)
    if not (opts.adjacent or opts.all_pairs):
        raise InputError("choose adjacent pairs, all pairs or both for Pinchpoint Mapper")
    if opts.all_pairs is not None and opts.all_pairs not in ALL_PAIRS_MODES:
        raise InputError(f"all-pairs mode must be one of {', '.join(ALL_PAIRS_MODES)}, not {opts.all_pairs!r}")
    resistance = np.asarray(resistance, dtype=np.float64)
    labels = np.asarray(labels)
    if labels.shape != resistance.shape:
        raise InputError(f"core raster shape {labels.shape} differs from the resistance raster {resistance.shape}")
    labels = np.where(np.isfinite(resistance), labels, 0)
    active = [lk for lk in links if lk.active and math.isfinite(lk.lcd)]
    if not active:
        raise InputError("no active links: nothing for Pinchpoint Mapper to map")
    missing = sorted({c for lk in active for c in (lk.core_a, lk.core_b)} - set(cwds))
    if missing:
        raise InputError(f"no cost-weighted distance for core(s) {', '.join(map(str, missing))}")
    core_ids = [int(c) for c in np.unique(labels) if c > 0]
    result = PinchpointResult(cutoff=cutoff, core_ids=core_ids, squared=opts.squared)
    if opts.adjacent:
        cur, res, stats = adjacent_pair_currents(resistance, labels, cwds, active, cutoff, squared=opts.squared,
                                         options=opts.solve, progress=report)
        result.adjacent_current, result.resistance, result.stats = cur, res, stats
        scale = _effective_cellsize(cellsize)
        for lk in active:
            R = res.get(lk.link_id, -1.0)
            er = scale * R if R > 0 else math.nan
            result.eff_resist[lk.link_id] = er
            result.cwd_to_eff_resist[lk.link_id] = (lk.lcd / er if (er > 0 and not opts.squared) else math.nan)
    if opts.all_pairs:
        stage = f"pinch points: {opts.all_pairs}"
        report(stage, 0, 1)
        cum, rr = all_pairs_currents(resistance, labels, cwds, active, cutoff, opts.all_pairs, squared=opts.squared,
                            core_ids=core_ids, options=opts.solve)
        result.all_pairs_mode, result.all_pairs_current = opts.all_pairs, cum
        if opts.all_pairs == "pairwise":
            result.all_pairs_resistances = rr.resistances
        result.stats += rr.stats
        report(stage, 1, 1)
    return result
