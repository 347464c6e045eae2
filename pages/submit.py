"""Submit: predict the test split from one run or an ensemble, check the file, download it."""
from pathlib import Path

import streamlit as st

from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.predict import submission
from julia_core.predict.ensemble import score_val, write_new_submission
from julia_core.runs.listing import submittable
from julia_core.runs.refit import refit_families
from julia_core.views.figures import predicted_classes
from julia_core.views.ui import all_runs, data_dir, open_dataset, run_label, runs_root, sidebar

st.title("Submit")
sidebar()  # per page, not once in dashboard.py: Streamlit 1.67's AppTest drops the entry script's
#           widgets after switch_page (checked again), so no test could see a shared sidebar
dataset = open_dataset()
if dataset is None:
    st.stop()
finished = submittable(all_runs())
if not finished:
    st.info("No finished run yet: train one first.")
    st.stop()
try:
    dataset.require_test_images()
except EXPECTED_ERRORS as err:
    st.error(one_line(err))
    st.stop()
families = refit_families(finished)
ONE_BY_ONE = "runs one by one"
family = st.selectbox("Choose", [ONE_BY_ONE, *families], disabled=not families,
                      format_func=lambda name: name if name == ONE_BY_ONE else
                      f"the {len(families[name])} refit(s) of {name}, averaged",
                      help="a refit's seeds in one choice (Evaluate's 'Refit on all labelled images' makes them)")
chosen = st.multiselect("Runs (several: mean of their class probabilities)", finished,
                        default=families.get(family, finished[:1]), format_func=run_label, key=f"runs-{family}")
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
