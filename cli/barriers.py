"""``gpucircuit barriers``: Barrier Mapper (restoration improvement scores over a radius sweep)."""
from __future__ import annotations

import time
from pathlib import Path

import typer

from . import options as opt
from .common import analysis_progress, cli_command, say
from .corridors import LINK_TABLE, cellsize_of, load_inputs, run_linkage, write_linkage_outputs


def _radius_tag(r: float) -> str:
    return str(int(r)) if float(r).is_integer() else f"{r:g}".replace(".", "p")


def links_and_cwds(out: Path, r, spec, core_set, method: str, report):
    """Active links from ``OUT/link_table.csv`` when present (CWDs recomputed), else a fresh Linkage Pathways run."""
    import numpy as np

    from gpucircuit.analysis.corridors import LinkageOptions, core_distances, read_link_table
    from gpucircuit.analysis.cwd import CostSurface
    from gpucircuit.errors import InputError

    table = out / LINK_TABLE
    if table.exists():
        links = read_link_table(table)
        active = [lk for lk in links if lk.active]
        needed = sorted({c for lk in active for c in (lk.core_a, lk.core_b)})
        unknown = [c for c in needed if c not in core_set.ids]
        if unknown:
            raise InputError(f"link table {table} names core(s) {', '.join(map(str, unknown))} not in the cores given")
        cwds = core_distances(CostSurface(r, cellsize_of(spec)), core_set.labels, needed, method, report)
        # keep the table's LCDs consistent with these CWDs (they are the same computation)
        for lk in active:
            lcd = float(np.min(cwds[lk.core_a][core_set.labels == lk.core_b]))
            if not np.isclose(lcd, lk.lcd, rtol=1e-6):
                raise InputError(f"link table {table}: link {lk.link_id} has CWD {lk.lcd:g} but the inputs give "
                                 f"{lcd:g}; rerun 'gpucircuit corridors' on these inputs")
            lk.lcd = lcd
        return links, cwds, False
    result = run_linkage(r, spec, core_set, LinkageOptions(method=method), report)
    return result.links, result.cwd, result


def write_barrier_outputs(out: Path, res, spec, want_sum: bool) -> list[Path]:
    """The files ``gpucircuit barriers`` writes, from a :class:`BarrierResult`."""
    from gpucircuit.io.quicklook import save_png
    from gpucircuit.io.raster import write_raster

    outputs = []
    pct = "_pct" if res.percent else ""
    stats = [("max", res.max_by_radius, res.maximum, res.circles_max)]
    if want_sum:
        stats.append(("sum", res.sum_by_radius, res.total, res.circles_sum))
    label = "percent improvement" if res.percent else "improvement score"
    for stat, by_radius, agg, circles in stats:
        for rad, a in by_radius.items():
            outputs.append(write_raster(out / f"barriers_{stat}{pct}_r{_radius_tag(rad)}.tif", a, spec, compress=True))
        outputs.append(write_raster(out / f"barriers_{stat}{pct}.tif", agg, spec, compress=True))
        outputs.append(write_raster(out / f"barriers_{stat}{pct}_circles.tif", circles, spec, compress=True))
        outputs.append(save_png(out / f"barriers_{stat}{pct}.png", agg, f"barriers: {stat} {label}", cmap="inferno"))
        outputs.append(save_png(out / f"barriers_{stat}{pct}_circles.png", circles,
                                f"barrier circles: {stat} {label}", cmap="inferno"))
    return outputs


def register(app: typer.Typer) -> None:
    @app.command("barriers")
    @cli_command
    def barriers(
        resistance: Path = opt.RESISTANCE,
        cores: Path = opt.CORES,
        out: Path = opt.OUT,
        radius_start: float = typer.Option(..., "--radius-start", help="Smallest search radius (map units)."),
        radius_end: float = typer.Option(..., "--radius-end", help="Largest search radius (map units)."),
        radius_step: float = typer.Option(..., "--radius-step", help="Radius increment (map units)."),
        core_field: str = opt.CORE_FIELD,
        want_sum: bool = opt.WANT_SUM,
        percent: bool = opt.PERCENT,
        method: str = opt.CWD_METHOD,
    ):
        """Barrier Mapper: improvement score of restoring a disc of radius r, max over links and radii."""
        from gpucircuit.analysis.barriers import barrier_analysis, radii_list

        import numpy as np

        t0 = time.perf_counter()
        radii = radii_list(radius_start, radius_end, radius_step)
        r, spec, core_set = load_inputs(resistance, cores, core_field)
        out.mkdir(parents=True, exist_ok=True)
        outputs = []
        with analysis_progress() as report:
            links, cwds, fresh = links_and_cwds(out, r, spec, core_set, method, report)
            if fresh:  # no link table yet: leave the corridors' outputs too
                outputs += write_linkage_outputs(out, fresh, spec, write_cwd=False)
            res = barrier_analysis(cwds, links, radii, cellsize_of(spec), valid=np.isfinite(r), percent=percent,
                                   want_sum=want_sum, progress=report)
        outputs += write_barrier_outputs(out, res, spec, want_sum)
        n_active = sum(lk.active for lk in links)
        say(f"barriers: {n_active} active links, radii {', '.join(_radius_tag(x) for x in radii)}; "
            f"wrote {len(outputs)} files to {out} in {time.perf_counter() - t0:.2f} s")
