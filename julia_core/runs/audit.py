"""Label audit: which labelled images a cross-validated model disputes most strongly.

Each of k runs holds out one stratified fold, so every labelled image is predicted once by a
model that never trained on it. An image whose own label gets a low probability while another
class gets a high one is likely mislabelled (or a genuinely ambiguous crop: O/0, l/I/1).
"""
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from julia_core.data.classes import CLASSES
from julia_core.errors import JuliaError
from julia_core.runs import launcher
from julia_core.runs.status import FINISHED
from julia_core.runs.listing import Run
from julia_core.runs.store import RunDir, ValPredictions
from julia_core.training.config import TrainConfig, validate


def launch_audit(config: TrainConfig, runs_root: Path, folds: int = 5) -> tuple[str, list[RunDir]]:
    """Queue one run per fold (they run one after another); returns the group and their directories."""
    group = f"audit-{datetime.now():%Y%m%d-%H%M%S}"
    run_dirs = []
    for fold in range(folds):
        fold_config = TrainConfig.from_dict({**config.to_dict(), "folds": folds, "fold": fold, "group": group,
                                             "name": f"{group}-fold{fold}"})
        validate(fold_config)
        run_dirs.append(launcher.prepare_run(fold_config, runs_root))
    launcher.schedule(runs_root)
    return group, run_dirs


def audit_groups(runs: list[Run]) -> dict[str, list[Run]]:
    """Cross-validation groups by name, newest first, each with its fold runs (damaged runs whose
    config could be read still count: the audit then says which fold is wrong)."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        if run.config and run.config.group and run.config.folds > 1:
            groups.setdefault(run.config.group, []).append(run)
    return dict(sorted(groups.items(), reverse=True))


@dataclass
class AuditReport:
    """Where an audit stands: folds finished of all, and once complete the disputed labels."""
    finished: int
    folds: int
    disputed: pd.DataFrame | None  # None until every fold has finished
    data: str                      # the audited data set and the source its images came from
    source: str

    @property
    def complete(self) -> bool:
        return self.disputed is not None


def audit_report(members: list[Run], top: int = 48) -> AuditReport:
    """The report of one audit group (audit_groups' values); a damaged fold is one line."""
    for run in members:
        run.require_intact()
    finished = sum(run.state == FINISHED for run in members)
    config = members[0].config
    disputed = disputed_labels(out_of_fold(members), top) if finished == len(members) else None
    return AuditReport(finished, len(members), disputed, config.data, config.source)


def out_of_fold(run_list: list[Run]) -> ValPredictions:
    """The folds' validation predictions joined: every labelled image once."""
    folds = {run.config.folds for run in run_list}
    if len(folds) != 1 or len(run_list) != folds.pop():
        raise JuliaError("an audit needs exactly one finished run per fold")
    unfinished = [run.name for run in run_list if run.state != FINISHED]
    if unfinished:
        raise JuliaError(f"the audit is not complete: {', '.join(unfinished)} not finished")
    parts = [run.require_intact().dir.read_val_predictions() for run in run_list]
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
