"""Decode one image by its content, bring it to grey or RGB, resize it to N x N."""
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from julia_core.errors import DataError

IMAGE_EXTENSIONS = (".bmp", ".png", ".jpg", ".jpeg")
SIZES = (20, 28, 32, 48, 64)
MODES = ("L", "RGB")  # grey, colour
MODE_NAMES = {"L": "grey", "RGB": "RGB"}  # as the pages name them
# Far above any street-sign crop (the largest real original is 616x648), far below what
# would exhaust memory: a decompression bomb is refused before it is decoded.
MAX_PIXELS = 40_000_000

_HIGH_DEPTH = ("I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")


def open_image(path: Path, max_pixels: int = MAX_PIXELS, decode: bool = True) -> Image.Image:
    """Decode the first frame of an image file whatever its name says; DataError names the file.

    decode=False reads the header only (size, mode, format): fast, but misses truncation."""
    path = Path(path)
    try:
        empty = os.path.getsize(path) == 0
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as err:
        raise DataError(f"{path}: cannot decode image ({err})") from None
    if empty:
        raise DataError(f"{path}: file is empty (0 bytes)")
    return _decode(path, str(path), max_pixels, decode)


def open_bytes(data: bytes, name: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """An uploaded file's image (any format and size Pillow reads), decoded with open_image's
    checks; DataError names the upload."""
    if not data:
        raise DataError(f"{name}: file is empty (0 bytes)")
    image = _decode(io.BytesIO(data), name, max_pixels, True)
    try:
        return ImageOps.exif_transpose(image)  # a phone's photo stands as it was taken
    except (OSError, ValueError, SyntaxError, TypeError):  # a broken EXIF block: the pixels as stored
        return image


def _decode(source, where: str, max_pixels: int, decode: bool) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise DataError(f"{where}: image is {width}x{height}, more than the "
                                    f"{max_pixels:,} pixels allowed (decompression bomb?)")
                if decode:
                    image.load()
                return image
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"{where}: file not found") from None
    except UnidentifiedImageError:
        raise DataError(f"{where}: not an image (Pillow cannot identify its content)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise DataError(f"{where}: refused as a decompression bomb ({err})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise DataError(f"{where}: cannot decode image ({err})") from None


def to_mode(image: Image.Image, mode: str) -> Image.Image:
    """Convert any mode Pillow reads to 'L' or 'RGB'; transparency is flattened onto white."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if image.mode == mode:
        return image
    if image.mode in _HIGH_DEPTH:
        image = _high_depth_to_grey(image)
    elif image.mode in _ALPHA or (image.mode == "P" and "transparency" in image.info):
        image = _flatten_alpha(image)
    return image.convert(mode)


def _high_depth_to_grey(image: Image.Image) -> Image.Image:
    # Pillow's own convert clips 16-bit and float values to 0..255; scale them instead.
    values = np.nan_to_num(np.asarray(image, dtype=np.float64))
    low, high = float(values.min()), float(values.max())
    if image.mode.startswith("I;16"):
        values = values / 257.0
    elif image.mode == "F" and low >= 0.0 and high <= 1.0:
        values = values * 255.0
    elif image.mode == "I" and low >= 0.0 and 255.0 < high <= 65535.0:
        values = values / 257.0  # 16-bit PNGs often open as mode I
    elif low < 0.0 or high > 255.0:
        values = (values - low) * (255.0 / max(high - low, 1e-12))
    return Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8), "L")


def _flatten_alpha(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def border_colour(image: Image.Image):
    """Median colour of the outermost pixels: the padding that looks like the sign's background."""
    pixels = np.asarray(image)
    edge = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    median = np.median(edge, axis=0)
    return int(median) if np.ndim(median) == 0 else tuple(int(v) for v in median)


def resize(image: Image.Image, size: int, mode: str = "L", keep_aspect: bool = False) -> Image.Image:
    """N x N in the given mode; keep_aspect pads the short side with the border colour."""
    image = to_mode(image, mode)
    if keep_aspect:
        return ImageOps.pad(image, (size, size), Image.Resampling.BICUBIC, color=border_colour(image))
    return image.resize((size, size), Image.Resampling.BICUBIC)


def load_resized(path: Path, size: int, mode: str = "L", keep_aspect: bool = False) -> np.ndarray:
    """One file to a uint8 array of shape (size, size) or (size, size, 3)."""
    return np.asarray(resize(open_image(path), size, mode, keep_aspect), dtype=np.uint8)
