"""Class probabilities for a block of images, in large batches, optionally with test-time views."""
import torch

from julia_core.training.augment import to_input, tta_views
from julia_core.training.config import TrainConfig
from julia_core.training.device import autocast


@torch.no_grad()
def predict_probabilities(model: torch.nn.Module, images: torch.Tensor, normalize: str,
                          batch_size: int = 1024, amp: bool = False, channels_last: bool = False,
                          tta: bool = False, progress=None) -> torch.Tensor:
    """uint8 images (N, H, W[, C]) on the model's device -> float32 (N, 62) on the CPU."""
    was_training = model.training
    model.eval()
    device = images.device
    chunks = []
    for start in range(0, len(images), batch_size):
        x = to_input(images[start:start + batch_size], normalize)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        views = tta_views(x) if tta else [x]
        with autocast(device, amp):
            probs = sum(torch.softmax(model(view).float(), dim=1) for view in views) / len(views)
        chunks.append(probs.cpu())
        if progress:
            progress(min(start + batch_size, len(images)), len(images))
    model.train(was_training)
    return torch.cat(chunks) if chunks else torch.zeros(0, 62)


def predict_as_trained(model: torch.nn.Module, images: torch.Tensor, config: TrainConfig, tta: bool = False,
                       progress=None) -> torch.Tensor:
    """predict_probabilities with a run's own normalisation, batch size, precision and layout."""
    return predict_probabilities(model, images, config.normalize, config.eval_batch_size, config.amp,
                                 config.channels_last, tta, progress)
