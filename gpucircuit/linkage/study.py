"""``gpucircuit network``: the whole study — resistance → MSPA → sources → Linkage Mapper chain → report.

Every step writes into its own sub-folder of OUT (the same files as its own command) and is
recorded in OUT/run.json (options, input files, seconds) and OUT/summary.md.  A step given an
existing file in the TOML is skipped (:mod:`.study_config`).  All options are checked before the
first step runs.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..io.raster import check_same_grid, read_raster
from ..io.raster_write import write_raster, write_text_atomic
from .study_config import StudyConfig, read_study_config

RUN_JSON = "run.json"
SUMMARY = "summary.md"


@dataclass
class Step:
    name: str
    options: dict
    inputs: dict[str, str]
    folder: str | None = None
    seconds: float = 0.0
    skipped: bool = False


@dataclass
class StudyPlan:
    """The checked options of every step, built before anything runs."""

    cfg: StudyConfig
    mspa: dict = field(default_factory=dict)
    sources: dict = field(default_factory=dict)
    chain: object = None
    report: object = None
    landuse_from_mspa: bool = False


def plan_study(cfg: StudyConfig) -> StudyPlan:
    from .chain import chain_options, linkage_options, pinchpoint_options
    from .habitat import parse_classes
    from .report import report_options

    m, s, lk, rp = cfg["mspa"], cfg["sources"], cfg["linkage"], cfg["report"]
    plan = StudyPlan(cfg)
    if m.has("landcover"):
        plan.mspa = {"foreground": m.checked(parse_classes, m.string("foreground"), "foreground"),
                     "edge_width": m.number("edge_width", 1, integer=True),
                     "connectivity": m.number("connectivity", 8, integer=True), "int_ext": m.boolean("int_ext")}
        if plan.mspa["edge_width"] < 1:
            raise m.error(f"must be at least 1 pixel, got {plan.mspa['edge_width']}", "edge_width")
        if plan.mspa["connectivity"] not in (4, 8):
            raise m.error(f"must be 4 or 8, got {plan.mspa['connectivity']}", "connectivity")
    plan.sources = {"min_area_km2": s.number("min_area", 0.0), "connectivity": s.number("connectivity", 8, True),
                    "distance": s.number("distance", 5000.0), "probability": s.number("probability", 0.5),
                    "dpc_min": s.number("dpc_min"), "top": s.number("top", integer=True),
                    "top_percent": s.number("top_percent")}
    if sum(plan.sources[k] is not None for k in ("dpc_min", "top", "top_percent")) > 1:
        raise s.error("choose one selection rule: dpc_min, top or top_percent")
    if s.has("sweep"):
        from ..analysis.sources import parse_sweep

        plan.sources["sweep"] = s.checked(parse_sweep, s.string("sweep"))
    radii = [lk.number(k) for k in ("radius_start", "radius_end", "radius_step")]
    if None in radii:
        raise lk.error("needs radius_start, radius_end and radius_step: the report classifies the barrier map")
    if not lk.has("cutoff"):
        raise lk.error("is missing", "cutoff")
    plan.chain = lk.checked(chain_options, lk.checked(
        linkage_options, lk.string("adjacency", "both"), lk.number("max_cwd"), lk.number("max_euclid"),
        lk.number("knn", integer=True), lk.boolean("connect_constellations", True), lk.boolean("drop_crossing", True),
        lk.number("cwd_threshold"), lk.string("cwd_method", "auto")), lk.checked(
        pinchpoint_options, lk.number("cutoff"), lk.boolean("adjacent", True), lk.boolean("all_pairs", True),
        lk.boolean("all_to_one", True), lk.boolean("squared"), lk.string("solver", "auto")),
        *radii, lk.string("weight", "cwd"), lk.boolean("write_cwd"), lk.boolean("percent"), lk.boolean("sum"),
        lk.boolean("raw_scores"))
    # without its own landuse the report reads the land cover as put on the grid by the MSPA step
    plan.landuse_from_mspa = not rp.has("landuse") and m.has("landcover")
    landuse = m.path("landcover") if plan.landuse_from_mspa else rp.path("landuse")
    plan.report = rp.checked(report_options, rp.number("classes", 5, integer=True), rp.string("method", "jenks"),
                             landuse, rp.path("landuse_names"), rp.paths("lines"), rp.number("d_threshold", 5000.0),
                             rp.number("p_threshold", 0.5), rp.number("gravity_threshold", 1.0), rp.string("sweep"),
                             rp.string("cwd_method", "auto"), rp.number("barrier_classes", integer=True),
                             rp.string("line_field"))
    return plan


class Study:
    """Runs the plan's steps in order, keeping what each needs from the one before."""

    def __init__(self, plan: StudyPlan, out: Path, shown):
        from ..progress import stage_callback

        self.plan, self.cfg, self.out, self.shown = plan, plan.cfg, Path(out), shown
        self.report_cb = stage_callback(shown)
        self.steps: list[Step] = []

    def record(self, name, options, inputs, folder, fn):
        t = time.perf_counter()
        result = fn()
        self.steps.append(Step(name, {k: _jsonable(v) for k, v in options.items()},
                               {k: str(v) for k, v in inputs.items()}, folder, time.perf_counter() - t))
        return result

    def resistance(self):
        r = self.cfg["resistance"]
        given = r.path("file")
        if given is None:
            from ..analysis.resistance_surface import OUTPUT_RASTER, build_resistance, write_resistance
            from ..io.factors import read_resistance_config

            config = r.path("config", required=True)
            self.shown.stage("resistance")

            def run():
                write_resistance(build_resistance(read_resistance_config(config)), self.out / "resistance")

            self.record("resistance", {}, {"config": config}, "resistance", run)
            given = self.out / "resistance" / OUTPUT_RASTER
        else:
            self.steps.append(Step("resistance", {}, {"file": str(given)}, skipped=True))
        self.resistance_path = given
        self.r, self.spec = read_raster(given, name="resistance raster")

    def mspa(self):
        m = self.cfg["mspa"]
        if m.has("file"):
            path = m.path("file")
            values, s = read_raster(path, name="MSPA map")
            check_same_grid(self.spec, s, "resistance raster", "MSPA map", path)
            self.steps.append(Step("mspa", {}, {"file": str(path)}, skipped=True))
            return values, path
        from ..analysis.mspa import COLOURS, mspa, mspa_stats
        from ..backend import get_backend
        from ..io.factor_grid import raster_on_grid
        from ..io.raster_write import write_class_raster
        from .habitat import MSPA_TIF, cell_area_m2, class_mask, save_mspa_png, stats_csv

        o, landcover, folder = self.plan.mspa, m.path("landcover"), self.out / "mspa"
        self.shown.stage("mspa")

        def run():
            lc = raster_on_grid(landcover, self.spec, "nearest", "land-cover raster")
            fg = class_mask(lc, o["foreground"])
            if not fg.any():
                raise m.error(f"no cell of {landcover} holds these classes", "foreground")
            folder.mkdir(parents=True, exist_ok=True)
            write_raster(folder / "landcover.tif", lc, self.spec, compress=True)
            classes = mspa(fg, ~np.isfinite(lc), o["edge_width"], o["connectivity"], o["int_ext"],
                           xp=get_backend().xp)
            write_class_raster(folder / MSPA_TIF, classes, self.spec, colours=COLOURS)
            write_text_atomic(folder / "mspa_stats.csv", stats_csv(mspa_stats(classes, cell_area_m2(
                self.spec, landcover, strict=False))))
            save_mspa_png(folder / "mspa.png", classes, f"MSPA (EdgeWidth {o['edge_width']})")
            return classes.astype(np.float64)

        values = self.record("mspa", o, {"landcover": landcover}, "mspa", run)
        self.landuse_on_grid = folder / "landcover.tif"
        return values, folder / MSPA_TIF

    def sources(self):
        from ..io.cores import read_cores

        s = self.cfg["sources"]
        if s.has("cores"):
            path = s.path("cores")
            self.steps.append(Step("sources", {}, {"cores": str(path)}, skipped=True))
            return path, read_cores(path, self.spec, self.r, field=s.string("core_field", "core_id"))
        values, mspa_path = self.mspa()
        from ..analysis.sources import screen_sources
        from ..io.notice import warn_user
        from .chain import cellsize_of
        from .habitat import cell_area_m2, habitat, write_source_outputs

        o, folder, cost = dict(self.plan.sources), self.out / "sources", s.boolean("cost")
        sweep = o.pop("sweep", None)
        self.shown.stage("sources")

        def run():
            cells, study = habitat(values, None, False, mspa_path)
            found = screen_sources(cells, study, cell_area_m2(self.spec, mspa_path, strict=True),
                                   cellsize_of(self.spec),
                                   resistance=self.r if cost else None, notice=warn_user,
                                   progress=lambda i, n: self.report_cb("edge-to-edge distances", i, n), **o)
            write_source_outputs(folder, found, values, self.spec, sweep, o["probability"],
                                 "cost units" if cost else "map units")
            return found

        self.screening = self.record("sources", {**o, "sweep": sweep, "cost": cost}, {"mspa": mspa_path},
                                     "sources", run)
        path = folder / "sources.tif"
        return path, read_cores(path, self.spec, self.r)

    def run(self) -> dict:
        from ..progress import reporting
        from .chain import run_chain
        from .report import report_files
        from .report_steps import build_report

        self.landuse_on_grid = None
        self.resistance()
        cores_path, core_set = self.sources()
        chain_opts = self.plan.chain
        with reporting(None):
            res = self.record("linkage", _options(chain_opts), {"resistance": self.resistance_path,
                                                                  "cores": cores_path}, "linkage",
                              lambda: run_chain(self.r, self.spec, core_set, chain_opts, self.out / "linkage",
                                                self.report_cb))
        ro = self.plan.report
        if self.plan.landuse_from_mspa:
            ro.landuse = self.landuse_on_grid
        files = report_files(self.out / "linkage", res.pinch_map, res.barrier_map)
        rep = self.record("report", _options(ro), {"linkage": self.out / "linkage"}, "report",
                          lambda: build_report(self.r, self.spec, core_set, files, ro, self.out / "report",
                                               self.shown, {"resistance": str(self.resistance_path),
                                                            "cores": str(cores_path)}))
        run = {"config": str(self.cfg.source), "out": str(self.out), "steps": [asdict(s) for s in self.steps],
               "seconds": sum(s.seconds for s in self.steps)}
        write_text_atomic(self.out / RUN_JSON, json.dumps(run, indent=2) + "\n")
        write_text_atomic(self.out / SUMMARY, study_markdown(run, rep.summary))
        return {"run": run, "summary": rep.summary, "chain": res, "report": rep}


def run_study(config, out: Path, shown) -> dict:
    """Check the whole TOML, then run every step into ``out``; returns run.json's dict and the report summary."""
    plan = plan_study(read_study_config(config))
    return Study(plan, out, shown).run()


def _options(obj) -> dict:
    d = asdict(obj) if hasattr(obj, "__dataclass_fields__") else dict(obj)
    return {k: v for k, v in d.items() if k not in ("solve",)}


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items() if k != "solve"}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    if v is None or isinstance(v, (str, int, float, bool)):
        return v
    return str(v)


def study_markdown(run: dict, s: dict) -> str:
    """OUT/summary.md: the headline figures and what ran with which parameters."""
    from ..io.report_render import summary_headline

    out = ["# gpucircuit network study", "", f"Config: `{run['config']}`", ""]
    out += [f"- {line}" for line in summary_headline(s)]
    out += ["", "Full report: `report/summary.md` (tables in `report/`).", "", "## Steps", "",
            "| Step | Folder | Seconds | Inputs | Options |", "|---|---|---|---|---|"]
    for st in run["steps"]:
        opts = ", ".join(f"{k}={v}" for k, v in st["options"].items() if v not in (None, [], {}))
        ins = ", ".join(f"{k}: `{v}`" for k, v in st["inputs"].items())
        where = "(given)" if st["skipped"] else f"`{st['folder']}/`"
        out.append(f"| {st['name']} | {where} | {st['seconds']:.2f} | {ins} | {opts.replace('|', '/')} |")
    out += ["", f"Total: {run['seconds']:.2f} s."]
    return "\n".join(out) + "\n"
