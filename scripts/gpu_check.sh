#!/usr/bin/env bash
# GPU check, under 5 minutes: a few epochs of the `seed` and `best` presets on CUDA with bf16,
# then the precision/layout table and the loop-speed comparison; prints img/s and accuracy.
# Run it on a machine with a GPU:
#
#   scripts/gpu_check.sh [DATA_DIR]        (default: $JULIA_DATA, else the demo set, made if missing)
#
# Figures go to stdout and, where $OUT is set (the device tool), to $OUT/gpu_check.txt too.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
DATA=${1:-${JULIA_DATA:-data/demo}}
RUNS=$(mktemp -d)
LOG=${OUT:-$RUNS}/gpu_check.txt
export JULIA_CACHE=${JULIA_CACHE:-$RUNS/cache}

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  $PY -c "import torch; assert torch.cuda.is_available(), 'CUDA is not available'; print('torch', torch.__version__, torch.cuda.get_device_name())"
  [ -e "$DATA/trainLabels.csv" ] || $PY -m julia_core demo --out "$DATA"
  $PY -m julia_core info --data "$DATA" --quick
  for spec in "seed 3" "best 8"; do
    set -- $spec
    start=$(date +%s)
    $PY -m julia_core train --data "$DATA" --runs "$RUNS" --preset "$1" --epochs "$2" --device cuda --amp \
      --no-progress --name "gpu-$1" | grep -E "epoch|finished|failed"
    echo "$1: $(( $(date +%s) - start )) s wall for $2 epochs"
  done
  $PY -m julia_core runs --runs "$RUNS"
  timeout 90 $PY bench/precision.py --device cuda --seconds 3 || echo "precision: stopped at its time limit"
  if [ -e "$DATA/train" ]; then
    timeout 150 $PY bench/train_speed.py --data "$DATA" --device cuda --seconds 15 --seed-epochs 3 || echo "train_speed: stopped at its time limit"
  fi
} 2>&1 | tee "$LOG"
