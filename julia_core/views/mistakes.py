"""What a run got wrong, from its val_predictions.npz alone: the model is never rerun."""
import numpy as np
import pandas as pd

from julia_core.runs.store import ValPredictions
from julia_core.data.classes import CLASSES, NUM_CLASSES


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(62, 62) counts: rows are true classes, columns predictions."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)


def confusion_order(matrix: np.ndarray) -> list[int]:
    """Classes ordered so that those confused with each other sit side by side: start from the
    most confused pair, keep appending the unplaced class most confused with the last placed."""
    off = matrix + matrix.T
    np.fill_diagonal(off, 0)
    order: list[int] = []
    remaining = set(range(len(matrix)))
    while remaining:
        if not order or off[order[-1], list(remaining)].max() == 0:
            # a new chain: the unplaced class with the most confusion overall (a-z A-Z 0-9 on ties)
            start = max(sorted(remaining), key=lambda c: off[c, list(remaining)].sum())
        else:
            candidates = sorted(remaining)
            start = candidates[int(np.argmax(off[order[-1], candidates]))]
        order.append(start)
        remaining.remove(start)
    return order


def per_class_metrics(matrix: np.ndarray) -> pd.DataFrame:
    """Precision, recall, F1 and support for every class, in a-z A-Z 0-9 order."""
    true_positive = np.diag(matrix).astype(float)
    predicted = matrix.sum(0).astype(float)
    support = matrix.sum(1).astype(float)
    precision = np.divide(true_positive, predicted, out=np.zeros_like(true_positive), where=predicted > 0)
    recall = np.divide(true_positive, support, out=np.zeros_like(true_positive), where=support > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return pd.DataFrame({"class": list(CLASSES), "precision": precision, "recall": recall, "f1": f1,
                         "support": support.astype(int)})


def most_confused_pairs(matrix: np.ndarray, top: int = 15) -> pd.DataFrame:
    """Unordered pairs by how often either was taken for the other (O/0, l/I/1, s/S ...)."""
    rows = []
    for a in range(len(matrix)):
        for b in range(a + 1, len(matrix)):
            both = int(matrix[a, b] + matrix[b, a])
            if both:
                rows.append({"pair": f"{CLASSES[a]} / {CLASSES[b]}", "total": both,
                             "true→predicted": f"{CLASSES[a]}→{CLASSES[b]}: {matrix[a, b]}, "
                                                f"{CLASSES[b]}→{CLASSES[a]}: {matrix[b, a]}"})
    frame = pd.DataFrame(rows, columns=["pair", "total", "true→predicted"])
    return frame.sort_values(["total", "pair"], ascending=[False, True]).head(top).reset_index(drop=True)


def mistakes(predictions: ValPredictions) -> pd.DataFrame:
    """Every misclassified validation image: ID, true, predicted, confidence, loss (-log p_true);
    sorted by loss, the most confidently wrong first."""
    predicted = predictions.predicted
    wrong = np.flatnonzero(predicted != predictions.labels)
    rows = np.arange(len(predictions.labels))
    p_true = predictions.probs[rows, predictions.labels]
    frame = pd.DataFrame({
        "id": predictions.ids[wrong].astype(int),
        "true": [CLASSES[i] for i in predictions.labels[wrong]],
        "predicted": [CLASSES[i] for i in predicted[wrong]],
        "confidence": predictions.probs[wrong, predicted[wrong]].astype(float),
        "loss": -np.log(np.clip(p_true[wrong], 1e-12, None)).astype(float),
    })
    return frame.sort_values("loss", ascending=False).reset_index(drop=True)


MISTAKE_ORDERS = ("loss (most confidently wrong first)", "confidence", "true label")


def sort_mistakes(frame: pd.DataFrame, order: str) -> pd.DataFrame:
    """The mistakes in one of MISTAKE_ORDERS."""
    if order == "confidence":
        return frame.sort_values("confidence", ascending=False)
    if order == "true label":
        return frame.sort_values(["true", "loss"], ascending=[True, False], key=_class_key)
    return frame.sort_values("loss", ascending=False)


def _class_key(column: pd.Series) -> pd.Series:
    # a-z A-Z 0-9 as the matrix, not Python's string order (digits, then capitals)
    return column.map(CLASSES.index) if column.name == "true" else column
