"""The report of a linkage run as a library call: explicit input files in, tables, maps and summary out.

The numbers come from :mod:`gpucircuit.analysis.report` and :mod:`.tables`; this module reads the
inputs it is given (never "the newest file"), decides what feeds what, and writes OUT/report/.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analysis import report as rp
from ..errors import InputError
from ..io.raster import check_same_grid, read_raster
from .files import CORRIDORS, LINK_TABLE, PATHS

METHODS = ("jenks", "quantile", "equal_interval")
LINKAGE_HINT = "gpucircuit linkage RESISTANCE CORES -o OUT --cutoff C"


@dataclass
class ReportFiles:
    """The linkage outputs the report reads."""

    link_table: Path
    corridors: Path
    paths: Path
    pinch: Path
    barrier: Path


def report_files(out: Path, pinch: Path | None = None, barrier: Path | None = None) -> ReportFiles:
    """The linkage outputs in ``out``; the maps are ``pinch`` / ``barrier`` when given, else the one
    file of their pattern (several candidates is an error asking for the path: no guessing by date)."""
    if not out.is_dir():
        raise InputError(f"output folder {out} not found; make it with '{LINKAGE_HINT}'")
    found = {}
    for key, name in (("link_table", LINK_TABLE), ("corridors", CORRIDORS), ("paths", PATHS)):
        if not (out / name).exists():
            raise InputError(f"{out / name} not found; make it with '{LINKAGE_HINT}'")
        found[key] = out / name
    found["pinch"] = pinch or _only(out, ("pinchpoints_all_to_one*_cutoff*.tif", "pinchpoints_adjacent*_cutoff*.tif"),
                                    "--pinchpoints", LINKAGE_HINT)
    found["barrier"] = barrier or _only(out, ("barriers_max.tif", "barriers_max_pct.tif"), "--barriers",
                                        f"{LINKAGE_HINT} --radius-start R0 --radius-end R1 --radius-step DR")
    for key in ("pinch", "barrier"):
        if not found[key].exists():
            raise InputError(f"{found[key]} not found")
    return ReportFiles(**found)


def _only(folder: Path, patterns: tuple[str, ...], option: str, hint: str) -> Path:
    for pattern in patterns:  # in order of preference: the first pattern with a match decides
        files = sorted(folder.glob(pattern))
        if len(files) > 1:
            raise InputError(f"{folder} holds {len(files)} maps matching {pattern} "
                             f"({', '.join(p.name for p in files)}): choose one with {option} PATH")
        if files:
            return files[0]
    raise InputError(f"{folder / patterns[0]} not found; make it with '{hint}'")


@dataclass
class ReportOptions:
    pinch_classes: int = 5
    barrier_classes: int = 5
    method: str = "jenks"
    landuse: Path | None = None
    landuse_names: Path | None = None
    lines: list[Path] = field(default_factory=list)
    line_field: str | None = None
    d_threshold: float = 5000.0
    p_threshold: float = 0.5
    gravity_threshold: float = 1.0
    sweep: str | None = None
    cutoffs: list[float] | None = None
    cwd_method: str = "auto"


def report_options(classes=5, method="jenks", landuse=None, landuse_names=None, lines=None, d_threshold=5000.0,
                   p_threshold=0.5, gravity_threshold=1.0, sweep=None, cwd_method="auto",
                   barrier_classes=None, line_field=None) -> ReportOptions:
    """Checked report options (errors name the command-line option)."""
    method = method.lower()
    if method not in METHODS:
        raise InputError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    for name, k in (("--classes", classes), ("--barrier-classes", barrier_classes)):
        if k is not None and not 2 <= k <= 255:
            raise InputError(f"{name} must be from 2 to 255, got {k}")
    if landuse_names is not None and landuse is None:
        raise InputError("--landuse-names needs --landuse")
    cutoffs = rp.parse_sweep(sweep) if sweep else None
    for p in lines or []:
        if not Path(p).exists():
            raise InputError(f"line file not found: {p}")
    return ReportOptions(classes, barrier_classes or classes, method, landuse, landuse_names,
                         [Path(p) for p in lines or []], line_field, d_threshold, p_threshold, gravity_threshold,
                         sweep, cutoffs, cwd_method)


def read_landuse_names(path: Path) -> dict[int, str]:
    """``code,name`` rows (a header row, if any, is skipped) → ``{code: name}``."""
    if not path.exists():
        raise InputError(f"land-use names file not found: {path}")
    names = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or not row[0].strip():
                continue
            try:
                code = int(float(row[0]))
            except ValueError:
                if n == 1:
                    continue  # header
                raise InputError(f"{path}, line {n}: land-use code {row[0]!r} is not an integer") from None
            names[code] = row[1].strip() if len(row) > 1 else str(code)
    return names


def read_landuse(path: Path, spec):
    """Integer land-use codes on the resistance grid (nodata → -9999)."""
    lu, lspec = read_raster(path, name="land-use raster")
    check_same_grid(spec, lspec, "resistance raster", "land-use raster", path)
    ok = np.isfinite(lu)
    if np.any(lu[ok] != np.round(lu[ok])):
        raise InputError(f"land-use raster {path} must hold integer class codes")
    return np.where(ok, lu, -9999).astype(np.int64)


def map_cutoff(pinch: Path) -> float | None:
    """The CWD cutoff in a pinch-point map's name (``..._cutoff2p5.tif`` → 2.5), None if absent."""
    m = re.search(r"_cutoff(\d+(?:p\d+)?)$", pinch.stem)
    return float(m[1].replace("p", ".")) if m else None


@dataclass
class Report:
    summary: dict
    outputs: list[Path]
    pinch: object
    barrier: object
