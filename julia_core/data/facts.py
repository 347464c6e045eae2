"""What a data set holds: counts, classes, image sizes, modes and formats per folder."""
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from julia_core.data.dataset import KaggleDataset, folder_name
from julia_core.data.images import open_image
from julia_core.data.classes import CLASSES


@dataclass
class FolderFacts:
    folder: str
    count: int
    modes: Counter
    formats: Counter
    widths: np.ndarray
    heights: np.ndarray
    ignored: tuple[str, ...]

    def size_text(self) -> str:
        sizes = set(zip(self.widths.tolist(), self.heights.tolist()))
        if len(sizes) == 1:
            width, height = sizes.pop()
            return f"all {width}x{height}"
        return (f"{self.widths.min()}x{self.heights.min()} to {self.widths.max()}x{self.heights.max()}, "
                f"median {int(np.median(self.widths))}x{int(np.median(self.heights))}")


@dataclass
class DatasetFacts:
    root: str
    train_count: int
    test_count: int
    class_counts: dict[str, int]  # every class in a-z A-Z 0-9 order, zeros included
    folders: list[FolderFacts]

    @property
    def classes_present(self) -> int:
        return sum(1 for count in self.class_counts.values() if count)


def gather_facts(dataset: KaggleDataset, decode: bool = True, workers: int = 4) -> DatasetFacts:
    """decode=True decodes every image, so a truncated file is found here, not mid-training."""
    folders = []
    for (split, source), folder in dataset.folders.items():
        paths = list(folder.files.values())
        with ThreadPoolExecutor(max_workers=workers) as pool:
            facts = list(pool.map(lambda path: _image_facts(path, decode), paths))
        modes, formats, sizes = zip(*facts)
        sizes = np.array(sizes)
        folders.append(FolderFacts(folder_name(split, source) + "/", len(paths), Counter(modes),
                                     Counter(formats), sizes[:, 0], sizes[:, 1], folder.ignored))
    counts = Counter(dataset.labels.values())
    return DatasetFacts(str(dataset.root), len(dataset.train_ids), len(dataset.test_ids),
                          {name: counts.get(name, 0) for name in CLASSES}, folders)


def _image_facts(path, decode: bool):
    image = open_image(path, decode=decode)
    return image.mode, image.format or "?", image.size


def fact_lines(facts: DatasetFacts) -> list[str]:
    """The text `python -m julia_core info` prints."""
    counts = [c for c in facts.class_counts.values() if c]
    lines = [
        f"data set:      {facts.root}",
        f"train images:  {facts.train_count} labelled",
        f"test images:   {facts.test_count}",
        f"classes:       {facts.classes_present} of {len(facts.class_counts)} "
        f"(images per class {min(counts)} to {max(counts)})",
    ]
    for folder in facts.folders:
        modes = ", ".join(f"{mode} {n}" for mode, n in folder.modes.most_common())
        formats = ", ".join(f"{fmt} {n}" for fmt, n in folder.formats.most_common())
        lines.append(f"{folder.folder:<14} {folder.count} images, {folder.size_text()}; "
                     f"modes {modes}; formats {formats}")
        if folder.ignored:
            shown = ", ".join(folder.ignored[:5]) + (" ..." if len(folder.ignored) > 5 else "")
            lines.append(f"{'':<14} ignored {len(folder.ignored)} entries not named <ID>.<bmp|png|jpg>: {shown}")
    return lines
