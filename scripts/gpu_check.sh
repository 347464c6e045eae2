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
#   5. four runs at once on one GPU (JULIA_MAX_RUNS=4) against one alone: what a sweep gains
#   6. the `best` preset from scratch (synthetic pre-training included): wall time and accuracy
#
# For the real data on a machine reached through a small transfer, send a copy made with
#   python scripts/small_copy.py ../shared/julia-kaggle gpudata/julia     (about 30 MB)
# and this machine's fonts (cp -r /usr/share/fonts/truetype gpudata/fonts), then run there
#   FONTS_DIR=gpudata/fonts scripts/gpu_check.sh gpudata/julia
#
# Figures go to stdout and, where $OUT is set (the device tool), to $OUT/gpu_check.txt too.
# FONTS_DIR, where set, is copied under /usr/share/fonts first (a bare machine has few fonts, and
# the best preset's pre-training draws every font there is). DEVICE=cpu runs the same steps on
# the CPU, with the limits shortened, to try the script itself before a GPU is lent.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] && PY=.venv/bin/python
DATA=${1:-${JULIA_DATA:-data/demo}}
DEVICE=${DEVICE:-cuda}
RUNS=$(mktemp -d)
LOG=${OUT:-$RUNS}/gpu_check.txt
export JULIA_CACHE=${JULIA_CACHE:-$RUNS/cache} PYTHONUNBUFFERED=1
BEST_LIMIT=${BEST_LIMIT:-250}
CASE_SECONDS=2 LOOP_SECONDS=12  # precision.py's per case, train_speed.py's per loop
[ "$DEVICE" = cuda ] || { CASE_SECONDS=0.5 LOOP_SECONDS=3 BEST_LIMIT=${BEST_LIMIT_CPU:-40}; }

step() { echo; echo "== $* ($(date +%T))"; }
train() { $PY -m julia_core train --data "$DATA" --runs "$RUNS" --device "$DEVICE" --no-progress "$@"; }
field() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]+'/status.json')).get(sys.argv[2]))" "$1" "$2"; }
wait_ended() {  # RUN_DIR... : until none is queued or running, at most $LIMIT s
  local deadline=$(( $(date +%s) + ${LIMIT:-150} )) one
  for one in "$@"; do
    while case "$(field "$one" state 2>/dev/null)" in running|queued|"") true ;; *) false ;; esac; do
      [ "$(date +%s)" -lt "$deadline" ] || { echo "still not ended: $one"; return 1; }
      sleep 0.5
    done
  done
}

{
  step "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
  if [ "$DEVICE" = cuda ]; then
    $PY -c "import torch; assert torch.cuda.is_available(), 'CUDA is not available'; print('torch', torch.__version__, 'GPUs', torch.cuda.device_count(), torch.cuda.get_device_name())" || exit 1
  fi
  if [ -n "${FONTS_DIR:-}" ] && [ -d "$FONTS_DIR" ]; then
    mkdir -p /usr/share/fonts/carried && cp -r "$FONTS_DIR"/. /usr/share/fonts/carried/ && echo "fonts: $(find /usr/share/fonts -name '*.ttf' -o -name '*.otf' | wc -l) files"
  fi
  [ -e "$DATA/trainLabels.csv" ] || $PY -m julia_core demo --out "$DATA"
  $PY -m julia_core info --data "$DATA" --quick
  GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")

  step "1. detached run on $DEVICE, bf16 (seed preset, 2 epochs)"
  start=$(date +%s)
  run=$(train --preset seed --epochs 2 --amp --detach --name gpu-detached | tail -1)
  [ -d "$run" ] || { echo "could not queue the run"; exit 1; }
  echo "queued: $run"
  wait_ended "$run"
  echo "ended: $(field "$run" state) after $(( $(date +%s) - start )) s"
  grep -E " on |epoch [0-9]+/" "$run/train.log" | tail -4

  step "2. DDP over $GPUS GPU(s) (fast preset, 3 epochs)"
  if [ "$GPUS" -gt 1 ]; then
    start=$(date +%s)
    timeout -k 10 120 $PY -m julia_core train --data "$DATA" --runs "$RUNS" --device "$DEVICE" --no-progress \
      --preset fast --epochs 3 --gpus "$GPUS" --amp --name "gpu-ddp$GPUS" >"$RUNS/ddp.log" 2>&1
    grep -E "world|epoch [0-9]+/|finished|failed" "$RUNS/ddp.log"
    echo "ddp: $(( $(date +%s) - start )) s wall"
  fi
  if [ "$DEVICE" = cuda ]; then
    echo "asking for $((GPUS + 1)) GPUs on a machine with $GPUS:"
    train --preset fast --epochs 1 --gpus $((GPUS + 1)) --name gpu-too-many 2>&1 | tail -2
  fi

  step "3. precision and memory layout"
  timeout 75 $PY bench/precision.py --device "$DEVICE" --seconds "$CASE_SECONDS" || echo "precision: stopped at its time limit"

  step "4. the seed workflow's loop against ours"
  if [ -e "$DATA/trainResized" ]; then
    timeout 75 $PY bench/train_speed.py --data "$DATA" --device "$DEVICE" --seconds "$LOOP_SECONDS" --loops-only \
      || echo "train_speed: stopped at its time limit"
  fi

  step "5. four runs at once on one device against one alone (fast preset, 3 epochs each)"
  # Throughput as all their training images over the span from the first start to the last end
  # (each status.json's started and ended), not a sum of per-epoch rates taken at other moments.
  (
    export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}  # one GPU, even on a machine with several
    queue() { local run; run=$(train --preset fast --epochs 3 --detach "$@" | tail -1); [ -d "$run" ] && echo "$run"; }
    alone=$(queue --name gpu-alone) || { echo "could not queue a run"; exit 0; }
    LIMIT=120 wait_ended "$alone" || $PY -m julia_core stop "$alone" --runs "$RUNS"
    export JULIA_MAX_RUNS=4  # read by the launcher when it queues, and by each trainer as it ends
    together=()
    for i in 1 2 3 4; do together+=($(queue --seed "$i" --name "gpu-together-$i")); done
    LIMIT=240 wait_ended "${together[@]}" || for run in "${together[@]}"; do $PY -m julia_core stop "$run" --runs "$RUNS"; done
    $PY - "$alone" "${together[@]}" <<'PY'
import json, sys
from datetime import datetime
def read(run):
    status, config = (json.load(open(f"{run}/{name}.json")) for name in ("status", "config"))
    return status, (status.get("total_steps") or 0) * config["batch_size"]
def rate(runs):
    read_runs = [read(run) for run in runs]
    if any(status["state"] != "finished" for status, _ in read_runs):
        return None, [status["state"] for status, _ in read_runs]
    start = min(datetime.fromisoformat(status["started"]) for status, _ in read_runs)
    end = max(datetime.fromisoformat(status["ended"]) for status, _ in read_runs)
    return sum(images for _, images in read_runs) / (end - start).total_seconds(), None
(alone, why), (together, why_together) = rate(sys.argv[1:2]), rate(sys.argv[2:])
if alone and together and len(sys.argv) == 6:
    print(f"one alone: {alone:,.0f} img/s from its start to its end; four at once: {together:,.0f} img/s "
          f"from the first start to the last end ({together / alone:.2f}x)")
else:
    print(f"not comparable: alone {why or 'finished'}, together {why_together or 'finished'} ({len(sys.argv) - 2} queued)")
PY
  )

  step "6. the best preset from scratch (limit ${BEST_LIMIT} s)"
  start=$(date +%s)
  # Into a file, not a pipe: a pipe's reader would wait on the drawing processes; -k: a trainer
  # that does not heed the TERM in time is killed.
  timeout -k 10 "$BEST_LIMIT" $PY -m julia_core train --data "$DATA" --runs "$RUNS" --device "$DEVICE" \
    --preset best --amp --no-progress --name gpu-best >"$RUNS/best.log" 2>&1
  grep -E -i "drew|pre-?train|epoch [0-9]+/|finished|failed|stopped" "$RUNS/best.log" | tail -16
  echo "best: $(( $(date +%s) - start )) s wall"
  $PY -m julia_core runs --runs "$RUNS"
} 2>&1 | tee "$LOG"
