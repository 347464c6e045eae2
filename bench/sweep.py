"""What pruning buys a sweep: the same search with a pruner and without, on the real data.

A search with the `fast` preset over learning rate, weight decay, augmentation strength, image
size and model (24 trials by default), run by the product's own worker (`sweep start
--foreground` does the same), once per pruner, each in a runs folder and SQLite study of its own,
one trial at a time. For each: the CPU time of all its trainers (this process's children) and the
worker, the wall time, trials finished and pruned, and the best validation accuracy with its
options. Then the `fast` preset itself on the same split, for the best recipe to be judged against.
Results go to OUT/results.json as each search ends; a search already there is not run again.

    python bench/sweep.py --out /tmp/sweep-bench [--trials 24] [--pruners median,none] [--data DIR]
                          [--epochs N] (a quick check: fewer epochs per trial)
"""
import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from julia_core.runs import launcher, trainer  # noqa: E402
from julia_core.sweeps import study, worker  # noqa: E402
from julia_core.sweeps.space import parse_space  # noqa: E402
from julia_core.training.config import make_config  # noqa: E402

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "julia-kaggle"
SEARCHED = {
    "lr": {"low": 3e-4, "high": 1e-2, "log": True},
    "weight_decay": {"low": 1e-5, "high": 1e-2, "log": True},
    "augment": {"low": 0.0, "high": 1.0},
    "image_size": [24, 32, 40],
    "model": ["charnet", "charnet_wide", "charnet_deep"],
}


class TrainerCPU(threading.Thread):
    """The CPU seconds of every trainer process training into runs_root, sampled twice a second
    (a trainer may be started by the one before it, not by this process: getrusage's children
    would miss it). What a trainer spends after its last sample, under half a second, is lost."""

    def __init__(self, runs_root: Path):
        super().__init__(daemon=True)
        self.marker, self.seen, self.done = str(runs_root), {}, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            for process in psutil.process_iter(["cmdline"]):
                command = " ".join(process.info["cmdline"] or [])
                if "julia_core train --run-dir" in command and self.marker in command:
                    try:
                        times = process.cpu_times()
                        self.seen[process.pid] = times.user + times.system
                    except psutil.Error:
                        continue

    def total(self) -> float:
        self.done.set()
        self.join()
        return sum(self.seen.values())


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def search(pruner: str, args) -> dict:
    runs_root = args.out / f"runs-{pruner}"
    options = dict(SEARCHED, **({"epochs": args.epochs} if args.epochs else {}))
    space = parse_space({"preset": "fast", "sampler": "tpe", "pruner": pruner, "trials": args.trials, "seed": 0,
                         "startup_trials": args.startup, "warmup_epochs": args.warmup, "options": options})
    sweep = study.create_sweep(runs_root, f"bench-{pruner}", space, args.data)
    trainers, cpu, wall = TrainerCPU(runs_root.resolve()), own_cpu(), time.perf_counter()
    trainers.start()
    reason = worker.work(runs_root, sweep.name, poll=1.0)
    cpu, wall = own_cpu() - cpu + trainers.total(), time.perf_counter() - wall
    trials = study.open_sweep(runs_root, sweep.name).study.get_trials()
    finished = [t for t in trials if t.state.name == "COMPLETE"]
    best = max(finished, key=lambda t: t.value)
    epochs = sum(max(t.intermediate_values, default=0) for t in trials)
    return {"pruner": pruner, "ended": reason, "cpu_seconds": round(cpu), "wall_seconds": round(wall),
            "finished": len(finished), "pruned": sum(t.state.name == "PRUNED" for t in trials),
            "failed": sum(t.state.name == "FAIL" for t in trials), "epochs_trained": epochs,
            "best_val_acc": best.value, "best_trial": best.number, "best_params": best.params}


def preset_alone(args) -> dict:
    """The fast preset as it is, on the same data and split (seed 0), for comparison."""
    runs_root = args.out / "runs-preset"
    config = make_config("fast", data=str(args.data), name="fast-preset",
                         **({"epochs": args.epochs} if args.epochs else {}))
    run_dir = launcher.prepare_run(config, runs_root, claim=True)
    started = time.process_time()
    trainer.run(run_dir, show_progress=False, console=False)
    status = run_dir.read_status()
    return {"best_val_acc": status.best_val_acc, "cpu_seconds": round(time.process_time() - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--pruners", default="median,none")
    parser.add_argument("--startup", type=int, default=4, help="trials before TPE and the pruner act")
    parser.add_argument("--warmup", type=int, default=3, help="epochs before the pruner may end a trial")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("JULIA_MAX_RUNS", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    for pruner in args.pruners.split(","):
        if pruner not in results:
            results[pruner] = search(pruner, args)
            results_file.write_text(json.dumps(results, indent=1))
        print(json.dumps(results[pruner]), flush=True)
    if "fast preset" not in results:
        results["fast preset"] = preset_alone(args)
        results_file.write_text(json.dumps(results, indent=1))
    print(json.dumps(results["fast preset"]))
    print("| search | CPU min | wall min | trials finished / pruned | epochs trained | best val acc |")
    print("|---|---|---|---|---|---|")
    for pruner in args.pruners.split(","):
        r = results[pruner]
        print(f"| pruner {pruner} | {r['cpu_seconds'] / 60:.1f} | {r['wall_seconds'] / 60:.1f} | "
              f"{r['finished']} / {r['pruned']} | {r['epochs_trained']} | {r['best_val_acc']:.4f} |")


if __name__ == "__main__":
    main()
