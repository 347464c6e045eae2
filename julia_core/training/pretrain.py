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
from julia_core.files import write_atomic
from julia_core.synthetic import demo  # through the module: tests stand in for the machine's fonts
from julia_core.training.config import TrainConfig
from julia_core.training.tensors import load_data
from julia_core.training.device import computes_in_bf16
from julia_core.training.loop import TrainState, evaluate, train_one_epoch
from julia_core.training.stop_flag import StopFlag
from julia_core.training.models import build_model

log = logging.getLogger("julia_core.trainer")
SYNTHETIC_SEED_OFFSET = 1  # the synthetic set's seed is not the demo set's: other images
FEW_FAMILIES = 20          # a stock system has 3-10 font families; varied letter shapes help


def synthetic_set(per_class: int, seed: int) -> Path | None:
    """The cached synthetic train-only set of `per_class` images per class (made when missing);
    None when a stop request ended the drawing."""
    fonts = demo.machine_fonts()  # new fonts on the machine: a new set
    root = settings.cache_dir() / "synthetic" / f"{per_class}-per-class-seed{seed}-fonts-{demo.fonts_digest(fonts)}"
    if not (root / "trainLabels.csv").is_file():
        families = len(demo.font_families(tuple(fonts)))
        if families < FEW_FAMILIES:
            log.info("only %d font families on this machine: scripts/install_fonts.sh brings it to 69, worth "
                     "0.2-0.7 points of validation accuracy (docs/EXPERIMENTS.md, sessions 6 and 8)", families)
        started = time.perf_counter()
        try:
            demo.generate_demo(root, per_class, 0, seed + SYNTHETIC_SEED_OFFSET, force=True,
                               drawing=demo.Drawing(processes=True, should_stop=lambda: StopFlag.requested))
        except demo.DrawingStopped as stopped:
            log.info("drawing the synthetic set: %s", stopped)
            return None
        log.info("drew %d synthetic characters in %d font families into %s in %.0f s", per_class * 62, families,
                 settings.portable_path(root), time.perf_counter() - started)  # a shared log: no home path
    return root


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
                               sweep="", trial=-1,
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
                   fonts=demo.fonts_digest(demo.machine_fonts()),
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
    synthetic_root = synthetic_set(config.pretrain, pretraining_seed(config))
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
