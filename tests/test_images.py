import io

import numpy as np
import pytest
from PIL import Image

from julia_core.errors import DataError
from julia_core.data.images import load_resized, open_image, resize, to_mode


def save(tmp_path, image, name, fmt):
    path = tmp_path / name
    image.save(path, format=fmt)
    return path


def gradient(dtype, high):
    image = Image.fromarray(np.linspace(0, high, 16 * 16).reshape(16, 16).astype(dtype))
    return image


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "LA", "1", "CMYK", "I;16", "I", "F", "PA", "RGBX"])
@pytest.mark.parametrize("target", ["L", "RGB"])
def test_every_mode_converts(mode, target):
    image = Image.new("RGB", (10, 6), (200, 40, 90)).convert(mode)
    converted = to_mode(image, target)
    assert converted.mode == target and converted.size == (10, 6)


def test_16_bit_grey_is_scaled_not_clipped():
    image = gradient(np.uint16, 65535)
    assert image.mode == "I;16"
    grey = to_mode(image, "L")
    values = np.asarray(grey)
    assert values.min() == 0 and values.max() == 255 and len(np.unique(values)) > 200


def test_16_bit_png_opened_as_mode_i(tmp_path):
    path = save(tmp_path, gradient(np.uint16, 65535), "16.png", "PNG")
    assert open_image(path).mode.startswith("I")
    assert load_resized(path, 16, "L").max() == 255


def test_float_in_unit_range_is_scaled():
    values = np.asarray(to_mode(gradient(np.float32, 1.0), "L"))
    assert values.min() == 0 and values.max() == 255


def test_float_with_nan_and_odd_range():
    data = np.linspace(-5, 5000, 64, dtype=np.float32).reshape(8, 8)
    data[0, 0] = np.nan
    values = np.asarray(to_mode(Image.fromarray(data, "F"), "L"))
    assert values.max() == 255 and values.dtype == np.uint8


def test_palette_transparency_becomes_white():
    image = Image.new("P", (4, 4), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.info["transparency"] = 0
    assert np.asarray(to_mode(image, "RGB"))[0, 0].tolist() == [255, 255, 255]


def test_rgba_alpha_is_flattened_onto_white():
    image = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    assert np.asarray(to_mode(image, "L")).tolist() == [[255, 255], [255, 255]]


def test_one_bit_is_black_and_white():
    image = Image.new("1", (3, 3), 1)
    assert set(np.unique(np.asarray(to_mode(image, "L")))) == {255}


def test_open_by_content_not_name(tmp_path):
    path = save(tmp_path, Image.new("RGB", (9, 5), "red"), "7.Bmp", "PNG")  # as in Kaggle's originals
    image = open_image(path)
    assert image.format == "PNG" and image.size == (9, 5)


@pytest.mark.parametrize("fmt,name", [("PNG", "1.png"), ("JPEG", "2.JPG"), ("BMP", "3.bmp"), ("TIFF", "4.bmp")])
def test_formats_and_cases(tmp_path, fmt, name):
    path = save(tmp_path, Image.new("RGB", (8, 8), "blue"), name, fmt)
    assert load_resized(path, 28, "RGB").shape == (28, 28, 3)


def test_float_tiff_loads(tmp_path):
    path = save(tmp_path, gradient(np.float32, 1.0), "5.png.tif", "TIFF")
    assert load_resized(path, 20, "L").max() == 255


def test_cmyk_jpeg_loads(tmp_path):
    path = save(tmp_path, Image.new("CMYK", (12, 12), (0, 255, 255, 0)), "6.jpg", "JPEG")
    red = load_resized(path, 12, "RGB")[6, 6]
    assert red[0] > 200 and red[1] < 60


def test_zero_bytes(tmp_path):
    path = tmp_path / "1.Bmp"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"1.Bmp: file is empty \(0 bytes\)"):
        open_image(path)


def test_not_an_image(tmp_path):
    path = tmp_path / "2.Bmp"
    path.write_text("hello, I am text")
    with pytest.raises(DataError, match="2.Bmp: not an image"):
        open_image(path)


def test_truncated(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    path = tmp_path / "3.Bmp"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(DataError, match="3.Bmp: cannot decode image"):
        open_image(path)
    assert open_image(path, decode=False).size == (64, 64)  # the header alone looks fine


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = save(tmp_path, Image.new("L", (300, 300)), "4.png", "PNG")
    with pytest.raises(DataError, match=r"4.png: image is 300x300, more than the 10,000 pixels"):
        open_image(path, max_pixels=10_000)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="9.Bmp: file not found"):
        open_image(tmp_path / "9.Bmp")


@pytest.mark.parametrize("size", [20, 28, 32, 48, 64])
@pytest.mark.parametrize("mode,tail", [("L", ()), ("RGB", (3,))])
def test_resize_shapes(size, mode, tail):
    image = Image.new("RGB", (13, 40), "green")
    assert np.asarray(resize(image, size, mode)).shape == (size, size) + tail


def test_keep_aspect_pads_with_border_colour():
    image = Image.new("L", (10, 40), 30)
    image.paste(220, (3, 5, 7, 35))
    padded = np.asarray(resize(image, 32, "L", keep_aspect=True))
    stretched = np.asarray(resize(image, 32, "L"))
    assert padded[:, 0].max() == 30 and padded[:, -1].max() == 30  # side bands: the background
    assert padded[16, 16] > 200 and stretched[16, 16] > 200
    assert (padded > 200).sum() < (stretched > 200).sum()  # the stroke keeps its thinness


def test_unknown_target_mode():
    with pytest.raises(ValueError):
        to_mode(Image.new("RGB", (2, 2)), "CMYK")
