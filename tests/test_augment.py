import torch

from julia_core.augment import augment, to_input, tta_views


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
