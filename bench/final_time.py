"""The one-command final submission from an empty cache and an empty runs folder (what a fresh
clone has once its virtual environment is installed): wall time of

    python -m julia_core final --preset best --seeds 3 --data DATA

from the command to the checked CSV, the estimate it prints (the validated run's best validation
accuracy), and the time each stage's runs took.

    python bench/final_time.py [--data ../shared/julia-kaggle] [--preset best] [--seeds 3]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "julia-kaggle"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    parser.add_argument("--preset", default="best")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as runs:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "julia_core", "final", "--preset", args.preset, "--seeds",
                                 str(args.seeds), "--data", str(args.data), "--runs", runs, "--name", "bench-final"],
                                cwd=ROOT, env=dict(os.environ, JULIA_CACHE=cache), capture_output=True, text=True)
        seconds = time.perf_counter() - started
        print(result.stdout, end="")
        if result.returncode:
            sys.exit(f"final failed: {result.stderr[-2000:]}")
        for run in sorted(Path(runs).glob("2*")):
            status = json.loads((run / "status.json").read_text())
            span = datetime.fromisoformat(status["ended"]) - datetime.fromisoformat(status["started"])
            print(f"  {run.name}: {status['state']} in {span.total_seconds():.0f} s, best val acc "
                  f"{status.get('best_val_acc')}")
        print(f"final --preset {args.preset} --seeds {args.seeds}: {seconds / 60:.1f} minutes from the command to "
              "the checked CSV")


if __name__ == "__main__":
    main()
