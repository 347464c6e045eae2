"""What the Data page shows: samples of a label, one image by ID, the train/validation split."""
from collections import Counter

import numpy as np
import pandas as pd
from PIL import Image

from julia_core.data.dataset import KaggleDataset, LoadedImages
from julia_core.errors import DataError
from julia_core.data.images import open_image
from julia_core.data.classes import CLASSES
from julia_core.data.split import stratified_split


def ids_for_label(dataset: KaggleDataset, label: str) -> list[int]:
    return [image_id for image_id, name in dataset.labels.items() if name == label]


def page_count(items: int, per_page: int) -> int:
    return max(1, -(-items // per_page))


def page(items: list, number: int, per_page: int) -> tuple[list, int]:
    """Items of page `number` (1-based, clamped) and the page count."""
    pages = page_count(len(items), per_page)
    number = min(max(1, number), pages)
    return items[(number - 1) * per_page:number * per_page], pages


def rows_by_id(loaded: LoadedImages) -> dict[int, int]:
    return {int(image_id): row for row, image_id in enumerate(loaded.ids)}


def rows_for(loaded: LoadedImages, ids) -> tuple[dict[int, int], list[int]]:
    """The rows of these IDs in `loaded`, and the IDs it does not hold (a run trained on another
    data set than the one open now)."""
    rows = rows_by_id(loaded)
    return ({int(i): rows[int(i)] for i in ids if int(i) in rows}, [int(i) for i in ids if int(i) not in rows])


def original_image(dataset: KaggleDataset, split: str, image_id: int) -> Image.Image | None:
    """The original crop (train/ or test/), or None when the set has no originals."""
    if "original" not in dataset.sources(split):
        return None
    return open_image(dataset.image_path(split, "original", image_id))


def find_id(dataset: KaggleDataset, image_id: int) -> dict:
    """Where an ID lives: its split, label (train), answer (demo test) and files."""
    image_id = int(image_id)
    if image_id in dataset.labels:
        split = "train"
    elif image_id in set(dataset.test_ids):
        split = "test"
    else:
        raise DataError(f"ID {image_id} is neither a labelled train image nor a test image of {dataset.root}")
    answers = dataset.answer_key() if split == "test" else None
    files = {source: dataset.image_path(split, source, image_id) for source in dataset.sources(split)}
    return {"id": image_id, "split": split, "label": dataset.labels.get(image_id),
            "answer": answers.get(image_id) if answers else None, "files": files}


def label_text(found: dict) -> str:
    """How the Data page names find_id's answer: the label, or what is known of a test image."""
    if found["label"]:
        return found["label"]
    return f"test (answer key: {found['answer']})" if found["answer"] else "test, unlabelled"


# The Data page's histogram: every labelled image, or the two sides of the split training uses.
ALL_LABELLED, BY_SPLIT = "All labelled images", "Train / validation split (4:1, seed 0)"


def split_counts(dataset: KaggleDataset, val_fraction: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """Images per class on each side of the stratified split training uses."""
    labels = np.array([CLASSES.index(name) for name in dataset.labels.values()])
    fit, val = stratified_split(labels, val_fraction, seed)
    fit_counts, val_counts = Counter(labels[fit].tolist()), Counter(labels[val].tolist())
    return pd.DataFrame({"class": list(CLASSES) * 2,
                         "images": [fit_counts.get(i, 0) for i in range(len(CLASSES))]
                         + [val_counts.get(i, 0) for i in range(len(CLASSES))],
                         "part": ["train"] * len(CLASSES) + ["validation"] * len(CLASSES)})


def folder_frame(facts) -> pd.DataFrame:
    """One row per image folder: count, sizes, modes, formats, ignored entries."""
    return pd.DataFrame([{
        "folder": f.folder, "images": f.count, "sizes": f.size_text(),
        "modes": ", ".join(f"{m} {n}" for m, n in f.modes.most_common()),
        "formats": ", ".join(f"{m} {n}" for m, n in f.formats.most_common()),
        "ignored entries": len(f.ignored),
    } for f in facts.folders])
