from conftest import REPO_ROOT, make_set
from streamlit.testing.v1 import AppTest

APP = str(REPO_ROOT / "dashboard.py")


def test_shows_the_configured_data_set(small_demo, monkeypatch):
    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    metrics = {metric.label: metric.value for metric in app.metric}
    assert metrics == {"Labelled train images": "186", "Test images": "62", "Classes present": "62 of 62"}
    assert len(app.dataframe) == 1


def test_bad_data_set_is_an_error_not_a_crash(tmp_path, monkeypatch):
    root = make_set(tmp_path / "set")
    (root / "trainLabels.csv").write_text("ID;Class\n1;a\n")
    monkeypatch.setenv("JULIA_DATA", str(root))
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception
    assert "separated by semicolons" in app.error[0].value


def test_missing_folder_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("JULIA_DATA", str(tmp_path / "missing"))
    app = AppTest.from_file(APP, default_timeout=60).run()
    assert not app.exception and "no such folder" in app.error[0].value
