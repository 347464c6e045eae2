"""Pseudo-labels: the unlabelled test images that teacher runs agree on, as extra training data.

Semi-supervised self-training. The labels come from our own models' mean prediction, never
from an answer file, and the teachers must validate on the student's split: a teacher that
learnt the student's validation images would pass them on through its labels and inflate the
student's validation score.
"""
from pathlib import Path

import numpy as np

from julia_core.errors import JuliaError


class PseudoLabelError(JuliaError):
    """Teachers that cannot label the test images for this run; one line naming the run."""


def teacher_refs(value: str) -> list[str]:
    """The config's comma-separated teacher runs."""
    return [part.strip() for part in value.split(",") if part.strip()]


def check_teachers(refs: list, config) -> list[Path]:
    """Each teacher is a run with a best checkpoint on the same split as `config`; returns their
    directories."""
    from julia_core.runs import store as rundir
    from julia_core.training.config import TrainConfig
    from julia_core.predict.ensemble import split_key
    teachers = []
    for ref in refs:
        path = Path(ref).expanduser()
        if not (path / rundir.CONFIG).is_file():
            raise PseudoLabelError(f"{path}: not a run directory (no {rundir.CONFIG}); pseudo-label names teacher runs")
        if not (path / rundir.BEST).is_file():
            raise PseudoLabelError(f"{path}: has no best checkpoint yet; a teacher must have trained an epoch")
        teacher = TrainConfig.from_dict(rundir.read_json(path / rundir.CONFIG))
        if split_key(teacher) != split_key(config):
            raise PseudoLabelError(f"{path.name}: validates on another split (seed, validation fraction or fold "
                                   "differ); its labels would carry this run's validation images")
        teachers.append(path)
    if not teachers:
        raise PseudoLabelError("pseudo-label names no teacher run")
    return teachers


def pseudo_labels(teachers: list[Path], data_dir: Path, threshold: float, device: str = "auto"):
    """(test IDs, labels) of the test images whose mean teacher probability for their top class
    reaches `threshold`."""
    from julia_core.predict.ensemble import predict_test
    ids, probs = predict_test(teachers, data_dir, device=device)
    keep = probs.max(1) >= threshold
    return ids[keep], probs[keep].argmax(1).astype(np.int64)
