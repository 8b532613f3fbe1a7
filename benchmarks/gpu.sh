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
#   GPU_BENCH_JOBS      bench processes at once (default 2). Each holds a lock file from
#                       building a model to its last figure (skinbench.benchmark), so only
#                       their start-up (imports) overlaps another's measurement.
#   GPU_BENCH_PRECISIONS the bench's precisions (default float32,mixed_float16,mixed_bfloat16).
#   GPU_EPOCH_PRECISION the epochs step's --precision (default auto: the measured choice per
#                       backbone in skinbench/precision_choices.csv, float32 where there is none).
#   GPU_BENCH_STEPS     the steps to run, by name (default "bench epochs compile smoke"); e.g.
#                       "epochs compile" to give the whole budget to the steps after the bench.
#
# Steps, most important first: (1) bench: training images/s, compile time and inference
# latency (predict_on_batch and a compiled stateless function) of every backbone at its
# native size in each precision, every figure timed 3 times for at least 3 s each (median
# and spread); (2) epochs: two real epochs over the synthetic HAM10000 (10,015 images) for
# the three models of the paper's Table 11, metadata recipe; (3) compile: one small cell
# trained twice with a cold and then a warm persistent compile cache
# (benchmarks/compile_cache.py); (4) the smoke matrix end to end, with its report.
# Writes into OUT_DIR: gpu.txt (device and versions), bench.{csv,json},
# precision_choices.csv (the bench's fastest policy per backbone), epochs.csv, epochs.tgz
# (those cells' folders), compile_cache.txt, smoke.tgz (the smoke run folder and report),
# log.txt.
set -uo pipefail
out=${1:?usage: benchmarks/gpu.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
budget=${GPU_BENCH_BUDGET_S:-480}
steps_wanted=" ${GPU_BENCH_STEPS:-bench epochs compile smoke} "
jobs=${GPU_BENCH_JOBS:-2}
precisions=${GPU_BENCH_PRECISIONS:-float32,mixed_float16,mixed_bfloat16}
epoch_precision=${GPU_EPOCH_PRECISION:-auto}
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
  backbones="mobilenet mobilenetv3small" size=64 steps=2 min_seconds=0.2 count=300 synth=160x120
  epoch_backbones=mobilenetv3small epoch_size=64 compile_args="--image-size 64 --count 200"
else
  # The paper's Table 11 models first, then the rest of the paper's matrix, then the others.
  backbones="mobilenetv3large densenet201 inceptionresnetv2 resnet50 resnet152 mobilenetv2 mobilenetv3small nasnetmobile nasnetlarge vgg16 mobilenet"
  size=native steps=20 min_seconds=3 count=10015 synth=600x450
  epoch_backbones=mobilenetv3large,densenet201,inceptionresnetv2 epoch_size=native
  compile_args="--image-size 224 --count 200"
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

# Merge the CSVs in folder $1 into $2.csv and $2.json, dated (UTC) in a first column.
merge_csv() {
  python3 - "$1" "$2" <<'PY'
import sys
from datetime import datetime, timezone
from pathlib import Path
import pandas as pd
parts = sorted(Path(sys.argv[1]).glob("*.csv"))
frame = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True) if parts else pd.DataFrame()
if len(frame) and "date" not in frame:
    frame.insert(0, "date", datetime.now(timezone.utc).date().isoformat())
frame.to_csv(sys.argv[2] + ".csv", index=False)
frame.to_json(sys.argv[2] + ".json", orient="records", indent=2)
print(frame.to_string(index=False))
PY
}

# bench: one process per backbone measuring each precision in turn, $jobs processes at once;
# each holds the lock from building a model to its last figure, so no two measure at once.
bench() {
  mkdir -p "$out/parts"
  printf '%s\n' $backbones |
    xargs -P "$jobs" -I{} sh -c 'python3 -m skinbench bench --backbones {} --precision "$precisions" --image-size "$size" \
      --steps "$steps" --min-seconds "$min_seconds" --repeats 3 --lock "$out/.timing.lock" --out "$out/parts/{}.csv" \
      --format csv >/dev/null'
}

# The bench's fastest policy per backbone, in the format of skinbench/precision_choices.csv.
bench_choices() {
  [ -f benchmarks/precision_choices.py ] || return 0
  python3 benchmarks/precision_choices.py "$out/bench.csv" --out "$out/precision_choices.csv"
}

# epochs: two passes over the synthetic HAM10000 per model (the first compiles).
epochs() {
  wait_for_data || return
  python3 -m skinbench run --data-dir "$data" --backbones "$epoch_backbones" --recipes metadata \
    --epochs 2 --image-size "$epoch_size" --weights none --precision "$epoch_precision" --quiet --out "$out/epochs"
}

# epochs.csv: a row per cell: timing.json, and the validation's times from history.csv
# (val_s: the median of the epochs that did not trace, first_val_s: the first epoch's) over
# n_val_images (the rows of predictions.csv: the validation part of the paper split).
epochs_table() {
  python3 - "$out/epochs" "$out/epochs.csv" <<'PY'
import json, sys
from pathlib import Path
import pandas as pd
rows = []
for timing_file in sorted(Path(sys.argv[1]).glob("*/timing.json")):
    folder = timing_file.parent
    config, timing = json.loads((folder / "config.json").read_text()), json.loads(timing_file.read_text())
    history = pd.read_csv(folder / "history.csv")
    later = history[~history["epoch"].isin(timing.get("traced_epochs", []))]
    rows.append({"cell": folder.name, "backbone": config["backbone"], "recipe": config["recipe"],
                 "image_size": config["image_size"], "precision": config["precision"], **timing,
                 "first_val_s": float(history["val_seconds"].iloc[0]),
                 "val_s": float(later["val_seconds"].median()) if len(later) else None,
                 "n_val_images": len(pd.read_csv(folder / "predictions.csv"))})
frame = pd.DataFrame(rows)
frame.to_csv(sys.argv[2], index=False)
print(frame.to_string(index=False))
PY
}

# compile: one small cell trained twice into two folders sharing one fresh persistent compile
# cache (cold, then warm); benchmarks/compile_cache.py prints both and "ratio: <second/first>".
compile() {
  if [ ! -f benchmarks/compile_cache.py ]; then
    echo "benchmarks/compile_cache.py is missing: the compile step needs it"
    return 1
  fi
  python3 benchmarks/compile_cache.py $compile_args | tee "$out/compile_cache.txt"
}

smoke() {
  python3 -m skinbench run --matrix smoke --dataset synthetic --quiet --out "$out/smoke" &&
    python3 -m skinbench report "$out/smoke"
}

wait_for_data() {
  while [ ! -f "$data/HAM10000_metadata.csv" ] && kill -0 "$synth_pid" 2>/dev/null; do sleep 2; done
  [ -f "$data/HAM10000_metadata.csv" ]
}

export -f log left bench epochs compile smoke wait_for_data
export out budget jobs t0 backbones size steps min_seconds precisions data epoch_backbones epoch_size epoch_precision compile_args

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

# The bench gets half of the budget, and each later step a share of what is left. A stopped
# bench keeps the rows it finished (each process rewrites its CSV after every row).
run bench 50 "bench: every backbone in $precisions"
[ -d "$out/parts" ] && merge_csv "$out/parts" "$out/bench" && rm -rf "$out/parts" && bench_choices
run epochs 60 "two epochs on the synthetic HAM10000" && epochs_table
run compile 50 "compile time with a cold and a warm persistent cache"
run smoke 100 "smoke matrix and its report"
for folder in epochs smoke; do
  [ -d "$out/$folder" ] && tar -czf "$out/$folder.tgz" --exclude=checkpoint -C "$out" "$folder" && rm -rf "${out:?}/$folder"
done
rm -f "$out/.timing.lock"
log "done"
