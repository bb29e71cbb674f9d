"""An Omniscape job whose rasters are never read whole: tiles read their slab + halo from the
files, their maps are added into float64 scratch rasters on disk, and the outputs are written
from those a block of rows at a time. Peak memory is one tile's (plus a block of rows), not the
raster's.

Nothing Omniscape computes looks beyond a window: the per-cell rules, the targets (block sums),
the windows and the normalisation ``cum_currmap / flow_potential`` are all local, so no
statistic over the whole raster is needed and the tiled maps equal the untiled ones.

The scratch rasters live in the project folder while the job runs and are removed however it
ends; a failed run removes the project folder it made (finished tiles stay in ``--checkpoint``).
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np

from .io.raster_window import WindowedWriter, gdal_cache_bytes, small_gdal_cache
from .modes.omniscape import WindowRules, find_targets
from .modes.omniscape_tiles import Tile, plan_tiles, run_tiles
from .omniscape_layers import FileLayers

BLOCK_CELLS = 1 << 16  # cells per block of rows read or written in one go (512 KiB per float64 array)


def rows_per_block(n: int, step: int = 1) -> int:
    """Rows of ``n`` columns in one block, a multiple of ``step``."""
    return max(1, BLOCK_CELLS // (n * step)) * step


def count_targets(layers: FileLayers, tiles: list[Tile], block_size: int) -> np.ndarray:
    """Windows of each tile, from one pass over the layers in blocks of whole rows (which also
    checks every cell before any solve)."""
    m, n = layers.spec.shape
    br = (block_size - 1) // 2
    r_edges = np.array(sorted({t.r0 for t in tiles}))
    c_edges = np.array(sorted({t.c0 for t in tiles}))
    index = {t.key: k for k, t in enumerate(tiles)}
    counts = np.zeros(len(tiles), dtype=np.int64)
    step = rows_per_block(n, block_size)
    for a in range(0, m, step):  # blocks start on block edges, so their targets are the raster's
        source = layers.read(slice(a, min(a + step + br, m)), slice(0, n)).source
        t = find_targets(source, block_size)
        keep = t.rows < step  # centres past this block belong to the next one
        ti = np.searchsorted(r_edges, t.rows[keep] + a, "right") - 1
        tj = np.searchsorted(c_edges, t.cols[keep], "right") - 1
        for (i, j), k in zip(*np.unique(np.stack([ti, tj], 1), axis=0, return_counts=True)):
            counts[index[(int(i), int(j))]] += k
    return counts


class Scratch:
    """A float64 map on disk that tiles are added into; only the pages a tile touches are mapped."""

    def __init__(self, path: Path, shape):
        self.path, self.shape = path, tuple(shape)
        with open(path, "wb") as fh:
            fh.truncate(8 * shape[0] * shape[1])  # sparse: zeros cost no disk until written

    def _map(self, mode: str):
        return np.memmap(self.path, dtype=np.float64, mode=mode, shape=self.shape)

    def add(self, rows: slice, cols: slice, values: np.ndarray) -> None:
        mapped = self._map("r+")
        mapped[rows, cols] += values
        mapped.flush()
        del mapped  # unmapped at once: resident pages never add up to the raster

    def rows(self, rows: slice) -> np.ndarray:
        mapped = self._map("r")
        block = np.array(mapped[rows])
        del mapped
        return block


def write_outputs(folder: Path, ext: str, layers: FileLayers, cum: Scratch, fp: Scratch | None,
                  wanted: dict[str, bool], mask_nodata: bool) -> list[Path]:
    """The project's rasters from the scratch maps, a block of rows at a time (NaN = nodata):
    ``wanted`` names which of classified_resistance, cum_currmap, flow_potential and
    normalized_cum_currmap to write."""
    m, n = layers.spec.shape
    writers = {name: WindowedWriter(folder / f"{name}{ext}", layers.spec) for name, on in wanted.items() if on}
    try:
        step = rows_per_block(n)  # GDAL's cache holds a GeoTIFF's band of blocks until it is whole
        for a in range(0, m, step):
            rows = slice(a, min(a + step, m))
            blocks = {"cum_currmap": cum.rows(rows)}
            if fp is not None:
                blocks["flow_potential"] = fp.rows(rows)
                with np.errstate(divide="ignore", invalid="ignore"):
                    norm = blocks["cum_currmap"] / blocks["flow_potential"]
                norm[np.isnan(norm)] = 0.0  # 0 / 0 where neither current nor flow potential reached
                blocks["normalized_cum_currmap"] = norm
            if mask_nodata or "classified_resistance" in writers:
                res = layers.read(rows, slice(0, n)).resistance
                blocks["classified_resistance"] = res
                if mask_nodata:
                    for name in ("cum_currmap", "flow_potential", "normalized_cum_currmap"):
                        if name in blocks:
                            blocks[name][np.isnan(res)] = np.nan
            for name, writer in writers.items():
                writer.write(blocks[name])
        return [w.close() for w in writers.values()]
    finally:
        for w in writers.values():
            w.discard()


def run_streamed(layers: FileLayers, rules: WindowRules, tiles: tuple[int, int], folder: Path, ext: str,
                 wanted: dict[str, bool], mask_nodata: bool, method: str = "direct", correction=None,
                 client=None, checkpoint: Path | None = None,
                 started: Callable[[int], Callable[[int], None]] | None = None) -> tuple[int, list[Path]]:
    """Solve every tile reading only its slab, write the outputs into ``folder`` (which must exist);
    (windows, files written). ``started(total windows)`` is called once the windows are counted
    and returns the callback that receives the windows done as they finish."""
    with small_gdal_cache(gdal_cache_bytes(layers.spec.shape[1])):
        return _run_streamed(layers, rules, tiles, folder, ext, wanted, mask_nodata, method, correction, client,
                             checkpoint, started)


def _run_streamed(layers, rules, tiles, folder, ext, wanted, mask_nodata, method, correction, client, checkpoint,
                  started):
    shape = layers.spec.shape
    plan = plan_tiles(shape, tiles, rules)
    counts = count_targets(layers, plan, rules.block_size)
    jobs = [(tile, layers.slab(tile.rows, tile.cols), int(c)) for tile, c in zip(plan, counts) if c]
    total = int(counts.sum())
    progress = started(total) if started is not None else None
    scratch = folder / ".scratch"
    scratch.mkdir()
    try:
        cum = Scratch(scratch / "cum_currmap.f64", shape)
        fp = Scratch(scratch / "flow_potential.f64", shape) if rules.flow_potential else None

        def add(tile, c, f):
            cum.add(tile.rows, tile.cols, c)
            if fp is not None:
                fp.add(tile.rows, tile.cols, f)

        stamp = None if checkpoint is None else \
            (checkpoint, repr((layers.fingerprint(), rules, tuple(tiles), method)))
        run_tiles(jobs, rules, shape, add, method, correction, client, None, stamp, progress)
        return total, write_outputs(folder, ext, layers, cum, fp, wanted, mask_nodata)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        layers.close()
