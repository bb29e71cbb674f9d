"""Circuitscape INI files: parsed once into a typed :class:`CircuitscapeConfig`.

Format (as Circuitscape.jl reads it): ``key = value`` lines, ``[sections]`` and ``;``/``#``
comments ignored; booleans are true only for ``True``/``true``/``1``; placeholder values such
as ``None`` or ``(Browse for ...)`` mean "not set". Relative paths resolve against the current
directory first (as Circuitscape does), then the INI's folder and its parents.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

SCENARIOS = {
    "pairwise": "pairwise",
    "advanced": "advanced",
    "one-to-all": "one-to-all",
    "one_to_all": "one-to-all",
    "all-to-one": "all-to-one",
    "all_to_one": "all-to-one",
}
REMOVE_CHOICES = ("keepall", "rmvsrc", "rmvgnd", "rmvall")


@dataclass
class CircuitscapeConfig:
    """The options of a Circuitscape job, named exactly as the INI keys."""

    data_type: str = "raster"
    scenario: str = "pairwise"
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
    remove_src_or_gnd: str = "keepall"
    solver: str = "cg+amg"
    precision: str = "double"
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


_PATH_KEYS = {f.name for f in dataclasses.fields(CircuitscapeConfig) if f.name.endswith("_file")}
_BOOL_KEYS = {f.name for f in dataclasses.fields(CircuitscapeConfig) if f.type == "bool"}


def _is_unset(value: str) -> bool:
    v = value.strip()
    return v == "" or v.lower() in ("none", "not entered") or v.startswith("(Browse")


def read_ini(path) -> dict[str, str]:
    path = Path(path)
    if not path.exists():
        raise InputError(f"configuration file not found: {path}")
    out: dict[str, str] = {}
    for raw in path.read_text(errors="replace").splitlines():
        line = raw.strip()
        if not line or line[0] in ";#[":
            continue
        if "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip().lower()] = value.strip()
    return out


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


def parse_config(values: dict[str, str], ini_path: Path | None = None) -> CircuitscapeConfig:
    """Typed config from INI key/values; unknown keys are ignored as Circuitscape does."""
    ini_dir = ini_path.resolve().parent if ini_path else None
    cfg = CircuitscapeConfig(source=ini_path)
    for f in dataclasses.fields(CircuitscapeConfig):
        if f.name == "source" or f.name not in values:
            continue
        raw = values[f.name]
        if f.name in _BOOL_KEYS:
            setattr(cfg, f.name, raw.strip() in ("True", "true", "1"))
        elif f.name in _PATH_KEYS:
            if not _is_unset(raw):
                setattr(cfg, f.name, _resolve(raw, ini_dir, must_exist=f.name != "output_file"))
        elif f.name == "max_parallel":
            try:
                cfg.max_parallel = int(raw)
            except ValueError:
                pass
        elif not _is_unset(raw):
            setattr(cfg, f.name, raw.strip())
    cfg.data_type = "raster" if cfg.data_type.lower() == "raster" else "network"
    scen = cfg.scenario.strip().lower()
    if scen not in SCENARIOS:
        raise InputError(
            f"unknown scenario {cfg.scenario!r} in {ini_path or 'configuration'}: "
            "use pairwise, advanced, one-to-all or all-to-one"
        )
    cfg.scenario = SCENARIOS[scen]
    if cfg.data_type == "network" and cfg.scenario not in ("pairwise", "advanced"):
        raise InputError(f"network mode supports the pairwise and advanced scenarios, not {cfg.scenario}")
    cfg.remove_src_or_gnd = cfg.remove_src_or_gnd.lower()
    if cfg.remove_src_or_gnd not in REMOVE_CHOICES:
        cfg.remove_src_or_gnd = "keepall"
    cfg.precision = "single" if cfg.precision.lower() in ("single", "float32") else "double"
    return cfg


def load_config(path) -> CircuitscapeConfig:
    path = Path(path)
    return parse_config(read_ini(path), path)
