"""Predict the test split from one run or the mean probabilities of several; write a submission."""
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from julia_core.data.dataset import KaggleDataset
from julia_core.data.split import run_split, same_split, split_key
from julia_core.errors import DataError
from julia_core.predict.inference import predict_as_trained
from julia_core.predict.submission import validate_submission, write_submission
from julia_core.errors import RunDamaged
from julia_core.errors import RunError
from julia_core.runs.store import BEST, RunDir, prediction_checkpoint
from julia_core.training.config import TrainConfig
from julia_core.training.device import select_device
from julia_core.training.models import build_model
from julia_core.training.tensors import run_images


def load_run_model(run_dir: Path, device: torch.device,
                   checkpoint: str | None = None) -> tuple[torch.nn.Module, TrainConfig]:
    """A run's model in eval mode, and its config: with the weights it predicts with (best.pt, a
    refit's last.pt), or the checkpoint named. A damaged config or checkpoint is one line naming
    the file."""
    run_dir = RunDir(run_dir)
    config = run_dir.read_config()
    if checkpoint == BEST and config.is_refit:
        raise RunError(f"{run_dir.name} is a refit (no validation split, so no best epoch): it predicts with its "
                       "last weights; leave --checkpoint out or give last")
    checkpoint = checkpoint or prediction_checkpoint(config)
    state = run_dir.load_checkpoint(checkpoint, map_location=device)
    # predict in the layout the run trained in: faster where it chose it
    model = build_model(config.model, 1 if config.mode == "L" else 3, config.channels_last).to(device)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError):  # config.json edited since, another run's file copied in
        raise RunDamaged(f"{run_dir.checkpoint_file(checkpoint)}: its weights do not fit the {config.model} for "
                         f"{config.mode} images that {RunDir.CONFIG} describes") from None
    return model.eval(), config


def predict_test(run_dirs: list[Path], data_dir: Path, tta: bool = False, device: str = "auto",
                 checkpoint: str | None = None, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """(test IDs, mean class probabilities (N, 62)) over the runs, each with its own preprocessing."""
    if not run_dirs:
        raise DataError("predict needs at least one run")
    dataset = KaggleDataset(data_dir)
    dataset.require_test_images()
    target = select_device(device)
    total = None
    for index, run_dir in enumerate(run_dirs):
        model, config = load_run_model(run_dir, target, checkpoint)
        source = config.source if config.source in dataset.sources("test") else dataset.default_source("test")
        test = run_images(dataset, "test", config, source)
        step = (lambda done, count, index=index: progress(index * count + done, len(run_dirs) * count)) \
            if progress else None  # one bar over all the runs
        probs = predict_as_trained(model, torch.from_numpy(test.images).to(target), config, tta, step).numpy()
        total = probs if total is None else total + probs
        ids = test.ids
    return ids, total / len(run_dirs)


def refuse_refit(run_dir: RunDir) -> None:
    """A refit trained on every labelled image: there is no held-out image left to score it on."""
    config = run_dir.read_config()
    if config.is_refit:
        raise RunError(f"{run_dir.name} is a refit of {config.refit_of} on every labelled image: it has no "
                       f"validation split to score on; score {config.refit_of} for its recipe")


def predict_val(run_dirs: list[Path], data_dir: Path | None = None, tta: bool = False, device: str = "auto",
                checkpoint: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(val IDs, true labels, mean class probabilities) of runs that validate on the same split:
    how an ensemble, or test-time augmentation, would have scored, without touching the test set.
    Runs on different folds of one k-fold split each predict their own fold (an ensemble where a
    fold has several), pooled: the cross-validated figure over every fold they cover."""
    if not run_dirs:
        raise DataError("scoring needs at least one run")
    target = select_device(device)
    folds: dict[tuple, list] = {}  # split key -> [ids, labels, summed probabilities, runs]
    first = None
    for run_dir in run_dirs:
        refuse_refit(RunDir(run_dir))
        model, config = load_run_model(run_dir, target, checkpoint)
        if first is None:
            first = (Path(run_dir).name, config)
            dataset = KaggleDataset(Path(data_dir or config.data).expanduser())
        elif not same_split(config, first[1]):
            raise DataError(f"{Path(run_dir).name}: validates on another split than {first[0]} "
                            "(seed, validation fraction or folds differ); an ensemble score needs one split")
        train = run_images(dataset, "train", config)
        _, val = run_split(train.labels, config)
        probs = predict_as_trained(model, torch.from_numpy(train.images[val]).to(target), config, tta).numpy()
        entry = folds.setdefault(split_key(config), [train.ids[val], train.labels[val], 0.0, 0])
        entry[2], entry[3] = entry[2] + probs, entry[3] + 1
    parts = [folds[key] for key in sorted(folds)]
    return (np.concatenate([ids for ids, _, _, _ in parts]), np.concatenate([labels for _, labels, _, _ in parts]),
            np.concatenate([total / count for _, _, total, count in parts]))


def score_val(run_dirs: list[Path], data_dir: Path | None = None, tta: bool = False, device: str = "auto",
              checkpoint: str | None = None) -> tuple[int, int]:
    """(right, images): the runs' mean prediction on their shared validation split."""
    _, labels, probs = predict_val(run_dirs, data_dir, tta, device, checkpoint)
    return int((probs.argmax(1) == labels).sum()), len(labels)


def submission_names(runs_root: Path, runs: list, tta: bool):
    """runs/submissions/<YYYYmmdd-HHMMSS>-<run or ensemble-N>[-tta].csv, then -2, -3, ... after it."""
    name = runs[0].name if len(runs) == 1 else f"ensemble-{len(runs)}"
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{name}{'-tta' if tta else ''}"
    folder = Path(runs_root) / "submissions"
    yield folder / f"{stem}.csv"
    for n in range(2, 10_000):
        yield folder / f"{stem}-{n}.csv"


def write_new_submission(runs: list, data_dir: Path, runs_root: Path, tta: bool = False, progress=None) -> Path:
    """The runs' submission under runs/submissions/, kept and never overwritten: the name is taken
    when the file is written, so two sessions predicting in the same second get two files."""
    ids, probs = predict_test([run.dir for run in runs], data_dir, tta, progress=progress)
    for path in submission_names(runs_root, runs, tta):
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_submission(path, ids, probs.argmax(1), replace=False)
        except FileExistsError:
            continue
        validate_submission(path, ids)
        return path
    raise DataError(f"{Path(runs_root) / 'submissions'}: no free file name left for {path.name}")


def write_prediction(run_dirs: list[Path], data_dir: Path, out: Path, tta: bool = False,
                     device: str = "auto", checkpoint: str | None = None, progress=None) -> Path:
    """The Kaggle submission file at `out` (replaced if there), validated after writing."""
    ids, probs = predict_test(run_dirs, data_dir, tta, device, checkpoint, progress)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_submission(out, ids, probs.argmax(1))
    validate_submission(out, ids)
    return out
