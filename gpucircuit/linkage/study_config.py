"""The ``network`` TOML file: one table per step, whose keys are that step's options.

Layout (paths relative to the TOML file)::

    [resistance]
    config = "resistance.toml"     # a 'gpucircuit resistance' TOML, or
    # file = "resistance.tif"      # an existing surface (the step is skipped)
    [mspa]                         # not needed when [sources] gives cores
    landcover = "landcover.tif"    # put on the resistance grid (nearest) when it differs
    foreground = "41-43"           # habitat classes
    edge_width = 1                 # connectivity = 8, int_ext = false
    # file = "mspa.tif"            # an existing MSPA map on the resistance grid
    [sources]
    min_area = 1.0                 # km²; distance = 5000, probability = 0.5, connectivity = 8
    top = 8                        # or dpc_min / top_percent; cost = true: cost-weighted distances
    # sweep = "1000:5000:1000"
    # cores = "cores.shp"          # existing cores (MSPA and screening skipped); core_field = "core_id"
    [linkage]                      # the options of 'gpucircuit linkage' (cutoff required)
    cutoff = 10000
    [report]                       # the options of 'gpucircuit report'; landuse defaults to [mspa] landcover
    classes = 5

Every error is one line naming the file, the table and the key.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..io.toml_doc import read_toml


KEYS = {
    "resistance": ("config", "file"),
    "mspa": ("landcover", "foreground", "edge_width", "connectivity", "int_ext", "file"),
    "sources": ("min_area", "connectivity", "distance", "probability", "cost", "dpc_min", "top", "top_percent",
                "sweep", "cores", "core_field"),
    "linkage": ("adjacency", "max_cwd", "max_euclid", "knn", "connect_constellations", "drop_crossing",
                "cwd_threshold", "write_cwd", "cwd_method", "cutoff", "adjacent", "all_pairs", "all_to_one",
                "squared", "solver", "radius_start", "radius_end", "radius_step", "sum", "percent", "raw_scores",
                "weight"),
    "report": ("classes", "barrier_classes", "method", "landuse", "landuse_names", "lines", "line_field",
               "d_threshold", "p_threshold", "gravity_threshold", "sweep", "cwd_method"),
}


class Section:
    """One step's table with typed getters; errors say file, table and key."""

    def __init__(self, source: Path, name: str, data):
        self.source, self.name = source, name
        if not isinstance(data, dict):
            raise self.error(f"must be a table, got {type(data).__name__}")
        unknown = [k for k in data if k not in KEYS[name]]
        if unknown:
            raise self.error(f"unknown key {unknown[0]!r}; allowed: {', '.join(KEYS[name])}")
        self.data = data

    def error(self, message: str, key: str | None = None) -> InputError:
        return InputError(f"{self.source}: [{self.name}]" + (f" key {key!r}" if key else "") + f": {message}")

    def has(self, key) -> bool:
        return key in self.data

    def number(self, key, default=None, integer=False):
        v = self.data.get(key, default)
        if v is None:
            return None
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not math.isfinite(v):
            raise self.error(f"must be {'an integer' if integer else 'a finite number'}, got {v!r}", key)
        return int(v) if integer else float(v)

    def string(self, key, default=None):
        v = self.data.get(key, default)
        if v is not None and (not isinstance(v, (str, int)) or isinstance(v, bool) or not str(v).strip()):
            raise self.error(f"must be a non-empty string, got {v!r}", key)
        return None if v is None else str(v)

    def boolean(self, key, default=False) -> bool:
        v = self.data.get(key, default)
        if not isinstance(v, bool):
            raise self.error(f"must be true or false, got {v!r}", key)
        return v

    def path(self, key, required=False):
        v = self.string(key)
        if v is None:
            if required:
                raise self.error("is missing", key)
            return None
        p = Path(v).expanduser()
        p = p if p.is_absolute() else self.source.parent / p
        if not p.exists():
            raise self.error(f"file not found: {p}", key)
        return p

    def paths(self, key) -> list[Path]:
        v = self.data.get(key, [])
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list):
            raise self.error(f"must be a path or a list of paths, got {v!r}", key)
        return [Section(self.source, self.name, {key: x}).path(key) for x in v]

    def checked(self, fn, *args):
        """Call an option parser; its error (which names the command-line option) gets this file and table."""
        try:
            return fn(*args)
        except InputError as err:
            raise self.error(str(err)) from None


@dataclass
class StudyConfig:
    source: Path
    sections: dict[str, Section]

    def __getitem__(self, name: str) -> Section:
        return self.sections[name]


def read_study_config(path) -> StudyConfig:
    """Parse the TOML and check its tables and keys (values are checked by :mod:`.study`)."""
    source = Path(path)
    doc = read_toml(source, "network config")
    unknown = [k for k in doc if k not in KEYS]
    if unknown:
        raise InputError(f"{source}: unknown table [{unknown[0]}]; the steps are {', '.join(KEYS)}")
    for name in ("resistance", "linkage"):
        if name not in doc:
            raise InputError(f"{source}: [{name}] table is missing")
    sections = {name: Section(source, name, doc.get(name, {})) for name in KEYS}
    r = sections["resistance"]
    if r.has("config") == r.has("file"):
        raise r.error("give either config = a resistance TOML or file = a resistance raster")
    s, m = sections["sources"], sections["mspa"]
    for sec, key in ((r, "config"), (r, "file"), (m, "landcover"), (m, "file"), (s, "cores")):
        sec.path(key)  # a missing file is reported before anything runs
    if not s.has("cores") and not (m.has("file") or m.has("landcover")):
        raise InputError(f"{source}: [mspa] needs landcover = a land-cover raster (or file = an MSPA map), "
                         "or [sources] cores = existing cores")
    if m.has("file") and m.has("landcover"):
        raise m.error("give either landcover (run MSPA) or file (an MSPA map), not both")
    if m.has("landcover") and not m.has("foreground"):
        raise m.error("is missing", "foreground")
    return StudyConfig(source, sections)
