"""Monitor: overlay the curves of chosen runs, compare their settings, read their status and log."""
import streamlit as st

from julia_core.views.curves import (comparison_table, curve_frame, default_selection, events_note, find_chosen,
                                     needs_attention, steps_per_epoch)
from julia_core.views.figures import curve_figure
from julia_core.views.ui import all_runs, live_every, progress_text, scalar_stream, sidebar

st.title("Monitor")
sidebar()  # per page, not once in dashboard.py: Streamlit 1.67's AppTest drops the entry script's
#           widgets after switch_page (checked again), so no test could see a shared sidebar
run_list = all_runs()
if not run_list:
    st.info("No runs yet: start one on the Train page.")
    st.stop()
by_name = {run.name: run for run in run_list}
linked, _ = find_chosen(st.query_params.get_all("run"), run_list)  # ?run=A&run=B
chosen = st.multiselect("Runs", list(by_name), default=[run.name for run in linked] or default_selection(run_list))
x_axis = st.radio("x axis", ["epoch", "step"], horizontal=True)
smoothing = st.slider("Smoothing of the per-step loss (step axis)", 0.0, 0.99, 0.6,
                      help="exponential moving average with debiasing, as TensorBoard's")


@st.fragment(run_every=live_every([by_name[name] for name in chosen]))
def curves() -> None:
    """Re-reads only new events each time; reruns while a chosen run is active."""
    present, gone = find_chosen(chosen, all_runs())
    for name in gone:
        st.warning(f"{name}: its run directory is gone")
    readers = {run.name: scalar_stream(str(run.path)) for run in present}
    streams = {name: reader.reload() for name, reader in readers.items()}
    per_epoch = steps_per_epoch(present)
    left, right = st.columns(2)
    for column, metric in ((left, "loss"), (right, "accuracy")):
        frame = curve_frame(streams, metric, x_axis, smoothing, per_epoch)
        if frame.empty:
            column.caption(f"No {metric} points yet.")
            continue
        column.plotly_chart(curve_figure(frame, metric, x_axis), width="stretch", key=f"chart-{metric}")
    for run in present:
        with st.expander(f"{run.name}: {run.state}", expanded=needs_attention(run)):
            if run.damaged:
                st.warning(run.damage)
            if run.is_refit:
                st.caption(f"refit of {run.refit_of}: every labelled image, no validation split (training curves only)")
            note = events_note(run, streams[run.name], readers[run.name])
            if note:
                st.warning(note)
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
