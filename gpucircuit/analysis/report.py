"""The ``gpucircuit report`` tables and summary: what the seed studies report, from the linkage outputs.

Pure assembly over arrays and tables (no files, no CLI): every number comes from the analysis
functions that already exist (:mod:`.classify`, :mod:`.patches`, :mod:`.network_indices`,
:mod:`.breakpoints`, :mod:`.sweep`, :mod:`.pinchpoints`); this module only decides *what* is fed
to them and gathers the results into rows (lists of dicts) and the summary dict; :mod:`gpucircuit.io.report_render` renders it and :mod:`gpucircuit.io.csv_table` writes the rows.

Definitions (also written into the summary):

* **Sources** are the cores. ``S_i`` = core area in m² (cells × cell area, on the resistance
  grid, cores on nodata removed); ``P_i`` = mean resistance over the core's cells.
* **Pinch points** = top class of the pinch-point current map (the all-to-one cumulative map if
  present, else the adjacent-pairs map), classes computed over the cells *inside the
  corridors*: finite values, core cells excluded.  **Barriers** = top class of the Barrier
  Mapper maximum score, classes computed over cells with a *positive* score (scores ≤ 0 mean
  "restoring here does not shorten any link"; with them the top class of the Linkage Mapper
  demo would start at a negative score).  The top class is class ``k`` of the ``k``-class
  breaks (the highest non-empty class when the map has fewer than ``k`` distinct values).
  Patches are 8-connected groups of top-class cells; areas are cells × cell area.
* **Corridors** = active links; total corridor length = Σ of their least-cost-path lengths.
* **Network indices**: nodes = cores, edges = active links (α, β, γ); **PC** with Euclidean
  edge-to-edge (minimum cell-centre) distances between cores, ``p = exp(-k d)`` with
  ``p(d_threshold) = p_threshold``, node areas ``S_i`` (m²) and landscape area = area of the
  valid resistance cells (m²).
* **Corridor importance**: gravity model ``G_ij = L_max² ln S_i ln S_j / (L_ij² P_i P_j)``
  with ``L`` = least-cost distance; class ``important`` where ``G`` > threshold.
* **Width sweep**: for each CWD cutoff the cumulative all-to-one current summed over the
  corridor cells (cores excluded) of the union of corridors at that cutoff; the selected
  cutoff is where the relative change from the previous cutoff is smallest
  (:func:`~gpucircuit.analysis.sweep.width_sweep`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..errors import InputError
from .classify import breaks, classify
from .corridors import Link
from .cwd import cell_steps
from .network_indices import dpc_table, gravity_matrix, network_structure, pc_analysis
from .patches import label_patches, landuse_summary, patch_table

__all__ = [
    "ClassPatches", "class_patches", "breaks_rows", "core_table", "cell_area",
    "corridor_importance", "distance_matrix", "network_tables", "breakpoint_table",
    "sweep_currents", "parse_sweep", "build_summary", "landuse_rows", "active_links",
]


# --------------------------------------------------------------------------- helpers

def cell_area(cellsize) -> float:
    """Cell area in m² from a scalar cell size or ``(dx, dy)``."""
    dx, dy = cell_steps(cellsize)
    return dx * dy


# --------------------------------------------------------------------------- class maps and patches

@dataclass
class ClassPatches:
    """Classification of a continuous map and the patches of its top class.

    ``edges``: the ``k + 1`` class edges; ``classes``: uint8 class raster (0 = not classified);
    ``top``: the top class number; ``mask``: its cells; ``ids``/``n``: 8-connected patches
    (int32, 0 = none); ``breaks``: rows of :func:`breaks_rows`; ``patches``: one row per patch.
    """

    edges: np.ndarray
    classes: np.ndarray
    top: int
    mask: np.ndarray
    ids: np.ndarray
    n: int
    breaks: list[dict]
    patches: list[dict]
    cells_classified: int

    @property
    def area_km2(self) -> float:
        return float(sum(p["area_km2"] for p in self.patches))

    @property
    def cells(self) -> int:
        return int(self.mask.sum())


def class_patches(values, k: int = 5, method: str = "jenks", *, cellsize=1.0, include=None,
                  landuse=None, landuse_names=None, value_name: str = "value", transform=None) -> ClassPatches:
    """Classify ``values`` into ``k`` classes over its valid cells, take the top class, label patches.

    Valid cells: finite values, and ``include`` (a boolean raster) where given — e.g. corridor
    cells without cores for pinch points, positive scores for barriers.  Patch rows (from
    :func:`~gpucircuit.analysis.patches.patch_table`) are renamed ``id, cells, area_km2,
    max_length_km, mean_<value_name>, max_<value_name>`` (+ ``centroid_x/y`` with ``transform``,
    + land-use shares with ``landuse``).
    """
    v = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(v)
    if include is not None:
        inc = np.asarray(include, dtype=bool)
        if inc.shape != v.shape:
            raise InputError(f"mask of classified cells has shape {inc.shape}, expected {v.shape}")
        valid &= inc
    if not valid.any():
        raise InputError(f"no valid {value_name} cells to classify")
    masked = np.where(valid, v, np.nan)
    edges = breaks(masked, k, method)
    classes = classify(masked, edges)
    present = np.unique(classes[classes > 0])
    top = int(present.max())
    mask = classes == top
    ids, n = label_patches(mask)
    rows = patch_table(ids, cellsize, values=masked, landuse=landuse, landuse_names=landuse_names)
    rename = {"patch": "id", "mean_value": f"mean_{value_name}", "max_value": f"max_{value_name}"}
    rows = [{rename.get(key, key): val for key, val in r.items()} for r in rows]
    if transform is not None and rows:
        cx, cy = _centroids(ids, n, transform)
        for r in rows:
            r["centroid_x"], r["centroid_y"] = float(cx[r["id"]]), float(cy[r["id"]])
    return ClassPatches(edges=edges, classes=classes, top=top, mask=mask, ids=ids, n=n,
                        breaks=breaks_rows(classes, edges, cellsize, top), patches=rows,
                        cells_classified=int(valid.sum()))


def _centroids(ids, n, transform):
    rows, cols = np.nonzero(ids)
    pid = ids[rows, cols]
    cnt = np.bincount(pid, minlength=n + 1).astype(np.float64)
    cnt[cnt == 0] = np.nan
    rc = np.bincount(pid, weights=rows + 0.5, minlength=n + 1) / cnt
    cc = np.bincount(pid, weights=cols + 0.5, minlength=n + 1) / cnt
    t = transform
    return t.a * cc + t.b * rc + t.c, t.d * cc + t.e * rc + t.f


def breaks_rows(classes, edges, cellsize, top: int | None = None) -> list[dict]:
    """One row per class: ``class, lower, upper, cells, area_km2, share_pct, top``."""
    e = np.asarray(edges, dtype=np.float64)
    k = e.size - 1
    counts = np.bincount(np.asarray(classes).ravel(), minlength=k + 1)
    total = float(counts[1:].sum()) or 1.0
    ca = cell_area(cellsize)
    top = k if top is None else top
    return [{"class": c, "lower": float(e[c - 1]), "upper": float(e[c]), "cells": int(counts[c]),
             "area_km2": float(counts[c]) * ca / 1e6, "share_pct": 100.0 * float(counts[c]) / total,
             "top": c == top} for c in range(1, k + 1)]


def landuse_rows(sets: dict[str, np.ndarray], landuse, landuse_names=None, cellsize=1.0) -> list[dict]:
    """Land-use composition of each named cell set (``{"pinchpoints": mask, ...}``), one row per
    (set, class) with ``set, code, name, cells, share_pct, area_km2``."""
    out = []
    for name, mask in sets.items():
        for r in landuse_summary(mask, landuse, landuse_names, cellsize):
            out.append({"set": name, **r})
    return out


# --------------------------------------------------------------------------- cores, corridors, network

def core_table(labels, resistance, ids, cellsize) -> list[dict]:
    """Per core: ``core_id, cells, area_m2, area_km2, mean_resistance`` (cores on nodata cells
    removed: only cells with finite resistance count)."""
    lab = np.asarray(labels)
    r = np.asarray(resistance, dtype=np.float64)
    ok = np.isfinite(r) & (lab > 0)
    ca = cell_area(cellsize)
    lab_ok = lab[ok].astype(np.int64)
    size = int(max(ids)) + 1 if len(ids) else 1
    cnt = np.bincount(lab_ok, minlength=size)
    tot = np.bincount(lab_ok, weights=r[ok], minlength=size)
    rows = []
    for c in ids:
        n = int(cnt[c])
        if n == 0:
            raise InputError(f"core {c} has no cell on valid resistance")
        rows.append({"core_id": int(c), "cells": n, "area_m2": n * ca, "area_km2": n * ca / 1e6,
                     "mean_resistance": float(tot[c] / n)})
    return rows


def active_links(links: Iterable[Link]) -> list[Link]:
    return [lk for lk in links if lk.active and math.isfinite(lk.lcd)]


def corridor_importance(links: list[Link], cores: list[dict], threshold: float = 1.0,
                        centrality: dict[int, float] | None = None, k: int = 5,
                        method: str = "jenks") -> list[dict]:
    """Active links ranked by gravity ``G`` (descending) with their class, centrality and a
    centrality class (``k`` classes by ``method`` over the active links' centralities; 1 = low)."""
    act = active_links(links)
    if not act:
        return []
    ids = [c["core_id"] for c in cores]
    g = gravity_matrix([c["area_m2"] for c in cores], [c["mean_resistance"] for c in cores],
                       [(lk.core_a, lk.core_b, lk.lcd) for lk in act], threshold=threshold, node_ids=ids)
    cen = centrality or {}
    cvals = np.array([cen.get(lk.link_id, math.nan) for lk in act], dtype=np.float64)
    ccls = np.zeros(len(act), dtype=int)
    if np.isfinite(cvals).any():
        ccls = classify(cvals, breaks(cvals, k, method)).astype(int)
    rows = []
    for r in g:
        t = r["link"]
        lk = act[t]
        rows.append({"rank": r["rank"], "link_id": lk.link_id, "core_a": lk.core_a, "core_b": lk.core_b,
                     "lcd": lk.lcd, "lcp_length_km": lk.lcp_length / 1000.0, "G": r["G"],
                     "class": r["class"], "centrality": float(cvals[t]),
                     "centrality_class": int(ccls[t]) if ccls[t] > 0 else None})
    return rows


def distance_matrix(ids: list[int], pairs: dict[tuple[int, int], float]) -> np.ndarray:
    """Symmetric ``n × n`` matrix from ``{(a, b): d}`` (a < b); diagonal 0, missing pairs inf."""
    pos = {c: i for i, c in enumerate(ids)}
    d = np.full((len(ids), len(ids)), np.inf)
    np.fill_diagonal(d, 0.0)
    for (a, b), v in pairs.items():
        if a in pos and b in pos:
            d[pos[a], pos[b]] = d[pos[b], pos[a]] = float(v)
    return d


def network_tables(cores: list[dict], links: list[Link], distances: np.ndarray, landscape_area_m2: float,
                   d_threshold: float = 5000.0, p_threshold: float = 0.5) -> tuple[dict, list[dict]]:
    """``(indices, dpc rows)``.

    ``indices``: ``nodes, edges, alpha, beta, gamma`` (NaN with fewer than 3 cores), ``pc``,
    ``total_corridor_length_km`` (Σ active LCP lengths / 1000), ``landscape_area_km2``,
    ``d_threshold``, ``p_threshold``.  dPC rows: :func:`dpc_table` plus ``area_km2`` and
    ``mean_resistance`` of each core.
    """
    act = active_links(links)
    ids = [c["core_id"] for c in cores]
    n, e = len(ids), len(act)
    if n >= 3:
        idx = network_structure(n, e)
    else:
        idx = {"nodes": n, "edges": e, "alpha": math.nan, "beta": e / n if n else math.nan, "gamma": math.nan}
    res = pc_analysis([c["area_m2"] for c in cores], distances, d_threshold, p_threshold, landscape_area_m2)
    idx = {**idx, "pc": res.pc,
           "total_corridor_length_km": float(sum(lk.lcp_length for lk in act)) / 1000.0,
           "landscape_area_km2": landscape_area_m2 / 1e6, "d_threshold": float(d_threshold),
           "p_threshold": float(p_threshold)}
    by_id = {c["core_id"]: c for c in cores}
    rows = dpc_table(res, node_ids=ids)
    for r in rows:
        r["core_id"] = r.pop("node")
        r["area_km2"] = by_id[r["core_id"]]["area_km2"]
        r["mean_resistance"] = by_id[r["core_id"]]["mean_resistance"]
    cols = ("rank", "core_id", "dpc", "dpc_intra", "dpc_flux", "dpc_connector", "area_km2", "mean_resistance")
    return idx, [{c: r[c] for c in cols} for r in rows]


# --------------------------------------------------------------------------- breakpoints

def breakpoint_table(paths, line_sources, paths_crs=None) -> list[dict]:
    """Breakpoints of the least-cost paths with each line source.

    ``paths``: ``(link_id, geometry)`` of the active links; ``line_sources``: ``(name, lines)``
    pairs, ``lines`` a file path or ``(attrs, geometry)`` list as
    :func:`~gpucircuit.analysis.breakpoints.find_breakpoints` takes.  Rows get ``lines`` = name
    first.
    """
    from .breakpoints import find_breakpoints

    paths = list(paths)
    out = []
    for name, lines in line_sources:
        for r in find_breakpoints(paths, lines, paths_crs=paths_crs):
            out.append({"lines": name, **r})
    return out


# --------------------------------------------------------------------------- width sweep

def parse_sweep(text: str) -> list[float]:
    """``"START:END:STEP"`` → cutoffs ``START, START+STEP, ... <= END`` (at least two)."""
    parts = str(text).split(":")
    try:
        start, end, step = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"--sweep must be START:END:STEP (numbers), got {text!r}") from None
    if not (start >= 0 and end > start and step > 0 and all(map(math.isfinite, (start, end, step)))):
        raise InputError(f"--sweep needs 0 <= START < END and STEP > 0, got {text!r}")
    n = int(math.floor((end - start) / step * (1 + 1e-12) + 1e-9))
    cutoffs = [start + i * step for i in range(n + 1)]
    if len(cutoffs) < 2:
        raise InputError(f"--sweep {text!r} gives fewer than two cutoffs")
    return cutoffs


def sweep_currents(resistance, labels, cwds, links: list[Link], cutoffs, *, cellsize=1.0,
                   mode: str = "all-to-one", options=None,
                   progress: Callable[[float], None] | None = None) -> list[dict]:
    """Cumulative current inside the corridors for each cutoff (see the module docstring).

    ``cwds``: CWD of every core an active link names (e.g. from
    :func:`~gpucircuit.analysis.corridors.core_distances`).  Returns rows ``cutoff,
    cumulative_current, corridor_cells, corridor_area_km2`` (corridor = finite current, cores
    excluded).
    """
    from .pinchpoints import all_pairs_currents, check_cutoff

    lab = np.asarray(labels)
    r = np.asarray(resistance, dtype=np.float64)
    lab = np.where(np.isfinite(r), lab, 0)
    act = active_links(links)
    if not act:
        raise InputError("width sweep: no active links")
    core_ids = [int(c) for c in np.unique(lab) if c > 0]
    rows = []
    for c in cutoffs:
        c = check_cutoff(c)
        cur, _ = all_pairs_currents(r, lab, cwds, act, c, mode, core_ids=core_ids, options=options)
        inside = np.isfinite(cur) & (lab <= 0)
        rows.append({"cutoff": c, "cumulative_current": float(cur[inside].sum()),
                     "corridor_cells": int(inside.sum()),
                     "corridor_area_km2": int(inside.sum()) * cell_area(cellsize) / 1e6})
        if progress:
            progress(c)
    return rows


# --------------------------------------------------------------------------- summary

def build_summary(*, cores: list[dict], links: list[Link], pinch: ClassPatches, barrier: ClassPatches | None,
                  n_breakpoints: int | None, indices: dict, importance: list[dict],
                  sweep: dict | None = None, timings: dict[str, float] | None = None,
                  sources: dict[str, str] | None = None, settings: dict | None = None, top_n: int = 5) -> dict:
    """The numbers of the summary, every one taken from the tables (nothing recomputed)."""
    act = active_links(links)
    s = {
        "sources": {"count": len(cores), "area_km2": float(sum(c["area_km2"] for c in cores))},
        "corridors": {"count": len(act), "length_km": indices["total_corridor_length_km"]},
        "pinchpoints": {"count": pinch.n, "area_km2": pinch.area_km2, "cells": pinch.cells,
                        "class": pinch.top, "lower": float(pinch.edges[pinch.top - 1]),
                        "upper": float(pinch.edges[pinch.top])},
        "barriers": None if barrier is None else {
            "count": barrier.n, "area_km2": barrier.area_km2, "cells": barrier.cells, "class": barrier.top,
            "lower": float(barrier.edges[barrier.top - 1]), "upper": float(barrier.edges[barrier.top])},
        "breakpoints": n_breakpoints,
        "network": {k: indices[k] for k in ("nodes", "edges", "alpha", "beta", "gamma", "pc")},
        "width": sweep,
        "top_corridors": importance[:top_n],
        "important_corridors": sum(r["class"] == "important" for r in importance),
        "timings": dict(timings or {}),
        "sources_files": dict(sources or {}),
        "settings": dict(settings or {}),
    }
    return s
