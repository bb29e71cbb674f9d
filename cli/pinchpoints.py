"""``gpucircuit pinchpoints``: Pinchpoint Mapper (Circuitscape current through least-cost corridors)."""
from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import typer

from . import options as opt
from .common import analysis_progress, cli_command, say
from .corridors import LINK_TABLE, cellsize_of, load_inputs, write_linkage_outputs

SOLVERS = ("auto", "direct", "mg", "amg")


def cutoff_tag(cutoff: float) -> str:
    return str(int(cutoff)) if float(cutoff).is_integer() else f"{cutoff:g}".replace(".", "p")


def table_cell(x) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return "" if math.isnan(x) else ("inf" if math.isinf(x) else repr(round(x, 6)))
    return str(x)


def read_link_column(path: Path, name: str) -> dict[int, float]:
    """One numeric column of a link table by link id (empty cells and absent column: nothing)."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for row in rows:
        s = row.get(name)
        if s not in (None, ""):
            out[int(row["link_id"])] = float(s)
    return out


def update_link_table(path: Path, links, columns: dict[str, dict[int, float]]) -> Path:
    """Add (or replace) ``columns`` (name -> {link id: value}) in the link table at ``path``.

    Columns already in the table (e.g. those another tool added) are kept; a missing table is
    first written from ``links``. Written atomically.
    """
    from gpucircuit.analysis.corridors import link_table_text
    from gpucircuit.io.raster import write_text_atomic

    text = path.read_text() if path.exists() else link_table_text(links)
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    header = list(reader.fieldnames or [])
    for name, values in columns.items():
        if name not in header:
            header.append(name)
        for row in rows:
            row[name] = table_cell(values.get(int(row["link_id"])))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(path, buf.getvalue())
    return path


def pinchpoint_options(cutoff, adjacent, all_pairs, all_to_one, squared, solver):
    """Checked Pinchpoint Mapper options from the command-line values."""
    from gpucircuit.analysis.pinchpoints import PinchpointOptions, check_cutoff, solve_options
    from gpucircuit.errors import InputError

    mode = "all-to-one" if all_to_one else "pairwise"
    opts = PinchpointOptions(cutoff=check_cutoff(cutoff), adjacent=adjacent, all_pairs=mode if all_pairs else None,
                             squared=squared, solve=solve_options(check_solver(solver)))
    if not (opts.adjacent or opts.all_pairs):
        raise InputError("nothing for pinch points: --no-adjacent together with --no-all-pairs")
    return opts


def check_solver(solver: str) -> str:
    from gpucircuit.errors import InputError

    solver = solver.lower()
    if solver not in SOLVERS:
        raise InputError(f"--solver must be one of {', '.join(SOLVERS)}, not {solver!r}")
    return solver


def write_pinchpoint_outputs(out: Path, result, spec, links, labels=None) -> list[Path]:
    """Current maps (GeoTIFF + PNG), the pairwise resistance matrix (pairwise mode) and link-table columns.

    With core ``labels`` the PNG quick-looks leave the cores out (their short-circuited cells carry
    the whole current and would flatten the colour scale); the GeoTIFFs keep Circuitscape's values.
    """
    import numpy as np

    from gpucircuit.io.quicklook import save_png
    from gpucircuit.io.raster import write_raster, write_text_atomic

    def look(a):
        return a if labels is None else np.where(labels > 0, np.nan, a)

    tag = cutoff_tag(result.cutoff)
    sq = "_squared" if result.squared else ""
    outputs = []
    if result.adjacent_current is not None:
        name = f"pinchpoints_adjacent{sq}_cutoff{tag}"
        outputs.append(write_raster(out / f"{name}.tif", result.adjacent_current, spec, compress=True))
        outputs.append(save_png(out / f"{name}.png", look(result.adjacent_current),
                                f"pinch points: adjacent pairs, CWD cutoff {tag} (max current, cores masked)", log=True,
                                cmap="inferno"))
        outputs.append(update_link_table(out / LINK_TABLE, links, result.link_columns()))
    if result.all_pairs_current is not None:
        mode = result.all_pairs_mode.replace("-", "_")
        name = f"pinchpoints_{mode}{sq}_cutoff{tag}"
        outputs.append(write_raster(out / f"{name}.tif", result.all_pairs_current, spec, compress=True))
        outputs.append(save_png(out / f"{name}.png", look(result.all_pairs_current),
                                f"pinch points: {result.all_pairs_mode}, CWD cutoff {tag} "
                                "(cumulative current, cores masked)",
                                log=True, cmap="inferno"))
        if result.all_pairs_resistances is not None:
            ids, R = result.core_ids, result.all_pairs_resistances
            lines = ["core_a,core_b,resistance"]
            lines += [f"{ids[i]},{ids[j]},{table_cell(float(R[i, j]))}" for i in range(len(ids))
                      for j in range(i + 1, len(ids))]
            path = out / f"{name}_resistances.csv"
            write_text_atomic(path, "\n".join(lines) + "\n")
            outputs.append(path)
    return outputs


def summary(result) -> str:
    parts = []
    if result.eff_resist:
        ok = [v for v in result.eff_resist.values() if math.isfinite(v)]
        parts.append(f"{len(ok)} links with effective resistance")
    if result.all_pairs_current is not None:
        parts.append(f"{result.all_pairs_mode} over {len(result.core_ids)} cores")
    return ", ".join(parts)


def register(app: typer.Typer) -> None:
    @app.command("pinchpoints")
    @cli_command
    def pinchpoints(
        resistance: Path = opt.RESISTANCE,
        cores: Path = opt.CORES,
        out: Path = opt.OUT,
        cutoff: float = opt.CUTOFF,
        core_field: str = opt.CORE_FIELD,
        adjacent: bool = opt.ADJACENT,
        all_pairs: bool = opt.ALL_PAIRS,
        all_to_one: bool = opt.ALL_TO_ONE,
        squared: bool = opt.SQUARED,
        solver: str = opt.SOLVER,
        method: str = opt.CWD_METHOD,
    ):
        """Pinchpoint Mapper: Circuitscape current through least-cost corridors (cores as focal regions)."""
        from gpucircuit.analysis.pinchpoints import pinchpoint_analysis

        from .barriers import links_and_cwds

        t0 = time.perf_counter()
        opts = pinchpoint_options(cutoff, adjacent, all_pairs, all_to_one, squared, solver)
        r, spec, core_set = load_inputs(resistance, cores, core_field)
        out.mkdir(parents=True, exist_ok=True)
        outputs = []
        with analysis_progress() as report:
            links, cwds, fresh = links_and_cwds(out, r, spec, core_set, method, report)
            if fresh:  # no link table yet: leave the corridors' outputs too
                outputs += write_linkage_outputs(out, fresh, spec, write_cwd=False)
            result = pinchpoint_analysis(r, core_set.labels, cwds, links, cellsize_of(spec), opts, progress=report)
        outputs += write_pinchpoint_outputs(out, result, spec, links, core_set.labels)
        say(f"pinchpoints: CWD cutoff {cutoff_tag(cutoff)}, {summary(result)}; "
            f"wrote {len(set(outputs))} files to {out} in {time.perf_counter() - t0:.2f} s")
