"""Entry point: `streamlit run dashboard.py` (or `make run`)."""
import streamlit as st

from julia_core.ui import ensure_demo

st.set_page_config(page_title="Julia characters", page_icon=":material/abc:", layout="wide")
ensure_demo()
navigation = st.navigation([
    st.Page("pages/data.py", title="Data", icon=":material/photo_library:", default=True),
])
navigation.run()
