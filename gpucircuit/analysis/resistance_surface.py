"""A resistance surface from a ``resistance`` TOML file: weights, factors graded on the template
grid one at a time (on the array backend), weighted sum, correction; then the output files."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backend import get_backend, to_host
from ..errors import InputError
from ..io.factor_grid import padded_grid, raster_on_grid, template_grid, vector_on_grid
from ..io.factors import FactorConfig, ResistanceConfig
from ..io.notice import warn_user
from ..io.raster import GridSpec
from . import resistance as rs
from .ahp import CR_LIMIT, ahp_weights

OUTPUT_RASTER = "resistance.tif"
OUTPUT_WEIGHTS = "weights.csv"
OUTPUT_PNG = "resistance.png"
OUTPUT_GRADING = "grading.csv"
OUTPUT_TABLE = "resistance_table.md"


@dataclass
class ResistanceSurface:
    surface: np.ndarray          # float64 on the host, NaN = nodata
    spec: GridSpec
    factors: tuple[str, ...]
    weights: np.ndarray          # in the order of ``factors``
    cr: float | None = None      # AHP consistency ratio (None: weights given directly)
    lambda_max: float | None = None
    grading: list[dict] = field(default_factory=list)  # per factor and class: bounds and grade


def factor_weights(cfg: ResistanceConfig) -> tuple[np.ndarray, float | None, float | None]:
    """Weights in the order of the factors, the AHP CR and lambda_max (None when given directly).

    CR >= 0.1 is an error unless the [ahp] table allows it, then a warning.
    """
    names = [f.name for f in cfg.factors]
    w = cfg.weights
    if w.by_factor is not None:
        return np.array([w.by_factor[n] for n in names]), None, None
    try:
        res = ahp_weights(w.matrix)
    except InputError as err:
        raise cfg.error("[ahp] key 'matrix'", str(err)) from None
    if not res.consistent:
        msg = (f"consistency ratio CR = {res.cr:.4f} is not below {CR_LIMIT} (lambda_max = {res.lambda_max:.4f}): "
               "revise the judgements")
        if not w.allow_inconsistent:
            raise cfg.error("[ahp] key 'matrix'", msg + " or set allow_inconsistent = true")
        warn_user(f"{cfg.source}: [ahp]: {msg}; used anyway (allow_inconsistent = true)")
    by_name = dict(zip(w.order, res.weights))
    return np.array([by_name[n] for n in names]), res.cr, res.lambda_max


def feature_distance(f: FactorConfig, spec: GridSpec, xp):
    """Distance to a factor's features on the template grid; cells nodata in a feature raster stay nodata.

    With fixed breaks, features up to the last break outside the grid still count: the grid is padded
    by that distance first. (With data-driven classes the distances define the breaks, so only features
    on the grid count.)
    """
    pad = 0 if f.breaks is None else math.ceil(max(f.breaks[-1], 0.0) / min(abs(spec.transform.a),
                                                                            abs(spec.transform.e)))
    big = padded_grid(spec, pad)
    nodata = None
    if f.is_vector:
        features = vector_on_grid(f.path, big, "feature layer", f.layer, f.all_touched)
    else:
        v = raster_on_grid(f.path, big, f.resampling, "feature raster")
        features = np.isin(v, f.features) if f.features else (np.isfinite(v) & (v != 0))
        nodata = np.isnan(v[pad:pad + spec.shape[0], pad:pad + spec.shape[1]])
    if not features.any():
        raise InputError(f"no feature of {f.path} lies on the template grid"
                         + (f" or within {f.breaks[-1]:g} of it" if pad else ""))
    dist = rs.distance_to_features(xp.asarray(features), (abs(spec.transform.e), abs(spec.transform.a)))
    dist = dist[pad:pad + spec.shape[0], pad:pad + spec.shape[1]]
    return dist if nodata is None or not nodata.any() else xp.where(xp.asarray(nodata), xp.nan, dist)


def grade_factor(f: FactorConfig, spec: GridSpec, xp) -> tuple[object, list[dict]]:
    """One factor's grades on the template grid (an ``xp`` array, NaN = nodata) and its grading rows."""
    if f.kind == "distance":
        values = feature_distance(f, spec, xp)
    else:
        values = xp.asarray(raster_on_grid(f.path, spec, f.resampling, "raster"))
        if not bool((~xp.isnan(values)).any()):
            raise InputError(f"{f.path} has no valid cell on the template grid")
    nodata_cells = int(xp.isnan(values).sum())
    if f.kind == "reclass":
        keys = sorted(f.table)
        graded = rs.grade_reclass(values, f.table, f.nodata_grade)  # first: it checks every class has a grade
        counts = rs.class_counts(values, keys, categorical=True)
        rows = [{"class": k, "lower": k, "upper": k, "grade": f.table[k]} for k in keys]
    else:
        if f.breaks is not None:
            inner = np.asarray(f.breaks)
        else:
            inner = rs.data_breaks(values, f.classes, f.method if f.kind == "distance" else f.kind)
        k = inner.size + 1
        grades = np.asarray(f.grades) if f.grades is not None else rs.even_grades(k, f.grade_range)
        graded = rs.grade_breaks(values, inner, grades, f.nodata_grade)
        counts = rs.class_counts(values, inner, categorical=False)
        bounds = [-np.inf, *inner.tolist(), np.inf]
        rows = [{"class": c + 1, "lower": bounds[c], "upper": bounds[c + 1], "grade": float(grades[c])}
                for c in range(k)]
    for row, n in zip(rows, counts):
        row["cells"] = int(n)
    if f.nodata_grade is not None and nodata_cells:
        rows.append({"class": "nodata", "lower": np.nan, "upper": np.nan, "grade": f.nodata_grade,
                     "cells": nodata_cells})
    return graded, [{"factor": f.name, **r} for r in rows]


def build_resistance(cfg: ResistanceConfig) -> ResistanceSurface:
    """Grade every factor on the template grid, sum them with their weights, apply the correction."""
    weights, cr, lam = factor_weights(cfg)
    spec = template_grid(cfg)
    xp = get_backend().xp
    grading: list[dict] = []

    def graded():
        for f in cfg.factors:  # one factor on the device at a time
            try:
                g, rows = grade_factor(f, spec, xp)
            except InputError as err:
                raise cfg.error(f"factor {f.name!r}", str(err)) from None
            grading.extend(rows)
            yield g

    surface = rs.weighted_sum(graded(), weights)
    c = cfg.correction
    if c is not None:
        try:
            layer = xp.asarray(raster_on_grid(c.path, spec, c.resampling, "correction raster"))
            if c.nodata_value is not None:
                layer = xp.where(xp.isnan(layer), c.nodata_value, layer)
            surface = rs.apply_correction(surface, layer, c.relative)
        except InputError as err:
            raise cfg.error("[correction]", str(err)) from None
    surface = to_host(surface)
    if not np.isfinite(surface).any():
        raise cfg.error("factors", "every cell is nodata in some factor: the layers do not overlap on the grid")
    names = tuple(f.name for f in cfg.factors)
    return ResistanceSurface(surface, spec, names, weights, cr, lam, grading)


def write_resistance(result: ResistanceSurface, out: Path) -> list[Path]:
    """resistance.tif (float32, compressed), weights.csv, grading.csv and a PNG quick-look, each atomically."""
    from ..io.quicklook import save_png
    from ..io.raster_write import write_raster, write_text_atomic

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"output folder {out} is a file")
    cr = "" if result.cr is None else f"{result.cr:.6g}"
    lines = ["factor,weight,CR"] + [f"{n},{w:.6g},{cr}" for n, w in zip(result.factors, result.weights)]
    return [
        write_raster(out / OUTPUT_RASTER, result.surface, result.spec, compress=True, dtype="float32"),
        _write(out / OUTPUT_WEIGHTS, lines, write_text_atomic),
        _write(out / OUTPUT_GRADING, grading_csv(result), write_text_atomic),
        _write(out / OUTPUT_TABLE, grading_markdown(result), write_text_atomic),
        save_png(out / OUTPUT_PNG, result.surface, "resistance", cmap="magma_r"),
    ]


def cell_area_km2(spec: GridSpec) -> float | None:
    """Area of one cell in km² when the CRS is projected in metres (else None: no honest km²)."""
    crs = spec.crs
    if crs is None or not crs.is_projected or (crs.linear_units or "").lower() not in ("metre", "meter", "m"):
        return None
    return abs(spec.transform.a * spec.transform.e) / 1e6


def grading_rows(result: ResistanceSurface) -> list[dict]:
    """The grading system as the studies publish it: factor, weight, class bounds, grade, cells, km², share."""
    weight = dict(zip(result.factors, result.weights))
    area = cell_area_km2(result.spec)
    totals: dict[str, int] = {}
    for r in result.grading:
        totals[r["factor"]] = totals.get(r["factor"], 0) + r["cells"]
    return [{**r, "weight": float(weight[r["factor"]]),
             "area_km2": None if area is None else r["cells"] * area,
             "share_pct": 100.0 * r["cells"] / totals[r["factor"]] if totals[r["factor"]] else 0.0}
            for r in result.grading]


def _num(x, spec=".10g") -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return ""
    return x if isinstance(x, str) else format(x, spec)


def grading_csv(result: ResistanceSurface) -> list[str]:
    cols = ("factor", "weight", "class", "lower", "upper", "grade", "cells", "area_km2", "share_pct")
    return [",".join(cols)] + [",".join(_num(r[c]) for c in cols) for r in grading_rows(result)]


def grading_markdown(result: ResistanceSurface) -> list[str]:
    """A Markdown table of the grading system (lower < value <= upper for breaks)."""
    cr = "" if result.cr is None else \
        f" AHP consistency ratio CR = {result.cr:.4f} (lambda_max = {result.lambda_max:.4f})."
    lines = [f"# Resistance factors\n\nWeights sum to {float(np.sum(result.weights)):.4f}.{cr}\n",
             "| factor | weight | class | range | grade | cells | km² | share % |",
             "|---|---:|---|---|---:|---:|---:|---:|"]
    for r in grading_rows(result):
        if r["class"] == "nodata":
            rng = "nodata"
        elif r["lower"] == r["upper"]:
            rng = f"= {r['lower']:g}"
        else:
            lo = "" if np.isinf(r["lower"]) else f"{r['lower']:.6g} < "
            hi = "" if np.isinf(r["upper"]) else f" <= {r['upper']:.6g}"
            rng = f"{lo}value{hi}"
        km2 = "" if r["area_km2"] is None else f"{r['area_km2']:.4f}"
        lines.append(f"| {r['factor']} | {r['weight']:.4f} | {_num(r['class'], 'g')} | {rng} | {r['grade']:g} "
                     f"| {r['cells']} | {km2} | {r['share_pct']:.2f} |")
    return lines


def _write(path: Path, lines: list[str], writer) -> Path:
    writer(path, "\n".join(lines) + "\n")
    return path

