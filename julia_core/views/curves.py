"""Curves and comparison tables for the Monitor page, read incrementally from the run directories."""
import threading
from pathlib import Path

import numpy as np
import pandas as pd
from tensorboard.backend.event_processing.event_accumulator import SCALARS

from julia_core.runs.events import open_events
from julia_core.runs.launcher import Run

CURVES = {  # what the Monitor page overlays: (tag, x axis)
    "loss": ["train/loss", "val/loss"],
    "accuracy": ["train/acc", "val/acc"],
}
STEP_LOSS = "train/loss_step"


class ScalarStream:
    """One run's scalars. reload() reads only events written since the last call (the
    accumulator keeps its file offsets) and converts only the new points to arrays."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._events = open_events(self.run_dir)
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()  # Streamlit sessions share this object

    def reload(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{tag: (steps, values)}; a vanished or half-written file keeps what was read before."""
        with self._lock:
            if not self.run_dir.is_dir():
                return dict(self._arrays)
            try:
                self._events.Reload()
            except Exception:  # a torn record at the end of a file: keep everything before it
                pass
            for tag in self._events.Tags().get(SCALARS, []):
                events = self._events.Scalars(tag)
                steps, values = self._arrays.get(tag, (np.empty(0, np.int64), np.empty(0, np.float64)))
                if len(events) != len(steps):
                    new = events[len(steps):] if len(events) > len(steps) else events
                    base_steps, base_values = (steps, values) if len(events) > len(steps) else (steps[:0], values[:0])
                    steps = np.concatenate([base_steps, np.fromiter((e.step for e in new), np.int64, len(new))])
                    values = np.concatenate([base_values, np.fromiter((e.value for e in new), np.float64, len(new))])
                    self._arrays[tag] = (steps, values)
            return dict(self._arrays)


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's exponential moving average with debiasing; weight 0 leaves values as they are."""
    if weight <= 0 or len(values) == 0:
        return values
    out = np.empty(len(values), dtype=np.float64)
    last, count = 0.0, 0
    for i, value in enumerate(values):
        count += 1
        last = last * weight + (1 - weight) * value
        out[i] = last / (1 - weight ** count)
    return out


MAX_POINTS = 1000  # per series, as TensorBoard serves: enough for a chart, light for the browser


def downsample(x: np.ndarray, values: np.ndarray, limit: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced points, the first and the last always kept."""
    if len(x) <= limit:
        return x, values
    keep = np.unique(np.linspace(0, len(x) - 1, limit).round().astype(int))
    return x[keep], values[keep]


def curve_frame(streams: dict[str, dict], metric: str, x_axis: str, smoothing: float,
                steps_per_epoch: dict[str, int | None]) -> pd.DataFrame:
    """Long-format rows (run, series, x, value) for one metric ('loss' or 'accuracy').
    x_axis 'epoch' or 'step'; per-epoch tags map to steps through the run's steps per epoch,
    and on the step axis the loss also shows the per-step training loss, smoothed."""
    frames = []
    for run, scalars in streams.items():
        tags = list(CURVES[metric])
        if metric == "loss" and x_axis == "step":
            tags.append(STEP_LOSS)
        for tag in tags:
            if tag not in scalars:
                continue
            x, values = scalars[tag]
            if tag == STEP_LOSS:
                if x_axis != "step":
                    continue
            elif x_axis == "step":
                per_epoch = steps_per_epoch.get(run)
                if not per_epoch:
                    continue
                x = x * per_epoch
            x, values = downsample(x, values)
            # Per-epoch figures are already means over an epoch; only the noisy per-step loss is smoothed.
            shown = smooth(values, smoothing) if tag == STEP_LOSS else values
            frames.append(pd.DataFrame({"run": run, "series": tag, "x": x, "value": shown}))
    if not frames:
        return pd.DataFrame(columns=["run", "series", "x", "value"])
    return pd.concat(frames, ignore_index=True)


DASHES = {"train/loss": "solid", "train/acc": "solid", "val/loss": "dot", "val/acc": "dot", STEP_LOSS: "solid"}


def curve_figure(frame: pd.DataFrame, metric: str, x_axis: str):
    """One line per (run, series), a colour per run, dotted for validation. Plain graph
    objects: plotly express takes ten times as long for 100 lines."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
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


HPARAM_COLUMNS = ["model", "preset", "image_size", "mode", "source", "epochs", "batch_size", "optimizer",
                  "lr", "schedule", "weight_decay", "label_smoothing", "augment", "seed"]


def comparison_table(runs: list[Run]) -> pd.DataFrame:
    """Hyperparameters and final metrics side by side, one row per run (sortable in the UI)."""
    rows = []
    for run in runs:
        status = run.status
        best = status.get("best_val_acc")
        rows.append({"run": run.name, "state": run.state,
                     "best val acc": best if isinstance(best, (int, float)) and best >= 0 else None,
                     "val acc": status.get("val_acc"), "val loss": status.get("val_loss"),
                     "train loss": status.get("train_loss"),
                     "epoch": status.get("epoch"), "img/s": status.get("images_per_second"),
                     **{column: run.config.get(column) for column in HPARAM_COLUMNS}})
    return pd.DataFrame(rows)


def default_selection(runs: list[Run]) -> list[str]:
    """The running and queued runs, and the latest one."""
    chosen = [run.name for run in runs if run.state in ("running", "queued")]
    if runs and runs[0].name not in chosen:
        chosen.append(runs[0].name)
    return chosen
