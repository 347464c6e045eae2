"""Evaluate: a run's 62x62 confusion matrix, per-class scores, confused pairs and its mistakes."""
import streamlit as st

from julia_core.data import browse
from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.runs import audit, refit
from julia_core.runs.listing import evaluable
from julia_core.training.config import make_config
from julia_core.views import mistakes
from julia_core.views.figures import CELL_SCALES, CLASS_ORDERS, confusion_heatmap
from julia_core.views.ui import (all_runs, data_dir, forget_runs, images, open_dataset, refit_notice, run_filter,
                                run_label, runs_root, page)


def image_grid(dataset_root: str, source: str, items: list[tuple[int, str]]) -> None:
    """Images by ID with a caption each, eight to a row, as the dashboard shows them (48 px RGB)."""
    dataset = open_dataset(dataset_root)
    loaded = images(dataset, "train", source, 48, "RGB") if dataset else None
    if loaded is None:
        return
    rows, missing = browse.rows_for(loaded, [image_id for image_id, _ in items])
    if missing:
        st.warning(f"{len(missing)} of these IDs (the first {missing[0]}) are not in {dataset_root}: "
                   "the run was trained on another data set")
    columns = st.columns(8)
    for index, (image_id, caption) in enumerate((i, c) for i, c in items if i in rows):
        columns[index % 8].image(loaded.images[rows[image_id]], width="stretch", caption=caption)


def label_audit() -> None:
    """The labels a cross-validated model disputes most, with their images."""
    st.subheader("Label audit")
    groups = audit.audit_groups(all_runs())
    if st.button("Start a 5-fold audit (fast preset)", help="5 runs, one after another, each holding out a fold"):
        try:
            _, started = audit.launch_audit(make_config("fast", data=str(data_dir())), runs_root())
            st.toast(f"queued {len(started)} fold runs")
            forget_runs()
            st.rerun()
        except EXPECTED_ERRORS as err:
            st.error(one_line(err))
    if not groups:
        st.caption("No audit yet. Each fold's model predicts the images it never saw; the labels it disputes "
                   "most are listed here with their images.")
        return
    name = st.selectbox("Audit", list(groups))
    try:
        report = audit.audit_report(groups[name])
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))
        return
    if not report.complete:
        st.progress(report.finished / report.folds, text=f"{report.finished} of {report.folds} folds finished")
        return
    if report.disputed.empty:
        st.success("The cross-validated model agrees with every label.")
        return
    image_grid(report.data, report.source, [
        (item["id"], f"{item['id']}: labelled {item['label']}, model {item['model says']} ({item['p(model says)']:.0%})")
        for item in report.disputed.to_dict("records")])
    st.dataframe(report.disputed, hide_index=True, width="stretch")


page("Evaluate")
every = all_runs()
if not evaluable(every):
    st.info("No run has finished an epoch yet: its validation predictions appear here after one.")
    label_audit()
    st.stop()
shown, _ = run_filter(every, "evaluate")
wanted = st.query_params.get("run")  # ?run=NAME: a link from another page, shown whatever the filter
passed = {run.name for run in shown} | {wanted}
candidates = evaluable([run for run in every if run.name in passed])
if not candidates:
    st.info("No run with validation predictions passes the filter.")
    st.stop()
names = [candidate.name for candidate in candidates]
run = st.selectbox("Run", candidates, index=names.index(wanted) if wanted in names else 0, format_func=run_label)
if run.is_refit:
    st.info(refit_notice(run))
    st.page_link("pages/evaluate.py", label=f"Evaluate {run.refit_of}", icon=":material/grid_on:",
                 query_params={"run": run.refit_of})
    st.page_link("pages/monitor.py", label=f"Monitor {run.name}", icon=":material/monitoring:",
                 query_params={"run": run.name})
    st.stop()
if refit.can_refit(run):
    with st.expander("Refit on all labelled images", icon=":material/all_inclusive:"):
        st.caption("This run's recipe again with no validation split: the same options and epochs, every labelled "
                   "image, predicting with its last weights. Several seeds are queued together; ensemble them "
                   "on Submit.")
        seeds = st.number_input("Seeds", 1, refit.MAX_SEEDS, 1, key=f"seeds-{run.name}")
        own = run.config.pretrain > 0 and st.checkbox(
            "Each seed pre-trains for itself", key=f"own-pretraining-{run.name}", disabled=seeds == 1,
            help="a pre-training per further seed (32-38 CPU minutes each, minutes on a GPU; cached, so paid "
                 "once): refits that differ more, an ensemble of three 0.865 against 0.861 on held-out real "
                 "images (docs/EXPERIMENTS.md, session 13); unticked, every seed fine-tunes this run's "
                 "cached pre-training")
        if st.button("Refit", key=f"refit-{run.name}"):
            try:
                queued = refit.launch_refit(run, runs_root(), refit.RefitPlan(seeds, own_pretraining=own))
                forget_runs()
                st.success(f"Queued {len(queued)} refit run(s): {', '.join(d.name for d in queued)}")
            except EXPECTED_ERRORS as err:
                st.error(one_line(err))
try:
    predictions = run.dir.read_val_predictions()
except EXPECTED_ERRORS as err:
    st.error(one_line(err))
    st.stop()

matrix = mistakes.confusion_matrix(predictions.labels, predictions.predicted)
st.caption(f"{len(predictions.labels)} validation images at epoch {predictions.epoch}: "
           f"accuracy {predictions.accuracy:.4f}")
left, right = st.columns(2)
scale = left.radio("Cells", CELL_SCALES, horizontal=True)
order = right.radio("Class order", CLASS_ORDERS, horizontal=True)
st.plotly_chart(confusion_heatmap(matrix, scale, order), width="stretch")

metrics, pairs = st.columns([3, 2])
metrics.subheader("Per class")
metrics.dataframe(mistakes.per_class_metrics(matrix), hide_index=True, height=360, width="stretch",
                  column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "f1")})
pairs.subheader("Most confused pairs")
pairs.dataframe(mistakes.most_confused_pairs(matrix), hide_index=True, height=360, width="stretch")

st.subheader("Mistakes")
wrong = mistakes.mistakes(predictions)
if wrong.empty:
    st.success("No validation image is misclassified.")
    label_audit()
    st.stop()
sort, per_page_column, page_column = st.columns(3)
wrong = mistakes.sort_mistakes(wrong, sort.radio("Sort by", mistakes.MISTAKE_ORDERS))
per_page = per_page_column.selectbox("Per page", [16, 32, 64], index=1)
pages = browse.page_count(len(wrong), per_page)
number = page_column.number_input(f"Page (of {pages}; {len(wrong)} mistakes)", 1, pages, 1)
shown, _ = browse.page(list(wrong.itertuples()), number, per_page)
image_grid(run.config.data, run.config.source,
           [(item.id, f"{item.id}: {item.true}→{item.predicted} ({item.confidence:.0%})") for item in shown])
with st.expander("All mistakes as a table"):
    st.dataframe(wrong, hide_index=True, width="stretch")


label_audit()
