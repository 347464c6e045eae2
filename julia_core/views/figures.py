"""Every plotly figure the pages show, built from the core's tables: pages only place them.

Plain graph objects where a figure has many traces (plotly express takes ten times as long
for 100 lines); express where one call says it all."""
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.colors import qualitative

from julia_core.data.classes import CLASSES
from julia_core.views.curves import STEP_LOSS
from julia_core.views.mistakes import confusion_order, row_normalised

CLASS_ORDERS = ("a-z A-Z 0-9", "grouped by confusion")
CELL_SCALES = ("counts", "row-normalised")


def class_histogram(counts: pd.DataFrame, by_part: bool):
    """Images per class (columns class, images[, part]): one bar per class, or stacked by split side."""
    if by_part:
        figure = px.bar(counts, x="class", y="images", color="part", title="Images per class on each side of the split")
    else:
        totals = counts.groupby("class", sort=False, as_index=False)["images"].sum()
        figure = px.bar(totals, x="class", y="images", title="Labelled images per class")
    figure.update_xaxes(type="category", tickangle=0)
    return figure


def predicted_classes(labels: dict[int, str]):
    """How often each class was predicted, in a-z A-Z 0-9 order (a submission's rows)."""
    counts = pd.Series(list(labels.values()), dtype=object).value_counts()
    frame = pd.DataFrame({"class": [c for c in CLASSES if c in counts.index]})
    frame["images"] = [int(counts[c]) for c in frame["class"]]
    figure = px.bar(frame, x="class", y="images", title="Predicted classes")
    figure.update_xaxes(type="category", tickangle=0)
    return figure


def confusion_heatmap(matrix: np.ndarray, scale: str = "counts", order: str = CLASS_ORDERS[0]):
    """The 62x62 matrix (rows true, columns predicted), empty cells blank, hover: true, predicted, count."""
    index = list(range(len(CLASSES))) if order == CLASS_ORDERS[0] else confusion_order(matrix)
    names = [CLASSES[i] for i in index]
    counts = matrix[np.ix_(index, index)]
    shown = counts if scale == "counts" else row_normalised(counts)
    figure = go.Figure(go.Heatmap(
        z=np.where(counts > 0, shown, np.nan), x=names, y=names, customdata=counts, colorscale="Blues",
        hovertemplate="true %{y}<br>predicted %{x}<br>count %{customdata}<extra></extra>", hoverongaps=False))
    figure.update_layout(height=820, xaxis=dict(title="predicted", type="category", tickfont=dict(size=9)),
                         yaxis=dict(title="true", type="category", autorange="reversed", tickfont=dict(size=9)),
                         margin=dict(t=20))
    return figure


DASHES = {"train/loss": "solid", "train/acc": "solid", "val/loss": "dot", "val/acc": "dot", STEP_LOSS: "solid"}


def curve_figure(frame: pd.DataFrame, metric: str, x_axis: str):
    """One line per (run, series) of curves.curve_frame's rows, a colour per run, dotted for validation."""
    palette = qualitative.Plotly + qualitative.D3 + qualitative.Dark24
    colours = {run: palette[i % len(palette)] for i, run in enumerate(dict.fromkeys(frame["run"]))}
    figure = go.Figure()
    for (run, series), part in frame.groupby(["run", "series"], sort=False):
        figure.add_trace(go.Scatter(
            x=part["x"].to_numpy(), y=part["value"].to_numpy(), name=f"{run} · {series}",
            mode="lines" if series == STEP_LOSS else "lines+markers", marker=dict(size=5),
            legendgroup=run, opacity=0.45 if series == STEP_LOSS else 1.0,
            line=dict(color=colours[run], dash=DASHES.get(series, "solid"), width=1.5)))
    figure.update_layout(title=metric, xaxis_title=x_axis, yaxis_title=metric, margin=dict(t=40),
                         legend=dict(orientation="h", y=-0.25), height=420)
    return figure
