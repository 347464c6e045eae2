"""Sweeps: the search space's checks, trials as ordinary runs reporting through the real trainer,
pruning, workers sharing one study (SQLite, and a real PostgreSQL server), crashes, stop and resume."""
import json
import os
import subprocess
import sys
import time

import pytest

import postgres
from conftest import REPO_ROOT, run_cli
from julia_core.runs import launcher, trainer
from julia_core.runs.store import LAST, RunDir
from julia_core.sweeps import study as sweep_study
from julia_core.sweeps import worker
from julia_core.sweeps.space import SpaceError, load_space, parse_space

# Trials that train in a second or two on the small demo set.
TINY = {"epochs": 1, "image_size": 16, "batch_size": 32, "eval_batch_size": 256}


def space(trials=2, pruner="none", tuning=None, **options):
    return parse_space({"preset": "fast", "trials": trials, "pruner": pruner, **(tuning or {}),
                        "options": {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, **TINY, **options}})


@pytest.fixture(autouse=True)
def quick_workers(monkeypatch):
    monkeypatch.setenv("JULIA_SWEEP_POLL", "0.3")
    monkeypatch.setenv("JULIA_MAX_RUNS", "1")


# -- the search space ---------------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"learning_rate": [0.1]}, "options.learning_rate: unknown option"),
    ({"lr": {"low": 0.01, "high": 0.001}}, "options.lr: an empty or reversed range (low 0.01 is not below high 0.001)"),
    ({"lr": {"low": 0.01, "high": 0.01}}, "options.lr: an empty or reversed range"),
    ({"lr": []}, "options.lr: an empty list of choices"),
    ({"lr": [0.01, 50.0]}, "options.lr: 50.0 is refused: learning rate must be above 0 and at most 10"),
    ({"image_size": {"low": 4, "high": 32}}, "options.image_size: 4 is refused: image size must be between 8 and 256"),
    ({"image_size": [16.5]}, "options.image_size: choice 16.5: 16.5 is not a whole number"),
    ({"model": {"low": 1, "high": 2}}, "options.model: a range needs a numeric option"),
    ({"model": ["charnet", "transformer"]}, "options.model: 'transformer' is refused: unknown model"),
    ({"lr": {"low": 0.0, "high": 0.1, "log": True}}, "options.lr: a log range needs low above 0"),
    ({"epochs": 3}, "options: nothing to search"),
    ({"name": ["a", "b"]}, "options.name: set by the sweep itself, not searchable"),
    ({"lr": {"low": 0.001, "hi": 0.1}}, "options.lr: a range is {low, high} with optional log and step"),
    ({"epochs": [2, 4], "warmup_epochs": {"low": 1.0, "high": 5.0}},
     "options: the last values together (epochs=4, warmup_epochs=5.0) are refused: warmup epochs must be in [0, epochs)"),
    ({"folds": [3, 5]}, "options.folds: not searchable (a sweep's trials compare on one validation split)"),
])
def test_a_space_that_cannot_be_searched_is_one_line_naming_the_field(options, message):
    with pytest.raises(SpaceError) as caught:
        parse_space({"preset": "fast", "options": options}, "space.yaml")
    assert str(caught.value).startswith(f"space.yaml: {message}")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("values, message", [
    ({"preset": "fastest", "options": {"lr": [0.1]}}, "preset: unknown preset 'fastest'"),
    ({"sampler": "bayes", "options": {"lr": [0.1]}}, "sampler: 'bayes' is not one of tpe, random, grid"),
    ({"pruner": "asha", "options": {"lr": [0.1]}}, "pruner: 'asha' is not one of median, halving, hyperband, none"),
    ({"trials": 0, "options": {"lr": [0.1]}}, "trials: 0 must be a whole number of at least 1"),
    ({"sampler": "grid", "options": {"lr": {"low": 0.001, "high": 0.1}}}, "options.lr: the grid sampler takes lists"),
    ({"options": {"lr": [0.1]}, "budget": 3}, "unknown field 'budget'"),
    ({"options": {}}, "options: name the options to search"),
])
def test_the_space_s_own_fields_are_checked(values, message):
    with pytest.raises(SpaceError, match="^space.yaml: " + message.replace("(", r"\(").replace(")", r"\)")):
        parse_space(values, "space.yaml")


def test_a_space_reads_from_yaml_or_json_and_suggests_typed_values(tmp_path):
    yaml_file = tmp_path / "space.yaml"
    yaml_file.write_text("preset: fast\nsampler: grid\noptions:\n  image_size: [16, 24]\n  model: [charnet]\n"
                         "  augment: 0.25\n")
    grid = load_space(yaml_file)
    assert grid.budget == 2 and grid.fixed == {"augment": 0.25} and grid.grid == {"image_size": [16, 24], "model": ["charnet"]}
    assert parse_space(ranged_zero := {"options": {"augment": {"low": 0.0, "high": 1.0}}}).to_dict()["options"] == \
        ranged_zero["options"]  # a range from 0 keeps its 0 when stored
    json_file = tmp_path / "space.json"
    json_file.write_text(json.dumps({"preset": "fast", "options": {"lr": {"low": 1e-4, "high": 1e-2, "log": True},
                                                                   "image_size": {"low": 16, "high": 32, "step": 8}}}))
    ranged = load_space(json_file)
    import optuna
    trial = optuna.create_study().ask()
    values = ranged.suggest(trial)
    assert 1e-4 <= values["lr"] <= 1e-2 and isinstance(values["lr"], float)
    assert values["image_size"] in (16, 24, 32) and isinstance(values["image_size"], int)
    broken = tmp_path / "broken.yaml"
    broken.write_text("options: [lr: {low: 1\n")
    with pytest.raises(SpaceError, match=f"^{broken}: not valid YAML or JSON at line"):
        load_space(broken)
    with pytest.raises(SpaceError, match="no such file"):
        load_space(tmp_path / "missing.yaml")


# -- storage and names: one line each, nothing started --------------------------------------------------
def test_bad_storage_names_and_spaces_start_nothing(tmp_path, small_demo):
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(space().to_dict()))
    runs = tmp_path / "runs"

    def start(*extra):
        return run_cli("sweep", "start", "s1", "--space", space_file, "--runs", runs, "--data", small_demo, *extra)

    wrong_scheme = start("--storage", "http://db.example:5432/optuna")
    assert wrong_scheme.returncode == 2 and wrong_scheme.stderr.startswith("error: storage 'http://db.example:5432/optuna': not a database URL")
    unreachable = start("--storage", f"postgresql+psycopg2://me:secret@127.0.0.1:{postgres.free_port()}/optuna")
    assert unreachable.returncode == 2 and "cannot connect" in unreachable.stderr and "secret" not in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1
    bad_name = start()  # a good start first, then the same name with another space
    assert bad_name.returncode == 0, bad_name.stderr
    worker.stop_sweep(runs, "s1")
    other = tmp_path / "other.json"
    other.write_text(json.dumps(space(trials=5).to_dict()))
    clash = run_cli("sweep", "start", "s1", "--space", other, "--runs", runs, "--data", small_demo)
    assert clash.returncode == 2 and "already exists with another search space (it differs in trials)" in clash.stderr
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    unwritable = run_cli("sweep", "start", "s2", "--space", space_file, "--runs", a_file / "runs", "--data", small_demo)
    assert unwritable.returncode == 2 and "the runs folder is not writable" in unwritable.stderr
    bad_space = tmp_path / "bad.yaml"
    bad_space.write_text("options:\n  lr: {low: 1, high: 0.1}\n")
    refused = run_cli("sweep", "start", "s3", "--space", bad_space, "--runs", runs, "--data", small_demo)
    assert refused.returncode == 2 and refused.stderr == f"error: {bad_space}: options.lr: an empty or reversed range (low 1 is not below high 0.1)\n"
    assert not (runs / ".sweeps" / "s3").exists() and not (runs / ".sweeps" / "s2").exists()
    missing = run_cli("sweep", "show", "nothing-here", "--runs", runs)
    assert missing.returncode == 2 and "no sweep 'nothing-here'" in missing.stderr


# -- trials through the real trainer -----------------------------------------------------------------
def make_sweep(runs, data, chosen, name="s"):
    return sweep_study.create_sweep(runs, name, chosen, data)


def train_one_trial(sweep, data):
    """A trial made as the worker makes one, its run trained in this process as a trainer would."""
    number, run_dir = worker.prepare_trial(sweep, claim=True)
    assert trainer.run(run_dir, show_progress=False, console=False) == 0
    return number, run_dir


def test_a_trial_reports_every_epoch_and_the_pruner_ends_it(tmp_path, small_demo):
    import optuna
    sweep = make_sweep(tmp_path / "runs", small_demo, space(pruner="median", tuning={"startup_trials": 1, "warmup_epochs": 0}, epochs=3))
    # a finished trial that was perfect at every epoch: any real trial is below its median
    sweep.study.add_trial(optuna.trial.create_trial(
        params={"lr": 0.003}, distributions={"lr": optuna.distributions.FloatDistribution(1e-3, 1e-2, log=True)},
        value=1.0, intermediate_values={1: 1.0, 2: 1.0, 3: 1.0}))
    number, run_dir = train_one_trial(sweep, small_demo)
    status = run_dir.read_status()
    assert status.state == "pruned" and status.epoch == 1 and status.epochs == 3
    assert run_dir.has_checkpoint(LAST)  # a pruned trial keeps its checkpoints
    trial = sweep.study.get_trials()[number]
    assert trial.state.name == "PRUNED" and list(trial.intermediate_values) == [1]
    assert trial.intermediate_values[1] == pytest.approx(status.val_acc)
    assert "pruned after epoch 1" in run_dir.log_file.read_text()
    row = [r for r in launcher.run_table(launcher.list_runs(sweep.runs_root)) if r["run"] == run_dir.name][0]
    assert row["state"] == "pruned"
    assert run_dir.read_config().sweep == "s" and run_dir.read_config().trial == number


def test_a_finished_trial_tells_the_study_its_best_validation_accuracy(tmp_path, small_demo):
    sweep = make_sweep(tmp_path / "runs", small_demo, space(epochs=2))
    number, run_dir = train_one_trial(sweep, small_demo)
    status = run_dir.read_status()
    trial = sweep.study.get_trials()[number]
    assert status.state == "finished"
    assert trial.state.name == "COMPLETE" and trial.value == pytest.approx(status.best_val_acc)
    assert sorted(trial.intermediate_values) == [1, 2]


@pytest.mark.parametrize("pruner", ["halving", "hyperband"])
def test_the_halving_pruners_judge_trials_through_the_trainer_too(tmp_path, small_demo, pruner):
    sweep = make_sweep(tmp_path / "runs", small_demo, space(trials=3, pruner=pruner, epochs=2))
    outcomes = []
    for _ in range(2):
        number, run_dir = train_one_trial(sweep, small_demo)
        trial = sweep.study.get_trials()[number]
        outcomes.append((run_dir.read_status().state, trial.state.name))
        # the pruner judged the trial at its first rung, from the value the trainer reported
        assert trial.system_attrs["completed_rung_0"] == pytest.approx(trial.intermediate_values[1])
    assert all(pair in {("finished", "COMPLETE"), ("pruned", "PRUNED")} for pair in outcomes), outcomes


def test_a_trial_whose_study_is_gone_trains_as_an_ordinary_run(tmp_path, small_demo, monkeypatch):
    monkeypatch.setattr(worker, "TELL_SECONDS", 0)  # its trainer (this process) lives on: settle at once
    sweep = make_sweep(tmp_path / "runs", small_demo, space())
    (tmp_path / "runs" / ".sweeps" / "s" / "sweep.json").unlink()
    trial = sweep.study.ask()
    config = sweep.space.config(sweep.space.suggest(trial), data=str(small_demo), sweep="s", trial=trial.number)
    run_dir = launcher.prepare_run(config, sweep.runs_root, claim=True)
    sweep.storage.set_trial_user_attr(trial._trial_id, "run", run_dir.name)
    assert trainer.run(run_dir, show_progress=False, console=False) == 0
    assert run_dir.read_status().state == "finished"
    assert "cannot report trial 0" in run_dir.log_file.read_text()
    assert sweep.study.get_trials()[0].state.name == "RUNNING"
    sweep_study.write_record(sweep.runs_root, sweep.record)  # the record back: the worker settles the trial
    worker.work_once(sweep_study.open_sweep(sweep.runs_root, "s"))
    settled = sweep.study.get_trials()[0]
    assert settled.state.name == "COMPLETE" and settled.value == pytest.approx(run_dir.read_status().best_val_acc)


def test_the_worker_settles_a_trial_whose_trainer_died(tmp_path, small_demo):
    sweep = make_sweep(tmp_path / "runs", small_demo, space(trials=3))
    trial = sweep.study.ask()
    config = sweep.space.config(sweep.space.suggest(trial), data=str(small_demo), sweep="s", trial=trial.number)
    run_dir = launcher.prepare_run(config, sweep.runs_root)  # queued, never started
    sweep.storage.set_trial_user_attr(trial._trial_id, "run", run_dir.name)
    run_dir.update_status(state="failed", error="process exited unexpectedly")
    worker.settle_ended(sweep, worker.trial_runs(launcher.list_runs(sweep.runs_root), "s"))
    settled = sweep.study.get_trials()[trial.number]
    assert settled.state.name == "FAIL" and settled.user_attrs["error"] == "process exited unexpectedly"


def test_a_silent_trial_is_failed_by_the_next_worker_that_looks(tmp_path, small_demo, monkeypatch):
    monkeypatch.setattr(sweep_study, "HEARTBEAT_SECONDS", 1)
    monkeypatch.setattr(sweep_study, "GRACE_SECONDS", 1)
    sweep = make_sweep(tmp_path / "a", small_demo, space(trials=1))
    worker.prepare_trial(sweep)  # machine a queues a trial (vouching for it once), then vanishes, worker and all
    elsewhere = sweep_study.join_sweep(tmp_path / "b", "s", sweep_study.storage_url(tmp_path / "a", sweep.record),
                                       small_demo)
    time.sleep(2.5)
    assert worker.work_once(elsewhere) == "finished: the sweep's budget is spent"
    assert elsewhere.study.get_trials()[0].state.name == "FAIL"


def test_a_trial_that_fails_while_the_worker_looks_is_not_followed_by_a_fourth(tmp_path, small_demo, monkeypatch):
    """Two trials crashed and the third's trainer fails while a worker's pass is under way (after
    it read the crash streak): that pass must not queue a fourth trial, and the next one stops
    the sweep. (CI saw a fourth trial when the free slot was looked up in a second listing.)"""
    from optuna.trial import TrialState
    sweep = make_sweep(tmp_path / "runs", small_demo, space(trials=6))
    for _ in range(2):
        crashed = sweep.study.ask()
        crashed.set_user_attr("error", "crashed")
        sweep.study.tell(crashed, state=TrialState.FAIL)
    number, run_dir = worker.prepare_trial(sweep, claim=True)  # running, in this (live) process

    def trainer_fails_now():
        run_dir.update_status(state="failed", error="crashed too", ended="2026-12-04T00:00:00+00:00")
        sweep.storage.set_trial_user_attr(sweep.trial_id(number), "error", "crashed too")
        sweep.study.tell(number, state=TrialState.FAIL)
    real_budget_left = worker.budget_left
    monkeypatch.setattr(worker, "budget_left", lambda s: trainer_fails_now() or real_budget_left(s))
    assert worker.work_once(sweep) is None
    assert len(sweep.study.get_trials()) == 3, "no trial asked in the pass that saw the third still running"
    monkeypatch.setattr(worker, "budget_left", real_budget_left)
    assert worker.work_once(sweep).startswith("stopped: 3 trials in a row failed; the last, trial 2: crashed too")
    assert len(sweep.study.get_trials()) == 3


# -- workers: processes, sharing, crashes, stop and resume -------------------------------------------------
def work_process(runs, name):
    env = {**os.environ, "JULIA_SWEEP_POLL": "0.3", "JULIA_MAX_RUNS": "1"}
    return subprocess.Popen([sys.executable, "-m", "julia_core", "sweep", "work", name, "--runs", str(runs)],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def postgres_url():
    reason = postgres.why_not()
    if reason:
        pytest.skip(reason)
    server = postgres.Server()
    yield server.url
    server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_two_machines_share_one_study_and_no_trial_runs_twice(kind, tmp_path, small_demo, request):
    name = f"shared-{kind}"
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    # sqlite: machine a's default, the SQLite file in its runs folder, which b opens by its path
    url = "" if kind == "sqlite" else request.getfixturevalue("postgres_url")
    sweep_study.create_sweep(machine_a, name, space(trials=4, pruner="median"), small_demo, url)
    url = url or sweep_study.default_storage(machine_a)
    sweep_study.join_sweep(machine_b, name, url, small_demo)
    workers = [work_process(machine_a, name), work_process(machine_b, name)]
    outputs = [process.communicate(timeout=240)[0] for process in workers]
    assert all(process.returncode == 0 for process in workers), outputs
    assert all("budget is spent" in output for output in outputs), outputs
    runs = {machine: worker.trial_runs(launcher.list_runs(machine), name) for machine in (machine_a, machine_b)}
    numbers = [run.config.trial for found in runs.values() for run in found]
    counted = [t.number for t in sweep_study.open_sweep(machine_a, name).study.get_trials() if "skipped" not in t.user_attrs]
    assert sorted(numbers) == counted and len(counted) == 4  # every trial once, on one machine or the other
    assert all(runs.values()), "both machines ran trials"
    for machine in (machine_a, machine_b):
        seen = sweep_study.open_sweep(machine, name).study.get_trials()
        seen = [t for t in seen if "skipped" not in t.user_attrs]  # two workers asking at once: one over the budget
        assert [t.state.name for t in seen] == ["COMPLETE"] * 4  # one epoch each: never pruned (the last epoch never is)
        shown = run_cli("sweep", "show", name, "--runs", machine)
        assert shown.returncode == 0 and "finished" in shown.stdout.splitlines()[0]
    for machine, found in runs.items():
        for run in found:
            trial = sweep_study.open_sweep(machine, name).study.get_trials()[run.config.trial]
            assert trial.user_attrs["run"] == run.name


@pytest.mark.slow
def test_three_crashes_in_a_row_stop_the_sweep_and_say_why(tmp_path, small_demo):
    runs = tmp_path / "runs"
    # accepted by the checks, refused by the trainer: more images per batch than the set has
    sweep_study.create_sweep(runs, "crashy", space(trials=6, batch_size=4096), small_demo)
    reason = worker.work(runs, "crashy", poll=0.2)
    assert reason.startswith("stopped: 3 trials in a row failed; the last, trial 2: batch size 4096 is larger than")
    trials = sweep_study.open_sweep(runs, "crashy").study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL"] * 3
    assert all("batch size 4096" in t.user_attrs["error"] for t in trials)
    listed = run_cli("sweep", "show", "--runs", runs)
    assert "stopped" in listed.stdout and "3 trials in a row failed" in listed.stdout


@pytest.mark.slow
def test_stop_a_sweep_then_resume_it_where_it_was(tmp_path, small_demo):
    runs = tmp_path / "runs"
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(space(trials=1, epochs=25).to_dict()))
    started = run_cli("sweep", "start", "long", "--space", space_file, "--runs", runs, "--data", small_demo)
    assert started.returncode == 0 and "worker started" in started.stdout

    def trial_run():
        found = worker.trial_runs(launcher.list_runs(runs), "long")
        return found[0] if found else None
    assert launcher.wait_for(lambda: trial_run() and trial_run().status.epoch >= 1, timeout=120)
    stopped = run_cli("sweep", "stop", "long", "--runs", runs)
    assert stopped.returncode == 0 and "stop requested" in stopped.stdout
    assert launcher.wait_for(lambda: trial_run().state == "stopped" and not worker.worker_alive(runs, "long"), timeout=60)
    sweep = sweep_study.open_sweep(runs, "long")
    assert sweep.study.get_trials()[0].state.name == "RUNNING"  # held open for the resume
    assert run_cli("sweep", "show", "--runs", runs).stdout.splitlines()[1].split()[1] == "stopped"
    resumed = run_cli("sweep", "resume", "long", "--runs", runs)
    assert resumed.returncode == 0 and f"{trial_run().name}: resumed" in resumed.stdout
    assert launcher.wait_for(lambda: trial_run().state == "finished" and not worker.worker_alive(runs, "long"),
                             timeout=180)
    trial = sweep_study.open_sweep(runs, "long").study.get_trials()[0]
    assert trial.state.name == "COMPLETE" and sorted(trial.intermediate_values) == list(range(1, 26))
    assert "resumed from checkpoints/last.pt" in RunDir(trial_run().path).log_file.read_text()


@pytest.mark.slow
def test_on_a_machine_with_two_gpus_two_trials_run_at_once_one_on_each(tmp_path, small_demo, monkeypatch):
    monkeypatch.delenv("JULIA_MAX_RUNS")
    monkeypatch.setattr(launcher.torch.cuda, "device_count", lambda: 2)  # the trainers themselves see no GPU: CPU
    runs = tmp_path / "runs"
    sweep_study.create_sweep(runs, "two", space(trials=2, epochs=3), small_demo)
    assert worker.work(runs, "two", poll=0.2) == "finished: the sweep's budget is spent"
    statuses = [run.status for run in worker.trial_runs(launcher.list_runs(runs), "two")]
    assert sorted(status.cuda_devices for status in statuses) == ["0", "1"]
    first, second = sorted(statuses, key=lambda status: status.started)
    assert second.started <= first.ended  # at the same time (to the second)


def test_gpus_are_given_free_ones_first(monkeypatch):
    from julia_core.runs.listing import Run
    from julia_core.runs.status import Status
    monkeypatch.setattr(launcher.torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    holding = [Run(RunDir("/x"), None, Status(state="running", cuda_devices=d)) for d in ("0", "2")]
    assert launcher.assign_gpus(holding) == "1"
    assert launcher.assign_gpus(holding, need=2) == "1,3"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert launcher.assign_gpus([Run(RunDir("/x"), None, Status(state="running", cuda_devices="4"))]) == "5"
    monkeypatch.setattr(launcher.torch.cuda, "device_count", lambda: 1)
    assert launcher.assign_gpus(holding) is None
