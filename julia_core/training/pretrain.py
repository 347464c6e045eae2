"""Pre-training on synthetic characters: an offline stand-in for ImageNet weights.

The demo generator draws `pretrain` characters per class in every font the machine has, with
street-sign colours, neighbouring glyphs, distortion, blur and noise. The run's own model, at
the run's input size and colour, learns them for `pretrain_epochs` (with a fixed recipe, below),
then the real training starts from those weights. The set and the weights are cached, keyed by
everything that shapes them, so the next run with the same recipe and seed starts at once.
"""
import dataclasses
import hashlib
import json
import logging
import time
from pathlib import Path

import torch

from julia_core import settings
from julia_core.data.classes import NUM_CLASSES
from julia_core.data.label_file import read_labels
from julia_core.files import write_atomic
from julia_core.synthetic import demo  # through the module: tests stand in for the machine's fonts
from julia_core.training import weights
from julia_core.training.config import PRESETS, ConfigError, TrainConfig
from julia_core.training.tensors import load_data
from julia_core.training.device import computes_in_bf16
from julia_core.training.loop import TrainState, evaluate, train_one_epoch
from julia_core.training.stop_flag import StopFlag
from julia_core.training.models import build_model

log = logging.getLogger("julia_core.trainer")
SYNTHETIC_SEED_OFFSET = 1  # the synthetic set's seed is not the demo set's: other images
FEW_FAMILIES = 20          # a stock system has 3-10 font families; varied letter shapes help


def synthetic_fonts(folder: str = "") -> list[str]:
    """The fonts a synthetic set is drawn in: those under `folder`, or the machine's."""
    if not folder:
        return demo.machine_fonts()
    if not Path(folder).expanduser().is_dir():
        raise ConfigError(f"{folder}: no such font folder")
    fonts = demo.available_fonts(folder)
    if len(fonts) < 2:  # Pillow's built-in font alone
        raise ConfigError(f"{folder}: holds no TrueType or OpenType font that draws all 62 characters")
    return fonts


def synthetic_root(per_class: int, seed: int, fonts: list[str]) -> Path:
    """Where the synthetic set of this size, seed and fonts is cached."""
    return settings.cache_dir() / "synthetic" / f"{per_class}-per-class-seed{seed}-fonts-{demo.fonts_digest(fonts)}"


def synthetic_set(per_class: int, seed: int, fonts_folder: str = "") -> Path | None:
    """The cached synthetic train-only set of `per_class` images per class (made when missing);
    None when a stop request ended the drawing."""
    fonts = synthetic_fonts(fonts_folder)  # new fonts on the machine: a new set
    root = synthetic_root(per_class, seed, fonts)
    return root if _draw_set(root, per_class, seed, fonts) else None


def _draw_set(root: Path, per_class: int, seed: int, fonts: list[str], on_progress=None) -> bool:
    """The set drawn into `root` unless it is there; False when a stop request ended the drawing."""
    if (root / "trainLabels.csv").is_file():
        return True
    families = len(demo.font_families(tuple(fonts)))
    if families < FEW_FAMILIES:
        log.info("only %d font families here: scripts/install_fonts.sh brings a machine to 69, worth 0.2-0.7 "
                 "points of validation accuracy (docs/EXPERIMENTS.md, sessions 6 and 8)", families)
    started = time.perf_counter()
    try:
        demo.generate_demo(root, per_class, 0, seed + SYNTHETIC_SEED_OFFSET, force=True,
                           drawing=demo.Drawing(processes=True, fonts=tuple(fonts), progress=on_progress,
                                                should_stop=lambda: StopFlag.requested))
    except demo.DrawingStopped as stopped:
        log.info("drawing the synthetic set: %s", stopped)
        return False
    log.info("drew %d synthetic characters in %d font families into %s in %.0f s", per_class * NUM_CLASSES, families,
             settings.portable_path(root), time.perf_counter() - started)  # a shared log: no home path
    return True


# Pre-training takes the `fast` preset's optimisation (AdamW 3e-3, one-cycle, batch 128, augment
# 0.5) whatever the run's own: fine-tuning wants a lower rate than learning from scratch.
PRETRAIN_RECIPE = dict(optimizer="adamw", lr=3e-3, momentum=0.9, schedule="onecycle", warmup_epochs=0.0,
                       batch_size=128, weight_decay=5e-4, label_smoothing=0.1, augment=0.5)


def pretraining_seed(config: TrainConfig) -> int:
    """The seed that draws the synthetic set and pre-trains on it: the run's own unless pretrain_seed
    is set (a refit's seeds reuse their run's pre-training: on a 2-core CPU a `best` seed then costs
    its 6 CPU minutes of fine-tuning, not 32-38 more for a pre-training of its own)."""
    return config.pretrain_seed if config.pretrain_seed >= 0 else config.seed


def pretrain_config(config: TrainConfig, data: Path) -> TrainConfig:
    """The run's model and inputs on the synthetic set, with the pre-training recipe and seed."""
    return dataclasses.replace(config, data=str(data), epochs=config.pretrain_epochs, val_fraction=0.05,
                               seed=pretraining_seed(config), pretrain_seed=-1,
                               folds=0, fold=0, group="", mixup=0.0, cutmix=0.0, init="", pretrain=0,
                               pseudo_label="", split_seed=-1, name="", preset="", gpus=1, refit_of="",
                               sweep="", trial=-1, synthetic=0,
                               **PRETRAIN_RECIPE)


# Options that do not shape the pre-training: not part of its cache key. `amp` is in the key as
# the precision it gives on the device (bf16 or float32), which moves the weights a little;
# pretrain_seed as the `seed` pretrain_config gives (the keys of weights cached before it stay valid).
NOT_SHAPING = ("data", "device", "eval_batch_size", "log_every", "compile", "amp", "pretrain_seed",
               "pseudo_label", "pseudo_threshold", "ema", "split_seed", "sweep", "trial")


def weights_path(config: TrainConfig, device: torch.device) -> Path:
    """Where the pre-trained weights of this recipe and seed (and this machine's fonts and
    precision) are kept."""
    shaping = {key: value for key, value in pretrain_config(config, Path()).to_dict().items()
               if key not in NOT_SHAPING}
    shaping.update(per_class=config.pretrain, torch=torch.__version__.split("+")[0],
                   fonts=demo.fonts_digest(synthetic_fonts(config.fonts)),
                   precision="bf16" if computes_in_bf16(device, config.amp) else "float32")
    digest = hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]
    return settings.cache_dir() / "pretrained" / f"{config.model}-{digest}.pt"


def pretrained_weights(config: TrainConfig, device: torch.device, on_epoch=None) -> dict | None:
    """The model's weights after pre-training (from the cache, or trained now); None when a stop
    request ended the pre-training early."""
    path = weights_path(config, device)
    if path.is_file():
        log.info("pre-trained weights from the cache: %s", path.name)
        return torch.load(path, map_location=device, weights_only=True)
    synthetic_root = synthetic_set(config.pretrain, pretraining_seed(config), config.fonts)
    if synthetic_root is None:
        return None
    synthetic = pretrain_config(config, synthetic_root)
    torch.manual_seed(synthetic.seed)
    data = load_data(synthetic, device)
    if len(data.train_y) < synthetic.batch_size:  # a tiny set: one batch per epoch
        synthetic = dataclasses.replace(synthetic, batch_size=len(data.train_y))
    model = build_model(config.model, data.channels, config.channels_last).to(device)
    state = TrainState.build(synthetic, model, len(data.train_y) // synthetic.batch_size)
    log.info("pre-training %s on %d synthetic characters for %d epochs", config.model, len(data.train_y),
             synthetic.epochs)
    for epoch in range(1, synthetic.epochs + 1):
        result = train_one_epoch(state, data, synthetic, epoch)
        if StopFlag.requested:
            return None
        state.progress.batch = 0
        val = evaluate(model, data.val_x, data.val_y, synthetic)
        log.info("pre-training epoch %d/%d  train loss %.4f acc %.4f  synthetic val acc %.4f  %.1f s", epoch,
                 synthetic.epochs, result.loss, result.acc, val.acc, result.seconds)
        if on_epoch:
            on_epoch(epoch, synthetic.epochs, val.acc)
    weights = model.state_dict()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda file: torch.save(weights, file))
    return weights


# -- a pre-training run: the synthetic set as its data, shippable weights as its result ----------
def pretraining_run_config(like: TrainConfig, per_class: int, epochs: int, fonts: str = "") -> TrainConfig:
    """A run that learns `per_class` synthetic characters per class with `like`'s model and input
    (the recipe `like` would pre-train with), drawn in the fonts under `fonts` or the machine's;
    its data is where that set is cached."""
    base = dataclasses.replace(like, pretrain=per_class, pretrain_epochs=epochs, init="", fonts=fonts)
    root = synthetic_root(per_class, pretraining_seed(base), synthetic_fonts(fonts))
    return dataclasses.replace(pretrain_config(base, root), synthetic=per_class, fonts=fonts, device=like.device,
                               name=like.name, preset=like.preset, amp=like.amp, eval_batch_size=like.eval_batch_size)


def draw_synthetic_data(config: TrainConfig, on_progress=None) -> bool:
    """A pre-training run's set drawn into its `data` folder when not there yet; False when a stop
    request ended the drawing. The folder must be the one this run's recipe and fonts name in the
    cache, and hold that many synthetic characters and no test split: never a data set, for the
    weights' card says they saw synthetic characters only."""
    root = Path(config.data).expanduser()
    fonts = synthetic_fonts(config.fonts)
    expected = synthetic_root(config.synthetic, config.seed, fonts)
    if root.resolve() != expected.resolve():
        raise ConfigError(f"{root}: not the synthetic set of this pre-training run and these fonts ({expected.name}"
                          " in the cache); its fonts changed since it was queued, or its config was edited")
    if not _draw_set(root, config.synthetic, config.seed, fonts, on_progress):
        return False
    labels = read_labels(root / "trainLabels.csv")
    if len(labels) != config.synthetic * NUM_CLASSES or (root / "test").exists() or (root / "testResized").exists():
        raise ConfigError(f"{root}: not the set this run drew ({len(labels)} labelled images where it drew "
                          f"{config.synthetic * NUM_CLASSES}, or a test split): delete the folder and resume")
    return True


def pretrain_command(config: TrainConfig) -> str:
    """The command that makes a pre-training run like this one again."""
    like = config.preset or "fast"
    parts = ["python -m julia_core pretrain", f"--like {like}", f"--per-class {config.synthetic}",
             f"--epochs {config.epochs}", f"--seed {config.seed}"]
    shape = PRESETS.get(like, {})
    for option in ("model", "image_size", "mode", "normalize"):
        if shape.get(option, getattr(TrainConfig, option)) != getattr(config, option):
            value = {"L": "grey", "RGB": "rgb"}.get(config.mode) if option == "mode" else getattr(config, option)
            parts.append(f"--{option.replace('_', '-')} {value}")
    if config.fonts:
        parts.append(f"--fonts {config.fonts}")
    return " ".join(parts)


def check_accuracy(model, config: TrainConfig, fonts: list[str]) -> float:
    """Accuracy on the synthetic check set: the demo generator's CHECK_SEED characters in `fonts`,
    at the run's input (drawn once into the cache)."""
    from julia_core.data.dataset import KaggleDataset
    from julia_core.training.tensors import run_images
    root = settings.cache_dir() / "synthetic" / f"check-{weights.CHECK_PER_CLASS}-seed{weights.CHECK_SEED}-fonts-{demo.fonts_digest(fonts)}"
    if not (root / "trainLabels.csv").is_file():
        demo.generate_demo(root, weights.CHECK_PER_CLASS, 0, weights.CHECK_SEED, force=True,
                           drawing=demo.Drawing(fonts=tuple(fonts)))
    images = run_images(KaggleDataset(root), "train", config)
    device = next(model.parameters()).device
    return evaluate(model, torch.from_numpy(images.images).to(device), torch.from_numpy(images.labels), config).acc


def export_pretrained(model, config: TrainConfig, run_folder: Path) -> weights.WeightsCard:
    """weights.pt and weights.json in the run folder: the model's weights in float16 and their card."""
    fonts = synthetic_fonts(config.fonts)
    families = demo.family_names(fonts)
    colour = "grey" if config.mode == "L" else "rgb"
    card = weights.WeightsCard(
        name=f"{config.model}-{config.image_size}-{colour}-synth", model=config.model,
        image_size=config.image_size, mode=config.mode, normalize=config.normalize, storage="float16",
        synthetic=dict(per_class=config.synthetic, seed=config.seed + SYNTHETIC_SEED_OFFSET,
                       generator="julia_core.synthetic.demo", font_families=families,
                       fonts_digest=demo.fonts_digest(fonts), font_files=len(fonts), val_fraction=config.val_fraction),
        pretraining=dict(epochs=config.epochs, seed=config.seed, optimizer=config.optimizer, lr=config.lr,
                         schedule=config.schedule, batch_size=config.batch_size, weight_decay=config.weight_decay,
                         label_smoothing=config.label_smoothing, augment=config.augment,
                         channels_last=config.channels_last),
        check_accuracy=round(check_accuracy(model, config, fonts), 4), sha256="", bytes=0,
        torch=torch.__version__.split("+")[0], command=pretrain_command(config), run=run_folder.name,
        kaggle_images_seen=0,  # draw_synthetic_data checked that the run's data is its own synthetic set
        notes=[f"synthetic check set: {weights.CHECK_PER_CLASS} characters per class drawn by the demo generator "
               f"with seed {weights.CHECK_SEED} in the same fonts"])
    return weights.write_weights(model.state_dict(), card, run_folder, stem=weights.RUN_STEM)
