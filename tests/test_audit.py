"""Label audit: k-fold runs whose out-of-fold predictions name the disputed labels."""
import numpy as np
import pytest
from conftest import open_page, run_cli

from julia_core.data.classes import class_index
from julia_core.data.dataset import KaggleDataset
from julia_core.data.split import fold_split, stratified_folds
from julia_core.errors import DataError
from julia_core.runs import audit, launcher
from julia_core.runs.store import RunDir, ValPredictions
from julia_core.training.config import ConfigError, make_config


def test_folds_are_stratified_complete_and_reproducible():
    labels = np.repeat(np.arange(6), [50, 23, 10, 5, 3, 1])
    assignment = stratified_folds(labels, 5, seed=3)
    assert set(assignment) == set(range(5))
    for label in range(6):
        counts = np.bincount(assignment[labels == label], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert np.array_equal(assignment, stratified_folds(labels, 5, seed=3))
    held_out = [fold_split(labels, 5, fold, 3)[1] for fold in range(5)]
    assert sorted(np.concatenate(held_out).tolist()) == list(range(len(labels)))
    train, val = fold_split(labels, 5, 2, 3)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(labels)


@pytest.mark.parametrize("folds,fold,error", [(1, 0, DataError), (5, 5, DataError)])
def test_bad_folds(folds, fold, error):
    with pytest.raises(error):
        fold_split(np.zeros(10), folds, fold)


@pytest.mark.parametrize("options,message", [({"folds": 1}, "folds must be 0"), ({"folds": 5, "fold": 7}, "fold must be in 0..4"),
                                             ({"group": "../x"}, "group '../x' may hold only")])
def test_bad_fold_options(options, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        make_config("fast", **options)


def test_disputed_labels_lowest_label_probability_first():
    labels = np.array([class_index(c) for c in "aabO"])
    probs = np.full((4, 62), 0.001, dtype=np.float32)
    probs[0, class_index("a")] = 0.9                                         # agrees
    probs[1, class_index("a")], probs[1, class_index("e")] = 0.05, 0.9        # disputed
    probs[2, class_index("b")], probs[2, class_index("h")] = 0.3, 0.6        # mildly disputed
    probs[3, class_index("O")], probs[3, class_index("0")] = 0.01, 0.97      # strongly disputed
    table = audit.disputed_labels(ValPredictions(np.array([10, 11, 12, 13]), labels, probs, 1))
    assert list(table["id"]) == [13, 11, 12]
    assert list(table["model says"]) == ["0", "e", "h"] and table.iloc[0]["p(label)"] == pytest.approx(0.01)


@pytest.mark.slow
def test_an_audit_end_to_end(small_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("JULIA_MAX_RUNS", "1")
    runs_root = tmp_path / "runs"
    config = make_config("fast", data=str(small_demo), image_size=20, batch_size=32, epochs=1)
    _, run_dirs = audit.launch_audit(config, runs_root, folds=2)
    assert len(run_dirs) == 2 and all("-fold" in d.name for d in run_dirs)
    for run_dir in run_dirs:
        assert launcher.wait_for(lambda: launcher.read_run(run_dir).status.state not in ("queued", "running"), 180, 0.3)
        assert launcher.read_run(run_dir).status.state == "finished", RunDir(run_dir).log_tail()
    [(group, members)] = audit.audit_groups(launcher.list_runs(runs_root)).items()
    merged = audit.out_of_fold(members)
    assert sorted(merged.ids.tolist()) == sorted(KaggleDataset(small_demo).train_ids)
    assert merged.probs.shape == (186, 62)
    table = audit.disputed_labels(merged, top=10)
    assert len(table) <= 10 and (table["label"] != table["model says"]).all()

    # score pools the folds: the cross-validated accuracy over every labelled image
    right = int((merged.probs.argmax(1) == merged.labels).sum())
    scored = run_cli("score", *[arg for d in run_dirs for arg in ("--run", d)], timeout=120)
    assert scored.returncode == 0 and f"({right}/186) from 2 run(s)" in scored.stdout, scored.stderr

    report = run_cli("audit", "--runs", runs_root, "--report", group, timeout=120)
    assert report.returncode == 0 and "model says" in report.stdout

    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    monkeypatch.setenv("JULIA_RUNS", str(runs_root))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "state.json"))
    app = open_page("evaluate")
    assert not app.exception
    assert "Label audit" in [h.value for h in app.subheader]
    assert any(box.label == "Audit" for box in app.selectbox)


def test_an_incomplete_audit_is_a_message(demo_run):
    runs_root, run_dir = demo_run
    run = launcher.read_run(run_dir)
    with pytest.raises(Exception, match="exactly one finished run per fold"):
        audit.out_of_fold([run])
