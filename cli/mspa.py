"""``gpucircuit mspa``: Morphological Spatial Pattern Analysis of land-cover classes (GuidosToolbox codes)."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from .common import cli_command, say

MSPA_TIF = "mspa.tif"


def parse_classes(text: str, option: str) -> list[int]:
    """``"41,42,43"`` or ``"41-43,90"`` → sorted class codes; InputError naming ``option`` otherwise."""
    import re

    from gpucircuit.errors import InputError

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
    from gpucircuit.errors import InputError
    from gpucircuit.io.notice import warn_user

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

    from gpucircuit.analysis.mspa import BORDER_OPENING, CLASSES, COLOURS, INTERNAL, MISSING
    from gpucircuit.io.quicklook import save_figure

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


def register(app: typer.Typer) -> None:
    @app.command("mspa")
    @cli_command
    def mspa(
        landcover: Path = typer.Argument(..., help="Land-cover raster (GeoTIFF or ASCII grid); nodata = missing."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created)."),
        foreground: str = typer.Option(..., "--foreground", help="Habitat class codes, e.g. 41,42,43 or 41-43."),
        edge_width: int = typer.Option(1, "--edge-width", help="EdgeWidth in pixels (e.g. 2 for 60 m at 30 m)."),
        connectivity: int = typer.Option(8, "--connectivity", help="Foreground connectivity: 8 or 4."),
        int_ext: bool = typer.Option(False, "--int-ext/--no-int-ext",
                                     help="GuidosToolbox's IntExt = 1: +100 inside core holes (core-opening 100, "
                                     "border-opening 220)."),
    ):
        """MSPA (GuidosToolbox's seven classes and byte codes): mspa.tif, mspa_stats.csv and a PNG.

        Codes: core 17, islet 9, perforation 5, edge 3, loop 65, bridge 33, branch 1, background 0,
        missing 129 (external codes; --int-ext adds GuidosToolbox's internal codes; no transition codes).
        """
        import numpy as np

        from gpucircuit.analysis.mspa import COLOURS, mspa as run_mspa, mspa_stats
        from gpucircuit.backend import get_backend
        from gpucircuit.errors import InputError
        from gpucircuit.io.raster import read_raster, write_class_raster, write_text_atomic

        t0 = time.perf_counter()
        codes = parse_classes(foreground, "--foreground")
        if edge_width < 1:
            raise InputError(f"--edge-width must be at least 1 pixel, got {edge_width}")
        if connectivity not in (4, 8):
            raise InputError(f"--connectivity must be 4 or 8, got {connectivity}")
        values, spec = read_raster(landcover, name="land-cover raster")
        fg = class_mask(values, codes)
        if not fg.any():
            raise InputError(f"--foreground {foreground}: no cell of {landcover} holds these classes")
        area = cell_area_m2(spec, landcover, strict=False)
        classes = run_mspa(fg, ~np.isfinite(values), edge_width, connectivity, int_ext, xp=get_backend().xp)
        rows = mspa_stats(classes, area)
        out.mkdir(parents=True, exist_ok=True)
        write_class_raster(out / MSPA_TIF, classes, spec, colours=COLOURS)
        write_text_atomic(out / "mspa_stats.csv", stats_csv(rows))
        save_mspa_png(out / "mspa.png", classes, f"MSPA of {landcover.name} (EdgeWidth {edge_width}, "
                                                 f"{connectivity}-connectivity)")
        core = next(r for r in rows if r["class"] == "core")
        say(f"mspa: {int(fg.sum())} foreground cells, core {core['pixels']} ({core['share_pct']:.1f} %); "
                   f"wrote 3 files to {out} in {time.perf_counter() - t0:.2f} s")
