"""Raster output, written atomically: GeoTIFF, ESRI ASCII grids (optionally gzipped), class maps
with colour tables, and text files. A temporary beside the target is renamed over it once
complete, so a failed write leaves neither the file nor a temporary behind."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..errors import InputError, OutputError
from . import ascii_compiled
from .ascii_text import grid_rows
from .raster import NODATA_OUT, GridSpec


def _atomic_target(path: Path) -> Path:
    """A hidden temporary beside ``path`` (``.NAME.XXXX.tmp``), renamed over it once complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; results are for sharing
    return Path(tmp)



def failure_reason(err: BaseException) -> str:
    """The system's reason for a failed file operation, in a few words ("no space left on device")."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror[0].lower() + err.strerror[1:]
    text = str(err).splitlines()[0] if str(err) else ""
    return text or type(err).__name__



def write_failure(path, err: BaseException) -> OutputError:
    """One line naming the file and the system's reason (disk full, read-only, permission)."""
    return OutputError(f"cannot write {path}: {failure_reason(err)}")



@contextmanager
def _replacing(path: Path):
    """Yield a temporary that replaces ``path`` on success. On any failure (Ctrl-C and SIGTERM,
    turned into exceptions by the CLI, included) the temporary goes; OS and GDAL errors become
    one line naming ``path``."""
    from rasterio.errors import RasterioError

    tmp = None
    try:
        tmp = _atomic_target(path)
        yield tmp
        os.replace(tmp, path)
    except (OSError, RasterioError) as err:
        raise write_failure(path, err) from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)



def write_text_atomic(path, text: str) -> None:
    path = Path(path)
    with _replacing(path) as tmp:
        tmp.write_text(text)



def copy_file_atomic(src, dst) -> Path:
    """Copy the file ``src`` to ``dst`` atomically (a written map whose twin has the same bytes)."""
    dst = Path(dst)
    with _replacing(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst



def _fmt_header_number(x: float) -> str:
    x = float(x)
    return repr(x) if x != int(x) or abs(x) >= 1e15 else f"{x:.1f}"



def ascii_grid_header(shape: tuple[int, int], spec: GridSpec, nodata: float = NODATA_OUT) -> str:
    """Circuitscape's six header lines of an ESRI ASCII grid."""
    m, n = shape
    t = spec.transform
    lines = [
        f"ncols         {n}",
        f"nrows         {m}",
        f"xllcorner     {_fmt_header_number(t.c)}",
        f"yllcorner     {_fmt_header_number(t.f + m * t.e)}",
        f"cellsize      {_fmt_header_number(abs(t.a))}",
        f"NODATA_value  {int(nodata) if float(nodata).is_integer() else nodata}",
    ]
    return "\n".join(lines) + "\n"



# rows formatted per block: large enough that the per-block NumPy overhead vanishes, small enough
# that one block (its records and NumPy temporaries, ~180 B a value) stays near 3 MB
_ROWS_PER_BLOCK_CELLS = 1 << 14



def use_compiled(values: int) -> bool:
    """Whether a map of ``values`` values is formatted by the compiled loop (``ascii_compiled``)."""
    return values >= ascii_compiled.MIN_VALUES and ascii_compiled.available()


def ascii_rows_bytes(rows: np.ndarray, nodata: float = NODATA_OUT, compiled: bool | None = None):
    """Rows of an ASCII grid's body: 10 significant digits, NaN as ``nodata``, every row ending in a
    space (Circuitscape's layout), as bytes or a bytes-like uint8 array (for ``file.write``).
    ``compiled``: by the compiled loop, or by the NumPy passes (the same bytes); None: by the size."""
    if use_compiled(rows.size) if compiled is None else compiled:
        try:
            return ascii_compiled.rows_text(rows, nodata)
        except ImportError:
            pass  # numba there but not importable: the NumPy passes make the same bytes
    step = max(1, _ROWS_PER_BLOCK_CELLS // max(rows.shape[1], 1))
    return b"".join(grid_rows(np.where(np.isnan(block), nodata, block))
                    for block in (np.asarray(rows[i:i + step], dtype=np.float64) for i in range(0, len(rows), step)))


# values per block of the compiled loop: its output buffer (18 B a value) stays a few MB
_COMPILED_BLOCK_CELLS = 1 << 18


def ascii_grid_blocks(data: np.ndarray, nodata: float = NODATA_OUT):
    """The body of an ASCII grid as bytes, block of rows by block of rows (a few MB each)."""
    m, n = data.shape
    compiled = use_compiled(data.size)
    step = max(1, (_COMPILED_BLOCK_CELLS if compiled else _ROWS_PER_BLOCK_CELLS) // max(n, 1))
    for i in range(0, m, step):
        yield ascii_rows_bytes(data[i:i + step], nodata, compiled)



# rows per task when the formatting is spread over writer processes: ~2 M values, ~25 MB of text
SPREAD_CHUNK_CELLS = 1 << 20



def ascii_grid_text(data: np.ndarray, spec: GridSpec, nodata: float = NODATA_OUT) -> str:
    """ESRI ASCII grid text (small grids and tests; files are written block by block)."""
    data = np.asarray(data, dtype=np.float64)
    return ascii_grid_header(data.shape, spec, nodata) + b"".join(ascii_grid_blocks(data, nodata)).decode("ascii")



# a gzip level that keeps pace with the text formatting: level 9 took 100 s on 16 M cells, level 1 a few
GZIP_LEVEL = 1



def ascii_rows_to_part(rows: np.ndarray, nodata: float, part: str, compiled: bool | None = None) -> str:
    """In a writer process: a block of rows formatted into the file ``part``; returns its path. The
    text goes to disk where it is made instead of back through a pipe (measured, 24 M values spread
    over 2 processes: 3.7 s with the text sent back, of which 0.8 s is the sending)."""
    with open(part, "wb") as fh:
        fh.write(ascii_rows_bytes(rows, nodata, compiled))
    return part


def _append_file(fh, path: str) -> None:
    """Append the file ``path`` to the open binary file ``fh`` (in the kernel where it can)."""
    fh.flush()
    with open(path, "rb") as src:
        size = os.fstat(src.fileno()).st_size
        sent = 0
        try:
            while sent < size:
                done = os.sendfile(fh.fileno(), src.fileno(), sent, size - sent)
                if done == 0:
                    break
                sent += done
        except (AttributeError, OSError):
            pass  # no sendfile between these files: copied below from where it stopped
        if sent < size:
            src.seek(sent)
            fh.seek(0, os.SEEK_END)
            shutil.copyfileobj(src, fh)


def _write_ascii(tmp: Path, data: np.ndarray, spec: GridSpec, nodata: float, gz: bool, spread=None) -> None:
    import gzip

    m, n = data.shape
    header = ascii_grid_header(data.shape, spec, nodata).encode("ascii")
    if spread is not None and not gz:
        # row blocks formatted by the writer processes into parts beside the temporary
        # (.NAME.XXXX.pNNNNN.tmp: a killed run's are cleaned like its temporaries), appended in order
        step = max(1, SPREAD_CHUNK_CELLS // max(n, 1))
        starts = range(0, m, step)
        parts = [str(tmp.with_name(f"{tmp.name[:-len('.tmp')]}.p{k:05d}.tmp")) for k in range(len(starts))]
        try:
            with open(tmp, "wb") as fh:
                fh.write(header)
                compiled = use_compiled(data.size)
                for part in spread(ascii_rows_to_part, ((data[i:i + step], nodata, parts[k], compiled)
                                                        for k, i in enumerate(starts))):
                    _append_file(fh, part)
                    os.unlink(part)
        finally:
            for part in parts:  # imap has waited for every block it started
                Path(part).unlink(missing_ok=True)
        return
    opener = (lambda: gzip.open(tmp, "wb", compresslevel=GZIP_LEVEL)) if gz else (lambda: open(tmp, "wb"))
    with opener() as fh:
        fh.write(header)
        for text in ascii_grid_blocks(data, nodata):
            fh.write(text)



def _write_geotiff(tmp: Path, data: np.ndarray, spec: GridSpec, nodata: float) -> None:
    import rasterio

    dtype = "float32" if data.dtype == np.float32 else "float64"
    profile = dict(
        driver="GTiff", height=data.shape[0], width=data.shape[1], count=1, dtype=dtype,
        transform=spec.transform, nodata=nodata, crs=spec.crs,
        # floating-point predictor: current and voltage maps are smooth, so DEFLATE at its fastest
        # level still shrinks them; compression runs on every core
        compress="deflate", predictor=3, zlevel=1, num_threads="ALL_CPUS", BIGTIFF="IF_SAFER",
    )
    if min(data.shape) >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(tmp, "w", **profile) as ds:
        ds.write(np.where(np.isnan(data), nodata, data).astype(dtype, copy=False), 1)



def write_raster(path, data: np.ndarray, spec: GridSpec, nodata: float = NODATA_OUT, compress: bool = False,
                 dtype: str | None = None, spread=None) -> Path:
    """Write ``data`` (NaN = nodata) as GeoTIFF (``.tif``: tiled, DEFLATE, cells of ``dtype``, by default
    float32 data stays float32 and the rest is float64) or ASCII grid (anything else; gzipped as
    ``NAME.gz`` with ``compress``), atomically.

    ``spread(fn, args_list)`` (``WriteQueue.imap``), if given, formats an ASCII grid's rows in other
    processes, in order, while this one writes them: one large map then uses every core.

    A failure to write (folder, disk full, read-only file system) is an :class:`OutputError`
    naming the file, and leaves neither the file nor a temporary behind.
    """
    path = Path(path)
    data = np.asarray(data)
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    elif data.dtype != np.float32:
        data = data.astype(np.float64, copy=False)
    if path.suffix.lower() in (".tif", ".tiff"):
        with _replacing(path) as tmp:
            _write_geotiff(tmp, data, spec, nodata)
        return path
    gz = compress or path.suffix == ".gz"
    if gz and path.suffix != ".gz":
        path = path.with_name(path.name + ".gz")
    with _replacing(path) as tmp:
        _write_ascii(tmp, data, spec, nodata, gz, spread)
    return path



def write_class_raster(path, data: np.ndarray, spec: GridSpec, colours: dict[int, tuple] | None = None,
                       nodata: int | None = None) -> Path:
    """Write a uint8 class map as a deflate-compressed GeoTIFF, atomically, with an optional colour
    table ``{code: (r, g, b)}`` so GIS software shows the classes in their own colours."""
    import rasterio

    path = Path(path)
    data = np.asarray(data)
    if data.dtype != np.uint8:
        raise InputError(f"class raster {path.name} must be uint8, got {data.dtype}")
    profile = dict(driver="GTiff", height=data.shape[0], width=data.shape[1], count=1, dtype="uint8",
                   transform=spec.transform, crs=spec.crs, nodata=nodata, compress="deflate")
    if data.size > 1 << 20:
        profile.update(tiled=True, blockxsize=512, blockysize=512, BIGTIFF="IF_SAFER")
    with _replacing(path) as tmp, rasterio.open(tmp, "w", **profile) as ds:
        ds.write(data, 1)
        if colours:
            ds.write_colormap(1, {int(k): tuple(int(c) for c in v) + (255,) for k, v in colours.items()})
    return path
