"""A grounded raster circuit, set up once and solved for many right-hand sides.

A thin facade over the solver classes: it finds the unknowns (``unknowns``), picks the method
(``choice``), sets up one solver (``sparse.DirectSolver``, ``grid_solver.GridMultigridSolver``
or ``sparse.AmgSolver``), and puts every solve through the residual check (``residual``).
Right-hand sides and solutions live on the grid (k, m, n).

Methods: ``direct`` (sparse LU: small problems, many right-hand sides on a CPU, and the
independent check), ``mg`` (matrix-free grid multigrid + batched PCG), ``amg`` (pyamg smoothed
aggregation + PCG, Circuitscape's algorithm, as a cross-check). ``auto`` picks by size and
right-hand sides. Spreading solves over a cluster is ``gpucircuit.distribute``'s job, above this.
"""
from __future__ import annotations

import time

import numpy as np

from ..backend import get_backend
from ..errors import SolverError
from ..grid import RasterGraph
from . import residual
from .choice import pick_method
from .options import SolveOptions, SolveStats
from .unknowns import reduced_laplacian, to_grid, to_unknowns, unknown_count, unknown_index


class GroundedSystem:
    """Voltages of a raster circuit for batches of current injections.

    ``fixed`` marks cells held at 0 V (a merged region with one fixed cell is fixed whole);
    ``ground_g`` adds finite conductances to ground; ``solve_mask`` limits the solve to some
    components (cells outside it stay at 0 V). Every solved component must be grounded.
    ``setup=False`` does the bookkeeping only (unknowns, method, stats), for a caller that
    solves elsewhere. ``lend_edges`` lets a host solver mask the graph's own edge arrays instead
    of copying them (no second copy at scale); they stay masked until :meth:`release`.
    """

    def __init__(self, graph: RasterGraph, fixed=None, ground_g=None, solve_mask=None,
                 options: SolveOptions | None = None, rhs_hint: int = 1, setup: bool = True,
                 lend_edges: bool = False):
        t0 = time.perf_counter()  # the set-up time counts the masks and checks too, not only the solver
        self.graph = graph
        self.options = options or SolveOptions()
        if self.options.client is not None:  # a silent local solve would hide a lost cluster
            raise SolverError("internal error: a GroundedSystem solves locally; spread solves over a "
                              "cluster with gpucircuit.distribute.grounded_system")
        node = graph.node
        fixed = np.zeros(graph.shape, bool) if fixed is None else (np.asarray(fixed, bool) & node)
        if (graph.merge > 0).any() and fixed.any():
            fixed_regions = np.unique(graph.merge[fixed & (graph.merge > 0)])
            fixed = fixed | np.isin(graph.merge, fixed_regions[fixed_regions > 0])
        keep = node if solve_mask is None else (node & solve_mask)
        self._fixed_bits = np.packbits(fixed)  # 1 bit a cell kept through the solves, not a byte
        self.active = keep & ~fixed
        self.ground_g = None if ground_g is None else np.where(self.active, ground_g, 0.0)
        self.n = unknown_count(self.active, graph.merge)
        self._uid = None  # the (m, n) numbering, made only for an assembled matrix
        self._check_grounded(keep, fixed)
        del node, keep, fixed
        self.method = pick_method(self.options, self.n, rhs_hint, on_grid=True, gpu=get_backend().is_gpu)
        self.stats = SolveStats(self.method, self.n)
        self.solver = None
        if setup and self.n:
            try:
                self.solver = self._make_solver(lend_edges)
            except BaseException:
                if lend_edges:  # a setup that failed half-way may have masked some edges
                    graph.restore_edges(self.active)
                raise
            self.stats.setup_s = time.perf_counter() - t0
            self.stats.levels = self.solver.levels

    @property
    def uid(self) -> np.ndarray:
        """Cell -> unknown id (-1 where the cell is not an unknown)."""
        if self._uid is None:
            self._uid, _ = unknown_index(self.active, self.graph.merge)
        return self._uid

    def release(self) -> None:
        """Free the solver; edges it masked in the graph's own arrays are remade first-hand."""
        lent = getattr(self.solver, "lent_edges", False)
        self.solver = self._uid = None
        if lent:
            self.graph.restore_edges(self.active)

    @property
    def fixed(self) -> np.ndarray:
        """Cells held at 0 V (bool (m, n))."""
        shape = self.graph.shape
        return np.unpackbits(self._fixed_bits, count=shape[0] * shape[1]).view(bool).reshape(shape)

    def _check_grounded(self, keep, fixed):
        comp = self.graph.components
        grounded = np.zeros(int(comp.max()) + 1, bool)
        grounded[np.unique(comp[fixed])] = True
        if self.ground_g is not None:
            grounded[np.unique(comp[self.ground_g > 0])] = True
        # components with a kept cell, by counting (a sort of every kept cell took 0.5 s at 24 M)
        used = np.flatnonzero(np.bincount(comp[keep], minlength=grounded.size))
        missing = [c for c in used if c > 0 and not grounded[c]]
        if missing:
            raise SolverError(f"internal error: component {missing[0]} is solved without a ground")

    def _make_solver(self, lend_edges: bool):
        if self.method == "mg":
            from .grid_solver import GridMultigridSolver

            return GridMultigridSolver(self.graph, self.active, self.ground_g, self.options, lend_edges=lend_edges)
        from .dissection import dissection_order
        from .sparse import sparse_solver

        order = dissection_order(self.uid, self.graph.merge, self.n) if self.method == "direct" else None
        return sparse_solver(self.method, reduced_laplacian(self.graph, self.uid, self.n, self.ground_g),
                             self.options, order)

    def solve(self, rhs_grid: np.ndarray, on_device: bool = False):
        """Voltages (k, m, n) for cell injections (k, m, n).

        With ``on_device`` the multigrid path returns the voltages in the backend's namespace
        (CuPy on a GPU) when they fit in its memory, so current maps can be made there; otherwise,
        and for the other methods, they come back as NumPy arrays.
        """
        rhs_grid = np.asarray(rhs_grid, dtype=np.float64)
        return self._timed(rhs_grid.shape[0], lambda i, j, xp=np: xp.asarray(rhs_grid[i:j]), on_device)

    def solve_units(self, cells, on_device: bool = False):
        """Voltages (k, m, n) for 1 A injected at each flat cell index of ``cells`` in turn; the
        right-hand sides are made batch by batch where they are solved, never all at once."""
        cells = [int(c) for c in cells]
        return self._timed(len(cells), unit_batches(cells, self.graph.shape), on_device, units=cells)

    def _timed(self, k, batch, on_device, units=None):
        t0 = time.perf_counter()
        try:
            if self.n == 0:
                return np.zeros((k,) + self.graph.shape)
            if self.method == "mg":
                return self.solver.solve_in_batches(k, batch, on_device, self._check)
            # unit injections go straight to unknown space: no (k, m, n) grids (700 MB for 42 on 2 M cells)
            b = to_unknowns(self.uid, self.n, batch(0, k)) if units is None else unit_unknowns(self.uid, self.n, units)
            x, info = self.solver.solve(b)
            self._check(k, info.iterations, info.residuals)
            return to_grid(self.uid, x)
        finally:
            self.stats.solve_s += time.perf_counter() - t0

    def _check(self, k, iterations, residuals, start=0):
        residual.record(self.stats, k, iterations, residuals, self.options.keep_going, start)


def unit_unknowns(uid: np.ndarray, n: int, cells: list[int]) -> np.ndarray:
    """(k, n) right-hand sides of 1 A at each flat cell; cells with no unknown (held at 0 V) get none."""
    u = uid.ravel()[np.asarray(cells, dtype=np.int64)]
    b = np.zeros((len(cells), n))
    ok = u >= 0
    b[np.flatnonzero(ok), u[ok]] = 1.0
    return b


def unit_batches(cells: list[int], shape: tuple[int, int]):
    """``batch(i, j, xp)``: the unit injections at ``cells[i:j]`` on the grid, made when asked."""
    def batch(i, j, xp=np):
        b = xp.zeros((j - i,) + shape)
        for r, c in enumerate(cells[i:j]):
            b[r].ravel()[c] = 1.0  # ravel of a fresh C-contiguous slice is a view
        return b
    return batch

