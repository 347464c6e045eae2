"""Every plotly figure the pages show, built from the core's tables: pages only place them.

Plain graph objects where a figure has many traces (plotly express takes ten times as long
for 100 lines); express where one call says it all."""
import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.colors import qualitative

from julia_core.data.classes import CLASSES
from julia_core.views.curves import STEP_LOSS, per_step
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


def curve_figure(frame: pd.DataFrame, metric: str, x_axis: str, groups: dict[str, str] | None = None,
                 log_y: bool = False):
    """One line per (run, series) of curves.curve_frame's rows, dotted for validation; a colour
    per run, or with `groups` ({run: group}) one colour per group, the legend by group."""
    palette = qualitative.Plotly + qualitative.D3 + qualitative.Dark24
    keys = {run: groups.get(run, run) if groups else run for run in dict.fromkeys(frame["run"])}
    colours = {key: palette[i % len(palette)] for i, key in enumerate(dict.fromkeys(keys.values()))}
    traces, titled = [], set()
    for (run, series), part in frame.groupby(["run", "series"], sort=False):
        key = keys[run]
        title = {"legendgrouptitle_text": key} if groups and key not in titled else {}  # only when grouped: it costs
        titled.add(key)
        traces.append(go.Scatter(
            x=part["x"].to_numpy(), y=part["value"].to_numpy(), name=f"{run} · {series}",
            mode="lines" if per_step(series) else "lines+markers", marker=dict(size=5),
            legendgroup=key, opacity=0.45 if series == STEP_LOSS else 1.0,
            line=dict(color=colours[key], dash=DASHES.get(series, "solid"), width=1.5), **title))
    figure = go.Figure(data=traces)
    figure.update_layout(title=metric, xaxis_title=x_axis, yaxis_title=metric, margin=dict(t=40),
                         legend=dict(orientation="h", y=-0.25, groupclick="toggleitem"), height=420)
    if log_y:
        figure.update_yaxes(type="log")
    return figure


def options_parallel(table: pd.DataFrame):
    """Parallel coordinates of runs' options against best validation accuracy (curves.
    options_against_accuracy): numbers on their own scale, choices as labelled ticks, one line per
    run coloured by its accuracy."""
    dimensions = []
    for column in table.columns:
        values = table[column]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            labels = sorted(values.astype(str).unique())
            codes = values.astype(str).map({label: i for i, label in enumerate(labels)})
            dimensions.append(dict(label=column, values=codes, tickvals=list(range(len(labels))), ticktext=labels))
        else:
            dimensions.append(dict(label=column, values=values.astype(float)))
    accuracy = table["best val acc"]
    figure = go.Figure(go.Parcoords(dimensions=dimensions, line=dict(
        color=accuracy, colorscale="Viridis", showscale=True, colorbar=dict(title="best val acc"))))
    figure.update_layout(height=420, margin=dict(t=60, l=60, r=60))
    return figure


def heat_map_figure(seen: np.ndarray, heat: np.ndarray):
    """The image as the model sees it with the Grad-CAM of its top class laid over it."""
    rgb = np.repeat(seen[..., None], 3, axis=2) if seen.ndim == 2 else seen
    figure = go.Figure(go.Image(z=rgb, hoverinfo="skip"))
    figure.add_trace(go.Heatmap(z=heat, colorscale="Turbo", opacity=0.45, zmin=0, zmax=1, showscale=False,
                                hovertemplate="x %{x}, y %{y}: %{z:.2f}<extra></extra>"))
    figure.update_layout(height=260, width=260, margin=dict(t=10, b=10, l=10, r=10))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return figure


def top_classes_figure(top: list[tuple[str, float]]):
    """The top classes' probabilities, best on top."""
    names, values = [f"{name} " for name, _ in top], [value for _, value in top]  # a space: '0' stays a category
    figure = go.Figure(go.Bar(x=values, y=names, orientation="h", text=[f"{v:.1%}" for v in values],
                              textposition="auto"))
    figure.update_layout(height=260, margin=dict(t=10, b=10, l=10, r=10), xaxis=dict(range=[0, 1], title="probability"),
                         yaxis=dict(autorange="reversed", type="category"))
    return figure
