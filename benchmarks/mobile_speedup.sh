#!/usr/bin/env bash
# The paper's "30 times faster diagnosis": MobileNetV3Large against InceptionResNetV2, each
# exported to TFLite (float32) and timed in LiteRT at batch 1 on this CPU, in one run.
#
# Usage: benchmarks/mobile_speedup.sh [WORK_DIR] [RESULT_FILE]
#   WORK_DIR     where the synthetic set, the two cells and their exports go
#                (default: a temporary folder; the models are large, nothing there is kept)
#   RESULT_FILE  the deployment table and the measured ratio, as the report prints them
#                (default: results/cpu/mobile_speedup.md)
#
# Latency does not depend on the weights, so each backbone trains one epoch from random
# weights at its native size (224 and 299 px) on a small synthetic set: enough to give the
# report a finished, kept, exported cell of each.
set -euo pipefail
BIN=${BIN:-.venv/bin}
WORK=${1:-$(mktemp -d)}
RESULT=${2:-results/cpu/mobile_speedup.md}
DATA=$WORK/data
RUN=$WORK/run

[ -d "$DATA" ] || "$BIN/skinbench" data synth "$DATA" --count 150 --size 300x225 --seed 0
for backbone in mobilenetv3large inceptionresnetv2; do
  "$BIN/skinbench" run --allow-cpu --data-dir "$DATA" --backbones "$backbone" --recipes metadata --epochs 1 --batch-size 8 \
    --weights none --out "$RUN" --quiet
done
for cell in "$RUN"/*-metadata-paper-s0; do
  "$BIN/skinbench" export "$cell" --format tflite --overwrite  # a rerun on the same WORK_DIR replaces its own exports
done
"$BIN/skinbench" report "$RUN" >/dev/null
mkdir -p "$(dirname "$RESULT")"
{
  echo "# benchmarks/mobile_speedup.sh, $(date -u +%Y-%m-%d)"
  echo
  sed -n '/^## Deployment: exported models/,/^## Cells/p' "$RUN/report.md" | sed '$d'
} > "$RESULT"
cat "$RESULT"
