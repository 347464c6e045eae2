from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from julia_core.demo import generate_demo
from julia_core.label_file import write_labels

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = REPO_ROOT.parent / "shared" / "julia-kaggle"
needs_real_data = pytest.mark.skipif(not (REAL_DATA / "trainLabels.csv").exists(),
                                     reason=f"real competition data not found at {REAL_DATA}")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's cache or data set."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("JULIA_CACHE", str(cache))
    monkeypatch.delenv("JULIA_DATA", raising=False)
    return cache


def write_image(path: Path, size=(20, 20), mode="RGB", fmt="BMP", seed=0) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8).squeeze()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode).save(path, format=fmt)
    return path


def make_set(root: Path, labels: dict[int, str] | None = None, test_ids=(101, 102),
             folders=("trainResized", "train", "testResized", "test")) -> Path:
    """A tiny Kaggle-layout set: 20x20 BMP copies, PNG originals behind .Bmp names."""
    labels = labels if labels is not None else {1: "a", 2: "B", 3: "7", 4: "a", 5: "B", 6: "7"}
    root.mkdir(parents=True, exist_ok=True)
    write_labels(root / "trainLabels.csv", labels)
    for folder in folders:
        ids = labels if folder.startswith("train") else test_ids
        original = not folder.endswith("Resized")
        for image_id in ids:
            write_image(root / folder / f"{image_id}.Bmp", size=(30, 45) if original else (20, 20),
                        fmt="PNG" if original else "BMP", seed=image_id)
    return root


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """3 train + 1 test image per class: quick to make, every class present."""
    return generate_demo(tmp_path_factory.mktemp("demo") / "small", 3, 1, seed=0, workers=1).root
