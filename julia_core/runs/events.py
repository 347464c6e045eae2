"""TensorBoard scalars of a run, read with tensorboard's own EventAccumulator."""
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator


def open_events(run_dir: Path) -> EventAccumulator:
    """An accumulator that keeps every scalar; call Reload() to read what is new since last time."""
    return EventAccumulator(str(run_dir), size_guidance={SCALARS: 0})


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} for every scalar tag in the run directory."""
    events = open_events(run_dir)
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()[SCALARS]}
