"""Entry point: `streamlit run dashboard.py` (or `make run`)."""
import streamlit as st

from julia_core.views.ui import ensure_demo

st.set_page_config(page_title="Julia characters", page_icon=":material/abc:", layout="wide")
ensure_demo()
navigation = st.navigation([
    st.Page("pages/data.py", title="Data", icon=":material/photo_library:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/monitor.py", title="Monitor", icon=":material/monitoring:"),
    st.Page("pages/sweep.py", title="Sweep", icon=":material/tune:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/grid_on:"),
    st.Page("pages/submit.py", title="Submit", icon=":material/upload_file:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/image_search:"),
])
navigation.run()
