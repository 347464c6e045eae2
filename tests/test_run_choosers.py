"""The run filter on every page that chooses runs (Evaluate, Submit, Predict), Train's Advanced
options and "Copy the options of run ...", and Predict's camera, through AppTest."""
import io

import pytest
from PIL import Image

from conftest import by_label, open_page


@pytest.mark.parametrize("page,chooser,message", [
    ("evaluate", "Run", "No run with validation predictions passes the filter."),
    ("submit", "Runs (several: mean of their class probabilities)", "No finished run passes the filter."),
    ("predict", "Runs (several: mean of their class probabilities)", "No finished run passes the filter."),
])
def test_the_run_filter_narrows_each_chooser(app_env, page, chooser, message):
    _, run_dir = app_env
    app = open_page(page)
    chosen = by_label(app.selectbox if page == "evaluate" else app.multiselect, chooser)
    assert any(run_dir.name in str(option) for option in chosen.options)  # options as shown: the run's label
    by_label(app.text_input, "Name").set_value("no-such-run").run()
    assert not app.exception and any(info.value == message for info in app.info)
    by_label(app.text_input, "Name").set_value(run_dir.name.split("-", 2)[2]).run()
    assert not any(info.value == message for info in app.info)


def test_train_copies_another_runs_options_and_keeps_the_rest_under_advanced(app_env):
    _, run_dir = app_env
    app = open_page("train")
    in_view = [box.label for box in app.selectbox] + [box.label for box in app.number_input] + [s.label for s in app.slider]
    assert {"Model", "Image size (px)", "Epochs", "Learning rate", "Augmentation strength", "Device"} <= set(in_view)
    assert any(expander.label.startswith("Advanced") for expander in app.expander)
    by_label(app.selectbox, "Copy the options of run ...").set_value(run_dir.name).run()
    assert not app.exception and app.query_params["from"] == run_dir.name
    assert any(f"The options of **{run_dir.name}**" in info.value for info in app.info)
    assert by_label(app.number_input, "Epochs").value == 1 and by_label(app.number_input, "Batch size").value == 32
    by_label(app.selectbox, "Copy the options of run ...").set_value("").run()
    assert "from" not in app.query_params and not app.exception


def test_predict_takes_a_photo(app_env):
    app = open_page("predict")
    by_label(app.radio, "Image").set_value("Take a photo").run()
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 120, 200)).save(buffer, format="JPEG")
    app.camera_input[0].set_value(("photo.jpg", buffer.getvalue(), "image/jpeg")).run()
    assert not app.exception and not app.error
    assert any(m.value.startswith("**photo**:") for m in app.markdown) and len(app.get("plotly_chart")) == 2
