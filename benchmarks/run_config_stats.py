import json, sys, time
from gpucircuit.io.config import load_config
from gpucircuit.pipeline import run_config
cfg = load_config(sys.argv[1])
t = time.time()
rep = run_config(cfg)
out = dict(command="cd /tmp/24m && python benchmarks/run_config_stats.py 24m.ini  (gpucircuit.pipeline.run_config, as `gpucircuit run 24m.ini`)",
           seconds=rep.seconds, timings=rep.timings, resistances=[[float(v) for v in row] for row in rep.resistances],
           stats=[dict(method=s.method, unknowns=s.unknowns, solves=s.solves, iterations=s.iterations,
                       max_residual=s.max_residual, setup_s=s.setup_s, solve_s=s.solve_s) for s in rep.stats])
print(json.dumps(out, indent=1))
