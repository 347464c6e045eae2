"""Kaggle submissions: `ID,Class`, every test ID exactly once, a valid class on each row."""
from pathlib import Path

import numpy as np

from julia_core.errors import DataError
from julia_core.data.label_file import read_labels, write_labels
from julia_core.data.classes import CLASSES, class_name


def write_submission(path: Path, ids, class_indices, replace: bool = True) -> Path:
    """With replace=False an existing file is FileExistsError and stays as it was."""
    labels = {int(i): class_name(int(c)) for i, c in zip(np.asarray(ids), np.asarray(class_indices))}
    write_labels(path, labels, replace)
    return Path(path)


def validate_submission(path: Path, expected_ids) -> dict[int, str]:
    """The rows of a valid submission; a DataError naming the first problem otherwise."""
    labels = read_labels(path)  # header, numeric unique IDs, valid classes
    expected = set(int(i) for i in expected_ids)
    missing = sorted(expected - set(labels))
    extra = sorted(set(labels) - expected)
    if missing:
        raise DataError(f"{path}: {len(missing)} test IDs have no row, the first is {missing[0]}")
    if extra:
        raise DataError(f"{path}: {len(extra)} rows name IDs that are not test images, the first is {extra[0]}")
    return labels


def accuracy_against(labels: dict[int, str], answers: dict[int, str]) -> float:
    """A submission's accuracy against an answer key (the demo set's testAnswers.csv): Kaggle's metric."""
    return sum(labels.get(i) == name for i, name in answers.items()) / max(len(answers), 1)


def class_order(name: str) -> int:
    """Sort key for class names: a-z A-Z 0-9, as everywhere else."""
    return CLASSES.index(name)
