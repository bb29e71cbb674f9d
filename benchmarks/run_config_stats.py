"""Run a Circuitscape INI through the pipeline (as ``gpucircuit run`` does) and print the solver
statistics as JSON: iterations, true residual, setup and solve seconds per component.

    cd /tmp/24m && python /path/to/benchmarks/run_config_stats.py 24m.ini
"""
from __future__ import annotations

import json
import sys

from gpucircuit.io.config import load_config
from gpucircuit.pipeline import run_config


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    report = run_config(load_config(argv[0]))
    out = dict(command="python benchmarks/run_config_stats.py " + " ".join(argv),
               seconds=report.seconds, timings=report.timings,
               resistances=[[float(v) for v in row] for row in report.resistances],
               stats=[dict(method=s.method, unknowns=s.unknowns, solves=s.solves, iterations=s.iterations,
                           max_residual=s.max_residual, setup_s=s.setup_s, solve_s=s.solve_s)
                      for s in report.stats])
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
