"""`python -m julia_core SUBCOMMAND ...`: the same functions the dashboard calls.

Bad input exits 2 with one line on stderr ("error: <culprit>: <what is wrong>"), never a traceback.

Each command imports what it runs inside its run_* function: torch and tensorboard take seconds to
import on a 2-core machine, and `--help`, `info` or `demo` need neither.
"""
import argparse
import dataclasses
import sys
import time
from pathlib import Path

from julia_core import settings
from julia_core.data.dataset import KaggleDataset, SPLITS, SOURCES
from julia_core.errors import EXPECTED_ERRORS, JuliaError, one_line
from julia_core.data.images import SIZES


# Config fields `train` takes no option for: --preset is its own, a refit and a sweep's trial are
# made by --refit and `sweep`, a pre-training run by `pretrain`.
NOT_TRAIN_OPTIONS = ("preset", "refit_of", "sweep", "trial", "synthetic", "fonts")
CLI_MODES = {"grey": "L", "rgb": "RGB", None: None}  # --mode as typed, as a config holds it (None: unset)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def get_args_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m julia_core",
                     description="Data, training and submissions for Kaggle's 'First Steps With Julia'.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser("demo", help="write the synthetic demo data set (Kaggle layout)")
    demo.add_argument("--out", type=Path, default=settings.DEMO_DIR, help="folder to create (default: %(default)s)")
    demo.add_argument("--train-per-class", type=int, default=60, help="labelled images per class (default 60)")
    demo.add_argument("--test-per-class", type=int, default=20, help="test images per class (default 20)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--force", action="store_true", help="replace the folder if it exists")
    demo.add_argument("--if-missing", action="store_true", help="do nothing when the folder already holds a data set")
    demo.set_defaults(run=run_demo)

    info = commands.add_parser("info", help="validate a data set and print what it holds")
    info.add_argument("--data", type=Path, default=None, help="data set folder (default: $JULIA_DATA or the demo set)")
    info.add_argument("--quick", action="store_true", help="read image headers only; skips the full decode check")
    info.set_defaults(run=run_info)

    resize = commands.add_parser("resize", help="resize a data set (fills the cache; --export writes BMP folders)")
    resize.add_argument("--data", type=Path, default=None, help="data set folder (default: $JULIA_DATA or the demo set)")
    resize.add_argument("--size", type=int, default=28, help=f"side in px, e.g. {', '.join(map(str, SIZES))} (default 28)")
    resize.add_argument("--mode", choices=("grey", "rgb"), default="grey")
    resize.add_argument("--source", choices=SOURCES, default=None,
                        help="'resized' (Kaggle's 20x20 copies) or 'original' (default: resized when present)")
    resize.add_argument("--keep-aspect", action="store_true", help="pad to a square instead of stretching")
    resize.add_argument("--split", choices=SPLITS + ("all",), default="all")
    resize.add_argument("--skip-bad", action="store_true",
                        help="leave out images that cannot be decoded, and list them (default: stop at the first)")
    resize.add_argument("--export", action="store_true", help="also write <split>Resized_<size>/<ID>.Bmp folders")
    resize.add_argument("--out", type=Path, default=None, help="where the exported folders go (default: the data set)")
    resize.set_defaults(run=run_resize)

    add_train_parser(commands)
    add_pretrain_parser(commands)
    add_weights_parser(commands)
    add_final_parser(commands)

    add_runs_parser(commands)

    stop = commands.add_parser("stop", help="stop a running run (it saves last.pt) or cancel a queued one")
    stop.add_argument("run_ref", metavar="RUN", help="run directory, its name, or a unique part of it")
    stop.add_argument("--runs", type=Path, default=None)
    stop.set_defaults(run=run_stop)

    audit = commands.add_parser("audit", help="label audit: k-fold runs, then the labels they dispute most")
    audit.add_argument("--data", type=Path, default=None)
    audit.add_argument("--runs", type=Path, default=None)
    audit.add_argument("--preset", default="fast", help="training preset for each fold (default: fast)")
    audit.add_argument("--folds", type=int, default=5)
    audit.add_argument("--epochs", type=int, default=None)
    audit.add_argument("--report", metavar="GROUP", default=None,
                       help="print the disputed labels of a finished audit (its group name) instead")
    audit.add_argument("--top", type=int, default=30)
    audit.set_defaults(run=run_audit)

    predict = commands.add_parser("predict", help="write a Kaggle submission from one run or an ensemble")
    add_ensemble_arguments(predict, "a run (repeat for an ensemble: mean of the class probabilities)",
                           "data set folder (default: $JULIA_DATA or the demo set)")
    predict.add_argument("--out", type=Path, required=True, help="the CSV to write")
    predict.set_defaults(run=run_predict)

    add_sweep_parser(commands)

    score = commands.add_parser("score", help="validation accuracy of a run or an ensemble, with or without TTA")
    add_ensemble_arguments(score, "a run (repeat for an ensemble: mean of probabilities; all on one split)",
                           "data set folder (default: the first run's)")
    score.set_defaults(run=run_score)
    return parser


def add_runs_parser(commands) -> None:
    """`runs` lists (filtered, grouped); `runs tag | note | archive | restore | delete` edit."""
    runs = commands.add_parser("runs", help="list runs (filtered, grouped), or tag, note, archive, restore, delete them")
    runs.add_argument("--runs", type=Path, default=None, help="runs folder (default: $JULIA_RUNS or runs/)")
    runs.add_argument("--state", action="append", default=[], help="only runs in this state (repeatable)")
    runs.add_argument("--tag", action="append", default=[], help="only runs with this tag (repeatable: all of them)")
    runs.add_argument("--name", default="", help="a glob (*, ?) on the run's name, or a part of it")
    runs.add_argument("--model", action="append", default=[])
    runs.add_argument("--preset", action="append", default=[])
    runs.add_argument("--sweep", action="append", default=[], help="only the trials of this sweep")
    runs.add_argument("--min-acc", type=float, default=None, help="best validation accuracy at least this")
    runs.add_argument("--max-acc", type=float, default=None)
    runs.add_argument("--archived", action="store_true", help="list archived runs too")
    runs.add_argument("--group-by", default=None, metavar="OPTION", help="group by a training option (model, lr, ...)")
    actions = runs.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    tag = actions.add_parser("tag", help="add tags to a run (--remove takes them off)")
    tag.add_argument("run_ref", metavar="RUN")
    tag.add_argument("tags", metavar="TAG", nargs="+")
    tag.add_argument("--remove", action="store_true")
    note = actions.add_parser("note", help="set a run's note (an empty text clears it)")
    note.add_argument("run_ref", metavar="RUN")
    note.add_argument("text", metavar="TEXT")
    for action, text in (("archive", "hide runs from the default lists (files kept)"),
                         ("restore", "bring archived runs back"),
                         ("delete", "delete runs and their files (asks first; --yes does not)")):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("run_refs", metavar="RUN", nargs="+")
        if action == "delete":
            parser.add_argument("--yes", action="store_true", help="do not ask")
    for parser in actions.choices.values():
        parser.add_argument("--runs", type=Path, default=argparse.SUPPRESS, help="runs folder")
    runs.set_defaults(run=run_runs)


def add_sweep_parser(commands) -> None:
    sweep = commands.add_parser("sweep", help="search a recipe's options with Optuna: start, join, stop, resume, show")
    actions = sweep.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    storage_help = ("database URL of the study (default: a SQLite file in the runs folder); several machines "
                    "share one through a server, e.g. postgresql://USER:PASSWORD@HOST:5432/DATABASE")
    start = actions.add_parser("start", help="create a sweep from a search space file and start its worker here")
    join = actions.add_parser("join", help="work on a sweep another machine started (its space comes from the study)")
    for parser in (start, join):
        parser.add_argument("name", metavar="NAME", help="the sweep's name (its study's)")
        parser.add_argument("--storage", default="" if parser is start else None, required=parser is join,
                            help=storage_help)
        parser.add_argument("--data", type=Path, default=None, help="data set folder (default: $JULIA_DATA or the demo set)")
        parser.add_argument("--foreground", action="store_true", help="work in this terminal instead of a detached worker")
    start.add_argument("--space", type=Path, required=True, help="the search space: a YAML or JSON file (docs/SWEEPS.md)")
    for action, text in (("stop", "stop a sweep everywhere: running trials save and stop, queued ones are cancelled"),
                         ("resume", "continue a stopped sweep: this machine's stopped trials resume, a worker starts"),
                         ("show", "the sweeps, or one sweep's trials"), ("work", argparse.SUPPRESS)):
        parser = actions.add_parser(action, help=text) if text != argparse.SUPPRESS else actions.add_parser(action)
        parser.add_argument("name", metavar="NAME", nargs="?" if action == "show" else None)
    for parser in actions.choices.values():
        parser.add_argument("--runs", type=Path, default=None, help="runs folder (default: $JULIA_RUNS or runs/)")
    sweep.set_defaults(run=run_sweep)


def add_ensemble_arguments(parser, run_help: str, data_help: str) -> None:
    """The options `predict` and `score` share: which runs, which data, TTA, checkpoint, device."""
    parser.add_argument("--run", dest="run_refs", action="append", required=True, metavar="RUN", help=run_help)
    parser.add_argument("--data", type=Path, default=None, help=data_help)
    parser.add_argument("--tta", action="store_true", help="average over small zooms and shifts too")
    parser.add_argument("--checkpoint", choices=("best", "last"), default=None,
                        help="default: each run's own (best; a refit's last)")
    parser.add_argument("--device", default="auto", choices=("auto", "cuda", "mps", "cpu"))
    parser.add_argument("--runs", type=Path, default=None, help="runs folder (default: $JULIA_RUNS or runs/)")


def add_train_parser(commands) -> None:
    """Every TrainConfig field becomes an option; unset options keep the preset's value."""
    from julia_core.training.config import PRESETS, TrainConfig
    train = commands.add_parser("train", help="train a model into a new run directory")
    train.add_argument("--preset", choices=list(PRESETS), default=None,
                       help="seed (the original recipe), fast (minutes on a CPU), best (highest accuracy)")
    train.add_argument("--runs", type=Path, default=None, help="runs folder (default: $JULIA_RUNS or runs/)")
    train.add_argument("--detach", action="store_true", help="start in the background (queued if busy) and return")
    train.add_argument("--resume", metavar="RUN", default=None, help="continue a stopped or failed run from last.pt")
    train.add_argument("--refit", metavar="RUN", default=None,
                       help="train a finished run's recipe again on every labelled image (no validation split, its "
                            "epochs unless --epochs, predicting with the last weights), for the final submission")
    train.add_argument("--seeds", type=int, default=1,
                       help="with --refit: this many seeds (the run's seed, then the next), queued; ensemble them on "
                            "Submit or with predict --run A --run B ...")
    train.add_argument("--own-pretraining", action="store_true",
                       help="with --refit and --seeds: each further seed pre-trains for itself (a pre-training "
                            "per seed, for an ensemble that differs more) instead of fine-tuning the run's")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.add_argument("--run-dir", type=Path, default=None, help=argparse.SUPPRESS)  # the launcher's child
    train.add_argument("--resume-in-place", action="store_true", help=argparse.SUPPRESS)
    helps = {"data": "data set folder (default: $JULIA_DATA or the demo set)", "mode": "grey or rgb",
             "augment": "augmentation strength 0..1", "gpus": "DDP over N GPUs through torchrun (CPU: N gloo processes)",
             "amp": "bf16 autocast where the device has bf16 in hardware (CUDA; CPUs with AVX512-BF16 or AMX)",
             "compile": "torch.compile the model",
             "name": "run name: letters, digits, '.', '_', '-'",
             "init": "start from: shipped pretrained weights by name (`weights list`; the best preset's), a run "
                     "directory (its best weights) or a .pt file",

             "pseudo_label": "teacher runs (comma-separated names or paths, on this run's split): the test images "
                             "they label confidently join the training set",
             "pseudo_threshold": "the teachers' mean top probability a test image needs (default 0.7)",
             "seed": "seed of the weights, the batch order, the augmentation and (unless --split-seed and "
                     "--pretrain-seed) the split and the pre-training",
             "pretrain_seed": "seed of the synthetic pre-training (default -1: --seed); a refit's seeds share "
                              "their run's",
             "split_seed": "seed of the validation split (default -1: --seed); keep it to ensemble seeds on one split",
             "ema": "evaluate and save a moving average of the weights, this decay per step (0: off)"}
    for field in dataclasses.fields(TrainConfig):
        if field.name in NOT_TRAIN_OPTIONS:
            continue
        flag = "--" + field.name.replace("_", "-")
        if field.type is bool or isinstance(field.default, bool):
            train.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=helps.get(field.name))
        elif field.name == "mode":
            train.add_argument(flag, choices=("grey", "rgb"), default=None, help=helps["mode"])
        else:
            kind = type(field.default) if field.default != "" else str
            train.add_argument(flag, type=kind, default=None, help=helps.get(field.name))
    train.set_defaults(run=run_train)


def add_pretrain_parser(commands) -> None:
    from julia_core.training.config import DEVICES, NORMALIZATIONS, PRESETS, PRETRAIN_EPOCHS, PRETRAIN_PER_CLASS
    pretrain = commands.add_parser(
        "pretrain", help="build pretrained weights: draw synthetic characters, pre-train on them, write the "
                         "weights and their card (an ordinary run: Monitor shows it, stop and resume work)")
    pretrain.add_argument("--like", choices=list(PRESETS), default="best",
                          help="the preset whose model and input the weights are for (default: best)")
    pretrain.add_argument("--per-class", type=int, default=PRETRAIN_PER_CLASS,
                          help="synthetic characters per class (default %(default)s)")
    pretrain.add_argument("--epochs", type=int, default=PRETRAIN_EPOCHS, help="(default %(default)s)")
    pretrain.add_argument("--seed", type=int, default=0, help="seed of the drawing and the pre-training")
    pretrain.add_argument("--model", default=None, help="default: the preset's")
    pretrain.add_argument("--image-size", type=int, default=None, help="default: the preset's")
    pretrain.add_argument("--mode", choices=("grey", "rgb"), default=None, help="default: the preset's")
    pretrain.add_argument("--normalize", choices=NORMALIZATIONS, default=None, help="default: the preset's")
    pretrain.add_argument("--fonts", type=Path, default=None,
                          help="draw in the font files under this folder (default: the machine's; `make fonts` "
                               "installs the 69 families the shipped weights were drawn in)")
    pretrain.add_argument("--device", choices=DEVICES, default=None)
    pretrain.add_argument("--name", default=None, help="run name (default: pretrain-MODEL-SIZE)")
    pretrain.add_argument("--ship", metavar="NAME", nargs="?", const="", default=None,
                          help="when it finishes, copy its weights into julia_core/weights/ (as NAME; default "
                               "the name its card proposes)")
    pretrain.add_argument("--runs", type=Path, default=None, help="runs folder (default: $JULIA_RUNS or runs/)")
    pretrain.add_argument("--detach", action="store_true", help="start in the background (queued if busy) and return")
    pretrain.add_argument("--no-progress", action="store_true", help="no progress bar")
    pretrain.set_defaults(run=run_pretrain)


def add_weights_parser(commands) -> None:
    weights = commands.add_parser("weights", help="the pretrained weights that ship with the package: list, "
                                                  "check, ship a pre-training run's")
    actions = weights.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    actions.add_parser("list", help="each shipped weights file with its card")
    check = actions.add_parser("check", help="checksums, loading, and the synthetic check set's accuracy here")
    check.add_argument("names", metavar="NAME", nargs="*", help="default: all")
    ship = actions.add_parser("ship", help="copy a finished `pretrain` run's weights and card into julia_core/weights/")
    ship.add_argument("run_ref", metavar="RUN")
    ship.add_argument("--name", default=None, help="default: the name its card proposes")
    ship.add_argument("--runs", type=Path, default=None, help="runs folder (default: $JULIA_RUNS or runs/)")
    weights.set_defaults(run=run_weights)


def add_final_parser(commands) -> None:
    from julia_core.training.config import PRESETS
    final = commands.add_parser(
        "final", help="data to final submission in one command: a validated run, its refits on every labelled "
                      "image with seeds, their ensemble with TTA, the checked CSV (ordinary runs: resumable)")
    final.add_argument("--preset", choices=list(PRESETS), default="best", help="(default: best)")
    final.add_argument("--seeds", type=int, default=3, help="refits, one seed each, in the ensemble (default 3)")
    final.add_argument("--name", default=None, help="the final's name (default: final-PRESET-TIME)")
    final.add_argument("--data", type=Path, default=None, help="data set folder (default: $JULIA_DATA or the demo set)")
    final.add_argument("--epochs", type=int, default=None, help="the validated run's epochs (default: the preset's)")
    final.add_argument("--batch-size", type=int, default=None, help="(default: the preset's)")
    final.add_argument("--no-tta", action="store_true", help="ensemble without test-time augmentation")
    final.add_argument("--resume", metavar="NAME", default=None,
                       help="continue a final: its stopped or failed runs resume, the next stage starts")
    final.add_argument("--list", action="store_true", help="every final and where it stands")
    final.add_argument("--detach", action="store_true",
                       help="start the next stage and return (the runs go on; --resume NAME or Submit continues)")
    final.add_argument("--runs", type=Path, default=None, help="runs folder (default: $JULIA_RUNS or runs/)")
    final.set_defaults(run=run_final)


def _data_dir(args) -> Path:
    return args.data or settings.data_dir()


def run_demo(args) -> int:
    from julia_core.synthetic.demo import Drawing, generate_demo
    if args.if_missing and (args.out / "trainLabels.csv").exists():
        print(f"demo data set already at {args.out}")
        return 0
    started = time.perf_counter()
    made = generate_demo(args.out, args.train_per_class, args.test_per_class, args.seed, force=args.force,
                         drawing=Drawing(processes=True))
    print(f"wrote {made.train_count} train and {made.test_count} test images with "
          f"{len(made.fonts)} fonts to {made.root} in {time.perf_counter() - started:.1f} s")
    return 0


def run_info(args) -> int:
    from julia_core.data.facts import gather_facts, fact_lines
    dataset = KaggleDataset(_data_dir(args))
    for line in fact_lines(gather_facts(dataset, decode=not args.quick)):
        print(line)
    return 0


def run_resize(args) -> int:
    from julia_core.data.export import export_folder_name, write_bmp_folder
    dataset = KaggleDataset(_data_dir(args))
    mode = CLI_MODES[args.mode]
    splits = [s for s in SPLITS if dataset.sources(s)] if args.split == "all" else [args.split]
    for split in splits:
        source = args.source or dataset.default_source(split)
        started = time.perf_counter()
        loaded = dataset.load(split, source, args.size, mode, args.keep_aspect, skip_bad=args.skip_bad)
        print(f"{split}: {len(loaded)} images as {tuple(loaded.images.shape)} "
              f"in {time.perf_counter() - started:.2f} s (cached)")
        if loaded.skipped:
            print(f"{split}: skipped {len(loaded.skipped)} images that cannot be decoded:")
            for _, reason in loaded.skipped:
                print(f"  {reason}")
        if args.export:
            name = export_folder_name(split, args.size, mode, source, args.keep_aspect)
            folder = write_bmp_folder(loaded, (args.out or dataset.root) / name)
            print(f"{split}: wrote {len(loaded)} images to {folder}")
    return 0


def _runs_dir(args) -> Path:
    return args.runs or settings.runs_dir()


def run_train(args) -> int:
    if args.run_dir:  # the launcher's detached child: a Stop during the imports is a request too
        return _run_detached_trainer(args)
    from julia_core.runs import launcher, trainer
    runs_root = _runs_dir(args)
    launcher.max_concurrent()  # a bad JULIA_MAX_RUNS is one line here, not a run failing with a traceback
    if args.refit:
        return _run_refit(args, runs_root)
    if args.seeds != 1 or args.own_pretraining:
        raise JuliaError("--seeds and --own-pretraining go with --refit RUN (for several runs of one recipe, "
                         "give --seed to each)")
    if args.resume:
        run_dir = launcher.resolve_run(runs_root, args.resume)
        if args.detach:
            launcher.resume(run_dir, runs_root)
            print(run_dir.path)
            return 0
        code = trainer.main(run_dir, launcher.claim_for_resume(run_dir), not args.no_progress, console=True)
    else:
        run_dir, code = _start_run(_train_config(args), runs_root, args)
        if run_dir is None:
            return code
    print(run_dir.path)
    return code


def _start_run(config, runs_root: Path, args):
    """Queued with --detach (its folder printed; (None, 0)), else trained here: (its folder, the
    trainer's exit code)."""
    from julia_core.runs import launcher, trainer
    if args.detach:
        print(launcher.launch(config, runs_root).path)
        return None, 0
    run_dir = launcher.prepare_run(config, runs_root, claim=True)
    return run_dir, trainer.main(run_dir, False, not args.no_progress, console=True)


REFIT_OPTIONS = ("preset", "refit_of", "epochs", "device")  # what a refit may change of its run


def _run_refit(args, runs_root: Path) -> int:
    """train --refit RUN: queued with --detach or several seeds, else trained here."""
    from julia_core.runs import launcher, refit, trainer
    from julia_core.training.config import TrainConfig
    given = sorted(f"--{f.name.replace('_', '-')}" for f in dataclasses.fields(TrainConfig)
                   if f.name not in REFIT_OPTIONS and getattr(args, f.name, None) is not None)
    if given or args.preset or args.resume:
        extra = ", ".join(given + (["--preset"] if args.preset else []) + (["--resume"] if args.resume else []))
        raise JuliaError(f"--refit takes every option from its run; only --epochs, --device, --seeds, "
                         f"--own-pretraining and --detach "
                         f"go with it, not {extra}")
    run = launcher.read_run(launcher.resolve_run(runs_root, args.refit).path)
    plan = refit.RefitPlan(args.seeds, args.epochs, args.device, args.own_pretraining)
    if args.detach or args.seeds > 1:
        for run_dir in refit.launch_refit(run, runs_root, plan):
            print(run_dir.path)
        return 0
    [config] = refit.refit_configs(run, plan)
    run_dir = launcher.prepare_run(config, runs_root, claim=True)
    code = trainer.main(run_dir, False, not args.no_progress, console=True)
    print(run_dir.path)
    return code


def _run_detached_trainer(args) -> int:
    from julia_core.training.stop_flag import StopFlag
    previous = StopFlag.install()
    try:
        from julia_core.runs import trainer
        from julia_core.runs.store import RunDir
        return trainer.main(RunDir(args.run_dir), args.resume_in_place, not args.no_progress, console=False)
    finally:
        StopFlag.restore(previous)


def run_pretrain(args) -> int:
    from julia_core.runs.status import FINISHED
    if args.detach and args.ship is not None:
        raise JuliaError("--ship needs the run to end here: without --detach, or `weights ship RUN` once it has finished")
    from julia_core.training import weights
    from julia_core.training.config import make_config
    from julia_core.training.pretrain import pretraining_run_config
    like = make_config(args.like, init="", pretrain=0, seed=args.seed, model=args.model, image_size=args.image_size,
                       mode=CLI_MODES[args.mode], normalize=args.normalize, device=args.device)
    name = args.name or f"pretrain-{like.model}-{like.image_size}"
    fonts = settings.portable_path(args.fonts.expanduser().resolve()) if args.fonts else ""
    config = pretraining_run_config(dataclasses.replace(like, name=name), args.per_class, args.epochs, fonts)
    run_dir, code = _start_run(config, _runs_dir(args), args)
    if run_dir is None:
        return code
    print(run_dir.path)
    if args.ship is not None and code == 0 and run_dir.read_status().state == FINISHED:
        card = weights.ship(run_dir.path, args.ship or None)
        print(f"shipped {weights.weights_file(card.name)}: {card.describe()}")
    return code


def run_weights(args) -> int:
    from julia_core.training import weights
    if args.action == "ship":
        from julia_core.runs import launcher
        run_dir = launcher.resolve_run(_runs_dir(args), args.run_ref)
        card = weights.ship(run_dir.path, args.name)
        print(f"shipped {weights.weights_file(card.name)}: {card.describe()}")
        return 0
    found, problems = weights.cards()
    if args.action == "list":
        for card in found:
            print(f"{card.describe()}\n  {card.bytes / 2**20:.1f} MB {card.storage}, sha256 {card.sha256[:16]}..., "
                  f"torch {card.torch}, from run {card.run}\n  rebuild: {card.command}")
        for problem in problems:
            print(f"damaged: {problem}")
        if not found and not problems:
            print(f"no shipped weights in {weights.WEIGHTS_DIR}")
        return 1 if problems else 0
    return _check_weights(args.names or [card.name for card in found], problems)


def _check_weights(names: list[str], problems: list[str]) -> int:
    """Each named file loaded through its checksum into its model, and its synthetic check set's
    accuracy measured with this machine's fonts."""
    from julia_core.training import weights
    from julia_core.training.config import TrainConfig
    from julia_core.training.models import build_model
    from julia_core.training.pretrain import check_accuracy, synthetic_fonts
    failed = list(problems)
    for name in names:
        try:
            card = weights.read_card(name)
            model = build_model(card.model, card.channels)
            model.load_state_dict(weights.load_weights(name, card.model, card.mode))
            config = TrainConfig(model=card.model, image_size=card.image_size, mode=card.mode,
                                 normalize=card.normalize, source="original")
            accuracy = check_accuracy(model, config, synthetic_fonts())
            print(f"{name}: checksum ok, loads into {card.model}; synthetic check set {accuracy:.3f} with this "
                  f"machine's fonts ({card.check_accuracy:.3f} on its card, drawn in "
                  f"{len(card.synthetic.get('font_families', []))} families)")
        except EXPECTED_ERRORS as err:
            failed.append(one_line(err))
    for problem in failed:
        print(f"error: {problem}", file=sys.stderr)
    return 2 if failed else 0


def run_final(args) -> int:
    from julia_core.runs import final
    runs_root = _runs_dir(args)
    if args.list:
        for plan, problem in final.list_plans(runs_root):
            if plan is None:
                print(f"damaged: {problem}")
                continue
            state = final.advance(plan, runs_root)
            estimate = f", estimate {state.estimate:.4f}" if state.estimate is not None else ""
            print(f"{plan.name}: {state.stage}{estimate}: {state.message}")
        return 0
    if args.resume:
        state = final.advance(final.load_plan(runs_root, args.resume), runs_root, resume=True)
    else:
        options = {key: value for key, value in (("epochs", args.epochs), ("batch_size", args.batch_size))
                   if value is not None}
        plan = final.FinalPlan(args.name or final.default_name(args.preset), args.preset, args.seeds,
                               settings.portable_path(_data_dir(args)), not args.no_tta, options)
        state = final.start(plan, runs_root)
    print(f"{state.plan.name}: {state.stage}: {state.message}", flush=True)
    if args.detach:
        return 0
    return _follow_final(state, runs_root)


def _follow_final(state, runs_root: Path, every: float = 5.0) -> int:
    """Advance the final until it is done or stalls, saying each new stage and each refit finished
    (Train and Monitor show the epochs); Ctrl-C leaves its runs going."""
    from julia_core.runs import final
    from julia_core.runs.status import FINISHED

    def milestone(state) -> tuple:
        return state.stage, sum(run.state == FINISHED for run in state.refits)
    said = milestone(state)
    try:
        while state.stage not in (final.DONE, final.STALLED):
            time.sleep(every)
            state = final.advance(state.plan, runs_root)
            if milestone(state) != said:
                print(f"{state.plan.name}: {state.stage}: {state.message}", flush=True)
                said = milestone(state)
    except KeyboardInterrupt:
        print(f"the runs go on; python -m julia_core final --resume {state.plan.name} follows them again",
              file=sys.stderr)
        return 130
    if state.stage == final.STALLED:
        return 1
    estimate = f" (estimate: validation accuracy {state.estimate:.4f})" if state.estimate is not None else ""
    print(f"{state.submission}{estimate}")
    return 0


def _train_config(args):
    """The preset with every option given on the command line on top."""
    from julia_core.training.config import TrainConfig, make_config
    names = {f.name for f in dataclasses.fields(TrainConfig)} - set(NOT_TRAIN_OPTIONS)
    overrides = {name: getattr(args, name) for name in names}
    overrides["mode"] = CLI_MODES[overrides["mode"]]
    overrides["data"] = str(overrides["data"] or settings.data_dir())
    return make_config(args.preset, **overrides)


def run_runs(args) -> int:
    if args.action:
        return _edit_runs(args)
    from julia_core.runs import filters, launcher
    run_filter = filters.RunFilter(tuple(args.state), tuple(args.tag), args.name, tuple(args.model),
                                   tuple(args.preset), tuple(args.sweep), args.min_acc, args.max_acc, args.archived)
    every = launcher.list_runs(_runs_dir(args))
    runs = filters.select(every, run_filter)
    if args.group_by:
        grouped = filters.groups(runs, args.group_by)
        runs = [run for members in grouped.values() for run in members]
    rows = launcher.run_table(runs)
    if not rows:
        hidden = len(every) - len(runs)
        print(f"no runs in {_runs_dir(args)}" + (f" pass the filter ({hidden} others)" if hidden else ""))
        return 0
    columns = ["run", "state", "model", "epoch", "best val acc", "img/s", "device", "tags", "error"]
    if any(row["refit of"] for row in rows):
        columns.insert(5, "refit of")
    if args.group_by:
        for row, run in zip(rows, runs):
            row[args.group_by] = filters.group_of(run, args.group_by)
        columns = [args.group_by] + [c for c in columns if c != args.group_by]
    _print_table(rows, columns)
    left_out = len(every) - len(runs)
    if left_out:
        print(f"({left_out} more run{'s' if left_out > 1 else ''} left out by the filter"
              f"{'' if args.archived else ' or archived: --archived lists those too'})")
    return 0


def _edit_runs(args) -> int:
    from julia_core.runs import launcher, records
    runs_root = _runs_dir(args)
    if args.action in ("tag", "note"):
        run_dir = launcher.resolve_run(runs_root, args.run_ref)
        if args.action == "note":
            record = records.set_note(run_dir, args.text)
            print(f"{run_dir.name}: note {'set' if record.note else 'cleared'}")
        else:
            changes = dict(remove=args.tags) if args.remove else dict(add=args.tags)
            record = records.tag(run_dir, **changes)
            print(f"{run_dir.name}: tags {', '.join(record.tags) or '(none)'}")
        return 0
    run_dirs = list(dict.fromkeys(launcher.resolve_run(runs_root, ref) for ref in args.run_refs))
    for run_dir in run_dirs:  # all of them checked before any changes
        records.check_editable(run_dir, args.action)
    if args.action == "delete" and not args.yes and not _confirmed(run_dirs):
        print("nothing deleted")
        return 1
    act = {"archive": records.archive, "restore": records.restore, "delete": records.delete}[args.action]
    for run_dir in run_dirs:
        act(run_dir)
        print(f"{run_dir.name}: {args.action}d")  # archived, restored, deleted
    return 0


def _confirmed(run_dirs) -> bool:
    """Asks on a terminal; elsewhere (a script, a pipe) deleting needs --yes."""
    if not sys.stdin.isatty():
        raise JuliaError("runs delete: not on a terminal, so it cannot ask; add --yes to delete "
                         + ", ".join(run_dir.name for run_dir in run_dirs))
    names = ", ".join(run_dir.name for run_dir in run_dirs)
    return input(f"delete {names} and all their files? [y/N] ").strip().lower() in ("y", "yes")


def run_stop(args) -> int:
    from julia_core.runs import launcher
    run_dir = launcher.resolve_run(_runs_dir(args), args.run_ref)
    print(f"{run_dir.name}: {launcher.stop(run_dir)}")
    return 0


def run_audit(args) -> int:
    from julia_core.runs import audit, launcher
    from julia_core.training.config import make_config
    runs_root = _runs_dir(args)
    if args.report:
        groups = audit.audit_groups(launcher.list_runs(runs_root))
        if args.report not in groups:
            raise JuliaError(f"no audit named {args.report!r} in {runs_root} (have: {', '.join(groups) or 'none'})")
        table = audit.disputed_labels(audit.out_of_fold(groups[args.report]), args.top)
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        return 0
    config = make_config(args.preset, data=str(_data_dir(args)), epochs=args.epochs)
    group, run_dirs = audit.launch_audit(config, runs_root, args.folds)
    print(f"queued {len(run_dirs)} fold runs of group {group}; they run one after another. "
          f"Then: python -m julia_core audit --report {group}")
    for run_dir in run_dirs:
        print(run_dir.path)
    return 0


def _intact_runs(args) -> list:
    """The --run references as run directories, each checked readable (one line if damaged)."""
    from julia_core.runs import launcher
    return [launcher.read_run(launcher.resolve_run(_runs_dir(args), ref).path).require_intact().dir
            for ref in args.run_refs]


def run_predict(args) -> int:
    from julia_core.predict.ensemble import write_prediction
    run_dirs = _intact_runs(args)
    out = write_prediction(run_dirs, _data_dir(args), args.out, args.tta, args.device, args.checkpoint)
    with open(out) as file:
        rows = sum(1 for _ in file) - 1
    print(f"wrote {out} ({rows} rows) from {len(run_dirs)} run(s){' with TTA' if args.tta else ''}")
    return 0


def run_score(args) -> int:
    from julia_core.predict.ensemble import score_val
    run_dirs = _intact_runs(args)
    right, images = score_val(run_dirs, args.data, args.tta, args.device, args.checkpoint)
    print(f"val accuracy {right / images:.4f} ({right}/{images}) from {len(run_dirs)} run(s)"
          f"{' with TTA' if args.tta else ''}")
    return 0


def run_sweep(args) -> int:
    from julia_core.sweeps import worker
    runs_root = _runs_dir(args)
    if args.action in ("start", "join"):
        return _start_or_join(args, runs_root)
    if args.action == "work":
        print(f"sweep {args.name}: {worker.work(runs_root, args.name)}", flush=True)
        return 0
    if args.action == "show":
        return _show_sweeps(runs_root, args.name)
    lines = worker.stop_sweep(runs_root, args.name) if args.action == "stop" else worker.resume_sweep(runs_root, args.name)
    print(f"sweep {args.name}: {'stopped' if args.action == 'stop' else 'resumed'}")
    for line in lines:
        print(f"  {line}")
    return 0


def _start_or_join(args, runs_root: Path) -> int:
    from julia_core.sweeps import study, worker
    from julia_core.sweeps.space import load_space
    data = _data_dir(args)
    KaggleDataset(data)  # a missing or broken data set is one line now, not a failed first trial
    if args.action == "start":
        sweep = study.create_sweep(runs_root, args.name, load_space(args.space), data, args.storage)
    else:
        sweep = study.join_sweep(runs_root, args.name, args.storage, data)
    where = study.shown_url(study.storage_url(runs_root, sweep.record))
    print(f"sweep {sweep.name}: {len(sweep.space.searched)} options searched from preset {sweep.space.preset} "
          f"({sweep.space.sampler}, pruner {sweep.space.pruner}); study in {where}")
    if args.foreground:
        print(f"sweep {sweep.name}: {worker.work(runs_root, sweep.name)}")
        return 0
    pid = worker.start_worker(runs_root, sweep.name)
    print(f"worker started (pid {pid}); watch it on the Sweep page or with: python -m julia_core sweep show {sweep.name}"
          if pid else "a worker already works on it on this machine")
    return 0


def _show_sweeps(runs_root: Path, name: str | None) -> int:
    from julia_core.sweeps import overview, study
    if not name:
        rows = [summary.row() for summary in overview.sweep_summaries(runs_root)]
        if not rows:
            print(f"no sweeps in {runs_root}")
        _print_table(rows, ["sweep", "state", "done", "pruned", "failed", "running", "budget", "best val acc",
                            "best run", "note"])
        return 0
    sweep = study.open_sweep(runs_root, name)
    summary = overview.summarize(sweep)
    print(f"sweep {name}: {summary.state} ({overview.STATE_HELP[summary.state]}); {summary.budget}; "
          f"study in {summary.storage}" + (f"; {summary.reason}" if summary.reason else ""))
    if summary.best_value is not None:
        print(f"best: trial {summary.best_trial}, val acc {summary.best_value:.4f}, run {summary.best_run}: "
              + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in summary.best_params.items()))
    rows = overview.trial_rows(sweep)
    _print_table([{k: ("" if v is None else f"{v:.4g}" if isinstance(v, float) else v) for k, v in row.items()}
                  for row in rows], list(dict.fromkeys(key for row in rows for key in row)))
    return 0


def _print_table(rows: list[dict], columns: list[str]) -> None:
    if not rows:
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns).rstrip())


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        return args.run(args)
    except EXPECTED_ERRORS as err:  # bad input, permissions, a full disk: one line, no traceback
        print(f"error: {one_line(err)}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2
