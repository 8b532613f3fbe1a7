#!/usr/bin/env bash
# GPU timings for skinbench under KERAS_BACKEND=jax, on a bare CUDA machine that has Python
# with JAX but no TensorFlow and no internet. Keras, namex and optree travel as wheels in
# .whl/ (benchmarks/fetch_wheels.sh downloads them).
#
# Usage: benchmarks/gpu.sh OUT_DIR
#   GPU_BENCH_BUDGET_S  seconds the whole script may take (default 480); a step that would
#                       start past it is skipped, a running one is stopped at it. Every step
#                       writes its figures as it goes, so a stopped step keeps what it measured.
#   GPU_BENCH_QUICK=1   tiny settings (small backbones, 64 px, few steps, few images): a CPU
#                       check of every path of this script.
#   GPU_BENCH_JOBS      bench processes compiling at once (default 6); timed sections never
#                       overlap (they take turns on a lock file), only compilation does.
#   GPU_BENCH_STEPS     the steps to run, by name (default "bench epochs smoke"); e.g.
#                       "epochs smoke" to give the whole budget to the steps after the bench.
#
# Steps, most important first: (1) training images/s, compile time and inference latency of
# every backbone at its native size, mixed precision and float32; (2) two real epochs over
# the synthetic HAM10000 (10,015 images) for the three models of the paper's Table 11;
# (3) the smoke matrix end to end, with its report.
# Writes into OUT_DIR: gpu.txt (device and versions), bench.{csv,json}, epochs.csv,
# epochs.tgz (those cells' folders), smoke.tgz (the smoke run folder and report), log.txt.
set -uo pipefail
out=${1:?usage: benchmarks/gpu.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
budget=${GPU_BENCH_BUDGET_S:-480}
steps_wanted=" ${GPU_BENCH_STEPS:-bench epochs smoke} "
jobs=${GPU_BENCH_JOBS:-6}
t0=$(date +%s)
left() { echo $((budget - ($(date +%s) - t0))); }
log() { echo "[gpu.sh +$(($(date +%s) - t0))s] $*" | tee -a "$out/log.txt"; }

if ! python3 -c "import keras" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/skinbench-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/skinbench-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export KERAS_BACKEND=${KERAS_BACKEND:-jax}
export SKINBENCH_CACHE=${SKINBENCH_CACHE:-/tmp/skinbench-cache}
export XLA_PYTHON_CLIENT_PREALLOCATE=false # several bench processes share one GPU
export PYTHONUNBUFFERED=1

if [ "${GPU_BENCH_QUICK:-0}" = 1 ]; then
  backbones="mobilenet mobilenetv3small" size=64 steps=2 count=300 synth=160x120
  epoch_backbones=mobilenetv3small epoch_size=64
else
  # Largest first: they compile longest.
  backbones="nasnetlarge inceptionresnetv2 resnet152 densenet201 nasnetmobile vgg16 resnet50 mobilenetv3large mobilenetv2 mobilenet mobilenetv3small"
  size=native steps=30 count=10015 synth=600x450
  epoch_backbones=mobilenetv3large,densenet201,inceptionresnetv2 epoch_size=native
fi
data=$SKINBENCH_CACHE/gpu-synthetic

# run STEP SHARE DESCRIPTION: the function STEP, bounded by SHARE percent of what is left of
# the budget; fails without running it when STEP is not in GPU_BENCH_STEPS or the budget is spent.
run() {
  local step=$1 share=$2 name=$3 limit
  if [[ $steps_wanted != *" $step "* ]]; then
    log "skip $name: not in GPU_BENCH_STEPS"
    return 1
  fi
  limit=$(($(left) * share / 100))
  if ((limit < 20)); then
    log "skip $name: budget spent"
    return 1
  fi
  log "start $name (at most ${limit}s)"
  timeout "$limit" bash -c "$step" >>"$out/log.txt" 2>&1
  log "end $name: exit $?"
}

# Merge the CSVs in folder $1 into $2.csv and $2.json.
merge_csv() {
  python3 - "$1" "$2" <<'PY'
import sys
from pathlib import Path
import pandas as pd
parts = sorted(Path(sys.argv[1]).glob("*.csv"))
frame = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()
frame.to_csv(sys.argv[2] + ".csv", index=False)
frame.to_json(sys.argv[2] + ".json", orient="records", indent=2)
print(frame.to_string(index=False))
PY
}

# bench: every (backbone, precision) in its own process, $jobs compiling at once.
bench() {
  mkdir -p "$out/parts"
  for b in $backbones; do printf '%s mixed\n%s float32\n' "$b" "$b"; done |
    xargs -P "$jobs" -L 1 sh -c 'python3 -m skinbench bench --backbones "$0" --precision "$1" --image-size "$size" \
      --steps "$steps" --lock "$out/.timing.lock" --out "$out/parts/$0-$1.csv" --format csv >/dev/null'
}

# epochs: two passes over the synthetic HAM10000 per model (the first compiles).
epochs() {
  wait_for_data || return
  python3 -m skinbench run --data-dir "$data" --backbones "$epoch_backbones" --recipes metadata \
    --epochs 2 --image-size "$epoch_size" --weights none --precision mixed --quiet --out "$out/epochs"
}

epochs_table() {
  python3 - "$out/epochs" "$out/epochs.csv" <<'PY'
import json, sys
from pathlib import Path
import pandas as pd
rows = []
for timing in sorted(Path(sys.argv[1]).glob("*/timing.json")):
    config = json.loads((timing.parent / "config.json").read_text())
    rows.append({"cell": timing.parent.name, "backbone": config["backbone"], "image_size": config["image_size"],
                 "precision": config["precision"], **json.loads(timing.read_text())})
frame = pd.DataFrame(rows)
frame.to_csv(sys.argv[2], index=False)
print(frame.to_string(index=False))
PY
}

smoke() {
  python3 -m skinbench run --matrix smoke --dataset synthetic --quiet --out "$out/smoke" &&
    python3 -m skinbench report "$out/smoke"
}

wait_for_data() {
  while [ ! -f "$data/HAM10000_metadata.csv" ] && kill -0 "$synth_pid" 2>/dev/null; do sleep 2; done
  [ -f "$data/HAM10000_metadata.csv" ]
}

export -f log left bench epochs smoke wait_for_data
export out budget jobs t0 backbones size steps data epoch_backbones epoch_size

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import sys, keras; print('python', sys.version.split()[0]); print('keras', keras.__version__, keras.backend.backend())"
  python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>/dev/null
  nproc
  date -u +%Y-%m-%dT%H:%M:%SZ
} >"$out/gpu.txt" 2>&1
cat "$out/gpu.txt"

# The synthetic HAM10000 for step 2 is generated on the CPUs while step 1 uses the GPU.
if [ -f "$data/HAM10000_metadata.csv" ] || [[ $steps_wanted != *" epochs "* ]]; then
  synth_pid=0
else
  python3 -m skinbench data synth "$data" --count "$count" --size "$synth" >>"$out/log.txt" 2>&1 &
  synth_pid=$!
fi
export synth_pid

# On an H200 with 6 processes compiling at once, all 22 bench processes took about 11 minutes
# (compilation dominates), so the bench gets half of the budget and the later steps the rest.
run bench 50 "bench: every backbone, mixed precision and float32" &&
  merge_csv "$out/parts" "$out/bench" && rm -rf "$out/parts"
run epochs 70 "two epochs on the synthetic HAM10000" && epochs_table
run smoke 100 "smoke matrix and its report"
for folder in epochs smoke; do
  [ -d "$out/$folder" ] && tar -czf "$out/$folder.tgz" --exclude=checkpoint -C "$out" "$folder" && rm -rf "${out:?}/$folder"
done
rm -f "$out/.timing.lock"
log "done"
