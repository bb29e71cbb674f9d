"""The steps of :func:`.report.build_report`: read, classify, network tables, breakpoints, sweep, write."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..analysis import report as rp
from ..errors import InputError
from ..io.csv_table import rows_to_csv
from ..io.raster import check_same_grid, read_raster
from ..io.raster_write import write_text_atomic
from ..io.report_render import summary_html, summary_markdown
from . import tables
from .files import read_link_column
from .report import Report, map_cutoff, read_landuse, read_landuse_names

EMPTY_PATCHES = ["id", "cells", "area_km2"]


class ReportRun:
    """One report: the state the steps share, so each step stays a short method."""

    def __init__(self, r, spec, core_set, files, options, rdir: Path, shown, inputs: dict[str, str]):
        from .chain import cellsize_of

        self.r, self.spec, self.core_set, self.files, self.o = r, spec, core_set, files, options
        self.rdir, self.shown, self.inputs = rdir, shown, inputs
        self.cellsize = cellsize_of(spec)
        self.labels = core_set.labels
        self.timings: dict[str, float] = {}
        self.outputs: list[Path] = []

    def timed(self, name: str, fn, *args):
        self.shown.stage(name)
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t

    def run(self):
        from ..analysis.corridors import read_link_table

        def read():
            self.links = read_link_table(self.files.link_table)
            unknown = sorted({c for lk in self.links if lk.active for c in (lk.core_a, lk.core_b)}
                             - set(self.core_set.ids))
            if unknown:
                raise InputError(f"link table {self.files.link_table} names core(s) {', '.join(map(str, unknown))} "
                                 f"not in the cores given; give the cores used for 'gpucircuit linkage'")
            self.maps = {}
            for key in ("pinch", "barrier"):
                path = getattr(self.files, key)
                a, s = read_raster(path, name=path.stem)
                check_same_grid(self.spec, s, "resistance raster", path.stem, path)
                self.maps[key] = a
            self.lu = read_landuse(self.o.landuse, self.spec) if self.o.landuse else None
            self.lu_names = read_landuse_names(self.o.landuse_names) if self.o.landuse_names else None
            if self.lu is not None and self.lu_names is not None:
                self.lu_names.setdefault(-9999, "nodata")

        self.timed("read inputs", read)
        self.pinch = self.timed("pinch points", self.classify, "pinch", self.o.pinch_classes, "current",
                                self.labels <= 0)
        if not np.any(self.maps["barrier"] > 0):
            raise InputError(f"{self.files.barrier} has no positive improvement score: no barrier to classify")
        with np.errstate(invalid="ignore"):
            positive = self.maps["barrier"] > 0
        self.barrier = self.timed("barriers", self.classify, "barrier", self.o.barrier_classes, "score", positive)
        self.timed("importance and indices", self.network)
        self.bp_rows = self.timed("breakpoints", self.breakpoints)
        self.sweep_info = self.sweep() if self.o.cutoffs else None
        self.timed("write tables", self.write_tables)
        self.timed("write maps and plots", self.write_maps)
        summary = self.timed("summary", self.write_summary)
        return Report(summary, self.outputs, self.pinch, self.barrier)

    def classify(self, key, k, value_name, include):
        return rp.class_patches(self.maps[key], k, self.o.method, cellsize=self.cellsize, include=include,
                                landuse=self.lu, landuse_names=self.lu_names, value_name=value_name,
                                transform=self.spec.transform)

    def network(self):
        from ..analysis.corridors import euclidean_core_distances

        ids = self.core_set.ids
        self.core_rows = rp.core_table(self.labels, self.r, ids, self.cellsize)
        cen = read_link_column(self.files.link_table, "centrality")
        self.importance = rp.corridor_importance(self.links, self.core_rows, self.o.gravity_threshold, cen,
                                                 self.o.pinch_classes, self.o.method)
        dist = rp.distance_matrix(ids, euclidean_core_distances(self.labels, ids, self.cellsize))
        self.landscape_m2 = float(np.isfinite(self.r).sum()) * rp.cell_area(self.cellsize)
        self.indices, self.dpc_rows = rp.network_tables(self.core_rows, self.links, dist, self.landscape_m2,
                                                        self.o.d_threshold, self.o.p_threshold)

    def breakpoints(self):
        from ..analysis.breakpoints import read_lines

        if not self.o.lines:
            return None
        feats, paths_crs = read_lines(self.files.paths)
        active_ids = {lk.link_id for lk in self.links if lk.active}
        paths = [(a["link_id"], g) for a, g in feats if a.get("link_id") in active_ids]
        return rp.breakpoint_table(paths, [(p.name, p) for p in self.o.lines], paths_crs=paths_crs)

    def sweep(self):
        from ..analysis.corridors import core_distances
        from ..analysis.cwd import CostSurface
        from ..analysis.sweep import width_sweep
        from ..progress import reporting
        from .chain import check_link_distances

        self.shown.stage("sweep: cost-weighted distance")
        t = time.perf_counter()
        active = rp.active_links(self.links)
        needed = sorted({c for lk in active for c in (lk.core_a, lk.core_b)})
        cwds = core_distances(CostSurface(self.r, self.cellsize), self.labels, needed, self.o.cwd_method)
        check_link_distances(active, cwds, self.labels, self.files.link_table)  # the table's LCDs are rounded
        self.timings["sweep: cost-weighted distance"] = time.perf_counter() - t
        self.shown.stage("sweep: currents", len(self.o.cutoffs))
        t = time.perf_counter()
        with reporting(None):  # the all-to-one runs show as the sweep's count, not as stages of their own
            rows = rp.sweep_currents(self.r, self.labels, cwds, active, self.o.cutoffs, cellsize=self.cellsize,
                                     progress=lambda c: self.shown.advance())
        ws = width_sweep([x["cutoff"] for x in rows], [x["cumulative_current"] for x in rows])
        by_cut = {x["cutoff"]: x for x in rows}

        merged = tables.sweep_rows([{**by_cut[w["cutoff"]], **w} for w in ws.rows], self.landscape_m2 / 1e6,
                                   map_cutoff(self.files.pinch))
        self.timings["sweep: currents"] = time.perf_counter() - t
        return {"rows": merged, "best_cutoff": ws.best_cutoff}

    def table(self, name, rows, columns=None):
        write_text_atomic(self.rdir / name, rows_to_csv(rows, columns))
        self.outputs.append(self.rdir / name)

    def write_tables(self):
        self.rdir.mkdir(parents=True, exist_ok=True)
        pinch, barrier, labels = self.pinch, self.barrier, self.labels
        corridor = np.isfinite(self.maps["pinch"]) & (labels <= 0)
        area = rp.cell_area(self.cellsize)
        self.table("pinchpoint_breaks.csv", pinch.breaks)
        self.table("pinchpoint_patches.csv", pinch.patches, None if pinch.patches else EMPTY_PATCHES)
        self.table("pinchpoint_classes.csv", tables.class_rows(pinch.classes, pinch.edges, corridor, area,
                                                               self.cellsize))
        self.table("barrier_breaks.csv", barrier.breaks)
        self.table("barrier_patches.csv", barrier.patches, None if barrier.patches else EMPTY_PATCHES)
        self.table("barrier_classes.csv", tables.class_rows(barrier.classes, barrier.edges, corridor, area,
                                                            self.cellsize))
        if self.lu is not None:
            sets = {"pinchpoints": pinch.mask, "barriers": barrier.mask, "corridors": corridor, "sources": labels > 0}
            for name, cp in (("pinchpoints", pinch), ("barriers", barrier)):
                sets.update({f"{name}_class{c}": cp.classes == c for c in range(1, len(cp.edges))
                             if np.any(cp.classes == c)})
            self.table("landuse_composition.csv", rp.landuse_rows(sets, self.lu, self.lu_names, self.cellsize),
                       ["set", "code", "name", "cells", "share_pct", "area_km2"])
        if self.bp_rows is not None:
            self.table("breakpoints.csv", self.bp_rows, None if self.bp_rows else
                       ["lines", "link_id", "x", "y", "kind", "line_index", "distance_along"])
            self.table("breakpoints_by_type.csv", tables.breakpoints_by_type(self.bp_rows, self.o.line_field),
                       ["lines", "type", "breakpoints"])
        self.table("corridor_importance.csv", tables.corridor_rows(self.importance, self.core_rows),
                   ["rank", "link_id", "core_a", "core_b", "lcd", "lcp_length_km", "G", "class", "centrality",
                    "centrality_class", "area_a_km2", "area_b_km2"])
        self.table("corridor_summary.csv", tables.corridor_summary(self.importance, self.o.gravity_threshold))
        self.table("network_indices.csv", [{"index": k, "value": v} for k, v in self.indices.items()])
        self.table("dpc.csv", self.dpc_rows)
        self.table("sources.csv", tables.source_rows(self.core_rows, self.dpc_rows, self.landscape_m2 / 1e6))
        if self.sweep_info:
            self.table("width_sweep.csv", self.sweep_info["rows"],
                       ["cutoff", "cumulative_current", "delta", "relative_change", "selected", "corridor_cells",
                        "corridor_area_km2", "corridor_share_pct", "used_for_maps"])

    def write_maps(self):
        from ..io.plots import plot_width_sweep
        from .files import class_outputs

        self.outputs += class_outputs(self.rdir, "pinchpoint", self.pinch, self.spec, "pinch points")
        self.outputs += class_outputs(self.rdir, "barrier", self.barrier, self.spec, "barriers")
        if self.sweep_info:
            self.outputs.append(plot_width_sweep(self.rdir / "width_sweep.png", self.sweep_info["rows"],
                                                 self.sweep_info["best_cutoff"]))

    def write_summary(self):

        o = self.o
        cut = map_cutoff(self.files.pinch)
        settings = {"pinch-point classes": o.pinch_classes, "barrier classes": o.barrier_classes,
                    "method": o.method, "pinch-point cutoff (linkage)": "–" if cut is None else f"{cut:g}",
                    "d_threshold": o.d_threshold, "p_threshold": o.p_threshold,
                    "gravity_threshold": o.gravity_threshold}
        if o.cutoffs:
            settings["sweep"] = o.sweep
        files = {**self.inputs, "pinch-point map": self.files.pinch.name, "barrier map": self.files.barrier.name}
        if o.landuse:
            files["land use"] = str(o.landuse)
        for n, p in enumerate(o.lines):
            files[f"lines {n + 1}"] = str(p)
        s = rp.build_summary(cores=self.core_rows, links=self.links, pinch=self.pinch, barrier=self.barrier,
                             n_breakpoints=None if self.bp_rows is None else len(self.bp_rows), indices=self.indices,
                             importance=self.importance, sweep=self.sweep_info, timings=self.timings, sources=files,
                             settings=settings)
        write_text_atomic(self.rdir / "summary.md", summary_markdown(s))
        images = {p.name: p.read_bytes() for p in (self.rdir / "pinchpoint_classes.png",
                                                    self.rdir / "barrier_classes.png",
                                                    self.rdir / "width_sweep.png") if p.exists()}
        write_text_atomic(self.rdir / "summary.html", summary_html(s, images))
        self.outputs += [self.rdir / "summary.md", self.rdir / "summary.html"]
        return s


def build_report(r, spec, core_set, files, options, rdir: Path, shown, inputs: dict[str, str] | None = None):
    """Every table, map and the summary of the report into ``rdir`` (a ``Report``); ``shown`` is a
    progress display."""
    return ReportRun(r, spec, core_set, files, options, rdir, shown, inputs or {}).run()
