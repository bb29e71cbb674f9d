"""Independent solves spread over a dask.distributed cluster (one GPU per worker with dask-cuda).

The right-hand sides of one grounded system are split into one share per worker; each worker
sets up its own solver (hierarchy or factorisation) once and solves its share. The raster graph
is scattered once to every worker.
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import numpy as np


def _solve_share(graph, fixed, ground_g, solve_mask, options, rhs):
    from .solver.system import GroundedSystem

    system = GroundedSystem(graph, fixed=fixed, ground_g=ground_g, solve_mask=solve_mask, options=options,
                            rhs_hint=rhs.shape[0])
    return system.solve(rhs), system.stats


def solve_distributed(client, graph, fixed, ground_g, solve_mask, options, rhs):
    """Voltages (k, m, n) for ``rhs`` (k, m, n), the work split over the client's workers."""
    local = dataclasses.replace(options, client=None)
    nworkers = max(1, len(client.scheduler_info().get("workers", {})))
    shares = [s for s in np.array_split(np.arange(rhs.shape[0]), nworkers) if s.size]
    graph_f = client.scatter(graph, broadcast=True)
    futures = [client.submit(_solve_share, graph_f, fixed, ground_g, solve_mask, local, rhs[s], pure=False)
               for s in shares]
    results = client.gather(futures)
    out = np.concatenate([v for v, _ in results])
    return out, [st for _, st in results]


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
