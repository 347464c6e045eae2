"""Monitor: overlay the curves of chosen runs (grouped, log axes, system figures, CSV), tag, note,
archive and delete them, and compare their options."""
import streamlit as st

from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.runs import filters, records
from julia_core.views.curves import (CURVES_CSV, comparison_table, config_difference, curve_frame, default_selection, events_note,
                                     find_chosen, needs_attention, options_against_accuracy, steps_per_epoch,
                                     system_frame, system_tags, tidy_curves)
from julia_core.views.figures import curve_figure, options_parallel
from julia_core.views.ui import all_runs, forget_runs, live_every, progress_text, run_filter, scalar_stream, page


def record_editor(run, known: list[str]) -> None:
    """Tags and note of one run (a form: saved together; `known`: the tags to offer), archive or
    restore, delete after a yes."""
    with st.form(f"record-{run.name}"):
        tags = st.multiselect("Tags", sorted(set(known) | set(run.tags)), default=list(run.tags),
                              accept_new_options=True, help="type a new tag and press Enter")
        note = st.text_area("Note", run.record.note, height=80)
        saved = st.form_submit_button("Save tags and note")
    if saved:  # only what changed here: a tag added meanwhile elsewhere stays
        added, removed = [t for t in tags if t not in run.tags], [t for t in run.tags if t not in tags]
        act(lambda: records.edit(run.dir, added, removed, note if note != run.record.note else None),
            f"{run.name}: saved")
    archive, delete = st.columns(2)
    if run.archived:
        if archive.button("Restore", key=f"restore-{run.name}", help="back in the default lists"):
            act(lambda: records.restore(run.dir), f"{run.name}: restored")
    elif archive.button("Archive", key=f"archive-{run.name}", disabled=run.active,
                        help="stop it first" if run.active else "hidden from the default lists; files kept"):
        act(lambda: records.archive(run.dir), f"{run.name}: archived (the filter's 'Show archived runs' lists it)")
    if st.session_state.get("deleting") == run.name:
        delete.warning(f"Delete {run.name} and all its files (checkpoints, curves, predictions)?")
        yes, no = delete.columns(2)
        if yes.button("Yes, delete", key=f"yes-delete-{run.name}", type="primary"):
            st.session_state.pop("deleting")
            act(lambda: records.delete(run.dir), f"{run.name}: deleted")
        if no.button("Cancel", key=f"cancel-delete-{run.name}"):
            st.session_state.pop("deleting")
            st.rerun()
    elif delete.button("Delete ...", key=f"delete-{run.name}", disabled=run.active,
                       help="stop it first" if run.active else "asks before deleting"):
        st.session_state.deleting = run.name
        st.rerun()


def act(change, done: str) -> None:
    """Run a record change; a line for what went wrong (a run deleted meanwhile), else rerun fresh."""
    try:
        change()
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))
        return
    st.session_state.record_message = done
    forget_runs()
    st.rerun()


page("Monitor")
run_list = all_runs()
if not run_list:
    st.info("No runs yet: start one on the Train page.")
    st.stop()
if "record_message" in st.session_state:
    st.toast(st.session_state.pop("record_message"))
shown, group_by = run_filter(run_list, "monitor", grouping=True)
by_name = {run.name: run for run in run_list}
linked, _ = find_chosen(st.query_params.get_all("run"), run_list)  # ?run=A&run=B
names = list(dict.fromkeys([run.name for run in shown] + [run.name for run in linked]))
chosen = st.multiselect("Runs", names, default=[run.name for run in linked] or default_selection(shown), key="monitor-runs")
x_axis_column, log_column, smoothing_column = st.columns([2, 1, 3])
x_axis = x_axis_column.radio("x axis", ["epoch", "step"], horizontal=True)
log_y = log_column.toggle("Log-scale y", help="loss curves over orders of magnitude")
smoothing = smoothing_column.slider("Smoothing of the per-step loss (step axis)", 0.0, 0.99, 0.6,
                                    help="exponential moving average with debiasing, as TensorBoard's")


@st.fragment(run_every=live_every([by_name[name] for name in chosen if name in by_name]))
def curves() -> None:
    """Re-reads only new events each time; reruns while a chosen run is active."""
    present, gone = find_chosen(chosen, all_runs())
    for name in gone:
        st.warning(f"{name}: its run directory is gone")
    readers = {run.name: scalar_stream(str(run.path)) for run in present}
    read = {name: reader.reload_with_walls() for name, reader in readers.items()}
    streams, walls = {name: found[0] for name, found in read.items()}, {name: found[1] for name, found in read.items()}
    groups = {run.name: filters.group_of(run, group_by) for run in present} if group_by else None
    per_epoch = steps_per_epoch(present)
    left, right = st.columns(2)
    for column, metric in ((left, "loss"), (right, "accuracy")):
        frame = curve_frame(streams, metric, x_axis, smoothing, per_epoch)
        if frame.empty:
            column.caption(f"No {metric} points yet.")
            continue
        column.plotly_chart(curve_figure(frame, metric, x_axis, groups, log_y), width="stretch", key=f"chart-{metric}")
    st.download_button("Download these runs' curves (CSV)", lambda: tidy_curves(readers, present).to_csv(index=False),
                       file_name=CURVES_CSV, mime="text/csv", icon=":material/download:",
                       help="one row per point: run, run_tags, tag, step, epoch, value, wall_time")
    with st.expander("System: CPU, memory, GPU"):
        found = system_tags(streams)
        if not found:
            st.caption("No system figures in these runs (runs from before they were logged, or not started).")
        columns = st.columns(2)
        for index, tag in enumerate(found):
            columns[index % 2].plotly_chart(curve_figure(system_frame(streams, walls, tag), tag, "minutes", groups),
                                            width="stretch", key=f"chart-{tag}")
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
present, _ = find_chosen(chosen, run_list)
st.subheader("Tags, note, archive")
edited = st.selectbox("Run", list(dict.fromkeys([run.name for run in present] + names)),  # no key: new options,
                      help="the chosen runs first, then every run the filter lets through")  # the first again
if edited in by_name:
    if by_name[edited].record_problem:
        st.warning(f"{by_name[edited].record_problem}; saving writes a fresh one")
    record_editor(by_name[edited], filters.choices(run_list)["tags"])  # every run's tags, filtered or not

st.subheader("Compare")
compared = present or shown
st.dataframe(comparison_table(compared), hide_index=True, width="stretch",
             column_config={"best val acc": st.column_config.NumberColumn(format="%.4f"),
                            "val acc": st.column_config.NumberColumn(format="%.4f")})
table = options_against_accuracy(compared)
if len(table) >= 2 and len(table.columns) >= 2:
    st.plotly_chart(options_parallel(table), width="stretch", key="parallel")
else:
    st.caption("Parallel coordinates appear for two or more runs with a validation accuracy whose options differ.")
if len(compared) >= 2:
    first, second = st.columns(2)
    a = first.selectbox("Difference between", [run.name for run in compared], key="diff-a")
    b = second.selectbox("and", [run.name for run in compared], index=1, key="diff-b")
    difference = config_difference(by_name[a], by_name[b])
    if difference.empty:
        st.caption("Their options are the same.")
    else:
        st.dataframe(difference, hide_index=True, width="stretch")
