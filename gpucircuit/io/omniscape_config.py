"""Omniscape INI files: parsed once, strictly, into a typed :class:`OmniscapeConfig`.

Format (as Omniscape.jl reads it): ``key = value`` lines, ``[sections]`` ignored. Required keys:
``resistance_file``, ``radius`` and ``project_name``. Every other key has Omniscape's default.

Spellings: booleans ``true``/``True``/``TRUE`` or ``false``/``False``/``FALSE`` (Omniscape reads
any other word as false; we refuse it rather than guess); ``precision`` single | double;
``n_conditions`` 1 | 2; ``comparison1/2`` within | equal (``equals`` too, Omniscape's internal
spelling); ``compare_to_future`` none | 1 | 2 | both; numbers as Julia parses them
(``radius``, ``buffer``, ``block_size`` and ``parallel_batch_size`` rounded to whole numbers).
An unknown ``solver`` falls back to cg+amg with a warning, as Omniscape does; unknown keys are
warned about and ignored. Anything else that is wrong is one :class:`InputError` naming key,
value and file. Relative paths resolve against the current directory first (as Omniscape
does), then the INI's folder and its parents.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .ini import read_key_values
from .notice import warn_user

TRUE_WORDS = ("true", "True", "TRUE")
FALSE_WORDS = ("false", "False", "FALSE")
COMPARISONS = {"within": "within", "equal": "equal", "equals": "equal"}
FUTURES = ("none", "1", "2", "both")
SOLVERS = ("cg+amg", "cholmod")

BOOL_KEYS = (
    "resistance_is_conductance", "source_from_resistance", "correct_artifacts", "reclassify_resistance",
    "write_reclassified_resistance", "calc_normalized_current", "calc_flow_potential", "write_raw_currmap",
    "mask_nodata", "write_as_tif", "connect_four_neighbors_only", "parallelize", "conditional",
    "allow_different_projections", "suppress_cs_messages",
)
FLOAT_KEYS = ("r_cutoff", "source_threshold", "condition1_lower", "condition1_upper", "condition2_lower",
              "condition2_upper")
WHOLE_KEYS = ("radius", "buffer", "block_size", "parallel_batch_size", "n_conditions")
PATH_KEYS = ("resistance_file", "source_file", "reclass_table", "condition1_file", "condition2_file",
             "condition1_future_file", "condition2_future_file")
OTHER_KEYS = ("project_name", "precision", "solver", "cs_solver", "comparison1", "comparison2",
              "compare_to_future", "resistance_file_is_conductance")
REQUIRED = ("resistance_file", "radius", "project_name")


@dataclass
class OmniscapeConfig:
    """The options of an Omniscape job, named as the INI keys (defaults as Omniscape.jl's)."""

    resistance_file: Path | None = None
    radius: int = 0
    project_name: str = ""
    resistance_is_conductance: bool = False
    source_file: Path | None = None
    source_from_resistance: bool = False
    r_cutoff: float = math.inf
    source_threshold: float = 0.0
    buffer: int = 0
    block_size: int = 1
    correct_artifacts: bool = True
    reclassify_resistance: bool = False
    reclass_table: Path | None = None
    write_reclassified_resistance: bool = False
    calc_normalized_current: bool = False
    calc_flow_potential: bool = False
    write_raw_currmap: bool = True
    mask_nodata: bool = True
    write_as_tif: bool = True
    connect_four_neighbors_only: bool = False
    precision: str = "double"
    parallelize: bool = True
    parallel_batch_size: int = 10
    solver: str = "cg+amg"
    conditional: bool = False
    n_conditions: int = 1
    compare_to_future: str = "none"
    condition1_file: Path | None = None
    condition2_file: Path | None = None
    condition1_future_file: Path | None = None
    condition2_future_file: Path | None = None
    comparison1: str = "within"
    comparison2: str = "within"
    condition1_lower: float = 0.0
    condition1_upper: float = 0.0
    condition2_lower: float = 0.0
    condition2_upper: float = 0.0
    allow_different_projections: bool = False
    suppress_cs_messages: bool = True
    source: Path | None = field(default=None, repr=False)  # the INI file itself

    @property
    def flow_potential_needed(self) -> bool:
        return self.calc_flow_potential or self.calc_normalized_current


def read_omniscape_ini(path) -> dict[str, str]:
    return read_key_values(path, lower_keys=False)


def _resolve(value: str, ini_dir: Path | None) -> Path:
    p = Path(value).expanduser()
    if p.is_absolute():
        return p
    candidates = [Path.cwd() / p]
    if ini_dir is not None:
        candidates += [d / p for d in (ini_dir, *ini_dir.parents)]
    return next((c for c in candidates if c.exists()), p)  # a missing file is reported when read


def _bad(key: str, raw: str, where: str, expected: str) -> InputError:
    return InputError(f"{key} = {raw!r} in {where}: expected {expected}")


def _number(key: str, raw: str, where: str) -> float:
    word = raw.strip()
    try:
        value = float(word)
    except ValueError:
        raise _bad(key, raw, where, "a number") from None
    if math.isnan(value):
        raise _bad(key, raw, where, "a number")
    return value


def _whole(key: str, raw: str, where: str) -> int:
    value = _number(key, raw, where)
    if math.isinf(value):
        raise _bad(key, raw, where, "a whole number")
    return int(round(value))


def parse_omniscape_config(values: dict[str, str], ini_path: Path | None = None) -> OmniscapeConfig:
    """Typed config from INI key/values; see the module docstring for the rules."""
    ini_dir = ini_path.resolve().parent if ini_path else None
    where = str(ini_path) if ini_path else "the configuration"
    missing = [k for k in REQUIRED if not values.get(k, "").strip()]
    if missing:
        raise InputError(f"{where} does not set {', '.join(missing)} (required, no default)")
    unknown = sorted(k for k in values if k not in (*BOOL_KEYS, *FLOAT_KEYS, *WHOLE_KEYS, *PATH_KEYS, *OTHER_KEYS))
    if unknown:
        warn_user(f"{where}: unsupported keys ignored: {', '.join(unknown)}")
    cfg = OmniscapeConfig(source=ini_path)
    for key, raw in values.items():
        name = "resistance_is_conductance" if key == "resistance_file_is_conductance" else key
        if name in BOOL_KEYS:
            if raw.strip() in TRUE_WORDS:
                setattr(cfg, name, True)
            elif raw.strip() in FALSE_WORDS:
                setattr(cfg, name, False)
            else:
                raise _bad(key, raw, where, "true or false")
        elif name in FLOAT_KEYS:
            setattr(cfg, name, _number(key, raw, where))
        elif name in WHOLE_KEYS:
            setattr(cfg, name, _whole(key, raw, where))
        elif name in PATH_KEYS:
            setattr(cfg, name, _resolve(raw, ini_dir) if raw.strip() else None)
    cfg.project_name = values["project_name"].strip()
    _check_choices(cfg, values, where)
    _check_numbers(cfg, values, where)
    _check_files(cfg, where)
    return cfg


def _check_choices(cfg: OmniscapeConfig, values: dict[str, str], where: str) -> None:
    precision = values.get("precision", "double").strip()
    if precision.lower() not in ("single", "double"):
        raise _bad("precision", precision, where, "single or double")
    cfg.precision = precision.lower()
    for key in ("solver", "cs_solver"):
        if key in values:
            solver = values[key].strip()
            if solver not in SOLVERS:
                warn_user(f"{key} = {solver!r} in {where} is not a solver Omniscape knows; using cg+amg")
                solver = "cg+amg"
            cfg.solver = solver
    for key in ("comparison1", "comparison2"):
        raw = values.get(key, "within")
        if raw.strip() not in COMPARISONS:
            raise _bad(key, raw, where, "within or equal")
        setattr(cfg, key, COMPARISONS[raw.strip()])
    future = values.get("compare_to_future", "none").strip().lower()
    if future not in FUTURES:
        raise _bad("compare_to_future", values["compare_to_future"], where, "none, 1, 2 or both")
    cfg.compare_to_future = future


def _check_numbers(cfg: OmniscapeConfig, values: dict[str, str], where: str) -> None:
    if cfg.radius < 1:
        raise _bad("radius", values["radius"], where, "a radius of at least 1 (pixels)")
    if cfg.buffer < 0:
        raise _bad("buffer", values["buffer"], where, "a whole number >= 0")
    if cfg.block_size < 1:
        raise _bad("block_size", values["block_size"], where, "a whole number >= 1")
    if cfg.block_size % 2 == 0:
        warn_user(f"block_size = {cfg.block_size} in {where} is even, but must be odd: using {cfg.block_size + 1}")
        cfg.block_size += 1
    if cfg.n_conditions not in (1, 2):
        raise _bad("n_conditions", values["n_conditions"], where, "1 or 2")
    if cfg.parallel_batch_size < 1:
        raise _bad("parallel_batch_size", values["parallel_batch_size"], where, "a whole number >= 1")
    if cfg.source_from_resistance and not cfg.r_cutoff > 0:
        raise _bad("r_cutoff", values.get("r_cutoff", ""), where,
                   "a resistance > 0 (cells with a higher resistance are no sources)")


def _check_files(cfg: OmniscapeConfig, where: str) -> None:
    if not cfg.source_from_resistance and cfg.source_file is None:
        raise InputError(f"{where} sets no source_file: give one, or set source_from_resistance = true "
                         "to make source strengths from the resistance layer")
    if cfg.reclassify_resistance and cfg.reclass_table is None:
        raise InputError(f"{where} sets reclassify_resistance = true but no reclass_table")
    if not cfg.conditional:
        named = [k for k in ("condition1_file", "condition2_file") if getattr(cfg, k) is not None]
        if named:
            warn_user(f"{where} names {', '.join(named)} but conditional is not true: they are not used")
        return
    needed = ["condition1_file"]
    if cfg.n_conditions == 2:
        needed.append("condition2_file")
    if cfg.compare_to_future in ("1", "both"):
        needed.append("condition1_future_file")
    if cfg.n_conditions == 2 and cfg.compare_to_future in ("2", "both"):
        needed.append("condition2_future_file")
    absent = [k for k in needed if getattr(cfg, k) is None]
    if absent:
        raise InputError(f"{where}: conditional = true with n_conditions = {cfg.n_conditions} and compare_to_future "
                         f"= {cfg.compare_to_future} needs {', '.join(absent)}")


def load_omniscape_config(path) -> OmniscapeConfig:
    path = Path(path)
    return parse_omniscape_config(read_omniscape_ini(path), path)
