import hashlib
import io
import re
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import ImageFont
from torch import nn

from julia_core.data.dataset import KaggleDataset
from julia_core.synthetic import demo
from julia_core.training import pretrain
from julia_core.training.config import make_config
from julia_core.synthetic.demo import BUILTIN_FONT, Drawing, available_fonts, generate_demo, reads_as_latin, render_character
from julia_core.errors import DataError
from julia_core.data.classes import CLASSES, class_index


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
    again = generate_demo(tmp_path / "again", 3, 1, seed=0, drawing=Drawing(workers=2)).root
    assert digest_folder(again) == digest_folder(small_demo)
    other = generate_demo(tmp_path / "other", 3, 1, seed=1, drawing=Drawing(workers=1)).root
    assert digest_folder(other) != digest_folder(small_demo)


def test_drawing_processes_draw_the_same_bytes_as_threads(tmp_path, small_demo, monkeypatch, caplog):
    """The pre-training's large sets are drawn by processes (threads use under 2 of a GPU machine's
    16 cores): the same set, whatever draws it."""
    monkeypatch.setattr(demo, "PROCESSES_FROM", 0)
    with caplog.at_level("WARNING"):
        drawn = generate_demo(tmp_path / "by-processes", 3, 1, seed=0, drawing=Drawing(workers=2, processes=True)).root
    assert "drawing processes could not start" not in caplog.text, "the processes drew it, not the fallback"
    assert digest_folder(drawn) == digest_folder(small_demo)


def test_a_stop_request_ends_the_drawing_and_leaves_no_set(tmp_path):
    asked = []
    stop_at_third = Drawing(workers=1, should_stop=lambda: asked.append(1) or len(asked) >= 3)
    with pytest.raises(demo.DrawingStopped, match="stopped after 192 of 620 images"):
        generate_demo(tmp_path / "set", 10, 0, drawing=stop_at_third)
    assert list(tmp_path.iterdir()) == [], "neither the set nor its staging folder is left"


def test_refuses_to_overwrite_without_force(tmp_path, small_demo):
    out = tmp_path / "set"
    out.mkdir()
    (out / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="folder exists and is not empty"):
        generate_demo(out, 1, 0)
    assert (out / "precious.txt").read_text() == "keep me"
    generate_demo(out, 1, 0, force=True, drawing=Drawing(workers=1))
    assert not (out / "precious.txt").exists() and len(list((out / "train").iterdir())) == 62


def test_no_test_images_when_asked(tmp_path):
    """A pre-training set: train only, no empty test folders (an empty folder is an error)."""
    root = generate_demo(tmp_path / "set", 1, 0, drawing=Drawing(workers=1)).root
    assert not (root / "test").exists() and not (root / "testResized").exists()
    dataset = KaggleDataset(root)
    assert len(dataset.load("train", "original", 20, "L").labels) == 62


def test_builtin_font_always_available():
    fonts = available_fonts()
    assert fonts[0] == BUILTIN_FONT
    image = render_character("Q", np.random.default_rng(0), [BUILTIN_FONT])
    assert image.mode == "RGB" and min(image.size) >= 4


class RedrawnFont(ImageFont.FreeTypeFont):
    """The built-in font drawing other characters than asked: a stand-in for a bad font file."""
    def __init__(self, redraw):
        super().__init__(io.BytesIO(ImageFont.load_default(64).font_bytes), 64)
        self.redraw = redraw

    def getmask2(self, text, *args, **kwargs):
        return super().getmask2(self.redraw(text), *args, **kwargs)


def test_fonts_that_would_draw_wrong_labels_are_left_out():
    assert reads_as_latin(ImageFont.load_default(64))
    assert reads_as_latin(RedrawnFont(lambda text: text))
    assert not reads_as_latin(RedrawnFont(str.upper)), "small caps: 'a' drawn as 'A'"
    shifted = str.maketrans(demo.PROBE, demo.PROBE[1:] + demo.PROBE[0])
    assert not reads_as_latin(RedrawnFont(lambda text: text.translate(shifted))), "a symbol font"
    assert not reads_as_latin(RedrawnFont(lambda text: "%")), "one glyph for every letter"
    lowercase = str.maketrans("abdeghknprsy", "bdeghknprsya")
    assert not reads_as_latin(RedrawnFont(lambda text: text.translate(lowercase))), \
        "capitals right, lowercase other letters: Greek behind Latin codes"


def test_fonts_without_a_glyph_for_every_class_are_left_out():
    assert demo.draws_every_class(RedrawnFont(lambda text: text))
    assert not demo.draws_every_class(RedrawnFont(lambda text: "" if text.isdigit() else text)), "blank digits"
    assert not demo.draws_every_class(RedrawnFont(lambda text: "\uffff" if text == "Q" else text)), \
        "the missing-glyph box for Q"


def test_font_checks_are_kept_until_the_file_changes(monkeypatch, tmp_path):
    monkeypatch.setenv("JULIA_CACHE", str(tmp_path / "cache"))
    fonts = tmp_path / "fonts"
    fonts.mkdir()
    good, bad = fonts / "Good.ttf", fonts / "Broken.ttf"
    good.write_bytes(ImageFont.load_default(64).font_bytes)
    bad.write_bytes(b"not a font")
    monkeypatch.setattr(demo, "FONT_PATTERNS", (str(fonts / "*.ttf"),))
    checked = []
    real_check = demo._usable_family
    monkeypatch.setattr(demo, "_usable_family", lambda path: checked.append(path) or real_check(path))
    assert available_fonts() == [BUILTIN_FONT, str(good)] and len(checked) == 2
    assert available_fonts() == [BUILTIN_FONT, str(good)] and len(checked) == 2, "verdicts from the cache"
    bad.write_bytes(ImageFont.load_default(64).font_bytes)  # fixed: another size
    assert available_fonts() == [BUILTIN_FONT, str(bad), str(good)] and checked[2:] == [str(bad)]
    (tmp_path / "cache" / "fonts.json").write_text("{not json")
    assert available_fonts() == [BUILTIN_FONT, str(bad), str(good)] and len(checked) == 5, "a broken cache: checked again"


def test_font_faces_kept_per_thread_are_bounded(monkeypatch):
    """Each face maps its file: an unbounded cache of fonts x sizes runs out of memory maps."""
    monkeypatch.setattr(demo, "FACES_PER_THREAD", 3)
    for size in range(10, 20):
        demo._font(BUILTIN_FONT, size)
    assert list(demo._thread_fonts.fonts) == [(BUILTIN_FONT, size) for size in (17, 18, 19)]


def test_each_font_family_is_drawn_about_as_often(monkeypatch):
    """Nine styles of one family and one of another: each family about half the time."""
    fonts = [f"wide-{i}" for i in range(9)] + ["lone"]
    monkeypatch.setattr(demo, "_family_name", lambda font: font.split("-")[0])
    rng = np.random.default_rng(0)
    counts = Counter(demo._choose_font(fonts, rng) for _ in range(2000))
    assert 900 < counts["lone"] < 1100 and set(counts) == set(fonts)


def test_other_fonts_on_the_machine_make_another_synthetic_set(monkeypatch, tmp_path):
    """The cached synthetic characters and pre-trained weights are keyed by the fonts that drew them."""
    monkeypatch.setenv("JULIA_CACHE", str(tmp_path))
    drawn = []

    def draw(root, *args, **kwargs):
        drawn.append(root)
        root.mkdir(parents=True)
        (root / "trainLabels.csv").write_text("Id,Class\n")
    monkeypatch.setattr(demo, "generate_demo", draw)
    monkeypatch.setattr(demo, "font_families", lambda fonts: [[font] for font in fonts])  # no file opened
    config = make_config("fast", data=str(tmp_path), pretrain=2, pretrain_epochs=1)
    paths = []
    for fonts in ([BUILTIN_FONT], [BUILTIN_FONT, "/fonts/New-Regular.ttf"], [BUILTIN_FONT]):
        monkeypatch.setattr(demo, "machine_fonts", lambda: fonts)
        paths.append((pretrain.synthetic_set(2, 0), pretrain.weights_path(config, torch.device("cpu"))))
    first, new_font, first_again = paths
    assert first_again == first and drawn == [first[0], new_font[0]], "drawn once per font list"
    assert new_font[1] != first[1]


def test_pretrained_weights_are_kept_apart_by_precision_and_layout(monkeypatch, tmp_path):
    """bf16 and float32, NCHW and NHWC pre-training give slightly different weights: each its own entry."""
    from dataclasses import replace
    from julia_core.training import device
    monkeypatch.setenv("JULIA_CACHE", str(tmp_path))
    monkeypatch.setattr(demo, "machine_fonts", lambda: [BUILTIN_FONT])
    cpu = torch.device("cpu")
    config = make_config("fast", data=str(tmp_path), pretrain=2, pretrain_epochs=1)
    paths = {}
    for native in (True, False):
        monkeypatch.setattr(device, "bf16_native", lambda device: native)
        paths[native] = pretrain.weights_path(config, cpu)
    assert paths[True] != paths[False]
    assert pretrain.weights_path(replace(config, amp=False), cpu) == paths[False], "--no-amp: float32 anywhere"
    assert pretrain.weights_path(replace(config, channels_last=not config.channels_last), cpu) != paths[False]
    assert pretrain.weights_path(replace(config, ema=0.99, device="cpu"), cpu) == paths[False], "not shaping"


def test_few_font_families_are_pointed_out(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("JULIA_CACHE", str(tmp_path))
    monkeypatch.setattr(demo, "generate_demo", lambda root, *args, **kwargs: None)
    monkeypatch.setattr(demo, "machine_fonts", lambda: [BUILTIN_FONT])
    with caplog.at_level("INFO", logger="julia_core.trainer"):
        pretrain.synthetic_set(2, 0)
    assert "only 1 font families here: scripts/install_fonts.sh" in caplog.text
    assert "drew 124 synthetic characters in 1 font families" in caplog.text


@pytest.fixture(scope="module")
def default_demo(tmp_path_factory):
    return generate_demo(tmp_path_factory.mktemp("demo") / "default").root


def standardize(images: np.ndarray) -> torch.Tensor:
    """Per image: light-on-dark and dark-on-light look alike to the model."""
    x = torch.from_numpy(images).float().unsqueeze(1)
    return (x - x.mean((2, 3), keepdim=True)) / (x.std((2, 3), keepdim=True) + 1.0)


@pytest.mark.slow
def test_a_short_training_run_beats_chance_by_far(default_demo):
    """A small CNN, 5 epochs on the CPU: far above the 1/62 of guessing."""
    torch.manual_seed(0)
    dataset = KaggleDataset(default_demo)
    train, test = dataset.load("train", size=28), dataset.load("test", size=28)
    answers = dataset.answer_key()
    x, y = standardize(train.images), torch.from_numpy(train.labels)
    x_test = standardize(test.images)
    y_test = torch.tensor([class_index(answers[int(i)]) for i in test.ids])
    model = nn.Sequential(  # 16-32-64 channels: 0.53 in 8 s on 2 cores (32-64-128: 0.67 in 20 s)
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(64, 62))
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


def test_a_stop_while_the_synthetic_set_is_drawn_ends_the_pre_training(monkeypatch, tmp_path, caplog):
    """The best preset draws 124,000 characters first (minutes): a Stop then must not wait for them."""
    from julia_core.training.stop_flag import StopFlag
    monkeypatch.setenv("JULIA_CACHE", str(tmp_path))
    monkeypatch.setattr(demo, "machine_fonts", lambda: [BUILTIN_FONT])
    monkeypatch.setattr(StopFlag, "requested", True)
    with caplog.at_level("INFO", logger="julia_core.trainer"):
        assert pretrain.synthetic_set(2, 0) is None
    assert re.search(r"drawing the synthetic set: stopped after (64|60) of 124 images", caplog.text)
    assert not list((tmp_path / "synthetic").iterdir()), "no half-drawn set in the cache"
