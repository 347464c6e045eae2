"""Curves and comparison tables for the Monitor page, read incrementally from the run directories."""
import threading
from pathlib import Path

import numpy as np
import pandas as pd
from tensorboard.backend.event_processing.event_accumulator import SCALARS

from julia_core.runs.events import open_events
from julia_core.runs.listing import Run
from julia_core.runs.status import FAILED, RUNNING

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
        self.problem: str | None = None  # why the last reload stopped short, for Monitor to say

    def reload(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{tag: (steps, values)}; a vanished or half-written file keeps what was read before."""
        with self._lock:
            if not self.run_dir.is_dir():
                return dict(self._arrays)
            try:
                self._events.Reload()
                self.problem = None
            except Exception as err:  # a damaged event file: keep everything before the damage, and say so
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                self.problem = f"{self.run_dir.name}: its event files cannot be read past some point ({first})"
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


def events_note(run: Run, scalars: dict, stream: ScalarStream) -> str | None:
    """Why a run's curves are missing: its event files failed to read, or hold no per-epoch points
    though the run has finished epochs (tensorboard's reader skips a damaged record in silence)."""
    if stream.problem:
        return stream.problem
    epochs = run.status.epoch if run.status else 0
    if epochs and CURVES["loss"][0] not in scalars:  # every run logs its training loss; a refit has no val/*
        return (f"{run.name}: {epochs} epoch(s) done, but its event files hold no readable per-epoch points "
                "(damaged or deleted)")
    return None


def smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's exponential moving average with debiasing; weight 0 leaves values as they are.
    pandas' ewm with adjust=True is exactly that average: sum(w^i v[t-i]) / sum(w^i)."""
    if weight <= 0 or len(values) == 0:
        return values
    return pd.Series(values, dtype=np.float64).ewm(alpha=1 - weight, adjust=True).mean().to_numpy()


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


HPARAM_COLUMNS = ["model", "preset", "image_size", "mode", "source", "epochs", "batch_size", "optimizer",
                  "lr", "schedule", "weight_decay", "label_smoothing", "augment", "seed"]


def comparison_table(runs: list[Run]) -> pd.DataFrame:
    """Hyperparameters and final metrics side by side, one row per run (sortable in the UI); a
    damaged run shows what could be read, and why it is damaged."""
    rows = []
    for run in runs:
        status, config = run.status, run.config
        rows.append({"run": run.name, "state": run.state,
                     "best val acc": status.best if status else None,
                     "val acc": status.val_acc if status else None, "val loss": status.val_loss if status else None,
                     "train loss": status.train_loss if status else None,
                     "epoch": status.epoch if status else None, "img/s": status.images_per_second if status else None,
                     **{column: getattr(config, column) if config else None for column in HPARAM_COLUMNS},
                     "refit of": run.refit_of,
                     "damage": run.damage or ""})
    return pd.DataFrame(rows)


def find_chosen(chosen: list[str], runs: list[Run]) -> tuple[list[Run], list[str]]:
    """The chosen runs still in the listing, and the names of those whose folders are gone."""
    by_name = {run.name: run for run in runs}
    return [by_name[name] for name in chosen if name in by_name], [name for name in chosen if name not in by_name]


def steps_per_epoch(runs: list[Run]) -> dict[str, int | None]:
    """What maps a run's per-epoch figures onto the step axis (unknown before its first epoch)."""
    return {run.name: run.status.steps_per_epoch if run.status else None for run in runs}


def needs_attention(run: Run) -> bool:
    """Shown open on Monitor: running, failed or damaged."""
    return run.damaged or run.state in (RUNNING, FAILED)


def default_selection(runs: list[Run]) -> list[str]:
    """The running and queued runs, and the latest intact one."""
    chosen = [run.name for run in runs if run.active]
    latest = next((run for run in runs if not run.damaged), None)
    if latest and latest.name not in chosen:
        chosen.append(latest.name)
    return chosen
