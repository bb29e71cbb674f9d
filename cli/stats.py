"""``--stats FILE.json`` and the INI's ``print_timings``: what a circuit job measured about itself."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

TIMING_KEYS = ("load", "setup", "solve", "write", "total")


def check_stats_path(path: Path | None) -> None:
    """Refuse an unusable --stats path before the job starts, not after it."""
    from gpucircuit.errors import InputError

    if path is None:
        return
    if path.is_dir():
        raise InputError(f"--stats {path} is a folder; give a file name such as {path / 'stats.json'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"--stats {path}: cannot create its folder ({err.strerror})") from None


def peak_rss_bytes() -> int | None:
    """This process's peak resident memory (ru_maxrss is KiB on Linux, bytes on macOS; None on Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def peak_device_bytes(backend) -> int | None:
    """Bytes CuPy's memory pool holds: it keeps freed blocks, so this is its high-water mark (None on CPU)."""
    if not backend.is_gpu:
        return None
    return int(backend.xp.get_default_memory_pool().total_bytes())


def job_stats(report, extra_write_s: float = 0.0) -> dict:
    """Statistics of a finished job from its :class:`~gpucircuit.pipeline.JobReport`.

    ``unknowns`` is that of the largest system solved (pairwise with focal regions solves one
    system per pair); ``iterations`` is the most any solve took. ``extra_write_s`` is time the
    command spent writing files after the job (CSV, quick-looks); it counts in write and total.
    """
    from gpucircuit.backend import get_backend

    backend = get_backend()
    stats = report.stats
    timings = {k: report.timings.get(k) for k in TIMING_KEYS}
    for key in ("write", "total"):
        if timings[key] is not None:
            timings[key] += extra_write_s
    methods = sorted({st.method for st in stats})
    return {
        "scenario": report.scenario,
        "cells": report.cells,
        "unknowns": max((st.unknowns for st in stats), default=None),
        "solves": sum(st.solves for st in stats),
        "iterations": max((st.iterations for st in stats), default=None),
        "max_residual": max((st.max_residual for st in stats), default=None),
        "timings": timings,
        "peak_rss_bytes": peak_rss_bytes(),
        "peak_device_bytes": peak_device_bytes(backend),
        "solver": ",".join(methods) or None,
        "backend": backend.name,
        "device": backend.device,
        "outputs": len(report.outputs),
    }


def write_stats(path: Path, stats: dict) -> Path:
    from gpucircuit.io.raster_write import write_text_atomic

    write_text_atomic(path, json.dumps(stats, indent=2) + "\n")
    return path


def timings_table(stats: dict) -> str:
    """Circuitscape's ``print_timings``: seconds per stage, then the sizes and the solver's numbers."""
    def num(v, spec):
        return "n/a" if v is None else format(v, spec)

    rss = stats["peak_rss_bytes"]
    lines = ["stage        seconds"]
    lines += [f"{k:<10} {v:>9.3f}" for k, v in stats["timings"].items() if v is not None]
    lines.append(f"cells {num(stats['cells'], ',')}, unknowns {num(stats['unknowns'], ',')}, "
                 f"solves {stats['solves']}, iterations {num(stats['iterations'], 'd')}, "
                 f"max residual {num(stats['max_residual'], '.2e')}, solver {stats['solver'] or 'n/a'} "
                 f"on {stats['backend']}, peak memory {num(None if rss is None else rss / 2**20, ',.0f')} MiB")
    return "\n".join(lines)


def report_stats(report, stats_file: Path | None, print_timings: bool, extra_write_s: float = 0.0) -> None:
    """--stats FILE.json and the INI's print_timings (a short table on stdout, as Circuitscape prints)."""
    if stats_file is None and not print_timings:
        return
    stats = job_stats(report, extra_write_s)
    if stats_file is not None:
        write_stats(stats_file, stats)
    if print_timings:
        typer.echo(timings_table(stats))
