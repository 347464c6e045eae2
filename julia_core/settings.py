"""Default folders, read from the environment so the dashboard and the CLI agree."""
import json
import os
from pathlib import Path

from julia_core.files import write_text_atomic

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = REPO_ROOT / "data" / "demo"


def portable_path(path: Path | str) -> str:
    """An absolute path with the home folder written as ~, for files others may read."""
    path = Path(path).expanduser().resolve()
    try:
        return "~/" + path.relative_to(Path.home()).as_posix()
    except ValueError:
        return str(path)


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


def state_file() -> Path:
    """JULIA_STATE, else ~/.config/julia_core/dashboard.json: the dashboard's remembered choices."""
    if os.environ.get("JULIA_STATE"):
        return Path(os.environ["JULIA_STATE"])
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "julia_core" / "dashboard.json"


def load_state() -> dict:
    try:
        value = json.loads(state_file().read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def save_state(**values) -> None:
    """Merge values into the state file; a read-only home is not an error worth showing."""
    state = load_state()
    state.update(values)
    try:
        state_file().parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(state_file(), json.dumps(state, indent=2))
    except OSError:
        pass
