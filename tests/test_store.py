"""The run store: typed status under a lock, atomic files, damaged folders named and never fatal,
and run directories written by the previous version still loading, listing, resuming, predicting."""
import json
import multiprocessing
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from checkpoint_skeleton import write_checkpoints
from conftest import REPO_ROOT, open_page

from julia_core.runs.listing import submittable
from julia_core import cli
from julia_core.runs import launcher, store, trainer
from julia_core.runs.status import DAMAGED, Status, new_status
from julia_core.errors import RunDamaged
from julia_core.runs.store import RunDir
from julia_core.training.config import TrainConfig

# Stopped at epoch 2, batch 1. Its checkpoints are kept as their skeleton (every key, shape and
# value but the weights' numbers: tests/checkpoint_skeleton.py), not as ten megabytes each.
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "20261201-112538-written-by-v1"


# -- status.json ------------------------------------------------------------------------------
def test_status_round_trips_and_keeps_fields_it_does_not_know(tmp_path):
    values = {**Status(state="running", epoch=3, best_val_acc=0.5).to_dict(), "from_a_newer_version": [1, 2]}
    status = Status.from_dict(values)
    assert status.state == "running" and status.epoch == 3 and status.best == 0.5
    assert status.to_dict()["from_a_newer_version"] == [1, 2]
    assert Status(best_val_acc=-1.0).best is None  # older runs wrote -1 before the first epoch


@pytest.mark.parametrize("values,message", [
    (["not", "an", "object"], "holds a JSON list, not an object of status fields"),
    ({"state": "exploded"}, "state 'exploded' is not one of queued, running, finished, failed, stopped"),
    ({"state": "running", "epoch": "three"}, "field 'epoch' is 'three', expected integer"),
    ({"state": "running", "epoch": True}, "field 'epoch' is True, expected integer"),
    ({"state": "running", "val_acc": "high"}, "field 'val_acc' is 'high', expected number"),
    ({"state": "running", "host": 7}, "field 'host' is 7, expected text"),
])
def test_status_of_the_wrong_shape_is_one_line(values, message):
    with pytest.raises(RunDamaged, match="^status.json: " + message.replace("(", r"\(").replace(")", r"\)")):
        Status.from_dict(values)


def _update_many(path: str, field: str, times: int) -> None:
    run_dir = RunDir(path)
    for value in range(1, times + 1):
        run_dir.update_status(**{field: value})


def test_concurrent_updates_from_several_processes_lose_no_field(tmp_path):
    """The trainer's progress, a Stop request and a reader's mark race for one status.json: every
    writer's last value survives, because each read-merge-write holds the lock."""
    run_dir = RunDir.create(tmp_path, "race", TrainConfig(), new_status("running", 5))
    fields = ["epoch", "step", "total_steps", "steps_per_epoch", "epoch_batch", "best_epoch"]
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_update_many, args=(str(run_dir.path), field, 60)) for field in fields]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    status = run_dir.read_status()
    assert {field: getattr(status, field) for field in fields} == {field: 60 for field in fields}
    assert status.state == "running" and status.epochs == 5
    assert not [p for p in run_dir.path.iterdir() if p.suffix == ".tmp"]


def test_a_new_run_is_complete_when_it_appears(tmp_path):
    run_dir = RunDir.create(tmp_path, "whole", TrainConfig(epochs=7), new_status("queued", 7))
    assert run_dir.read_config().epochs == 7 and run_dir.read_status().state == "queued"
    assert run_dir.path.stat().st_mode & 0o777 == 0o777 & ~_umask()  # an ordinary folder, not a private temp
    assert [p.name for p in tmp_path.iterdir()] == [run_dir.name]


def _umask() -> int:
    import os
    mask = os.umask(0)
    os.umask(mask)
    return mask


# -- damage: the catalogue ---------------------------------------------------------------------------
def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _replace_with_folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _replace_with_file(path: Path) -> None:
    shutil.rmtree(path)
    path.write_text("not a folder")


DAMAGE = {  # kind: (how to damage a finished run, what the one line says)
    "config missing": (lambda d: (d / "config.json").unlink(), "config.json: missing"),
    "config torn": (lambda d: _write(d / "config.json", (d / "config.json").read_bytes()[:40]),
                    "config.json: not valid JSON"),
    "config a list": (lambda d: _write(d / "config.json", b"[1, 2, 3]"),
                      "config.json: holds a JSON list, not an object of options"),
    "config wrong type": (lambda d: _write(d / "config.json", json.dumps(
        {**json.loads((d / "config.json").read_text()), "epochs": "ten"}).encode()),
        "config.json: option 'epochs' is 'ten', expected a whole number"),
    "config value no run takes": (lambda d: _write(d / "config.json", json.dumps(
        {**json.loads((d / "config.json").read_text()), "eval_batch_size": 0}).encode()),
        "config.json: eval batch size must be at least 1, got 0"),
    "config unknown option": (lambda d: _write(d / "config.json", b'{"colour": "blue"}'),
                              "config.json: unknown option(s) in config: colour"),
    "config noise": (lambda d: _write(d / "config.json", bytes(range(256)) * 4), "config.json: not text"),
    "status missing": (lambda d: (d / "status.json").unlink(), "status.json: missing"),
    "status torn": (lambda d: _write(d / "status.json", (d / "status.json").read_bytes()[:25]),
                    "status.json: not valid JSON"),
    "status empty": (lambda d: _write(d / "status.json", b""), "status.json: empty"),
    "status a string": (lambda d: _write(d / "status.json", b'"finished"'),
                        "status.json: holds a JSON string, not an object of status fields"),
    "status wrong type": (lambda d: _write(d / "status.json", json.dumps(
        {**json.loads((d / "status.json").read_text()), "epoch": "one"}).encode()),
        "status.json: field 'epoch' is 'one', expected integer"),
    "status is a folder": (lambda d: _replace_with_folder(d / "status.json"), "status.json: is a folder, not a file"),
    "checkpoints is a file": (lambda d: _replace_with_file(d / "checkpoints"), "checkpoints: is a file, not a folder"),
    "best.pt empty": (lambda d: _write(d / "checkpoints" / "best.pt", b""), "checkpoints/best.pt: empty file"),
    "best.pt noise": (lambda d: _write(d / "checkpoints" / "best.pt", b"\x00garbage" * 100),
                      "checkpoints/best.pt: not a checkpoint or array archive (noise)"),
    "predictions noise": (lambda d: _write(d / "val_predictions.npz", b"PK\x03\x04 torn"),
                          "val_predictions.npz: not a checkpoint or array archive (noise)"),
}


@pytest.fixture(scope="module")
def damaged_runs(demo_run, tmp_path_factory):
    """A runs folder with one intact finished run, one damaged copy of it per kind of damage, and a
    file standing where a run folder belongs."""
    _, good = demo_run
    root = tmp_path_factory.mktemp("damaged-runs")
    shutil.copytree(good, root / good.name)
    for index, (kind, (damage, _)) in enumerate(DAMAGE.items()):
        copy = root / f"20260101-{index:06d}-{kind.replace(' ', '-').replace('.', '')}"
        shutil.copytree(good, copy)
        damage(copy)
    (root / "20260102-000000-a-file").write_text("a file where a run folder belongs")
    return root, good.name


def _name(kind: str) -> str:
    index = list(DAMAGE).index(kind)
    return f"20260101-{index:06d}-{kind.replace(' ', '-').replace('.', '')}"


def test_every_damaged_run_is_listed_with_its_reason_and_the_rest_keep_working(damaged_runs):
    root, good = damaged_runs
    runs = {run.name: run for run in launcher.list_runs(root)}
    assert len(runs) == len(DAMAGE) + 2
    assert runs[good].state == "finished" and not runs[good].damaged
    for kind, (_, reason) in DAMAGE.items():
        run = runs[_name(kind)]
        assert run.state == DAMAGED and reason in run.damage, (kind, run.damage)
        assert "\n" not in run.damage
    assert runs["20260102-000000-a-file"].damage.endswith("is a file, not a run folder")
    assert [run.name for run in submittable(list(runs.values()))] == [good]


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_predict_score_and_resume_refuse_a_damaged_run_in_one_line(damaged_runs, kind, capsys, tmp_path):
    root, _ = damaged_runs
    reason = DAMAGE[kind][1]
    for args in (["predict", "--out", str(tmp_path / "s.csv")], ["score"], ["train", "--resume"]):
        run_option = [] if args[0] == "train" else ["--run"]
        assert cli.main([*args, *run_option, _name(kind), "--runs", str(root)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and reason in err, (args, err)
        assert "Traceback" not in err
    assert not (tmp_path / "s.csv").exists()


def test_the_runs_command_lists_damaged_runs(damaged_runs, capsys):
    root, good = damaged_runs
    assert cli.main(["runs", "--runs", str(root)]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"^{good} +finished ", out, re.M)
    for kind in DAMAGE:
        line = next(line for line in out.splitlines() if line.startswith(_name(kind)))
        assert " damaged " in line and DAMAGE[kind][1] in line


@pytest.mark.parametrize("page", ["data", "train", "monitor", "evaluate", "submit"])
def test_every_page_names_the_damaged_runs_and_keeps_working(damaged_runs, small_demo, monkeypatch, tmp_path, page):
    root, good = damaged_runs
    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    monkeypatch.setenv("JULIA_RUNS", str(root))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "dashboard.json"))
    app = open_page(page)
    assert not app.exception, app.exception
    warnings = [w.value for w in app.sidebar.warning]
    assert len(warnings) == len(DAMAGE) + 1
    for kind in DAMAGE:
        assert any(w.startswith(_name(kind) + ":") and DAMAGE[kind][1] in w for w in warnings), kind


def _other_model(d: Path) -> None:
    config = json.loads((d / "config.json").read_text())
    _write(d / "config.json", json.dumps({**config, "model": "charnet_wide"}).encode())


def _predictions_of_three_classes(d: Path) -> None:
    with np.load(d / "val_predictions.npz") as stored:
        arrays = {name: stored[name] for name in stored.files}
    np.savez(d / "val_predictions.npz", **{**arrays, "probs": arrays["probs"][:, :3]})


DEEP_DAMAGE = {  # damage a listing's cheap checks cannot see: found when the file is opened
    "weights of another model": (_other_model, "checkpoints/best.pt: its weights do not fit the charnet_wide"),
    "checkpoint without weights": (lambda d: torch.save({"model": [1, 2]}, d / "checkpoints" / "best.pt"),
                                   "checkpoints/best.pt: not a julia_core checkpoint (no 'model' weights)"),
}


@pytest.mark.parametrize("kind", list(DEEP_DAMAGE))
def test_predict_and_score_name_a_checkpoint_that_does_not_fit(demo_run, small_demo, kind, capsys, tmp_path):
    _, good = demo_run
    copy = shutil.copytree(good, tmp_path / "runs" / good.name)
    damage, reason = DEEP_DAMAGE[kind]
    damage(copy)
    for args in (["predict", "--out", str(tmp_path / "s.csv")], ["score"]):
        assert cli.main([*args, "--run", good.name, "--runs", str(tmp_path / "runs"), "--data", str(small_demo)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and reason in err, (args, err)
    assert not (tmp_path / "s.csv").exists()


def test_evaluate_names_validation_predictions_of_the_wrong_shape(demo_run, small_demo, monkeypatch, tmp_path):
    _, good = demo_run
    copy = shutil.copytree(good, tmp_path / "runs" / good.name)
    _predictions_of_three_classes(copy)
    with pytest.raises(RunDamaged, match=r"val_predictions.npz: arrays of mismatched shapes .*probs \(62, 3\)"):
        RunDir(copy).read_val_predictions()
    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    monkeypatch.setenv("JULIA_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "dashboard.json"))
    app = open_page("evaluate")
    assert not app.exception, app.exception
    assert any("val_predictions.npz: arrays of mismatched shapes" in e.value for e in app.error)


def test_a_damaged_checkpoint_is_one_line_when_loaded(tmp_path):
    path = tmp_path / "best.pt"
    for data, reason in ((b"", "empty file"), (b"noise" * 50, "noise")):
        path.write_bytes(data)
        with pytest.raises(RunDamaged, match=f"best.pt: .*{reason}"):
            store.load_checkpoint(path)


def test_the_submission_is_written_atomically(tmp_path, monkeypatch):
    """A failed write (a full disk) leaves the previous file and no half one."""
    from julia_core.predict.submission import write_submission
    path = tmp_path / "submission.csv"
    write_submission(path, [1, 2], [0, 1])
    before = path.read_bytes()
    import os

    def full_disk(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        write_submission(path, [1, 2, 3], [5, 5, 5])
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["submission.csv"]


# -- the previous version's run directories ---------------------------------------------------------------
@pytest.fixture
def old_run(tmp_path, small_demo):
    """The fixture run (written by the version before the run store), its data pointed at this
    session's demo set (the same IDs and labels)."""
    root = tmp_path / "runs"
    copy = Path(shutil.copytree(FIXTURE, root / FIXTURE.name, ignore=shutil.ignore_patterns("checkpoints.json")))
    write_checkpoints(FIXTURE / "checkpoints.json", copy / "checkpoints")  # its layout, seeded weights
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "data": str(small_demo)}))
    return root, copy


@pytest.mark.slow
def test_a_run_written_by_the_previous_version_lists_predicts_and_resumes(old_run, small_demo, capsys, tmp_path):
    root, run_dir = old_run
    [run] = launcher.list_runs(root)
    assert not run.damaged and run.state == "stopped" and run.status.epoch == 1 and run.config.epochs == 3
    assert run.dir.read_val_predictions().probs.shape == (62, 62)
    assert cli.main(["predict", "--run", run.name, "--runs", str(root), "--data", str(small_demo),
                     "--out", str(tmp_path / "s.csv")]) == 0
    assert "(62 rows)" in capsys.readouterr().out
    assert launcher.check_resumable(run.dir) is True
    assert trainer.run(run.dir, resume=launcher.claim_for_resume(run.dir), show_progress=False, console=False) == 0
    status = run.dir.read_status()
    assert status.state == "finished" and status.epoch == 3 and status.step == 9
    assert "resumed from checkpoints/last.pt: epoch 1, batch 1, step 4" in (run_dir / "train.log").read_text()
