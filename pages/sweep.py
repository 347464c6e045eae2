"""Sweep: search a recipe's options with Optuna. The sweeps, a new one (or this machine joining one),
and for one sweep its trials, its best run and Optuna's views, live while it works."""
import pandas as pd
import streamlit as st

from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.runs import refit
from julia_core.runs.refit import MAX_SEEDS
from julia_core.sweeps import overview, study, worker
from julia_core.sweeps.space import KINDS, NOT_SEARCHABLE, OPTION_TYPES, PRUNERS, SAMPLERS, STARTER_ROWS
from julia_core.sweeps.space import options_from_rows, parse_space
from julia_core.training.config import PRESETS
from julia_core.views.sweep_figures import sweep_figures
from julia_core.views.ui import LIVE_SECONDS, all_runs, data_dir, forget_runs, runs_root, page

page("Sweep")
st.caption(f"Trials are ordinary runs in `{runs_root()}` on the data set `{data_dir()}`: Monitor, Evaluate, "
           "Submit, Stop and Resume work on them as on any run.")


def new_sweep_form() -> None:
    """Name, preset, sampler, pruner, budget, storage and the options to search; Start."""
    with st.form("new-sweep"):
        a, b, c = st.columns(3)
        name = a.text_input("Sweep name", "sweep-1", key="sweep-name", help="letters, digits, '.', '_' and '-'")
        preset = b.selectbox("Preset", list(PRESETS), index=list(PRESETS).index("fast"),
                             help="every option not in the table below is the preset's")
        sampler = c.selectbox("Sampler", SAMPLERS, help="tpe: Bayesian (default) · random · grid: every combination "
                                                        "of the choices")
        pruner = a.selectbox("Pruner", PRUNERS, help="median: end a trial below the median of earlier ones at the "
                                                     "same epoch · halving / hyperband: successive halving · none")
        trials = b.number_input("Trials (0: no limit)", 0, 10_000, 24)
        minutes = c.number_input("Wall time in minutes (0: no limit)", 0, 100_000, 0)
        storage = st.text_input("Storage (empty: a SQLite file in the runs folder)", "",
                                placeholder="postgresql://USER:PASSWORD@HOST:5432/DATABASE",
                                help="a database server lets several machines work on one sweep (README)")
        searchable = [option for option in OPTION_TYPES if option not in NOT_SEARCHABLE]
        rows = st.data_editor(pd.DataFrame(STARTER_ROWS), num_rows="dynamic", hide_index=True, width="stretch",
                              key="space-rows", column_config={
                                  "option": st.column_config.SelectboxColumn("option", options=searchable, required=True),
                                  "kind": st.column_config.SelectboxColumn("kind", options=KINDS, required=True),
                                  "low": st.column_config.NumberColumn("low", format="%g"),
                                  "high": st.column_config.NumberColumn("high", format="%g"),
                                  "values": st.column_config.TextColumn("values", help="choices, comma-separated; "
                                                                                      "or the fixed value")})
        start = st.form_submit_button("Start the sweep", type="primary")
    if start:
        try:
            values = {"preset": preset, "sampler": sampler, "pruner": pruner, "options": options_from_rows(
                rows.to_dict("records"))}
            values.update({"trials": int(trials)} if trials else {})
            values.update({"timeout_minutes": float(minutes)} if minutes else {})
            sweep = study.create_sweep(runs_root(), name.strip(), parse_space(values, "search space"), data_dir(),
                                       storage.strip())
            pid = worker.start_worker(runs_root(), sweep.name)
            started(sweep.name, f"Sweep `{sweep.name}` started (worker pid {pid})." if pid else
                    f"Sweep `{sweep.name}`: a worker already works on it here.")
        except EXPECTED_ERRORS as err:
            st.error(one_line(err))


def started(name: str, message: str) -> None:
    """Show the new sweep at once: the page is drawn again with it chosen, the message on top."""
    st.session_state["sweep-started"] = message
    st.query_params["sweep"] = name
    st.rerun()


def join_form() -> None:
    with st.form("join-sweep"):
        a, b = st.columns([1, 2])
        name = a.text_input("Sweep name", key="join-name")
        storage = b.text_input("Its storage", key="join-storage", placeholder="postgresql://USER:PASSWORD@HOST:5432/DB")
        join = st.form_submit_button("Join: work on it on this machine")
    if join:
        try:
            sweep = study.join_sweep(runs_root(), name.strip(), storage.strip(), data_dir())
            pid = worker.start_worker(runs_root(), sweep.name)
            started(sweep.name, f"Joined `{sweep.name}`: this machine now runs its trials too (worker pid {pid})."
                    if pid else f"A worker already works on `{sweep.name}` here.")
        except EXPECTED_ERRORS as err:
            st.error(one_line(err))


if "sweep-started" in st.session_state:
    st.success(st.session_state.pop("sweep-started"))
summaries = overview.sweep_summaries(runs_root())
with st.expander("New sweep", expanded=not summaries):
    new_sweep_form()
with st.expander("Join a sweep another machine started"):
    join_form()
if not summaries:
    st.info("No sweeps yet: start one above, or from the CLI: python -m julia_core sweep start NAME --space FILE")
    st.stop()

names = [summary.name for summary in summaries]
wanted = st.query_params.get("sweep")
chosen = st.selectbox("Sweep", names, index=names.index(wanted) if wanted in names else 0)
live = any(overview.is_live(summary) for summary in summaries)


def best_trial(summary: overview.SweepSummary) -> None:
    """The best trial's figure, links to its run, its options for Train, and its refit."""
    st.metric(f"Best val acc (trial {summary.best_trial})", f"{summary.best_value:.4f}")
    st.caption(", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                         for k, v in summary.best_params.items()))
    run = next((r for r in all_runs() if r.name == summary.best_run), None)
    if run is None:
        st.caption(f"Its run {summary.best_run} is on another machine.")
        return
    links = st.columns(3)
    links[0].page_link("pages/monitor.py", label="Monitor it", icon=":material/monitoring:", query_params={"run": run.name})
    links[1].page_link("pages/evaluate.py", label="Evaluate it", icon=":material/grid_on:", query_params={"run": run.name})
    links[2].page_link("pages/train.py", label="Use its options", icon=":material/model_training:",
                       query_params={"from": run.name})
    seeds_column, button_column = st.columns([1, 2])
    seeds = seeds_column.number_input("Refit seeds", 1, MAX_SEEDS, 1, key=f"refit-seeds-{summary.name}")
    if button_column.button("Refit its recipe on every labelled image", key=f"refit-{summary.name}"):
        try:
            made = refit.launch_refit(run, runs_root(), refit.RefitPlan(seeds))
            forget_runs()
            st.success(f"Queued {len(made)} refit run(s): {', '.join(d.name for d in made)} (Submit ensembles them).")
        except EXPECTED_ERRORS as err:
            st.error(one_line(err))


@st.fragment(run_every=LIVE_SECONDS if live else None)
def sweep_view(name: str) -> None:
    """The sweeps table and the chosen sweep: re-read while anything works (a storage that went
    away meanwhile is one line, here, on every rerun of the fragment)."""
    try:
        chosen_sweep(name)
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))


def chosen_sweep(name: str) -> None:
    current = overview.sweep_summaries(runs_root())
    if any(overview.is_live(summary) for summary in current) != live:
        st.rerun()  # a sweep began or ended working: the whole page again, to start or stop the refresh
    st.dataframe(pd.DataFrame([summary.row() for summary in current]), hide_index=True, width="stretch")
    summary = next((s for s in current if s.name == name), None)
    if summary is None:
        st.warning(f"{name}: its record is gone")
        return
    st.subheader(name)
    if summary.state == overview.UNREADABLE:
        st.error(summary.reason)
        return
    st.caption(f"**{summary.state}**: {overview.STATE_HELP[summary.state]} · {summary.sampler}, pruner "
               f"{summary.pruner} · budget {summary.budget} · study in `{summary.storage}`")
    if summary.reason:
        st.warning(summary.reason)
    stop, resume = st.columns(2)
    stop.button("Stop the sweep", disabled=summary.state == overview.STOPPED, key=f"stop-{name}",
                help="everywhere: running trials save and stop, queued ones are cancelled",
                on_click=act, args=(worker.stop_sweep, name, "stop asked for"))
    resume.button("Resume the sweep", disabled=summary.state in (overview.WORKING, overview.FINISHED),
                  key=f"resume-{name}", help="its stopped trials resume here and a worker starts",
                  on_click=act, args=(worker.resume_sweep, name, "resumed"))
    said = st.session_state.pop("sweep-said", None)
    if said:
        (st.error if said[0] == "error" else st.success)(said[1])
    if summary.best_value is not None:
        best_trial(summary)
    sweep = study.open_sweep(runs_root(), name)
    rows = overview.trial_rows(sweep)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch",
                 column_config={"best val acc": st.column_config.NumberColumn(format="%.4f")})
    figures = sweep_figures(sweep.study)
    for tab, (title, figure) in zip(st.tabs(list(figures)), figures.items()):
        if isinstance(figure, str):
            tab.caption(figure)
        else:
            tab.plotly_chart(figure, width="stretch", key=f"{name}-{title}")


def act(action, name: str, done: str) -> None:
    """Stop or Resume, as a button's callback: it runs before the page is drawn again, so the
    table already shows what it did; what it said is shown under the buttons."""
    try:
        lines = action(runs_root(), name)
        forget_runs()
        st.session_state["sweep-said"] = ("success", f"{name}: {done}" + (f" ({'; '.join(lines)})" if lines else ""))
    except EXPECTED_ERRORS as err:
        st.session_state["sweep-said"] = ("error", one_line(err))


sweep_view(chosen)
