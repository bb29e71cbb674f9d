"""Omniscape in tiles: each tile solves its own targets on a slab with a halo of d = radius +
buffer, and the tiles' maps are added where they overlap (overlap-add, not ``map_overlap``'s
discard: a window's current reaches up to d cells outside its tile).

Tile edges fall on block edges, so a tile finds its own targets on its slab (a target's block
lies inside the halo) and each target is solved in exactly one tile: the sum equals the untiled
run. A tile's layers come from a *reader*, a picklable callable returning the slab's
(conductance, source, conditions): slices of arrays in memory (:class:`ArraySlab`), or windows
read from the raster files by the job, so a raster larger than memory is never read whole.
Tiles run one after another in this process, or as tasks on a dask.distributed client; with a
checkpoint folder each finished tile is saved and a stopped run resumes from the tiles it has.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError
from .omniscape import Condition, OmniscapeMaps, Targets, WindowRules, WindowSource, accumulate, find_targets


@dataclass(frozen=True)
class Tile:
    """Targets in rows ``r0:r1`` and columns ``c0:c1``, solved on the slab ``rows x cols`` (with halo)."""

    key: tuple[int, int]
    r0: int
    r1: int
    c0: int
    c1: int
    rows: slice
    cols: slice


def _edges(n: int, parts: int, step: int) -> list[int]:
    """About ``parts`` bands of ``n`` cells, cut at multiples of ``step`` (block edges)."""
    cuts = {int(round(n * k / parts / step)) * step for k in range(1, parts)}
    return sorted({0, n} | {c for c in cuts if 0 < c < n})


def halo(rules: WindowRules) -> int:
    """Cells a slab reaches beyond its tile: a window's half-width, or a target's block if wider."""
    return max(rules.half, rules.block_radius)


def plan_tiles(shape: tuple[int, int], tiles: tuple[int, int], rules: WindowRules) -> list[Tile]:
    m, n = shape
    h = halo(rules)
    rows, cols = _edges(m, tiles[0], rules.block_size), _edges(n, tiles[1], rules.block_size)
    return [Tile((i, j), r0, r1, c0, c1, slice(max(r0 - h, 0), min(r1 + h, m)), slice(max(c0 - h, 0), min(c1 + h, n)))
            for i, (r0, r1) in enumerate(zip(rows[:-1], rows[1:]))
            for j, (c0, c1) in enumerate(zip(cols[:-1], cols[1:]))]


def tile_targets(source: np.ndarray, tile: Tile, block_size: int, shape: tuple[int, int]) -> Targets:
    """The targets of ``tile`` (raster frame) from its slab's source: the sub-slab starting at the
    tile's corner (a block edge) has the raster's block grid, and reaches one block radius past
    the tile's end so that only blocks centred inside the tile are whole in it."""
    br = (block_size - 1) // 2
    r_end, c_end = min(tile.r1 + br, shape[0]), min(tile.c1 + br, shape[1])
    sub = source[tile.r0 - tile.rows.start:r_end - tile.rows.start, tile.c0 - tile.cols.start:c_end - tile.cols.start]
    t = find_targets(np.nan_to_num(sub), block_size)
    return Targets(t.rows + tile.r0, t.cols + tile.c0, t.amps)


@dataclass
class ArraySlab:
    """A reader for layers already in memory: the slab's arrays themselves."""

    conductance: np.ndarray
    source: np.ndarray
    conditions: Sequence[Condition] = ()

    @classmethod
    def cut(cls, conductance, source, conditions, tile: Tile) -> "ArraySlab":
        rs, cs = tile.rows, tile.cols
        return cls(conductance[rs, cs], source[rs, cs],
                   [Condition(c.present[rs, cs], c.future[rs, cs], c.comparison, c.lower, c.upper) for c in conditions])

    def __call__(self):
        return self.conductance, self.source, self.conditions


def tile_maps(read, tile: Tile, rules: WindowRules, shape, method: str = "direct", correction=None,
              batch: int | None = None, progress: Callable[[int], None] | None = None):
    """(cumulative current, flow potential or None) of the tile's targets on its slab."""
    conductance, source, conditions = read()
    targets = tile_targets(source, tile, rules.block_size, shape)
    cut = WindowSource(conductance, source, rules, conditions, origin=(tile.rows.start, tile.cols.start),
                       full_shape=shape)
    maps = accumulate(cut, targets, conductance.shape, method, batch, correction, progress)
    return maps.cum_currmap, maps.flow_potential


def _claim(checkpoint: Path, key: str) -> None:
    checkpoint.mkdir(parents=True, exist_ok=True)
    stamp = checkpoint / "run.txt"
    if stamp.exists() and stamp.read_text().strip() != key:
        raise InputError(f"checkpoint folder {checkpoint} holds tiles of another run (other inputs, options or "
                         "tiles): give an empty folder")
    stamp.write_text(key + "\n")


def run_tiles(jobs, rules: WindowRules, shape, add: Callable, method: str = "direct", correction=None,
              client=None, batch: int | None = None, checkpoint: tuple[Path, str] | None = None,
              progress: Callable[[int], None] | None = None) -> None:
    """Solve ``jobs`` ((tile, reader, windows) each) and hand each tile's maps to
    ``add(tile, cum, fp)`` as it finishes. ``checkpoint`` = (folder, fingerprint of the run)."""
    folder = None
    if checkpoint is not None:
        folder = Path(checkpoint[0])
        _claim(folder, checkpoint[1])

    def saved(tile):
        return None if folder is None else folder / f"tile_{tile.key[0]}_{tile.key[1]}.npz"

    def finish(tile, windows, cum, fp, counted=False):
        path = saved(tile)
        if path is not None:
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, cum=cum, fp=fp if fp is not None else np.zeros(0))
            tmp.replace(path)
        add(tile, cum, fp)
        if progress is not None and not counted:
            progress(windows)

    pending = []
    for tile, read, windows in jobs:
        path = saved(tile)
        if path is not None and path.exists():
            with np.load(path) as z:
                add(tile, z["cum"], z["fp"] if rules.flow_potential else None)
            if progress is not None:
                progress(windows)
        else:
            pending.append((tile, read, windows))
    if client is None:  # in this process: progress window batch by window batch
        for tile, read, windows in pending:
            finish(tile, windows, *tile_maps(read, tile, rules, shape, method, correction, batch, progress),
                   counted=True)
        return
    from distributed import as_completed

    futures = {client.submit(tile_maps, read, tile, rules, shape, method, correction, batch, pure=False):
               (tile, windows) for tile, read, windows in pending}
    for future in as_completed(list(futures)):
        finish(*futures[future], *future.result())


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


def omniscape_tiled(conductance: np.ndarray, source: np.ndarray, rules: WindowRules,
                    conditions: Sequence[Condition] = (), tiles: tuple[int, int] = (2, 2), method: str = "direct",
                    correction: np.ndarray | None = None, client=None, batch: int | None = None,
                    checkpoint: Path | None = None,
                    progress: Callable[[int], None] | None = None) -> OmniscapeMaps:
    """The maps of :func:`~gpucircuit.modes.omniscape.omniscape` on layers in memory, computed tile by tile."""
    shape = conductance.shape
    cum = np.zeros(shape)
    fp = np.zeros(shape) if rules.flow_potential else None
    jobs, total = [], 0
    for tile in plan_tiles(shape, tiles, rules):
        count = len(tile_targets(source[tile.rows, tile.cols], tile, rules.block_size, shape))
        if count:
            jobs.append((tile, ArraySlab.cut(conductance, source, conditions, tile), count))
            total += count

    def add(tile, c, f):
        cum[tile.rows, tile.cols] += c
        if fp is not None:
            fp[tile.rows, tile.cols] += f

    stamp = None if checkpoint is None else \
        (checkpoint, _fingerprint(conductance, source, conditions, rules, tiles, correction))
    run_tiles(jobs, rules, shape, add, method, correction, client, batch, stamp, progress)
    return OmniscapeMaps(cum, fp, total)
