import os

import numpy as np
import pytest
from conftest import make_set, write_image

import julia_core.data.dataset as dataset_module
from julia_core.data.dataset import KaggleDataset
from julia_core.errors import DataError
from julia_core.data.export import export_folder_name, write_bmp_folder
from julia_core.data.split import stratified_split


def test_opens_the_kaggle_layout(tmp_path):
    dataset = KaggleDataset(make_set(tmp_path / "set"))
    assert dataset.train_ids == [1, 2, 3, 4, 5, 6]
    assert dataset.test_ids == [101, 102]
    assert dataset.sources("train") == ["resized", "original"]
    assert dataset.label_of(3) == "7"
    assert dataset.answer_key() is None


@pytest.mark.parametrize("folders,train_sources,test_sources", [
    (("trainResized",), ["resized"], []),
    (("train", "test"), ["original"], ["original"]),
    (("trainResized", "testResized"), ["resized"], ["resized"]),
])
def test_any_subset_of_folders(tmp_path, folders, train_sources, test_sources):
    dataset = KaggleDataset(make_set(tmp_path / "set", folders=folders))
    assert dataset.sources("train") == train_sources and dataset.sources("test") == test_sources
    assert dataset.default_source("train") == train_sources[0]


def test_lower_case_and_other_extensions(tmp_path):
    root = make_set(tmp_path / "set", labels={1: "a", 2: "b", 3: "c"}, folders=("trainResized",))
    os.rename(root / "trainResized/1.Bmp", root / "trainResized/1.bmp")
    (root / "trainResized/2.Bmp").unlink()
    write_image(root / "trainResized/2.PNG", fmt="PNG")
    (root / "trainResized/3.Bmp").unlink()
    write_image(root / "trainResized/3.jpeg", fmt="JPEG")
    (root / "trainResized/notes.txt").write_text("x")
    dataset = KaggleDataset(root)
    assert dataset.folders["train", "resized"].ignored == ("notes.txt",)
    assert dataset.load().images.shape == (3, 28, 28)


def test_path_does_not_exist(tmp_path):
    with pytest.raises(DataError, match="nowhere: no such folder"):
        KaggleDataset(tmp_path / "nowhere")


def test_path_is_a_file(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DataError, match="file.txt: is not a folder"):
        KaggleDataset(tmp_path / "file.txt")


def test_no_image_folders(tmp_path):
    root = make_set(tmp_path / "set", folders=())
    with pytest.raises(DataError, match=r"no train images \(expected a trainResized/ or train/ folder\)"):
        KaggleDataset(root)


def test_empty_image_folder(tmp_path):
    root = make_set(tmp_path / "set", folders=("trainResized",))
    (root / "test").mkdir()
    with pytest.raises(DataError, match="test: folder holds no images"):
        KaggleDataset(root)


def test_missing_csv(tmp_path):
    root = make_set(tmp_path / "set")
    (root / "trainLabels.csv").unlink()
    with pytest.raises(DataError, match="trainLabels.csv: file not found"):
        KaggleDataset(root)


def test_id_without_image(tmp_path):
    root = make_set(tmp_path / "set")
    (root / "train/4.Bmp").unlink()
    (root / "train/5.Bmp").unlink()
    with pytest.raises(DataError, match=r"train: no image for ID 4 and 1 more listed in trainLabels.csv"):
        KaggleDataset(root)


def test_test_folders_disagree(tmp_path):
    root = make_set(tmp_path / "set")
    (root / "test/102.Bmp").unlink()
    with pytest.raises(DataError, match="test: no image for ID 102, which testResized/ has"):
        KaggleDataset(root)


def test_two_files_for_one_id(tmp_path):
    root = make_set(tmp_path / "set")
    write_image(root / "trainResized/1.png", fmt="PNG")
    with pytest.raises(DataError, match="two images for ID 1"):
        KaggleDataset(root)


@pytest.mark.parametrize("source,size,mode,shape", [
    ("resized", 28, "L", (6, 28, 28)), ("resized", 64, "RGB", (6, 64, 64, 3)),
    ("original", 32, "L", (6, 32, 32)), ("original", 20, "RGB", (6, 20, 20, 3)),
])
def test_load_shapes_and_labels(tmp_path, source, size, mode, shape):
    loaded = KaggleDataset(make_set(tmp_path / "set")).load("train", source, size, mode)
    assert loaded.images.shape == shape and loaded.images.dtype == np.uint8
    assert loaded.ids.tolist() == [1, 2, 3, 4, 5, 6]
    assert loaded.labels.tolist() == [0, 27, 59, 0, 27, 59]  # a, B, 7


def test_test_split_has_no_labels(tmp_path):
    loaded = KaggleDataset(make_set(tmp_path / "set")).load("test", size=28)
    assert loaded.labels is None and loaded.ids.tolist() == [101, 102]


def test_keep_aspect_differs_from_stretch(tmp_path):
    dataset = KaggleDataset(make_set(tmp_path / "set"))
    padded = dataset.load("train", "original", 28, "L", keep_aspect=True).images
    stretched = dataset.load("train", "original", 28, "L").images
    assert padded.shape == stretched.shape and not np.array_equal(padded, stretched)


@pytest.mark.parametrize("kwargs,message", [
    ({"size": 3}, "image size must be between 4 and 512 px, got 3"),
    ({"mode": "CMYK"}, "mode must be 'L' .* got 'CMYK'"),
    ({"split": "test", "source": "original"}, "has no test/ folder"),
])
def test_bad_load_options(tmp_path, kwargs, message):
    dataset = KaggleDataset(make_set(tmp_path / "set", folders=("trainResized", "testResized")))
    with pytest.raises(DataError, match=message):
        dataset.load(**kwargs)


def test_bad_image_is_named(tmp_path):
    root = make_set(tmp_path / "set")
    (root / "trainResized/3.Bmp").write_bytes(b"")
    with pytest.raises(DataError, match=r"trainResized/3.Bmp: file is empty"):
        KaggleDataset(root).load()


def test_skipping_bad_images_is_opt_in_and_reported(tmp_path):
    root = make_set(tmp_path / "set")
    (root / "trainResized/3.Bmp").write_bytes(b"")
    (root / "trainResized/5.Bmp").write_text("not an image")
    loaded = KaggleDataset(root).load(skip_bad=True)
    assert loaded.ids.tolist() == [1, 2, 4, 6] and loaded.labels.tolist() == [0, 27, 0, 59]
    assert [file.rsplit("/", 1)[-1] for file, _ in loaded.skipped] == ["3.Bmp", "5.Bmp"]
    assert "file is empty" in loaded.skipped[0][1] and "not an image" in loaded.skipped[1][1]
    again = KaggleDataset(root).load(skip_bad=True)  # from the cache: still reported
    assert again.skipped == loaded.skipped


class CountingDecoder:
    def __init__(self, monkeypatch):
        self.calls = 0
        real = dataset_module.load_resized

        def counting(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(dataset_module, "load_resized", counting)


def test_warm_load_reads_the_cache(tmp_path, monkeypatch, isolated_cache):
    decoder = CountingDecoder(monkeypatch)
    dataset = KaggleDataset(make_set(tmp_path / "set"))
    cold = dataset.load(size=32)
    assert decoder.calls == 6 and len(list(isolated_cache.glob("*.npz"))) == 1
    warm = KaggleDataset(dataset.root).load(size=32)
    assert decoder.calls == 6
    assert np.array_equal(cold.images, warm.images) and np.array_equal(cold.labels, warm.labels)


def test_changed_image_invalidates_the_cache(tmp_path, monkeypatch):
    decoder = CountingDecoder(monkeypatch)
    root = make_set(tmp_path / "set")
    before = KaggleDataset(root).load()
    write_image(root / "trainResized/2.Bmp", seed=99)
    after = KaggleDataset(root).load()
    assert decoder.calls == 12
    assert not np.array_equal(before.images[1], after.images[1])
    assert np.array_equal(before.images[0], after.images[0])


def test_changed_labels_need_no_decode(tmp_path, monkeypatch):
    decoder = CountingDecoder(monkeypatch)
    root = make_set(tmp_path / "set", labels={1: "a", 2: "b"}, folders=("trainResized",))
    KaggleDataset(root).load()
    (root / "trainLabels.csv").write_text("ID,Class\n1,z\n2,b\n")
    assert KaggleDataset(root).load().labels.tolist() == [25, 1]
    assert decoder.calls == 2


def test_each_option_has_its_own_entry(tmp_path, monkeypatch, isolated_cache):
    decoder = CountingDecoder(monkeypatch)
    dataset = KaggleDataset(make_set(tmp_path / "set"))
    for kwargs in ({}, {"size": 32}, {"mode": "RGB"}, {"keep_aspect": True}, {"source": "original"}):
        dataset.load(**kwargs)
        dataset.load(**kwargs)
    assert decoder.calls == 5 * 6 and len(list(isolated_cache.glob("*.npz"))) == 5


def test_torn_cache_file_is_a_miss(tmp_path, isolated_cache):
    dataset = KaggleDataset(make_set(tmp_path / "set"))
    first = dataset.load()
    for path in isolated_cache.glob("*.npz"):
        path.write_bytes(b"garbage")
    assert np.array_equal(dataset.load().images, first.images)


def test_unwritable_cache_still_loads(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    loaded = KaggleDataset(make_set(tmp_path / "set")).load(cache_dir=blocker / "cache")
    assert len(loaded) == 6


def test_progress_is_reported(tmp_path):
    seen = []
    KaggleDataset(make_set(tmp_path / "set")).load(progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (6, 6)


def test_export_writes_bmp_folders(tmp_path):
    loaded = KaggleDataset(make_set(tmp_path / "set")).load("train", size=32)
    folder = write_bmp_folder(loaded, tmp_path / "out" / export_folder_name("train", 32, "L", "resized", False))
    assert folder.name == "trainResized_32"
    assert export_folder_name("test", 64, "RGB", "original", True) == "testResized_64_rgb_from_original_pad"
    files = sorted(folder.iterdir())
    assert len(files) == 6 and files[0].read_bytes()[:2] == b"BM"
    from PIL import Image
    with Image.open(folder / "1.Bmp") as image:
        assert image.size == (32, 32) and image.mode == "L"


def test_split_is_stratified_and_reproducible():
    labels = np.repeat(np.arange(10), [50, 40, 30, 20, 10, 5, 4, 3, 2, 1])
    train, val = stratified_split(labels, 0.2, seed=1)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(labels)
    for label, count in zip(range(10), [50, 40, 30, 20, 10, 5, 4, 3, 2, 1]):
        in_val = int((labels[val] == label).sum())
        expected = 0 if count == 1 else max(1, round(count * 0.2))
        assert in_val == expected
    again = stratified_split(labels, 0.2, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((train, val), again))
    other = stratified_split(labels, 0.2, seed=2)
    assert not np.array_equal(val, other[1])


def test_split_without_validation():
    train, val = stratified_split(np.arange(5) % 2, 0.0)
    assert len(val) == 0 and len(train) == 5


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 2])
def test_split_rejects_bad_fraction(fraction):
    with pytest.raises(DataError, match="validation fraction"):
        stratified_split(np.zeros(4), fraction)
