"""Cached loaders and small widgets the dashboard pages share. The only module importing streamlit.

Pages call these and lay out what they return; every decision lives in the other modules."""
import os
from pathlib import Path

import streamlit as st

from julia_core import settings
from julia_core.runs import filters, launcher
from julia_core.runs.status import PRUNED, QUEUED, RUNNING, STOPPED, Status
from julia_core.runs import listing
from julia_core.runs.listing import Run
from julia_core.runs.refit import refit_families
from julia_core.runs.store import prediction_checkpoint
from julia_core.predict.ensemble import load_run_model
from julia_core.training import weights
from julia_core.training.device import machine_summary, select_device
from julia_core.data.dataset import KaggleDataset, LoadedImages
from julia_core.data.images import MODE_NAMES
from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.data.facts import DatasetFacts, gather_facts
from julia_core.synthetic.demo import generate_demo
from julia_core.views.curves import ScalarStream


# Live pages rerun their fragment this often while a run is active: fresh enough for epochs of
# seconds to minutes, and cheap enough that 20 open sessions leave the CPU to training.
LIVE_SECONDS = 5


# -- the frame every page shares -------------------------------------------------------------
# (file under pages/, title, icon); the first is the start page.
PAGES = [("data", "Data", ":material/photo_library:"), ("train", "Train", ":material/model_training:"),
         ("monitor", "Monitor", ":material/monitoring:"), ("sweep", "Sweep", ":material/tune:"),
         ("evaluate", "Evaluate", ":material/grid_on:"), ("submit", "Submit", ":material/upload_file:"),
         ("predict", "Predict", ":material/image_search:")]
_FRAMED = "_frame_ran_this_run"


def frame():
    """What dashboard.py does on every run before the page: wide layout, the demo set on a first
    start, the titled navigation. Returns the page to run."""
    st.set_page_config(page_title="Julia characters", page_icon=":material/abc:", layout="wide")
    ensure_demo()
    st.session_state[_FRAMED] = True
    return st.navigation([st.Page(f"pages/{name}.py", title=title, icon=icon, default=index == 0)
                          for index, (name, title, icon) in enumerate(PAGES)])


def page(title: str) -> None:
    """The top of every page: the frame checked, the title, the sidebar.

    Until st.navigation has run once in a server process, Streamlit keeps its old 'pages/ folder'
    mode and runs a page opened first by its address (a shared /monitor?run=A link, a bookmark) on
    its own, without dashboard.py, under a bare list of file names (Streamlit issue 9624; AppTest
    does the same on every run after switch_page). Such a run draws the frame here and runs the
    page through it, as dashboard.py would have, then stops: the titled navigation, the wide
    layout, this run's query parameters and clicks. Declaring the navigation also ends that mode
    for the whole server. The sidebar is drawn per page for the same reason."""
    if not st.session_state.pop(_FRAMED, False):
        frame().run()
        st.stop()
    st.title(title)
    sidebar()


# -- which data set and runs folder ------------------------------------------------------------
def initial_data_dir() -> Path:
    """JULIA_DATA when set at start, else the folder chosen last time, else the demo set."""
    if os.environ.get("JULIA_DATA"):
        return Path(os.environ["JULIA_DATA"])
    remembered = settings.load_state().get("data_dir")
    return Path(remembered) if remembered else settings.DEMO_DIR


def data_dir() -> Path:
    if "data_dir" not in st.session_state:
        st.session_state.data_dir = str(initial_data_dir())
    return Path(st.session_state.data_dir)


def runs_root() -> Path:
    if "runs_dir" not in st.session_state:
        st.session_state.runs_dir = str(settings.runs_dir())
    return Path(st.session_state.runs_dir)


def ensure_demo() -> None:
    """First start with no data set configured: generate the demo set (about 10 s)."""
    if data_dir() == settings.DEMO_DIR and not (settings.DEMO_DIR / "trainLabels.csv").exists():
        with st.spinner("First start: generating the demo data set ..."):
            generate_demo(settings.DEMO_DIR, force=True)


def folder_signature(root: Path) -> tuple:
    """Modification times of the set's top folder and its entries: a changed set reloads."""
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in Path(root).iterdir()))
    except OSError:
        return ()


@st.cache_resource(show_spinner="Opening the data set ...", max_entries=8)
def _open_dataset(root: str, signature: tuple) -> KaggleDataset:
    return KaggleDataset(root)


@st.cache_data(show_spinner="Reading every image once ...", max_entries=8)
def _facts(root: str, signature: tuple) -> DatasetFacts:
    return gather_facts(_open_dataset(root, signature))


@st.cache_resource(show_spinner="Resizing ...", max_entries=16)
def _images(root: str, signature: tuple, split: str, source: str, size: int, mode: str) -> LoadedImages:
    return _open_dataset(root, signature).load(split, source, size, mode)


def open_dataset(root: Path | str | None = None, show_error: bool = True) -> KaggleDataset | None:
    """The data set at root (default: the chosen one), or None after showing the error."""
    root = Path(root).expanduser() if root else data_dir()
    try:
        return _open_dataset(str(root), folder_signature(root))
    except EXPECTED_ERRORS as err:
        if show_error:
            st.error(one_line(err))
        return None


def dataset_facts(dataset: KaggleDataset) -> DatasetFacts | None:
    try:
        return _facts(str(dataset.root), folder_signature(dataset.root))
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))
        return None


def images(dataset: KaggleDataset, split: str, source: str, size: int, mode: str) -> LoadedImages | None:
    try:
        return _images(str(dataset.root), folder_signature(dataset.root), split, source, size, mode)
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))
        return None


# -- the sidebar ---------------------------------------------------------------------------------
@st.cache_resource
def device_summary() -> str:
    return machine_summary()


def sidebar() -> None:
    """Data set (demo or a folder, validated, remembered), runs folder, device, active runs."""
    with st.sidebar:
        current = data_dir()
        is_demo = current == settings.DEMO_DIR
        kind = st.radio("Data set", ["Demo set", "Folder"], index=0 if is_demo else 1, horizontal=True)
        if kind == "Folder":
            typed = st.text_input("Folder in the Kaggle layout", value="" if is_demo else str(current),
                                  placeholder="/path/to/julia-kaggle")
            chosen = Path(typed.strip()).expanduser() if typed.strip() else None
        else:
            chosen = settings.DEMO_DIR
        if chosen is not None and chosen != current:
            if open_dataset(chosen, show_error=False) is None:
                open_dataset(chosen)  # shows why
            else:
                st.session_state.data_dir = str(chosen)
                settings.save_state(data_dir=str(chosen))
                st.rerun()
        st.caption(f"Loaded: `{data_dir()}`")
        st.caption(f"Runs folder: `{runs_root()}`")
        st.caption(f"Device: {device_summary()}")
        run_list = all_runs()
        running, queued = (sum(run.state == state for run in run_list) for state in (RUNNING, QUEUED))
        st.caption(f"Active runs: {running} running, {queued} queued")
        damaged_runs(run_list)


def damaged_runs(run_list: list[Run]) -> None:
    """One line for each run folder that cannot be read, on every page: never hidden, never fatal."""
    damaged = [run for run in run_list if run.damaged]
    if damaged:
        with st.expander(f"{len(damaged)} damaged run folder{'s' if len(damaged) > 1 else ''}", expanded=False):
            for run in damaged:
                st.warning(f"{run.name}: {run.damage}", icon=":material/broken_image:")


# -- runs ---------------------------------------------------------------------------------------
def all_runs() -> list[Run]:
    """The runs folder, newest first. A page asks several times per rerun and every session
    asks every few seconds while a run is live: one listing serves them all for a second.
    A runs folder that cannot be read at all (or a bad JULIA_MAX_RUNS) is one error, no runs."""
    try:
        return _run_listing(str(runs_root()))
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))
        return []


NO_GROUPING = "(none)"


def run_filter(runs: list[Run], key: str, grouping: bool = False) -> tuple[list[Run], str | None]:
    """The filter every run chooser sits under (state, tag, name, model, preset, sweep, best
    validation accuracy, archived), and with `grouping` the option to group by. Returns the runs
    that pass, and the option (None: no groups). Archived runs are left out until asked for."""
    options = filters.choices(runs)
    with st.expander("Filter runs"):
        first, second, third = st.columns(3)
        states = first.multiselect("State", options["states"], key=f"{key}-states")
        tags = second.multiselect("Tags (all of them)", options["tags"], key=f"{key}-tags")
        name = third.text_input("Name", key=f"{key}-name", placeholder="wide*  or a part of the name")
        models = first.multiselect("Model", options["models"], key=f"{key}-models")
        presets = second.multiselect("Preset", options["presets"], key=f"{key}-presets")
        sweeps = third.multiselect("Sweep", options["sweeps"], key=f"{key}-sweeps", disabled=not options["sweeps"])
        low, high = st.slider("Best validation accuracy", 0.0, 1.0, (0.0, 1.0), step=0.01, key=f"{key}-acc",
                              help="a narrower range leaves out runs with no validation accuracy (refits, new runs)")
        archived = st.checkbox("Show archived runs", key=f"{key}-archived")
        group_by = (st.selectbox("Group by (one colour per group)", [NO_GROUPING, *filters.GROUPABLE],
                                 key=f"{key}-group") if grouping else NO_GROUPING)
    chosen = filters.RunFilter(tuple(states), tuple(tags), name, tuple(models), tuple(presets), tuple(sweeps),
                               low if low > 0 else None, high if high < 1 else None, archived)
    passed = filters.select(runs, chosen)
    if len(passed) < len(runs):
        st.caption(f"{len(passed)} of {len(runs)} runs pass the filter"
                   + ("" if archived else f" ({sum(run.archived for run in runs)} archived)"))
    return passed, None if group_by == NO_GROUPING else group_by


ONE_BY_ONE = "runs one by one"


def choose_ensemble(key: str) -> list[Run]:
    """Submit's and Predict's chooser: the run filter, then one run or several (a refit's seeds in
    one choice); stops the page with a line where there is nothing to choose."""
    every = all_runs()
    if not listing.submittable(every):
        st.info("No finished run yet: train one first.")
        st.stop()
    shown, _ = run_filter(every, key)
    finished = listing.submittable(shown)
    if not finished:
        st.info("No finished run passes the filter.")
        st.stop()
    families = refit_families(finished)
    family = st.selectbox("Choose", [ONE_BY_ONE, *families], disabled=not families,
                          format_func=lambda name: name if name == ONE_BY_ONE else
                          f"the {len(families[name])} refit(s) of {name}, averaged",
                          help="a refit's seeds in one choice (Evaluate's 'Refit on all labelled images' makes them)")
    return st.multiselect("Runs (several: mean of their class probabilities)", finished,
                          default=families.get(family, finished[:1]), format_func=run_label, key=f"{key}-{family}")


def source_labels(sources: list[Run]) -> dict[str, str]:
    """{run folder: label} of runs whose weights another run can take (to start from, to teach)."""
    return {str(run.path): f"{run.name} ({run.model}, {MODE_NAMES[run.config.mode]})" for run in sources}


def start_choices(sources: list[Run], current: str) -> dict[str, str]:
    """What a new run may start from, as {init value: label}: nothing, the shipped pretrained
    weights by name, the runs whose weights can be taken (and `current`, wherever it came from)."""
    choices = {"": "nothing (random start)"}
    found, _ = weights.cards()
    choices |= {card.name: f"{card.name} (shipped: {card.model}, {card.image_size} px "
                           f"{MODE_NAMES[card.mode]}, synthetic characters only)" for card in found}
    choices |= source_labels(sources)
    if current not in choices:
        choices[current] = current
    return choices


def options_source(name: str | None) -> Run | None:
    """The run whose options a page was asked to start from (?from=RUN), when it is there and
    readable; else None, with a warning naming it."""
    if not name:
        return None
    run = next((r for r in all_runs() if r.name == name), None)
    if run is None or run.config is None:
        st.warning(f"{name}: no such run with readable options in {runs_root()}; starting from a preset")
        return None
    return run


@st.cache_data(ttl=1.0, show_spinner=False, max_entries=20)
def _run_listing(root: str) -> list[Run]:
    return launcher.list_runs(Path(root))


def forget_runs() -> None:
    """After Start, Stop or Resume: the next listing reads the folder again."""
    _run_listing.clear()


def live_every(runs: list[Run]) -> int | None:
    """A live fragment's rerun period: LIVE_SECONDS while any of these runs is queued or running."""
    return LIVE_SECONDS if any(run.active for run in runs) else None


@st.cache_resource(max_entries=200)
def scalar_stream(run_dir: str):
    """One incremental event reader per run, shared by every session and rerun."""
    return ScalarStream(Path(run_dir))


@st.cache_resource(max_entries=16, show_spinner="Loading the model ...")
def _run_model(run_dir: str, signature: tuple):
    return load_run_model(Path(run_dir), select_device("auto"))


def run_models(runs: list[Run]) -> list | None:
    """The runs' models and configs, each loaded once per checkpoint (a new one reloads); None
    after showing why one cannot be loaded."""
    loaded = []
    for run in runs:
        try:
            checkpoint = run.dir.checkpoint_file(prediction_checkpoint(run.require_intact().config))
            stat = checkpoint.stat()
            loaded.append(_run_model(str(run.path), (stat.st_size, stat.st_mtime_ns)))
        except EXPECTED_ERRORS as err:
            st.error(one_line(err))
            return None
    return loaded


def progress_text(status: Status) -> tuple[float, str]:
    """A 0..1 fraction and 'epoch 3/15 · 2 min left · 1,200 img/s' for st.progress."""
    total = status.total_steps or 0
    fraction = min(status.step / total, 1.0) if total else 0.0
    parts = [epoch_text(status)]
    if status.state == RUNNING and status.eta_seconds is not None:
        parts.append(f"{format_seconds(status.eta_seconds)} left")
    if status.images_per_second:
        parts.append(f"{status.images_per_second:,.0f} img/s")
    if status.state == QUEUED:
        parts = [QUEUED]
    elif status.state == RUNNING and status.phase:
        parts = [status.phase]  # before the first epoch: e.g. pre-training
    return fraction, " · ".join(parts)


def run_label(run: Run) -> str:
    """How a run is named where runs are chosen: its best validation accuracy, or what it refits."""
    if run.is_refit:
        return f"{run.name} (refit of {run.refit_of})"
    best = run.status.best if run.status else None
    return f"{run.name} ({run.state}" + (f", best val acc {best:.4f})" if best is not None else ")")


def refit_notice(run: Run) -> str:
    return (f"**{run.name}** is a refit of **{run.refit_of}**: its recipe again on every labelled image, so it has "
            f"no validation split, no best epoch and no score; it predicts with its last weights. Its recipe "
            f"was judged on {run.refit_of}'s validation split.")


def epoch_text(status: Status) -> str:
    return f"epoch {status.epochs_done}"


def ended_text(status: Status) -> str:
    """Why a stopped, failed or pruned run ended, in a line."""
    if status.error:
        return status.error
    if status.state == PRUNED:
        return f"pruned by its sweep after epoch {status.epoch} (checkpoints kept; Resume trains it to the end)"
    return "stopped by request" if status.state == STOPPED else "failed, no reason recorded"


def format_seconds(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
