"""`python -m julia_core SUBCOMMAND ...`: the same functions the dashboard calls.

Bad input exits 2 with one line on stderr ("error: <culprit>: <what is wrong>"), never a traceback.
"""
import argparse
import sys
import time
from pathlib import Path

from . import settings
from .dataset import KaggleDataset, SPLITS, SOURCES
from .errors import JuliaError
from .images import SIZES


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
    return parser


def _data_dir(args) -> Path:
    return args.data or settings.data_dir()


def run_demo(args) -> int:
    from .demo import generate_demo
    if args.if_missing and (args.out / "trainLabels.csv").exists():
        print(f"demo data set already at {args.out}")
        return 0
    started = time.perf_counter()
    summary = generate_demo(args.out, args.train_per_class, args.test_per_class, args.seed, force=args.force)
    print(f"wrote {summary.train_count} train and {summary.test_count} test images with "
          f"{len(summary.fonts)} fonts to {summary.root} in {time.perf_counter() - started:.1f} s")
    return 0


def run_info(args) -> int:
    from .summary import summarize, summary_lines
    dataset = KaggleDataset(_data_dir(args))
    for line in summary_lines(summarize(dataset, decode=not args.quick)):
        print(line)
    return 0


def run_resize(args) -> int:
    from .export import export_folder_name, write_bmp_folder
    dataset = KaggleDataset(_data_dir(args))
    mode = "L" if args.mode == "grey" else "RGB"
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


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    try:
        return args.run(args)
    except JuliaError as err:
        print(f"error: {err}", file=sys.stderr)
    except OSError as err:  # permissions, a full disk: name the file, skip the traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"error: {where}{err.strerror or err}", file=sys.stderr)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 2
