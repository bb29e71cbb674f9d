"""Resistance surfaces from graded factors: reclass tables, class breaks, distance to features,
weighted sum and a multiplicative correction — arrays in, arrays out, on the array backend.

Every function takes host or device arrays with NaN as nodata and works with the module
(NumPy or CuPy) that owns them, so the CPU and GPU paths are one implementation.

Class convention (as :mod:`gpucircuit.analysis.classify`, ArcGIS and PySAL): with inner breaks
``b_1 < ... < b_{k-1}``, class ``c`` holds ``b_{c-1} < v <= b_c``; values at or below ``b_1`` are
class 1 and values above ``b_{k-1}`` class ``k``.
"""
from __future__ import annotations

import numpy as np

from ..backend import array_module, to_host
from ..errors import InputError
from .classify import breaks as class_breaks

GRADING_METHODS = ("jenks", "quantile", "equal_interval")


def even_grades(k: int, grade_range) -> np.ndarray:
    """``k`` grades evenly spaced from ``grade_range[0]`` (class 1) to ``grade_range[1]`` (class k).

    A descending range (e.g. ``[5, 1]``) grades the lowest class highest: distance to roads,
    where near means hard to cross.
    """
    lo, hi = (float(g) for g in grade_range)
    return np.linspace(lo, hi, k)


def _first_cell(mask) -> tuple[int, int]:
    r, c = np.argwhere(to_host(mask))[0]
    return int(r), int(c)


def _fill_nodata(out, values, nodata_grade):
    """Cells nodata in the input get ``nodata_grade`` (a grade, not nodata) when one is given."""
    xp = array_module(out)
    if nodata_grade is None:
        return out
    return xp.where(xp.isnan(values), float(nodata_grade), out)


def class_index(values, keys) -> object:
    """Position of each cell's value in the sorted class values ``keys``; -1 where absent or nodata."""
    xp = array_module(values)
    kd = xp.asarray(np.asarray(keys, dtype=np.float64))
    pos = xp.clip(xp.searchsorted(kd, values), 0, kd.size - 1)
    return xp.where(kd[pos] == values, pos, -1)  # NaN equals nothing


def grade_reclass(values, table: dict, nodata_grade=None):
    """Grades by a reclass table ``{class value: grade}``; NaN stays nodata unless ``nodata_grade``.

    A valid cell whose value is not in the table is an error naming the missing values, how many
    cells hold them and where the first one is: a silent nodata would cut the landscape.
    """
    xp = array_module(values)
    if not table:
        raise InputError("reclass table is empty")
    keys = sorted(table)
    grades = xp.asarray(np.array([table[k] for k in keys], dtype=np.float64))
    idx = class_index(values, keys)
    missing = (idx < 0) & ~xp.isnan(values)
    if bool(missing.any()):
        absent = np.unique(to_host(values[missing]))
        r, c = _first_cell(missing)
        shown = ", ".join(f"{v:g}" for v in absent[:10]) + (", ..." if absent.size > 10 else "")
        raise InputError(f"reclass table has no grade for value(s) {shown} ({int(missing.sum())} cells, "
                         f"first at row {r}, column {c})")
    out = xp.where(idx >= 0, grades[xp.maximum(idx, 0)], xp.nan)
    return _fill_nodata(out, values, nodata_grade)


def grade_breaks(values, inner_breaks, grades, nodata_grade=None):
    """Grades by class breaks: ``len(grades) == len(inner_breaks) + 1`` classes (see module docstring)."""
    xp = array_module(values)
    b = np.asarray(inner_breaks, dtype=np.float64).ravel()
    g = np.asarray(grades, dtype=np.float64).ravel()
    if b.size < 1:
        raise InputError("breaks must hold at least one value (two classes)")
    if not np.all(np.isfinite(b)) or np.any(np.diff(b) <= 0):
        raise InputError(f"breaks must be finite and strictly increasing, got {b.tolist()}")
    if g.size != b.size + 1:
        raise InputError(f"{b.size} breaks make {b.size + 1} classes, but {g.size} grades are given")
    cls = xp.searchsorted(xp.asarray(b), values, side="left")  # v == b_c stays in class c
    out = xp.where(xp.isnan(values), xp.nan, xp.asarray(g)[xp.clip(cls, 0, b.size)])
    return _fill_nodata(out, values, nodata_grade)


def data_breaks(values, k: int, method: str = "jenks") -> np.ndarray:
    """Inner breaks (``k - 1`` values) of the valid cells by natural breaks, quantiles or equal
    intervals (computed on the host by :func:`gpucircuit.analysis.classify.breaks`)."""
    if method not in GRADING_METHODS:
        raise InputError(f"unknown classification method {method!r}; use one of {', '.join(GRADING_METHODS)}")
    edges = class_breaks(to_host(values), k, method)
    inner = edges[1:-1]
    if np.any(np.diff(edges) <= 0):
        raise InputError(f"{method} breaks for {k} classes are not distinct ({edges.tolist()}): the layer has "
                         "too few distinct values; use fewer classes or explicit breaks")
    return inner


def class_counts(values, bounds, categorical: bool) -> np.ndarray:
    """Valid cells per class: per value of ``bounds`` (sorted class values) when ``categorical``,
    else per class of the inner breaks ``bounds`` (convention of the module docstring)."""
    xp = array_module(values)
    if categorical:
        idx = class_index(values, bounds)
        return to_host(xp.bincount(idx[idx >= 0], minlength=len(bounds))).astype(np.int64)
    b = xp.asarray(np.asarray(bounds, dtype=np.float64))
    idx = xp.searchsorted(b, values[~xp.isnan(values)], side="left")
    return to_host(xp.bincount(idx, minlength=b.size + 1)).astype(np.int64)


def distance_to_features(features, cellsize: tuple[float, float]):
    """Euclidean distance (map units, between cell centres) from every cell to the nearest
    feature cell; ``cellsize`` is (row height, column width). Feature cells are 0."""
    xp = array_module(features)
    if not bool(features.any()):
        raise InputError("no feature cell on the grid to measure distance from")
    if xp is np:
        from scipy import ndimage
    else:  # pragma: no cover - needs a GPU
        from cupyx.scipy import ndimage
    return ndimage.distance_transform_edt(~features, sampling=tuple(float(s) for s in cellsize)).astype(xp.float64)


def weighted_sum(grades, weights):
    """``sum_k weights[k] * grades[k]``; a cell nodata (NaN) in any layer is nodata.

    ``grades`` may be a generator, so only one graded layer need exist at a time.
    """
    out, n = None, 0
    for g, w in zip(grades, weights):
        out = float(w) * g if out is None else out + float(w) * g  # NaN propagates
        n += 1
    if out is None or n != len(weights):
        raise InputError(f"{n} graded layers but {len(weights)} weights")
    return out


def apply_correction(surface, correction, relative: bool = False):
    """Multiply by a correction layer (e.g. night lights, impervious surface); with ``relative`` the
    layer is first divided by its mean over the cells valid in both, as the Liuzhi study does
    (``R' = (N_i / N_mean) * R_i``). Non-positive correction values are an error."""
    xp = array_module(surface)
    bad = correction <= 0  # NaN compares False
    if bool(bad.any()):
        r, c = _first_cell(bad)
        raise InputError(f"correction layer is {float(correction[r, c]):g} at row {r}, column {c} "
                         f"({int(bad.sum())} cells <= 0): resistances must stay positive")
    factor = correction
    if relative:
        both = ~xp.isnan(surface) & ~xp.isnan(correction)
        if not bool(both.any()):
            raise InputError("correction layer has no valid cell where the surface is valid")
        factor = correction / xp.mean(correction[both])
    return surface * factor
