"""Input scaling and batched augmentation on the training device: no per-image Python."""
import math

import torch
import torch.nn.functional as F


def to_input(images: torch.Tensor, normalize: str) -> torch.Tensor:
    """uint8 (N, H, W[, C]) -> float (N, C, H, W). 'per_image' standardises each image, so
    light-on-dark and dark-on-light signs look alike; 'unit' is the original's plain /255."""
    x = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    x = x.float().div_(255.0)
    if normalize == "per_image":
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) / (std + 0.05)
    return x


def augment(x: torch.Tensor, strength: float, normalize: str) -> torch.Tensor:
    """Random affine (rotation, shear, scale, shift), contrast and brightness, inversion and
    erasing, each image drawn independently; `strength` 0..1 scales every range."""
    if strength <= 0:
        return x
    n, device = x.shape[0], x.device
    x = _random_affine(x, strength)
    uniform = lambda *shape: torch.rand(*shape, device=device) * 2 - 1  # noqa: E731  (-1, 1)
    contrast = 1 + 0.3 * strength * uniform(n, 1, 1, 1)
    brightness = 0.3 * strength * uniform(n, 1, 1, 1)
    centre = 0.0 if normalize == "per_image" else 0.5
    x = (x - centre) * contrast + centre + brightness * (1.0 if normalize == "per_image" else 0.5)
    invert = torch.rand(n, 1, 1, 1, device=device) < 0.5 * strength
    x = torch.where(invert, 2 * centre - x, x)
    return _random_erase(x, probability=0.5 * strength, fill=centre)


def _random_affine(x: torch.Tensor, strength: float) -> torch.Tensor:
    n, device = x.shape[0], x.device
    uniform = lambda: torch.rand(n, device=device) * 2 - 1  # noqa: E731
    angle = uniform() * math.radians(15) * strength
    shear = uniform() * 0.25 * strength
    scale = 1 + uniform() * 0.15 * strength
    shift_x, shift_y = uniform() * 0.12 * strength, uniform() * 0.12 * strength
    cos, sin = torch.cos(angle), torch.sin(angle)
    # theta maps output coordinates to input coordinates (affine_grid's convention)
    theta = torch.stack([
        torch.stack([cos / scale, (-sin + shear * cos) / scale, shift_x], dim=1),
        torch.stack([sin / scale, (cos + shear * sin) / scale, shift_y], dim=1),
    ], dim=1)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _random_erase(x: torch.Tensor, probability: float, fill: float) -> torch.Tensor:
    """One rectangle of 5-25 % of the area per chosen image, as an occlusion on a sign."""
    n, _, height, width = x.shape
    device = x.device
    area = torch.empty(n, device=device).uniform_(0.05, 0.25)
    aspect = torch.exp(torch.empty(n, device=device).uniform_(math.log(0.5), math.log(2.0)))
    h = (torch.sqrt(area * aspect) * height).clamp(1, height)
    w = (torch.sqrt(area / aspect) * width).clamp(1, width)
    top = torch.rand(n, device=device) * (height - h)
    left = torch.rand(n, device=device) * (width - w)
    rows = torch.arange(height, device=device).view(1, height, 1)
    cols = torch.arange(width, device=device).view(1, 1, width)
    inside = ((rows >= top.view(n, 1, 1)) & (rows < (top + h).view(n, 1, 1)) &
              (cols >= left.view(n, 1, 1)) & (cols < (left + w).view(n, 1, 1)))
    chosen = (torch.rand(n, device=device) < probability).view(n, 1, 1)
    return x.masked_fill((inside & chosen).unsqueeze(1), fill)


def mix_batch(x: torch.Tensor, y: torch.Tensor, mixup: float, cutmix: float):
    """Mixup or CutMix over the batch paired with itself reversed-shuffled; returns the images,
    the second labels and the weight of the first. Both off: (x, y, 1.0)."""
    choices = [kind for kind, alpha in (("mixup", mixup), ("cutmix", cutmix)) if alpha > 0]
    if not choices:
        return x, y, 1.0
    kind = choices[int(torch.randint(len(choices), ()))]
    alpha = mixup if kind == "mixup" else cutmix
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    partner = torch.randperm(x.shape[0], device=x.device)
    if kind == "mixup":
        return lam * x + (1 - lam) * x[partner], y[partner], lam
    height, width = x.shape[-2:]
    cut = math.sqrt(1 - lam)
    h, w = int(height * cut), int(width * cut)
    top, left = int(torch.randint(height - h + 1, ())), int(torch.randint(width - w + 1, ()))
    x = x.clone()
    x[..., top:top + h, left:left + w] = x[partner][..., top:top + h, left:left + w]
    return x, y[partner], 1 - h * w / (height * width)  # the weight the pasted area really left


def tta_views(x: torch.Tensor) -> list[torch.Tensor]:
    """Deterministic test-time views: the image, and small zooms and shifts of it."""
    views = [x]
    n = x.shape[0]
    for scale, dx, dy in ((0.9, 0, 0), (1.1, 0, 0), (1.0, 0.06, 0), (1.0, -0.06, 0)):
        theta = torch.tensor([[1 / scale, 0, dx], [0, 1 / scale, dy]], dtype=x.dtype, device=x.device)
        grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=False)
        views.append(F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False))
    return views
