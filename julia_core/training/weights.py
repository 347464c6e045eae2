"""Pretrained weights that ship with the package, the torchvision way: named, with a card, checked.

Each lives in julia_core/weights/ as NAME.pt (the model's state dict, floating tensors stored as
float16) beside NAME.json, its card: the model and the input it expects, the synthetic set and the
pre-training that made it, its accuracy on a synthetic check set, the file's sha256, the torch
version and the command that rebuilds it. A `pretrain` run (a run with `synthetic` > 0) writes
both into its run folder when it finishes; `python -m julia_core weights ship RUN NAME` copies them
here. They are made from synthetic characters only, never a Kaggle image, so they may ship.

A run names them in `init` (the `best` preset does): the file is read with weights_only=True and
only after its checksum matches the card; a missing, damaged or foreign file is one line naming it.
"""
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from julia_core.data.images import MODE_NAMES
from julia_core.errors import JuliaError
from julia_core.files import write_atomic, write_text_atomic
from julia_core.training.config import NAME_PATTERN

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
MAX_SHIPPED_BYTES = 25 * 1024 * 1024  # all shipped weights together (the repository's rule)
CHECK_SEED = 20261208      # the synthetic check set: the demo generator with this seed ...
CHECK_PER_CLASS = 20       # ... and this many characters per class (1,240 images)


class WeightsError(JuliaError):
    """Shipped weights that are missing, damaged, or do not fit the run; one line naming them."""


@dataclass
class WeightsCard:
    """What a weights file is and how it was made (NAME.json beside NAME.pt)."""
    name: str
    model: str
    image_size: int
    mode: str                   # "L" grey or "RGB"
    normalize: str              # how the inputs are scaled (training.tensors)
    storage: str                # the floating tensors' dtype in the file
    synthetic: dict             # per_class, seed, font_families, fonts_digest, font_files, augment
    pretraining: dict           # the optimisation recipe and epochs
    check_accuracy: float       # on the synthetic check set (CHECK_SEED, CHECK_PER_CLASS, the same fonts)
    sha256: str
    bytes: int
    torch: str
    command: str                # rebuilds it
    run: str                    # the pre-training run's folder name
    kaggle_images_seen: int = 0  # synthetic characters only
    notes: list[str] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return 1 if self.mode == "L" else 3

    def describe(self) -> str:
        return (f"{self.name}: {self.model} at {self.image_size} px {MODE_NAMES[self.mode]}, pre-trained on "
                f"{self.synthetic.get('per_class', '?')} synthetic characters per class in "
                f"{len(self.synthetic.get('font_families', []))} font families for "
                f"{self.pretraining.get('epochs', '?')} epochs; synthetic check {self.check_accuracy:.3f}")


def weights_file(name: str, folder: Path | None = None) -> Path:
    folder = folder or WEIGHTS_DIR
    return folder / f"{name}.pt"


def card_file(name: str, folder: Path | None = None) -> Path:
    folder = folder or WEIGHTS_DIR
    return folder / f"{name}.json"


def shipped_names(folder: Path | None = None) -> list[str]:
    """The names of the weights here (each card's name)."""
    folder = folder or WEIGHTS_DIR
    return sorted(path.stem for path in folder.glob("*.json")) if folder.is_dir() else []


def is_shipped_name(ref: str, folder: Path | None = None) -> bool:
    """Whether `init` names shipped weights rather than a run folder or a file."""
    return bool(ref) and "/" not in ref and not ref.endswith(".pt") and card_file(ref, folder).is_file()


def read_card(name: str, folder: Path | None = None) -> WeightsCard:
    folder = folder or WEIGHTS_DIR
    path = card_file(name, folder)
    if not path.is_file():
        have = ", ".join(shipped_names(folder)) or "none"
        raise WeightsError(f"{name}: no such shipped weights in {folder} (have: {have})")
    card = parse_card(path)
    if card.name != name:
        raise WeightsError(f"{path}: its card names {card.name!r}, not {name!r}")
    return card


CARD_TYPES = {"name": str, "model": str, "image_size": int, "mode": str, "normalize": str, "storage": str,
              "synthetic": dict, "pretraining": dict, "check_accuracy": (int, float), "sha256": str, "bytes": int,
              "torch": str, "command": str, "run": str, "kaggle_images_seen": int, "notes": list}


def parse_card(path: Path) -> WeightsCard:
    """A card read and checked field by field; WeightsError naming the file and the field otherwise."""
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise WeightsError(f"{path}: not a readable weights card ({str(err).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise WeightsError(f"{path}: not a readable weights card (not a JSON object)")
    for name, kind in CARD_TYPES.items():
        if name in values and (not isinstance(values[name], kind) or isinstance(values[name], bool)):
            raise WeightsError(f"{path}: field {name!r} is {values[name]!r}, not the {_kind_name(kind)} a card holds")
    missing = [name for name in CARD_TYPES if name not in values and name not in ("kaggle_images_seen", "notes")]
    if missing:
        raise WeightsError(f"{path}: not a weights card (no {', '.join(missing)})")
    if values["mode"] not in ("L", "RGB") or values["storage"] not in ("float16", "float32", "bfloat16"):
        raise WeightsError(f"{path}: mode {values['mode']!r} or storage {values['storage']!r} is not one a card may hold")
    return WeightsCard(**{name: values[name] for name in CARD_TYPES if name in values})


def _kind_name(kind) -> str:
    return {str: "text", int: "whole number", dict: "object", list: "list"}.get(kind, "number")


def cards(folder: Path | None = None) -> tuple[list[WeightsCard], list[str]]:
    """The readable cards here, and one line for each that is not."""
    found, problems = [], []
    for name in shipped_names(folder):
        try:
            found.append(read_card(name, folder))
        except WeightsError as err:
            problems.append(str(err))
    return found, problems


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_weights(name: str, model_name: str, mode: str, map_location="cpu",
                 folder: Path | None = None) -> dict:
    """The shipped weights `name` as a float32 state dict for a `model_name` on `mode` images,
    read only after the file's checksum matches its card."""
    folder = folder or WEIGHTS_DIR
    card = read_card(name, folder)
    if card.model != model_name or card.mode != mode:
        raise WeightsError(f"{name}: made for {card.model} on {MODE_NAMES[card.mode]} images, this run trains "
                           f"{model_name} on {MODE_NAMES.get(mode, mode)} images")
    path = weights_file(name, folder)
    if not path.is_file():
        raise WeightsError(f"{path}: missing (its card is there); restore it with git checkout -- {path.name} in "
                           f"{folder}, or rebuild it: {card.command} --ship {name}")
    if sha256_of(path) != card.sha256:
        raise WeightsError(f"{path}: its sha256 does not match its card's (damaged or replaced); restore it with "
                           f"git checkout -- {path.name} in {folder}, or rebuild it: {card.command} --ship {name}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # the checksum matched a file torch cannot read: a card made for another file
        raise WeightsError(f"{path}: unreadable as weights ({str(err).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path}: holds no state dict of tensors")
    return {key: value.float() if value.is_floating_point() else value for key, value in state.items()}


def write_weights(state: dict, card: WeightsCard, folder: Path, stem: str | None = None) -> WeightsCard:
    """STEM.pt (floating tensors in card.storage) and STEM.json (STEM: the card's name) with the
    file's size and sha256; returns the card as written."""
    stem = stem or card.name
    dtype = getattr(torch, card.storage)
    stored = {key: value.detach().to("cpu", dtype if value.is_floating_point() else value.dtype).contiguous()
              for key, value in state.items()}
    folder.mkdir(parents=True, exist_ok=True)
    path = weights_file(stem, folder)
    write_atomic(path, lambda file: torch.save(stored, file))
    card.sha256, card.bytes = sha256_of(path), path.stat().st_size
    _write_card(card, card_file(stem, folder))
    return card


def _write_card(card: WeightsCard, path: Path) -> None:
    write_text_atomic(path, json.dumps(asdict(card), indent=2) + "\n")


RUN_STEM = "weights"  # a pre-training run's weights.pt and weights.json


def ship(run_folder: Path, name: str | None = None, folder: Path | None = None) -> WeightsCard:
    """Copy a finished pre-training run's weights and card here, under `name` (default: the name
    its card proposes)."""
    folder = folder or WEIGHTS_DIR
    source_card = card_file(RUN_STEM, run_folder)
    if not source_card.is_file():
        raise WeightsError(f"{run_folder}: has no {source_card.name} (a `pretrain` run writes it when it finishes)")
    card = parse_card(source_card)
    name = name or card.name
    if not NAME_PATTERN.match(name) or name.endswith((".pt", ".json")):
        raise WeightsError(f"weights name {name!r} may hold only letters, digits, '.', '_' and '-' (at most 64)")
    source = weights_file(RUN_STEM, run_folder)
    if not source.is_file() or sha256_of(source) != card.sha256:
        raise WeightsError(f"{source}: missing, or not the file its card describes")
    others = sum(weights_file(n, folder).stat().st_size for n in shipped_names(folder)
                 if n != name and weights_file(n, folder).is_file())
    if others + card.bytes > MAX_SHIPPED_BYTES:
        raise WeightsError(f"{name}: {card.bytes / 2**20:.1f} MB more would take the shipped weights past "
                           f"{MAX_SHIPPED_BYTES / 2**20:.0f} MB")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, weights_file(name, folder))
    card.name = name
    _write_card(card, card_file(name, folder))
    return card
