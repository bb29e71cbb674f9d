"""Batched nested-dissection elimination: many circuits on one S x S grid pattern at once.

Every window of a moving-window run has the same sparsity pattern (the full S x S grid with the
4- or 8-neighbour stencil; a cell without conductance simply has no edges), only the numbers
differ. So the symbolic work is done once per ``(S, four_neighbors)`` and the numeric work is
vectorised over a batch of B circuits (batch axis first):

* ordering: the rectangle is cut in two by a one-cell-wide row or column (a full line separates
  the 8-neighbour stencil too), recursively, down to leaf boxes of at most ``leaf`` cells;
* a node's front is its own cells plus the one-cell ring around its rectangle; the ring lies in
  ancestors' separators (or their rings), so a child's ring maps into its parent's front and the
  extend-add index maps are fixed;
* numeric, per node (multifrontal): gather the node's rows of each circuit's matrix, add the
  children's update matrices, factor the pivot block ``F11 = L L^T`` (batched Cholesky), form
  ``W = L^-1 [F12 | b1]``, pass ``F22 - W12^T W12`` to the parent and ``b2 -= W12^T Wb`` (the
  forward elimination runs with the factorisation: the right-hand sides are known up front);
  back substitution is ``x1 = L^-T (Wb - W12 x2)``, top down. ``L^-1`` is kept, not ``L``.

Why an explicit triangular inverse: NumPy has batched ``cholesky`` and ``matmul`` but no batched
triangular solve, and LAPACK's batched ``solve``/``inv`` cost more per small matrix than the
flops. ``L^-1`` comes from 2 x 2 block recursion (matmul) over row-by-row inverses of blocks of
``TRI_BLOCK``; measured against ``solve(F11, [F12 | b1])`` (LU) it was 1.5-2x faster at the
same accuracy. So the flops sit in batched gemm. On a GPU the same code runs on CuPy:
``cupy.linalg.cholesky`` on stacks (cuSOLVER potrfBatched) and batched ``matmul`` (cuBLAS
gemmStridedBatched); the index maps are moved to the device per node (small int arrays).

Flops and bytes kept per circuit: :func:`factor_stats` (radius 50 Omniscape windows, a
101 x 101 grid cut to the disc: about 45 MFlop and 3.8 MB).

Cells that are not ``active`` are held at 0 V: identity rows with zero right-hand side, and
their links to active cells only add to the active cells' diagonals (a grounded Dirichlet node).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..backend import array_module, to_host
from ..edges import GridEdges, neighbour_view
from ..errors import SolverError
from .dissection import bisection_tree

LEAF_CELLS = 48  # largest leaf box; measured on 2 cores (radius 50: 24-96 within 10 %)
TRI_BLOCK = 16  # triangular blocks this small are inverted row by row (measured: 12-24 alike)


@dataclass(frozen=True)
class FrontNode:
    """One node of the elimination tree, with its index maps (host integer arrays)."""

    own: np.ndarray  # cells eliminated here (flat S*S indices)
    ring: np.ndarray  # cells of the ring, eliminated by ancestors
    gather: np.ndarray  # per entry of the flat (f, f) front: its place in the value table (past the end: 0)
    put: np.ndarray  # the front entries the value table gives (nodes with children add them to the gather)
    take: np.ndarray  # ... and their places in the table
    children: tuple[tuple[int, np.ndarray], ...]  # (node, per front entry: its place in that child's update)

    @property
    def size(self) -> int:
        return self.own.size + self.ring.size


def _box_cells(box, size):
    r0, r1, c0, c1 = box
    rr, cc = np.meshgrid(np.arange(r0, r1), np.arange(c0, c1), indexing="ij")
    return (rr * size + cc).ravel()


def _ring_cells(rect, size, four_neighbors):
    """Cells outside ``rect`` next to it (diagonal corners only for the 8-neighbour stencil)."""
    r0, r1, c0, c1 = rect
    rr, cc = np.meshgrid(np.arange(r0 - 1, r1 + 1), np.arange(c0 - 1, c1 + 1), indexing="ij")
    inside = (rr >= r0) & (rr < r1) & (cc >= c0) & (cc < c1)
    corner = ((rr == r0 - 1) | (rr == r1)) & ((cc == c0 - 1) | (cc == c1))
    keep = ~inside & (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
    if four_neighbors:
        keep &= ~corner
    return (rr[keep] * size + cc[keep]).ravel()


def _stencil(four_neighbors):
    """(di, dj) of the stored edge directions, in GridEdges' order."""
    return [(0, 1), (1, 0)] + ([] if four_neighbors else [(1, 1), (1, -1)])


def _assembly(own, front, size, four_neighbors):
    """(positions in the flat front, indices into the value table) of the own rows' entries:
    the diagonal, links inside the front (both ways when the other end is in the ring)."""
    n = size * size
    loc = np.full(n, -1)
    loc[front] = np.arange(front.size)
    f = front.size
    own_set = np.zeros(n, bool)
    own_set[own] = True
    put = [loc[own] * f + loc[own]]
    take = [own]
    r, c = own // size, own % size
    for k, (di, dj) in enumerate(_stencil(four_neighbors)):
        base = n * (k + 1)
        for sign in (1, -1):  # the link to the neighbour at +(di, dj), then at -(di, dj)
            rn, cn = r + sign * di, c + sign * dj
            ok = (rn >= 0) & (rn < size) & (cn >= 0) & (cn < size)
            i, j = own[ok], rn[ok] * size + cn[ok]
            ok = loc[j] >= 0
            i, j = i[ok], j[ok]
            edge = base + (i if sign == 1 else j)  # a link is stored at its upper-left end
            put.append(loc[i] * f + loc[j])
            take.append(edge)
            ring = ~own_set[j]
            put.append(loc[j[ring]] * f + loc[i[ring]])
            take.append(edge[ring])
    return np.concatenate(put), np.concatenate(take)


def _gather_map(put, f, take=None, end=None):
    """Per entry of a flat (f, f) front, where to read it: ``take`` (default: 0, 1, ...) at the
    positions ``put``, the zero past the end of the source (``end``, default put.size) elsewhere.
    Fronts are gathered, not scattered into: one pass per source, batch axis first, no transposes."""
    end = put.size if end is None else end
    out = np.full(f * f, end, dtype=np.int32 if end < 2 ** 31 else np.int64)
    out[put] = np.arange(put.size) if take is None else take
    return out


def _square_distance(size: int, span: int):
    """Per axis, each cell's distance to the centres' span [c, c + span] (c = (size - 1 - span) // 2),
    and to the span's far end (the farthest centre)."""
    i = np.arange(size)
    c = (size - 1 - span) // 2
    near = np.maximum(np.maximum(c - i, i - c - span), 0)
    far = np.maximum(np.abs(i - c), np.abs(i - c - span))
    return near, far


def pattern_cells(size: int, radius: float | None, span: int = 0) -> np.ndarray:
    """(S, S) True on the cells that may carry a link: all, or those within ``radius`` of the
    centre (a moving window's disc; the corners outside it are never unknowns); with ``span``, of
    any centre in a span x span square (the frame of a group of neighbouring windows)."""
    if radius is None:
        return np.ones((size, size), bool)
    near, _ = _square_distance(size, span)
    return np.hypot(near[:, None], near[None, :]) <= radius


def dissection(size: int, four_neighbors: bool, leaf: int = LEAF_CELLS,
               radius: float | None = None, span: int = 0) -> tuple[FrontNode, ...]:
    """The elimination tree of an S x S grid (or of its cells in :func:`pattern_cells`), children
    before parents (symbolic, done once: one cache entry however the arguments are passed)."""
    return _dissection(size, four_neighbors, leaf, radius, span)


@lru_cache(maxsize=4)  # a radius-100 tree holds ~70 MB of int32 maps
def _dissection(size, four_neighbors, leaf, radius, span) -> tuple[FrontNode, ...]:
    """:func:`dissection`, cached; nodes left with no cells are dropped."""
    boxes = bisection_tree((size, size), leaf)
    keep = pattern_cells(size, radius, span).ravel()
    nodes: list[FrontNode] = []
    index: dict[int, int] = {}
    for b, (own_box, rect, kids) in enumerate(boxes):
        own = _box_cells(own_box, size)
        ring = _ring_cells(rect, size, four_neighbors)
        own, ring = own[keep[own]], ring[keep[ring]]
        if own.size + ring.size == 0:
            continue
        front = np.concatenate([own, ring])
        put, take = _assembly(own, front, size, four_neighbors)
        loc = np.full(size * size, -1)
        loc[front] = np.arange(front.size)
        maps = []
        for k in (index[k] for k in kids if k in index):
            pos = loc[nodes[k].ring]
            assert (pos >= 0).all(), "a child's ring must lie in its parent's front"
            if pos.size:
                maps.append((k, _gather_map((pos[:, None] * front.size + pos[None, :]).ravel(), front.size)))
        index[b] = len(nodes)
        table = (1 + len(_stencil(four_neighbors))) * size * size
        nodes.append(FrontNode(own, ring, _gather_map(put, front.size, take, table), put, take, tuple(maps)))
    return tuple(nodes)


@lru_cache(maxsize=4)
def shared_nodes(size: int, four_neighbors: bool, radius: float, span: int) -> np.ndarray:
    """Per node of ``dissection(size, four_neighbors, radius=radius, span=span)``: True when its whole
    subtree and ring lie in the core (within ``radius`` of every centre of the span square) and
    off the square (where the windows' targets are). Such a subtree is the same circuit in every
    window of a group, so a group eliminates it once."""
    nodes = dissection(size, four_neighbors, radius=radius, span=span)  # the solve's call: one cache entry
    near, far = _square_distance(size, span)
    core = (np.hypot(far[:, None], far[None, :]) <= radius).ravel()
    centres = (near[:, None] == 0) & (near[None, :] == 0)
    off_centres = ~centres.ravel()
    out = np.zeros(len(nodes), bool)
    for k, node in enumerate(nodes):
        out[k] = (core[node.own].all() and core[node.ring].all() and off_centres[node.own].all()
                  and off_centres[node.ring].all() and all(out[c] for c, _ in node.children))
    return out


def factor_stats(size: int, four_neighbors: bool, rhs: int = 1, radius: float | None = None) -> dict:
    """Flops and bytes kept per circuit, over every node of the elimination tree: Cholesky
    (p^3/3), triangular inverse (~p^3/3), W (2 p^2 (r + q)), the full-gemm update (2 p r^2),
    forward and back substitution (4 p r q + 2 p^2 q)."""
    flops = kept = 0
    for node in dissection(size, four_neighbors, radius=radius):
        p, r = node.own.size, node.ring.size
        flops += 2 * p ** 3 / 3 + 2 * p * p * (r + rhs) + 2 * p * r * r + 4 * p * r * rhs + 2 * p * p * rhs
        kept += p * (p + r + rhs)
    return {"flops": flops, "kept_bytes": 8 * kept}


def grid_values(edges: GridEdges, active):
    """The value table (B, (1 + directions) S*S) of the grounded matrices: diagonals first (1 on
    held cells), then each direction's negated link weights (0 where an end is held)."""
    xp = array_module(edges.e)
    b = edges.e.shape[0]
    act = active.astype(edges.e.dtype)
    diag = xp.where(active, edges.degree(), 1.0)
    parts = [diag.reshape(b, -1)]
    for w, di, dj in edges.directions():
        both = act * neighbour_view(act, di, dj, 0.0)
        parts.append((-w * both).reshape(b, -1))
    return xp.concatenate(parts, axis=1)


_NOT_SPD = ("batched window elimination failed: a window's grounded matrix is not positive definite "
            "(an unknown cell with no path to a held cell, or conductances out of floating-point range)")


def _lower_inverse(low):
    """Inverses of a stack of lower-triangular matrices, by 2 x 2 blocks: all the flops go to
    batched matmul (no batched triangular solve in NumPy; gemm is what a GPU wants)."""
    xp = array_module(low)
    p = low.shape[-1]
    if p <= TRI_BLOCK:  # row by row: cheaper than LAPACK's per-matrix set-up at these sizes
        out = xp.zeros_like(low)
        diag = 1.0 / xp.diagonal(low, axis1=1, axis2=2)
        out[:, 0, 0] = diag[:, 0]
        for i in range(1, p):
            out[:, i, i] = diag[:, i]
            out[:, i, :i] = -(low[:, i:i + 1, :i] @ out[:, :i, :i])[:, 0] * diag[:, i:i + 1]
        return out
    h = p // 2
    a = _lower_inverse(low[:, :h, :h])
    d = _lower_inverse(low[:, h:, h:])
    out = xp.zeros_like(low)
    out[:, :h, :h] = a
    out[:, h:, h:] = d
    out[:, h:, :h] = -(d @ (low[:, h:, :h] @ a))
    return out


@lru_cache(maxsize=4)
def _shared_entries(size: int, four_neighbors: bool, radius: float, span: int) -> np.ndarray:
    """The value-table entries that the shared subtrees read (sorted, host)."""
    nodes = dissection(size, four_neighbors, radius=radius, span=span)
    used = [node.take if node.children else node.gather
            for node, s in zip(nodes, shared_nodes(size, four_neighbors, radius, span)) if s]
    table = (1 + len(_stencil(four_neighbors))) * size * size
    used = np.unique(np.concatenate(used)) if used else np.zeros(0, int)
    return used[used < table]  # the gathers' zero past the end is not an entry


def _split_groups(values, groups, used):
    """(group per window, representative window per group): windows of a group whose value-table
    entries ``used`` by the shared subtrees differ from their representative's (another component
    reached through their own annulus, a target's link) are given groups of their own."""
    xp = array_module(values)
    _, reps, host = np.unique(to_host(groups), return_index=True, return_inverse=True)
    host = host.ravel()
    read = values[:, xp.asarray(used)]
    alike = to_host((read == read[xp.asarray(reps[host])]).all(axis=1))
    del read
    host = np.where(alike, host, reps.size + np.arange(host.size))
    _, reps, host = np.unique(host, return_index=True, return_inverse=True)
    return xp.asarray(host.ravel()), xp.asarray(reps)


def solve_grid_batch(edges: GridEdges, active, rhs, radius: float | None = None, span: int = 0, groups=None):
    """Potentials (B, q, S, S) of B grid circuits for q right-hand sides each.

    ``edges``: link weights as (B, S, S) arrays; ``active``: (B, S, S) bool, the unknowns (the
    others are held at 0 V; an active component must touch a held cell, so each matrix is SPD);
    ``rhs``: (B, q, S, S) currents injected (ignored on held cells); ``radius``, ``span``: every
    active cell lies in :func:`pattern_cells` (None: the whole grid). ``groups`` (B,): windows of a
    group of neighbours laid on one frame (their centres in the span square, see
    :func:`shared_nodes`); their common subtrees are eliminated once per group."""
    xp = array_module(edges.e)
    b, q, size, _ = rhs.shape
    nodes = dissection(size, edges.se is None, radius=radius, span=span)
    zero = xp.zeros((b, 1), dtype=edges.e.dtype)
    values = xp.concatenate([grid_values(edges, active), zero], axis=1)
    shared = np.zeros(len(nodes), bool)
    if groups is not None and radius is not None:
        shared = shared_nodes(size, edges.se is None, radius, span)
        groups, reps = _split_groups(values, groups, _shared_entries(size, edges.se is None, radius, span))
        values_once = values[reps]
    rest = xp.where(active[:, None], rhs, 0.0).reshape(b, q, -1).transpose(0, 2, 1).copy()  # (B, n, q)
    kept = []
    pending = {}
    for k, node in enumerate(nodes):
        p, f = node.own.size, node.size
        once = shared[k]
        source = values_once if once else values
        n_b = source.shape[0]
        if node.children:  # the children's updates fill the front; the matrix adds its few entries
            front = None
            for child, where in node.children:
                update = pending.pop(child)
                if shared[child] and not once:  # a group's update, passed to each of its windows
                    update = update[groups]
                part = xp.take(update, xp.asarray(where), axis=1)
                if front is None:
                    front = part
                else:
                    front += part
            front[:, xp.asarray(node.put)] += source[:, xp.asarray(node.take)]
        else:
            front = xp.take(source, xp.asarray(node.gather), axis=1)
        own, ring = xp.asarray(node.own), xp.asarray(node.ring)
        if p == 0:  # a node whose cells all lie outside the pattern passes its children's updates on
            pending[k] = xp.concatenate([front, zero[:n_b]], axis=1)
            kept.append(None)
            continue
        front = front.reshape(n_b, f, f)
        try:
            low = xp.linalg.cholesky(front[:, :p, :p])
        except np.linalg.LinAlgError:  # CuPy raises NumPy's too, when it raises
            raise SolverError(_NOT_SPD) from None
        l_inv = _lower_inverse(low)
        if once:  # the factor once per group (kept so: memory), the right-hand sides per window
            w12 = l_inv @ front[:, :p, p:]
            update = front[:, p:, p:] - w12.transpose(0, 2, 1) @ w12
            wb = l_inv[groups] @ rest[:, own]
        else:
            w = l_inv @ xp.concatenate([front[:, :p, p:], rest[:, own]], axis=2)  # L11^-1 [F12 | b1]
            w12, wb = w[:, :, :f - p], w[:, :, f - p:]
            update = front[:, p:, p:] - w12.transpose(0, 2, 1) @ w12 if f > p else None
        if f > p:
            pending[k] = xp.concatenate([update.reshape(n_b, -1), zero[:n_b]], axis=1)
            rest[:, ring] -= (w12[groups] if once else w12).transpose(0, 2, 1) @ wb
        kept.append((own, ring, l_inv, w12, wb, groups if once else None))
    x = xp.zeros_like(rest)
    for factor in reversed(kept):
        if factor is None:
            continue
        own, ring, l_inv, w12, wb, index = factor
        if index is not None:  # a group's factor, handed to each of its windows
            l_inv, w12 = l_inv[index], w12[index]
        y = wb - w12 @ x[:, ring] if ring.size else wb
        x[:, own] = l_inv.transpose(0, 2, 1) @ y
    if not bool(xp.isfinite(x).all()):  # CuPy's Cholesky does not raise: a failed pivot gives NaN
        raise SolverError(_NOT_SPD)
    return x.transpose(0, 2, 1).reshape(b, q, size, size)
