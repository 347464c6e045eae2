"""The run directory: the only contract between the dashboard and a training process.

    runs/<YYYYmmdd-HHMMSS>-<name>/
        config.json            every resolved option
        status.json            state, pid, progress, metrics, times, error
        events.out.tfevents.*  TensorBoard scalars and hparams
        summary.csv            one row per epoch
        checkpoints/last.pt    model, optimizer, scheduler, epoch, step, config
        checkpoints/best.pt    the same at the best validation accuracy
        val_predictions.npz    ids, labels, probs of the validation images at the best epoch
        submission.csv         ID,Class for the test split (finished runs with test images)
        train.log              the trainer's log

Every file is written to a temporary name and renamed (files.write_atomic), so a reader never
sees half a file.
See docs/RUN_FORMAT.md.
"""
import json
import os
import pickle
import socket
import time
from datetime import datetime
from pathlib import Path

import torch

from julia_core.errors import JuliaError
from julia_core.files import write_atomic

CONFIG, STATUS, LOG, SUMMARY = "config.json", "status.json", "train.log", "summary.csv"
LAST, BEST = "checkpoints/last.pt", "checkpoints/best.pt"
VAL_PREDICTIONS, SUBMISSION = "val_predictions.npz", "submission.csv"
ACTIVE = ("queued", "running")  # the other states: finished, failed, stopped
CHECKPOINT_FORMAT = 1


class RunError(JuliaError):
    """A run directory that is missing, unreadable or in the wrong state."""


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def write_json(path: Path, value: dict) -> None:
    data = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
    write_atomic(path, lambda file: file.write(data))


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{path}: not valid JSON ({err})") from None


def create_run_dir(runs_root: Path, name: str) -> Path:
    """runs/<YYYYmmdd-HHMMSS>-<name>, made exclusively: two launches in one second get -2, -3 ..."""
    runs_root = Path(runs_root)
    runs_root.mkdir(parents=True, exist_ok=True)
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
    for attempt in range(1, 1000):
        path = runs_root / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        (path / "checkpoints").mkdir()
        return path
    raise RunError(f"{runs_root}: could not create a new run directory for {stem}")


def read_status(run_dir: Path) -> dict:
    return read_json(Path(run_dir) / STATUS)


def update_status(run_dir: Path, **fields) -> dict:
    """Merge fields into status.json; `updated` is always refreshed."""
    path = Path(run_dir) / STATUS
    try:
        status = read_json(path)
    except RunError:
        status = {}
    status.update(fields, updated=now())
    write_json(path, status)
    return status


def new_status(state: str, epochs: int) -> dict:
    return {"state": state, "pid": None, "pgid": None, "host": socket.gethostname(), "device": None,
            "epoch": 0, "epochs": epochs, "step": 0, "total_steps": None, "best_val_acc": None,
            "best_epoch": None, "val_acc": None, "train_loss": None, "images_per_second": None,
            "eta_seconds": None, "created": now(), "started": None, "updated": now(), "ended": None,
            "error": None, "log_tail": None}


def log_tail(run_dir: Path, lines: int = 20) -> str:
    try:
        with open(Path(run_dir) / LOG, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - 16384))
            return "\n".join(file.read().decode(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- checkpoints ------------------------------------------------------------------------------
def save_checkpoint(path: Path, checkpoint: dict) -> None:
    """torch.save to a temporary file, then rename: a failed write leaves the old file intact."""
    write_atomic(path, lambda file: torch.save(checkpoint, file))


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """weights_only=True: tensors and plain values only; a pickled payload is refused."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsupported content"
        raise RunError(f"{path}: refused: not a plain weights file ({first})") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise RunError(f"{path}: cannot read checkpoint ({str(err).splitlines()[0]})") from None
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise RunError(f"{path}: not a julia_core checkpoint (no 'model' entry)")
    return checkpoint


def init_weights_path(ref: str | Path) -> Path:
    """A run directory means its best checkpoint; anything else is taken as the file itself."""
    path = Path(ref).expanduser()
    return path / BEST if path.is_dir() else path


def load_init_weights(ref: str | Path, model_name: str, map_location="cpu") -> dict:
    """The model weights another run left, for a run that starts from them (fine-tuning)."""
    path = init_weights_path(ref)
    checkpoint = load_checkpoint(path, map_location)
    trained = checkpoint.get("config", {}).get("model")
    if trained and trained != model_name:
        raise RunError(f"{path}: holds a {trained!r} model, this run trains {model_name!r}; "
                       "start from a run of the same model")
    return checkpoint["model"]


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll until predicate() is true or timeout seconds pass; returns the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
