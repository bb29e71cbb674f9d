"""Independent solves spread over a dask.distributed cluster (one GPU per worker with dask-cuda).

A layer above the solver: it takes a solver factory and never reaches into the solver's insides,
and nothing under ``solver/`` imports it. The right-hand sides of one grounded system are split
into one share per worker; each worker builds its own solver with the factory (hierarchy or
factorisation, once) and solves its share. The raster graph is scattered once to every worker.
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from functools import partial

import numpy as np

from .solver.system import GroundedSystem, unit_batches


def grounded_system(graph, fixed=None, ground_g=None, solve_mask=None, options=None, rhs_hint: int = 1,
                    lend_edges: bool = False):
    """A :class:`GroundedSystem`, or one whose solves run on ``options.client``'s workers
    (``lend_edges``: see GroundedSystem; workers hold copies of the graph, so it is local only)."""
    if options is None or options.client is None:
        return GroundedSystem(graph, fixed=fixed, ground_g=ground_g, solve_mask=solve_mask, options=options,
                              rhs_hint=rhs_hint, lend_edges=lend_edges)
    return DistributedSystem(options.client, partial(GroundedSystem, fixed=fixed, ground_g=ground_g,
                                                     solve_mask=solve_mask), graph, options, rhs_hint)


def _solve_share(factory, graph, options, rhs):
    system = factory(graph, options=options, rhs_hint=rhs.shape[0])
    return system.solve(rhs), system.stats


class DistributedSystem:
    """The solve interface of a grounded system, each solve split over a cluster's workers.

    ``factory(graph, options=..., rhs_hint=...)`` makes the solver; here it also makes the
    bookkeeping copy (``setup=False``) that names the method and holds the merged stats."""

    def __init__(self, client, factory, graph, options, rhs_hint: int = 1):
        self.client, self.factory, self.graph = client, factory, graph
        self.local_options = dataclasses.replace(options, client=None)
        self.local = factory(graph, options=self.local_options, rhs_hint=rhs_hint, setup=False)
        self.method, self.n, self.stats = self.local.method, self.local.n, self.local.stats

    def solve(self, rhs_grid, on_device: bool = False):
        rhs = np.asarray(rhs_grid, dtype=np.float64)
        nworkers = max(1, len(self.client.scheduler_info().get("workers", {})))
        shares = [s for s in np.array_split(np.arange(rhs.shape[0]), nworkers) if s.size]
        graph_f = self.client.scatter(self.graph, broadcast=True)
        futures = [self.client.submit(_solve_share, self.factory, graph_f, self.local_options, rhs[s], pure=False)
                   for s in shares]
        results = self.client.gather(futures)
        for _, st in results:  # a share's failures keep their global right-hand side index
            self.stats.failed.update({self.stats.solves + j: r for j, r in st.failed.items()})
            self.stats.solves += st.solves
            self.stats.iterations = max(self.stats.iterations, st.iterations)
            self.stats.max_residual = max(self.stats.max_residual, st.max_residual)
        return np.concatenate([v for v, _ in results])

    def solve_units(self, cells, on_device: bool = False):
        cells = [int(c) for c in cells]
        return self.solve(unit_batches(cells, self.graph.shape)(0, len(cells)))

    def release(self) -> None:
        """Nothing to give back: the workers' solvers live and go with their tasks."""


def check_gpus(n: int) -> None:
    """An InputError (one line) unless dask-cuda is installed and at least ``n`` GPUs are visible."""
    from .errors import InputError

    try:
        import dask_cuda  # noqa: F401
    except ImportError:
        raise InputError(f"--gpus {n} needs dask-cuda: pip install 'gpucircuit[multi-gpu]'") from None
    try:  # dask-cuda's count honours CUDA_VISIBLE_DEVICES; NVML's through distributed otherwise
        from dask_cuda.utils import get_n_gpus
    except ImportError:
        from distributed.diagnostics.nvml import device_get_count as get_n_gpus
    try:
        have = int(get_n_gpus())
    except Exception:  # noqa: BLE001 - no driver, no NVML: no GPU to use
        have = 0
    if have < n:
        raise InputError(f"--gpus {n}: {have} GPU{'s' if have != 1 else ''} visible on this machine")


@contextmanager
def cluster(workers: int = 0, scheduler: str | None = None, gpus: bool = False):
    """A dask client for the CLI: an existing scheduler, a local cluster of ``workers``, or None."""
    if not workers and not scheduler:
        yield None
        return
    from .errors import InputError

    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError("distributed solving needs dask.distributed: pip install distributed") from None
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    if gpus:
        try:
            from dask_cuda import LocalCUDACluster
        except ImportError:
            raise InputError("--gpus needs dask-cuda: pip install 'gpucircuit[multi-gpu]'") from None
        local = LocalCUDACluster(n_workers=workers or None)
    else:
        local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    with local, Client(local) as client:
        yield client
