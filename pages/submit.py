"""Submit: the final submission in one click; or predict the test split from one run or an ensemble,
check the file, download it."""
from pathlib import Path

import streamlit as st

from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.predict import submission
from julia_core.predict.ensemble import score_val, write_new_submission
from julia_core.views.figures import predicted_classes
from julia_core.runs import final
from julia_core.runs.refit import MAX_SEEDS
from julia_core.training.config import PRESETS
from julia_core.views.ui import (all_runs, choose_ensemble, data_dir, forget_runs, live_every, open_dataset, page,
                                runs_root)

page("Submit")
dataset = open_dataset()
if dataset is None:
    st.stop()


def start_final() -> None:
    """The one-click path: preset and seeds, then every stage as ordinary runs (julia_core.runs.final)."""
    with st.form("final"):
        st.markdown("**Final submission in one click**: a validated run (its accuracy is the estimate), its refits "
                    "on every labelled image with seeds, their ensemble with TTA, the checked CSV.")
        preset_column, seeds_column = st.columns(2)
        preset = preset_column.selectbox("Preset", list(PRESETS), index=list(PRESETS).index("best"),
                                         key="final-preset")
        seeds = seeds_column.number_input("Seeds (refits in the ensemble)", 1, MAX_SEEDS, 3, key="final-seeds")
        if st.form_submit_button("Start the final submission", type="primary"):
            try:
                plan = final.FinalPlan(final.default_name(preset), preset, int(seeds), str(data_dir()))
                st.session_state.final_started = final.start(plan, runs_root()).message
                forget_runs()
            except EXPECTED_ERRORS as err:
                st.error(one_line(err))
    if "final_started" in st.session_state:
        st.success(st.session_state.pop("final_started"))


@st.fragment(run_every=live_every(all_runs()))
def finals() -> None:
    """Every final, advanced to where its runs are: the stage, the estimate, Resume, the CSV."""
    for plan, problem in final.list_plans(runs_root()):
        if plan is None:
            st.error(problem)
            continue
        try:
            with st.spinner(f"{plan.name}: checking its runs ..."):
                state = final.advance(plan, runs_root(), wait=False)
        except EXPECTED_ERRORS as err:
            st.error(f"{plan.name}: {one_line(err)}")
            continue
        name_column, estimate_column, action_column = st.columns([3, 1, 1])
        name_column.markdown(f"**{plan.name}** ({plan.preset}, {plan.seeds} seed(s)): {state.stage}  \n"
                             f"{state.message}")
        if state.estimate is not None:
            estimate_column.metric("Estimate", f"{state.estimate:.4f}", help="the validated run's best validation accuracy")
        if state.stage == final.STALLED and action_column.button("Resume", key=f"resume-final-{plan.name}"):
            try:
                final.advance(plan, runs_root(), resume=True)
                forget_runs()
                st.rerun()
            except EXPECTED_ERRORS as err:
                st.error(one_line(err))
        if state.submission:
            action_column.download_button("Download", state.submission.read_bytes(),
                                          file_name=state.submission.name, mime="text/csv",
                                          key=f"download-final-{plan.name}")


start_final()
finals()
st.divider()
st.markdown("**Predict from runs you choose**")
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
