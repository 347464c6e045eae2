"""Submit: predict the test split from one run or an ensemble, check the file, download it."""
from pathlib import Path

import streamlit as st

from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.predict import submission
from julia_core.predict.ensemble import score_val, write_new_submission
from julia_core.views.figures import predicted_classes
from julia_core.views.ui import choose_ensemble, data_dir, open_dataset, runs_root, page

page("Submit")
dataset = open_dataset()
if dataset is None:
    st.stop()
chosen = choose_ensemble("submit")
try:
    dataset.require_test_images()
except EXPECTED_ERRORS as err:
    st.error(one_line(err))
    st.stop()
tta = st.toggle("Test-time augmentation (5 views: the image, zooms, shifts)", value=False)
predict_column, score_column = st.columns(2)
refits = [run.name for run in chosen if run.is_refit]
if refits:
    score_column.caption(f"No validation score: {refits[0]} is a refit and holds no labelled image out "
                         "(its recipe was scored on the run it refits).")
if score_column.button("Score this choice on the validation split", disabled=not chosen or bool(refits),
                       help="how the ensemble and TTA would have done on the images the runs held out"):
    try:
        with st.spinner("scoring ..."):
            right, images = score_val([run.dir for run in chosen], data_dir(), tta)
        score_column.metric("Validation accuracy", f"{right / images:.4f}", help=f"{right} of {images}")
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))
if predict_column.button("Predict the test split", type="primary", disabled=not chosen):
    bar = st.progress(0.0, text="predicting ...")
    try:
        out = write_new_submission(chosen, data_dir(), runs_root(), tta,
                                   progress=lambda done, total: bar.progress(done / total, text=f"{done}/{total}"))
        st.session_state.submission = str(out)
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))
    bar.empty()

if "submission" in st.session_state:
    path = Path(st.session_state.submission)
    try:
        rows = submission.validate_submission(path, dataset.test_ids)
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))
        st.stop()
    st.success(f"`{path.name}`: valid: header ID,Class, each of the {len(rows)} test IDs exactly once, valid classes")
    answers = dataset.answer_key()
    if answers:
        st.metric("Score against the demo set's answer key", f"{submission.accuracy_against(rows, answers):.4f}")
    st.plotly_chart(predicted_classes(rows), width="stretch")
    st.download_button("Download the CSV", path.read_bytes(), file_name=path.name, mime="text/csv", type="primary")
