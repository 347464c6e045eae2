"""Class probabilities for a block of images, in large batches, optionally with test-time views."""
from functools import lru_cache

import torch

from julia_core.training.augment import to_input, tta_views


def autocast(device: torch.device, amp: bool):
    """bf16 autocast when asked and the device computes bf16 natively; a no-op elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=computes_in_bf16(device, amp))


def computes_in_bf16(device: torch.device, amp: bool) -> bool:
    """Whether `autocast(device, amp)` runs in bf16 (else float32)."""
    return amp and bf16_native(device)


def bf16_native(device: torch.device) -> bool:
    """CUDA, or a CPU with AVX512-BF16 or AMX: there bf16 trains charnet at batch 128 about twice
    as fast as float32 (docs/BENCHMARKS.md). Other CPUs emulate bf16, slower than float32."""
    return device.type == "cuda" or (device.type == "cpu" and _cpu_has_bf16())


@lru_cache(maxsize=1)
def _cpu_has_bf16() -> bool:
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(probe() for probe in probes if probe is not None)


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
