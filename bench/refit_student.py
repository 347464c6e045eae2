"""A pseudo-label student of a fold's refits, measured under k-fold cross-validation on the real data.

Runs after `bench/refit_cv.py` on the same OUT: for every fold, the refit of the fold's first
run (seed FIRST, its options) trained again with `--pseudo-label` naming every finished refit of
that run as teachers. The teachers label the fold's held-out images (its test images, as the
Kaggle test images are at submission time; their answers are never read) and those they agree on
at `--threshold` join the student's training images. The student is one model: what it is worth
is how close it comes to its teachers' ensemble at one model's prediction cost.

Each student is scored on the fold's held-out images, plain and with TTA, beside its teachers'
ensemble; results go to OUT/student.json after each fold, finished runs are reused.

`--pool kaggle-test` adds the competition's own unlabelled test images to what the teachers
label (a fold set `foldK-kaggle-test` of links: the fold's held-out images, still the only ones
scored, and the Kaggle test images), as a user's final student would learn from the test set.

    python bench/refit_student.py --out /tmp/refit-cv [--first-seed 0] [--threshold 0.7] [--only 0,1]
                                  [--pool held-out|kaggle-test]
"""
import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from refit_cv import REAL, hits, seconds, train  # noqa: E402

from julia_core.data.dataset import KaggleDataset, folder_name  # noqa: E402
from julia_core.runs import launcher, refit  # noqa: E402


def with_kaggle_test(fold_dir: Path, kaggle: Path) -> Path:
    """fold_dir's links, with the competition's test images beside its held-out ones as test images."""
    out = fold_dir.with_name(fold_dir.name + "-kaggle-test")
    if out.exists():
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(fold_dir, partial, symlinks=True)
    source = KaggleDataset(kaggle)
    for kind in source.sources("test"):
        for image_id in source.ids("test"):
            original = source.image_path("test", kind, int(image_id))
            (partial / folder_name("test", kind) / original.name).symlink_to(original.resolve())
    partial.rename(out)
    return out


def teachers_of(run, runs_root: Path) -> list:
    """The finished refits of `run` trained for its epochs (not the best-epoch rule, not students)."""
    return [other.dir for other in launcher.list_runs(runs_root)
            if other.state == "finished" and other.config and other.config.refit_of == run.dir.name
            and other.config.epochs == run.config.epochs and not other.config.pseudo_label]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="refit_cv.py's output folder")
    parser.add_argument("--first-seed", type=int, default=0, help="the seed of the fold runs that were refit")
    parser.add_argument("--threshold", type=float, default=0.7, help="the teachers' mean top probability to join")
    parser.add_argument("--only", default="", help="comma-separated folds to run (default: every fold there)")
    parser.add_argument("--pool", choices=("held-out", "kaggle-test"), default="held-out",
                        help="the unlabelled images the teachers label: the fold's held-out ones, or those "
                             "and the competition's test images")
    parser.add_argument("--data", type=Path, default=REAL, help="the competition's files (for --pool kaggle-test)")
    args = parser.parse_args()

    runs_root = args.out / "runs"
    results_file = args.out / ("student.json" if args.pool == "held-out" else f"student-{args.pool}.json")
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    folds = sorted(int(p.name[4:]) for p in (args.out / "folds").glob("fold[0-9]") if p.is_dir())
    folds = [int(f) for f in args.only.split(",")] if args.only else folds
    for fold in folds:
        held_out = args.out / "folds" / f"fold{fold}"  # scored on, and labelled for the student
        data = with_kaggle_test(held_out, args.data) if args.pool == "kaggle-test" else held_out
        name = f"f{fold}-"
        firsts = [run for run in launcher.list_runs(runs_root) if run.config and run.state == "finished"
                  and run.config.name.startswith(name) and run.config.name.endswith(f"-s{args.first_seed}")]
        if len(firsts) != 1:
            sys.exit(f"error: {runs_root}: {len(firsts)} finished runs named {name}*-s{args.first_seed} "
                     "(bench/refit_cv.py makes one per fold)")
        [first] = firsts
        teachers = teachers_of(first, runs_root)
        [config] = refit.refit_configs(first)
        suffix = "-student" if args.pool == "held-out" else "-student-kt"
        config = dataclasses.replace(config, name=config.name + suffix, data=str(data),
                                     pseudo_label=",".join(str(t.path) for t in teachers),
                                     pseudo_threshold=args.threshold)
        started = time.perf_counter()
        student = train(config, runs_root)
        entry = results.setdefault(str(fold), {})
        entry["teachers"] = [t.name for t in teachers]
        entry["teachers' ensemble"] = list(hits(teachers, held_out))
        entry["teachers' ensemble + TTA"] = list(hits(teachers, held_out, tta=True))
        entry["student"] = [*hits([student], held_out), *seconds(student)]
        entry["student + TTA"] = list(hits([student], held_out, tta=True))
        entry["student and teachers"] = list(hits([student, *teachers], held_out))
        entry["student and teachers + TTA"] = list(hits([student, *teachers], held_out, tta=True))
        results_file.write_text(json.dumps(results, indent=1))
        print(f"fold {fold} ({time.perf_counter() - started:.0f} s): {json.dumps(entry)}", flush=True)
    print("| variant | folds | pooled accuracy | right / images |")
    print("|---|---|---|---|")
    for variant in [k for k in next(iter(results.values())) if k != "teachers"]:
        cells = [entry[variant] for entry in results.values() if variant in entry]
        right, images = sum(c[0] for c in cells), sum(c[1] for c in cells)
        print(f"| {variant} | {len(cells)} | {right / images:.4f} | {right} / {images} |")


if __name__ == "__main__":
    main()
