"""The MSPA and source-screening steps as library calls: class lists, habitat masks, their files.

Used by ``gpucircuit mspa``, ``gpucircuit sources`` and the ``network`` study alike.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

MSPA_TIF = "mspa.tif"


def parse_classes(text: str, option: str) -> list[int]:
    """``"41,42,43"`` or ``"41-43,90"`` → sorted class codes; InputError naming ``option`` otherwise."""
    import re

    from ..errors import InputError

    codes: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        span = re.fullmatch(r"(-?\d+)\s*-\s*(-?\d+)", part)
        if span and int(span[1]) <= int(span[2]):
            codes.update(range(int(span[1]), int(span[2]) + 1))
        elif re.fullmatch(r"-?\d+", part):
            codes.add(int(part))
        elif part:
            raise InputError(f"{option} {text!r}: {part!r} is not a class code or a range like 41-43")
    if not codes:
        raise InputError(f"{option} is empty: give class codes such as 41,42,43 or 41-43")
    return sorted(codes)


def class_mask(values, codes: list[int]):
    """Cells of ``values`` (float, NaN = nodata) holding one of ``codes``."""
    import numpy as np

    return np.isin(values, np.asarray(codes, dtype=np.float64))


def cell_area_m2(spec, path: Path, strict: bool) -> float:
    """Cell area in CRS units²; a geographic CRS is an error when ``strict`` (areas in km² matter), else a warning."""
    from ..errors import InputError
    from ..io.notice import warn_user

    if spec.crs is not None and spec.crs.is_geographic:
        msg = f"{path} has a geographic CRS ({spec.crs}); areas need a projected CRS in metres"
        if strict:
            raise InputError(msg)
        warn_user(msg + ": km² in the statistics are not meaningful")
    return abs(spec.transform.a * spec.transform.e - spec.transform.b * spec.transform.d)


def save_mspa_png(path: Path, classes, title: str) -> Path:
    """The class map in GuidosToolbox's colours with a legend (large maps decimated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch

    from ..analysis.mspa import BORDER_OPENING, CLASSES, COLOURS, INTERNAL, MISSING
    from ..io.quicklook import save_figure

    step = max(1, int(np.ceil(np.sqrt(classes.size / 2_000_000))))
    c = classes[::step, ::step]
    lut = np.zeros((256, 3), dtype=np.uint8)
    for code, rgb in COLOURS.items():
        lut[code] = rgb
    fig, ax = plt.subplots(figsize=(8, 8 * c.shape[0] / max(c.shape[1], 1) + 0.6), dpi=110)
    ax.imshow(lut[c], interpolation="nearest")
    handles = [Patch(facecolor=np.array(COLOURS[code]) / 255, edgecolor="grey", label=name) for name, code in CLASSES]
    handles.append(Patch(facecolor=np.array(COLOURS[0]) / 255, edgecolor="grey", label="background"))
    for code, name in ((INTERNAL, "core-opening"), (BORDER_OPENING, "border-opening")):
        if np.any(c == code):
            handles.append(Patch(facecolor=np.array(COLOURS[code]) / 255, edgecolor="grey", label=name))
    if np.any(c == MISSING):
        handles.append(Patch(facecolor="white", edgecolor="grey", label="missing"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()
    return save_figure(fig, path)


def stats_csv(rows: list[dict]) -> str:
    lines = ["class,code,pixels,area_km2,share_of_foreground_pct"]
    lines += [f"{r['class']},{r['code']},{r['pixels']},{r['area_km2']:.6f},{r['share_pct']:.4f}" for r in rows]
    return "\n".join(lines) + "\n"


MSPA_CODES = {0, 1, 3, 5, 9, 17, 33, 35, 37, 65, 67, 69, 100, 101, 103, 105, 109, 117, 129, 133, 135, 137, 165,
              167, 169, 220}
MSPA_CORE = (17, 117)


def habitat(values, classes: Optional[str], binary: bool, path: Path):
    """(candidate cells, study-area cells) of INPUT: MSPA core by default, else --classes or --binary."""
    import numpy as np

    from ..errors import InputError

    finite = np.isfinite(values)
    if classes is not None and binary:
        raise InputError("give either --classes or --binary, not both")
    if classes is not None:
        return class_mask(values, parse_classes(classes, "--classes")), finite
    if binary:
        return finite & (values != 0), finite
    odd = finite & ~np.isin(values, np.array(sorted(MSPA_CODES), dtype=np.float64))
    if odd.any():
        r, c = np.argwhere(odd)[0]
        raise InputError(f"{path} holds {values[r, c]:g} at row {r}, column {c}, not an MSPA code: "
                         "give --classes CODES for a class raster or --binary for a habitat mask")
    return class_mask(values, list(MSPA_CORE)), finite & (values != 129)


def patches_csv(p, result, selected) -> str:
    import numpy as np

    rank = np.empty(p.n, dtype=int)
    rank[np.argsort(-result.pc.dpc, kind="stable")] = np.arange(1, p.n + 1)
    lines = ["id,area_km2,dPC,dPC_intra,dPC_flux,dPC_connector,dIIC,selected,dPC_rank"]
    for i in range(p.n):
        lines.append(f"{i + 1},{p.area_km2[i]:.6f},{result.pc.dpc[i]:.6g},{result.pc.dpc_intra[i]:.6g},"
                     f"{result.pc.dpc_flux[i]:.6g},{result.pc.dpc_connector[i]:.6g},{result.diic[i]:.6g},"
                     f"{int(selected[i])},{rank[i]}")
    return "\n".join(lines) + "\n"


def write_source_outputs(out: Path, found, values, spec, thresholds, probability: float, unit: str) -> int:
    """sources.tif, sources.gpkg, patches.csv and, with ``thresholds``, sweep.csv / sweep.png; the count."""
    import numpy as np

    from ..analysis.conefor import threshold_sweep
    from ..analysis.patches import patches_to_polygons
    from ..io.plots import plot_source_sweep
    from ..io.raster_write import write_raster, write_text_atomic
    from ..io.vector import write_polygons

    p, ix = found.patches, found.indices
    out.mkdir(parents=True, exist_ok=True)
    chosen = np.where(np.isin(p.labels, np.flatnonzero(found.selected) + 1), p.labels, 0)
    write_raster(out / "sources.tif", np.where(np.isfinite(values), chosen, np.nan), spec, compress=True)
    polys = patches_to_polygons(chosen, spec.transform)
    at = [pid - 1 for _, pid in polys]
    write_polygons(out / "sources.gpkg", [g for g, _ in polys], {
        "id": [int(i + 1) for i in at], "area_km2": [float(p.area_km2[i]) for i in at],
        "dPC": [float(ix.pc.dpc[i]) for i in at], "dIIC": [float(ix.diic[i]) for i in at]},
        crs=spec.crs, layer="sources")
    write_text_atomic(out / "patches.csv", patches_csv(p, ix, found.selected))
    if thresholds is None:
        return 3
    rows = threshold_sweep(p.area_km2, found.distances, thresholds, probability, found.landscape_km2)
    write_text_atomic(out / "sweep.csv", "distance,nc,pc,iic\n" + "".join(
        f"{r['distance']:g},{r['nc']},{r['pc']:.8g},{r['iic']:.8g}\n" for r in rows))
    plot_source_sweep(out / "sweep.png", rows, unit)
    return 5


