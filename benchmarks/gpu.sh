#!/usr/bin/env bash
# GPU measurements for skinbench under KERAS_BACKEND=jax, on a bare CUDA machine that has Python
# with JAX but no TensorFlow and no internet: the figures benchmarks/time_to_paper.py lacks, most
# needed first, within GPU_BENCH_BUDGET_S (default 540 s: 9 minutes on one H100/H200).
# Keras, namex, optree, submitit and tensorboardX travel as wheels in .whl/
# (benchmarks/fetch_wheels.sh downloads them).
#
# Usage: benchmarks/gpu.sh OUT_DIR
#   GPU_BENCH_BUDGET_S  seconds the whole script may take (default 540). A step that would start
#                       with too little of it left is skipped; a running one is stopped at its share.
#   GPU_BENCH_QUICK=1   tiny settings (MobileNetV3Small, 64 px, few images and steps): the CPU check
#                       of every step of this script.
#   GPU_BENCH_STEPS     the steps to run, by name (default "compile epochs together bench").
#   COMPILE_BACKBONE, EPOCH_BACKBONES, JOBS_BACKBONE, BENCH_BACKBONES: the backbones of each step
#                       (comma-separated; defaults below).
#   EPOCH_PRECISION     the epochs and together steps' --precision (default mixed_bfloat16).
#   BENCH_PRECISIONS    the precisions the bench step measures (default float32,mixed_bfloat16).
#
# Steps, in order of what the estimate lacks:
#   compile  one small cell trained twice, cold then warm persistent compile cache
#            (benchmarks/compile_cache.py): compile_cache.txt.
#   epochs   two whole epochs (validation and checkpoints included) of each EPOCH_BACKBONES cell,
#            metadata recipe, native size, on a synthetic HAM10000: epochs.csv (time_to_paper.py
#            --epochs-csv), epochs.tgz.
#   together JOBS_BACKBONE's cell twice at once on the GPU (--executor local --jobs 2), beside the
#            epochs step's single cell of it: jobs.csv (time_to_paper.py --jobs-csv).
#   bench    `skinbench bench` of only the (backbone, precision) rows skinbench/gpu_bench.csv lacks
#            for this GPU and backend: bench.csv (benchmarks/gpu_bench_table.py adds it).
# Writes into OUT_DIR: gpu.txt (device and versions), status.txt (each step's exit status), the
# files above, log.txt. A CSV is written only when it has rows. Exits non-zero when any step
# asked for failed or was skipped.
set -uo pipefail
out=${1:?usage: benchmarks/gpu.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
budget=${GPU_BENCH_BUDGET_S:-540}
steps_wanted=${GPU_BENCH_STEPS:-compile epochs together bench}
t0=$(date +%s)
left() { echo $((budget - ($(date +%s) - t0))); }
log() { echo "[gpu.sh +$(($(date +%s) - t0))s] $*" | tee -a "$out/log.txt"; }

if ! python3 -c "import keras, submitit, tensorboardX" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/skinbench-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/skinbench-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
export KERAS_BACKEND=${KERAS_BACKEND:-jax}
export SKINBENCH_CACHE=${SKINBENCH_CACHE:-/tmp/skinbench-cache}
export XLA_PYTHON_CLIENT_PREALLOCATE=false # the together step shares one GPU between two processes
export PYTHONUNBUFFERED=1

if [ "${GPU_BENCH_QUICK:-0}" = 1 ]; then
  compile_backbone=${COMPILE_BACKBONE:-mobilenetv3small} epoch_backbones=${EPOCH_BACKBONES:-mobilenetv3small}
  jobs_backbone=${JOBS_BACKBONE:-mobilenetv3small} bench_backbones=${BENCH_BACKBONES:-mobilenetv3small}
  size=64 compile_size=64 count=160 synth=128x96 bench_steps=2 min_seconds=0.2 cpu=--allow-cpu
else
  compile_backbone=${COMPILE_BACKBONE:-mobilenetv3small}
  epoch_backbones=${EPOCH_BACKBONES:-mobilenetv3large,densenet201,inceptionresnetv2}
  jobs_backbone=${JOBS_BACKBONE:-mobilenetv3large}
  bench_backbones=${BENCH_BACKBONES:-mobilenetv3large,densenet201,inceptionresnetv2,resnet50,resnet152,mobilenetv2,mobilenetv3small,nasnetmobile,nasnetlarge,vgg16,mobilenet}
  size=native compile_size=224 count=3000 synth=600x450 bench_steps=20 min_seconds=3 cpu=
fi
epoch_precision=${EPOCH_PRECISION:-mixed_bfloat16}
bench_precisions=${BENCH_PRECISIONS:-float32,mixed_bfloat16}
data=$SKINBENCH_CACHE/gpu-synthetic-$count
failed=0

# run STEP SHARE: the function STEP, bounded by SHARE percent of what is left of the budget; its
# exit status goes to status.txt. A step not asked for is not run; one without budget is skipped
# and counts as failed.
run() {
  local step=$1 share=$2 limit status
  if [[ " $steps_wanted " != *" $step "* ]]; then
    log "$step: not in GPU_BENCH_STEPS"
    return 0
  fi
  limit=$(($(left) * share / 100))
  if ((limit < 20)); then
    log "$step: skipped, budget spent"
    echo "$step skipped (budget)" >>"$out/status.txt"
    failed=1
    return 1
  fi
  log "$step: start (at most ${limit}s)"
  timeout "$limit" bash -c "$step" >>"$out/log.txt" 2>&1
  status=$?
  log "$step: exit $status"
  echo "$step $status" >>"$out/status.txt"
  ((status == 0)) || failed=1
  return $status
}

compile() {
  python3 benchmarks/compile_cache.py --backbone "$compile_backbone" --image-size "$compile_size" --count 200 |
    tee "$out/compile_cache.txt"
}

wait_for_data() {
  while [ ! -f "$data/HAM10000_metadata.csv" ] && kill -0 "$synth_pid" 2>/dev/null; do sleep 2; done
  [ -f "$data/HAM10000_metadata.csv" ]
}

epochs() {
  wait_for_data || return 1
  python3 -m skinbench run --data-dir "$data" --backbones "$epoch_backbones" --recipes metadata --epochs 2 \
    --image-size "$size" --weights none --precision "$epoch_precision" $cpu --quiet --out "$out/epochs" &&
    python3 benchmarks/gpu_tables.py epochs "$out/epochs" "$out/epochs.csv"
}

together() {
  wait_for_data || return 1
  python3 -m skinbench run --data-dir "$data" --backbones "$jobs_backbone" --recipes metadata --seeds 1,2 --epochs 2 \
    --image-size "$size" --weights none --precision "$epoch_precision" $cpu --quiet --executor local --jobs 2 \
    --out "$out/jobs" &&
    python3 benchmarks/gpu_tables.py jobs "$out/jobs" "$out/epochs" "$out/jobs.csv"
}

bench() {
  local missing
  missing=$(python3 benchmarks/gpu_tables.py missing "$bench_backbones" "$bench_precisions") || return 1
  [ -n "$missing" ] || { echo "every bench row is already measured on this GPU"; return 0; }
  mkdir -p "$out/parts"
  while read -r backbone precision; do
    python3 -m skinbench bench --backbones "$backbone" --precision "$precision" --image-size "$size" \
      --steps "$bench_steps" --min-seconds "$min_seconds" --repeats 3 --out "$out/parts/$backbone-$precision.csv" \
      --format csv >/dev/null || return 1
  done <<<"$missing"
}

export -f log left compile epochs together bench wait_for_data
export out budget t0 compile_backbone compile_size epoch_backbones jobs_backbone bench_backbones size count bench_steps \
  min_seconds epoch_precision bench_precisions data cpu

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  python3 -c "import sys, keras; print('python', sys.version.split()[0]); print('keras', keras.__version__, keras.backend.backend())"
  python3 -c "import jax; print('jax', jax.__version__, jax.devices())" 2>/dev/null
  nproc
  date -u +%Y-%m-%dT%H:%M:%SZ
} >"$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
: >"$out/status.txt"

# The synthetic HAM10000 of the epochs and together steps is generated on the CPUs while compile runs.
synth_pid=0
if [ ! -f "$data/HAM10000_metadata.csv" ] && [[ " $steps_wanted " == *" epochs "* || " $steps_wanted " == *" together "* ]]; then
  python3 -m skinbench data synth "$data" --count "$count" --size "$synth" >>"$out/log.txt" 2>&1 &
  synth_pid=$!
  trap 'kill "$synth_pid" 2>/dev/null' EXIT # a script that ends early leaves no generator running
fi
export synth_pid

run compile 25
run epochs 60
run together 60
run bench 100
if [ -d "$out/parts" ]; then
  python3 benchmarks/gpu_tables.py merge "$out/parts" "$out/bench.csv" && rm -rf "$out/parts"
fi
for folder in epochs jobs; do
  [ -d "$out/$folder" ] && tar -czf "$out/$folder.tgz" --exclude=checkpoint --exclude='*.keras' -C "$out" "$folder" &&
    rm -rf "${out:?}/$folder"
done
log "done: $(tr '\n' ';' <"$out/status.txt")"
exit $failed
