import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from julia_core.synthetic import demo
from julia_core.synthetic.demo import Drawing, generate_demo
from julia_core.data.label_file import write_labels

# A run that trains in a second or two on the small demo set.
QUICK = dict(model="charnet", image_size=20, batch_size=32, eval_batch_size=256, epochs=1, augment=0.5)

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_DATA = REPO_ROOT.parent / "shared" / "julia-kaggle"
needs_real_data = pytest.mark.skipif(not (REAL_DATA / "trainLabels.csv").exists(),
                                     reason=f"real competition data not found at {REAL_DATA}")


def open_page(page: str | None = None, **query):
    """The dashboard through AppTest, switched to pages/`page`.py (None: the start page) with these
    query parameters; the run listing's cache is cleared first (tests change runs behind a page)."""
    from streamlit.testing.v1 import AppTest
    from julia_core.views.ui import forget_runs
    forget_runs()
    app = AppTest.from_file(str(REPO_ROOT / "dashboard.py"), default_timeout=120)
    app.query_params.update(query)
    app.run()
    if page:
        app.switch_page(f"pages/{page}.py").run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def by_label(elements, label: str):
    """The widget of these (app.selectbox, app.button, ...) with this label."""
    return next(element for element in elements if element.label == label)


def run_cli_process(*args, timeout=300):
    """The CLI as a user runs it: a separate process, where the process itself is the point
    (exit codes and stderr of a real process, torchrun, a detached trainer)."""
    return subprocess.run([sys.executable, "-m", "julia_core", *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=timeout)


def run_cli(*args, timeout=None):
    """The CLI in this process (`julia_core.cli.main`, what `python -m julia_core` calls): the same
    parsing, exit codes and output, without a new interpreter importing torch each time."""
    from julia_core.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exit_:  # argparse's usage errors and --help
            code = exit_.code if isinstance(exit_.code, int) else 2
    return subprocess.CompletedProcess(["python", "-m", "julia_core", *map(str, args)], code, out.getvalue(),
                                       err.getvalue())


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory):
    """Session- and module-scoped fixtures (a trained demo run) are set up before any test's
    isolated_cache: they get a cache of the session's own, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JULIA_CACHE", str(tmp_path_factory.mktemp("session-cache")))
        yield


@pytest.fixture(scope="session")
def font_verdicts(tmp_path_factory) -> Path:
    """The machine's fonts checked once per session (a second or two each ten files) in a cache
    of the session's own."""
    cache = tmp_path_factory.mktemp("font-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JULIA_CACHE", str(cache))
        demo.available_fonts()
    return cache / "fonts.json"


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch, font_verdicts):
    """No test reads or writes the user's cache or data set; each starts with the session's font
    checks, so CLI processes that draw characters do not check every font again."""
    cache = tmp_path_factory.mktemp("cache")
    if font_verdicts.is_file():
        shutil.copy(font_verdicts, cache / "fonts.json")
    monkeypatch.setenv("JULIA_CACHE", str(cache))
    monkeypatch.delenv("JULIA_DATA", raising=False)
    return cache


def write_image(path: Path, size=(20, 20), mode="RGB", fmt="BMP", seed=0) -> Path:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8).squeeze()
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode).save(path, format=fmt)
    return path


def make_set(root: Path, labels: dict[int, str] | None = None, test_ids=(101, 102),
             folders=("trainResized", "train", "testResized", "test")) -> Path:
    """A tiny Kaggle-layout set: 20x20 BMP copies, PNG originals behind .Bmp names."""
    labels = labels if labels is not None else {1: "a", 2: "B", 3: "7", 4: "a", 5: "B", 6: "7"}
    root.mkdir(parents=True, exist_ok=True)
    write_labels(root / "trainLabels.csv", labels)
    for folder in folders:
        ids = labels if folder.startswith("train") else test_ids
        original = not folder.endswith("Resized")
        for image_id in ids:
            write_image(root / folder / f"{image_id}.Bmp", size=(30, 45) if original else (20, 20),
                        fmt="PNG" if original else "BMP", seed=image_id)
    return root


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """3 train + 1 test image per class: quick to make, every class present."""
    return generate_demo(tmp_path_factory.mktemp("demo") / "small", 3, 1, seed=0, drawing=Drawing(workers=1)).root


@pytest.fixture(scope="session")
def demo_run(small_demo, tmp_path_factory):
    """A finished one-epoch run on the small demo set: (runs folder, run directory path)."""
    from julia_core.runs import launcher, trainer
    from julia_core.training.config import make_config
    runs_root = tmp_path_factory.mktemp("runs")
    config = make_config("fast", data=str(small_demo), image_size=20, batch_size=32, epochs=1, name="fixture")
    run_dir = launcher.prepare_run(config, runs_root, claim=True)
    assert trainer.run(run_dir, show_progress=False, console=False) == 0
    return runs_root, run_dir.path


@pytest.fixture
def app_env(small_demo, demo_run, monkeypatch, tmp_path):
    """Environment for AppTest: the small demo set, the runs folder with the fixture run."""
    monkeypatch.setenv("JULIA_DATA", str(small_demo))
    monkeypatch.setenv("JULIA_RUNS", str(demo_run[0]))
    monkeypatch.setenv("JULIA_STATE", str(tmp_path / "dashboard.json"))
    return demo_run
