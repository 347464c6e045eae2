"""Every page through Streamlit's AppTest, on the small demo set with a finished run."""
import pytest
from conftest import by_label, make_set, open_page
from streamlit.testing.v1 import AppTest

from julia_core.runs import launcher
from julia_core.runs.store import RunDir
from julia_core.predict.submission import validate_submission


def test_data_page(app_env):
    app = open_page()
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {"Labelled train images": "186", "Test images": "62", "Classes present": "62 of 62"}
    labels = [box.label for box in app.selectbox]
    assert "Label" in labels and "Size" in labels
    assert len(app.get("plotly_chart")) == 1 and len(app.get("image")) >= 3  # the small set has 3 per label
    assert len(app.dataframe) == 1
    by_label(app.selectbox, "Label").set_value("Q").run()  # another label
    assert not app.exception
    by_label(app.radio, "Histogram").set_value("Train / validation split (4:1, seed 0)").run()
    assert not app.exception
    app.toggle[0].set_value(True).run()  # originals beside the resized images
    assert not app.exception and len(app.get("image")) >= 6
    assert not app.exception


def test_data_page_looks_up_an_id(app_env):
    app = open_page()
    lookup = [box for box in app.number_input if box.label == "ID"][0]
    lookup.set_value(99999).run()
    assert "ID 99999 is neither a labelled train image nor a test image" in app.error[0].value
    lookup.set_value(190).run()  # a test ID of the small demo set
    assert not app.error and any("answer key" in md.value for md in app.markdown)


def test_sidebar_shows_device_and_runs(app_env):
    app = open_page()
    captions = " ".join(c.value for c in app.sidebar.caption)
    assert "Device:" in captions and "Active runs: 0 running, 0 queued" in captions


def test_sidebar_refuses_a_bad_folder(app_env, tmp_path):
    app = open_page()
    app.sidebar.radio[0].set_value("Folder").run()
    app.sidebar.text_input[0].set_value(str(tmp_path / "nowhere")).run()
    assert not app.exception and "nowhere: no such folder" in app.sidebar.error[0].value


def test_sidebar_remembers_a_chosen_folder(app_env, small_demo, tmp_path, monkeypatch):
    import json
    import os
    other = make_set(tmp_path / "other")
    monkeypatch.delenv("JULIA_DATA")
    with open(os.environ["JULIA_STATE"], "w") as state:  # as if chosen before; never the repo's demo set
        json.dump({"data_dir": str(small_demo)}, state)
    app = open_page()
    assert {m.label: m.value for m in app.metric}["Labelled train images"] == "186"
    app.sidebar.radio[0].set_value("Folder").run()
    app.sidebar.text_input[0].set_value(str(other)).run()
    assert not app.exception
    assert {m.label: m.value for m in app.metric}["Labelled train images"] == "6"
    restarted = open_page()  # a new session: the choice came back from the state file
    assert {m.label: m.value for m in restarted.metric}["Labelled train images"] == "6"


def test_bad_data_set_is_an_error_not_a_crash(tmp_path, monkeypatch):
    root = make_set(tmp_path / "set")
    (root / "trainLabels.csv").write_text("ID;Class\n1;a\n")
    monkeypatch.setenv("JULIA_DATA", str(root))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "state.json"))
    app = open_page()
    assert "separated by semicolons" in app.error[0].value


@pytest.mark.slow
def test_train_page_start_creates_a_run(app_env):
    runs_root, teacher = app_env
    before = {p.name for p in runs_root.iterdir()}
    app = open_page("train")
    assert [b.label for b in app.button if b.label == "Start"]
    app.number_input(key="fast-epochs").set_value(1)
    app.number_input(key="fast-batch").set_value(32)
    app.selectbox(key="fast-size").set_value(20)
    app.multiselect(key="fast-pseudo").set_value([str(teacher)])
    app.number_input(key="fast-pseudo_threshold").set_value(0.01)
    app.text_input(key="fast-name").set_value("from-the-form")
    app.button[0].click().run()
    assert not app.exception and "Started" in app.success[0].value
    new = [p for p in runs_root.iterdir() if p.name not in before and p.name.endswith("from-the-form")]
    assert len(new) == 1
    assert launcher.wait_for(lambda: RunDir(new[0]).read_status().state not in ("queued", "running"), 120, 0.5)
    assert RunDir(new[0]).read_status().state == "finished", RunDir(new[0]).log_tail()
    assert RunDir(new[0]).read_config().pseudo_label == str(teacher.resolve())
    assert "pseudo-labels: 62 of 62 test images" in (new[0] / "train.log").read_text()


def test_train_page_reports_a_bad_option(app_env):
    app = open_page("train")
    app.text_input(key="fast-name").set_value("../escape")
    app.button[0].click().run()
    assert "run name '../escape' may hold only" in app.error[0].value


def test_monitor_page(app_env):
    _, run_dir = app_env
    app = open_page("monitor")
    assert by_label(app.multiselect, "Runs").value  # the latest run at least
    by_label(app.multiselect, "Runs").set_value([run_dir.name]).run()
    assert len(app.get("plotly_chart")) == 2 and len(app.dataframe) == 1
    by_label(app.radio, "x axis").set_value("step").run()
    assert not app.exception and len(app.get("plotly_chart")) == 2


def test_evaluate_page(app_env):
    app = open_page("evaluate")
    assert len(app.get("plotly_chart")) == 1
    assert len(app.dataframe) >= 2  # per class, confused pairs
    by_label(app.radio, "Class order").set_value("grouped by confusion").run()
    by_label(app.radio, "Cells").set_value("row-normalised").run()
    assert not app.exception


def test_submit_page_yields_a_valid_csv(app_env, small_demo):
    app = open_page("submit")
    predict = [b for b in app.button if b.label == "Predict the test split"][0]
    predict.click().run()
    assert not app.exception and not app.error
    from pathlib import Path
    path = Path(app.session_state["submission"])
    from julia_core.data.dataset import KaggleDataset
    assert len(validate_submission(path, KaggleDataset(small_demo).test_ids)) == 62
    assert any("valid" in s.value for s in app.success)
    assert [m.label for m in app.metric] == ["Score against the demo set's answer key"]
    assert len(app.get("download_button")) == 1


def test_submit_page_scores_the_choice_on_validation(app_env):
    app = open_page("submit")
    [chosen] = by_label(app.multiselect, "Runs (several: mean of their class probabilities)").value  # the newest finished run (other tests add runs)
    by_label(app.button, "Score this choice on the validation split").click().run()
    assert not app.exception and not app.error
    best = RunDir(chosen.path).read_status().best_val_acc
    assert {m.label: m.value for m in app.metric} == {"Validation accuracy": f"{best:.4f}"}


@pytest.mark.parametrize("page", ["monitor", "evaluate", "submit"])
def test_pages_without_runs_say_so(page, small_demo, tmp_path, monkeypatch):
    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    monkeypatch.setenv("JULIA_RUNS", str(tmp_path / "empty"))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "state.json"))
    app = open_page(page)
    assert app.info and not app.error
