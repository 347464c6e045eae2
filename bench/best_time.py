"""The `best` preset from an empty cache, before against after the shipped weights, in one run:

1. after: `train --preset best` (it starts from julia_core/weights/, draws and pre-trains nothing);
2. before: the same with `--pretrain 2000` (the old path: draw 124,000 synthetic characters in the
   machine's fonts, pre-train on them for 6 epochs, then the same fine-tuning).

Each run is a fresh process with a cache of its own (nothing drawn, nothing resized before it);
wall time from the command to its end, and each run's best validation accuracy on the fixed 4:1
split. `--skip-before` measures only the first.

    python bench/best_time.py [--data ../shared/julia-kaggle] [--epochs 40] [--skip-before]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "julia-kaggle"


def timed_run(data: Path, runs: Path, extra: list[str]) -> tuple[float, float, str]:
    """Wall seconds, best validation accuracy and run folder of one `train --preset best` process
    with an empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, JULIA_CACHE=cache)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "julia_core", "train", "--preset", "best", "--data", str(data),
                                 "--runs", str(runs), "--no-progress", *extra], cwd=ROOT, env=env,
                                capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"train failed: {result.stderr[-2000:]}")
    run = Path(result.stdout.strip().splitlines()[-1])
    status = json.loads((run / "status.json").read_text())
    return seconds, status["best_val_acc"], run.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: the preset's)")
    parser.add_argument("--skip-before", action="store_true")
    args = parser.parse_args()
    extra = ["--epochs", str(args.epochs)] if args.epochs else []
    with tempfile.TemporaryDirectory() as runs:
        after = timed_run(args.data, Path(runs), extra + ["--name", "best-shipped"])
        print(f"after:  {after[0]:7.1f} s  best val acc {after[1]:.4f}  ({after[2]})", flush=True)
        if args.skip_before:
            return
        before = timed_run(args.data, Path(runs), extra + ["--pretrain", "2000", "--name", "best-pretrain-here"])
        print(f"before: {before[0]:7.1f} s  best val acc {before[1]:.4f}  ({before[2]})")
        print(f"before / after: {before[0] / after[0]:.2f}x less wall time")


if __name__ == "__main__":
    main()
