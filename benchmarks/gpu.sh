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
#   GPU_BENCH_JOBS      bench processes compiling at once (default 4); timed sections never
#                       overlap (they take turns on a lock file), only compilation does.
#
# Writes into OUT_DIR: gpu.txt (device and versions), bench_mixed.{csv,json},
# bench_float32.csv, epochs.csv (full passes over the synthetic HAM10000), smoke.tgz
# (the smoke matrix's run folder and report), log.txt.
set -uo pipefail
out=${1:?usage: benchmarks/gpu.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
budget=${GPU_BENCH_BUDGET_S:-480}
jobs=${GPU_BENCH_JOBS:-4}
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
  backbones=mobilenetv3small,mobilenet size=64 steps=2 count=300 synth=160x120
  epoch_backbones=mobilenetv3small epoch_size=64
else
  backbones=all size=native steps=30 count=10015 synth=600x450
  epoch_backbones=mobilenetv3large,densenet201,inceptionresnetv2 epoch_size=native
fi

# run NAME COMMAND...: one step, bounded by what is left of the budget.
run() {
  local name=$1 limit
  shift
  limit=$(left)
  if ((limit < 20)); then
    log "skip $name: budget spent"
    return
  fi
  log "start $name (at most ${limit}s)"
  timeout "$limit" bash -c "$*" >>"$out/log.txt" 2>&1
  log "end $name: exit $?"
}

# bench_all PRECISION: every backbone in its own process, $jobs compiling at once.
bench_all() {
  local precision=$1 names
  names=$(python3 -c "from skinbench.benchmark import resolve_backbones as r; print(*r('$backbones'))")
  mkdir -p "$out/parts-$precision"
  printf '%s\n' $names | xargs -P "$jobs" -I{} python3 -m skinbench bench --backbones {} \
    --image-size "$size" --precision "$precision" --steps "$steps" --lock "$out/.timing.lock" \
    --out "$out/parts-$precision/{}.csv" --format csv >/dev/null
  python3 - "$out/parts-$precision" "$out/bench_$precision" <<'EOF'
import sys
from pathlib import Path
import pandas as pd
parts = sorted(Path(sys.argv[1]).glob("*.csv"))
frame = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()
frame.to_csv(sys.argv[2] + ".csv", index=False)
frame.to_json(sys.argv[2] + ".json", orient="records", indent=2)
print(frame.to_string(index=False))
EOF
  rm -rf "$out/parts-$precision"
}

# epochs: full passes over the synthetic HAM10000 (two epochs: the first compiles).
epochs() {
  local data=$SKINBENCH_CACHE/gpu-synthetic
  [ -f "$data/HAM10000_metadata.csv" ] || python3 -m skinbench data synth "$data" --count "$count" --size "$synth" || return
  python3 -m skinbench run --data-dir "$data" --backbones "$epoch_backbones" --recipes metadata \
    --epochs 2 --image-size "$epoch_size" --weights none --precision mixed --quiet --out "$out/epochs-run" || true
  python3 - "$out/epochs-run" "$out/epochs.csv" <<'EOF'
import json, sys
from pathlib import Path
import pandas as pd
rows = []
for cell in sorted(Path(sys.argv[1]).glob("*/timing.json")):
    config = json.loads((cell.parent / "config.json").read_text())
    rows.append({"cell": cell.parent.name, "backbone": config["backbone"], "image_size": config["image_size"],
                 "precision": config["precision"], **json.loads(cell.read_text())})
frame = pd.DataFrame(rows)
frame.to_csv(sys.argv[2], index=False)
print(frame.to_string(index=False))
EOF
}

smoke() {
  python3 -m skinbench run --matrix smoke --dataset synthetic --quiet --out "$out/smoke" &&
    python3 -m skinbench report "$out/smoke"
  tar -czf "$out/smoke.tgz" -C "$out" smoke && rm -rf "$out/smoke"
}

export -f log left bench_all epochs smoke
export out budget jobs t0 backbones size steps count synth epoch_backbones epoch_size

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import sys, keras; print('python', sys.version.split()[0]); print('keras', keras.__version__, keras.backend.backend())"
  python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>/dev/null
  date -u +%Y-%m-%dT%H:%M:%SZ
} >"$out/gpu.txt" 2>&1
cat "$out/gpu.txt"

run "bench (mixed precision)" bench_all mixed
run "full epochs" epochs
run "smoke matrix" smoke
run "bench (float32)" bench_all float32
rm -rf "$out/epochs-run" "$out/.timing.lock"
log "done"
