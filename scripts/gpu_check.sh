#!/usr/bin/env bash
# GPU check (docs/BENCHMARKS.md, GPU, has what it measured on one H200). Its steps' limits add up
# to about 11 minutes; steps 1-4 took 2 minutes there, step 5 is expected to take 3-4 (not yet seen).
# What the project promises on CUDA, step by step, each step under its own time limit so that one
# that hangs leaves the others' figures standing:
#
#   scripts/gpu_check.sh [DATA_DIR]   (default: $JULIA_DATA, else the demo set, made if missing)
#
#   1. a detached run from the CLI on CUDA in bf16 (`train --detach`), followed to its end
#   2. DDP: `--gpus N` over the N GPUs there are; on one GPU, that two are refused in one line
#   3. bf16 and channels_last against float32 (bench/precision.py)
#   4. the seed workflow's loop against ours, same model and batch (bench/train_speed.py)
#   5. the `best` preset from scratch (synthetic pre-training included): wall time and accuracy
#
# For the real data on a machine reached through a small transfer, send a copy made with
#   python scripts/small_copy.py ../shared/julia-kaggle gpudata/julia     (about 30 MB)
# and this machine's fonts (cp -r /usr/share/fonts/truetype gpudata/fonts), then run there
#   FONTS_DIR=gpudata/fonts scripts/gpu_check.sh gpudata/julia
#
# Figures go to stdout and, where $OUT is set (the device tool), to $OUT/gpu_check.txt too.
# FONTS_DIR, where set, is copied under /usr/share/fonts first (a bare machine has few fonts, and
# the best preset's pre-training draws every font there is).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
DATA=${1:-${JULIA_DATA:-data/demo}}
RUNS=$(mktemp -d)
LOG=${OUT:-$RUNS}/gpu_check.txt
export JULIA_CACHE=${JULIA_CACHE:-$RUNS/cache} PYTHONUNBUFFERED=1
BEST_LIMIT=${BEST_LIMIT:-250}

step() { echo; echo "== $* ($(date +%T))"; }
state_of() { $PY -c "import json,sys; s=json.load(open(sys.argv[1]+'/status.json')); print(s['state'], s.get('epoch'), s.get('error') or '')" "$1"; }

{
  step "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  $PY -c "import torch; assert torch.cuda.is_available(), 'CUDA is not available'; print('torch', torch.__version__, 'GPUs', torch.cuda.device_count(), torch.cuda.get_device_name())" || exit 1
  if [ -n "${FONTS_DIR:-}" ] && [ -d "$FONTS_DIR" ]; then
    mkdir -p /usr/share/fonts/carried && cp -r "$FONTS_DIR"/. /usr/share/fonts/carried/ && echo "fonts: $(find /usr/share/fonts -name '*.ttf' -o -name '*.otf' | wc -l) files"
  fi
  [ -e "$DATA/trainLabels.csv" ] || $PY -m julia_core demo --out "$DATA"
  $PY -m julia_core info --data "$DATA" --quick
  GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")

  step "1. detached run on CUDA, bf16 (seed preset, 2 epochs)"
  start=$(date +%s)
  run=$($PY -m julia_core train --data "$DATA" --runs "$RUNS" --preset seed --epochs 2 --device cuda --amp \
        --detach --name gpu-detached | tail -1)
  echo "queued: $run"
  for _ in $(seq 240); do
    case "$(state_of "$run" 2>/dev/null)" in running*|queued*|"") sleep 0.5 ;; *) break ;; esac
  done
  echo "ended: $(state_of "$run") after $(( $(date +%s) - start )) s"
  grep -E " on |epoch [0-9]+/" "$run/train.log" | tail -4

  step "2. DDP over $GPUS GPU(s) (fast preset, 3 epochs)"
  if [ "$GPUS" -gt 1 ]; then
    start=$(date +%s)
    timeout -k 10 120 $PY -m julia_core train --data "$DATA" --runs "$RUNS" --preset fast --epochs 3 --gpus "$GPUS" \
      --device cuda --amp --no-progress --name "gpu-ddp$GPUS" | grep -E "world|epoch [0-9]+/|finished|failed"
    echo "ddp: $(( $(date +%s) - start )) s wall"
  fi
  echo "asking for $((GPUS + 1)) GPUs on a machine with $GPUS:"
  $PY -m julia_core train --data "$DATA" --runs "$RUNS" --preset fast --epochs 1 --gpus $((GPUS + 1)) \
    --device cuda --no-progress --name gpu-too-many 2>&1 | tail -2
  $PY -m julia_core runs --runs "$RUNS"

  step "3. precision and memory layout"
  timeout 75 $PY bench/precision.py --device cuda --seconds 2 || echo "precision: stopped at its time limit"

  step "4. the seed workflow's loop against ours"
  if [ -e "$DATA/trainResized" ]; then
    timeout 75 $PY bench/train_speed.py --data "$DATA" --device cuda --seconds 12 --loops-only \
      || echo "train_speed: stopped at its time limit"
  fi

  step "5. the best preset from scratch (limit ${BEST_LIMIT} s)"
  start=$(date +%s)
  # Into a file, not a pipe: a pipe's reader would wait on the drawing processes; -k: a trainer
  # that does not heed the TERM in time is killed.
  timeout -k 10 "$BEST_LIMIT" $PY -m julia_core train --data "$DATA" --runs "$RUNS" --preset best --device cuda \
    --amp --no-progress --name gpu-best >"$RUNS/best.log" 2>&1
  grep -E -i "drew|pre-?train|epoch [0-9]+/|finished|failed|stopped" "$RUNS/best.log" | tail -16
  echo "best: $(( $(date +%s) - start )) s wall"
  $PY -m julia_core runs --runs "$RUNS"
} 2>&1 | tee "$LOG"
