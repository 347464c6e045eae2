"""Pseudo-labels: the unlabelled test images that teacher runs agree on, as extra training data.

Semi-supervised self-training. The labels come from our own models' mean prediction, never
from an answer file, and the teachers must validate on the student's split: a teacher that
learnt the student's validation images would pass them on through its labels and inflate the
student's validation score.
"""
from pathlib import Path

import numpy as np
import torch

from julia_core.data.split import split_key
from julia_core.errors import JuliaError
from julia_core.predict.ensemble import predict_test
from julia_core.errors import RunDamaged
from julia_core.runs.store import RunDir, prediction_checkpoint
from julia_core.training.config import TrainConfig
from julia_core.training.tensors import Data


class PseudoLabelError(JuliaError):
    """Teachers that cannot label the test images for this run; one line naming the run."""


def teacher_refs(value: str) -> list[str]:
    """The config's comma-separated teacher runs."""
    return [part.strip() for part in value.split(",") if part.strip()]


def check_teachers(refs: list, config: TrainConfig) -> list[Path]:
    """Each teacher is an intact run with a best checkpoint on the same split as `config` (any
    split for a refit, which has no validation images to leak); returns their directories."""
    teachers = []
    for ref in refs:
        run_dir = RunDir(Path(ref).expanduser())
        if not run_dir.config_file.is_file():
            raise PseudoLabelError(f"{run_dir.path}: not a run directory (no {RunDir.CONFIG}); "
                                   "pseudo-label names teacher runs")
        try:
            teacher = run_dir.read_config()
        except RunDamaged as err:
            raise PseudoLabelError(f"teacher {err}") from None
        if not run_dir.has_checkpoint(prediction_checkpoint(teacher)):
            raise PseudoLabelError(f"{run_dir.path}: has no {prediction_checkpoint(teacher)} checkpoint yet; a teacher "
                                   "must have trained an epoch")
        if config.has_validation and teacher.is_refit:
            raise PseudoLabelError(f"{run_dir.name} is a refit: it learnt every labelled image, this run's validation "
                                   "images too, and its labels would carry them; teach a refit with it instead")
        if config.has_validation and split_key(teacher) != split_key(config):
            raise PseudoLabelError(f"{run_dir.name}: validates on another split (seed, validation fraction or fold "
                                   "differ); its labels would carry this run's validation images")
        teachers.append(run_dir.path)
    if not teachers:
        raise PseudoLabelError("pseudo-label names no teacher run")
    return teachers


def pseudo_labels(teachers: list[Path], data_dir: Path, threshold: float, device: str = "auto"):
    """(test IDs, labels) of the test images whose mean teacher probability for their top class
    reaches `threshold`."""
    ids, probs = predict_test(teachers, data_dir, device=device)
    keep = probs.max(1) >= threshold
    return ids[keep], probs[keep].argmax(1).astype(np.int64)


def add_pseudo_labelled(data: Data, config: TrainConfig) -> tuple[Data, int]:
    """`data` with the test images the config's teachers label confidently added to its training
    images (in this run's preprocessing); and how many were added."""
    if data.test_x is None:
        raise PseudoLabelError(f"{config.data}: no test images from source {config.source!r} to pseudo-label")
    teachers = check_teachers(teacher_refs(config.pseudo_label), config)
    device = data.test_x.device
    ids, classes = pseudo_labels(teachers, Path(config.data).expanduser(), config.pseudo_threshold, str(device))
    extra = data.test_x[data.test_rows(ids)]
    return data.with_training_images(extra, torch.from_numpy(classes).to(device)), len(ids)
