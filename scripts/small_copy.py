"""A copy of a Kaggle-layout data set small enough to send to a remote GPU machine.

The device machine takes at most 64 MiB with each call, and the real set is 190 MB, most of it
in the originals (`train/`, `test/`). This copy keeps `trainLabels.csv` (and `testAnswers.csv`
where there is one) and the 20x20 copies as they are, and stores each original already brought
to SIZE px in MODE by the project's own resize, as a PNG under its own name. A run that reads the
originals at that size and mode (the `best` preset: 48 px grey) then sees the same pixels as
from the full set, since resizing an image to the size it has is the identity (a test checks
this). Other sizes or modes read from the copy differ from the full set's.

    python scripts/small_copy.py SOURCE OUT [--size 48] [--mode L]

The real set comes to about 30 MB at 48 px grey.
"""
import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from julia_core.data.dataset import ANSWERS_FILE, LABELS_FILE, SPLITS, KaggleDataset, folder_name  # noqa: E402
from julia_core.data.images import open_image, resize  # noqa: E402
from julia_core.errors import EXPECTED_ERRORS, one_line  # noqa: E402


def small_copy(source: Path, out: Path, size: int = 48, mode: str = "L") -> int:
    """Write the copy; returns the number of originals written."""
    dataset = KaggleDataset(source)  # a set that does not open is refused here, in one line
    out.mkdir(parents=True, exist_ok=True)
    for name in (LABELS_FILE, ANSWERS_FILE):
        if (source / name).is_file():
            shutil.copy2(source / name, out / name)
    written = 0
    for split in SPLITS:
        if "resized" in dataset.sources(split):
            resized = folder_name(split, "resized")
            shutil.copytree(source / resized, out / resized, dirs_exist_ok=True)
        if "original" in dataset.sources(split):
            (out / folder_name(split, "original")).mkdir(exist_ok=True)
            for image_id in dataset.ids(split):  # the images the set indexed, by the set's own rules
                path = dataset.image_path(split, "original", image_id)
                resize(open_image(path), size, mode).save(out / folder_name(split, "original") / path.name,
                                                          format="PNG")
                written += 1
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--mode", choices=("L", "RGB"), default="L")
    args = parser.parse_args()
    try:
        written = small_copy(args.source, args.out, args.size, args.mode)
    except EXPECTED_ERRORS as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {written} originals at {args.size} px {args.mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
