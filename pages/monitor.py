"""Monitor: overlay the curves of chosen runs, compare their settings, read their status and log."""
import streamlit as st

from julia_core.runs.store import FAILED, RUNNING
from julia_core.views.curves import comparison_table, curve_frame, default_selection
from julia_core.views.figures import curve_figure
from julia_core.views.ui import LIVE_SECONDS, all_runs, progress_text, scalar_stream, sidebar

st.title("Monitor")
sidebar()  # per page, not once in dashboard.py: Streamlit 1.67's AppTest drops the entry script's
#           widgets after switch_page (checked again), so no test could see a shared sidebar
run_list = all_runs()
if not run_list:
    st.info("No runs yet: start one on the Train page.")
    st.stop()
by_name = {run.name: run for run in run_list}
linked = [name for name in st.query_params.get_all("run") if name in by_name]  # ?run=A&run=B
chosen = st.multiselect("Runs", list(by_name), default=linked or default_selection(run_list))
x_axis = st.radio("x axis", ["epoch", "step"], horizontal=True)
smoothing = st.slider("Smoothing of the per-step loss (step axis)", 0.0, 0.99, 0.6,
                      help="exponential moving average with debiasing, as TensorBoard's")
live = any(by_name[name].active for name in chosen)


@st.fragment(run_every=LIVE_SECONDS if live else None)
def curves() -> None:
    """Re-reads only new events each time; reruns every LIVE_SECONDS while a chosen run is active."""
    fresh = {run.name: run for run in all_runs()}
    present = [name for name in chosen if name in fresh]
    for name in set(chosen) - set(present):
        st.warning(f"{name}: its run directory is gone")
    streams = {name: scalar_stream(str(fresh[name].path)).reload() for name in present}
    per_epoch = {name: fresh[name].status.steps_per_epoch if fresh[name].status else None for name in present}
    left, right = st.columns(2)
    for column, metric in ((left, "loss"), (right, "accuracy")):
        frame = curve_frame(streams, metric, x_axis, smoothing, per_epoch)
        if frame.empty:
            column.caption(f"No {metric} points yet.")
            continue
        column.plotly_chart(curve_figure(frame, metric, x_axis), width="stretch", key=f"chart-{metric}")
    for name in present:
        run = fresh[name]
        with st.expander(f"{name}: {run.state}", expanded=run.state in (RUNNING, FAILED) or run.damaged):
            if run.damaged:
                st.warning(run.damage)
            if run.status:
                fraction, text = progress_text(run.status)
                st.progress(fraction, text=text)
                if run.status.error:
                    st.error(run.status.error)
            st.code(run.dir.log_tail(15) or "(no log yet)", language=None)


if chosen:
    curves()
st.subheader("Compare")
st.dataframe(comparison_table([by_name[name] for name in (chosen or list(by_name))]), hide_index=True,
             width="stretch", column_config={"best val acc": st.column_config.NumberColumn(format="%.4f"),
                                             "val acc": st.column_config.NumberColumn(format="%.4f")})
