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
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..errors import SolverError
from ..grid import RasterGraph
from .cg import pcg
from .multigrid import MultigridOptions

RESIDUAL_LIMIT = 1e-4  # Circuitscape refuses a solution whose relative residual is above this
# right-hand sides per SuperLU triangular solve: its solve slows down with the block's size
# (measured: 42 at once 2.3-4.8 s CPU, in blocks of 4 1.0-1.3 s, on 144 k unknowns)
LU_BLOCK = 4


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
    # (and 2 cores, all-to-one over 43 points, 1.89 M unknowns, 42 right-hand sides: multigrid
    # 11 iterations, about 250 s CPU; the factorisation with a symmetric ordering, about 2.5x less)
    many_rhs: int = 8
    many_rhs_limit: int = 2_500_000
    precision: str = "double"  # single: fp32 edge conductances (CG keeps fp64 vectors either way)
    multigrid: MultigridOptions = field(default_factory=MultigridOptions)  # the mg method's hierarchy and cycle
    client: object = None  # a dask.distributed Client: spread right-hand sides over its workers
    # a right-hand side that fails the residual check is listed in SolveStats.failed instead of
    # stopping the job (Circuitscape reports -777 for that pair and carries on)
    keep_going: bool = False


@dataclass
class SolveStats:
    method: str
    unknowns: int
    solves: int = 0
    iterations: int = 0
    max_residual: float = 0.0
    setup_s: float = 0.0  # hierarchy / factorisation
    solve_s: float = 0.0  # all solves, transfers included
    failed: dict = field(default_factory=dict)  # right-hand side index -> relative residual (keep_going)
    levels: int = 0  # multigrid levels, finest included (0: no multigrid)


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

            # the matrix is SPD: a symmetric ordering (minimum degree on A + A^T) and no pivoting
            # halve the fill of SuperLU's default column ordering, and with it the factorisation
            # and every triangular solve (measured: 144 k unknowns, 42 right-hand sides, 2.6 + 8.8 s
            # -> 1.5 + 4.2 s CPU)
            self._lu = splu(self.A.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                            options=dict(SymmetricMode=True))
        else:
            import pyamg

            self._ml = pyamg.smoothed_aggregation_solver(self.A, symmetry="symmetric")

    def _setup_grid(self):
        """Matrix-free operator and multigrid preconditioner on the backend's arrays (GPU when present).

        Under ``precision = single`` the edge conductances are stored in float32 (half the
        operator's memory and traffic; the diagonal is summed in float64 from the stored weights,
        so the operator stays exactly SPD and CG still accumulates in float64).
        """
        from ..backend import get_backend
        from ..operators import GridEdges, GridOperator
        from .deflation import PocketDeflation
        from .merged import MergedGrid, leak_for_ungrounded, strengthen_regions
        from .multigrid import GridMultigrid

        backend = get_backend()
        xp = backend.xp
        eight = self.graph.edges.se is not None
        single = self.options.precision == "single"
        if backend.is_gpu:
            from ..memory import device_free_bytes, plan_batch

            free = device_free_bytes()
            if free is not None:  # refuse before allocating, not half-way through
                plan_batch(self.active.size, 1, free, eight, backend.device, single=single)  # arrays span the grid
        e = self.graph.edges
        wdtype = np.float32 if single else np.float64
        # our own copy on the backend (the graph's host arrays stay untouched), masked in place
        edges = GridEdges(*(None if w is None else xp.array(w, dtype=wdtype) for w in (e.e, e.s, e.se, e.sw)))
        ground = None if self.ground_g is None else xp.asarray(self.ground_g)
        active = xp.asarray(self.active)
        merged = (self.graph.merge > 0).any()
        # the preconditioner of merged regions needs the unmasked edges: build it first
        strong = GridOperator.build(strengthen_regions(edges, self.graph.merge), active, ground) if merged else None
        self._op = GridOperator.build(edges, active, ground, inplace=True)
        del edges
        mg_options = self.options.multigrid
        grid_apply = self._op.apply
        self._regions = MergedGrid(self.graph.merge, self.active, xp, degree=e.degree())
        if self._regions.empty:
            self._apply = grid_apply
            self.multigrid = GridMultigrid(self._op, mg_options)
            # pockets the coarse grid cannot see are deflated exactly
            self._mg = PocketDeflation(self._op).balance(grid_apply, self.multigrid)
        else:  # one unknown per region: exact operator, multigrid on strongly linked regions
            leak = leak_for_ungrounded(strong, not eight)
            if leak is not None:
                strong.diag = strong.diag + xp.asarray(leak)
            self._apply = self._regions.operator(grid_apply)
            self.multigrid = GridMultigrid(strong, mg_options)
            self._mg = self._regions.preconditioner(self.multigrid)
        self.stats.levels = len(self.multigrid.levels)

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

    def solve(self, rhs_grid: np.ndarray, on_device: bool = False):
        """Voltages (k, m, n) for cell injections (k, m, n).

        With ``on_device`` the multigrid path returns the voltages in the backend's namespace
        (CuPy on a GPU) when they fit in its memory, so current maps can be made there; otherwise,
        and for the other methods, they come back as NumPy arrays.
        """
        rhs_grid = np.asarray(rhs_grid, dtype=np.float64)
        return self._timed(rhs_grid.shape[0], lambda i, j, xp=np: xp.asarray(rhs_grid[i:j]), rhs_grid, on_device)

    def solve_units(self, cells, on_device: bool = False):
        """Voltages (k, m, n) for 1 A injected at each flat cell index of ``cells`` in turn; the
        right-hand sides are made batch by batch where they are solved, never all at once."""
        cells = [int(c) for c in cells]
        shape = self.graph.shape

        def batch(i, j, xp=np):
            b = xp.zeros((j - i,) + shape)
            for r, c in enumerate(cells[i:j]):
                b[r].ravel()[c] = 1.0  # ravel of a fresh C-contiguous slice is a view
            return b

        return self._timed(len(cells), batch, None, on_device, units=cells)

    def _unit_unknowns(self, cells) -> np.ndarray:
        """(k, n_unknowns) right-hand sides of 1 A at each flat cell, made in unknown space: the
        factorisation never needs the (k, m, n) grids (700 MB for 42 on 2 M cells)."""
        uid = self.uid.ravel()[np.asarray(cells, dtype=np.int64)]
        b = np.zeros((len(cells), self.n))
        ok = uid >= 0
        b[np.flatnonzero(ok), uid[ok]] = 1.0
        return b

    def _timed(self, k, batch, rhs_grid, on_device, units=None):
        t0 = time.perf_counter()
        try:
            if self.n == 0:
                return np.zeros((k,) + self.graph.shape)
            if self.method == "mg" and self.options.client is None:
                return self._solve_grid(k, batch, on_device)
            if units is not None and self.options.client is None:
                return self._solve_unknowns(self._unit_unknowns(units))
            return self._solve(batch(0, k) if rhs_grid is None else rhs_grid)
        finally:
            self.stats.solve_s += time.perf_counter() - t0

    def _solve_grid(self, k, batch, on_device):
        """Multigrid + PCG over batches of right-hand sides; ``batch(i, j, xp)`` gives rows i..j."""
        from ..backend import to_host
        from ..memory import HEADROOM, device_free_bytes, host_free_bytes, rhs_bytes

        xp = self._op.xp
        active = self._op.active
        cells = int(np.prod(self.graph.shape))
        free = host_free_bytes() if xp is np else device_free_bytes()
        keep = xp is np or (on_device and free is not None and k * cells * 8 < HEADROOM * free - rhs_bytes(cells))
        # as many right-hand sides per pass as the memory left allows (the hierarchy is built)
        per = k if free is None else max(1, min(k, int(HEADROOM * free) // max(rhs_bytes(cells), 1)))
        out = None
        if per < k:  # several passes: the results are gathered in one array
            out = xp.zeros((k,) + self.graph.shape) if keep else np.zeros((k,) + self.graph.shape)
            if keep and xp is not np:  # gathered on the device: fewer per pass
                per = max(1, min(k, int(HEADROOM * device_free_bytes()) // max(rhs_bytes(cells), 1)))
        regions = self._regions

        def rhs(start, stop):
            b = batch(start, stop, xp)
            b = xp.where(active, b, 0.0)
            return b if regions.empty else regions.gather_rhs(b)

        for start in range(0, k, per):
            stop = min(k, start + per)
            # the right-hand side's storage becomes CG's residual; it is remade for the final check
            x, info = pcg(self._apply, rhs(start, stop), precond=self._mg, rtol=self.options.rtol,
                          maxiter=self.options.maxiter, b_again=lambda: rhs(start, stop))
            self._record(x.shape[0], info.iterations, info.residuals, start)
            if not regions.empty:
                x = regions.spread(x)
            x *= active  # cells that are not unknowns read 0 V
            if out is None:
                return x if keep else to_host(x)
            out[start:stop] = x if keep else to_host(x)
            del x
        return out

    def _solve(self, rhs_grid: np.ndarray) -> np.ndarray:
        if self.options.client is not None:
            from ..distribute import solve_distributed

            out, stats = solve_distributed(self.options.client, self.graph, self.fixed, self.ground_g,
                                           self._solve_mask, self.options, rhs_grid)
            for st in stats:
                self.stats.failed.update({self.stats.solves + j: r for j, r in st.failed.items()})
                self.stats.solves += st.solves
                self.stats.iterations = max(self.stats.iterations, st.iterations)
                self.stats.max_residual = max(self.stats.max_residual, st.max_residual)
            return out
        return self._solve_unknowns(self.to_unknowns(rhs_grid))

    def _solve_unknowns(self, b: np.ndarray) -> np.ndarray:
        """Voltages (k, m, n) for injections (k, n_unknowns), by the factorisation or pyamg."""
        k = b.shape[0]
        if self.method == "direct":
            x = np.empty_like(b)
            for i in range(0, k, LU_BLOCK):
                x[i:i + LU_BLOCK] = self._lu.solve(b[i:i + LU_BLOCK].T).T
            iters = 0
        else:
            M = self._ml.aspreconditioner(cycle="V")
            x, info = pcg(lambda v: (self.A @ v.T).T, b, precond=lambda r: np.stack([M @ ri for ri in r]),
                          rtol=self.options.rtol, maxiter=self.options.maxiter)
            iters = info.iterations
        res = np.linalg.norm(b - (self.A @ x.T).T, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-300)
        self._record(k, iters, res)
        return self.to_grid(x)

    def _record(self, k, iterations, residuals, start=0):
        """Count ``k`` solves (right-hand sides ``start``..); a residual above Circuitscape's limit is
        an error, or with ``keep_going`` an entry in ``stats.failed``."""
        self.stats.solves += k
        self.stats.iterations = max(self.stats.iterations, iterations)
        res = np.atleast_1d(np.asarray(residuals, dtype=np.float64))
        bad = ~np.isfinite(res) | (res > RESIDUAL_LIMIT)
        self.stats.max_residual = max(self.stats.max_residual, float(np.max(res)) if res.size else 0.0)
        if not bad.any():
            return
        if self.options.keep_going:
            self.stats.failed.update({start + int(j): float(res[j]) for j in np.flatnonzero(bad)})
            return
        worst = float(np.max(np.where(np.isfinite(res), res, np.inf)))
        raise SolverError(
            f"the {self.method} solver did not converge: relative residual {worst:.2e} > {RESIDUAL_LIMIT:g} "
            f"after {iterations} iterations on {self.n} unknowns (try --solver {other_solver(self.method)} "
            "or check for extreme resistance values)"
        )


def other_solver(method: str) -> str:
    """The solver to suggest when ``method`` failed: a factorisation for the iterative ones."""
    return "mg" if method == "direct" else "direct"
