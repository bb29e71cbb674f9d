"""``gpucircuit report``: the seed studies' tables, maps and summary from a ``gpucircuit linkage`` folder.

Reads OUT (link table, corridors, least-cost paths, pinch-point and barrier maps) and the
original resistance and cores, and writes OUT/report/: pinch-point and barrier classes and
patches, land-use composition, breakpoints with roads/railways, corridor importance (gravity
model + centrality), network indices (α, β, γ, PC, dPC), an optional corridor-width sweep and
summary.md / summary.html. The numbers come from :mod:`gpucircuit.analysis.report`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import List, Optional

import typer

from . import options as opt
from .common import cli_command, job_progress, say
from .corridors import CORRIDORS, LINK_TABLE, PATHS, cellsize_of, load_inputs

METHODS = ("jenks", "quantile", "equal_interval")
LINKAGE_HINT = "gpucircuit linkage RESISTANCE CORES -o OUT --cutoff C"


def find_inputs(out: Path) -> dict[str, Path]:
    """The linkage outputs the report needs; InputError naming the first one missing."""
    from gpucircuit.errors import InputError

    if not out.is_dir():
        raise InputError(f"output folder {out} not found; make it with '{LINKAGE_HINT}'")
    found = {}
    for key, name in (("link_table", LINK_TABLE), ("corridors", CORRIDORS), ("paths", PATHS)):
        p = out / name
        if not p.exists():
            raise InputError(f"{p} not found; make it with '{LINKAGE_HINT}'")
        found[key] = p
    pinch = _newest(out, "pinchpoints_all_to_one*_cutoff*.tif") or _newest(out, "pinchpoints_adjacent*_cutoff*.tif")
    if pinch is None:
        raise InputError(f"{out}/pinchpoints_all_to_one_cutoff*.tif (or pinchpoints_adjacent_cutoff*.tif) not found; "
                         f"make it with '{LINKAGE_HINT}'")
    found["pinch"] = pinch
    barrier = next((out / n for n in ("barriers_max.tif", "barriers_max_pct.tif") if (out / n).exists()), None)
    if barrier is None:
        raise InputError(f"{out / 'barriers_max.tif'} not found; make it with '{LINKAGE_HINT} "
                         "--radius-start R0 --radius-end R1 --radius-step DR'")
    found["barrier"] = barrier
    return found


def _newest(folder: Path, pattern: str) -> Path | None:
    files = sorted(folder.glob(pattern), key=lambda p: (p.stat().st_mtime, p.name))
    return files[-1] if files else None


def read_landuse_names(path: Path) -> dict[int, str]:
    """``code,name`` rows (a header row, if any, is skipped) → ``{code: name}``."""
    import csv

    from gpucircuit.errors import InputError

    if not path.exists():
        raise InputError(f"land-use names file not found: {path}")
    names = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or not row[0].strip():
                continue
            try:
                code = int(float(row[0]))
            except ValueError:
                if n == 1:
                    continue  # header
                raise InputError(f"{path}, line {n}: land-use code {row[0]!r} is not an integer") from None
            names[code] = row[1].strip() if len(row) > 1 else str(code)
    return names


def read_landuse(path: Path, spec):
    """Integer land-use codes on the resistance grid (nodata → -9999)."""
    import numpy as np

    from gpucircuit.errors import InputError
    from gpucircuit.io.raster import check_same_grid, read_raster

    lu, lspec = read_raster(path, name="land-use raster")
    check_same_grid(spec, lspec, "resistance raster", "land-use raster", path)
    ok = np.isfinite(lu)
    if np.any(lu[ok] != np.round(lu[ok])):
        raise InputError(f"land-use raster {path} must hold integer class codes")
    return np.where(ok, lu, -9999).astype(np.int64)


def plot_sweep(path: Path, rows: list[dict], best: float) -> Path:
    """Cumulative current against the CWD cutoff, the selected cutoff marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gpucircuit.io.quicklook import save_figure

    x = [r["cutoff"] for r in rows]
    y = [r["cumulative_current"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=110)
    ax.plot(x, y, "o-", color="#336699")
    yb = next(r["cumulative_current"] for r in rows if r["cutoff"] == best)
    ax.plot([best], [yb], "o", ms=12, mfc="none", mec="#cc3300", mew=2, label=f"selected: {best:g}")
    ax.set_xlabel("CWD cutoff (corridor width)")
    ax.set_ylabel("cumulative current in corridors")
    ax.set_title("corridor width sweep")
    ax.legend()
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def _class_outputs(rdir: Path, prefix: str, cp, spec, title: str) -> list[Path]:
    """Class and patch rasters, PNG of the classes, patch polygons."""
    import numpy as np

    from gpucircuit.analysis.patches import patches_to_polygons
    from gpucircuit.io.quicklook import save_png
    from gpucircuit.io.raster import write_raster
    from gpucircuit.io.vector import write_polygons

    cls = np.where(cp.classes > 0, cp.classes, np.nan)
    ids = np.where(cp.ids > 0, cp.ids, np.nan)
    outputs = [write_raster(rdir / f"{prefix}_classes.tif", cls, spec, compress=True),
               write_raster(rdir / f"{prefix}_patches.tif", ids, spec, compress=True),
               save_png(rdir / f"{prefix}_classes.png", cls, f"{title}: classes (top = {cp.top})", cmap="YlOrRd"),
               save_png(rdir / f"{prefix}_patches.png", np.where(cp.mask, 1.0, np.nan),
                        f"{title}: {cp.n} top-class patches", cmap="autumn")]
    polys = patches_to_polygons(cp.ids, spec.transform)
    by_id = {r["id"]: r for r in cp.patches}
    keys = [k for k in (cp.patches[0] if cp.patches else {}) if not k.startswith("landuse_")]
    fields = {k: [by_id[pid][k] for _, pid in polys] for k in keys}
    outputs.append(write_polygons(rdir / f"{prefix}_patches.gpkg", [g for g, _ in polys], fields or
                                  {"id": [pid for _, pid in polys]}, crs=spec.crs, layer=f"{prefix}_patches"))
    return outputs


def register(app: typer.Typer) -> None:
    @app.command("report")
    @cli_command
    def report(
        resistance: Path = typer.Argument(..., help="The resistance raster given to 'gpucircuit linkage'."),
        cores: Path = typer.Argument(..., help="The cores given to 'gpucircuit linkage'."),
        out: Path = typer.Option(..., "--out", "-o", help="Folder holding the 'gpucircuit linkage' outputs."),
        core_field: str = opt.CORE_FIELD,
        classes: int = typer.Option(5, "--classes", help="Number of classes of the pinch-point and barrier maps."),
        method: str = typer.Option("jenks", "--method", help="Class breaks: jenks, quantile or equal_interval."),
        landuse: Optional[Path] = typer.Option(None, "--landuse", help="Land-use raster (integer codes, same grid)."),
        landuse_names: Optional[Path] = typer.Option(None, "--landuse-names", help="CSV of code,name for --landuse."),
        lines: Optional[List[Path]] = typer.Option(None, "--lines",
                                                   help="Roads / railways (lines); repeatable. Breakpoints with LCPs."),
        d_threshold: float = typer.Option(5000.0, "--d-threshold", help="PC: distance (map units) at --p-threshold."),
        p_threshold: float = typer.Option(0.5, "--p-threshold", help="PC: dispersal probability at --d-threshold."),
        gravity_threshold: float = typer.Option(1.0, "--gravity-threshold",
                                                help="Gravity model: G above this = important corridor."),
        sweep: Optional[str] = typer.Option(None, "--sweep",
                                            help="Corridor width sweep over CWD cutoffs, e.g. 1000:9000:2000 "
                                                 "(first, last, step); all-to-one current per cutoff."),
        report_dir: str = typer.Option("report", "--report-dir", help="Name of the report folder inside OUT."),
        method_cwd: str = typer.Option("auto", "--cwd-method", help="CWD engine for --sweep: auto, dijkstra or sweep."),
    ):
        """Report of a linkage run: pinch points, barriers, breakpoints, corridor importance, indices, summary."""
        import numpy as np

        from gpucircuit.analysis import report as rp
        from gpucircuit.analysis.breakpoints import read_lines
        from gpucircuit.analysis.corridors import core_distances, euclidean_core_distances, read_link_table
        from gpucircuit.analysis.cwd import CostSurface
        from gpucircuit.analysis.sweep import width_sweep
        from gpucircuit.errors import InputError
        from gpucircuit.io.raster import check_same_grid, read_raster, write_text_atomic
        from gpucircuit.progress import reporting

        from .pinchpoints import read_link_column

        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        method = method.lower()
        if method not in METHODS:
            raise InputError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
        if not 2 <= classes <= 255:
            raise InputError(f"--classes must be from 2 to 255, got {classes}")
        if landuse_names is not None and landuse is None:
            raise InputError("--landuse-names needs --landuse")
        if not report_dir or Path(report_dir).name != report_dir or report_dir in (".", ".."):
            raise InputError(f"--report-dir must be a plain folder name, got {report_dir!r}")
        cutoffs = rp.parse_sweep(sweep) if sweep else None
        for p in lines or []:
            if not p.exists():
                raise InputError(f"line file not found: {p}")
        found = find_inputs(out)
        rdir = out / report_dir
        outputs: list[Path] = []

        def done(name: str, t0: float) -> None:
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0

        with job_progress() as shown:
            shown.stage("inputs")
            t = time.perf_counter()
            r, spec, core_set = load_inputs(resistance, cores, core_field)
            cellsize = cellsize_of(spec)
            labels = core_set.labels
            links = read_link_table(found["link_table"])
            unknown = sorted({c for lk in links if lk.active for c in (lk.core_a, lk.core_b)} - set(core_set.ids))
            if unknown:
                raise InputError(f"link table {found['link_table']} names core(s) {', '.join(map(str, unknown))} "
                                 f"not in {cores}; give the cores used for 'gpucircuit linkage'")
            maps = {}
            for key in ("pinch", "barrier"):
                a, s = read_raster(found[key], name=found[key].stem)
                check_same_grid(spec, s, "resistance raster", found[key].stem, found[key])
                maps[key] = a
            lu = read_landuse(landuse, spec) if landuse else None
            lu_names = read_landuse_names(landuse_names) if landuse_names else None
            if lu is not None and lu_names is not None:
                lu_names.setdefault(-9999, "nodata")
            done("read inputs", t)

            shown.stage("pinch points")
            t = time.perf_counter()
            pinch = rp.class_patches(maps["pinch"], classes, method, cellsize=cellsize, include=labels <= 0,
                                     landuse=lu, landuse_names=lu_names, value_name="current",
                                     transform=spec.transform)
            done("pinch points", t)
            shown.stage("barriers")
            t = time.perf_counter()
            if not np.any(maps["barrier"] > 0):
                raise InputError(f"{found['barrier']} has no positive improvement score: no barrier to classify")
            with np.errstate(invalid="ignore"):
                positive = maps["barrier"] > 0
            barrier = rp.class_patches(maps["barrier"], classes, method, cellsize=cellsize, include=positive,
                                       landuse=lu, landuse_names=lu_names, value_name="score",
                                       transform=spec.transform)
            done("barriers", t)

            shown.stage("network indices")
            t = time.perf_counter()
            core_rows = rp.core_table(labels, r, core_set.ids, cellsize)
            cen = read_link_column(found["link_table"], "centrality")
            importance = rp.corridor_importance(links, core_rows, gravity_threshold, cen, classes, method)
            dist = rp.distance_matrix(core_set.ids, euclidean_core_distances(labels, core_set.ids, cellsize))
            landscape = float(np.isfinite(r).sum()) * rp.cell_area(cellsize)
            indices, dpc_rows = rp.network_tables(core_rows, links, dist, landscape, d_threshold, p_threshold)
            done("importance and indices", t)

            shown.stage("breakpoints")
            t = time.perf_counter()
            bp_rows = None
            if lines:
                feats, paths_crs = read_lines(found["paths"])
                active_ids = {lk.link_id for lk in links if lk.active}
                paths = [(a["link_id"], g) for a, g in feats if a.get("link_id") in active_ids]
                bp_rows = rp.breakpoint_table(paths, [(p.name, p) for p in lines], paths_crs=paths_crs)
            done("breakpoints", t)

            sweep_info = None
            if cutoffs:
                shown.stage("sweep: cost-weighted distance")
                t = time.perf_counter()
                active = rp.active_links(links)
                needed = sorted({c for lk in active for c in (lk.core_a, lk.core_b)})
                cwds = core_distances(CostSurface(r, cellsize), labels, needed, method_cwd)
                for lk in active:  # the table's LCDs are rounded; take them from these CWDs
                    lk.lcd = float(np.min(cwds[lk.core_a][labels == lk.core_b]))
                done("sweep: cost-weighted distance", t)
                shown.stage("sweep: currents", len(cutoffs))
                t = time.perf_counter()
                with reporting(None):  # the all-to-one runs show as the sweep's count, not as stages of their own
                    sw_rows = rp.sweep_currents(r, labels, cwds, active, cutoffs, cellsize=cellsize,
                                                progress=lambda c: shown.advance())
                ws = width_sweep([x["cutoff"] for x in sw_rows], [x["cumulative_current"] for x in sw_rows])
                by_cut = {x["cutoff"]: x for x in sw_rows}
                merged = [{**by_cut[w["cutoff"]], **w} for w in ws.rows]
                sweep_info = {"rows": merged, "best_cutoff": ws.best_cutoff}
                done("sweep: currents", t)

            shown.stage("tables")
            t = time.perf_counter()
            rdir.mkdir(parents=True, exist_ok=True)

            def table(name, rows, columns=None):
                write_text_atomic(rdir / name, rp.rows_to_csv(rows, columns))
                outputs.append(rdir / name)

            table("pinchpoint_breaks.csv", pinch.breaks)
            table("pinchpoint_patches.csv", pinch.patches, None if pinch.patches else ["id", "cells", "area_km2"])
            table("barrier_breaks.csv", barrier.breaks)
            table("barrier_patches.csv", barrier.patches, None if barrier.patches else ["id", "cells", "area_km2"])
            if lu is not None:
                corridor_cells = np.isfinite(maps["pinch"]) & (labels <= 0)
                table("landuse_composition.csv", rp.landuse_rows(
                    {"pinchpoints": pinch.mask, "barriers": barrier.mask, "corridors": corridor_cells,
                     "sources": labels > 0}, lu, lu_names, cellsize),
                    ["set", "code", "name", "cells", "share_pct", "area_km2"])
            if bp_rows is not None:
                table("breakpoints.csv", bp_rows, None if bp_rows else
                      ["lines", "link_id", "x", "y", "kind", "line_index", "distance_along"])
            table("corridor_importance.csv", importance,
                  ["rank", "link_id", "core_a", "core_b", "lcd", "lcp_length_km", "G", "class", "centrality",
                   "centrality_class"])
            table("network_indices.csv", [{"index": k, "value": v} for k, v in indices.items()])
            table("dpc.csv", dpc_rows)
            table("sources.csv", core_rows)
            if sweep_info:
                table("width_sweep.csv", sweep_info["rows"],
                      ["cutoff", "cumulative_current", "delta", "relative_change", "selected", "corridor_cells",
                       "corridor_area_km2"])
            done("write tables", t)

            shown.stage("maps and plots")
            t = time.perf_counter()
            outputs += _class_outputs(rdir, "pinchpoint", pinch, spec, "pinch points")
            outputs += _class_outputs(rdir, "barrier", barrier, spec, "barriers")
            if sweep_info:
                outputs.append(plot_sweep(rdir / "width_sweep.png", sweep_info["rows"], sweep_info["best_cutoff"]))
            done("write maps and plots", t)

            shown.stage("summary")
            tag = found["pinch"].stem.rsplit("_cutoff", 1)[-1]
            settings = {"classes": classes, "method": method, "pinch-point cutoff (linkage)": tag.replace("p", "."),
                        "d_threshold": d_threshold, "p_threshold": p_threshold,
                        "gravity_threshold": gravity_threshold}
            if cutoffs:
                settings["sweep"] = sweep
            files = {"resistance": str(resistance), "cores": str(cores), "pinch-point map": found["pinch"].name,
                     "barrier map": found["barrier"].name}
            if landuse:
                files["land use"] = str(landuse)
            for n, p in enumerate(lines or []):
                files[f"lines {n + 1}"] = str(p)
            summary = rp.build_summary(cores=core_rows, links=links, pinch=pinch, barrier=barrier,
                                       n_breakpoints=None if bp_rows is None else len(bp_rows), indices=indices,
                                       importance=importance, sweep=sweep_info, timings=timings, sources=files,
                                       settings=settings)
            write_text_atomic(rdir / "summary.md", rp.summary_markdown(summary))
            images = {p.name: p.read_bytes() for p in (rdir / "pinchpoint_classes.png", rdir / "barrier_classes.png",
                                                        rdir / "width_sweep.png") if p.exists()}
            write_text_atomic(rdir / "summary.html", rp.summary_html(summary, images))
            outputs += [rdir / "summary.md", rdir / "summary.html"]

        s = summary
        width = f"; corridor width {s['width']['best_cutoff']:g}" if s["width"] else ""
        bps = "" if s["breakpoints"] is None else f", {s['breakpoints']} breakpoint(s)"
        say(f"report: {s['sources']['count']} sources, {s['corridors']['count']} corridors "
            f"({s['corridors']['length_km']:.1f} km); {pinch.n} pinch-point patches "
            f"({pinch.area_km2:.3f} km²), {barrier.n} barrier patches ({barrier.area_km2:.3f} km²){bps}{width}")
        say(f"report: wrote {len(set(outputs))} files to {rdir} in {time.perf_counter() - t_start:.2f} s")
