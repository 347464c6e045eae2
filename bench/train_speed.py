"""Training speed on the real data, in one run:

1. the original loop (a torch Dataset opening each image with PIL, DataLoader, batch 8,
   seed_resnet18) against our pipeline (whole set on the device, batched augmentation) with the
   same model and batch size: images per second;
2. the `seed` preset trained to the end: its best validation accuracy and when it got there;
3. the `fast` preset: when it first reaches that accuracy.

    python bench/train_speed.py [--data ../shared/julia-kaggle] [--device auto] [--seconds 40]
"""
import argparse
import csv
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from julia_core.data.classes import class_index  # noqa: E402
from julia_core.data.dataset import KaggleDataset  # noqa: E402
from julia_core.runs import launcher, trainer  # noqa: E402
from julia_core.runs.store import RunDir  # noqa: E402
from julia_core.training.config import make_config  # noqa: E402
from julia_core.training.device import device_name, select_device  # noqa: E402
from julia_core.training.models import build_model  # noqa: E402

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "julia-kaggle"


class OriginalDataset(torch.utils.data.Dataset):
    """The original workflow's loading: one PIL open, convert and resize per image per step."""

    def __init__(self, dataset: KaggleDataset):
        self.items = [(dataset.image_path("train", "resized", i), class_index(dataset.labels[i]))
                      for i in dataset.train_ids]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        path, label = self.items[index]
        with Image.open(path) as image:
            pixels = image.convert("L").resize((28, 28))
        x = torch.frombuffer(bytearray(pixels.tobytes()), dtype=torch.uint8).float().div(255).view(1, 28, 28)
        return x, label


def original_loop(dataset: KaggleDataset, device: torch.device, seconds: float) -> float:
    torch.manual_seed(0)
    model = build_model("seed_resnet18", 1).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(OriginalDataset(dataset), batch_size=8, shuffle=True, num_workers=0)
    seen, started = 0, None
    for step, (x, y) in enumerate(loader):
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        if step == 20:  # after warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        elif started:
            seen += len(y)
            if time.perf_counter() - started > seconds:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - started)


def train_run(runs_root: Path, data: Path, preset: str, device: str, **options) -> RunDir:
    config = make_config(preset, data=str(data), device=device, name=f"bench-{preset}", **options)
    run_dir = launcher.prepare_run(config, runs_root, claim=True)
    code = trainer.run(run_dir, show_progress=False, console=False)
    if code != 0:
        raise SystemExit(f"{preset} run failed: {run_dir.read_status().error}")
    return run_dir


def epochs(run_dir: RunDir) -> list[dict]:
    with open(run_dir.summary_file) as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REAL)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seconds", type=float, default=40, help="how long to time each loop")
    parser.add_argument("--loops-only", action="store_true", help="only part 1, the loop comparison")
    parser.add_argument("--seed-epochs", type=int, default=None, help="override the seed preset's epochs")
    args = parser.parse_args()
    dataset = KaggleDataset(args.data)
    device = select_device(args.device)
    print(f"machine: {platform.machine()}, {device_name(device)}, torch {torch.__version__}")

    original = original_loop(dataset, device, args.seconds)
    with tempfile.TemporaryDirectory() as runs_root:
        ours_dir = train_run(Path(runs_root), args.data, "seed", args.device, epochs=1)
        ours = epochs(ours_dir)[0]["throughput_images_per_second"]
        print(f"| loop (seed_resnet18, batch 8, 28 px grey) | img/s |\n|---|---|\n"
              f"| original: PIL per image, DataLoader | {original:.0f} |\n"
              f"| ours: tensor on the device, batched | {ours:.0f} |\n"
              f"speed-up: {ours / original:.1f}x")
        if args.loops_only:
            return

        seed_options = {"epochs": args.seed_epochs} if args.seed_epochs else {}
        seed = epochs(train_run(Path(runs_root), args.data, "seed", args.device, **seed_options))
        best = max(seed, key=lambda row: row["val_acc"])
        fast = epochs(train_run(Path(runs_root), args.data, "fast", args.device))
        reached = next((row for row in fast if row["val_acc"] >= best["val_acc"]), None)
        print(f"seed preset: best val acc {best['val_acc']:.4f} at epoch {best['epoch']:.0f} "
              f"after {best['time_wall_seconds']:.0f} s ({len(seed)} epochs, {seed[-1]['time_wall_seconds']:.0f} s in all)")
        fast_best = max(row["val_acc"] for row in fast)
        if reached:
            print(f"fast preset: reached {reached['val_acc']:.4f} at epoch {reached['epoch']:.0f} after "
                  f"{reached['time_wall_seconds']:.0f} s: {best['time_wall_seconds'] / max(reached['time_wall_seconds'], 1e-9):.1f}x sooner; "
                  f"best {fast_best:.4f} after {fast[-1]['time_wall_seconds']:.0f} s")
        else:
            print(f"fast preset: never reached {best['val_acc']:.4f} (best {fast_best:.4f})")


if __name__ == "__main__":
    main()
