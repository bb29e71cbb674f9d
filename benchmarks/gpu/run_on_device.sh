#!/usr/bin/env bash
# Run ON THE GPU DEVICE (the device tool's `run`, with carry [".whl"]), in the repository root.
# One stage per call, each well inside the tool's 10-minute limit; outputs land in $OUT.
#   bash benchmarks/gpu/run_on_device.sh tests                  # GPU tests + engine tests on the GPU backend
#   bash benchmarks/gpu/run_on_device.sh scale 1000 4000 8000   # bench_scale.py, 2 points, pyamg up to 4000
#   bash benchmarks/gpu/run_on_device.sh scale20 3464 14318     # 20 focal points (12 M and 205 M cells)
#   bash benchmarks/gpu/run_on_device.sh linkage 14318          # the Linkage Mapper chain, 17 cores
# PRECISION=double|single (default single: fp32 conductances, the setting that fits 205 M cells in 24 GiB)
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site . || exit 1
export PYTHONPATH=/tmp/site
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/device.txt"
stage=${1:-tests}
shift || true
case "$stage" in
  tests)
    python3 -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_kernels.py 2>&1 | tee "$OUT/gpu-tests.log"
    GPUCIRCUIT_BACKEND=gpu python3 -m pytest -q -p no:cacheprovider tests/test_solver_paths.py \
      tests/test_conformance.py tests/test_multigrid.py tests/test_deflation.py tests/test_options.py \
      tests/test_cwd.py tests/test_barriers.py 2>&1 | tail -40 | tee "$OUT/engine-on-gpu.log" ;;
  scale)
    python3 benchmarks/bench_scale.py --backend gpu --precision ${PRECISION:-single} --sizes ${*:-1000 4000 8000} --pyamg-max 4000 \
      --out "$OUT/scale-gpu.json" 2>&1 | tee "$OUT/scale.log" ;;
  scale20)
    python3 benchmarks/bench_scale.py --backend gpu --precision ${PRECISION:-single} --sizes ${*:-3464} --points 20 --pyamg-max 0 \
      --out "$OUT/scale-gpu-20points.json" 2>&1 | tee "$OUT/scale20.log" ;;
  linkage)
    python3 benchmarks/bench_linkage.py --backend gpu --size ${1:-4000} --out "$OUT" 2>&1 | tee "$OUT/linkage.log" ;;
  *) echo "unknown stage $stage"; exit 2 ;;
esac
