"""One image through a run or an ensemble: the image as the model sees it, its top classes, and
where it looked (Grad-CAM), for the Predict page.

Grad-CAM (Selvaraju et al., 2017) is written here with two hooks rather than taken from
pytorch-grad-cam or torchcam: both want a named target layer per architecture and pull in
OpenCV or matplotlib, while every model of ours ends in one global average pool whose input is
the last feature map, which is all Grad-CAM needs (a forward pre-hook on the first
AdaptiveAvgPool2d finds it in CharNet and in torchvision's ResNet alike).
"""
import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from julia_core.data.browse import find_id, label_text
from julia_core.data.classes import CLASSES
from julia_core.data.dataset import KaggleDataset
from julia_core.data.images import open_image, resize
from julia_core.errors import DataError
from julia_core.training.augment import to_input
from julia_core.training.config import TrainConfig

KAGGLE_SIZE = 20  # Kaggle's trainResized/ copies: a run on them learnt 20x20 images scaled up
TOP = 5
MAX_IMAGES = 12  # explained per page view: a gradient pass each, per member
_GRADIENTS = threading.Lock()  # the dashboard's sessions share cached models: one backward pass at a time


@dataclass
class Explanation:
    seen: np.ndarray                 # uint8 (S, S) or (S, S, 3): the input as the first model sees it
    top: list[tuple[str, float]]     # the TOP classes by mean probability, best first
    heat: np.ndarray                 # float (S, S) in 0..1: Grad-CAM of the top class, members averaged
    probs: np.ndarray                # (62,) the mean probabilities
    heat_members: int = 1            # the members whose heat maps were averaged (those framed as the first)


def as_model_sees(image: Image.Image, config: TrainConfig) -> np.ndarray:
    """The run's own preprocessing of any image: its colour mode, size and aspect rule. A run
    that learnt Kaggle's 20x20 copies sees a photo at 20x20 first, as its training images were."""
    if config.source == "resized":
        image = resize(image, KAGGLE_SIZE, "RGB")
    return np.asarray(resize(image, config.image_size, config.mode, config.keep_aspect), dtype=np.uint8)


def explain(models: list[tuple[torch.nn.Module, TrainConfig]], image: Image.Image) -> Explanation:
    """The ensemble's mean probabilities for one image, its top classes, and the Grad-CAM of its
    top class from each member (brought to the first member's input size), averaged."""
    if not models:
        raise DataError("pick at least one run to predict with")
    seen = [as_model_sees(image, config) for _, config in models]
    probs = np.mean([_probabilities(model, array, config) for (model, config), array in zip(models, seen)], axis=0)
    best = int(probs.argmax())
    size = seen[0].shape[0]
    # Heat maps are laid over the first member's view: only members that frame the image the same
    # way (source and aspect rule) look at the same pixels; the rest still vote in the top-5.
    framing = _framing(models[0][1])
    aligned = [(model, config, array) for (model, config), array in zip(models, seen) if _framing(config) == framing]
    with _GRADIENTS:
        heats = [_grad_cam(model, array, config, best, size) for model, config, array in aligned]
    heat = np.mean(heats, axis=0)
    heat = heat / heat.max() if heat.max() > 0 else heat
    order = np.argsort(-probs)[:TOP]
    return Explanation(seen[0], [(CLASSES[i], float(probs[i])) for i in order], heat, probs, len(aligned))


def _framing(config: TrainConfig) -> tuple:
    return config.source, config.keep_aspect


def image_for_id(dataset: KaggleDataset, image_id: int, config: TrainConfig) -> tuple[Image.Image, str]:
    """A train or test image by its ID, from the source the run learnt (else the set's own), and a
    caption with what is known of it (its label, or the demo set's answer)."""
    found = find_id(dataset, image_id)
    source = config.source if config.source in found["files"] else next(iter(found["files"]))
    return open_image(found["files"][source]), f"{found['split']} ID {image_id}: {label_text(found)}"


def _tensor(array: np.ndarray, config: TrainConfig, model: torch.nn.Module) -> torch.Tensor:
    device = next(model.parameters()).device
    return to_input(torch.from_numpy(np.array(array)).unsqueeze(0).to(device), config.normalize)  # a copy: Pillow's arrays are read-only


@torch.no_grad()
def _probabilities(model: torch.nn.Module, array: np.ndarray, config: TrainConfig) -> np.ndarray:
    model.eval()
    return torch.softmax(model(_tensor(array, config, model)).float(), dim=1)[0].cpu().numpy()


def _grad_cam(model: torch.nn.Module, array: np.ndarray, config: TrainConfig, target: int, size: int) -> np.ndarray:
    """ReLU(sum_k alpha_k A_k), alpha_k the mean gradient of the target's score over feature map k,
    upsampled to size x size and scaled to 0..1 (all zeros where nothing speaks for the class)."""
    pool = next((m for m in model.modules() if isinstance(m, torch.nn.AdaptiveAvgPool2d)), None)
    if pool is None:
        return np.zeros((size, size), np.float32)
    found = {}

    def keep(module, inputs):
        found["features"] = inputs[0]

    handle = pool.register_forward_pre_hook(keep)
    try:
        model.eval()
        with torch.enable_grad():
            x = _tensor(array, config, model).requires_grad_(True)  # a graph even where weights are frozen
            score = model(x)[0, target]
            # the gradient of the score with respect to the feature maps only: the weights' .grad stay untouched
            [grad] = torch.autograd.grad(score, found["features"])
    finally:
        handle.remove()
    features, grad = found["features"].detach().float(), grad.float()
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * features).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=(size, size), mode="bilinear", align_corners=False)[0, 0]
    peak = cam.max()
    return (cam / peak if peak > 0 else cam).cpu().numpy()
