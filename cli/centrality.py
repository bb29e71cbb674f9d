"""``gpucircuit centrality``: Centrality Mapper (current-flow centrality of cores and links)."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from . import options as opt
from .common import analysis_progress, cli_command, say

def register(app: typer.Typer) -> None:
    @app.command("centrality")
    @cli_command
    def centrality_cmd(
        resistance: Optional[Path] = typer.Argument(None, help="Resistance raster (needed without a link table)."),
        cores: Optional[Path] = typer.Argument(None, help="Core areas (needed without a link table)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder; its link_table.csv is used if present."),
        core_field: str = opt.CORE_FIELD,
        weight: str = opt.WEIGHT,
        method: str = typer.Option("auto", "--cwd-method", help="CWD engine when corridors must be computed."),
    ):
        """Centrality Mapper: cores as nodes, active links as resistors; cumulative pairwise current."""
        from gpucircuit.analysis.centrality import centrality
        from gpucircuit.analysis.corridors import LinkageOptions, read_link_table
        from gpucircuit.errors import InputError
        from gpucircuit.linkage.chain import check_weight, load_inputs, run_linkage
        from gpucircuit.linkage.files import (LINK_TABLE, read_link_column, write_centrality_outputs,
                                              write_linkage_outputs)

        t0 = time.perf_counter()
        w = check_weight(weight)
        if (resistance is None) != (cores is None):
            raise InputError("give both RESISTANCE and CORES, or neither (to use OUT's link table)")
        table = out / LINK_TABLE
        spec = core_set = None
        outputs = []
        if resistance is not None:
            r, spec, core_set = load_inputs(resistance, cores, core_field)
        if table.exists():
            links = read_link_table(table)
            eff = read_link_column(table, "eff_resist") if w == "eff_resist" else None
        elif core_set is None:
            raise InputError(f"no link table {table}: give RESISTANCE and CORES or run 'gpucircuit corridors' first")
        elif w == "eff_resist":
            raise InputError(f"no link table {table}: run 'gpucircuit pinchpoints' first for --weight eff-resist")
        else:
            out.mkdir(parents=True, exist_ok=True)
            with analysis_progress() as report:
                fresh = run_linkage(r, spec, core_set, LinkageOptions(method=method), report)
            outputs += write_linkage_outputs(out, fresh, spec, write_cwd=False)
            links, eff = fresh.links, None
        if core_set is not None:
            unknown = sorted({c for lk in links for c in (lk.core_a, lk.core_b)} - set(core_set.ids))
            if unknown:
                raise InputError(f"link table {table} names core(s) {', '.join(map(str, unknown))} not in the cores given")
        res = centrality(links, core_set.ids if core_set else None, w, eff)
        outputs += write_centrality_outputs(out, res, links, spec, core_set.labels if core_set else None)
        top = max(res.core_centrality, key=res.core_centrality.get)
        say(f"centrality: {len(res.core_ids)} cores, {sum(lk.active for lk in links)} active links "
            f"(weight {w}); most central core {top}; wrote {len(set(outputs))} files to {out} "
            f"in {time.perf_counter() - t0:.2f} s")
