"""The real competition files, where ../shared/julia-kaggle is present; skipped elsewhere."""
import numpy as np
import pytest
from conftest import REAL_DATA, needs_real_data
from PIL import Image

from julia_core.cli import main
from julia_core.data.dataset import KaggleDataset
from julia_core.data.label_file import read_labels

pytestmark = needs_real_data


@pytest.fixture(scope="module")
def real():
    return KaggleDataset(REAL_DATA)


def test_counts(real):
    assert len(real.train_ids) == 5028 and len(real.test_ids) == 6220
    assert real.test_ids[0] == 6284 and real.test_ids[-1] == 12503
    assert len(set(real.labels.values())) == 62
    assert real.sources("train") == ["resized", "original"] == real.sources("test")


def test_crlf_labels(real):
    assert (REAL_DATA / "trainLabels.csv").read_bytes()[:10] == b"ID,Class\r\n"
    assert read_labels(REAL_DATA / "trainLabels.csv")[1] == "n"


def test_originals_are_png_behind_bmp_names(real):
    path = real.image_path("train", "original", 1)
    assert path.name == "1.Bmp" and path.read_bytes()[:4] == b"\x89PNG"


def test_grey_files_load_with_the_right_shape(real):
    grey = []
    for image_id, path in real.folders["train", "resized"].files.items():
        with Image.open(path) as image:
            if image.mode == "L":
                grey.append(image_id)
    assert grey, "the real set has a few 8-bit grey 20x20 files"
    loaded = real.load("train", "resized", 28, "L")
    rgb = real.load("train", "resized", 28, "RGB")
    index = loaded.ids.tolist().index(grey[0])
    assert loaded.images[index].shape == (28, 28) and rgb.images[index].shape == (28, 28, 3)
    assert loaded.images[index].std() > 0


def test_whole_test_split_loads(real):
    loaded = real.load("test", "resized", 28, "L")
    assert loaded.images.shape == (6220, 28, 28) and loaded.labels is None
    assert np.array_equal(loaded.ids, np.arange(6284, 12504))


def test_info_command(capsys):
    assert main(["info", "--data", str(REAL_DATA), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "train images:  5028 labelled" in out and "test images:   6220" in out
