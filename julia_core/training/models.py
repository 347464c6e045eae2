"""The models, by name. Each takes (N, C, S, S) images and returns (N, 62) logits."""
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from julia_core.errors import JuliaError
from julia_core.data.classes import NUM_CLASSES


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[int], nn.Module]  # in_channels -> model
    description: str


def torchvision_resnet18(**kwargs) -> nn.Module:
    # Imported here, not at the top: importing torchvision pulls in torch._dynamo, 2 s of every
    # trainer's and CLI command's start on a 2-core machine, and only the resnet models need it.
    import torchvision
    return torchvision.models.resnet18(**kwargs)


def seed_resnet18(in_channels: int = 1) -> nn.Module:
    """The original workflow's model: torchvision resnet18, conv1 3x3 stride 1, fc 512 -> 62."""
    model = torchvision_resnet18(num_classes=NUM_CLASSES)
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    return model


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with batch norm; a 1x1 projection when the width changes."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels))
        self.shortcut = nn.Identity() if in_channels == out_channels else nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class CharNet(nn.Module):
    """A small ResNet for 28-64 px characters: a light full-resolution stem, then four
    residual stages, each doubling the width, the first three after halving the resolution.
    Cheap on a CPU because no residual block runs at full resolution. `blocks` is the number
    of residual blocks per stage."""

    def __init__(self, in_channels: int = 1, width: int = 32, dropout: float = 0.2,
                 blocks: tuple[int, ...] = (1, 1, 1, 1)):
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, previous = [], width
        for index, (channels, count) in enumerate(zip(widths, blocks)):
            if index < 3:
                stages.append(nn.MaxPool2d(2))
            for _ in range(count):
                stages.append(ResidualBlock(previous, channels))
                previous = channels
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(previous, NUM_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


RESNET18_IMAGENET_FILE = "resnet18-f37072fd.pth"  # torchvision's ResNet18_Weights.IMAGENET1K_V1


def resnet18_imagenet(in_channels: int = 1) -> nn.Module:
    """resnet18 with ImageNet weights from the local torch hub cache (never downloaded here):
    conv1 keeps its 7x7 weights (summed over colour for grey) at stride 1, no max-pool."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_IMAGENET_FILE
    if not path.is_file():
        raise JuliaError(f"{path}: ImageNet weights for resnet18 are not in the local torch hub cache; "
                         "this tool never downloads them. Copy that file there from a machine online, "
                         "or choose another model")
    model = torchvision_resnet18()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    weight = model.conv1.weight.data
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=1, padding=3, bias=False)
    model.conv1.weight.data = weight.sum(1, keepdim=True) if in_channels == 1 else weight
    model.maxpool = nn.Identity()
    model.fc = nn.Linear(512, NUM_CLASSES)
    return model


MODELS: dict[str, ModelSpec] = {
    "seed_resnet18": ModelSpec(seed_resnet18, "the original workflow's resnet18 (11.2 M parameters)"),
    "charnet": ModelSpec(lambda c: CharNet(c, width=32), "small residual CNN for 28-64 px, fast on a CPU"),
    "charnet_wide": ModelSpec(lambda c: CharNet(c, width=64), "charnet at twice the width: more accurate"),
    # Extra blocks in the middle stages (12 and 6 px at 48 px input), where they cost least.
    "charnet_deep": ModelSpec(lambda c: CharNet(c, width=32, blocks=(1, 2, 2, 1)),
                              "charnet with two blocks in its middle stages: 1.3x the parameters"),
    "resnet18_imagenet": ModelSpec(resnet18_imagenet, "resnet18 from ImageNet weights (local hub cache only)"),
}


def build_model(name: str, in_channels: int, channels_last: bool = False) -> nn.Module:
    """The named model; `channels_last` stores its weights NHWC, to match NHWC inputs."""
    if name not in MODELS:
        raise JuliaError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")
    model = MODELS[name].build(in_channels)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
