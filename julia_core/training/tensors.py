"""A run's images as tensors on its device: the training side of its split, the validation side, the test set."""
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from julia_core.data.dataset import KaggleDataset, LoadedImages
from julia_core.data.split import run_split
from julia_core.training.config import TrainConfig


@dataclass
class Data:
    train_x: torch.Tensor        # uint8 on the device
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    val_ids: np.ndarray
    test_x: torch.Tensor | None
    test_ids: np.ndarray | None
    channels: int

    def with_training_images(self, images: torch.Tensor, labels: torch.Tensor) -> "Data":
        """The same data with more training images (e.g. pseudo-labelled test images)."""
        return replace(self, train_x=torch.cat([self.train_x, images]), train_y=torch.cat([self.train_y, labels]))

    def test_rows(self, ids) -> torch.Tensor:
        """The rows of test_x that hold these test IDs."""
        row = {int(i): n for n, i in enumerate(self.test_ids)}
        return torch.tensor([row[int(i)] for i in ids], dtype=torch.long, device=self.test_x.device)


def run_images(dataset: KaggleDataset, split: str, config: TrainConfig, source: str | None = None) -> LoadedImages:
    """A split's images at the run's size, colour mode and aspect rule (from its own source unless told)."""
    return dataset.load(split, source or config.source, config.image_size, config.mode, config.keep_aspect)


def load_data(config: TrainConfig, device: torch.device) -> Data:
    """The config's images at its size and mode, split its way, as uint8 tensors on `device`."""
    dataset = KaggleDataset(Path(config.data).expanduser())
    train = run_images(dataset, "train", config)
    fit, val = run_split(train.labels, config)
    images = torch.from_numpy(train.images).to(device)
    labels = torch.from_numpy(train.labels).to(device)
    test_x = test_ids = None
    if config.source in dataset.sources("test"):
        test = run_images(dataset, "test", config)
        test_x, test_ids = torch.from_numpy(test.images).to(device), test.ids
    fit_t, val_t = torch.from_numpy(fit).to(device), torch.from_numpy(val).to(device)
    return Data(images[fit_t], labels[fit_t], images[val_t], labels[val_t], train.ids[val],
                test_x, test_ids, 1 if config.mode == "L" else 3)
