import torch

from julia_core.training.augment import augment, mix_batch, to_input, tta_views


def images(n=16, channels=None):
    shape = (n, 24, 24) if channels is None else (n, 24, 24, channels)
    return torch.randint(0, 256, shape, dtype=torch.uint8)


def test_to_input_shapes_and_scaling():
    grey, rgb = to_input(images(), "unit"), to_input(images(channels=3), "unit")
    assert grey.shape == (16, 1, 24, 24) and rgb.shape == (16, 3, 24, 24)
    assert 0 <= grey.min() and grey.max() <= 1
    standard = to_input(images(), "per_image")
    assert torch.allclose(standard.mean(dim=(1, 2, 3)), torch.zeros(16), atol=1e-4)


def test_strength_zero_changes_nothing():
    x = to_input(images(), "per_image")
    assert torch.equal(augment(x, 0.0, "per_image"), x)


def test_augment_keeps_shape_and_changes_images():
    torch.manual_seed(0)
    x = to_input(images(channels=3), "unit")
    y = augment(x, 1.0, "unit")
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert not torch.allclose(x, y)


def test_tta_views_are_deterministic():
    x = to_input(images(4), "per_image")
    first, second = tta_views(x), tta_views(x)
    assert len(first) == 5 and all(torch.equal(a, b) for a, b in zip(first, second))
    assert torch.equal(first[0], x)


def test_mix_batch_off_is_the_identity():
    x, y = to_input(images(), "per_image"), torch.arange(16)
    mixed, other, weight = mix_batch(x, y, 0.0, 0.0)
    assert mixed is x and other is y and weight == 1.0


def test_mixup_blends_each_image_with_a_partner():
    torch.manual_seed(0)
    x, y = to_input(images(), "per_image"), torch.arange(16)
    mixed, other, weight = mix_batch(x, y, 0.4, 0.0)
    assert 0 <= weight <= 1 and sorted(other.tolist()) == list(range(16))
    assert torch.allclose(mixed, weight * x + (1 - weight) * x[other])


def test_cutmix_pastes_one_rectangle_and_weights_by_its_area():
    torch.manual_seed(1)
    x, y = to_input(images(), "per_image"), torch.arange(16)
    mixed, other, weight = mix_batch(x, y, 0.0, 1.0)
    changed = (mixed != x).any(dim=1)            # (N, H, W): where the partner's pixels went
    moved = other != y
    assert not changed[~moved].any()              # an image paired with itself is untouched
    kept = 1 - changed[moved].float().mean().item()
    assert mixed.shape == x.shape and abs(kept - weight) < 0.05
