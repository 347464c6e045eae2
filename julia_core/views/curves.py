"""Curves and comparison tables for the Monitor page, read incrementally from the run directories."""
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from julia_core.runs.event_reader import EventReader
from julia_core.runs.listing import Run
from julia_core.runs.status import FAILED, RUNNING
from julia_core.runs.system_metrics import PREFIX as SYSTEM  # the trainer's CPU, memory and GPU figures

CURVES = {  # what the Monitor page overlays: (tag, x axis)
    "loss": ["train/loss", "val/loss"],
    "accuracy": ["train/acc", "val/acc"],
}
STEP_LOSS = "train/loss_step"


def per_step(tag: str) -> bool:
    """Logged at the global step; every other tag is logged once per epoch, at the epoch."""
    return tag == STEP_LOSS or tag.startswith(SYSTEM)


class ScalarStream:
    """One run's scalars for the pages. reload() reads only what the event files gained since the
    last call (runs.event_reader: the trainer's records decoded on whole arrays)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._reader = EventReader(self.run_dir)
        self._lock = threading.Lock()  # Streamlit sessions share this object

    @property
    def problem(self) -> str | None:
        """Why the last reload stopped short of the end of a file, for Monitor to say."""
        problem = self._reader.problem
        return f"{self.run_dir.name}: its event files cannot be read past some point ({problem})" if problem else None

    def reload(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{tag: (steps, values)}; a vanished or half-written file keeps what was read before."""
        return self.reload_with_walls()[0]

    def reload_with_walls(self) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[str, np.ndarray]]:
        """reload() and each point's wall time (Unix seconds), read together: another session's
        reload in between cannot misalign them."""
        with self._lock:
            if self.run_dir.is_dir():
                self._reader.reload()
            return self._reader.scalars(), self._reader.wall_times()


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
                     "refit of": run.refit_of, "tags": ", ".join(run.tags), "note": run.record.note,
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


# -- export, system figures, comparison --------------------------------------------------------------
TIDY_COLUMNS = ["run", "run_tags", "tag", "step", "epoch", "value", "wall_time"]
CURVES_CSV = "curves.csv"  # the name Monitor's download gets


def tidy_curves(streams: dict[str, ScalarStream], runs: list[Run]) -> pd.DataFrame:
    """Every scalar of the runs, one row per point: run, its tags (comma-separated), the TensorBoard
    tag, the global step and the epoch (one from the other through the run's steps per epoch,
    empty while that is unknown), the value and its wall time (Unix seconds), as logged."""
    per_epoch = steps_per_epoch(runs)
    tags = {run.name: ", ".join(run.tags) for run in runs}
    frames = []
    for name, stream in streams.items():
        scalars, walls = stream.reload_with_walls()
        for tag, (steps, values) in scalars.items():
            spe = per_epoch.get(name) or np.nan
            logged = steps.astype(np.float64)
            frames.append(pd.DataFrame({
                "run": name, "run_tags": tags.get(name, ""), "tag": tag,
                "step": logged if per_step(tag) else logged * spe,
                "epoch": logged / spe if per_step(tag) else logged,
                "value": values, "wall_time": walls[tag]}))
    if not frames:
        return pd.DataFrame(columns=TIDY_COLUMNS)
    frame = pd.concat(frames, ignore_index=True)
    frame["step"] = frame["step"].round().astype("Int64")
    return frame


def system_frame(scalars: dict[str, dict], walls: dict[str, dict], tag: str) -> pd.DataFrame:
    """Rows (run, series, x, value) of one system figure against the minutes since the run's first
    sample (its steps stall while it evaluates; the clock does not). scalars and walls: each
    run's ScalarStream.reload_with_walls()."""
    frames = []
    for run, found in scalars.items():
        if tag not in found:
            continue
        _, values = found[tag]
        times = walls[run][tag]
        x, shown = downsample((times - times[0]) / 60.0, values)
        frames.append(pd.DataFrame({"run": run, "series": tag, "x": x, "value": shown}))
    if not frames:
        return pd.DataFrame(columns=["run", "series", "x", "value"])
    return pd.concat(frames, ignore_index=True)


def system_tags(streams: dict[str, dict]) -> list[str]:
    return sorted({tag for scalars in streams.values() for tag in scalars if tag.startswith(SYSTEM)})


def config_difference(first: Run, second: Run) -> pd.DataFrame:
    """The options in which two runs' configs differ (option, first, second); empty when they
    agree. A run whose config cannot be read differs in everything it would have."""
    a = first.config.to_dict() if first.config else {}
    b = second.config.to_dict() if second.config else {}
    rows = [{"option": key, first.name: a.get(key, "(unreadable)"), second.name: b.get(key, "(unreadable)")}
            for key in sorted(set(a) | set(b)) if key != "name" and a.get(key) != b.get(key)]
    return pd.DataFrame(rows, columns=["option", first.name, second.name]).astype(str)


def options_against_accuracy(runs: list[Run]) -> pd.DataFrame:
    """One row per run with a best validation accuracy: the options that differ among them (the
    ones worth a parallel-coordinates axis) and 'best val acc'."""
    scored = [run for run in runs if run.config and run.status and run.status.best is not None]
    if not scored:
        return pd.DataFrame()
    table = pd.DataFrame([{column: getattr(run.config, column) for column in HPARAM_COLUMNS} for run in scored],
                         index=[run.name for run in scored])
    varying = [column for column in table if table[column].astype(str).nunique() > 1]
    table = table[varying]
    table["best val acc"] = [run.status.best for run in scored]
    return table
