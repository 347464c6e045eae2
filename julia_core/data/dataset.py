"""A data set in the Kaggle layout: trainLabels.csv and <ID>.<ext> images in up to four folders.

    trainLabels.csv      ID,Class
    trainResized/ID.Bmp  Kaggle's 20x20 copies        train/ID.Bmp  the originals
    testResized/ID.Bmp                                test/ID.Bmp
    testAnswers.csv      (demo sets only) the test labels, to score a submission
"""
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from julia_core import settings
from julia_core.data.cache import ArrayCache, digest
from julia_core.errors import DataError
from julia_core.data.images import IMAGE_EXTENSIONS, MODES, load_resized
from julia_core.data.label_file import read_labels
from julia_core.data.classes import class_index

SPLITS = ("train", "test")
SOURCES = ("resized", "original")  # Kaggle's 20x20 copies, or the original crops
SOURCE_NAMES = {"resized": "20x20 copies", "original": "originals"}  # as the pages name them
LABELS_FILE = "trainLabels.csv"
ANSWERS_FILE = "testAnswers.csv"
CACHE_VERSION = 1  # bump when decoding or resizing changes what a cached array holds

Progress = Callable[[int, int], None]


def folder_name(split: str, source: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    return f"{split}Resized" if source == "resized" else split


@dataclass(frozen=True)
class ImageFolder:
    path: Path
    files: dict[int, Path]          # ID -> image file
    ignored: tuple[str, ...] = ()   # entries that are not <ID>.<image extension>


def scan_folder(path: Path) -> ImageFolder:
    """Index <ID>.<bmp|png|jpg|jpeg> files, any letter case; two files for one ID is an error."""
    files: dict[int, Path] = {}
    ignored = []
    with os.scandir(path) as entries:
        for entry in entries:
            stem, ext = os.path.splitext(entry.name)
            if not (entry.is_file() and ext.lower() in IMAGE_EXTENSIONS and stem.isdigit()):
                ignored.append(entry.name)
                continue
            image_id = int(stem)
            if image_id in files:
                raise DataError(f"{path}: two images for ID {image_id}: "
                                f"{files[image_id].name} and {entry.name}")
            files[image_id] = Path(entry.path)
    if not files:
        raise DataError(f"{path}: folder holds no images (expected <ID>.Bmp, .png or .jpg files)")
    return ImageFolder(Path(path), dict(sorted(files.items())), tuple(sorted(ignored)))


@dataclass
class LoadedImages:
    """One split at one size, in ID order of the CSV (train) or ascending (test)."""
    split: str
    ids: np.ndarray                   # int64, (N,)
    images: np.ndarray                # uint8, (N, size, size) grey or (N, size, size, 3) RGB
    labels: np.ndarray | None         # int64 class indices for train, None for test
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason), opt-in only

    def __len__(self) -> int:
        return len(self.ids)


class KaggleDataset:
    """Validated on construction: every problem is one DataError line naming the culprit."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        if not self.root.exists():
            raise DataError(f"{self.root}: no such folder")
        if not self.root.is_dir():
            raise DataError(f"{self.root}: is not a folder")
        self.folders: dict[tuple[str, str], ImageFolder] = {}
        for split in SPLITS:
            for source in SOURCES:
                path = self.root / folder_name(split, source)
                if path.is_dir():
                    self.folders[split, source] = scan_folder(path)
        if not any(split == "train" for split, _ in self.folders):
            raise DataError(f"{self.root}: no train images (expected a trainResized/ or train/ folder)")
        self.labels = read_labels(self.root / LABELS_FILE)
        self._check_train_images()
        self.test_ids = self._check_test_images()

    def _check_train_images(self) -> None:
        for source in self.sources("train"):
            folder = self.folders["train", source]
            missing = [i for i in self.labels if i not in folder.files]
            if missing:
                more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
                raise DataError(f"{folder.path}: no image for ID {missing[0]}{more} "
                                f"listed in {LABELS_FILE}")

    def _check_test_images(self) -> list[int]:
        id_sets = {source: set(self.folders["test", source].files) for source in self.sources("test")}
        if len(id_sets) == 2 and id_sets["resized"] != id_sets["original"]:
            only = sorted(id_sets["resized"] ^ id_sets["original"])[0]
            has, lacks = ("resized", "original") if only in id_sets["resized"] else ("original", "resized")
            raise DataError(f"{self.root / folder_name('test', lacks)}: no image for ID {only}, "
                            f"which {folder_name('test', has)}/ has")
        return sorted(next(iter(id_sets.values()), ()))

    # -- what is here ------------------------------------------------------------------
    @property
    def train_ids(self) -> list[int]:
        return list(self.labels)

    def sources(self, split: str) -> list[str]:
        return [source for source in SOURCES if (split, source) in self.folders]

    def default_source(self, split: str = "train") -> str:
        present = self.sources(split)
        if not present:
            raise DataError(f"{self.root}: no {split} images")
        return present[0]

    def image_path(self, split: str, source: str, image_id: int) -> Path:
        folder = self._folder(split, source)
        try:
            return folder.files[int(image_id)]
        except KeyError:
            raise DataError(f"{folder.path}: no image for ID {image_id}") from None

    def require_test_images(self) -> None:
        """Predicting needs test images; say so in one line where there are none."""
        if not self.test_ids:
            raise DataError(f"{self.root}: no test images to predict (expected testResized/ or test/)")

    def ids(self, split: str) -> list[int]:
        return self.train_ids if split == "train" else self.test_ids

    def label_of(self, image_id: int) -> str | None:
        return self.labels.get(int(image_id))

    def answer_key(self) -> dict[int, str] | None:
        """The demo set's test labels; None for a real competition set."""
        path = self.root / ANSWERS_FILE
        return read_labels(path) if path.exists() else None

    def _folder(self, split: str, source: str) -> ImageFolder:
        try:
            return self.folders[split, source]
        except KeyError:
            raise DataError(f"{self.root}: has no {folder_name(split, source)}/ folder") from None

    # -- loading -----------------------------------------------------------------------
    def load(self, split: str = "train", source: str | None = None, size: int = 28, mode: str = "L",
             keep_aspect: bool = False, *, cache_dir: Path | None = None, skip_bad: bool = False,
             workers: int | None = None, progress: Progress | None = None) -> LoadedImages:
        """Every image of a split as one array, from the cache when nothing changed.

        A bad image is a DataError naming it; with skip_bad=True it is left out and reported in
        `skipped`. The cache key covers each file's name, size and mtime and every option."""
        source = source or self.default_source(split)
        if mode not in MODES:
            raise DataError(f"mode must be 'L' (grey) or 'RGB', got {mode!r}")
        if not 4 <= int(size) <= 512:
            raise DataError(f"image size must be between 4 and 512 px, got {size}")
        folder = self._folder(split, source)
        ids = self.ids(split)
        paths = [folder.files[i] for i in ids]
        cache = ArrayCache(settings.cache_dir() if cache_dir is None else cache_dir)
        name = "-".join([digest(self.root.resolve())[:12], split, source, str(size), mode,
                         "pad" if keep_aspect else "stretch", "skip" if skip_bad else "strict"])
        key = digest(CACHE_VERSION, name, *_file_signatures(paths))
        stored = cache.load(name, key)
        if stored is None:
            stored = _decode(paths, ids, size, mode, keep_aspect, skip_bad, workers, progress)
            cache.save(name, key, stored)
        elif progress:
            progress(len(paths), len(paths))
        kept = stored["ids"]
        labels = None
        if split == "train":
            labels = np.array([class_index(self.labels[int(i)]) for i in kept], dtype=np.int64)
        skipped = list(zip(stored["skipped_files"].tolist(), stored["skipped_reasons"].tolist()))
        return LoadedImages(split, kept, stored["images"], labels, skipped)


def _file_signatures(paths: list[Path]) -> list[str]:
    signatures = []
    for path in paths:
        stat = path.stat()
        signatures.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return signatures


def _decode(paths, ids, size, mode, keep_aspect, skip_bad, workers, progress) -> dict[str, np.ndarray]:
    # Pillow releases the GIL while decoding and resizing, so threads use every core.
    workers = workers or min(8, os.cpu_count() or 1)
    chunk = 256
    chunks = [range(start, min(start + chunk, len(paths))) for start in range(0, len(paths), chunk)]
    shape = (size, size) if mode == "L" else (size, size, 3)
    images = np.zeros((len(paths),) + shape, dtype=np.uint8)
    errors: dict[int, str] = {}

    def work(indices: range) -> int:
        for index in indices:
            try:
                images[index] = load_resized(paths[index], size, mode, keep_aspect)
            except DataError as err:
                if not skip_bad:
                    raise
                errors[index] = str(err)
        return len(indices)

    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for count in pool.map(work, chunks):
            done += count
            if progress:
                progress(done, len(paths))
    keep = np.array([i not in errors for i in range(len(paths))], dtype=bool)
    bad = sorted(errors)
    return {
        "ids": np.asarray(ids, dtype=np.int64)[keep],
        "images": images[keep],
        "skipped_files": np.array([str(paths[i]) for i in bad], dtype=str),
        "skipped_reasons": np.array([errors[i] for i in bad], dtype=str),
    }
