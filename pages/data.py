"""Data: which set is loaded and what it holds."""
import plotly.express as px
import streamlit as st

from julia_core import settings
from julia_core.ui import class_count_frame, current_dataset, folder_frame

st.title("Data")
dataset, summary = current_dataset()
if dataset is not None:
    st.caption(f"Data set: `{settings.data_dir()}` · runs: `{settings.runs_dir()}`")
    train, test, classes = st.columns(3)
    train.metric("Labelled train images", summary.train_count)
    test.metric("Test images", summary.test_count)
    classes.metric("Classes present", f"{summary.classes_present} of {len(summary.class_counts)}")
    figure = px.bar(class_count_frame(summary), x="class", y="images", title="Train images per class")
    figure.update_xaxes(type="category", tickangle=0)
    st.plotly_chart(figure, width="stretch")
    st.subheader("Folders")
    st.dataframe(folder_frame(summary), hide_index=True, width="stretch")
