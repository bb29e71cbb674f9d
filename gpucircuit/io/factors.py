"""The ``resistance`` TOML file, parsed once into typed dataclasses (:mod:`.factor_grid` puts its
layers on one grid).

Layout (paths are relative to the TOML file's folder)::

    [grid]                      # the template: like = a raster (its CRS, cell size, extent),
    like = "landcover.tif"      #   optionally with cellsize = 60 to resample it;
                                #   or crs = "EPSG:32648", cellsize = 30, extent = [xmin, ymin, xmax, ymax]
    [[factors]]
    name = "landuse"            # unique; the weights refer to it
    path = "landcover.tif"      # a raster, or (kind = "distance") a vector layer
    kind = "reclass"            # reclass | breaks | jenks | quantile | equal_interval | distance
    table = { 11 = 5, 41 = 1 }  # reclass: class value -> grade; every class present needs a grade
    grade_range = [1, 5]        # reclass: grades must lie in it; others: grades evenly spaced over it
    # breaks = [5, 15, 25]      # breaks (and distance): inner class breaks, v <= b in the lower class;
                                #   distance: features up to the last break beyond the grid count too
    # classes = 5               # jenks / quantile / equal_interval (and distance without breaks)
    # grades = [1, 2, 4, 5]     # explicit grade per class instead of grade_range
    # nodata_grade = 5          # grade for the factor's nodata cells (default: nodata in the result)
    # features = [11, 90]       # distance from a raster: values that are features (default: non-zero)
    # resampling = "bilinear"   # default nearest for reclass and distance, bilinear otherwise
    [weights]                   # either weights by factor name, summing to 1 (within 0.001; used as given) ...
    landuse = 0.6
    [ahp]                       # ... or an AHP pairwise-comparison matrix ("1/3" allowed)
    matrix = [[1, 3], ["1/3", 1]]
    # factors = ["landuse", "slope"]   # row order (default: the order of [[factors]])
    # allow_inconsistent = false       # CR >= 0.1 is an error unless true
    [correction]                # optional multiplicative layer (bilinear)
    path = "nightlights.tif"
    # relative = false          # true: divide by its mean first
    # nodata_value = 1          # value where it is nodata (default: nodata in the result)

Every error is one line naming the TOML file, the table or factor and the key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import InputError
from .toml_doc import TomlTable, read_toml


CATEGORICAL_KINDS = ("reclass", "distance")
CLASS_KINDS = ("jenks", "quantile", "equal_interval")
KINDS = ("reclass", "breaks", *CLASS_KINDS, "distance")
RESAMPLING = ("nearest", "bilinear", "cubic", "cubic_spline", "lanczos", "average", "mode", "min", "max", "med")
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gml", ".kml", ".sqlite")
WEIGHT_SUM_TOL = 1e-3  # published weights are rounded to 3 decimals; more than that is a mistake

_FACTOR_KEYS = ("name", "path", "kind", "table", "breaks", "classes", "grades", "grade_range", "nodata_grade",
                "features", "resampling", "layer", "all_touched", "method")
_TOP_KEYS = ("grid", "factors", "weights", "ahp", "correction")


@dataclass(frozen=True)
class GridConfig:
    like: Path | None = None
    crs: str | None = None
    cellsize: float | None = None
    extent: tuple[float, float, float, float] | None = None  # xmin, ymin, xmax, ymax


@dataclass(frozen=True)
class FactorConfig:
    name: str
    path: Path
    kind: str
    table: dict[float, float] | None = None
    breaks: tuple[float, ...] | None = None
    classes: int | None = None
    method: str = "jenks"  # distance without breaks: how its classes are found
    grades: tuple[float, ...] | None = None
    grade_range: tuple[float, float] | None = None
    nodata_grade: float | None = None
    features: tuple[float, ...] | None = None
    resampling: str = "nearest"
    layer: str | None = None
    all_touched: bool = False

    @property
    def is_vector(self) -> bool:
        return self.path.suffix.lower() in VECTOR_SUFFIXES


@dataclass(frozen=True)
class WeightsConfig:
    by_factor: dict[str, float] | None = None           # given directly
    matrix: tuple[tuple[float, ...], ...] | None = None  # or AHP
    order: tuple[str, ...] = ()                         # the matrix's row order
    allow_inconsistent: bool = False


@dataclass(frozen=True)
class CorrectionConfig:
    path: Path
    relative: bool = False
    nodata_value: float | None = None
    resampling: str = "bilinear"


@dataclass(frozen=True)
class ResistanceConfig:
    source: Path
    grid: GridConfig
    factors: tuple[FactorConfig, ...]
    weights: WeightsConfig
    correction: CorrectionConfig | None = None

    def error(self, where: str, message: str) -> InputError:
        """An error naming this file and ``where`` (a table, factor or key)."""
        return InputError(f"{self.source}: {where}: {message}")


# --------------------------------------------------------------------------- parsing

def read_resistance_config(path) -> ResistanceConfig:
    """Parse and check a ``resistance`` TOML file (see the module docstring)."""
    source = Path(path)
    doc = read_toml(source, "resistance config")
    top = TomlTable(source, "top level", doc, _TOP_KEYS)
    if "grid" not in doc:
        raise top.error("[grid] table is missing (like = a raster, or crs, cellsize and extent)")
    grid = _parse_grid(TomlTable(source, "[grid]", doc["grid"], ("like", "crs", "cellsize", "extent")))
    raw = doc.get("factors")
    if not isinstance(raw, list) or not raw:
        raise top.error("needs at least one [[factors]] table")
    factors = tuple(_parse_factor(source, i, f) for i, f in enumerate(raw))
    names = [f.name for f in factors]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise InputError(f"{source}: [[factors]]: name {dup!r} is used twice")
    weights = _parse_weights(source, doc, names)
    correction = None
    if "correction" in doc:
        t = TomlTable(source, "[correction]", doc["correction"], ("path", "relative", "nodata_value", "resampling"))
        correction = CorrectionConfig(t.path("path", required=True), t.boolean("relative"),
                                      t.number("nodata_value"), t.string("resampling", "bilinear", RESAMPLING))
    return ResistanceConfig(source, grid, factors, weights, correction)


def _parse_grid(t: TomlTable) -> GridConfig:
    like = t.path("like", required=False)
    cellsize = t.number("cellsize", positive=True)
    if like is not None:
        for key in ("crs", "extent"):
            if key in t.data:
                raise t.error("give either like = a raster or crs and extent, not both", key)
        return GridConfig(like=like, cellsize=cellsize)
    crs = t.string("crs")
    extent = t.numbers("extent", length=4)
    for key, value in (("crs", crs), ("cellsize", cellsize), ("extent", extent)):
        if value is None:
            raise t.error("is missing (or give like = a raster)", key)
    xmin, ymin, xmax, ymax = extent
    if xmax <= xmin or ymax <= ymin:
        raise t.error(f"must be [xmin, ymin, xmax, ymax] with xmin < xmax and ymin < ymax, got {list(extent)}",
                      "extent")
    return GridConfig(crs=crs, cellsize=cellsize, extent=extent)


def _parse_factor(source: Path, index: int, data) -> FactorConfig:
    name = data.get("name") if isinstance(data, dict) else None
    where = f"factor {name!r}" if isinstance(name, str) and name.strip() else f"[[factors]] #{index + 1}"
    t = TomlTable(source, where, data, _FACTOR_KEYS)
    name = t.string("name")
    if name is None:
        raise t.error("is missing", "name")
    kind = t.string("kind")
    if kind is None:
        raise t.error(f"is missing; one of {', '.join(KINDS)}", "kind")
    if kind not in KINDS:
        raise t.error(f"unknown factor kind {kind!r}; use one of {', '.join(KINDS)}", "kind")
    path = t.path("path", required=True)
    grade_range = t.numbers("grade_range", length=2)
    grades = t.numbers("grades")
    for key, values in (("grade_range", grade_range), ("grades", grades)):
        if values is not None and min(values) <= 0:
            raise t.error(f"grades must be positive (they become resistances), got {list(values)}", key)
    nodata_grade = t.number("nodata_grade", positive=True)
    fields = dict(name=name, path=path, kind=kind, grades=grades, grade_range=grade_range, nodata_grade=nodata_grade,
                  resampling=t.string("resampling", "nearest" if kind in CATEGORICAL_KINDS else "bilinear",
                                      RESAMPLING))
    allowed = {"reclass": ("table",), "breaks": ("breaks",), "distance": ("breaks", "classes", "method", "features",
                                                                         "layer", "all_touched")}
    for key in ("table", "breaks", "classes", "method", "features", "layer", "all_touched"):
        if key in t.data and key not in allowed.get(kind, ("classes",)):
            raise t.error(f"does not apply to kind {kind!r}", key)
    if kind == "reclass":
        fields["table"] = _parse_table(t, grade_range)
        if grades is not None:
            raise t.error("does not apply to kind 'reclass' (the table gives the grades)", "grades")
    else:
        n_classes = _parse_classes(t, kind, fields)
        if grades is None and grade_range is None:
            raise t.error(f"needs grades = [{n_classes} values] or grade_range = [low, high]")
        if grades is not None and grade_range is not None:
            raise t.error("give grades or grade_range, not both", "grades")
        if grades is not None and len(grades) != n_classes:
            raise t.error(f"{n_classes} classes need {n_classes} grades, got {len(grades)}", "grades")
    if kind == "distance":
        fields["features"] = t.numbers("features")
        fields["layer"] = t.string("layer")
        fields["all_touched"] = t.boolean("all_touched")
        vector = path.suffix.lower() in VECTOR_SUFFIXES
        for key in ("features",) if vector else ("layer", "all_touched"):
            if key in t.data:
                raise t.error(f"applies to {'raster' if vector else 'vector'} features only, and {path.name} "
                              f"is a {'vector' if vector else 'raster'} file", key)
    elif path.suffix.lower() in VECTOR_SUFFIXES:
        raise t.error(f"{path.name} is a vector file: only kind 'distance' reads vector layers", "path")
    return FactorConfig(**fields)


def _parse_table(t: TomlTable, grade_range) -> dict[float, float]:
    raw = t.data.get("table")
    if not isinstance(raw, dict) or not raw:
        raise t.error("is missing or empty: a table { class value = grade, ... }", "table")
    table = {}
    for key, grade in raw.items():
        try:
            value = float(key)
        except ValueError:
            raise t.error(f"class {key!r} is not a number", "table") from None
        if isinstance(grade, bool) or not isinstance(grade, (int, float)) or not math.isfinite(grade) or grade <= 0:
            raise t.error(f"grade of class {key} must be a positive number, got {grade!r}", "table")
        if grade_range is not None and not min(grade_range) <= grade <= max(grade_range):
            raise t.error(f"grade {grade:g} of class {key} is outside grade_range {list(grade_range)}", "table")
        if value in table:
            raise t.error(f"class {key} is listed twice", "table")
        table[value] = float(grade)
    return table


def _parse_classes(t: TomlTable, kind: str, fields: dict) -> int:
    """Number of classes of a graded continuous factor; stores breaks/classes/method in ``fields``."""
    if kind in ("breaks", "distance") and "breaks" in t.data:
        b = t.numbers("breaks")
        if any(y <= x for x, y in zip(b, b[1:])):
            raise t.error(f"must be strictly increasing, got {list(b)}", "breaks")
        if "classes" in t.data:
            raise t.error("give breaks or classes, not both", "classes")
        fields["breaks"] = b
        return len(b) + 1
    if kind == "breaks":
        raise t.error("is missing: inner class breaks, e.g. [5, 15, 25]", "breaks")
    k = t.data.get("classes")
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= 255:
        hint = "breaks = [...] or classes = k" if kind == "distance" else "an integer from 2 to 255"
        raise t.error(f"needs {hint}, got {k!r}", "classes")
    fields["classes"] = k
    fields["method"] = kind if kind in CLASS_KINDS else t.string("method", "jenks", CLASS_KINDS)
    return k


def _parse_weights(source: Path, doc: dict, names: list[str]) -> WeightsConfig:
    if ("weights" in doc) == ("ahp" in doc):
        raise InputError(f"{source}: give either a [weights] table or an [ahp] table, "
                         f"{'not both' if 'weights' in doc else 'neither is present'}")
    if "weights" in doc:
        t = TomlTable(source, "[weights]", doc["weights"], None)
        w = {k: t.number(k) for k in t.data}
        _check_names(t, names, list(w), "weights")
        for k, v in w.items():
            if v <= 0:
                raise t.error(f"must be positive, got {v:g}", k)
        total = sum(w.values())
        if abs(total - 1.0) > WEIGHT_SUM_TOL:
            raise t.error(f"weights sum to {total:.6g}, not 1")
        return WeightsConfig(by_factor=w)
    t = TomlTable(source, "[ahp]", doc["ahp"], ("matrix", "factors", "allow_inconsistent"))
    order = t.data.get("factors", names)
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise t.error(f"must be a list of factor names, got {order!r}", "factors")
    _check_names(t, names, order, "factors")
    raw = t.data.get("matrix")
    if not isinstance(raw, list) or not all(isinstance(row, list) for row in raw):
        raise t.error("is missing or not a list of rows", "matrix")
    if len(raw) != len(order) or any(len(row) != len(order) for row in raw):
        raise t.error(f"must be {len(order)} rows of {len(order)} entries (one per factor: {', '.join(order)})",
                      "matrix")
    matrix = tuple(tuple(_judgement(t, v, i, j) for j, v in enumerate(row)) for i, row in enumerate(raw))
    return WeightsConfig(matrix=matrix, order=tuple(order), allow_inconsistent=t.boolean("allow_inconsistent"))


def _check_names(t: TomlTable, names: list[str], given: list[str], key: str) -> None:
    unknown = [n for n in given if n not in names]
    if unknown:
        raise t.error(f"{unknown[0]!r} is not a factor name (factors: {', '.join(names)})", key)
    missing = [n for n in names if n not in given]
    if missing:
        raise t.error(f"factor {missing[0]!r} has no weight", key)
    if len(set(given)) != len(given):
        raise t.error("lists a factor twice", key)


def _judgement(t: TomlTable, v, i: int, j: int) -> float:
    try:
        if isinstance(v, bool):
            raise ValueError
        x = float(Fraction(v.strip())) if isinstance(v, str) else float(v)
        if not math.isfinite(x):
            raise ValueError
        return x
    except (ValueError, ZeroDivisionError, TypeError):
        raise t.error(f"entry [{i}][{j}] = {v!r} is not a number or a fraction like \"1/3\"", "matrix") from None
