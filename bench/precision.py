"""Training-step speed by precision (float32, bf16 autocast) and memory layout (NCHW,
channels_last), for the presets' models at their batch sizes: which switches pay on this device.
Then prediction speed (`predict_probabilities`, as `score`, `predict` and the Submit page call it)
by layout, in bf16 where the device has it, with and without TTA.

One step is what `train_one_epoch` does (forward under `device.autocast`, cross-entropy,
backward, AdamW); random inputs, so no data set is needed. Prints a Markdown table.

    python bench/precision.py [--device auto] [--seconds 10]
"""
import argparse
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from julia_core.predict.inference import predict_probabilities  # noqa: E402
from julia_core.training.models import build_model  # noqa: E402
from julia_core.training.device import autocast, bf16_native, select_device  # noqa: E402

CASES = [  # (model, image size, batch): the best/fast presets' and the seed preset's
    ("charnet", 48, 128), ("charnet", 32, 128), ("charnet_wide", 48, 128), ("seed_resnet18", 28, 8)]


def images_per_second(name: str, size: int, batch: int, device: torch.device, bf16: bool,
                      channels_last: bool, seconds: float) -> float:
    torch.manual_seed(0)
    model = build_model(name, 1, channels_last).to(device)
    x = torch.randn(batch, 1, size, size, device=device)
    y = torch.randint(0, 62, (batch,), device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step():
        with autocast(device, bf16):
            loss = F.cross_entropy(model(x).float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up: oneDNN/cuDNN pick their kernels on the first steps
        step()
    _sync(device)
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        steps += 1
    _sync(device)
    return steps * batch / (time.perf_counter() - started)


def predictions_per_second(name: str, size: int, device: torch.device, channels_last: bool, tta: bool,
                           count: int = 5028) -> float:
    """Images per second through `predict_probabilities` (batches of 1024, bf16 where native)."""
    torch.manual_seed(0)
    model = build_model(name, 1, channels_last).to(device).eval()
    images = torch.randint(0, 256, (count, size, size), dtype=torch.uint8, device=device)
    predict_probabilities(model, images[:1024], "per_image", 1024, True, channels_last, tta)  # warm-up
    _sync(device)
    started = time.perf_counter()
    predict_probabilities(model, images, "per_image", 1024, True, channels_last, tta)
    _sync(device)
    return count / (time.perf_counter() - started)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=10, help="how long to time each case")
    args = parser.parse_args()
    device = select_device(args.device)
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch "
          f"{torch.__version__}, device {device}, bf16 in hardware: {bf16_native(device)}\n")
    print("| model | input | batch | float32 | float32 channels_last | bf16 | bf16 channels_last |")
    print("|---|---|---|---|---|---|---|")
    for name, size, batch in CASES:
        speeds = [images_per_second(name, size, batch, device, bf16, layout, args.seconds)
                  for bf16 in (False, True) for layout in (False, True)]
        cells = " | ".join(f"{speed:,.0f} ({speed / speeds[0]:.2f}x)" for speed in speeds)
        print(f"| {name} | {size} px | {batch} | {cells} |", flush=True)
    if not bf16_native(device):
        print("\n(no bf16 in hardware here: the bf16 columns ran in float32, as training would)")
    print("\nPrediction, charnet at 48 px (the best preset), 5028 images in batches of 1024:\n")
    print("| layout | images/s | with TTA (5 views) |")
    print("|---|---|---|")
    for layout in (False, True):
        plain, tta = (predictions_per_second("charnet", 48, device, layout, tta) for tta in (False, True))
        print(f"| {'channels_last' if layout else 'NCHW'} | {plain:,.0f} | {tta:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
