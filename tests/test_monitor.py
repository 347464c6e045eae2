import dataclasses

import numpy as np
import pytest
from torch.utils.tensorboard import SummaryWriter

from julia_core.runs import launcher
from julia_core.runs.status import Status
from julia_core.views.curves import (ScalarStream, comparison_table, curve_frame, default_selection, events_note,
                                     find_chosen, needs_attention, smooth, steps_per_epoch)
from julia_core.views.ui import ended_text, epoch_text, format_seconds, progress_text


def write_points(folder, start, stop, tag="train/loss_step"):
    writer = SummaryWriter(str(folder))
    for step in range(start, stop):
        writer.add_scalar(tag, 1.0 / (step + 1), step)
    writer.close()


def test_stream_reads_only_new_points(tmp_path):
    write_points(tmp_path, 0, 100)
    stream = ScalarStream(tmp_path)
    steps, values = stream.reload()["train/loss_step"]
    assert len(steps) == 100 and steps[-1] == 99 and values[0] == 1.0
    write_points(tmp_path, 100, 150)  # a second event file, as a resumed run writes
    steps, _ = stream.reload()["train/loss_step"]
    assert len(steps) == 150 and steps[-1] == 149


def test_truncated_last_record_keeps_what_came_before(tmp_path):
    write_points(tmp_path, 0, 50)
    [events] = list(tmp_path.glob("events.out.tfevents.*"))
    data = events.read_bytes()
    events.write_bytes(data[:-7])  # half of the last record
    steps, _ = ScalarStream(tmp_path).reload()["train/loss_step"]
    assert 45 <= len(steps) <= 49 and list(steps) == list(range(len(steps)))


def test_vanished_run_directory_keeps_its_points(tmp_path):
    folder = tmp_path / "run"
    write_points(folder, 0, 10)
    stream = ScalarStream(folder)
    assert len(stream.reload()["train/loss_step"][0]) == 10
    import shutil
    shutil.rmtree(folder)
    assert len(stream.reload()["train/loss_step"][0]) == 10


def test_smoothing_matches_tensorboard():
    values = np.array([1.0, 0.0, 1.0, 0.0])
    assert np.array_equal(smooth(values, 0.0), values)
    smoothed = smooth(values, 0.5)
    assert smoothed[0] == pytest.approx(1.0)  # debiased: the first point is itself
    assert smoothed[1] == pytest.approx(0.25 / 0.75)  # (0.5 * 1 * 0.5 + 0.5 * 0) / (1 - 0.5 ** 2)


def tensorboard_smoothing(values, weight):
    """TensorBoard's own loop (its scalar dashboard's resmoothDataset), written out."""
    out, last = [], 0.0
    for count, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight ** count))
    return np.array(out)


@pytest.mark.parametrize("weight", [0.3, 0.6, 0.9, 0.99])
def test_pandas_ewm_smoothing_is_tensorboards(weight):
    values = np.random.default_rng(0).normal(size=2000).cumsum()
    assert np.allclose(smooth(values, weight), tensorboard_smoothing(values, weight), rtol=1e-9, atol=1e-9)


def test_curve_frame_epoch_and_step_axes():
    scalars = {"run-a": {"train/loss": (np.array([1, 2]), np.array([2.0, 1.0])),
                         "val/loss": (np.array([1, 2]), np.array([2.5, 1.5])),
                         "train/loss_step": (np.arange(20), np.linspace(3, 1, 20))}}
    by_epoch = curve_frame(scalars, "loss", "epoch", 0.6, {"run-a": 10})
    assert set(by_epoch["series"]) == {"train/loss", "val/loss"} and list(by_epoch["x"][:2]) == [1, 2]
    assert list(by_epoch["value"][:2]) == [2.0, 1.0]  # per-epoch means are not smoothed
    by_step = curve_frame(scalars, "loss", "step", 0.6, {"run-a": 10})
    assert set(by_step["series"]) == {"train/loss", "val/loss", "train/loss_step"}
    assert list(by_step[by_step["series"] == "val/loss"]["x"]) == [10, 20]
    assert curve_frame(scalars, "accuracy", "epoch", 0, {}).empty


def test_comparison_and_default_selection(demo_run):
    runs_root, run_dir = demo_run
    run_list = launcher.list_runs(runs_root)
    table = comparison_table(run_list)
    assert {"run", "state", "best val acc", "model", "lr", "image_size"} <= set(table.columns)
    assert run_dir.name in set(table["run"])
    assert default_selection(run_list)[-1] == run_list[0].name
    assert default_selection([]) == []


def test_progress_text():
    fraction, text = progress_text(Status(state="running", epoch=3, epochs=15, step=30, total_steps=150,
                                          eta_seconds=125, images_per_second=1234.5))
    assert fraction == pytest.approx(0.2) and text == "epoch 3/15 · 2 min left · 1,234 img/s"
    assert progress_text(Status(state="queued", epochs=5)) == (0.0, "queued")
    phase = "pre-training on synthetic characters: epoch 2/8, synthetic val acc 0.700"
    assert progress_text(Status(state="running", epochs=5, phase=phase)) == (0.0, phase)
    assert format_seconds(45) == "45 s" and format_seconds(7200) == "2.0 h"


def test_long_series_are_downsampled_for_the_chart():
    from julia_core.views.curves import MAX_POINTS, downsample
    x, values = downsample(np.arange(10_000), np.arange(10_000.0))
    assert len(x) == MAX_POINTS and x[0] == 0 and x[-1] == 9_999 and np.array_equal(x, values)
    scalars = {"r": {"train/loss_step": (np.arange(10_000), np.ones(10_000))}}
    assert len(curve_frame(scalars, "loss", "step", 0.6, {"r": 100})) == MAX_POINTS


def test_curve_figure_one_line_per_run_and_series():
    from julia_core.views.figures import curve_figure
    scalars = {name: {"train/loss": (np.array([1, 2]), np.array([2.0, 1.0])),
                      "val/loss": (np.array([1, 2]), np.array([2.5, 1.5]))} for name in ("a", "b")}
    figure = curve_figure(curve_frame(scalars, "loss", "epoch", 0.0, {}), "loss", "epoch")
    assert len(figure.data) == 4
    assert figure.data[0].line.color == figure.data[1].line.color != figure.data[2].line.color
    assert {trace.line.dash for trace in figure.data} == {"solid", "dot"}


def test_monitor_says_why_a_run_has_no_curves(demo_run, tmp_path):
    import shutil
    _, good = demo_run
    copy = shutil.copytree(good, tmp_path / good.name)
    [run] = launcher.list_runs(tmp_path)
    stream = ScalarStream(copy)
    assert events_note(run, stream.reload(), stream) is None
    for events in copy.glob("events.out.tfevents.*"):
        events.write_bytes(b"\x13garbage" * 50)  # tensorboard's own reader skips it without a word
    stream = ScalarStream(copy)
    assert events_note(run, stream.reload(), stream) == (
        f"{run.name}: its event files cannot be read past some point ({events.name}: damaged at byte 0 "
        "(length checksum); read up to there)")
    for events in copy.glob("events.out.tfevents.*"):
        events.unlink()
    stream = ScalarStream(copy)
    assert events_note(run, stream.reload(), stream) == (
        f"{run.name}: 1 epoch(s) done, but its event files hold no readable per-epoch points (damaged or deleted)")


def test_chosen_runs_that_vanished_are_named_and_the_rest_found(demo_run):
    root, good = demo_run
    runs = launcher.list_runs(root)
    present, gone = find_chosen([good.name, "20260101-000000-deleted"], runs)
    assert [run.name for run in present] == [good.name] and gone == ["20260101-000000-deleted"]
    assert steps_per_epoch(present) == {good.name: present[0].status.steps_per_epoch}
    assert not needs_attention(present[0])  # finished: shown closed
    for state in ("running", "failed"):
        run = dataclasses.replace(present[0], status=dataclasses.replace(present[0].status, state=state))
        assert needs_attention(run), state
    assert needs_attention(dataclasses.replace(present[0], damage="status.json: empty"))


def test_why_a_run_ended_in_a_line():
    assert ended_text(Status(state="stopped")) == "stopped by request"
    assert ended_text(Status(state="failed")) == "failed, no reason recorded"
    assert ended_text(Status(state="failed", error="out of memory")) == "out of memory"
    assert epoch_text(Status(epoch=2, epochs=None)) == "epoch 2/?"
