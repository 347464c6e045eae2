import hashlib

import numpy as np
import pytest
import torch
from torch import nn

from julia_core.dataset import KaggleDataset
from julia_core.demo import BUILTIN_FONT, available_fonts, generate_demo, render_character
from julia_core.errors import DataError
from julia_core.labels import CLASSES, class_index


def digest_folder(root):
    sha = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        sha.update(path.relative_to(root).as_posix().encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()


def test_small_demo_is_a_valid_kaggle_set(small_demo):
    dataset = KaggleDataset(small_demo)
    assert len(dataset.train_ids) == 62 * 3 and len(dataset.test_ids) == 62
    assert sorted(set(dataset.labels.values())) == sorted(CLASSES)
    assert dataset.sources("train") == ["resized", "original"] == dataset.sources("test")
    assert (small_demo / "trainLabels.csv").read_bytes().startswith(b"ID,Class\r\n")
    answers = dataset.answer_key()
    assert sorted(answers) == dataset.test_ids and sorted(set(answers.values())) == sorted(CLASSES)
    assert min(dataset.test_ids) == max(dataset.train_ids) + 1


def test_demo_mimics_the_real_files(small_demo):
    original = next((small_demo / "train").iterdir())
    assert original.suffix == ".Bmp" and original.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    resized = next((small_demo / "trainResized").iterdir())
    assert resized.read_bytes()[:2] == b"BM"
    from PIL import Image
    with Image.open(resized) as image:
        assert image.size == (20, 20)
    sizes = set()
    for path in (small_demo / "train").iterdir():
        with Image.open(path) as image:
            sizes.add(image.size)
    assert len(sizes) > 100  # varied original sizes and aspect ratios


def test_same_seed_same_bytes(tmp_path, small_demo):
    again = generate_demo(tmp_path / "again", 3, 1, seed=0, workers=2).root
    assert digest_folder(again) == digest_folder(small_demo)
    other = generate_demo(tmp_path / "other", 3, 1, seed=1, workers=1).root
    assert digest_folder(other) != digest_folder(small_demo)


def test_refuses_to_overwrite_without_force(tmp_path, small_demo):
    out = tmp_path / "set"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="folder exists and is not empty"):
        generate_demo(out, 1, 0)
    assert (out / "precious.txt").read_text() == "keep me"
    generate_demo(out, 1, 0, force=True, workers=1)
    assert not (out / "precious.txt").exists() and len(list((out / "train").iterdir())) == 62


def test_no_test_images_when_asked(tmp_path):
    """A pre-training set: train only, no empty test folders (an empty folder is an error)."""
    root = generate_demo(tmp_path / "set", 1, 0, workers=1).root
    assert not (root / "test").exists() and not (root / "testResized").exists()
    dataset = KaggleDataset(root)
    assert len(dataset.load("train", "original", 20, "L").labels) == 62


def test_builtin_font_always_available():
    fonts = available_fonts()
    assert fonts[0] == BUILTIN_FONT
    image = render_character("Q", np.random.default_rng(0), [BUILTIN_FONT])
    assert image.mode == "RGB" and min(image.size) >= 4


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("demo") / "default").root


def standardize(images: np.ndarray) -> torch.Tensor:
    """Per image: light-on-dark and dark-on-light look alike to the model."""
    x = torch.from_numpy(images).float().unsqueeze(1)
    return (x - x.mean((2, 3), keepdim=True)) / (x.std((2, 3), keepdim=True) + 1.0)


def test_a_short_training_run_beats_chance_by_far(default_demo):
    """A small CNN, 5 epochs on the CPU: far above the 1/62 of guessing."""
    torch.manual_seed(0)
    dataset = KaggleDataset(default_demo)
    train, test = dataset.load("train", size=28), dataset.load("test", size=28)
    answers = dataset.answer_key()
    x, y = standardize(train.images), torch.from_numpy(train.labels)
    x_test = standardize(test.images)
    y_test = torch.tensor([class_index(answers[int(i)]) for i in test.ids])
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(128, 62))
    epochs, batches = 5, torch.randperm(len(x)).split(64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 5e-3, total_steps=epochs * len(batches))
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
            schedule.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.4, f"test accuracy {accuracy:.3f} (chance: {1 / 62:.3f})"
