"""What the pocket / region deflation keeps and peaks at, per cell, on the generator's landscapes.

    python benchmarks/deflation_memory.py --side 1000 --out results/deflation-memory-cpu-DATE.json

For 8 and 4 neighbours at contrast 1e4 and 1e8 (seed 0): deflated parts, the share of cells deflated,
the bytes its arrays keep (``PocketDeflation.nbytes``, and traced), the setup's traced peak and time.
The kept arrays move to the device on a GPU; the memory plan leaves them what it does not need.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_solver import machine, problem  # noqa: E402

from gpucircuit.solver.deflation import PocketDeflation  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for four in (False, True):
        for contrast in (1e4, 1e8):
            op = problem(args.side, 0, four, contrast)[0]
            cells = op.active.size
            tracemalloc.start()
            t = time.perf_counter()
            q = PocketDeflation(op)
            seconds = time.perf_counter() - t
            kept, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rows.append(dict(side=args.side, neighbours=4 if four else 8, contrast=contrast, parts=q.count,
                             deflated_share=round(q.deflated_cells / cells, 3),
                             kept_B_per_cell=round(q.nbytes / cells, 2), traced_kept_B_per_cell=round(kept / cells, 2),
                             setup_peak_B_per_cell=round(peak / cells, 1), setup_s=round(seconds, 2)))
            print(rows[-1], flush=True)
    out = args.out or HERE / "results" / f"deflation-memory-cpu-side{args.side}.json"
    out.write_text(json.dumps(dict(machine=machine(), command="python benchmarks/deflation_memory.py "
                                   + " ".join(sys.argv[1:] if argv is None else argv), rows=rows), indent=1))
    print("wrote", out)


if __name__ == "__main__":
    main()
