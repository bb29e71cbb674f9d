"""From grid cells to the unknowns of a grounded raster circuit and back.

The unknowns are the node voltages of the *active* cells (nodes of the solved components not
held at 0 V); the cells of one merged region share one unknown. Injecting current into any cell
of a merged region injects it into the region's node.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..edges import shift_slices
from ..grid import RasterGraph


def unknown_count(active: np.ndarray, merge: np.ndarray) -> int:
    """How many unknowns ``unknown_index`` numbers, without making the (m, n) numbering."""
    grouped = active & (merge > 0)
    return int(np.count_nonzero(active & ~grouped)) + int(np.unique(merge[grouped]).size)


def unknown_index(active: np.ndarray, merge: np.ndarray) -> tuple[np.ndarray, int]:
    """Cell -> unknown id (-1 where inactive); cells of one merged region share an id.
    int32 ids below 2**31 cells: 4 B/cell less on the assembled-matrix paths."""
    uid = np.full(active.shape, -1, dtype=np.int32 if active.size < 2**31 else np.int64)
    own = active & (merge == 0)
    n_own = int(own.sum())
    # column-major numbering, as Circuitscape numbers its nodes
    uid.T[own.T] = np.arange(n_own)
    grouped = active & (merge > 0)
    if grouped.any():
        _, inv = np.unique(merge[grouped], return_inverse=True)
        uid[grouped] = n_own + inv
        return uid, n_own + int(inv.max()) + 1
    return uid, n_own


def reduced_laplacian(graph: RasterGraph, uid: np.ndarray, n: int, ground_g: np.ndarray | None) -> sp.csr_matrix:
    """Node-space matrix over the unknowns: Laplacian + finite grounds, Dirichlet rows removed."""
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    for w, di, dj in graph.edges.directions():
        src, dst = shift_slices(di, dj)
        wv, ua, ub = w[src].ravel(), uid[src].ravel(), uid[dst].ravel()
        keep = (wv != 0) & (ua != ub)  # edges inside a merged region carry no current
        wv, ua, ub = wv[keep], ua[keep], ub[keep]
        for u in (ua, ub):
            ok = u >= 0
            diag += np.bincount(u[ok], weights=wv[ok], minlength=n)
        both = (ua >= 0) & (ub >= 0)
        rows += [ua[both], ub[both]]
        cols += [ub[both], ua[both]]
        vals += [-wv[both], -wv[both]]
    if ground_g is not None:
        ok = uid >= 0
        diag += np.bincount(uid[ok], weights=ground_g[ok], minlength=n)
    rows.append(np.arange(n))
    cols.append(np.arange(n))
    vals.append(diag)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def to_unknowns(uid: np.ndarray, n: int, rhs_grid: np.ndarray) -> np.ndarray:
    """(k, m, n) cell injections -> (k, n_unknowns); injections on inactive cells are dropped."""
    k = rhs_grid.shape[0]
    flat = rhs_grid.reshape(k, -1)
    u = uid.ravel()
    ok = u >= 0
    out = np.zeros((k, n))
    for i in range(k):
        out[i] = np.bincount(u[ok], weights=flat[i, ok], minlength=n)
    return out


def to_grid(uid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(k, n_unknowns) -> (k, m, n); cells that are not unknowns get 0 V."""
    k = x.shape[0]
    u = uid.ravel()
    out = np.zeros((k, u.size))
    ok = u >= 0
    out[:, ok] = x[:, u[ok]]
    return out.reshape((k,) + uid.shape)
