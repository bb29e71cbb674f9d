#!/usr/bin/env bash
# Run HERE (a machine that reaches PyPI), in the repository root: downloads the wheels the GPU
# device image lacks into .whl/ (ignored by .gitignore), for Python 3.12 on x86-64. Carry .whl to the device.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .whl && mkdir -p .whl
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
  rasterio affine click-plugins cligj pyamg shapely dask distributed partd locket tblib zict tornado
# pyogrio (vector I/O, 33 MB) is left out to stay under the device tool's 64 MiB carry limit
du -sh .whl
