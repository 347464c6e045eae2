"""Evaluate: a run's 62x62 confusion matrix, per-class scores, confused pairs and its mistakes."""
import numpy as np
import plotly.graph_objects as go
import streamlit as st

from julia_core.runs import audit
from julia_core.data import browse
from julia_core.views import mistakes as evaluation
from julia_core.training.config import make_config
from julia_core.errors import JuliaError
from julia_core.data.classes import CLASSES
from julia_core.views.ui import all_runs, data_dir, forget_runs, images, open_dataset, runs_root, sidebar


def label_audit() -> None:
    """The labels a cross-validated model disputes most, with their images."""
    st.subheader("Label audit")
    groups = audit.audit_groups(all_runs())
    if st.button("Start a 5-fold audit (fast preset)", help="5 runs, one after another, each holding out a fold"):
        try:
            started = audit.launch_audit(make_config("fast", data=str(data_dir())), runs_root())
            st.toast(f"queued {len(started)} fold runs")
            forget_runs()
            st.rerun()
        except JuliaError as err:
            st.error(str(err))
    if not groups:
        st.caption("No audit yet. Each fold's model predicts the images it never saw; the labels it disputes "
                   "most are listed here with their images.")
        return
    name = st.selectbox("Audit", list(groups))
    members = groups[name]
    done = sum(run.state == "finished" for run in members)
    if done < len(members):
        st.progress(done / len(members), text=f"{done} of {len(members)} folds finished")
        return
    try:
        disputed = audit.disputed_labels(audit.out_of_fold(members), top=48)
    except JuliaError as err:
        st.error(str(err))
        return
    audited = open_dataset(members[0].config.get("data"))
    shown = images(audited, "train", members[0].config.get("source", "resized"), 48, "RGB") if audited else None
    if disputed.empty:
        st.success("The cross-validated model agrees with every label.")
        return
    if shown is None:
        return
    rows = browse.rows_by_id(shown)
    columns = st.columns(8)
    for index, item in enumerate(disputed.to_dict("records")):
        columns[index % 8].image(shown.images[rows[item["id"]]], width="stretch",
                                 caption=f"{item['id']}: labelled {item['label']}, model {item['model says']} "
                                         f"({item['p(model says)']:.0%})")
    st.dataframe(disputed, hide_index=True, width="stretch")



st.title("Evaluate")
sidebar()  # in each page, not the entry script: AppTest keeps its widgets then
candidates = [run for run in all_runs() if (run.path / "val_predictions.npz").exists()]
candidates.sort(key=lambda r: r.state != "finished")  # finished runs first, newest first within
if not candidates:
    st.info("No run has finished an epoch yet: its validation predictions appear here after one.")
    label_audit()
    st.stop()
run = st.selectbox("Run", candidates, format_func=lambda r: f"{r.name} ({r.state})")
try:
    predictions = evaluation.load_val_predictions(run.path)
except JuliaError as err:
    st.error(str(err))
    st.stop()

matrix = evaluation.confusion_matrix(predictions.labels, predictions.predicted)
st.caption(f"{len(predictions.labels)} validation images at epoch {predictions.epoch}: "
           f"accuracy {predictions.accuracy:.4f}")
left, right = st.columns(2)
scale = left.radio("Cells", ["counts", "row-normalised"], horizontal=True)
order_name = right.radio("Class order", ["a-z A-Z 0-9", "grouped by confusion"], horizontal=True)
order = list(range(len(CLASSES))) if order_name.startswith("a-z") else evaluation.confusion_order(matrix)
names = [CLASSES[i] for i in order]
counts = matrix[np.ix_(order, order)]
shown = counts if scale == "counts" else evaluation.row_normalised(counts)
figure = go.Figure(go.Heatmap(
    z=np.where(counts > 0, shown, np.nan), x=names, y=names, customdata=counts, colorscale="Blues",
    hovertemplate="true %{y}<br>predicted %{x}<br>count %{customdata}<extra></extra>", hoverongaps=False))
figure.update_layout(height=820, xaxis=dict(title="predicted", type="category", tickfont=dict(size=9)),
                     yaxis=dict(title="true", type="category", autorange="reversed", tickfont=dict(size=9)),
                     margin=dict(t=20))
st.plotly_chart(figure, width="stretch")

metrics, pairs = st.columns([3, 2])
metrics.subheader("Per class")
metrics.dataframe(evaluation.per_class_metrics(matrix), hide_index=True, height=360, width="stretch",
                  column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("precision", "recall", "f1")})
pairs.subheader("Most confused pairs")
pairs.dataframe(evaluation.most_confused_pairs(matrix), hide_index=True, height=360, width="stretch")

st.subheader("Mistakes")
wrong = evaluation.mistakes(predictions)
if wrong.empty:
    st.success("No validation image is misclassified.")
    label_audit()
    st.stop()
sort, per_page_column, page_column = st.columns(3)
order = sort.radio("Sort by", evaluation.MISTAKE_ORDERS)
wrong = evaluation.sort_mistakes(wrong, order)
per_page = per_page_column.selectbox("Per page", [16, 32, 64], index=1)
pages = browse.page_count(len(wrong), per_page)
number = page_column.number_input(f"Page (of {pages}; {len(wrong)} mistakes)", 1, pages, 1)
dataset = open_dataset(run.config.get("data"))
loaded = images(dataset, "train", run.config.get("source", "resized"), 48, "RGB") if dataset else None
if loaded is not None:
    rows = browse.rows_by_id(loaded)
    shown, _ = browse.page(list(wrong.itertuples()), number, per_page)
    columns = st.columns(8)
    for index, item in enumerate(shown):
        columns[index % 8].image(loaded.images[rows[item.id]], width="stretch",
                                 caption=f"{item.id}: {item.true}→{item.predicted} ({item.confidence:.0%})")
with st.expander("All mistakes as a table"):
    st.dataframe(wrong, hide_index=True, width="stretch")


label_audit()
