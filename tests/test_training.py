"""The training engine end to end on the small demo set (CPU)."""
import dataclasses
import json
import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest
import torch
from conftest import run_cli as cli
from conftest import QUICK, run_cli_process

from julia_core.runs.listing import weight_sources
from julia_core.errors import RunError
from julia_core.runs.status import new_status
from julia_core.runs import store
from julia_core.runs.store import RunDir
from julia_core.runs import launcher
from julia_core.training.config import ConfigError, make_config
from julia_core.runs.events import read_scalars
from julia_core.data.classes import CLASSES
from julia_core.predict.submission import accuracy_against, validate_submission



def wait_state(run_dir, states, timeout=120):
    assert launcher.wait_for(lambda: launcher.read_run(run_dir).status.state in states, timeout, 0.2), \
        f"{run_dir.name} stayed {launcher.read_run(run_dir).status.state}: {RunDir(run_dir).log_tail()}"
    return launcher.read_run(run_dir).status


@pytest.fixture(scope="module")
def finished_run(small_demo, tmp_path_factory):
    """One epoch through the CLI, in the foreground, as a user runs it: its own process."""
    runs_root = tmp_path_factory.mktemp("runs")
    result = run_cli_process("train", "--data", small_demo, "--runs", runs_root, "--preset", "fast", "--model", "charnet",
                 "--image-size", 20, "--batch-size", 32, "--epochs", 1, "--name", "one-epoch", "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = runs_root / result.stdout.strip().splitlines()[-1].rsplit("/", 1)[-1]
    assert result.stdout.strip().splitlines()[-1] == str(run_dir)  # the last line is the run directory
    return run_dir


def test_one_epoch_run_writes_the_whole_contract(finished_run, small_demo):
    status = RunDir(finished_run).read_status()
    assert status.state == "finished" and status.epoch == 1 and status.epochs == 1
    assert status.device.startswith("CPU") and status.error is None
    with np.load(finished_run / "val_predictions.npz") as stored:  # the best epoch's own predictions
        right = int((stored["probs"].argmax(1) == stored["labels"]).sum())
    assert status.best_val_acc == pytest.approx(right / 62) and status.best_epoch == 1 and status.ended
    config = json.loads((finished_run / "config.json").read_text())
    assert config["model"] == "charnet" and config["preset"] == "fast" and config["data"] == str(small_demo.resolve())
    assert finished_run.name.endswith("-one-epoch") and finished_run.name[:8].isdigit()
    assert "epoch 1/1" in (finished_run / "train.log").read_text()
    assert (finished_run / "summary.csv").read_text().startswith("epoch,step,train_loss")


def test_scalars_read_back_with_event_accumulator(finished_run):
    scalars = read_scalars(finished_run)
    for tag in ("train/loss", "train/acc", "val/loss", "val/acc", "lr", "throughput/images_per_second",
                "time/epoch_seconds", "train/loss_step", "hparams/best_val_acc"):
        assert tag in scalars, tag
    assert scalars["val/acc"][0][0] == 1
    assert scalars["val/acc"][0][1] == pytest.approx(RunDir(finished_run).read_status().val_acc)


def test_checkpoints_load_with_weights_only(finished_run):
    for name in ("last.pt", "best.pt"):
        checkpoint = torch.load(finished_run / "checkpoints" / name, weights_only=True)
        assert {"model", "optimizer", "scheduler", "epoch", "step", "config"} <= set(checkpoint)
        assert checkpoint["epoch"] == 1 and checkpoint["config"]["model"] == "charnet"
    assert not list((finished_run / "checkpoints").glob("*.tmp"))


def test_val_predictions_shapes(finished_run):
    with np.load(finished_run / "val_predictions.npz") as stored:
        ids, labels, probs = stored["ids"], stored["labels"], stored["probs"]
    assert ids.shape == (62,) and labels.shape == (62,) and probs.shape == (62, 62)
    assert np.allclose(probs.sum(1), 1, atol=1e-4) and sorted(labels.tolist()) == list(range(62))


def test_run_writes_a_valid_submission(finished_run, small_demo):
    from julia_core.data.dataset import KaggleDataset
    dataset = KaggleDataset(small_demo)
    rows = validate_submission(finished_run / "submission.csv", dataset.test_ids)
    assert len(rows) == 62 and set(rows.values()) <= set(CLASSES)


def test_predict_one_run_and_an_ensemble_with_tta(finished_run, small_demo, tmp_path):
    out = tmp_path / "single.csv"
    result = cli("predict", "--run", finished_run, "--data", small_demo, "--out", out)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and out.read_bytes().startswith(b"ID,Class\r\n")
    ensemble = tmp_path / "ensemble.csv"
    result = cli("predict", "--run", finished_run, "--run", finished_run, "--data", small_demo,
                 "--out", ensemble, "--tta", "--runs", finished_run.parent)
    assert result.returncode == 0, result.stderr
    from julia_core.data.dataset import KaggleDataset
    dataset = KaggleDataset(small_demo)
    rows = validate_submission(ensemble, dataset.test_ids)
    answers = dataset.answer_key()
    right = sum(rows[image_id] == answer for image_id, answer in answers.items())
    assert accuracy_against(rows, answers) == right / 62
    assert accuracy_against({1: "a", 2: "b"}, {1: "a", 2: "c", 3: "d"}) == pytest.approx(1 / 3)  # a missing row is wrong


def test_predict_unknown_run_is_one_line(small_demo, tmp_path):
    result = cli("predict", "--run", "nope", "--runs", tmp_path, "--data", small_demo, "--out", tmp_path / "x.csv")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no run matches 'nope'" in result.stderr


def test_runs_table_lists_the_run(finished_run):
    result = cli("runs", "--runs", finished_run.parent)
    assert result.returncode == 0 and finished_run.name in result.stdout and "finished" in result.stdout


def test_seed_resnet18_parameter_count():
    from julia_core.training.models import build_model, count_parameters
    model = build_model("seed_resnet18", 1)
    assert count_parameters(model) == 11_199_486
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1) and model.fc.out_features == 62
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 62)


@pytest.mark.parametrize("has_bf16", [True, False])
def test_cpu_autocast_is_bf16_only_where_the_cpu_has_it(monkeypatch, has_bf16):
    """--amp on a CPU computes in bf16 when the CPU does it in hardware, else stays float32
    (emulated bf16 would be slower); --no-amp is always float32."""
    from julia_core.predict import inference
    from julia_core.training import device
    monkeypatch.setattr(device, "_cpu_has_bf16", lambda: has_bf16)
    layer, x, cpu = torch.nn.Linear(4, 2), torch.ones(3, 4), torch.device("cpu")
    with device.autocast(cpu, True):
        assert layer(x).dtype == (torch.bfloat16 if has_bf16 else torch.float32)
    with device.autocast(cpu, False):
        assert layer(x).dtype == torch.float32
    probs = inference.predict_probabilities(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 62)),
                                            torch.zeros(5, 4, 4, dtype=torch.uint8), "unit", amp=True)
    assert probs.dtype == torch.float32 and torch.allclose(probs.sum(1), torch.ones(5), atol=1e-3)


@pytest.mark.parametrize("name,size", [("charnet", 32), ("charnet_wide", 48), ("charnet_deep", 48), ("charnet", 28)])
def test_task_models_shapes(name, size):
    from julia_core.training.models import build_model
    for channels in (1, 3):
        assert build_model(name, channels)(torch.zeros(2, channels, size, size)).shape == (2, 62)


def test_pretrained_offline_is_a_clear_message_at_once(monkeypatch, tmp_path):
    from julia_core.errors import JuliaError
    from julia_core.training.models import build_model
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    started = time.monotonic()
    with pytest.raises(JuliaError, match="not in the local torch hub cache"):
        build_model("resnet18_imagenet", 1)
    assert time.monotonic() - started < 5


def test_pretrained_from_the_local_cache(monkeypatch, tmp_path):
    import torchvision
    from julia_core.training.models import RESNET18_IMAGENET_FILE, build_model
    (tmp_path / "checkpoints").mkdir()
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "checkpoints" / RESNET18_IMAGENET_FILE)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert build_model("resnet18_imagenet", 1)(torch.zeros(1, 1, 32, 32)).shape == (1, 62)


@pytest.mark.parametrize("options,message", [
    ({"epochs": -1}, "epochs must be between 1 and 10000, got -1"),
    ({"batch_size": 0}, "batch size must be between 1 and 65536, got 0"),
    ({"image_size": 3}, "image size must be between 8 and 256 px, got 3"),
    ({"model": "vgg99"}, "unknown model 'vgg99'"),
    ({"lr": 0.0}, "learning rate must be above 0"),
    ({"val_fraction": 1.0}, "validation fraction must be above 0 and below 1"),
    ({"name": "../escape"}, "run name '../escape' may hold only letters"),
    ({"name": "a/b"}, "run name 'a/b' may hold only letters"),
    ({"optimizer": "lion"}, "optimizer must be one of adamw, sgd"),
    ({"mixup": -0.2}, "mixup must be in [0, 10]"),
    ({"cutmix": 11}, "cutmix must be in [0, 10]"),
    ({"pretrain": -1}, "pretrain must be 0 (off) to 5000"),
    ({"pretrain": 10, "gpus": 2}, "pretrain runs on one device"),
    ({"pretrain_seed": -2}, "pretrain seed must be -1 (the run's seed) or at least 0, got -2"),
])
def test_nonsense_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        make_config("fast", **options)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'turbo'"):
        make_config("turbo")


def test_seed_preset_is_the_original_recipe():
    config = make_config("seed")
    assert (config.model, config.image_size, config.mode, config.source, config.batch_size, config.val_fraction) == \
        ("seed_resnet18", 28, "L", "resized", 8, 0.2)


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "epochs must be between 1 and 10000, got 0"),
    (["--name", "../../etc"], "run name '../../etc' may hold only"),
    (["--model", "nope"], "unknown model 'nope'"),
])
def test_train_cli_rejects_bad_options_in_one_line(small_demo, tmp_path, args, message):
    result = cli("train", "--data", small_demo, "--runs", tmp_path, *args)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not any(tmp_path.iterdir())  # nothing was created


def test_bad_data_is_refused_before_a_run_exists(tmp_path):
    result = cli("train", "--data", tmp_path / "missing", "--runs", tmp_path / "runs", "--detach")
    assert result.returncode == 2 and "missing: no such folder" in result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_asked_for_on_a_cpu_machine(small_demo, tmp_path):
    result = cli("train", "--data", small_demo, "--runs", tmp_path, "--device", "cuda")
    assert result.returncode == 2 and "no usable CUDA GPU" in result.stderr


def test_two_launches_in_one_second_get_two_directories(tmp_path):
    config, status = make_config("fast"), new_status("queued", 1)
    first, second = (RunDir.create(tmp_path, "same", config, status) for _ in range(2))
    assert first != second and first.path.is_dir() and second.path.is_dir()
    assert {first.name, second.name} == {first.name, first.name + "-2"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


@pytest.mark.slow
def test_stop_then_resume_continues_from_last_pt(small_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("JULIA_MAX_RUNS", "1")
    config = make_config("fast", data=str(small_demo), name="stoppable", **{**QUICK, "epochs": 15})
    run_dir = launcher.launch(config, tmp_path)
    assert launcher.wait_for(lambda: (RunDir(run_dir).read_status().epoch or 0) >= 2, 120, 0.2), \
        RunDir(run_dir).log_tail()
    launcher.stop(run_dir)
    status = wait_state(run_dir, ("stopped",))
    stopped_at = torch.load(run_dir / "checkpoints/last.pt", weights_only=True)
    assert stopped_at["step"] >= 2 * 3 and status.epoch < 15
    launcher.resume(run_dir)
    status = wait_state(run_dir, ("finished",), timeout=240)
    final = torch.load(run_dir / "checkpoints/last.pt", weights_only=True)
    assert status.epoch == 15 and final["epoch"] == 15 and final["step"] == 15 * 3
    log = (run_dir / "train.log").read_text()
    assert re.search(r"stopped at epoch \d+, batch \d+ of 3; last.pt saved|stopped: ", log)
    assert f"resumed from checkpoints/last.pt: epoch {stopped_at['epoch']}" in log
    steps = [step for step, _ in read_scalars(run_dir)["train/loss_step"]]
    assert steps == sorted(set(steps))  # no step logged twice across the resume


@pytest.mark.slow
def test_kill_9_is_noticed_and_resume_recovers(small_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("JULIA_MAX_RUNS", "1")
    config = make_config("fast", data=str(small_demo), name="killed", **{**QUICK, "epochs": 15, "ema": 0.9})
    run_dir = launcher.launch(config, tmp_path)
    assert launcher.wait_for(lambda: (RunDir(run_dir).read_status().epoch or 0) >= 2, 120, 0.2)
    os.killpg(RunDir(run_dir).read_status().pgid, signal.SIGKILL)
    status = wait_state(run_dir, ("failed",), timeout=30)
    assert status.error == "process exited unexpectedly" and "epoch 2/15" in status.log_tail
    assert torch.load(run_dir / "checkpoints/last.pt", weights_only=True)["epoch"] >= 2  # intact
    launcher.resume(run_dir)
    assert wait_state(run_dir, ("finished",), timeout=240).epoch == 15
    final = torch.load(run_dir / "checkpoints/last.pt", weights_only=True)
    assert final["averaged_steps"] == final["step"] == 15 * 3  # the weight average survived the resume


def test_dead_process_with_running_status_is_marked_failed(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    status = new_status("running", 5, pid=dead.pid, pgid=dead.pid)
    run_dir = RunDir.create(tmp_path, "ghost", make_config("fast"), status)
    (run_dir / "train.log").write_text("line one\nepoch 1/5 ...\n")
    [run] = launcher.list_runs(tmp_path)
    assert run.state == "failed" and run.status.error == "process exited unexpectedly"
    assert "epoch 1/5" in run.status.log_tail


@pytest.mark.slow
def test_the_queue_never_stalls(small_demo, tmp_path, monkeypatch):
    """One slot, three runs. kill -9 runs none of the first trainer's own code: the next listing
    marks it failed and starts the second; the second, ending, starts the third itself."""
    monkeypatch.setenv("JULIA_MAX_RUNS", "1")
    first, second, third = (
        launcher.launch(make_config("fast", data=str(small_demo), name=name, **{**QUICK, "epochs": epochs}), tmp_path)
        for name, epochs in (("first", 200), ("second", 1), ("third", 1)))
    assert launcher.wait_for(lambda: (first.read_status().epoch or 0) >= 1, 120, 0.2), first.log_tail()
    os.killpg(first.read_status().pgid, signal.SIGKILL)
    launcher.wait_for(lambda: not launcher.trainer_alive(first.read_status()), 10, 0.05)
    assert second.read_status().state == third.read_status().state == "queued"
    runs = {run.name: run for run in launcher.list_runs(tmp_path)}  # the next listing
    assert runs[first.name].state == "failed" and runs[first.name].status.error == "process exited unexpectedly"
    assert launcher.wait_for(lambda: second.read_status().state in ("running", "finished"), 10, 0.1)
    # no listing from here on: only the second trainer's end can start the third
    assert launcher.wait_for(lambda: third.read_status().state == "finished", 120, 0.2), third.log_tail()
    assert second.read_status().state == "finished" and third.read_status().epoch == 1


def test_stop_cancels_a_queued_run(small_demo, tmp_path):
    run_dir = launcher.prepare_run(make_config("fast", data=str(small_demo), **QUICK), tmp_path)
    assert "cancelled" in launcher.stop(run_dir)
    assert RunDir(run_dir).read_status().state == "stopped"


@pytest.mark.slow
def test_ddp_on_gloo_with_two_processes(small_demo, tmp_path):
    result = run_cli_process("train", "--data", small_demo, "--runs", tmp_path, "--preset", "fast", "--model", "charnet",
                 "--image-size", 20, "--batch-size", 32, "--epochs", 1, "--gpus", 2, "--device", "cpu",
                 "--name", "ddp", "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / result.stdout.strip().splitlines()[-1].rsplit("/", 1)[-1]
    status = RunDir(run_dir).read_status()
    assert status.state == "finished" and status.epoch == 1
    assert "world 2" in (run_dir / "train.log").read_text()
    assert (run_dir / "submission.csv").exists()


def test_checkpoint_with_a_pickle_payload_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))
    path = tmp_path / "evil.pt"
    torch.save({"model": Payload()}, path)
    with pytest.raises(RunError, match="evil.pt: refused"):
        store.load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
def test_fine_tune_from_a_finished_run_with_mixup_and_cutmix(finished_run, small_demo, tmp_path):
    result = cli("train", "--data", small_demo, "--runs", tmp_path, "--preset", "fast", "--model", "charnet",
                 "--image-size", 20, "--batch-size", 32, "--epochs", 1, "--mixup", 0.2, "--cutmix", 1.0,
                 "--init", finished_run, "--name", "tuned", "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = next(tmp_path.glob("*-tuned"))
    config = json.loads((run_dir / "config.json").read_text())
    assert config["init"] == str((finished_run / "checkpoints/best.pt").resolve())
    assert config["mixup"] == 0.2 and config["cutmix"] == 1.0
    assert "started from the weights in" in (run_dir / "train.log").read_text()
    assert RunDir(run_dir).read_status().state == "finished"


@pytest.mark.parametrize("args,message", [
    (["--model", "charnet_wide"], "holds a 'charnet' model, this run trains 'charnet_wide'"),
    (["--mode", "rgb"], "do not fit a charnet for RGB images"),
])
def test_init_weights_that_do_not_fit_are_refused_in_one_line(finished_run, small_demo, tmp_path, args, message):
    result = cli("train", "--data", small_demo, "--runs", tmp_path, "--preset", "fast", "--image-size", 20,
                 "--epochs", 1, "--init", finished_run, *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def test_init_from_a_missing_file_is_refused(small_demo, tmp_path):
    result = cli("train", "--data", small_demo, "--runs", tmp_path, "--epochs", 1, "--init", tmp_path / "nope.pt")
    assert result.returncode == 2 and "nope.pt: checkpoint not found" in result.stderr


def test_weight_sources_are_runs_with_a_best_checkpoint(finished_run):
    sources = weight_sources(launcher.list_runs(finished_run.parent))
    assert [run.path for run in sources] == [finished_run]


def test_score_matches_the_runs_own_validation_accuracy(finished_run):
    best = RunDir(finished_run).read_status().best_val_acc
    result = cli("score", "--run", finished_run)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"val accuracy {best:.4f} (") and "from 1 run(s)" in result.stdout
    result = cli("score", "--run", finished_run, "--run", finished_run, "--tta")
    assert result.returncode == 0 and "from 2 run(s) with TTA" in result.stdout, result.stderr


def test_score_refuses_runs_on_different_splits(finished_run, tmp_path):
    import shutil
    other = tmp_path / "other-seed"
    shutil.copytree(finished_run, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "seed": 1}))
    result = cli("score", "--run", finished_run, "--run", other)
    assert result.returncode == 2 and "other-seed: validates on another split" in result.stderr


@pytest.mark.slow
def test_pretrain_on_synthetic_characters_then_reuse_the_cached_weights(small_demo, tmp_path):
    args = ("train", "--data", small_demo, "--runs", tmp_path, "--preset", "fast", "--image-size", 20,
            "--batch-size", 32, "--epochs", 1, "--pretrain", 2, "--pretrain-epochs", 1, "--no-progress")
    first = cli(*args, "--name", "first")
    assert first.returncode == 0, first.stderr[-2000:]
    log = (next(tmp_path.glob("*-first")) / "train.log").read_text()
    assert "pre-training charnet on " in log and "pre-training epoch 1/1" in log
    status = RunDir(next(tmp_path.glob("*-first"))).read_status()
    assert status.state == "finished" and status.phase is None
    # pseudo-labels do not shape the pre-training: the second run still takes the cached weights
    second = cli(*args, "--name", "second", "--pseudo-label", next(tmp_path.glob("*-first")))
    assert second.returncode == 0, second.stderr[-2000:]
    log = (next(tmp_path.glob("*-second")) / "train.log").read_text()
    assert "pre-trained weights from the cache" in log and "pseudo-labels: " in log


def test_pretrain_and_init_together_are_refused(small_demo, finished_run, tmp_path):
    result = cli("train", "--data", small_demo, "--runs", tmp_path, "--pretrain", 10, "--init", finished_run)
    assert result.returncode == 2 and "pretrain and init both set" in result.stderr


@pytest.mark.slow
def test_pseudo_labels_from_a_teacher_run_join_the_training_set(finished_run, small_demo, tmp_path):
    args = ("train", "--data", small_demo, "--runs", tmp_path, "--preset", "fast", "--model", "charnet",
            "--image-size", 20, "--batch-size", 32, "--epochs", 1, "--no-progress")
    result = cli(*args, "--pseudo-label", finished_run, "--pseudo-threshold", 0.001, "--name", "student")
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = next(tmp_path.glob("*-student"))
    assert json.loads((run_dir / "config.json").read_text())["pseudo_label"] == str(finished_run.resolve())
    log = (run_dir / "train.log").read_text()
    assert "pseudo-labels: 62 of 62 test images" in log  # the small demo set: one test image per class
    fit = 62 * 3 - len(np.load(finished_run / "val_predictions.npz")["ids"])
    assert f"{fit + 62} train / " in log
    # none reach a probability of 1, so none join; a teacher named by a part of its folder name
    result = cli(*args, "--pseudo-label", "one-epoch", "--runs", finished_run.parent, "--pseudo-threshold", 1.0)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pseudo-labels: 0 of 62 test images" in result.stdout


def test_pseudo_label_teachers_must_share_the_split(finished_run, small_demo, tmp_path):
    import shutil
    other = tmp_path / "teachers" / "other-seed"
    shutil.copytree(finished_run, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "seed": 1}))
    args = ("train", "--data", small_demo, "--runs", tmp_path / "runs", "--image-size", 20, "--epochs", 1)
    result = cli(*args, "--pseudo-label", f"{finished_run},{other}")
    assert result.returncode == 2 and "other-seed: validates on another split" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs").exists()
    result = cli(*args, "--pseudo-label", finished_run, "--pseudo-threshold", 0)
    assert result.returncode == 2 and "pseudo threshold must be above 0" in result.stderr
    result = cli(*args, "--pseudo-label", "no-such-run")
    assert result.returncode == 2 and "no run matches 'no-such-run'" in result.stderr


@pytest.mark.slow
def test_weight_average_is_what_the_run_evaluates_and_saves(small_demo, tmp_path):
    result = cli("train", "--data", small_demo, "--runs", tmp_path, "--preset", "fast", "--image-size", 20,
                 "--batch-size", 32, "--epochs", 2, "--ema", 0.5, "--name", "averaged", "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir = next(tmp_path.glob("*-averaged"))
    best = torch.load(run_dir / "checkpoints/best.pt", weights_only=True)
    assert best["averaged_steps"] == best["step"] > 0
    trained, averaged = best["train_model"], best["model"]
    assert trained.keys() == averaged.keys()
    assert any(not torch.equal(trained[key], averaged[key]) for key in trained)
    score = cli("score", "--run", run_dir)  # predict and score take the averaged weights
    assert f"val accuracy {RunDir(run_dir).read_status().best_val_acc:.4f}" in score.stdout, score.stderr
    result = cli("train", "--data", small_demo, "--runs", tmp_path, "--epochs", 1, "--ema", 1.0)
    assert result.returncode == 2 and "ema must be in [0, 1)" in result.stderr


@pytest.mark.slow
def test_split_seed_keeps_the_split_while_the_seed_changes(finished_run, small_demo, tmp_path):
    from julia_core.predict.ensemble import split_key
    from julia_core.data.split import run_split
    labels = np.repeat(np.arange(62), 3)
    base = make_config("fast", data=str(small_demo), seed=0)
    other_seed = make_config("fast", data=str(small_demo), seed=5, split_seed=0)
    assert [a.tolist() for a in run_split(labels, base)] == [a.tolist() for a in run_split(labels, other_seed)]
    assert split_key(base) == split_key(other_seed) != split_key(make_config("fast", seed=5))
    # an ensemble of two seeds on one split: score takes it, and one of them may teach the other
    result = cli("train", "--data", small_demo, "--runs", tmp_path, "--preset", "fast", "--image-size", 20,
                 "--batch-size", 32, "--epochs", 1, "--seed", 5, "--split-seed", 0, "--name", "seed5",
                 "--pseudo-label", finished_run, "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    scored = cli("score", "--run", finished_run, "--run", next(tmp_path.glob("*-seed5")))
    assert scored.returncode == 0 and "from 2 run(s)" in scored.stdout, scored.stderr
    result = cli("train", "--data", small_demo, "--runs", tmp_path, "--epochs", 1, "--split-seed", -2)
    assert result.returncode == 2 and "split seed must be -1" in result.stderr


def test_a_run_that_failed_before_its_first_save_starts_again_on_resume(finished_run, small_demo, tmp_path):
    import shutil
    from julia_core.runs import trainer
    teacher = shutil.copytree(finished_run, tmp_path / "teacher")
    config = make_config("fast", data=str(small_demo), pseudo_label=str(teacher), name="student", **QUICK)
    run_dir = launcher.prepare_run(config, tmp_path / "runs")
    teacher.rename(tmp_path / "moved")  # the teacher vanished after the launch
    assert trainer.run(run_dir, show_progress=False, console=False) == 1
    status = RunDir(run_dir).read_status()
    assert status.state == "failed" and "teacher: not a run directory" in status.error
    assert not (run_dir / "checkpoints/last.pt").exists()
    (tmp_path / "moved").rename(teacher)
    launcher.resume(run_dir)  # nothing to continue from: it starts again
    assert RunDir(run_dir).read_status().resume is False
    assert wait_state(run_dir, ("finished",)).epoch == 1
    steps = [step for step, _ in read_scalars(run_dir)["train/loss_step"]]
    assert steps == sorted(set(steps))


def test_the_trainer_logs_its_cpu_and_memory_under_system(small_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("JULIA_SYSTEM_SECONDS", "0")  # every step, for a run of seconds
    from julia_core.runs import trainer
    config = make_config("fast", data=str(small_demo), image_size=20, batch_size=32, epochs=1, name="system",
                         device="cpu")
    run_dir = launcher.prepare_run(config, tmp_path, claim=True)
    assert trainer.run(run_dir, show_progress=False, console=False) == 0
    system = {tag: points for tag, points in read_scalars(run_dir.path).items() if tag.startswith("system/")}
    assert set(system) == {"system/cpu_percent", "system/memory_mb"}  # no GPU here: no GPU figures, no error
    assert all(value > 50 for _, value in system["system/memory_mb"])  # torch alone takes more than 50 MB
    assert all(value >= 0 for _, value in system["system/cpu_percent"])


def test_gpu_figures_come_from_nvml_and_else_from_torch(monkeypatch):
    """The CUDA branch's arithmetic with torch's and NVML's answers stood in for (no GPU here)."""
    import sys
    import types
    from julia_core.runs import system_metrics
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 3 * 2 ** 20)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (6 * 2 ** 20, 10 * 2 ** 20))
    fake = types.SimpleNamespace(
        nvmlDeviceGetMemoryInfo=lambda handle: types.SimpleNamespace(used=4 * 2 ** 20, total=10 * 2 ** 20),
        nvmlDeviceGetUtilizationRates=lambda handle: types.SimpleNamespace(gpu=87))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    metrics = system_metrics.SystemMetrics(torch.device("cpu"), every=0)
    metrics.cuda, metrics.nvml = True, "handle"
    assert {k: v for k, v in metrics.sample().items() if "gpu" in k} == {
        "system/gpu_peak_allocated_mb": 3.0, "system/gpu_util_percent": 87.0,
        "system/gpu_memory_used_mb": 4.0, "system/gpu_memory_total_mb": 10.0}
    fake.nvmlDeviceGetUtilizationRates = lambda handle: (_ for _ in ()).throw(RuntimeError("driver gone"))
    figures = metrics.sample()
    assert metrics.nvml is None and "system/gpu_util_percent" not in figures
    assert figures["system/gpu_memory_used_mb"] == 4.0 and figures["system/gpu_memory_total_mb"] == 10.0
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (_ for _ in ()).throw(RuntimeError("CUDA error")))
    figures = metrics.sample()  # a failing reading is left out, never raised into the training
    assert "system/gpu_memory_used_mb" not in figures and "system/cpu_percent" in figures


def test_ddp_over_more_gpus_than_the_machine_has_is_refused_in_one_line(small_demo, tmp_path, monkeypatch):
    """A run queued for two GPUs that starts where one is visible (CUDA_VISIBLE_DEVICES, another
    machine's runs folder) fails before any worker starts, saying how many GPUs there are: NCCL
    would fail inside a worker."""
    from julia_core.runs import trainer
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(trainer, "_under_torchrun", lambda *args: pytest.fail("torchrun started"))
    config = make_config("fast", data=str(small_demo), epochs=1, gpus=2, device="cuda", name="two")
    run_dir = launcher.prepare_run(config, tmp_path)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert trainer.main(run_dir, False, False, console=False) == 1
    status = run_dir.read_status()
    assert status.state == "failed"
    assert status.error == "gpus 2 asked for, but this machine shows 1 CUDA GPU (use --gpus 1 or fewer, or --device cpu)"


def test_a_ddp_process_beyond_the_machines_gpus_is_refused_in_one_line(monkeypatch):
    from julia_core.training.device import select_device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert select_device("cuda", 0) == torch.device("cuda:0")
    with pytest.raises(ConfigError, match=r"^DDP process 1 wants CUDA GPU 1, but this machine shows 1 \(use fewer --gpus\)$"):
        select_device("cuda", 1)


def test_more_gpus_than_the_machine_has_are_refused_when_the_run_is_queued(small_demo, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    config = make_config("fast", data=str(small_demo), epochs=1, gpus=3, device="cuda", name="three")
    with pytest.raises(ConfigError, match="gpus 3 asked for, but this machine shows 2 CUDA GPUs"):
        launcher.prepare_run(config, tmp_path)
    assert list(tmp_path.iterdir()) == [], "no run folder for a refused run"


def test_runs_allowed_at_once_on_the_cpu_share_its_cores(small_demo, tmp_path, monkeypatch):
    """Four runs at once with every core each trained 0.15x as fast in all as one alone on 2 cores."""
    from julia_core.runs import trainer
    from julia_core.training.device import cpu_threads
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert [cpu_threads(n) for n in (1, 2, 3, 4, 16)] == [8, 4, 2, 2, 1]
    before = torch.get_num_threads()
    monkeypatch.setenv("JULIA_MAX_RUNS", "4")
    config = make_config("fast", data=str(small_demo), epochs=1, image_size=16, batch_size=32, device="cpu")
    try:
        torch.set_num_threads(8)  # torch's default on this 8-core machine
        shared = launcher.prepare_run(dataclasses.replace(config, name="shared"), tmp_path, claim=True)
        assert trainer.run(shared, show_progress=False, console=False) == 0
        assert torch.get_num_threads() == 2
        assert "2 CPU threads: a share of the cores for 1 process(es) per run and up to 4 runs at once" \
            in shared.log_file.read_text()
        torch.set_num_threads(1)  # OMP_NUM_THREADS=1, say: a share never raises it
        asked = launcher.prepare_run(dataclasses.replace(config, name="asked"), tmp_path, claim=True)
        assert trainer.run(asked, show_progress=False, console=False) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
