"""Cached loaders and small widgets the dashboard pages share. The only module importing streamlit."""
from pathlib import Path

import pandas as pd
import streamlit as st

from . import settings
from .dataset import KaggleDataset
from .errors import JuliaError
from .summary import DatasetSummary, summarize


def folder_signature(root: Path) -> tuple:
    """Modification times of the set's top folder and its entries: a changed set reloads."""
    try:
        return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in Path(root).iterdir()))
    except OSError:
        return ()


@st.cache_resource(show_spinner="Opening the data set ...")
def _open_dataset(root: str, signature: tuple) -> KaggleDataset:
    return KaggleDataset(root)


@st.cache_data(show_spinner="Reading every image once ...")
def _summary(root: str, signature: tuple) -> DatasetSummary:
    return summarize(_open_dataset(root, signature))


def ensure_demo() -> None:
    """First start with no data set configured: generate the demo set (about 10 s)."""
    if settings.data_dir() == settings.DEMO_DIR and not (settings.DEMO_DIR / "trainLabels.csv").exists():
        from .demo import generate_demo
        with st.spinner("First start: generating the demo data set ..."):
            generate_demo(settings.DEMO_DIR, force=True)


def current_dataset() -> tuple[KaggleDataset | None, DatasetSummary | None]:
    """The configured data set and its summary, or (None, None) after showing the error."""
    root = settings.data_dir()
    try:
        signature = folder_signature(root)
        return _open_dataset(str(root), signature), _summary(str(root), signature)
    except JuliaError as err:
        st.error(str(err))
        return None, None


def class_count_frame(summary: DatasetSummary) -> pd.DataFrame:
    return pd.DataFrame({"class": list(summary.class_counts), "images": list(summary.class_counts.values())})


def folder_frame(summary: DatasetSummary) -> pd.DataFrame:
    return pd.DataFrame([{
        "folder": f.folder, "images": f.count, "sizes": f.size_text(),
        "modes": ", ".join(f"{m} {n}" for m, n in f.modes.most_common()),
        "formats": ", ".join(f"{m} {n}" for m, n in f.formats.most_common()),
        "ignored entries": len(f.ignored),
    } for f in summary.folders])
