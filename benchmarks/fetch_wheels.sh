#!/usr/bin/env bash
# Download the wheels benchmarks/gpu.sh installs on a GPU machine that has JAX but no Keras
# and no internet (Python 3.12, x86-64): Keras and its two needs, submitit (the together step's
# --executor local), tensorboardX (every training cell logs through it), filelock (the cell lock)
# and tomli-w (run.toml); the machine has the rest of skinbench's dependencies. Run from the repository root; they land in .whl/.
set -euo pipefail
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "keras==3.15.1" "namex==0.1.0" "optree==0.20.0" \
  "submitit==1.5.4" "tensorboardX==2.6.5" "filelock==3.16.1" "tomli_w==1.2.0"
