"""Train: a preset and every option, Start in the background, the queue with Stop and Resume."""
import streamlit as st

from julia_core.runs import launcher
from julia_core.runs.listing import active, resumable, weight_sources
from julia_core.training.config import DEVICES, OPTIMIZERS, PRESETS, SCHEDULES, TrainConfig, copy_options, make_config
from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.data.dataset import SOURCE_NAMES, SOURCES
from julia_core.data.images import MODE_NAMES, MODES, SIZES
from julia_core.training.models import MODELS
from julia_core.views.ui import (all_runs, data_dir, device_summary, ended_text, epoch_text, forget_runs, live_every,
                                options_source, page, progress_text, runs_root, source_labels, start_choices)

page("Train")
st.caption(f"Data set `{data_dir()}` · runs into `{runs_root()}` · {device_summary()}")

copied = options_source(st.query_params.get("from"))  # ?from=RUN: "use its options" from another page
readable = [run.name for run in all_runs() if run.config and not run.archived]
copy_choices = ["", *dict.fromkeys(([copied.name] if copied else []) + readable)]
picked = st.selectbox("Copy the options of run ...", copy_choices, index=copy_choices.index(copied.name) if copied else 0,
                      format_func=lambda name: name or "none: start from a preset",
                      help="every option of that run but its name; change any and Start")
if picked != (copied.name if copied else ""):
    if picked:
        st.query_params["from"] = picked
    else:
        del st.query_params["from"]
    st.rerun()
first_preset = copied.config.preset if copied and copied.config.preset in PRESETS else "fast"
preset = st.selectbox("Preset", list(PRESETS), index=list(PRESETS).index(first_preset),
                      help="seed: the original recipe · fast: minutes on a CPU · best: highest accuracy")
defaults = copy_options(copied.config) if copied and preset == first_preset else make_config(preset)
if copied:
    st.info(f"The options of **{copied.name}**" + (f" (trial {copied.config.trial} of sweep {copied.config.sweep})"
                                                   if copied.config.sweep else "") + "; change any and Start.")


def option_form(defaults: TrainConfig, key: str) -> dict:
    """Every training option, starting from the preset's values; returns them as a dict."""
    d = defaults
    sources = weight_sources(all_runs())
    labels = source_labels(sources)  # the pseudo-label teachers'
    starts = start_choices(sources, d.init)
    sizes = sorted({*SIZES, d.image_size})  # a run copied from a sweep may have searched another size
    a, b, c = st.columns(3)
    values = {  # what people change first, in view
        "model": a.selectbox("Model", list(MODELS), index=list(MODELS).index(d.model), key=f"{key}model",
                             help="; ".join(f"{n}: {m.description}" for n, m in MODELS.items())),
        "image_size": b.selectbox("Image size (px)", sizes, index=sizes.index(d.image_size), key=f"{key}size"),
        "epochs": c.number_input("Epochs", 1, 10_000, d.epochs, key=f"{key}epochs"),
        "lr": a.number_input("Learning rate", 1e-6, 10.0, d.lr, format="%.5f", key=f"{key}lr"),
        "augment": b.slider("Augmentation strength", 0.0, 1.0, d.augment, key=f"{key}aug"),
        "device": c.selectbox("Device", DEVICES, index=DEVICES.index(d.device), key=f"{key}device"),
        "name": a.text_input("Run name (optional)", "", key=f"{key}name", placeholder=launcher.default_name(d)),
        "init": b.selectbox("Start from", list(starts), index=list(starts).index(d.init), key=f"{key}init",
                            format_func=starts.get,
                            help="pretrained weights that ship with the package (made from synthetic characters "
                                 "only), a finished run's weights, or a random start; same model and colour mode"),
    }
    advanced = st.expander("Advanced: colour, optimiser, regularisation, pre-training, pseudo-labels, hardware")
    a, b, c = advanced.columns(3)
    values |= {
        "mode": c.radio("Colour", MODES, index=MODES.index(d.mode), horizontal=True,
                        format_func=MODE_NAMES.get, key=f"{key}mode"),
        "source": a.radio("Source", SOURCES, index=SOURCES.index(d.source), horizontal=True, key=f"{key}source",
                          format_func=SOURCE_NAMES.get),
        "keep_aspect": b.checkbox("Keep aspect ratio (pad)", d.keep_aspect, key=f"{key}aspect"),
        "batch_size": a.number_input("Batch size", 1, 65_536, d.batch_size, key=f"{key}batch"),
        "optimizer": b.selectbox("Optimizer", OPTIMIZERS, index=OPTIMIZERS.index(d.optimizer), key=f"{key}opt"),
        "schedule": a.selectbox("Schedule", SCHEDULES, index=SCHEDULES.index(d.schedule), key=f"{key}sched"),
        "weight_decay": b.number_input("Weight decay", 0.0, 1.0, d.weight_decay, format="%.5f", key=f"{key}wd"),
        "label_smoothing": c.number_input("Label smoothing", 0.0, 0.99, d.label_smoothing, key=f"{key}ls"),
        "mixup": b.number_input("Mixup alpha (0: off)", 0.0, 10.0, d.mixup, key=f"{key}mixup"),
        "cutmix": c.number_input("CutMix alpha (0: off)", 0.0, 10.0, d.cutmix, key=f"{key}cutmix"),
        "pretrain": b.number_input("Pre-train: synthetic images per class (0: off)", 0, 5000, d.pretrain,
                                   step=100, key=f"{key}pretrain",
                                   help="first learn characters drawn in every font on this machine, then the "
                                        "real data; the weights are cached for the next run of this recipe"),
        "pretrain_epochs": c.number_input("Pre-training epochs", 1, 1000, d.pretrain_epochs, key=f"{key}pretrain_epochs"),
        "pretrain_seed": a.number_input("Pre-training seed (-1: the seed)", -1, 2**31 - 1, d.pretrain_seed,
                                        key=f"{key}pretrain_seed",
                                        help="reuse the cached pre-training of another seed: seeds of one "
                                             "recipe in minutes instead of a new pre-training each"),
        "pseudo_label": ",".join(a.multiselect(
            "Pseudo-label the test images with", [str(r.path) for r in sources], key=f"{key}pseudo",
            format_func=lambda p: labels.get(p, p), placeholder="no pseudo-labels",
            help="test images these runs agree on join the training set with their mean prediction as the "
                 "label (self-training); the runs must validate on this run's split")),
        "pseudo_threshold": b.number_input("Pseudo-label confidence", 0.01, 1.0, d.pseudo_threshold,
                                           key=f"{key}pseudo_threshold",
                                           help="the teachers' mean top probability a test image needs"),
        "val_fraction": c.number_input("Validation fraction", 0.01, 0.99, d.val_fraction, key=f"{key}val"),
        "seed": a.number_input("Seed", 0, 2**31 - 1, d.seed, key=f"{key}seed"),
        "amp": c.checkbox("bf16 autocast", d.amp, key=f"{key}amp",
                          help="on CUDA, and on CPUs with bf16 in hardware (AVX512-BF16 or AMX): "
                               "about twice as fast; a no-op elsewhere"),
        "channels_last": a.checkbox("channels_last", d.channels_last, key=f"{key}cl"),
        "compile": b.checkbox("torch.compile", d.compile, key=f"{key}compile"),
        "gpus": c.number_input("GPUs (DDP)", 1, 64, d.gpus, key=f"{key}gpus"),
        "ema": b.number_input("Weight average: EMA decay per step (0: off)", 0.0, 0.9999, d.ema, format="%.4f",
                              key=f"{key}ema", help="evaluate and save a moving average of the weights, "
                                                    "e.g. 0.995; steadier than the last step's weights"),
        "split_seed": c.number_input("Validation split seed (-1: the seed)", -1, 2**31 - 1, d.split_seed,
                                     key=f"{key}split_seed",
                                     help="keep the split of another run while the seed changes the rest: "
                                          "an ensemble of seeds that Score can judge"),
    }
    return values


with st.form("train"):
    values = option_form(defaults, key=f"{preset}-{copied.name}-" if copied else f"{preset}-")
    start = st.form_submit_button("Start", type="primary")
if start:
    try:
        run_dir = launcher.launch(make_config(preset, data=str(data_dir()), **values), runs_root())
        forget_runs()
        st.success(f"Started `{run_dir.name}` (see Monitor); queued if another run is going.")
    except EXPECTED_ERRORS as err:
        st.error(one_line(err))


@st.fragment(run_every=live_every(all_runs()))
def run_queue() -> None:
    """Queued and running runs with progress and Stop; stopped and failed ones with Resume."""
    run_list = all_runs()
    queue, ended = active(run_list), resumable(run_list)
    st.subheader(f"Active runs ({len(queue)})")
    if not queue:
        st.caption("Nothing running. Start a run above, or resume one below.")
    for run in queue:
        name, bar, button = st.columns([3, 6, 1])
        name.write(f"**{run.name}**  \n{run.state} · {run.model} · {run.status.device or ''}"
                   + (f" · refit of {run.refit_of}" if run.is_refit else ""))
        fraction, text = progress_text(run.status)
        bar.progress(fraction, text=text)
        if button.button("Stop", key=f"stop-{run.name}"):
            try:
                st.toast(launcher.stop(run.dir))
                forget_runs()
            except EXPECTED_ERRORS as err:
                st.error(one_line(err))
    if ended:
        st.subheader("Stopped, failed and pruned")
        for run in ended:
            name, info, button = st.columns([3, 6, 1])
            name.write(f"**{run.name}**  \n{run.state} at {epoch_text(run.status)}")
            info.caption(ended_text(run.status))
            if button.button("Resume", key=f"resume-{run.name}"):
                try:
                    launcher.resume(run.dir, runs_root())
                    forget_runs()
                    st.toast(f"{run.name} queued to resume")
                except EXPECTED_ERRORS as err:
                    st.error(one_line(err))


run_queue()
