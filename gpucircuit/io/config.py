"""Circuitscape INI files: parsed once, strictly, into a typed :class:`CircuitscapeConfig`.

Format (as Circuitscape.jl reads it): ``key = value`` lines, ``[sections]`` and ``;``/``#``
comments ignored, unknown keys ignored. Values are checked against the spellings Circuitscape
itself recognises, and anything else is an error naming the key, the value and the INI file
(Circuitscape would silently read it as its fallback, e.g. ``maybe`` as False):

- booleans: ``True``/``true``/``1`` or ``False``/``false``/``0`` (Circuitscape's TRUELIST is
  case-sensitive, so ``TRUE`` would be false there: we refuse it rather than guess);
- ``data_type``: raster | network; ``scenario``: pairwise, advanced, one-to-all / one_to_all,
  all-to-one / all_to_one (also with a capital first letter where Circuitscape accepts it);
- ``precision``: single | double; ``solver``: Circuitscape's cg+amg / amg+cg, cholmod /
  cholesky / cholfact, mkl_pardiso, or ours (auto, direct, mg, amg);
- ``remove_src_or_gnd``: keepall | rmvsrc | rmvgnd | rmvall; ``max_parallel``: an integer >= 0.

Placeholder values (empty, ``None``, ``not entered``, ``(Browse for ...)``, ``(Choose ...)``)
mean "not set" for paths and enumerations; a boolean must be spelled out. Relative paths resolve
against the current directory first (as Circuitscape does), then the INI's folder and its parents.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from ..errors import InputError
from .ini import read_key_values

DataType = Literal["raster", "network"]
Scenario = Literal["pairwise", "advanced", "one-to-all", "all-to-one"]
Precision = Literal["single", "double"]
Solver = Literal["cg+amg", "cholmod", "mkl_pardiso", "auto", "direct", "mg", "amg"]
RemovePolicy = Literal["keepall", "rmvsrc", "rmvgnd", "rmvall"]

# accepted spelling -> canonical value (Circuitscape.jl's consts, plus our own solver names)
BOOLEANS = {"True": True, "true": True, "1": True, "False": False, "false": False, "0": False}
DATA_TYPES = {"raster": "raster", "Raster": "raster", "network": "network", "Network": "network"}
SCENARIOS = {
    "pairwise": "pairwise", "Pairwise": "pairwise",
    "advanced": "advanced", "Advanced": "advanced",
    "one-to-all": "one-to-all", "one_to_all": "one-to-all",
    "all-to-one": "all-to-one", "all_to_one": "all-to-one",
}
PRECISIONS = {"single": "single", "Single": "single", "double": "double", "Double": "double"}
SOLVERS = {
    "cg+amg": "cg+amg", "amg+cg": "cg+amg",
    "cholmod": "cholmod", "cholesky": "cholmod", "cholfact": "cholmod", "mkl_pardiso": "mkl_pardiso",
    **{name: name for name in ("auto", "direct", "mg", "amg")},
}
REMOVE_CHOICES = {name: name for name in get_args(RemovePolicy)}
_CHOICES = {"data_type": DATA_TYPES, "scenario": SCENARIOS, "precision": PRECISIONS, "solver": SOLVERS,
            "remove_src_or_gnd": REMOVE_CHOICES}


@dataclass
class CircuitscapeConfig:
    """The options of a Circuitscape job, named exactly as the INI keys."""

    data_type: DataType = "raster"
    scenario: Scenario = "pairwise"
    habitat_file: Path | None = None
    habitat_map_is_resistances: bool = True
    connect_four_neighbors_only: bool = False
    connect_using_avg_resistances: bool = False
    use_polygons: bool = False
    polygon_file: Path | None = None
    use_mask: bool = False
    mask_file: Path | None = None
    point_file: Path | None = None
    use_included_pairs: bool = False
    included_pairs_file: Path | None = None
    use_variable_source_strengths: bool = False
    variable_source_file: Path | None = None
    source_file: Path | None = None
    ground_file: Path | None = None
    ground_file_is_resistances: bool = True
    use_unit_currents: bool = False
    use_direct_grounds: bool = False
    remove_src_or_gnd: RemovePolicy = "keepall"
    solver: Solver = "cg+amg"
    precision: Precision = "double"
    output_file: Path | None = None
    write_cur_maps: bool = False
    write_volt_maps: bool = False
    write_cum_cur_map_only: bool = False
    write_max_cur_maps: bool = False
    set_null_currents_to_nodata: bool = False
    set_null_voltages_to_nodata: bool = False
    set_focal_node_currents_to_zero: bool = False
    log_transform_maps: bool = False
    write_as_tif: bool = False
    compress_grids: bool = False
    print_timings: bool = False
    # read for completeness; parallel solving is chosen with --workers / --scheduler (a dask
    # cluster), since starting one for every INI that sets these would slow small jobs down
    parallelize: bool = False
    max_parallel: int = 0
    source: Path | None = field(default=None, repr=False)  # the INI file itself

    @property
    def output_prefix(self) -> Path:
        out = self.output_file or Path("output.out")
        return out.with_suffix("") if out.suffix == ".out" else out

    def __setattr__(self, name, value):
        # enumerated options hold only their canonical values, however the config is built (INI or CLI)
        allowed = _ENUM_VALUES.get(name)
        if allowed is not None and value not in allowed:
            raise InputError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
        super().__setattr__(name, value)


_ENUM_VALUES = {"data_type": get_args(DataType), "scenario": get_args(Scenario), "precision": get_args(Precision),
                "solver": get_args(Solver), "remove_src_or_gnd": get_args(RemovePolicy)}
_PATH_KEYS = {f.name for f in dataclasses.fields(CircuitscapeConfig) if f.name.endswith("_file")}
_BOOL_KEYS = {f.name for f in dataclasses.fields(CircuitscapeConfig) if f.type == "bool"}
_INT_KEYS = {f.name for f in dataclasses.fields(CircuitscapeConfig) if f.type == "int"}


def _is_unset(value: str) -> bool:
    v = value.strip()
    return v == "" or v.lower() in ("none", "not entered") or v.startswith(("(Browse", "(Choose"))


def read_ini(path) -> dict[str, str]:
    return read_key_values(path, lower_keys=True)


def _resolve(value: str, ini_dir: Path | None, must_exist: bool) -> Path:
    p = Path(value).expanduser()
    if p.is_absolute() or not must_exist:
        return p
    candidates = [Path.cwd() / p]
    if ini_dir is not None:
        candidates += [d / p for d in (ini_dir, *ini_dir.parents)]
    for c in candidates:
        if c.exists():
            return c
    return p  # reported as missing when (and only if) the job needs it


def _bad_value(key: str, raw: str, where: str, expected: str) -> InputError:
    return InputError(f"{key} = {raw!r} in {where}: expected {expected}")


def parse_bool(key: str, raw: str, where: str) -> bool:
    try:
        return BOOLEANS[raw.strip()]
    except KeyError:
        raise _bad_value(key, raw, where, "True, true or 1 (yes) or False, false or 0 (no)") from None


def parse_choice(key: str, raw: str, where: str, choices: dict[str, str]) -> str:
    try:
        return choices[raw.strip()]
    except KeyError:
        if key == "scenario":  # the message users search for
            raise InputError(f"unknown scenario {raw.strip()!r} in {where}: "
                             "use pairwise, advanced, one-to-all or all-to-one") from None
        raise _bad_value(key, raw, where, "one of " + ", ".join(choices)) from None


def parse_count(key: str, raw: str, where: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise _bad_value(key, raw, where, "a whole number >= 0")
    return value


def parse_config(values: dict[str, str], ini_path: Path | None = None) -> CircuitscapeConfig:
    """Typed config from INI key/values; unknown keys are ignored as Circuitscape does.

    Every recognised value is checked here, once (see the module docstring for the spellings):
    a value Circuitscape would not recognise is an :class:`InputError` naming key, value and file.
    """
    ini_dir = ini_path.resolve().parent if ini_path else None
    where = str(ini_path) if ini_path else "the configuration"
    cfg = CircuitscapeConfig(source=ini_path)
    for f in dataclasses.fields(CircuitscapeConfig):
        if f.name == "source" or f.name not in values:
            continue
        raw = values[f.name]
        if f.name in _BOOL_KEYS:
            setattr(cfg, f.name, parse_bool(f.name, raw, where))
        elif _is_unset(raw):
            continue  # a placeholder: the default stands
        elif f.name in _PATH_KEYS:
            setattr(cfg, f.name, _resolve(raw, ini_dir, must_exist=f.name != "output_file"))
        elif f.name in _INT_KEYS:
            setattr(cfg, f.name, parse_count(f.name, raw, where))
        else:
            setattr(cfg, f.name, parse_choice(f.name, raw, where, _CHOICES[f.name]))
    if _is_unset(values.get("scenario", "")):  # Circuitscape would fall through to all-to-one
        raise InputError(f"scenario is not set in {where}: use pairwise, advanced, one-to-all or all-to-one")
    if cfg.data_type == "network" and cfg.scenario not in ("pairwise", "advanced"):
        raise InputError(f"network mode supports the pairwise and advanced scenarios, not {cfg.scenario}")
    return cfg


def load_config(path) -> CircuitscapeConfig:
    path = Path(path)
    return parse_config(read_ini(path), path)
