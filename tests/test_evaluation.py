import numpy as np
import pytest

from julia_core.errors import RunError
from julia_core.runs.store import RunDir, ValPredictions
from julia_core.views import mistakes
from julia_core.data.classes import CLASSES, class_index


def predictions(pairs):
    """(true, predicted) class names -> ValPredictions with confident one-hot-ish probabilities."""
    labels = np.array([class_index(t) for t, _ in pairs])
    probs = np.full((len(pairs), 62), 0.1 / 61, dtype=np.float32)
    for row, (_, p) in enumerate(pairs):
        probs[row, class_index(p)] = 0.9
    return ValPredictions(np.arange(100, 100 + len(pairs)), labels, probs, epoch=3)


PAIRS = [("O", "0"), ("O", "0"), ("0", "O"), ("l", "1"), ("I", "l"), ("a", "a"), ("b", "b"), ("s", "S"), ("S", "S")]


def test_confusion_matrix_counts():
    p = predictions(PAIRS)
    matrix = mistakes.confusion_matrix(p.labels, p.predicted)
    assert matrix.shape == (62, 62) and matrix.sum() == len(PAIRS)
    assert matrix[class_index("O"), class_index("0")] == 2 and matrix[class_index("S"), class_index("S")] == 1
    assert p.accuracy == pytest.approx(3 / 9)


def test_row_normalised_rows_sum_to_one_or_zero():
    p = predictions(PAIRS)
    rows = mistakes.row_normalised(mistakes.confusion_matrix(p.labels, p.predicted)).sum(1)
    assert set(np.round(rows, 6)) <= {0.0, 1.0}


def test_per_class_metrics():
    p = predictions(PAIRS)
    frame = mistakes.per_class_metrics(mistakes.confusion_matrix(p.labels, p.predicted)).set_index("class")
    assert list(frame.index) == list(CLASSES)
    assert frame.loc["S", "precision"] == pytest.approx(0.5) and frame.loc["S", "recall"] == pytest.approx(1.0)
    assert frame.loc["S", "f1"] == pytest.approx(2 / 3) and frame.loc["O", "recall"] == 0
    assert frame.loc["z", "support"] == 0 and frame.loc["z", "f1"] == 0


def test_most_confused_pairs_merge_both_directions():
    p = predictions(PAIRS)
    pairs = mistakes.most_confused_pairs(mistakes.confusion_matrix(p.labels, p.predicted))
    assert pairs.iloc[0]["pair"] == "O / 0" and pairs.iloc[0]["total"] == 3
    assert set(pairs["pair"]) == {"O / 0", "l / 1", "l / I", "s / S"}


def test_confusion_order_puts_confused_classes_together():
    p = predictions(PAIRS)
    order = mistakes.confusion_order(mistakes.confusion_matrix(p.labels, p.predicted))
    assert sorted(order) == list(range(62))
    names = [CLASSES[i] for i in order]
    assert abs(names.index("O") - names.index("0")) == 1
    assert abs(names.index("s") - names.index("S")) == 1


def test_mistakes_sorted_by_loss():
    pairs = [("a", "b"), ("c", "c"), ("d", "e")]
    p = predictions(pairs)
    p.probs[2, class_index("d")] = 0.0001  # the most confidently wrong
    frame = mistakes.mistakes(p)
    assert list(frame["id"]) == [102, 100] and list(frame["true"]) == ["d", "a"]
    assert frame["loss"].is_monotonic_decreasing and frame.iloc[1]["confidence"] == pytest.approx(0.9)


def test_mistakes_sorted_by_true_label_in_class_order():
    frame = mistakes.mistakes(predictions([("7", "T"), ("B", "8"), ("b", "6"), ("a", "b")]))
    by_label = mistakes.sort_mistakes(frame, "true label")
    assert list(by_label["true"]) == ["a", "b", "B", "7"]  # a-z A-Z 0-9, as the matrix
    assert list(mistakes.sort_mistakes(frame, "confidence")["confidence"]) == sorted(frame["confidence"], reverse=True)
    assert set(mistakes.MISTAKE_ORDERS) == {"loss (most confidently wrong first)", "confidence", "true label"}


def test_load_val_predictions_of_a_run(demo_run):
    _, run_dir = demo_run
    p = RunDir(run_dir).read_val_predictions()
    assert p.probs.shape == (62, 62) and p.epoch == 1
    assert p.accuracy == pytest.approx(RunDir(run_dir).read_status().best_val_acc)


def test_missing_val_predictions_is_a_message(tmp_path):
    with pytest.raises(RunError, match="not written yet"):
        RunDir(tmp_path).read_val_predictions()
