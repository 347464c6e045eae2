"""Every training option in one dataclass, the presets, and the checks that reject nonsense."""
import dataclasses
import re
from dataclasses import dataclass, fields

from julia_core.errors import JuliaError
from julia_core.data.images import MODES


class ConfigError(JuliaError):
    """A training option that makes no sense; one line naming the option."""


OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("onecycle", "cosine", "constant")
DEVICES = ("auto", "cuda", "mps", "cpu")
NORMALIZATIONS = ("per_image", "unit")  # standardise each image, or plain /255 as the original did
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RUN_FOLDER_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # a run folder: its time, name, -N


@dataclass
class TrainConfig:
    data: str = ""
    model: str = "charnet"
    image_size: int = 32
    mode: str = "L"                 # "L" grey or "RGB"
    source: str = "resized"         # Kaggle's 20x20 copies, or "original"
    keep_aspect: bool = False
    epochs: int = 15
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 3e-3
    momentum: float = 0.9           # SGD only
    schedule: str = "onecycle"
    warmup_epochs: float = 0.0      # cosine only
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    augment: float = 0.5            # 0 (none) .. 1 (strong): affine, colour, inversion, erasing
    mixup: float = 0.0              # Beta(a, a) blend of image pairs per batch; 0 is off
    ema: float = 0.0                # >0: evaluate and save an exponential moving average of the weights, this decay per step
    cutmix: float = 0.0             # Beta(a, a) pasted rectangles per batch; 0 is off (both on: one per batch)
    init: str = ""                  # start from these weights: a run directory (its best.pt) or a .pt file
    pretrain: int = 0               # first learn this many synthetic characters per class (0: no)
    pretrain_epochs: int = 8
    pretrain_seed: int = -1         # the pre-training's seed; -1: `seed`. A refit's seeds share their run's pre-training
    synthetic: int = 0              # >0: a pre-training run: learn this many synthetic characters per class (drawn
    #                                 at its start into `data`) and end by writing shippable weights (weights.py)
    fonts: str = ""                 # draw synthetic characters in the fonts under this folder ("": the machine's)
    pseudo_label: str = ""          # teacher runs (comma-separated): their confident test labels join the training set
    pseudo_threshold: float = 0.7   # the teachers' mean top probability a test image needs to join
    normalize: str = "per_image"
    val_fraction: float = 0.2       # 0 only for a refit: every labelled image trains
    folds: int = 0                  # >1: k-fold cross-validation, `fold` held out (val_fraction unused)
    fold: int = 0
    group: str = ""                 # runs that belong together, e.g. the folds of a label audit
    seed: int = 0
    split_seed: int = -1            # the validation split's seed; -1: `seed`. Set it to ensemble seeds on one split
    device: str = "auto"
    amp: bool = True                # bf16 autocast where the device has bf16 in hardware (CUDA, AVX512-BF16/AMX CPUs)
    channels_last: bool = False     # NHWC convolutions: faster at batch 128, slower at batch 8 (docs/BENCHMARKS.md)
    compile: bool = False
    eval_batch_size: int = 1024
    log_every: int = 20             # steps between train-loss points
    gpus: int = 1                   # >1: DDP through torchrun (on the CPU: that many gloo processes)
    preset: str = ""
    name: str = ""
    refit_of: str = ""              # a refit: this finished run's recipe again, on every labelled image
    sweep: str = ""                 # a sweep's trial: the sweep's name (its study) ...
    trial: int = -1                 # ... and the trial's number in it

    @property
    def is_refit(self) -> bool:
        return bool(self.refit_of)

    @property
    def has_validation(self) -> bool:
        """Whether the run holds images out to validate on (a refit does not)."""
        return not self.refit_of

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, check_types: bool = False) -> "TrainConfig":
        """The options in `values`, the defaults for the rest; with check_types each value must
        have its option's type (config.json read back from disk: a hand edit may have broken it)."""
        known = {field.name: field for field in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"unknown option(s) in config: {', '.join(unknown)}")
        if check_types:
            for name, value in values.items():
                _check_option_type(name, value, type(known[name].default))
        return cls(**values)


def _check_option_type(name: str, value, kind: type) -> None:
    fits = (isinstance(value, bool) if kind is bool else
            isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else
            isinstance(value, int) and not isinstance(value, bool) if kind is int else isinstance(value, kind))
    if not fits:
        expected = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}[kind]
        raise ConfigError(f"option {name!r} is {value!r}, expected {expected}")


# The pre-training `best` has used since docs/EXPERIMENTS.md session 6, and the shipped weights' own.
PRETRAIN_PER_CLASS, PRETRAIN_EPOCHS = 2000, 6

PRESETS: dict[str, dict] = {
    # The original workflow: resnet18 with a 3x3 stride-1 conv1, 28 px grey from the 20x20
    # copies, batch 8, a 4:1 split, no augmentation, inputs scaled to 0..1.
    "seed": dict(model="seed_resnet18", image_size=28, mode="L", source="resized", epochs=10,
                 batch_size=8, optimizer="adamw", lr=1e-3, schedule="constant", weight_decay=0.0,
                 label_smoothing=0.0, augment=0.0, normalize="unit", val_fraction=0.2),
    # A few minutes on a 2-core CPU, useful accuracy.
    "fast": dict(model="charnet", image_size=32, mode="L", source="resized", epochs=15, batch_size=128,
                 optimizer="adamw", lr=3e-3, schedule="onecycle", weight_decay=5e-4,
                 label_smoothing=0.1, augment=0.5, normalize="per_image", channels_last=True),
    # Highest accuracy (docs/EXPERIMENTS.md): charnet at 48 px from the originals, starting from the
    # shipped weights (julia_core/weights/: 2000 synthetic characters per class, 6 epochs, made by
    # `pretrain --like best`), fine-tuned at a lower rate with mixup. `--pretrain 2000` pre-trains
    # on this machine instead.
    "best": dict(model="charnet", image_size=48, mode="L", source="original", epochs=40, batch_size=128,
                 optimizer="adamw", lr=1e-3, schedule="onecycle", weight_decay=5e-4, label_smoothing=0.1,
                 augment=0.5, mixup=0.2, normalize="per_image", init="charnet-48-grey-synth-v1",
                 pretrain_epochs=PRETRAIN_EPOCHS, channels_last=True),
}


def copy_options(config: TrainConfig) -> TrainConfig:
    """Another run's options as the start of a new one: its recipe, not its name, its sweep or
    trial, or its refit mark (a refit's recipe is its run's, with that run's validation split)."""
    values = dict(name="", sweep="", trial=-1, refit_of="")
    if config.is_refit:
        values["val_fraction"] = TrainConfig.val_fraction
    return dataclasses.replace(config, **values)


def make_config(preset: str | None = None, **overrides) -> TrainConfig:
    """A preset (or the defaults) with the given options on top; validated."""
    values = {}
    if preset:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
        values.update(PRESETS[preset], preset=preset)
    given = {key: value for key, value in overrides.items() if value is not None}
    if given.get("pretrain") and "init" not in given:  # pre-training here again replaces the preset's weights
        values["init"] = ""
    values.update(given)
    config = TrainConfig.from_dict(values)
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    from julia_core.training.models import MODELS  # models imports torch; keep `config` light for the CLI's --help

    def need(ok: bool, message: str) -> None:
        if not ok:
            raise ConfigError(message)

    need(config.model in MODELS, f"unknown model {config.model!r} (choose from {', '.join(MODELS)})")
    need(8 <= config.image_size <= 256, f"image size must be between 8 and 256 px, got {config.image_size}")
    need(config.mode in MODES, f"mode must be 'L' (grey) or 'RGB', got {config.mode!r}")
    need(config.source in ("resized", "original"), f"source must be 'resized' or 'original', got {config.source!r}")
    need(1 <= config.epochs <= 10_000, f"epochs must be between 1 and 10000, got {config.epochs}")
    need(1 <= config.batch_size <= 65_536, f"batch size must be between 1 and 65536, got {config.batch_size}")
    need(1 <= config.eval_batch_size <= 65_536, f"eval batch size must be at least 1, got {config.eval_batch_size}")
    need(config.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {config.optimizer!r}")
    need(config.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {config.schedule!r}")
    need(0 < config.lr <= 10, f"learning rate must be above 0 and at most 10, got {config.lr}")
    need(0 <= config.momentum < 1, f"momentum must be in [0, 1), got {config.momentum}")
    need(0 <= config.warmup_epochs < config.epochs, f"warmup epochs must be in [0, epochs), got {config.warmup_epochs}")
    need(0 <= config.weight_decay <= 1, f"weight decay must be in [0, 1], got {config.weight_decay}")
    need(0 <= config.label_smoothing < 1, f"label smoothing must be in [0, 1), got {config.label_smoothing}")
    need(0 <= config.augment <= 1, f"augmentation strength must be in [0, 1], got {config.augment}")
    need(0 <= config.mixup <= 10, f"mixup must be in [0, 10] (a Beta alpha; 0 is off), got {config.mixup}")
    need(0 <= config.ema < 1, f"ema must be in [0, 1) (a decay per step; 0 is off), got {config.ema}")
    need(0 <= config.cutmix <= 10, f"cutmix must be in [0, 10] (a Beta alpha; 0 is off), got {config.cutmix}")
    need(0 <= config.pretrain <= 5000,
         f"pretrain must be 0 (off) to 5000 synthetic images per class, got {config.pretrain}")
    need(1 <= config.pretrain_epochs <= 1000,
         f"pretrain epochs must be between 1 and 1000, got {config.pretrain_epochs}")
    need(not (config.pretrain and config.init), "pretrain and init both set: start from a run's weights or "
         "pre-train on synthetic characters, not both")
    need(not (config.pretrain and config.gpus > 1), "pretrain runs on one device; use --gpus 1 with it")
    need(0 <= config.synthetic <= 5000,
         f"synthetic must be 0 (a data set) to 5000 synthetic images per class, got {config.synthetic}")
    need(not config.synthetic or not (config.init or config.pretrain or config.refit_of or config.folds
                                      or config.pseudo_label),
         "a pre-training run (synthetic) starts from nothing: no init, pretrain, refit, folds or pseudo-labels")
    need(not (config.synthetic and config.gpus > 1), "a pre-training run (synthetic) runs on one device; use --gpus 1")
    need(0 < config.pseudo_threshold <= 1,
         f"pseudo threshold must be above 0 and at most 1 (a probability), got {config.pseudo_threshold}")
    need(config.normalize in NORMALIZATIONS, f"normalize must be one of {', '.join(NORMALIZATIONS)}")
    if config.refit_of:
        need(config.val_fraction == 0 and config.folds == 0,
             "a refit trains on every labelled image: validation fraction 0 and no folds")
        need(bool(RUN_FOLDER_PATTERN.match(config.refit_of)), f"refit of {config.refit_of!r} must name a run folder")
    else:
        need(0 < config.val_fraction < 1,
             f"validation fraction must be above 0 and below 1, got {config.val_fraction}")
    need(config.folds == 0 or 2 <= config.folds <= 20, f"folds must be 0 (no cross-validation) or 2 to 20, got {config.folds}")
    need(config.folds == 0 or 0 <= config.fold < config.folds, f"fold must be in 0..{config.folds - 1}, got {config.fold}")
    need(not config.group or bool(NAME_PATTERN.match(config.group)), f"group {config.group!r} may hold only letters, digits, '.', '_' and '-'")
    need(config.pretrain_seed >= -1,
         f"pretrain seed must be -1 (the run's seed) or at least 0, got {config.pretrain_seed}")
    need(config.split_seed >= -1, f"split seed must be -1 (the run's seed) or at least 0, got {config.split_seed}")
    need(not config.sweep or bool(NAME_PATTERN.match(config.sweep)), f"sweep {config.sweep!r} may hold only letters, digits, '.', '_' and '-'")
    need(bool(config.sweep) == (config.trial >= 0), "a sweep's trial names both its sweep and its trial number")
    need(config.device in DEVICES, f"device must be one of {', '.join(DEVICES)}, got {config.device!r}")
    need(1 <= config.gpus <= 64, f"gpus must be between 1 and 64, got {config.gpus}")
    need(config.log_every >= 1, f"log every must be at least 1 step, got {config.log_every}")
    need(not config.name or bool(NAME_PATTERN.match(config.name)),
         f"run name {config.name!r} may hold only letters, digits, '.', '_' and '-' (at most 64, "
         "starting with a letter or digit)")
