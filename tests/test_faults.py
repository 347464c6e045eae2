"""Faults: a full disk, NaN, out of memory, a dashboard restart, a run folder deleted under a page."""
import errno
import shutil

import pytest
import torch
from conftest import open_page

from julia_core.runs import store
from julia_core.runs.store import RunDir
from julia_core.runs import launcher
from julia_core.runs import trainer
from julia_core.training.config import make_config

QUICK = dict(image_size=20, batch_size=32, eval_batch_size=256)


def prepared(small_demo, tmp_path, **options):
    return launcher.prepare_run(make_config("fast", data=str(small_demo), **{**QUICK, **options}), tmp_path / "runs")


def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    store.save_checkpoint(path, {"model": {"w": torch.ones(3)}, "epoch": 1})

    def full_disk(obj, file):
        file.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device", "last.pt")
    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError):
        store.save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "epoch": 2})
    kept = store.load_checkpoint(path)
    assert kept["epoch"] == 1 and torch.equal(kept["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind


def test_full_disk_mid_run_fails_the_run_and_keeps_last_pt(small_demo, tmp_path, monkeypatch):
    run_dir = prepared(small_demo, tmp_path, epochs=3)
    real_save, calls = store.save_checkpoint, []

    def failing_after_epoch_one(path, checkpoint):
        calls.append(checkpoint["epoch"])
        if checkpoint["epoch"] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_save(path, checkpoint)
    monkeypatch.setattr(store, "save_checkpoint", failing_after_epoch_one)
    assert trainer.run(run_dir, show_progress=False, console=False) == 1
    status = RunDir(run_dir).read_status()
    assert status.state == "failed" and status.error == "could not write last.pt: No space left on device"
    assert torch.load(run_dir / "checkpoints/last.pt", weights_only=True)["epoch"] == 1


class NaNModel(torch.nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.linear = torch.nn.Linear(1, 62)

    def forward(self, x):
        return self.linear(x.mean((1, 2, 3)).unsqueeze(1)) * float("nan")


class OutOfMemoryModel(NaNModel):
    def forward(self, x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


@pytest.mark.parametrize("model,message", [
    (NaNModel, "loss became nan at epoch 1, step 1; try a lower learning rate"),
    (OutOfMemoryModel, "out of memory on the device: lower the batch size or the image size"),
])
def test_nan_and_out_of_memory_fail_with_their_reason(small_demo, tmp_path, monkeypatch, model, message):
    monkeypatch.setattr(trainer, "build_model", lambda name, channels, channels_last=False: model(channels))
    run_dir = prepared(small_demo, tmp_path, epochs=1, log_every=1)
    assert trainer.run(run_dir, show_progress=False, console=False) == 1
    status = RunDir(run_dir).read_status()
    assert status.state == "failed" and status.error == message
    assert message in (run_dir / "train.log").read_text()


def page(small_demo, runs_root, name, monkeypatch, tmp_path):
    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    monkeypatch.setenv("JULIA_RUNS", str(runs_root))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "state.json"))
    app = open_page(name)
    assert not app.exception
    return app


@pytest.mark.slow
def test_a_restarted_dashboard_lists_monitors_and_stops_a_running_run(small_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("JULIA_MAX_RUNS", "1")
    run_dir = launcher.launch(make_config("fast", data=str(small_demo), name="long", **{**QUICK, "epochs": 200}),
                          tmp_path / "runs")
    try:
        assert launcher.wait_for(lambda: (RunDir(run_dir).read_status().epoch or 0) >= 1, 120, 0.2)
        monitor = page(small_demo, tmp_path / "runs", "monitor", monkeypatch, tmp_path)  # a new process's view
        assert next(box for box in monitor.multiselect if box.label == "Runs").value == [run_dir.name]
        assert any("long: running" in expander.label for expander in monitor.expander)
        trainer = page(small_demo, tmp_path / "runs", "train", monkeypatch, tmp_path)
        stop = [b for b in trainer.button if b.label == "Stop"]
        assert len(stop) == 1
        stop[0].click().run()
        assert not trainer.exception
        assert launcher.wait_for(lambda: RunDir(run_dir).read_status().state == "stopped", 60, 0.2)
    finally:
        if launcher.read_run(run_dir).status.state == "running":
            launcher.stop(run_dir)


def test_a_run_folder_deleted_under_the_pages(demo_run, small_demo, tmp_path, monkeypatch):
    runs_root = tmp_path / "runs"
    copy = runs_root / demo_run[1].name
    shutil.copytree(demo_run[1], copy)
    evaluate = page(small_demo, runs_root, "evaluate", monkeypatch, tmp_path)
    monitor = page(small_demo, runs_root, "monitor", monkeypatch, tmp_path)
    submit = page(small_demo, runs_root, "submit", monkeypatch, tmp_path)
    shutil.rmtree(copy)
    for app in (evaluate, monitor, submit):
        app.run()
        assert not app.exception, [e.value for e in app.exception]
    assert evaluate.info[0].value.startswith("No run has finished an epoch yet")  # the folder is empty now
    assert submit.info[0].value == "No finished run yet: train one first."
