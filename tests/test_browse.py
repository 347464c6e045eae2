import pytest
from PIL import Image

from julia_core.data import browse
from julia_core.data.dataset import KaggleDataset
from julia_core.errors import DataError


def test_ids_for_label_and_paging(small_demo):
    dataset = KaggleDataset(small_demo)
    ids = browse.ids_for_label(dataset, "Q")
    assert len(ids) == 3 and all(dataset.labels[i] == "Q" for i in ids)
    assert browse.page(list(range(50)), 3, 24) == ([48, 49], 3)
    assert browse.page(list(range(50)), 99, 24) == ([48, 49], 3)  # clamped
    assert browse.page([], 1, 24) == ([], 1)


def test_find_id(small_demo):
    dataset = KaggleDataset(small_demo)
    train_id, test_id = dataset.train_ids[0], dataset.test_ids[0]
    found = browse.find_id(dataset, train_id)
    assert found["split"] == "train" and found["label"] == dataset.labels[train_id]
    assert set(found["files"]) == {"resized", "original"}
    found = browse.find_id(dataset, test_id)
    assert found["split"] == "test" and found["label"] is None and found["answer"]
    with pytest.raises(DataError, match="ID 0 is neither"):
        browse.find_id(dataset, 0)


def test_original_image(small_demo):
    dataset = KaggleDataset(small_demo)
    image_id = dataset.train_ids[0]
    image = browse.original_image(dataset, "train", image_id)
    assert image.format == "PNG"  # PNG bytes behind a .Bmp name, as Kaggle's originals
    with Image.open(dataset.image_path("train", "original", image_id)) as on_disk:
        assert image.size == on_disk.size and image.size != (20, 20)


def test_split_counts_follow_the_training_split(small_demo):
    frame = browse.split_counts(KaggleDataset(small_demo), 0.2, 0)
    assert len(frame) == 124
    totals = frame.groupby("part")["images"].sum().to_dict()
    assert totals == {"train": 124, "validation": 62}
