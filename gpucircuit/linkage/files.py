"""The Linkage Mapper output files: names, writers and the link table the tools share.

Every tool of the chain adds its columns to one ``link_table.csv`` (Linkage Mapper's habit), so the
table is rewritten with the columns already there kept.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.csv_table import csv_cell
from ..io.quicklook import save_png
from ..io.raster_write import write_raster, write_text_atomic

LINK_TABLE = "link_table.csv"
CORRIDORS = "corridors.tif"
PATHS = "least_cost_paths.gpkg"
CORE_TABLE = "core_centrality.csv"


def number_tag(x: float) -> str:
    """A number as it appears in file names: ``5000``, ``2p5``."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}".replace(".", "p")


def read_link_column(path: Path, name: str) -> dict[int, float]:
    """One numeric column of a link table by link id (empty cells and absent column: nothing)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {int(row["link_id"]): float(row[name]) for row in rows if row.get(name) not in (None, "")}


def update_link_table(path: Path, links, columns: dict[str, dict[int, float]]) -> Path:
    """Add (or replace) ``columns`` (name -> {link id: value}) in the link table at ``path``.

    Columns already in the table (e.g. those another tool added) are kept; a missing table is
    first written from ``links``. Written atomically.
    """
    from ..analysis.corridors import link_table_text

    text = path.read_text() if path.exists() else link_table_text(links)
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    header = list(reader.fieldnames or [])
    for name, values in columns.items():
        if name not in header:
            header.append(name)
        for row in rows:
            row[name] = csv_cell(values.get(int(row["link_id"])), 6)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())
    return path


def write_linkage_outputs(outdir: Path, result, spec, write_cwd: bool) -> list[Path]:
    """Linkage Pathways: corridors (GeoTIFF + PNG), the link table, least-cost paths, optional CWDs."""
    from ..analysis.corridors import link_table_text
    from ..io.vector import cell_centres, write_lines

    outputs = [write_raster(outdir / CORRIDORS, result.corridors, spec, compress=True)]
    outputs.append(save_png(outdir / "corridors.png", result.corridors, "normalised least-cost corridors",
                            cmap="magma_r"))
    write_text_atomic(outdir / LINK_TABLE, link_table_text(result.links))
    outputs.append(outdir / LINK_TABLE)
    with_path = [lk for lk in result.links if lk.path is not None]
    outputs.append(write_lines(
        outdir / PATHS, [cell_centres(lk.path, spec.transform) for lk in with_path],
        {
            "link_id": [lk.link_id for lk in with_path],
            "core_a": [lk.core_a for lk in with_path],
            "core_b": [lk.core_b for lk in with_path],
            "status": [lk.status for lk in with_path],
            "cwd": [lk.lcd for lk in with_path],
            "lcp_length": [lk.lcp_length for lk in with_path],
            "euclidean_distance": [lk.euclidean for lk in with_path],
        },
        crs=spec.crs, layer="least_cost_paths",
    ))
    if write_cwd:
        for cid, d in result.cwd.items():
            outputs.append(write_raster(outdir / f"cwd_core_{cid}.tif", np.where(np.isfinite(d), d, np.nan), spec,
                                        compress=True))
    return outputs


def pinchpoint_name(result, mode: str) -> str:
    """``pinchpoints_<mode>[_squared]_cutoff<C>`` (the stem of a pinch-point map)."""
    sq = "_squared" if result.squared else ""
    return f"pinchpoints_{mode}{sq}_cutoff{number_tag(result.cutoff)}"


def write_pinchpoint_outputs(out: Path, result, spec, links, labels) -> list[Path]:
    """Current maps (GeoTIFF + PNG), the pairwise resistance matrix (pairwise mode) and link-table columns.

    The maps are Pinchpoint Mapper's published ones: the adjacent-pairs mosaic as computed (each
    link's own cores blanked) and the all-pairs map with every core cell of ``labels`` as nodata
    (short-circuited cores carry the whole current and would flatten the colour scale and the
    classes). The PNG quick-looks leave every core out.
    """
    from ..analysis.pinchpoints import blank_cores

    def look(a):
        return blank_cores(a, labels)

    tag = number_tag(result.cutoff)
    outputs = []
    if result.adjacent_current is not None:
        name = pinchpoint_name(result, "adjacent")
        outputs.append(write_raster(out / f"{name}.tif", result.adjacent_current, spec, compress=True))
        outputs.append(save_png(out / f"{name}.png", look(result.adjacent_current),
                                f"pinch points: adjacent pairs, CWD cutoff {tag} (max current, cores masked)", log=True,
                                cmap="inferno"))
        outputs.append(update_link_table(out / LINK_TABLE, links, result.link_columns()))
    if result.all_pairs_current is not None:
        name = pinchpoint_name(result, result.all_pairs_mode.replace("-", "_"))
        outputs.append(write_raster(out / f"{name}.tif", blank_cores(result.all_pairs_current, labels), spec,
                                    compress=True))
        outputs.append(save_png(out / f"{name}.png", look(result.all_pairs_current),
                                f"pinch points: {result.all_pairs_mode}, CWD cutoff {tag} "
                                "(cumulative current, cores masked)",
                                log=True, cmap="inferno"))
        if result.all_pairs_resistances is not None:
            ids, R = result.core_ids, result.all_pairs_resistances
            lines = ["core_a,core_b,resistance"]
            lines += [f"{ids[i]},{ids[j]},{csv_cell(float(R[i, j]), 6)}" for i in range(len(ids))
                      for j in range(i + 1, len(ids))]
            path = out / f"{name}_resistances.csv"
            write_text_atomic(path, "\n".join(lines) + "\n")
            outputs.append(path)
    return outputs


def pinchpoint_map(out: Path, result) -> Path:
    """The pinch-point map the report classifies: the all-pairs map if computed, else the adjacent one."""
    mode = result.all_pairs_mode.replace("-", "_") if result.all_pairs_current is not None else "adjacent"
    return out / f"{pinchpoint_name(result, mode)}.tif"


def pinchpoint_summary(result) -> str:
    parts = []
    if result.eff_resist:
        ok = [v for v in result.eff_resist.values() if math.isfinite(v)]
        parts.append(f"{len(ok)} links with effective resistance")
    if result.all_pairs_current is not None:
        parts.append(f"{result.all_pairs_mode} over {len(result.core_ids)} cores")
    return ", ".join(parts)


def barrier_map(out: Path, percent: bool) -> Path:
    """The maximum-score barrier map the report classifies."""
    return out / f"barriers_max{'_pct' if percent else ''}.tif"


def write_barrier_outputs(out: Path, res, spec, want_sum: bool, raw: bool = False) -> list[Path]:
    """The files ``gpucircuit barriers`` writes, from a :class:`BarrierResult`.

    Every map is Barrier Mapper's published one (scores below 0 as nodata); with ``raw`` each
    GeoTIFF also gets a ``_raw`` twin holding the scores as computed, negatives included.
    """
    from ..analysis.barriers import published_scores

    outputs = []
    pct = "_pct" if res.percent else ""
    stats = [("max", res.max_by_radius, res.maximum, res.circles_max)]
    if want_sum:
        stats.append(("sum", res.sum_by_radius, res.total, res.circles_sum))
    label = "percent improvement" if res.percent else "improvement score"

    def tif(stem, a):
        outputs.append(write_raster(out / f"{stem}.tif", published_scores(a), spec, compress=True))
        if raw:
            outputs.append(write_raster(out / f"{stem}_raw.tif", a, spec, compress=True))

    for stat, by_radius, agg, circles in stats:
        for rad, a in by_radius.items():
            tif(f"barriers_{stat}{pct}_r{number_tag(rad)}", a)
        tif(f"barriers_{stat}{pct}", agg)
        tif(f"barriers_{stat}{pct}_circles", circles)
        outputs.append(save_png(out / f"barriers_{stat}{pct}.png", published_scores(agg), f"barriers: {stat} {label}",
                                cmap="inferno"))
        outputs.append(save_png(out / f"barriers_{stat}{pct}_circles.png", published_scores(circles),
                                f"barrier circles: {stat} {label}", cmap="inferno"))
    return outputs


def write_centrality_outputs(out: Path, result, links, spec=None, labels=None) -> list[Path]:
    """Link-table column ``centrality``, the core table and (with a grid) a core centrality raster + PNG."""
    outputs = [update_link_table(out / LINK_TABLE, links, result.link_columns())]
    lines = ["core_id,centrality"] + [f"{c},{csv_cell(result.core_centrality[c], 6)}" for c in result.core_ids]
    write_text_atomic(out / CORE_TABLE, "\n".join(lines) + "\n")
    outputs.append(out / CORE_TABLE)
    if spec is not None and labels is not None:
        lut = np.full(int(max(labels.max(), max(result.core_ids))) + 1, np.nan)
        for c, v in result.core_centrality.items():
            lut[c] = v
        grid = np.where(labels > 0, lut[np.clip(labels, 0, None)], np.nan)
        outputs.append(write_raster(out / "core_centrality.tif", grid, spec, compress=True))
        outputs.append(save_png(out / "core_centrality.png", grid, "core centrality (cumulative current)",
                                cmap="viridis"))
    return outputs


def check_link_cores(links, core_ids, table: Path, cores_name: str = "the cores given") -> None:
    """InputError when the link table names a core that the cores do not hold."""
    unknown = sorted({c for lk in links for c in (lk.core_a, lk.core_b)} - set(core_ids))
    if unknown:
        raise InputError(f"link table {table} names core(s) {', '.join(map(str, unknown))} not in {cores_name}")


def class_outputs(rdir: Path, prefix: str, cp, spec, title: str) -> list[Path]:
    """A classified map's class and top-class patch rasters, their PNGs and the patch polygons."""
    from ..analysis.patches import patches_to_polygons
    from ..io.vector import write_polygons

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
