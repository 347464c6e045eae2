"""Cold and warm loads of the real data set, and the demo set's generation time.

    python bench/data_load.py [--data ../shared/julia-kaggle]

Cold: an empty cache folder (every image decoded and resized). Warm: the cache file is valid
(only the files are stat'ed for the key); "open + load" also
re-reads the CSV and re-indexes the folders, as a fresh process does. Prints a Markdown table for docs/BENCHMARKS.md.
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from julia_core.data.dataset import KaggleDataset  # noqa: E402
from julia_core.synthetic.demo import generate_demo  # noqa: E402

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "julia-kaggle"
CASES = [("resized", 28, "L"), ("resized", 64, "RGB"), ("original", 28, "L"), ("original", 64, "RGB")]


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def bench_loads(root: Path) -> list[str]:
    rows = ["| split | source | size | mode | images | cold s | warm s (open + load) | warm s (load) | array MB |",
            "|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as cache:
        open_s, dataset = timed(lambda: KaggleDataset(root))
        print(f"open + validate index: {open_s:.3f} s", file=sys.stderr)
        for split in ("train", "test"):
            for source, size, mode in CASES:
                def load():
                    return KaggleDataset(root).load(split, source, size, mode, cache_dir=Path(cache))
                cold, loaded = timed(load)
                warm = statistics.median(timed(load)[0] for _ in range(3))
                warm_load = statistics.median(
                    timed(lambda: dataset.load(split, source, size, mode, cache_dir=Path(cache)))[0]
                    for _ in range(3))
                rows.append(f"| {split} | {source} | {size} | {mode} | {len(loaded)} | {cold:.2f} | "
                            f"{warm:.3f} | {warm_load:.3f} | {loaded.images.nbytes / 1e6:.1f} |")
                print(rows[-1], file=sys.stderr)
    return rows


def bench_demo() -> str:
    with tempfile.TemporaryDirectory() as out:
        seconds, summary = timed(lambda: generate_demo(Path(out) / "demo"))
    return (f"demo set (default: {summary.train_count} train + {summary.test_count} test images, "
            f"{len(summary.fonts)} fonts): {seconds:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    if (args.data / "trainLabels.csv").exists():
        print("\n".join(bench_loads(args.data)))
    else:
        print(f"skipped the load benchmark: no data set at {args.data}")
    print(bench_demo())


if __name__ == "__main__":
    main()
