"""Ecological sources: candidate habitat patches, their edge-to-edge distances and their selection.

The studies' first step: connected patches of MSPA core (or of chosen classes, a binary habitat
map, or the top cells of an ecosystem-service score), patches below a minimum area dropped,
ranked by Conefor's dPC (:mod:`gpucircuit.analysis.conefor`) and selected by a dPC floor, a
count or a share.

Distances are edge to edge: the smallest distance between a cell of one patch and a cell of the
other, Euclidean between cell centres (map units) or the least cost-weighted distance
(:mod:`gpucircuit.analysis.cwd`, Linkage Mapper's CWD: cost units = resistance × map units).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..backend import get_backend, ndimage_module, to_host
from ..errors import InputError
from .conefor import ConeforResult, conefor_indices
from .cwd import CostSurface, cell_steps

__all__ = ["Patches", "Screening", "screen_sources", "candidate_patches", "top_score_cells", "euclidean_edge_distances", "cost_edge_distances",
           "select_patches", "parse_sweep"]


@dataclass
class Patches:
    """Candidate patches: ``labels`` (int32, ids 1..n in raster-scan order, 0 = none) and per id
    (index ``id − 1``) the cell count and area in km²."""

    labels: np.ndarray
    cells: np.ndarray
    area_km2: np.ndarray

    @property
    def n(self) -> int:
        return int(self.cells.size)

    @property
    def ids(self) -> np.ndarray:
        return np.arange(1, self.n + 1)


def candidate_patches(mask, cell_area_m2: float, min_area_km2: float = 0.0, connectivity: int = 8,
                      xp=None) -> tuple[Patches, int]:
    """Connected patches of ``mask`` with at least ``min_area_km2``; ``(patches, count before the filter)``."""
    if connectivity not in (4, 8):
        raise InputError(f"patch connectivity must be 4 or 8, got {connectivity!r}")
    if not (min_area_km2 >= 0 and math.isfinite(min_area_km2)):
        raise InputError(f"minimum area must be a non-negative number of km², got {min_area_km2!r}")
    xp = xp or get_backend().xp
    ndi = ndimage_module(xp)
    structure = xp.ones((3, 3), dtype=bool) if connectivity == 8 else \
        xp.asarray(np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool))
    lab, n = ndi.label(xp.asarray(np.asarray(mask, dtype=bool)), structure=structure)
    n = int(n)
    cells = to_host(xp.bincount(lab.ravel(), minlength=n + 1))[1:]
    area = cells * cell_area_m2 / 1e6
    keep = area >= min_area_km2 * (1 - 1e-12)
    renumber = np.zeros(n + 1, dtype=np.int32)
    renumber[1:][keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    labels = to_host(xp.asarray(renumber)[lab]).astype(np.int32)
    return Patches(labels=labels, cells=cells[keep], area_km2=area[keep]), n


def top_score_cells(score, valid, top_percent: float) -> np.ndarray:
    """Cells whose score is among the top ``top_percent`` % of the valid, finite scores (cells tied
    with the last one taken are all taken)."""
    if not (0 < top_percent <= 100):
        raise InputError(f"--top-percent must be in (0, 100], got {top_percent!r}")
    s = np.asarray(score, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool) & np.isfinite(s)
    vals = np.sort(s[ok])[::-1]
    if vals.size == 0:
        raise InputError("the score raster has no valid cell inside the study area")
    k = max(1, math.ceil(top_percent / 100.0 * vals.size))
    return ok & (s >= vals[k - 1])


def _boundary_cells(labels: np.ndarray, n: int) -> list[np.ndarray]:
    """Per patch, the (row, col) of its cells with a neighbour (of 8) outside it: the nearest cell
    of a patch to any outside point is one of these (a step towards the point stays inside)."""
    from scipy import ndimage

    inner = ndimage.grey_erosion(labels, size=(3, 3), mode="nearest") == labels
    inner &= ndimage.grey_dilation(labels, size=(3, 3), mode="nearest") == labels
    rows, cols = np.nonzero((labels > 0) & ~inner)
    ids = labels[rows, cols]
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(1, n + 2))
    return [np.column_stack([rows[order][bounds[i]:bounds[i + 1]], cols[order][bounds[i]:bounds[i + 1]]])
            for i in range(n)]


def euclidean_edge_distances(labels, n: int, cellsize=1.0) -> np.ndarray:
    """``n × n`` smallest centre-to-centre distances between patches' cells (map units; 0 on the diagonal)."""
    from scipy.spatial import cKDTree

    dx, dy = cell_steps(cellsize)
    cells = [b * np.array([dy, dx]) for b in _boundary_cells(np.asarray(labels), n)]
    trees = [cKDTree(c) for c in cells]
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            small, big = (i, j) if len(cells[i]) <= len(cells[j]) else (j, i)
            d[i, j] = d[j, i] = float(trees[big].query(cells[small], k=1)[0].min())
    return d


def cost_edge_distances(labels, n: int, resistance, cellsize=1.0, method: str = "auto",
                        progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """``n × n`` least cost-weighted distances between patches (minimum over the other patch's cells
    of the CWD from this one; symmetric by taking the smaller direction). ``inf`` = unreachable."""
    from scipy import ndimage

    labels = np.asarray(labels)
    surface = CostSurface(resistance, cellsize)
    on_data = np.bincount(labels[surface.valid].ravel(), minlength=n + 1)[1:]
    if np.any(on_data == 0):
        bad = np.flatnonzero(on_data == 0)[:5] + 1
        raise InputError(f"patches {', '.join(map(str, bad))} lie wholly on resistance nodata")
    d = np.zeros((n, n))
    ids = np.arange(1, n + 1)
    for i in range(n):
        cwd = surface.distance(labels == i + 1, method=method)
        d[i] = ndimage.minimum(cwd, labels, ids)
        if progress:
            progress(i + 1, n)
    d = np.minimum(d, d.T)
    np.fill_diagonal(d, 0.0)
    return d


def select_patches(dpc, *, dpc_min: float | None = None, top: int | None = None,
                   top_percent: float | None = None) -> np.ndarray:
    """Selected patches (boolean, by dPC): ``dpc ≥ dpc_min``, the ``top`` largest, or the largest
    ``ceil(top_percent % × n)``; at most one rule; none = all.  Ties at the cut go by patch id."""
    rules = [x is not None for x in (dpc_min, top, top_percent)]
    if sum(rules) > 1:
        raise InputError("choose one selection rule: --dpc-min, --top or --top-percent")
    v = np.asarray(dpc, dtype=np.float64)
    if dpc_min is not None:
        return v >= dpc_min
    if top_percent is not None:
        if not 0 < top_percent <= 100:
            raise InputError(f"--top-percent must be in (0, 100], got {top_percent!r}")
        top = math.ceil(top_percent / 100.0 * v.size)
    if top is None:
        return np.ones(v.size, dtype=bool)
    if top < 1:
        raise InputError(f"--top must be at least 1, got {top}")
    chosen = np.zeros(v.size, dtype=bool)
    chosen[np.argsort(-v, kind="stable")[:top]] = True
    return chosen


def parse_sweep(text: str) -> list[float]:
    """``"500:5000:500"`` → ``[500, 1000, …, 5000]`` (start:stop:step, stop included)."""
    try:
        start, stop, step = (float(x) for x in str(text).split(":"))
    except ValueError:
        raise InputError(f"--sweep {text!r} must be START:STOP:STEP, e.g. 500:5000:500") from None
    if not (start > 0 and step > 0 and stop >= start) or not all(map(math.isfinite, (start, stop, step))):
        raise InputError(f"--sweep {text!r}: need 0 < START <= STOP and STEP > 0")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > 1000:
        raise InputError(f"--sweep {text!r} gives {count} thresholds; at most 1000")
    return [start + i * step for i in range(count)]


#: above this many patches :func:`screen_sources` warns that dPC will be slow
LARGE_NETWORK = 300


@dataclass
class Screening:
    """What :func:`screen_sources` found: the candidates, their distance matrix, Conefor's indices
    (indexed by patch id − 1), the selection and the study area (km², Conefor's A_L)."""

    patches: Patches
    found: int                      # patches before the area filter
    distances: np.ndarray
    indices: ConeforResult
    selected: np.ndarray
    landscape_km2: float


def screen_sources(cells, study, cell_area_m2: float, cellsize, *, min_area_km2: float = 0.0, connectivity: int = 8,
                   distance: float = 5000.0, probability: float = 0.5, resistance=None, dpc_min: float | None = None,
                   top: int | None = None, top_percent: float | None = None,
                   progress: Callable[[int, int], None] | None = None,
                   notice: Callable[[str], None] | None = None) -> Screening:
    """Candidate patches of ``cells`` inside ``study`` (boolean rasters), filtered by area, with
    Conefor's indices at ``distance`` / ``probability`` over edge-to-edge distances (Euclidean, or
    cost-weighted over ``resistance``) and the selection by dPC (:func:`select_patches`).

    ``A_L`` is the area of ``study``.  InputError when no patch is left.  ``notice(message)`` is
    told when the patch count makes dPC slow (one all-pairs search per connector patch: about
    1 min for 400 patches with all pairs linked).
    """
    study = np.asarray(study, dtype=bool)
    patches, found = candidate_patches(np.asarray(cells, dtype=bool) & study, cell_area_m2, min_area_km2,
                                       connectivity)
    if patches.n == 0:
        raise InputError("no candidate patch" + (f" ({found} patches, all below the minimum area "
                                                 f"{min_area_km2:g} km²)" if found else " (no habitat cell)"))
    if notice and patches.n > LARGE_NETWORK:
        notice(f"{patches.n} candidate patches: dPC needs one all-pairs search per connector patch and may take "
               "minutes; a minimum area keeps the count down")
    if resistance is not None:
        d = cost_edge_distances(patches.labels, patches.n, resistance, cellsize, progress=progress)
    else:
        d = euclidean_edge_distances(patches.labels, patches.n, cellsize)
    landscape = float(study.sum()) * cell_area_m2 / 1e6
    indices = conefor_indices(patches.area_km2, d, distance, probability, landscape)
    selected = select_patches(indices.pc.dpc, dpc_min=dpc_min, top=top, top_percent=top_percent)
    return Screening(patches=patches, found=found, distances=d, indices=indices, selected=selected,
                     landscape_km2=landscape)
