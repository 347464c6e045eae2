"""Refits: a finished run's recipe again on every labelled image, predicting with its last weights;
marked as a refit everywhere, refused where it cannot be (unfinished, a refit of a refit, its data
gone, scored on a validation split it does not have)."""
import json
import re
import shutil

import pytest
from conftest import open_page

from julia_core import cli
from julia_core.data.dataset import KaggleDataset
from julia_core.errors import DataError, RunError
from julia_core.predict.submission import validate_submission
from julia_core.runs import launcher, refit
from julia_core.runs.events import read_scalars
from julia_core.runs.listing import evaluable, submittable
from julia_core.runs.store import RunDir
from julia_core.views.curves import ScalarStream, events_note

TRAIN_IMAGES = 3 * 62  # the small demo set: 3 labelled images per class


@pytest.fixture(scope="module")
def refitted(demo_run, tmp_path_factory):
    """(runs folder, the source run's name, the refit's directory): the demo run refit in the
    foreground from the CLI, as a user would."""
    _, source = demo_run
    root = tmp_path_factory.mktemp("refit-runs")
    shutil.copytree(source, root / source.name)
    assert cli.main(["train", "--refit", source.name, "--runs", str(root), "--no-progress"]) == 0
    [refit_dir] = [path for path in root.iterdir() if path.name.endswith("-refit")]
    return root, source.name, RunDir(refit_dir)


def test_a_refit_trains_on_every_labelled_image_and_predicts_with_its_last_weights(refitted, small_demo, tmp_path):
    root, source, run_dir = refitted
    config, status = run_dir.read_config(), run_dir.read_status()
    assert (config.refit_of, config.val_fraction, config.folds) == (source, 0.0, 0)
    assert status.state == "finished" and status.best is None and status.val_acc is None
    assert f"{TRAIN_IMAGES} train / 0 val images" in (run_dir / "train.log").read_text()
    assert run_dir.has_checkpoint("last") and not run_dir.has_checkpoint("best")
    assert not run_dir.val_predictions_file.exists()
    assert "from last.pt" in (run_dir / "train.log").read_text()
    out = tmp_path / "again.csv"
    assert cli.main(["predict", "--run", run_dir.name, "--runs", str(root), "--data", str(small_demo),
                     "--out", str(out)]) == 0  # each run's own checkpoint: a refit's last.pt
    ids = KaggleDataset(small_demo).test_ids
    assert validate_submission(out, ids) == validate_submission(run_dir.submission_file, ids)


def test_a_refit_logs_training_curves_only(refitted):
    _, _, run_dir = refitted
    tags = set(read_scalars(run_dir.path))
    assert {"train/loss", "train/acc", "train/loss_step"} <= tags and not [t for t in tags if "val" in t]
    [run] = [run for run in launcher.list_runs(run_dir.path.parent) if run.name == run_dir.name]
    stream = ScalarStream(run_dir.path)
    assert events_note(run, stream.reload(), stream) is None  # no validation curve is not damage


def test_a_refit_is_marked_everywhere_it_is_listed(refitted, capsys):
    root, source, run_dir = refitted
    runs = launcher.list_runs(root)
    [run] = [run for run in runs if run.name == run_dir.name]
    assert run.is_refit and run.refit_of == source
    assert run in submittable(runs) and run in evaluable(runs)
    assert cli.main(["runs", "--runs", str(root)]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith(run_dir.name))
    assert re.search(rf"finished .* refit +{source}", line), line


def test_a_refit_cannot_be_scored_or_predicted_from_a_best_epoch(refitted, small_demo, capsys):
    root, source, run_dir = refitted
    assert cli.main(["score", "--run", run_dir.name, "--runs", str(root)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {run_dir.name} is a refit of {source} on every labelled image: it has no validation "
                   f"split to score on; score {source} for its recipe\n")
    assert cli.main(["predict", "--run", run_dir.name, "--runs", str(root), "--data", str(small_demo),
                     "--checkpoint", "best", "--out", "/dev/null"]) == 2
    assert "is a refit (no validation split, so no best epoch)" in capsys.readouterr().err


def test_refit_refuses_what_it_cannot_refit(refitted, demo_run, small_demo, tmp_path, capsys):
    root, source, run_dir = refitted
    [again] = [run for run in launcher.list_runs(root) if run.name == run_dir.name]
    with pytest.raises(RunError, match=f"is itself a refit of {source}: refit {source} instead"):
        refit.refit_configs(again)
    queued = launcher.prepare_run(again.config.__class__(data=str(small_demo), model="charnet", image_size=20,
                                                         name="waiting"), tmp_path / "runs")
    with pytest.raises(RunError, match="is queued: only a finished run has a recipe and length to refit"):
        refit.refit_configs(launcher.read_run(queued.path))
    _, good = demo_run
    gone = shutil.copytree(good, tmp_path / "gone" / good.name)
    config = json.loads((gone / "config.json").read_text())
    (gone / "config.json").write_text(json.dumps({**config, "data": str(tmp_path / "moved-away")}))
    with pytest.raises(DataError, match="moved-away"):
        refit.refit_configs(launcher.read_run(gone))
    assert cli.main(["train", "--refit", good.name, "--runs", str(root), "--lr", "0.1"]) == 2
    assert ("only --epochs, --device, --seeds, --own-pretraining and --detach go with it, not --lr"
            in capsys.readouterr().err)
    assert cli.main(["train", "--seeds", "3", "--runs", str(root)]) == 2
    assert "--seeds and --own-pretraining go with --refit RUN" in capsys.readouterr().err
    stopped = shutil.copytree(good, tmp_path / "stopped" / good.name)
    RunDir(stopped).update_status(state="stopped")
    with pytest.raises(RunError, match="is stopped: only a finished run"):
        refit.refit_configs(launcher.read_run(stopped))


def test_refit_seeds_are_queued_together_and_chosen_as_one(demo_run, tmp_path, monkeypatch, capsys):
    _, source = demo_run
    root = tmp_path / "runs"
    shutil.copytree(source, root / source.name)
    monkeypatch.setattr(launcher, "schedule", lambda runs_root: [])  # queued, not started
    assert cli.main(["train", "--refit", source.name, "--seeds", "3", "--epochs", "2", "--runs", str(root)]) == 0
    printed = capsys.readouterr().out.split()
    configs = [RunDir(path).read_config() for path in printed]
    assert [(c.seed, c.epochs, c.refit_of) for c in configs] == [(0, 2, source.name), (1, 2, source.name),
                                                                   (2, 2, source.name)]
    assert [RunDir(path).read_status().state for path in printed] == ["queued"] * 3
    assert [c.name for c in configs] == [f"fixture-refit-seed{seed}" for seed in range(3)]
    assert [c.pretrain_seed for c in configs] == [-1, 0, 0]  # every seed fine-tunes the run's pre-training
    own = refit.refit_configs(launcher.read_run(root / source.name), refit.RefitPlan(seeds=3, own_pretraining=True))
    assert [(c.seed, c.pretrain_seed) for c in own] == [(0, -1), (1, -1), (2, -1)]  # each pre-trains for itself
    for path in printed:  # as if they had run
        RunDir(path).update_status(state="finished")
    families = refit.refit_families(launcher.list_runs(root))
    assert list(families) == [f"{source.name}, 2 epochs"] and len(families[f"{source.name}, 2 epochs"]) == 3


def test_a_refit_keeps_its_runs_pretraining_seed(demo_run, tmp_path):
    """Seed 0 pre-trained as seed 5 (pretrain_seed 5): its refit's first seed keeps that pre-training,
    its further seeds share it, or with own_pretraining each has its own."""
    _, source = demo_run
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    config_file = copy / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "pretrain_seed": 5}))
    run = launcher.read_run(copy)
    assert [c.pretrain_seed for c in refit.refit_configs(run, refit.RefitPlan(seeds=3))] == [5, 5, 5]
    assert [c.pretrain_seed for c in refit.refit_configs(run, refit.RefitPlan(seeds=3, own_pretraining=True))] == [5, -1, -1]


@pytest.mark.parametrize("page", ["evaluate", "submit", "monitor"])
def test_the_pages_say_what_a_refit_is(refitted, small_demo, monkeypatch, tmp_path, page):
    root, source, run_dir = refitted
    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    monkeypatch.setenv("JULIA_RUNS", str(root))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "dashboard.json"))
    app = open_page(page, run=run_dir.name)
    assert not app.exception, app.exception
    if page == "evaluate":
        assert next(box for box in app.selectbox if box.label == "Run").value.name == run_dir.name
        assert any(f"is a refit of **{source}**" in info.value for info in app.info)
    elif page == "submit":
        epochs = run_dir.read_config().epochs
        choose = next(box for box in app.selectbox if box.label == "Choose")
        assert choose.options == ["runs one by one", f"the 1 refit(s) of {source}, {epochs} epochs, averaged"]
        choose.select_index(1).run()
        assert [run.name for run in next(box for box in app.multiselect if box.label.startswith("Runs")).value] == [
            run_dir.name]
        assert next(button for button in app.button if button.label.startswith("Score")).disabled
        assert any(f"No validation score: {run_dir.name} is a refit" in caption.value for caption in app.caption)
    else:
        assert any(f"refit of {source}" in caption.value for caption in app.caption)


def test_refit_from_the_evaluate_page(demo_run, small_demo, monkeypatch, tmp_path):
    _, source = demo_run
    root = tmp_path / "runs"
    shutil.copytree(source, root / source.name)
    monkeypatch.setattr(launcher, "schedule", lambda runs_root: [])
    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    monkeypatch.setenv("JULIA_RUNS", str(root))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "dashboard.json"))
    config_file = root / source.name / "config.json"  # a recipe with pre-training: the seeds' choice shows
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "pretrain": 2}))
    app = open_page("evaluate")
    app.number_input(key=f"seeds-{source.name}").set_value(2).run()
    app.checkbox(key=f"own-pretraining-{source.name}").check().run()
    app.button(key=f"refit-{source.name}").click().run()
    assert not app.exception, app.exception
    assert any("Queued 2 refit run(s)" in success.value for success in app.success)
    assert sorted((run.config.seed, run.config.pretrain_seed) for run in launcher.list_runs(root)
                  if run.is_refit) == [(0, -1), (1, -1)]


def test_a_refit_shares_its_runs_pretrained_weights_and_can_teach(refitted, small_demo):
    """Pre-training is on synthetic characters: the refit's cached weights are its run's. A refit
    (no best.pt) is a pseudo-label teacher and a weight source through its last.pt."""
    from julia_core.predict.pseudo_labels import PseudoLabelError, check_teachers
    from julia_core.runs.listing import weight_sources
    from julia_core.runs.store import init_weights_path
    from julia_core.training import pretrain
    from julia_core.training.config import make_config
    import torch
    root, source, run_dir = refitted
    recipe = make_config("best", data=str(small_demo))
    [again] = refit.refit_configs(launcher.read_run(root / source))
    refit_recipe = again.__class__(**{**again.to_dict(), **{k: getattr(recipe, k) for k in ("pretrain",
                                                                                        "pretrain_epochs")}})
    cpu = torch.device("cpu")
    assert pretrain.weights_path(refit_recipe, cpu) == pretrain.weights_path(
        again.__class__(**{**refit_recipe.to_dict(), "refit_of": "", "val_fraction": 0.2}), cpu)
    seeds = [again.__class__(**{**c.to_dict(), "pretrain": recipe.pretrain, "pretrain_epochs": recipe.pretrain_epochs})
             for c in refit.refit_configs(launcher.read_run(root / source), refit.RefitPlan(seeds=3))]
    assert {pretrain.weights_path(c, cpu) for c in seeds} == {pretrain.weights_path(refit_recipe, cpu)}
    own = again.__class__(**{**seeds[1].to_dict(), "pretrain_seed": -1})  # seed 1 on its own: another pre-training
    assert pretrain.weights_path(own, cpu) != pretrain.weights_path(refit_recipe, cpu)
    assert check_teachers([str(run_dir.path)], again) == [run_dir.path]  # a refit student: nothing to leak into
    with pytest.raises(PseudoLabelError, match="is a refit: it learnt every labelled image"):
        check_teachers([str(run_dir.path)], make_config("fast", data=str(small_demo)))
    assert init_weights_path(run_dir.path) == run_dir.checkpoint_file("last")
    assert run_dir.name in [run.name for run in weight_sources(launcher.list_runs(root))]
