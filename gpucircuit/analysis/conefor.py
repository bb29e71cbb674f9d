"""Conefor's connectivity indices over habitat patches (Saura & Pascual-Hortal 2007; Saura & Rubio 2010).

Nodes are patches with attribute ``a_i`` (area), ``A_L`` the study-area area (same unit), ``d_ij``
edge-to-edge distances (``inf`` = no link).

* **PC / dPC** (probabilistic): :func:`gpucircuit.analysis.network_indices.pc_analysis` —
  ``p_ij = exp(−k d_ij)`` with ``p = P`` at the threshold ``D``; best-product paths;
  ``dPC = dPCintra + dPCflux + dPCconnector``.
* **IIC / dIIC** (binary): a link joins i and j when ``d_ij ≤ D``; ``nl_ij`` = links on the
  shortest (fewest-links) path; ``IIC = Σ_i Σ_j a_i a_j / (1 + nl_ij) / A_L²`` (i = j included,
  unreachable pairs add 0); ``dIIC_i = 100 (IIC − IIC without i) / IIC`` with ``A_L`` unchanged.
* **NC**: number of components of the binary graph at ``D`` (an isolated patch is one).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, shortest_path

from ..errors import InputError
from .network_indices import PCResult, pc_analysis, shortest_distances

__all__ = ["ConeforResult", "conefor_indices", "iic_analysis", "link_counts", "component_count", "threshold_sweep"]


@dataclass
class ConeforResult:
    """PC with dPC and its fractions (``pc``), IIC with dIIC (%), NC, at one threshold."""

    pc: PCResult
    iic: float
    diic: np.ndarray
    nc: int


def _matrix(areas, distances) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(areas, dtype=np.float64).ravel()
    d = np.array(distances, dtype=np.float64)
    if d.shape != (a.size, a.size):
        raise InputError(f"distance matrix has shape {d.shape}, expected ({a.size}, {a.size}) for {a.size} nodes")
    d[np.isnan(d)] = np.inf
    return a, d


def _threshold(d_threshold) -> float:
    try:
        dth = float(d_threshold)
    except (TypeError, ValueError):
        raise InputError(f"distance threshold must be a number, got {d_threshold!r}") from None
    if not (dth > 0 and math.isfinite(dth)):
        raise InputError(f"distance threshold must be a positive number, got {d_threshold!r}")
    return dth


def _adjacency(d: np.ndarray, dth: float) -> csr_matrix:
    adj = d <= dth
    np.fill_diagonal(adj, False)
    return csr_matrix(adj | adj.T)


def link_counts(distances, d_threshold) -> np.ndarray:
    """``nl_ij``: links on the fewest-links path at threshold ``D`` (0 on the diagonal, ``inf`` if none)."""
    d = np.array(distances, dtype=np.float64)
    return shortest_path(_adjacency(np.where(np.isnan(d), np.inf, d), _threshold(d_threshold)),
                         method="D", unweighted=True, directed=False)


def component_count(distances, d_threshold) -> int:
    """NC: connected components of the patches linked where ``d_ij ≤ D``."""
    d = np.array(distances, dtype=np.float64)
    if d.size == 0:
        return 0
    return int(connected_components(_adjacency(np.where(np.isnan(d), np.inf, d), _threshold(d_threshold)),
                                    directed=False)[0])


def _iic_num(a: np.ndarray, nl: np.ndarray) -> float:
    return float(a @ np.where(np.isfinite(nl), 1.0 / (1.0 + nl), 0.0) @ a)


def iic_analysis(areas, distances, d_threshold, landscape_area) -> tuple[float, np.ndarray]:
    """``(IIC, dIIC in %)``. Removing patch i changes ``nl`` only for pairs whose fewest-links
    paths pass through i, so the graph without i is searched only from those pairs' patches."""
    a, d = _matrix(areas, distances)
    dth = _threshold(d_threshold)
    AL = float(landscape_area)
    if not (AL > 0 and math.isfinite(AL)):
        raise InputError(f"landscape area must be a positive number, got {landscape_area!r}")
    if a.size == 0:
        raise InputError("IIC needs at least one patch")
    nl = link_counts(d, dth)
    num = _iic_num(a, nl)
    if num == 0:
        raise InputError("IIC is zero (all patch areas are zero); dIIC is undefined")
    diic = np.empty(a.size)
    finite = np.isfinite(nl)
    for i in range(a.size):
        keep = np.arange(a.size) != i
        via = nl[:, i][:, None] + nl[i, :][None, :]
        on_path = finite & (via == nl)
        on_path[i, :] = on_path[:, i] = False
        np.fill_diagonal(on_path, False)
        sub = nl[np.ix_(keep, keep)]
        src = np.flatnonzero(on_path.any(axis=1))
        if src.size:  # only searches from the patches whose paths went through i change
            pos = src - (src > i)
            rows = shortest_path(_adjacency(d[np.ix_(keep, keep)], dth), method="D", unweighted=True,
                                 directed=False, indices=pos)
            sub[pos] = rows
            sub[:, pos] = rows.T
        diic[i] = 100.0 * (num - _iic_num(a[keep], sub)) / num
    return num / AL**2, diic


def conefor_indices(areas, distances, d_threshold, p_threshold, landscape_area) -> ConeforResult:
    """PC, dPC (with intra / flux / connector), IIC, dIIC and NC at one distance threshold."""
    pc = pc_analysis(areas, distances, d_threshold, p_threshold, landscape_area)
    iic, diic = iic_analysis(areas, distances, d_threshold, landscape_area)
    return ConeforResult(pc=pc, iic=iic, diic=diic, nc=component_count(distances, d_threshold))


def threshold_sweep(areas, distances, thresholds, p_threshold, landscape_area) -> list[dict]:
    """Rows ``distance, nc, pc, iic`` per threshold (the studies' NC/PC-against-distance curve).

    ``p*`` needs one all-pairs search: the shortest path lengths do not depend on ``D``, only
    ``k = −ln P / D`` does.
    """
    a, d = _matrix(areas, distances)
    p = float(p_threshold)
    if not 0 < p < 1:
        raise InputError(f"probability at the distance threshold must be in (0, 1), got {p_threshold!r}")
    AL = float(landscape_area)
    if not (AL > 0 and math.isfinite(AL)):
        raise InputError(f"landscape area must be a positive number, got {landscape_area!r}")
    sp = shortest_distances(d)
    rows = []
    for t in thresholds:
        dth = _threshold(t)
        k = -math.log(p) / dth
        rows.append({"distance": dth, "nc": component_count(d, dth), "pc": float(a @ np.exp(-k * sp) @ a) / AL**2,
                     "iic": _iic_num(a, link_counts(d, dth)) / AL**2})
    return rows
