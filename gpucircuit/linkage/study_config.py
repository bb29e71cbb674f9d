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

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..io.toml_doc import TomlTable, read_toml


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


def step_table(source: Path, name: str, data) -> TomlTable:
    """One step's table (``[name]``), its keys checked against the step's options."""
    return TomlTable(source, f"[{name}]", data, KEYS[name])


@dataclass
class StudyConfig:
    source: Path
    sections: dict[str, TomlTable]

    def __getitem__(self, name: str) -> TomlTable:
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
    sections = {name: step_table(source, name, doc.get(name, {})) for name in KEYS}
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
