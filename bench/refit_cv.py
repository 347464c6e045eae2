"""What a refit buys, measured under k-fold cross-validation on the real data.

For every fold of the existing 5-fold split (stratified, split seed 0), a data set in the Kaggle
layout is made of symbolic links: the fold's training part as its labelled images, the fold's
held-out images as its test images, with their labels as the answer key. On it:

1. the recipe as used today: a preset with its inner 4:1 split, predicting from the best epoch
   (two seeds by default, for the run-to-run spread);
2. the refit of the first of those on the fold's whole training part (`refit.refit_configs`,
   the product's own path), predicting from its last epoch, with several seeds (all fine-tuning
   the run's pre-training, as `train --refit` does; `--refit-pretraining own`: each its own);
3. the ensemble of the refit seeds, and the same with TTA.

Every figure is the accuracy on the fold's held-out images, which no run of that fold saw, pooled
over the folds. Results are written to OUT/results.json after each run, and finished runs are
reused, so the script can be stopped and started again.

    python bench/refit_cv.py --out /tmp/refit-cv [--preset best] [--folds 5] [--only 0,1]
                             [--baseline-seeds 2] [--refit-seeds 3] [--first-seed 0] [--epochs N]
                             [--refit-rule last|best|both] [--refit-pretraining shared|own]
"""
import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from julia_core.data.classes import class_index  # noqa: E402
from julia_core.data.dataset import ANSWERS_FILE, LABELS_FILE, KaggleDataset, folder_name  # noqa: E402
from julia_core.data.label_file import write_labels  # noqa: E402
from julia_core.data.split import stratified_folds  # noqa: E402
from julia_core.predict.ensemble import predict_test  # noqa: E402
from julia_core.predict.pseudo_labels import teacher_refs  # noqa: E402
from julia_core.runs import launcher, refit, trainer  # noqa: E402
from julia_core.runs.store import RunDir  # noqa: E402
from julia_core.training.config import make_config  # noqa: E402
from julia_core.data.classes import class_name  # noqa: E402

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "julia-kaggle"


def fold_set(source: KaggleDataset, assignment: np.ndarray, fold: int, out: Path) -> Path:
    """fold's data set: its training part labelled, its held-out part as test images with answers;
    made in a temporary folder renamed into place, so a stopped start leaves nothing half made."""
    if out.exists():
        return out
    final, out = out, out.with_name(out.name + ".partial")
    shutil.rmtree(out, ignore_errors=True)
    train_ids = np.asarray(source.train_ids)
    parts = {"train": train_ids[assignment != fold], "test": train_ids[assignment == fold]}
    for split, ids in parts.items():
        for kind in source.sources("train"):
            folder = out / folder_name(split, kind)
            folder.mkdir(parents=True, exist_ok=True)
            for image_id in ids:
                original = source.image_path("train", kind, int(image_id))
                (folder / original.name).symlink_to(original.resolve())
    write_labels(out / LABELS_FILE, {int(i): source.labels[int(i)] for i in parts["train"]})
    write_labels(out / ANSWERS_FILE, {int(i): source.labels[int(i)] for i in parts["test"]})
    out.rename(final)
    return final


CPU_SECONDS = {}  # run name -> CPU seconds of this process while it trained (all threads)


def train(config, runs_root: Path) -> RunDir:
    """A finished run of this config (reused when one with the same options already finished)."""
    for run in launcher.list_runs(runs_root):
        if run.state == "finished" and run.config and _same(run.config, config):
            return run.dir
    run_dir = launcher.prepare_run(config, runs_root, claim=True)
    started = time.process_time()
    code = trainer.run(run_dir, show_progress=False, console=False)
    CPU_SECONDS[run_dir.name] = time.process_time() - started
    if code != 0:
        raise SystemExit(f"{run_dir.name} failed: {run_dir.read_status().error}")
    return run_dir


def _same(a, b) -> bool:
    ignore = ("data", "init", "pseudo_label", "refit_of", "name")  # paths and names, written resolved
    return ({k: v for k, v in a.to_dict().items() if k not in ignore}
            == {k: v for k, v in b.to_dict().items() if k not in ignore}) and Path(a.data).name == Path(b.data).name \
        and _teachers(a) == _teachers(b)


def _teachers(config) -> list[str]:
    return sorted(Path(ref).name for ref in teacher_refs(config.pseudo_label))


def hits(run_dirs: list[RunDir], data: Path, tta: bool = False) -> tuple[int, int]:
    """(right, images) of the runs' mean prediction on the fold's held-out images."""
    answers = KaggleDataset(data).answer_key()
    ids, probs = predict_test(run_dirs, data, tta)
    predicted = {int(i): class_name(int(c)) for i, c in zip(ids, probs.argmax(1))}
    return sum(predicted[i] == name for i, name in answers.items()), len(answers)


def seconds(run_dir: RunDir) -> list[float]:
    """[wall seconds of its training (pre-training included), CPU seconds (None for a reused run)]."""
    rows = run_dir.summary_file.read_text().strip().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    return [float(last[header.index("time_wall_seconds")]), CPU_SECONDS.get(run_dir.name)]


def total(times: list[list]) -> list:
    cpu = [t[1] for t in times]
    return [sum(t[0] for t in times), None if None in cpu else sum(cpu)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--preset", default="best")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only", default="", help="comma-separated folds to run (default: all)")
    parser.add_argument("--baseline-seeds", type=int, default=2)
    parser.add_argument("--refit-seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the first seed of each kind (the runs of earlier seeds may be on another machine)")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs (a quick check)")
    parser.add_argument("--refit-pretraining", choices=("shared", "own"), default="shared",
                        help="the refit's seeds fine-tune the run's pre-training (shared, the default of "
                             "train --refit) or each pre-trains for itself (own: --own-pretraining)")
    parser.add_argument("--refit-rule", choices=("last", "best", "both"), default="last",
                        help="refit for the run's epochs (last), for its best epoch on validation (best), or both")
    args = parser.parse_args()

    source = KaggleDataset(args.data)
    labels = np.array([class_index(source.labels[i]) for i in source.train_ids])
    assignment = stratified_folds(labels, args.folds, seed=0)
    folds = [int(f) for f in args.only.split(",")] if args.only else list(range(args.folds))
    results_file = args.out / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    runs_root = args.out / "runs"
    for fold in folds:
        data = fold_set(source, assignment, fold, args.out / "folds" / f"fold{fold}")
        entry = results.setdefault(str(fold), {})
        baselines = []
        for seed in range(args.first_seed, args.first_seed + args.baseline_seeds):
            config = make_config(args.preset, data=str(data), seed=seed, epochs=args.epochs,
                                 name=f"f{fold}-{args.preset}-s{seed}")
            started = time.perf_counter()
            baselines.append(train(config, runs_root))
            measured = [*hits([baselines[-1]], data), *seconds(baselines[-1])]
            if measured[3] is None and f"baseline seed {seed}" in entry:  # reused: keep the CPU time measured then
                measured[3] = entry[f"baseline seed {seed}"][3]
            entry[f"baseline seed {seed}"] = measured
            print(f"fold {fold} baseline seed {seed}: {entry[f'baseline seed {seed}']} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
            results_file.write_text(json.dumps(results, indent=1))
        [first] = [run for run in launcher.list_runs(runs_root) if run.dir == baselines[0]]
        refits = []
        if args.refit_rule in ("best", "both"):  # the other rule: as many epochs as the run's best epoch
            best_epoch = first.status.best_epoch
            for config in refit.refit_configs(first, refit.RefitPlan(args.refit_seeds, epochs=best_epoch)):
                config = dataclasses.replace(config, name=config.name + f"-e{best_epoch}")
                run_dir = train(config, runs_root)
                entry[f"refit at the best epoch ({best_epoch}) seed {config.seed}"] = [*hits([run_dir], data),
                                                                                        *seconds(run_dir)]
                results_file.write_text(json.dumps(results, indent=1))
        own_pretraining = args.refit_pretraining == "own"
        own = " (own pre-training)" if own_pretraining else ""
        configs = refit.refit_configs(first, refit.RefitPlan(args.refit_seeds, own_pretraining=own_pretraining))
        for config in configs if args.refit_rule != "best" else []:
            refits.append(train(config, runs_root))
            entry[f"refit seed {config.seed}{own}"] = [*hits([refits[-1]], data), *seconds(refits[-1])]
            print(f"fold {fold} refit seed {config.seed}{own}: {entry[f'refit seed {config.seed}{own}']}", flush=True)
            results_file.write_text(json.dumps(results, indent=1))
        ensembles = {f"refit ensemble of {n}{own}": refits[:n] for n in range(2, len(refits) + 1)}
        ensembles.update({f"baseline ensemble of {n}": baselines[:n] for n in range(2, len(baselines) + 1)})
        for name, members in ensembles.items():
            entry[name] = [*hits(members, data), *total([seconds(m) for m in members])]
            entry[name + " + TTA"] = [*hits(members, data, tta=True), *entry[name][2:]]
        entry[f"baseline seed {args.first_seed} + TTA"] = [*hits(baselines[:1], data, tta=True), *seconds(baselines[0])]
        if refits:
            entry[f"refit seed {args.first_seed} + TTA"] = [*hits(refits[:1], data, tta=True), *seconds(refits[0])]
        results_file.write_text(json.dumps(results, indent=1))
        print(f"fold {fold}: {json.dumps(entry)}", flush=True)
    print_pooled(results)


def print_pooled(results: dict) -> None:
    """Pooled accuracy per variant over the folds that have it, and its minutes per fold."""
    variants = sorted({name for entry in results.values() for name in entry})
    print("| variant | folds | pooled accuracy | right / images | wall min per fold | CPU min per fold |")
    print("|---|---|---|---|---|---|")
    for name in variants:
        cells = [entry[name] for entry in results.values() if name in entry]
        right, images = sum(c[0] for c in cells), sum(c[1] for c in cells)
        wall = sum(c[2] for c in cells) / len(cells) / 60
        cpu = [c[3] for c in cells if len(c) > 3 and c[3] is not None]
        cpu_text = f"{sum(cpu) / len(cpu) / 60:.1f}" if len(cpu) == len(cells) else "?"
        print(f"| {name} | {len(cells)} | {right / images:.4f} | {right} / {images} | {wall:.1f} | {cpu_text} |")


if __name__ == "__main__":
    main()
