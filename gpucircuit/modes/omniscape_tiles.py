"""Omniscape in tiles: each tile solves its own targets on a slab with a halo of d = radius +
buffer, and the tiles' maps are added where they overlap (overlap-add, not ``map_overlap``'s
discard: a window's current reaches up to d cells outside its tile).

Targets are split by position, so each is solved in exactly one tile and the sum equals the
untiled run. Tiles run as dask tasks (on a dask.distributed client when one is given, one
after another in this process otherwise); with ``checkpoint`` each finished tile is saved and
a stopped run resumes from the tiles it has.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError
from .omniscape import Condition, OmniscapeMaps, Targets, WindowRules, WindowSource, accumulate, find_targets


def _bands(n: int, parts: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, n, min(parts, n) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _tile_maps(conductance, source, conditions, targets: Targets, rules: WindowRules, origin, full_shape, method,
               correction, batch) -> tuple[np.ndarray, np.ndarray | None]:
    cut = WindowSource(conductance, source, rules, conditions, origin=origin, full_shape=full_shape)
    maps = accumulate(cut, targets, conductance.shape, method, batch, correction)
    return maps.cum_currmap, maps.flow_potential


def _fingerprint(conductance, source, conditions, rules, tiles, correction) -> str:
    """What a checkpoint's tiles depend on: tiles from another run must never be mixed in."""
    import hashlib

    h = hashlib.sha256(repr((rules, tuple(tiles), conductance.shape)).encode())
    for a in (conductance, source, correction, *[x for c in conditions for x in (c.present, c.future)]):
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    for c in conditions:
        h.update(repr((c.comparison, c.lower, c.upper)).encode())
    return h.hexdigest()


def _claim(checkpoint: Path, key: str) -> None:
    checkpoint.mkdir(parents=True, exist_ok=True)
    stamp = checkpoint / "run.txt"
    if stamp.exists() and stamp.read_text().strip() != key:
        raise InputError(f"checkpoint folder {checkpoint} holds tiles of another run (other inputs, options or "
                         "tiles): give an empty folder")
    stamp.write_text(key + "\n")


def _slab_condition(c: Condition, rs: slice, cs: slice) -> Condition:
    return Condition(c.present[rs, cs], c.future[rs, cs], c.comparison, c.lower, c.upper)


def omniscape_tiled(conductance: np.ndarray, source: np.ndarray, rules: WindowRules,
                    conditions: Sequence[Condition] = (), tiles: tuple[int, int] = (2, 2), method: str = "direct",
                    correction: np.ndarray | None = None, client=None, batch: int | None = None,
                    checkpoint: Path | None = None,
                    progress: Callable[[int], None] | None = None) -> OmniscapeMaps:
    """The maps of :func:`~gpucircuit.modes.omniscape.omniscape`, computed tile by tile."""
    import dask

    m, n = conductance.shape
    d = rules.half
    targets = find_targets(np.nan_to_num(source), rules.block_size)
    cum = np.zeros((m, n))
    fp = np.zeros((m, n)) if rules.flow_potential else None
    jobs = []
    for ti, (r0, r1) in enumerate(_bands(m, tiles[0])):
        for tj, (c0, c1) in enumerate(_bands(n, tiles[1])):
            mine = np.flatnonzero((targets.rows >= r0) & (targets.rows < r1) & (targets.cols >= c0) & (targets.cols < c1))
            if not mine.size:
                continue
            rs = slice(max(r0 - d, 0), min(r1 + d, m))
            cs = slice(max(c0 - d, 0), min(c1 + d, n))
            jobs.append(((ti, tj), rs, cs, targets.take(mine)))

    def add(rs, cs, result):
        cum[rs, cs] += result[0]
        if fp is not None:
            fp[rs, cs] += result[1]

    def saved(key):
        return None if checkpoint is None else Path(checkpoint) / f"tile_{key[0]}_{key[1]}.npz"

    if checkpoint is not None:
        _claim(Path(checkpoint), _fingerprint(conductance, source, conditions, rules, tiles, correction))
    pending = []
    for key, rs, cs, part in jobs:
        path = saved(key)
        if path is not None and path.exists():
            with np.load(path) as z:
                add(rs, cs, (z["cum"], z["fp"] if fp is not None else None))
            if progress is not None:
                progress(len(part))
            continue
        task = dask.delayed(_tile_maps)(conductance[rs, cs], source[rs, cs],
                                        [_slab_condition(c, rs, cs) for c in conditions], part, rules,
                                        (rs.start, cs.start), (m, n), method, correction, batch)
        pending.append((key, rs, cs, part, task))

    def finish(key, rs, cs, part, result):
        path = saved(key)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, cum=result[0], fp=result[1] if result[1] is not None else np.zeros(0))
            tmp.replace(path)
        add(rs, cs, result)
        if progress is not None:
            progress(len(part))

    if client is None:
        for key, rs, cs, part, task in pending:
            finish(key, rs, cs, part, task.compute(scheduler="sync"))
    else:
        from distributed import as_completed

        futures = {client.compute(task): (key, rs, cs, part) for key, rs, cs, part, task in pending}
        for future in as_completed(list(futures)):
            finish(*futures[future], future.result())
    return OmniscapeMaps(cum, fp, len(targets))
