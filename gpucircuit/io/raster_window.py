"""Rasters read and written a window at a time, for jobs whose rasters do not fit in memory.

:class:`RasterWindows` reads rectangles of band 1 as float64 with nodata as NaN, the values
:func:`~gpucircuit.io.raster.read_raster` gives for the same cells: GDAL rasters through
rasterio's windowed reads, ESRI ASCII grids by seeking to the first wanted row (the rows' byte
offsets are indexed once, in one pass over the file) and parsing only the rows needed.
:class:`WindowedWriter` writes a GeoTIFF or ASCII grid block of rows by block of rows, in the
layout :func:`~gpucircuit.io.raster_write.write_raster` gives a whole array.
"""
from __future__ import annotations

import gzip
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import InputError
from .raster import ASCII_HEADER_KEYS, GZIP_MAGIC, NODATA_OUT, GridSpec, is_ascii_grid, is_number
from .raster_write import ascii_grid_blocks, ascii_grid_header, write_failure


ASCII_CHUNK_CELLS = 1 << 18  # cells of an ASCII grid parsed at once (2 MiB of float64)


TIFF_BLOCK = 256  # rows and columns of a written GeoTIFF's blocks; write whole bands of them


def gdal_cache_bytes(width: int, outputs: int = 4) -> int:
    """GDAL's block cache for reading and writing by windows: a band of blocks per output file being
    written, twice over. Its default (5 % of RAM) would keep every block written until the file is
    closed, which is the raster's size again."""
    return 2 * outputs * TIFF_BLOCK * max(width, TIFF_BLOCK) * 8


@contextmanager
def small_gdal_cache(nbytes: int):
    """GDAL's block cache held to ``nbytes`` inside the block."""
    import rasterio

    with rasterio.Env(GDAL_CACHEMAX=max(nbytes, 1 << 20)):
        yield


def _is_gzipped(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


class RasterWindows:
    """Windows of one raster's band 1 (float64, nodata as NaN); ``name`` labels error messages.

    Only the header is read when this is made; :attr:`spec` gives the shape and georeferencing."""

    def __init__(self, path, name: str = "raster"):
        import rasterio
        from rasterio.errors import RasterioIOError

        self.path, self.name = Path(path), name
        if not self.path.exists():
            raise InputError(f"{name} file not found: {self.path}")
        self.ascii = is_ascii_grid(self.path)
        self.gzipped = _is_gzipped(self.path)
        where = f"/vsigzip/{self.path}" if self.gzipped else str(self.path)
        try:  # DATATYPE=Float64 stops GDAL scanning an ASCII grid's body to guess its type
            with rasterio.open(where, **({"DATATYPE": "Float64"} if self.ascii else {})) as ds:
                self.spec = GridSpec((ds.height, ds.width), ds.transform, ds.crs)
                self.nodata = ds.nodata
        except (RasterioIOError, ValueError) as err:
            raise InputError(f"cannot read {name} {self.path}: {str(err).splitlines()[0]}") from None
        self._where = where
        self._ds = None
        self._rows: np.ndarray | None = None  # ASCII, per row: byte offset of its line, values before it there

    @property
    def shape(self) -> tuple[int, int]:
        return self.spec.shape

    def _open(self):
        return gzip.open(self.path, "rb") if self.gzipped else open(self.path, "rb")

    def _body(self, fh) -> int:
        """Skip the header; the number of header lines (and set the nodata value it declares)."""
        lines = 0
        while True:
            pos = fh.tell()
            words = fh.readline().split()
            if not words or words[0].decode("ascii", "replace").lower() not in ASCII_HEADER_KEYS:
                fh.seek(pos)
                return lines
            if words[0].lower() == b"nodata_value" and len(words) == 2:
                try:
                    self.nodata = float(words[1])
                except ValueError:
                    raise InputError(f"{self.name} {self.path}: NODATA_value {words[1].decode()!r} "
                                     "is not a number") from None
            lines += 1

    def _index_rows(self) -> None:
        """Where each row starts (values may wrap over lines): one pass, a few bytes per row kept."""
        m, n = self.shape
        rows, seen = [], 0
        with self._open() as fh:
            self._body(fh)
            while True:
                pos = fh.tell()
                line = fh.readline()
                if not line:
                    break
                count = len(line.split())
                while count and len(rows) < m and len(rows) * n < seen + count:
                    rows.append((pos, len(rows) * n - seen))
                seen += count
        if seen != m * n:
            raise InputError(f"{self.name} {self.path} holds {seen} values, but its header says {m} rows x "
                             f"{n} columns = {m * n}")
        self._rows = np.array(rows, dtype=np.int64).reshape(-1, 2)  # 16 bytes a row, not a Python tuple's 100

    def _read_ascii(self, rows: slice) -> np.ndarray:
        if self._rows is None:
            self._index_rows()
        n = self.shape[1]
        want = (rows.stop - rows.start) * n
        pos, skip = (int(v) for v in self._rows[rows.start])
        out = np.empty(want)
        filled = 0
        with self._open() as fh:
            fh.seek(pos)
            while filled < want:
                words = fh.readline().split()[skip:]
                skip = 0
                words = words[:want - filled]
                try:
                    out[filled:filled + len(words)] = np.array(words, dtype=np.float64)
                except ValueError:
                    bad = next(w for w in words if not is_number(w))
                    r = rows.start + filled // n
                    raise InputError(f"{self.name} {self.path} has {bad.decode(errors='replace')!r} near row {r}: "
                                     "expected a number") from None
                filled += len(words)
        out = out.reshape(-1, n)
        if self.nodata is not None:
            out[np.isnan(out) if np.isnan(self.nodata) else out == self.nodata] = np.nan
        return out

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        """Cells ``[rows, cols]`` (plain slices with start and stop inside the raster)."""
        if self.ascii:  # whole rows are parsed, a bounded number at a time, and cut to the columns
            step = max(1, ASCII_CHUNK_CELLS // self.shape[1])
            return np.concatenate([self._read_ascii(slice(r, min(r + step, rows.stop)))[:, cols]
                                   for r in range(rows.start, rows.stop, step)])
        import rasterio
        from rasterio.windows import Window

        if self._ds is None:  # opened once per process (opening costs more than a small window's read)
            self._ds = rasterio.open(self._where)
        window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        return self._ds.read(1, window=window, masked=True).astype(np.float64).filled(np.nan)

    def __getstate__(self):
        return {**self.__dict__, "_ds": None}  # a dataset handle does not travel to dask workers

    def close(self) -> None:
        if self._ds is not None:
            self._ds.close()
            self._ds = None


class WindowedWriter:
    """A raster written block of rows by block of rows, top to bottom, to a temporary beside
    ``path`` that replaces it on :meth:`close`; :meth:`discard` removes the temporary.

    ``.tif`` / ``.tiff``: a tiled, DEFLATE float64 GeoTIFF; anything else: an ASCII grid
    (gzipped when the name ends in ``.gz``). NaN is written as ``nodata``."""

    def __init__(self, path, spec: GridSpec, nodata: float = NODATA_OUT):
        self.path, self.spec, self.nodata = Path(path), spec, nodata
        self.row = 0
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.tif = self.path.suffix.lower() in (".tif", ".tiff")
        try:
            if self.tif:
                import rasterio

                m, n = spec.shape
                profile = dict(driver="GTiff", height=m, width=n, count=1, dtype="float64",
                               transform=spec.transform, nodata=nodata, crs=spec.crs, compress="deflate",
                               predictor=3, zlevel=1, num_threads="ALL_CPUS", BIGTIFF="IF_SAFER")
                if min(m, n) >= TIFF_BLOCK:
                    profile.update(tiled=True, blockxsize=TIFF_BLOCK, blockysize=TIFF_BLOCK)
                self.ds = rasterio.open(self.tmp, "w", **profile)
            else:
                self.ds = gzip.open(self.tmp, "wb", compresslevel=1) if self.path.suffix == ".gz" \
                    else open(self.tmp, "wb")
                self.ds.write(ascii_grid_header(spec.shape, spec, nodata).encode("ascii"))
        except OSError as err:
            self.tmp.unlink(missing_ok=True)
            raise write_failure(self.path, err) from None

    def write(self, block: np.ndarray) -> None:
        """The next rows (k, columns)."""
        block = np.asarray(block, dtype=np.float64)
        try:
            if self.tif:
                from rasterio.windows import Window

                window = Window(0, self.row, block.shape[1], block.shape[0])
                self.ds.write(np.where(np.isnan(block), self.nodata, block), 1, window=window)
            else:
                for text in ascii_grid_blocks(block, self.nodata):
                    self.ds.write(text)
        except OSError as err:
            raise write_failure(self.path, err) from None
        self.row += block.shape[0]

    def close(self) -> Path:
        if self.row != self.spec.shape[0]:
            raise ValueError(f"{self.path}: {self.row} of {self.spec.shape[0]} rows written")
        self.ds.close()
        os.chmod(self.tmp, 0o644)
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        try:
            self.ds.close()
        finally:
            self.tmp.unlink(missing_ok=True)
