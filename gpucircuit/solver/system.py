"""A grounded raster circuit, set up once and solved for many right-hand sides.

The unknowns are the node voltages of the cells that are *active*: nodes of the components
being solved that are not held at 0 V. Merged regions (short-circuit polygons, focal regions)
share one unknown. Right-hand sides and solutions live on the grid (k, m, n); injecting current
into any cell of a merged region injects it into the region's node.

Methods: ``direct`` (sparse LU: small problems, many right-hand sides on a CPU, and the
independent check), ``mg`` (matrix-free grid multigrid + batched PCG; merged regions keep one
unknown at a representative cell, see ``merged``), ``amg`` (pyamg smoothed aggregation + PCG,
Circuitscape's algorithm, as a cross-check). ``auto`` picks by size and right-hand sides.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..errors import SolverError
from ..grid import RasterGraph
from .cg import pcg

RESIDUAL_LIMIT = 1e-4  # Circuitscape refuses a solution whose relative residual is above this


@dataclass
class SolveOptions:
    method: str = "auto"  # auto | direct | mg | amg
    rtol: float = 1e-6
    maxiter: int = 1000
    direct_limit: int = 50_000  # unknowns; auto uses a direct solver up to here
    # on the CPU a factorisation pays off when it serves many right-hand sides: auto also picks
    # the direct solver up to many_rhs_limit unknowns when at least many_rhs are to be solved
    # (measured, 2 cores: all-to-one over 17 cores on a 0.36 M-unknown corridor circuit took 4.4 s
    # direct against 103 s multigrid at 44 iterations x 16 right-hand sides)
    many_rhs: int = 8
    many_rhs_limit: int = 1_500_000
    precision: str = "double"
    mg_dtype: object = np.float32  # multigrid cycle precision under precision = double
    client: object = None  # a dask.distributed Client: spread right-hand sides over its workers


@dataclass
class SolveStats:
    method: str
    unknowns: int
    solves: int = 0
    iterations: int = 0
    max_residual: float = 0.0
    setup_s: float = 0.0  # hierarchy / factorisation
    solve_s: float = 0.0  # all solves, transfers included


def _unknown_index(active: np.ndarray, merge: np.ndarray) -> tuple[np.ndarray, int]:
    """Cell -> unknown id (-1 where inactive); cells of one merged region share an id."""
    uid = np.full(active.shape, -1, dtype=np.int64)
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
    from ..operators import _slices

    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    for w, di, dj in graph.edges.directions():
        src, dst = _slices(di, dj)
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


class GroundedSystem:
    """Voltages of a raster circuit for batches of current injections.

    ``fixed`` marks cells held at 0 V (a merged region with one fixed cell is fixed whole);
    ``ground_g`` adds finite conductances to ground; ``solve_mask`` limits the solve to some
    components (cells outside it stay at 0 V). Every solved component must be grounded.
    """

    def __init__(self, graph: RasterGraph, fixed=None, ground_g=None, solve_mask=None,
                 options: SolveOptions | None = None, rhs_hint: int = 1):
        self.graph = graph
        self.options = options or SolveOptions()
        node = graph.node
        fixed = np.zeros(graph.shape, bool) if fixed is None else (np.asarray(fixed, bool) & node)
        if (graph.merge > 0).any() and fixed.any():
            fixed_regions = np.unique(graph.merge[fixed & (graph.merge > 0)])
            fixed = fixed | np.isin(graph.merge, fixed_regions[fixed_regions > 0])
        keep = node if solve_mask is None else (node & solve_mask)
        self.fixed = fixed
        self.active = keep & ~fixed
        self.ground_g = None if ground_g is None else np.where(self.active, ground_g, 0.0)
        self.uid, self.n = _unknown_index(self.active, graph.merge)
        self._check_grounded(keep)
        self.method = self._pick_method(rhs_hint)
        self.stats = SolveStats(self.method, self.n)
        self._solve_mask = solve_mask
        if self.options.client is None:
            t0 = time.perf_counter()
            self._setup()  # with a cluster every worker sets up its own solver
            self.stats.setup_s = time.perf_counter() - t0

    def _check_grounded(self, keep):
        comp = self.graph.components
        grounded = np.zeros(int(comp.max()) + 1, bool)
        grounded[np.unique(comp[self.fixed])] = True
        if self.ground_g is not None:
            grounded[np.unique(comp[self.ground_g > 0])] = True
        used = np.unique(comp[keep])
        missing = [c for c in used if c > 0 and not grounded[c]]
        if missing:
            raise SolverError(f"internal error: component {missing[0]} is solved without a ground")

    def _pick_method(self, rhs_hint: int) -> str:
        m = self.options.method
        if m == "auto":
            from ..backend import get_backend

            o = self.options
            if self.n <= o.direct_limit:
                return "direct"
            cpu_many = not get_backend().is_gpu and rhs_hint >= o.many_rhs and self.n <= o.many_rhs_limit
            return "direct" if cpu_many else "mg"
        if m not in ("direct", "mg", "amg"):
            raise SolverError(f"unknown solver method {m!r}: use auto, direct, mg or amg")
        return m

    def _setup(self):
        if self.n == 0:
            return
        if self.method == "mg":
            self._setup_grid()
            return
        self.A = reduced_laplacian(self.graph, self.uid, self.n, self.ground_g)
        if self.method == "direct":
            from scipy.sparse.linalg import splu

            self._lu = splu(self.A.tocsc())
        else:
            import pyamg

            self._ml = pyamg.smoothed_aggregation_solver(self.A, symmetry="symmetric")

    def _setup_grid(self):
        """Matrix-free operator and multigrid preconditioner on the backend's arrays (GPU when present)."""
        from ..backend import get_backend
        from ..operators import GridEdges, GridOperator
        from .deflation import PocketDeflation
        from .merged import MergedGrid, leak_for_ungrounded, strengthen_regions
        from .multigrid import GridMultigrid, StencilApply

        backend = get_backend()
        xp = backend.xp
        eight = self.graph.edges.se is not None
        if backend.is_gpu:
            from ..memory import device_free_bytes, plan_batch

            free = device_free_bytes()
            if free is not None:  # refuse before allocating, not half-way through
                plan_batch(int(self.active.sum()), 1, free, eight, backend.device)
        e = self.graph.edges
        edges = GridEdges(*(None if w is None else xp.asarray(w) for w in (e.e, e.s, e.se, e.sw)))
        ground = None if self.ground_g is None else xp.asarray(self.ground_g)
        active = xp.asarray(self.active)
        self._op = GridOperator.build(edges, active, ground)
        # fp32 cycles (half the memory traffic, same iteration count), fp64 CG vectors
        dtype = np.float32 if self.options.precision == "single" else self.options.mg_dtype
        # CPU: precomputed 8-direction stencil (2x faster per CG iteration); GPU: the CUDA kernel
        grid_apply = self._op.apply if backend.is_gpu else StencilApply(self._op)
        self._regions = MergedGrid(self.graph.merge, self.active, xp, degree=e.degree())
        if self._regions.empty:
            self._apply = grid_apply
            # pockets the coarse grid cannot see are deflated exactly
            self._mg = PocketDeflation(self._op).balance(grid_apply, GridMultigrid(self._op, dtype=dtype))
        else:  # one unknown per region: exact operator, multigrid on strongly linked regions
            strong = GridOperator.build(strengthen_regions(edges, self.graph.merge), active, ground)
            leak = leak_for_ungrounded(strong, not eight)
            if leak is not None:
                strong.diag = strong.diag + xp.asarray(leak)
            self._apply = self._regions.operator(grid_apply)
            self._mg = self._regions.preconditioner(GridMultigrid(strong, dtype=dtype))

    def to_unknowns(self, rhs_grid: np.ndarray) -> np.ndarray:
        """(k, m, n) cell injections -> (k, n_unknowns); injections on inactive cells are dropped."""
        k = rhs_grid.shape[0]
        flat = rhs_grid.reshape(k, -1)
        uid = self.uid.ravel()
        ok = uid >= 0
        out = np.zeros((k, self.n))
        for i in range(k):
            out[i] = np.bincount(uid[ok], weights=flat[i, ok], minlength=self.n)
        return out

    def to_grid(self, x: np.ndarray) -> np.ndarray:
        """(k, n_unknowns) -> (k, m, n); cells that are not unknowns get 0 V."""
        k = x.shape[0]
        uid = self.uid.ravel()
        out = np.zeros((k, uid.size))
        ok = uid >= 0
        out[:, ok] = x[:, uid[ok]]
        return out.reshape((k,) + self.graph.shape)

    def solve(self, rhs_grid: np.ndarray) -> np.ndarray:
        """Voltages (k, m, n) for cell injections (k, m, n)."""
        t0 = time.perf_counter()
        try:
            return self._solve(rhs_grid)
        finally:
            self.stats.solve_s += time.perf_counter() - t0

    def _solve(self, rhs_grid: np.ndarray) -> np.ndarray:
        rhs_grid = np.asarray(rhs_grid, dtype=np.float64)
        k = rhs_grid.shape[0]
        if self.n == 0:
            return np.zeros_like(rhs_grid)
        if self.options.client is not None:
            from ..distribute import solve_distributed

            out, stats = solve_distributed(self.options.client, self.graph, self.fixed, self.ground_g,
                                           self._solve_mask, self.options, rhs_grid)
            for st in stats:
                self.stats.solves += st.solves
                self.stats.iterations = max(self.stats.iterations, st.iterations)
                self.stats.max_residual = max(self.stats.max_residual, st.max_residual)
            return out
        if self.method == "mg":
            from ..backend import to_host

            xp = self._op.xp
            active = self._op.active
            from ..memory import HEADROOM, device_free_bytes, host_free_bytes, rhs_bytes

            # as many right-hand sides per pass as the memory left allows (the hierarchy is built)
            free = host_free_bytes() if xp is np else device_free_bytes()
            batch = k if free is None else max(1, min(k, int(HEADROOM * free) // max(rhs_bytes(rhs_grid[0].size), 1)))
            out = np.zeros_like(rhs_grid)
            regions = self._regions
            for start in range(0, k, batch):
                b = xp.where(active, xp.asarray(rhs_grid[start:start + batch]), 0.0)
                if not regions.empty:
                    b = regions.gather_rhs(b)
                x, info = pcg(self._apply, b, precond=self._mg, rtol=self.options.rtol,
                              maxiter=self.options.maxiter)
                self._record(b.shape[0], info.iterations, info.residuals)
                if not regions.empty:
                    x = regions.spread(x)
                out[start:start + batch] = to_host(xp.where(active, x, 0.0))
            return out
        b = self.to_unknowns(rhs_grid)
        if self.method == "direct":
            x = self._lu.solve(b.T).T
            iters = 0
        else:
            M = self._ml.aspreconditioner(cycle="V")
            x, info = pcg(lambda v: (self.A @ v.T).T, b, precond=lambda r: np.stack([M @ ri for ri in r]),
                          rtol=self.options.rtol, maxiter=self.options.maxiter)
            iters = info.iterations
        res = np.linalg.norm(b - (self.A @ x.T).T, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-300)
        self._record(k, iters, res)
        return self.to_grid(x)

    def _record(self, k, iterations, residuals):
        self.stats.solves += k
        self.stats.iterations = max(self.stats.iterations, iterations)
        worst = float(np.max(residuals)) if np.size(residuals) else 0.0
        self.stats.max_residual = max(self.stats.max_residual, worst)
        if not np.isfinite(worst) or worst > RESIDUAL_LIMIT:
            raise SolverError(
                f"the {self.method} solver did not converge: relative residual {worst:.2e} > {RESIDUAL_LIMIT:g} "
                f"after {iterations} iterations on {self.n} unknowns (try --solver direct or check for "
                "extreme resistance values)"
            )
