"""Write resized copies as BMP folders (trainResized_32/ ...) for people who want files."""
from pathlib import Path

from PIL import Image

from julia_core.data.dataset import LoadedImages


def export_folder_name(split: str, size: int, mode: str, source: str, keep_aspect: bool) -> str:
    """trainResized_32, testResized_64_rgb_from_original_pad, ..."""
    name = f"{split}Resized_{size}"
    if mode == "RGB":
        name += "_rgb"
    if source == "original":
        name += "_from_original"
    return name + ("_pad" if keep_aspect else "")


def write_bmp_folder(loaded: LoadedImages, folder: Path) -> Path:
    """<folder>/<ID>.Bmp for every loaded image; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for image_id, pixels in zip(loaded.ids.tolist(), loaded.images):
        Image.fromarray(pixels).save(folder / f"{image_id}.Bmp", format="BMP")
    return folder
