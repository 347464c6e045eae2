"""The Sweep page through AppTest: no sweeps yet, a finished sweep's trials, best run and Optuna's
views, Stop and Resume, refit and "use its options", a damaged sweep record, a bad start."""
import pytest
from streamlit.testing.v1 import AppTest

from conftest import open_page
from julia_core.runs import launcher
from julia_core.sweeps import study as sweep_study
from julia_core.sweeps import worker
from test_sweeps import space, train_one_trial


def table_with(app: AppTest, column: str):
    """The first table on the page holding this column (the form's editor is a table too)."""
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


@pytest.fixture
def sweep_env(app_env, small_demo, monkeypatch, tmp_path):
    """The pages on the small demo set with a runs folder of the test's own (sweeps are kept there)."""
    monkeypatch.setenv("JULIA_SWEEP_POLL", "0.3")
    monkeypatch.setenv("JULIA_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


@pytest.fixture
def finished_sweep(sweep_env, small_demo):
    """A sweep of two one-epoch trials, trained in this process: (runs folder, sweep)."""
    sweep = sweep_study.create_sweep(sweep_env, "page", space(trials=2, pruner="median"), small_demo)
    for _ in range(2):
        train_one_trial(sweep, small_demo)
    return sweep_env, sweep


def test_no_sweeps_yet_shows_the_form_and_says_how(sweep_env):
    app = open_page("sweep")
    assert "No sweeps yet" in app.info[0].value
    assert [b.label for b in app.button if b.label == "Start the sweep"]
    app.text_input(key="sweep-name").set_value("bad name!")
    [b for b in app.button if b.label == "Start the sweep"][0].click().run()
    assert not app.exception and "sweep name 'bad name!' may hold only" in app.error[0].value
    assert not (sweep_env / ".sweeps" / "bad name!").exists()


def test_a_finished_sweep_shows_its_trials_best_run_and_views(finished_sweep):
    runs_root, sweep = finished_sweep
    app = open_page("sweep")
    assert app.selectbox[-1].value == "page"
    summary_row = table_with(app, "sweep").iloc[0]
    assert summary_row["state"] == "finished" and summary_row["done"] == 2
    trials = table_with(app, "trial")
    assert list(trials["trial"]) == [0, 1] and set(trials["state"]) == {"finished"}
    assert any(metric.label.startswith("Best val acc (trial") for metric in app.metric)
    assert len(app.get("plotly_chart")) >= 3  # history, parallel coordinates, importances, ...
    links = {link.label for link in app.get("page_link")}
    assert {"Monitor it", "Evaluate it", "Use its options"} <= links


def test_use_its_options_fills_the_train_page(finished_sweep):
    runs_root, sweep = finished_sweep
    best = max((t for t in sweep.study.get_trials()), key=lambda t: t.value)
    app = open_page("train", **{"from": best.user_attrs["run"]})
    assert any(f"The options of **{best.user_attrs['run']}** (trial {best.number} of sweep page)" in i.value
               for i in app.info)
    lr = [box for box in app.number_input if box.label == "Learning rate"][0]
    assert lr.value == pytest.approx(best.params["lr"])
    assert [box for box in app.number_input if box.label == "Epochs"][0].value == 1


def test_stop_and_resume_from_the_page(finished_sweep):
    runs_root, sweep = finished_sweep
    app = open_page("sweep")
    [b for b in app.button if b.label == "Stop the sweep"][0].click().run()
    assert not app.exception and table_with(app, "sweep").iloc[0]["state"] == "stopped"
    assert "stopped by request" in app.warning[0].value
    [b for b in app.button if b.label == "Resume the sweep"][0].click().run()
    assert not app.exception
    assert launcher.wait_for(lambda: not worker.worker_alive(runs_root, "page"), timeout=60)
    assert sweep_study.open_sweep(runs_root, "page").stop_reason is None


@pytest.mark.slow
def test_refit_the_best_trial_from_the_page(finished_sweep):
    runs_root, sweep = finished_sweep
    app = open_page("sweep")
    [b for b in app.button if b.label == "Refit its recipe on every labelled image"][0].click().run()
    assert not app.exception and "Queued 1 refit run(s)" in app.success[0].value
    refits = [run for run in launcher.list_runs(runs_root) if run.is_refit]
    assert len(refits) == 1 and refits[0].config.sweep == "" and refits[0].config.trial == -1
    assert launcher.wait_for(lambda: not launcher.read_run(refits[0].path).active, timeout=120)


def test_a_damaged_sweep_record_is_a_row_not_a_broken_page(finished_sweep):
    runs_root, _ = finished_sweep
    damaged = runs_root / ".sweeps" / "broken"
    damaged.mkdir(parents=True)
    (damaged / "sweep.json").write_text("{not json")
    app = open_page("sweep", sweep="broken")
    assert not app.exception
    table = table_with(app, "sweep")
    states = dict(zip(table["sweep"], table["state"]))
    assert states == {"page": "finished", "broken": "unreadable"}
    assert any("sweep.json: not valid JSON" in error.value for error in app.error)  # the chosen one says why
