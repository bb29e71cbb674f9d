"""Raster input: GeoTIFF and ESRI ASCII grids (optionally gzipped), and grid checks.

Rasters come in as float64 arrays with nodata turned into NaN, plus a :class:`GridSpec`
that carries the georeferencing so outputs keep the input's CRS and transform.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..memory import return_freed_memory

NODATA_OUT = -9999.0


@dataclass(frozen=True)
class GridSpec:
    """Shape and georeferencing of a raster."""

    shape: tuple[int, int]
    transform: object  # affine.Affine
    crs: object | None = None  # rasterio CRS or None

    @property
    def cellsize(self) -> float:
        return float(abs(self.transform.a))

    def matches(self, other: "GridSpec", tol: float = 1e-6) -> bool:
        if self.shape != other.shape:
            return False
        a, b = self.transform, other.transform
        scale = max(abs(a.a), abs(a.e), 1e-12)
        return all(abs(x - y) <= tol * max(scale, abs(x), abs(y)) for x, y in zip(a[:6], b[:6]))


def _vsi_path(path: Path) -> str:
    with open(path, "rb") as fh:
        zipped = fh.read(2) == GZIP_MAGIC  # by content: a gzipped grid need not end in .gz
    return f"/vsigzip/{path}" if zipped else str(path)


GZIP_MAGIC = b"\x1f\x8b"
# keys an ESRI ASCII grid header may hold (GDAL's AAIGrid reader accepts them in any order)
ASCII_HEADER_KEYS = ("ncols", "nrows", "xllcorner", "yllcorner", "xllcenter", "yllcenter", "cellsize",
                     "dx", "dy", "nodata_value")


def file_head(path, size: int = 512) -> bytes:
    """The first ``size`` bytes of a file, decompressed when it is gzipped."""
    import gzip

    with open(path, "rb") as fh:
        head = fh.read(size)
    if head.startswith(GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(size)
        except (OSError, EOFError):
            return b""
    return head


def is_ascii_grid(path) -> bool:
    """True when the file (gzipped or not) starts with an ESRI ASCII grid header, whatever its name.

    Circuitscape decides by content too: a first line starting with ``ncols`` is a grid.
    """
    words = file_head(path).lstrip().split(None, 1)
    return bool(words) and words[0].decode("ascii", "replace").lower() in ASCII_HEADER_KEYS


def _open_text(path: Path):
    import gzip

    with open(path, "rb") as fh:
        zipped = fh.read(2) == GZIP_MAGIC
    return gzip.open(path, "rt", errors="replace") if zipped else open(path, errors="replace")


def _ascii_header(fh, path: Path, name: str) -> tuple[dict[str, str], int]:
    """Header key -> value token, and the number of header lines (the body starts after them)."""
    header: dict[str, str] = {}
    pos = fh.tell()
    lines = 0
    while True:
        line = fh.readline()
        words = line.split()
        if not words or words[0].lower() not in ASCII_HEADER_KEYS:
            fh.seek(pos)
            break
        if len(words) != 2:
            raise InputError(f"{name} {path} line {lines + 1}: header line {line.strip()!r} needs one value")
        header[words[0].lower()] = words[1]
        pos = fh.tell()
        lines += 1
    for key in ("ncols", "nrows"):
        try:
            if int(header.get(key, "")) <= 0:
                raise ValueError
        except ValueError:
            raise InputError(f"{name} {path}: ASCII grid header needs a positive whole {key}, "
                             f"got {header.get(key, 'nothing')!r}") from None
    return header, lines


def _read_ascii_values(path: Path, name: str) -> tuple[np.ndarray, float | None]:
    """Cell values as float64 exactly as written (GDAL would guess int32 for integer-looking grids
    and wrap values above 2**31), and the header's nodata value.

    Values may wrap over lines; a word that is not a number, or too few or too many values, is an
    error naming the file and the cell.
    """
    with _open_text(path) as fh:
        header, lineno = _ascii_header(fh, path, name)
        nrows, ncols = int(header["nrows"]), int(header["ncols"])
        nodata = None
        if "nodata_value" in header:
            try:
                nodata = float(header["nodata_value"])
            except ValueError:
                raise InputError(f"{name} {path}: NODATA_value {header['nodata_value']!r} is not a number") from None
        total = nrows * ncols
        out = np.empty(total, dtype=np.float64)
        filled = 0
        for line in fh:
            lineno += 1
            words = line.split()
            if not words:
                continue
            if filled + len(words) > total:
                found = filled + len(words) + sum(len(rest.split()) for rest in fh)
                raise InputError(f"{name} {path} holds {found} values, but its header says {nrows} rows x "
                                 f"{ncols} columns = {total}")
            try:
                out[filled:filled + len(words)] = np.array(words, dtype=np.float64)
            except ValueError:
                k = next(k for k, w in enumerate(words) if not is_number(w))
                r, c = divmod(filled + k, ncols)
                raise InputError(f"{name} {path} has {words[k]!r} at row {r}, column {c} (line {lineno}): "
                                 "expected a number") from None
            filled += len(words)
    if filled < total:
        raise InputError(f"{name} {path} holds {filled} values, but its header says {nrows} rows x {ncols} "
                         f"columns = {total}")
    return out.reshape(nrows, ncols), nodata


def is_number(word: str | bytes) -> bool:
    """Whether a word of a text grid reads as a number (for the error that names the bad cell)."""
    try:
        float(word)
        return True
    except ValueError:
        return False


def read_raster(path, name: str = "raster", nan_is_nodata: bool = True) -> tuple[np.ndarray, GridSpec]:
    """Read band 1 as float64 with nodata as NaN. ``name`` labels error messages.

    ESRI ASCII grids (recognised by their header, gzipped or not) have their values parsed here as
    float64, as Circuitscape reads them; GDAL supplies only the georeferencing (and a ``.prj`` CRS).
    With ``nan_is_nodata=False`` a NaN cell in a raster whose declared nodata is not NaN is an
    error (it is usually a broken resistance computation, not intended nodata).
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    path = Path(path)
    if not path.exists():
        raise InputError(f"{name} file not found: {path}")
    ascii_grid = is_ascii_grid(path)
    try:
        # DATATYPE=Float64 stops GDAL scanning an ASCII grid's body to guess its type
        with rasterio.open(_vsi_path(path), **({"DATATYPE": "Float64"} if ascii_grid else {})) as ds:
            spec = GridSpec((ds.height, ds.width), ds.transform, ds.crs)
            declared = ds.nodata
            data = None if ascii_grid else ds.read(1, masked=True).astype(np.float64)
    except (RasterioIOError, ValueError) as err:
        raise InputError(f"cannot read {name} {path}: {str(err).splitlines()[0]}") from None
    if ascii_grid:
        values, declared = _read_ascii_values(path, name)
        if values.shape != spec.shape:  # GDAL and we disagree on the header: trust neither
            raise InputError(f"{name} {path}: header read as {values.shape} here but {spec.shape} by GDAL")
        nodata_cells = np.zeros(values.shape, bool) if declared is None else \
            (np.isnan(values) if np.isnan(declared) else values == declared)
        data = np.ma.masked_array(values, mask=nodata_cells)
    out = data.filled(np.nan)
    if not nan_is_nodata and not (declared is not None and np.isnan(declared)):
        raw_nan = np.isnan(out) & ~np.ma.getmaskarray(data)
        if raw_nan.any():
            r, c = np.argwhere(raw_nan)[0]
            raise InputError(f"{name} {path} has NaN values ({int(raw_nan.sum())} cells, first at row {r}, "
                             f"column {c}) that are not its nodata value {declared}")
    del data
    return_freed_memory()  # GDAL's block buffers, freed but still resident
    return out, spec


def check_same_crs(ref_crs, other_crs, ref_name: str, other_name: str) -> None:
    """Error unless both CRSs are equal or both unknown: with one side unknown nobody can tell
    whether the two line up, so guessing would risk a silently shifted answer."""
    if (ref_crs is None) != (other_crs is None):
        missing, other = (other_name, f"the {ref_name}") if other_crs is None else (f"the {ref_name}", other_name)
        raise InputError(f"{missing} has no CRS but {other} has one: give both the same CRS")
    if ref_crs is not None and ref_crs != other_crs:
        raise InputError(f"{other_name} has CRS {other_crs}, but the {ref_name} has {ref_crs}")


def check_same_grid(ref: GridSpec, other: GridSpec, ref_name: str, other_name: str, path) -> None:
    """Error unless ``other`` has the same shape, georeferencing and CRS as ``ref``."""
    if ref.shape != other.shape:
        raise InputError(
            f"{other_name} {path} has {other.shape[0]} rows x {other.shape[1]} columns, "
            f"but the {ref_name} has {ref.shape[0]} x {ref.shape[1]}"
        )
    if not ref.matches(other):
        raise InputError(
            f"{other_name} {path} is not aligned with the {ref_name} "
            f"(origin/cell size {tuple(other.transform[:6])} vs {tuple(ref.transform[:6])})"
        )
    check_same_crs(ref.crs, other.crs, ref_name, f"{other_name} {path}")


def _ascii_header_shape(path: Path) -> tuple[int, int] | None:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    keys = {}
    with opener(path, "rt", errors="replace") as fh:
        for _ in range(8):
            parts = fh.readline().split()
            if len(parts) == 2 and parts[0].lower() in ("ncols", "nrows"):
                keys[parts[0].lower()] = int(float(parts[1]))
            if len(keys) == 2:
                return keys["nrows"], keys["ncols"]
    return None


def raster_shape(path) -> tuple[int, int] | None:
    """(rows, columns) from a raster's header alone, without reading its cells; None where the
    header cannot be read (the full read then reports why)."""
    path = Path(path)
    try:
        if path.name.lower().endswith((".asc", ".asc.gz", ".txt", ".txt.gz")):
            return _ascii_header_shape(path)
        import rasterio

        with rasterio.open(_vsi_path(path)) as ds:
            return ds.height, ds.width
    except Exception:  # noqa: BLE001 - any failure here is reported by the full read
        return None
