"""Write resized copies as BMP folders (trainResized_32/ ...) for people who want files."""
from pathlib import Path

from PIL import Image

from .dataset import KaggleDataset, Progress


def export_folder_name(split: str, size: int, mode: str, source: str, keep_aspect: bool) -> str:
    name = f"{split}Resized_{size}"
    if mode == "RGB":
        name += "_rgb"
    if source == "original":
        name += "_from_original"
    return name + ("_pad" if keep_aspect else "")


def export_resized(dataset: KaggleDataset, split: str, size: int, mode: str = "L",
                   source: str | None = None, keep_aspect: bool = False, out_dir: Path | None = None,
                   progress: Progress | None = None) -> Path:
    """<out_dir>/<split>Resized_<size>[...]/<ID>.Bmp, one per image; returns the folder."""
    source = source or dataset.default_source(split)
    loaded = dataset.load(split, source, size, mode, keep_aspect, progress=progress)
    folder = Path(out_dir or dataset.root) / export_folder_name(split, size, mode, source, keep_aspect)
    folder.mkdir(parents=True, exist_ok=True)
    for image_id, pixels in zip(loaded.ids.tolist(), loaded.images):
        Image.fromarray(pixels, mode).save(folder / f"{image_id}.Bmp", format="BMP")
    return folder
