"""Default folders, read from the environment so the dashboard and the CLI agree."""
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "data" / "demo"


def data_dir() -> Path:
    """JULIA_DATA, else the demo set that `make run` generates."""
    return Path(os.environ.get("JULIA_DATA") or DEMO_DIR)


def runs_dir() -> Path:
    """JULIA_RUNS, else runs/ in the repository (a TensorBoard logdir)."""
    return Path(os.environ.get("JULIA_RUNS") or REPO_ROOT / "runs")


def cache_dir() -> Path:
    """JULIA_CACHE, else the user's cache folder: resized arrays, safe to delete."""
    if os.environ.get("JULIA_CACHE"):
        return Path(os.environ["JULIA_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "julia_core"
