"""Label audit: which labelled images a cross-validated model disputes most strongly.

Each of k runs holds out one stratified fold, so every labelled image is predicted once by a
model that never trained on it. An image whose own label gets a low probability while another
class gets a high one is likely mislabelled (or a genuinely ambiguous crop: O/0, l/I/1).
"""
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from julia_core.runs import launcher as runs
from julia_core.training.config import TrainConfig, validate
from julia_core.errors import JuliaError
from julia_core.views.mistakes import ValPredictions, load_val_predictions
from julia_core.data.classes import CLASSES


def launch_audit(config: TrainConfig, runs_root: Path, folds: int = 5) -> list[Path]:
    """Queue one run per fold (they run one after another); returns their directories."""
    group = f"audit-{datetime.now():%Y%m%d-%H%M%S}"
    run_dirs = []
    for fold in range(folds):
        fold_config = TrainConfig.from_dict({**config.to_dict(), "folds": folds, "fold": fold, "group": group,
                                             "name": f"{group}-fold{fold}"})
        validate(fold_config)
        run_dirs.append(runs.prepare_run(fold_config, runs_root))
    runs.schedule(runs_root)
    return run_dirs


def audit_groups(run_list: list[runs.Run]) -> dict[str, list[runs.Run]]:
    """Cross-validation groups by name, newest first, each with its fold runs."""
    groups: dict[str, list[runs.Run]] = {}
    for run in run_list:
        if run.config.get("group") and run.config.get("folds", 0) > 1:
            groups.setdefault(run.config["group"], []).append(run)
    return dict(sorted(groups.items(), reverse=True))


def out_of_fold(run_list: list[runs.Run]) -> ValPredictions:
    """The folds' validation predictions joined: every labelled image once."""
    folds = {run.config.get("folds") for run in run_list}
    if len(folds) != 1 or len(run_list) != folds.pop():
        raise JuliaError("an audit needs exactly one finished run per fold")
    unfinished = [run.name for run in run_list if run.state != "finished"]
    if unfinished:
        raise JuliaError(f"the audit is not complete: {', '.join(unfinished)} not finished")
    parts = [load_val_predictions(run.path) for run in run_list]
    return ValPredictions(np.concatenate([p.ids for p in parts]), np.concatenate([p.labels for p in parts]),
                          np.concatenate([p.probs for p in parts]), min(p.epoch for p in parts))


def disputed_labels(predictions: ValPredictions, top: int = 60) -> pd.DataFrame:
    """The labels the out-of-fold model disputes most: lowest probability of the given label
    first, where the model prefers another class."""
    rows = np.arange(len(predictions.labels))
    p_label = predictions.probs[rows, predictions.labels]
    predicted = predictions.predicted
    frame = pd.DataFrame({
        "id": predictions.ids.astype(int),
        "label": [CLASSES[i] for i in predictions.labels],
        "model says": [CLASSES[i] for i in predicted],
        "p(label)": p_label.astype(float),
        "p(model says)": predictions.probs[rows, predicted].astype(float),
    })
    frame = frame[predicted != predictions.labels]
    return frame.sort_values("p(label)").head(top).reset_index(drop=True)
