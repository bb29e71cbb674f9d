"""When a job's maps are made and written: a timeline of its tail.

    cd FOLDER_OF_THE_INI && python benchmarks/job_timeline.py job.ini

Runs the job in this process with the current map, each map write and each file copy stamped
(seconds from the start, thread name), then prints the job's timings and the stamps: where the
time after the solve goes (maps + writing), which writes overlap, which wait.
"""
from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import gpucircuit.currents as currents
import gpucircuit.io.outputs as outputs
from gpucircuit.io.config import parse_config, read_ini
from gpucircuit.pipeline import run_config

T0 = time.perf_counter()
STAMPS: list = []


def stamp(what: str) -> None:
    STAMPS.append((time.perf_counter() - T0, threading.current_thread().name, what))


def stamped(cls, name: str) -> None:
    fn = getattr(cls, name)

    def call(self, *args, **kwargs):
        label = args[0] if args and isinstance(args[0], str) else ""
        stamp(f"{cls.__name__}.{name}({label}) start")
        try:
            return fn(self, *args, **kwargs)
        finally:
            stamp(f"{cls.__name__}.{name}({label}) end")

    setattr(cls, name, call)


def main(argv=None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python benchmarks/job_timeline.py JOB.ini")
    stamped(currents.CurrentMapper, "__call__")
    stamped(outputs.MapWriter, "_write")
    stamped(outputs.MapWriter, "copy")
    ini = Path(args[0])
    report = run_config(parse_config(read_ini(ini), ini))
    stamp("done")
    t = report.timings
    print("timings (s):", {k: round(v, 2) for k, v in t.items()})
    solved = t["load"] + t["setup"] + t["solve"]
    print(f"load + setup + solve end near {solved:.2f} s; maps + writing {t['total'] - solved:.2f} s "
          f"({100 * (t['total'] - solved) / t['total']:.0f} %)")
    for at, thread, what in STAMPS:
        print(f"{at:8.2f}  {thread:24s} {what}")


if __name__ == "__main__":
    main()
