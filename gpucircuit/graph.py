"""Graphs given as edge lists (Circuitscape network mode, core-link networks): CSR Laplacian and components."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .errors import InputError


@dataclass
class Network:
    """Undirected weighted graph: node ids (sorted) and edges as index pairs with conductances."""

    ids: np.ndarray  # node ids as given (int64), sorted
    a: np.ndarray  # edge endpoints (indices into ids), a < b
    b: np.ndarray
    g: np.ndarray  # edge conductances (duplicates summed)

    @classmethod
    def from_edges(cls, u, v, g, ids=None) -> "Network":
        u, v, g = np.asarray(u, np.int64), np.asarray(v, np.int64), np.asarray(g, np.float64)
        ids = np.unique(np.concatenate([u, v])) if ids is None else np.unique(ids)
        a, b = np.searchsorted(ids, u), np.searchsorted(ids, v)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = (lo != hi) & (g > 0)
        n = ids.size
        m = sp.coo_matrix((g[keep], (lo[keep], hi[keep])), shape=(n, n)).tocsr()
        m.sum_duplicates()
        coo = m.tocoo()
        return cls(ids, coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data)

    @property
    def n(self) -> int:
        return int(self.ids.size)

    def laplacian(self) -> sp.csr_matrix:
        n = self.n
        off = sp.coo_matrix((-self.g, (self.a, self.b)), shape=(n, n))
        deg = np.bincount(self.a, self.g, n) + np.bincount(self.b, self.g, n)
        return (off + off.T + sp.diags(deg)).tocsr()

    def components(self) -> np.ndarray:
        adj = sp.coo_matrix((np.ones(self.a.size), (self.a, self.b)), shape=(self.n, self.n))
        _, lab = connected_components(adj, directed=False)
        return lab

    def index_of(self, node_ids, what: str) -> np.ndarray:
        node_ids = np.asarray(node_ids, np.int64)
        idx = np.searchsorted(self.ids, node_ids)
        idx = np.clip(idx, 0, self.n - 1)
        missing = self.ids[idx] != node_ids
        if missing.any():
            raise InputError(f"{what}: node {int(node_ids[missing][0])} is not in the graph")
        return idx


def read_network(path, is_resistance: bool) -> Network:
    """``node node value`` rows; values are resistances (conductance = 1/value) or conductances."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"graph file not found: {path}")
    try:
        data = np.loadtxt(path, ndmin=2, comments=("#", ";"))
    except ValueError as err:
        raise InputError(f"cannot read graph file {path}: {err}") from None
    if data.size == 0 or data.shape[1] < 3:
        raise InputError(f"graph file {path} must have rows 'node node value'")
    u, v, w = data[:, 0], data[:, 1], data[:, 2]
    if np.isnan(w).any() or (is_resistance and (w <= 0).any()) or (w < 0).any():
        row = int(np.flatnonzero(np.isnan(w) | (w <= 0 if is_resistance else w < 0))[0]) + 1
        kind = "resistance" if is_resistance else "conductance"
        raise InputError(f"graph file {path} row {row}: {kind} {w[row - 1]:g} is not allowed")
    g = 1.0 / w if is_resistance else w
    return Network.from_edges(u, v, g)
