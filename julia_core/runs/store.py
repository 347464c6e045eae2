"""The run directory, one owner for all of it: its paths, config, status, checkpoints, validation
predictions and log. The only contract between the dashboard (or the CLI) and a training process.

    runs/<YYYYmmdd-HHMMSS>-<name>[-N]/
        config.json            every resolved option (TrainConfig)
        status.json            state, pid, progress, metrics, times, error (Status)
        events.out.tfevents.*  TensorBoard scalars and hparams
        summary.csv            one row per epoch
        checkpoints/last.pt    model, optimizer, scheduler, epoch, step, config
        checkpoints/best.pt    the same at the best validation accuracy
        val_predictions.npz    ids, labels, probs of the validation images at the best epoch
        submission.csv         ID,Class for the test split (finished runs with test images)
        train.log              the trainer's log

Every file but the two append-only logs (train.log, the event files) is written to a temporary
name and renamed (files.write_atomic), so a reader never sees half a file. status.json has several
writers (the trainer, the launcher, Stop, a reader that finds a dead trainer): each change is a
read-merge-write under an exclusive lock on `.status.lock`, so no writer erases another's fields.
Whatever a reader finds damaged (missing, torn, the wrong shape or types, noise, a file where a
folder belongs) is a RunDamaged error of one line naming the file. See docs/RUN_FORMAT.md.
"""
import csv
import fcntl
import io
import json
import os
import pickle
import secrets
import shutil
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from julia_core.data.classes import NUM_CLASSES
from julia_core.errors import RunDamaged, RunError
from julia_core.files import write_atomic, write_text_atomic
from julia_core.runs.status import Status, check_fields, json_kind, now
from julia_core.training import weights
from julia_core.training.config import ConfigError, TrainConfig, validate

BEST, LAST = "best", "last"


def prediction_checkpoint(config: TrainConfig) -> str:
    """The checkpoint a run predicts with: its best epoch on validation, or a refit's last (it has
    no validation to choose an epoch by)."""
    return LAST if config.is_refit else BEST
RUN_FOLDER = r"^\d{8}-\d{6}-"  # how a run folder's name starts: its creation time


# -- reading files that may be damaged ---------------------------------------------------------
def read_json(path: Path) -> object:
    """The JSON in path; RunDamaged (one line) when missing, not a file, torn or noise."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise RunDamaged(f"{path}: missing") from None
    except IsADirectoryError:
        raise RunDamaged(f"{path}: is a folder, not a file") from None
    except UnicodeDecodeError:
        raise RunDamaged(f"{path}: not text (binary noise)") from None
    except json.JSONDecodeError as err:
        what = "empty" if not err.doc.strip() else f"not valid JSON ({err.msg} at line {err.lineno})"
        raise RunDamaged(f"{path}: {what}") from None
    except OSError as err:
        raise RunDamaged(f"{path}: cannot be read ({err.strerror})") from None


def write_json(path: Path, value: dict) -> None:
    write_text_atomic(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


# -- the run directory ----------------------------------------------------------------------------
class RunDir:
    """One run's folder. Paths are attributes; reads check what they find; writes are atomic."""

    CONFIG, STATUS, LOG, SUMMARY = "config.json", "status.json", "train.log", "summary.csv"
    VAL_PREDICTIONS, SUBMISSION = "val_predictions.npz", "submission.csv"
    CHECKPOINTS = "checkpoints"

    def __init__(self, path: "Path | str | RunDir"):
        self.path = Path(path)

    def __fspath__(self) -> str:  # Path(run_dir), open(...), subprocess arguments
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, RunDir) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config_file(self) -> Path:
        return self.path / self.CONFIG

    @property
    def status_file(self) -> Path:
        return self.path / self.STATUS

    @property
    def log_file(self) -> Path:
        return self.path / self.LOG

    @property
    def summary_file(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def val_predictions_file(self) -> Path:
        return self.path / self.VAL_PREDICTIONS

    @property
    def submission_file(self) -> Path:
        return self.path / self.SUBMISSION

    def checkpoint_file(self, which: str = BEST) -> Path:
        if which not in (BEST, LAST):
            raise RunError(f"checkpoint must be '{BEST}' or '{LAST}', got {which!r}")
        return self.path / self.CHECKPOINTS / f"{which}.pt"

    def event_files(self) -> list[Path]:
        return sorted(self.path.glob("events.out.tfevents.*"))

    # -- creating --------------------------------------------------------------------------------
    @classmethod
    def create(cls, runs_root: Path, name: str, config: TrainConfig, status: Status) -> "RunDir":
        """runs/<YYYYmmdd-HHMMSS>-<name>, complete on arrival: its files are written in a hidden
        staging folder renamed into place, so no reader sees a run without its config. Two runs
        created in the same second get -2, -3 ..."""
        runs_root = Path(runs_root)
        runs_root.mkdir(parents=True, exist_ok=True)
        stem = f"{datetime.now():%Y%m%d-%H%M%S}-{name}"
        staging = runs_root / f".{stem}.{secrets.token_hex(4)}.new"  # hidden: listings skip it
        staging.mkdir()
        try:
            (staging / cls.CHECKPOINTS).mkdir()
            write_json(staging / cls.CONFIG, config.to_dict())
            write_json(staging / cls.STATUS, status.to_dict())
            for attempt in range(1, 1000):
                path = runs_root / (stem if attempt == 1 else f"{stem}-{attempt}")
                try:
                    path.mkdir()  # claims the name; listings skip an empty folder
                except FileExistsError:
                    continue
                os.rename(staging, path)  # over the empty folder we own: the run appears whole
                return cls(path)
            raise RunError(f"{runs_root}: could not create a new run directory for {stem}")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    # -- config.json -------------------------------------------------------------------------------
    def read_config(self) -> TrainConfig:
        values = read_json(self.config_file)
        if not isinstance(values, dict):
            raise RunDamaged(f"{self.config_file}: holds a JSON {json_kind(values)}, not an object of options")
        try:
            config = TrainConfig.from_dict(values, check_types=True)
            validate(config)  # a value no run could be started with: edited by hand since
            return config
        except ConfigError as err:
            raise RunDamaged(f"{self.config_file}: {err}") from None

    # -- status.json -------------------------------------------------------------------------------
    def read_status(self) -> Status:
        return Status.from_dict(read_json(self.status_file), str(self.status_file))

    @contextmanager
    def status_lock(self):
        """An exclusive lock across processes, held while status.json is read, merged, written.
        Not re-entrant: a process that holds it must not ask for it again."""
        if not self.path.is_dir():
            raise RunError(f"{self.path}: run directory not found")
        with open(self.path / ".status.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not self.path.is_dir():  # deleted (renamed away) while this writer waited
                    raise RunError(f"{self.path}: run directory not found")
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update_status(self, **changes) -> Status:
        """Merge `changes` into status.json under the lock; `updated` is always refreshed. A damaged
        status.json is replaced only by a writer that gives the state (it knows the run best);
        any other change to it is RunDamaged."""
        check_fields(changes)
        with self.status_lock():
            try:
                current = self.read_status()
            except RunDamaged:
                if "state" not in changes:
                    raise
                current = Status(state=changes["state"])
            return self.write_status_locked(current, **changes)

    def update_status_if(self, condition, *, or_if_damaged: bool = False, **changes) -> Status | None:
        """update_status only when condition(current status) holds, checked under the lock; None
        when it did not (another writer got there first). A damaged status is None too, or with
        or_if_damaged replaced by the changes (which must then give the state)."""
        check_fields(changes)
        with self.status_lock():
            try:
                current = self.read_status()
            except RunDamaged:
                if not or_if_damaged:
                    return None
                return self.write_status_locked(Status(state=changes["state"]), **changes)
            return self.write_status_locked(current, **changes) if condition(current) else None

    def write_status_locked(self, current: Status, **changes) -> Status:
        """Write `current` with `changes`; only inside status_lock()."""
        merged = Status.from_dict({**current.to_dict(), **changes, "updated": now()}, str(self.status_file))
        write_json(self.status_file, merged.to_dict())
        return merged

    # -- the log -------------------------------------------------------------------------------------
    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_file, "rb") as file:
                file.seek(0, os.SEEK_END)
                file.seek(max(0, file.tell() - 16384))
                return "\n".join(file.read().decode(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- summary.csv -----------------------------------------------------------------------------------
    def append_summary(self, row: dict) -> None:
        """Rewrites the whole (small) file with the row added, atomically like every other file."""
        try:
            old = self.summary_file.read_bytes()
        except FileNotFoundError:
            old = b""
        text = io.StringIO()
        out = csv.DictWriter(text, fieldnames=list(row), lineterminator="\n")
        if not old:
            out.writeheader()
        out.writerow(row)
        write_atomic(self.summary_file, lambda file: file.write(old + text.getvalue().encode()))

    # -- checkpoints -----------------------------------------------------------------------------------
    def has_checkpoint(self, which: str = BEST) -> bool:
        return self.checkpoint_file(which).is_file()

    def save_checkpoint(self, which: str, checkpoint: dict) -> None:
        save_checkpoint(self.checkpoint_file(which), checkpoint)

    def load_checkpoint(self, which: str = BEST, map_location="cpu") -> dict:
        return load_checkpoint(self.checkpoint_file(which), map_location)

    # -- validation predictions --------------------------------------------------------------------
    def write_val_predictions(self, ids, labels, probs, epoch: int) -> None:
        arrays = dict(ids=np.asarray(ids), labels=np.asarray(labels), probs=np.asarray(probs, np.float32),
                      epoch=np.array(epoch))
        write_atomic(self.val_predictions_file, lambda file: np.savez(file, **arrays))

    def read_val_predictions(self) -> "ValPredictions":
        path = self.val_predictions_file
        if not path.exists():
            raise RunError(f"{path}: not written yet (the run has not finished an epoch)")
        try:
            with np.load(path, allow_pickle=False) as stored:
                predictions = ValPredictions(stored["ids"], stored["labels"], stored["probs"], int(stored["epoch"]))
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as err:
            raise RunDamaged(f"{path}: unreadable ({_first_line(err)})") from None
        predictions.check(path)
        return predictions

    # -- what a listing checks --------------------------------------------------------------------
    def damage(self) -> str | None:
        """Why the cheap checks of the files a listing relies on fail, in one line, or None.
        Checkpoints and predictions are opened far enough to tell a zip archive from noise."""
        if not self.path.is_dir():
            return f"{self.path}: is a file, not a run folder"
        checkpoints = self.path / self.CHECKPOINTS
        if checkpoints.exists() and not checkpoints.is_dir():
            return f"{checkpoints}: is a file, not a folder"
        for path in (self.checkpoint_file(BEST), self.checkpoint_file(LAST), self.val_predictions_file):
            problem = _archive_problem(path)
            if problem:
                return f"{path}: {problem}"
        return None


@dataclass
class ValPredictions:
    """val_predictions.npz: the validation images' IDs, true classes and softmax at the best epoch."""
    ids: np.ndarray      # (N,) image IDs
    labels: np.ndarray   # (N,) true class indices
    probs: np.ndarray    # (N, 62) softmax
    epoch: int

    def check(self, where) -> None:
        """The arrays fit together and hold what they should: integer IDs and classes in 0..61, a
        probability per class."""
        n = len(self.ids)
        if self.labels.shape != (n,) or self.probs.shape != (n, NUM_CLASSES):
            raise RunDamaged(f"{where}: arrays of mismatched shapes (ids {self.ids.shape}, labels "
                             f"{self.labels.shape}, probs {self.probs.shape}; {NUM_CLASSES} classes)")
        if not (np.issubdtype(self.ids.dtype, np.integer) and np.issubdtype(self.labels.dtype, np.integer)):
            raise RunDamaged(f"{where}: ids and labels must be integers")
        if n and (self.labels.min() < 0 or self.labels.max() >= NUM_CLASSES):
            raise RunDamaged(f"{where}: a label outside 0..{NUM_CLASSES - 1}")

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(1)

    @property
    def accuracy(self) -> float:
        return float((self.predicted == self.labels).mean()) if len(self.labels) else 0.0


def _archive_problem(path: Path) -> str | None:
    """torch.save and np.savez both write zip archives: an empty file or noise is not one."""
    if not path.exists():
        return None
    if path.is_dir():
        return "is a folder, not a file"
    try:
        if path.stat().st_size == 0:
            return "empty file"
        return None if zipfile.is_zipfile(path) else "not a checkpoint or array archive (noise)"
    except OSError as err:
        return f"cannot be read ({err.strerror})"


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


# -- checkpoint files -----------------------------------------------------------------------------
def save_checkpoint(path: Path, checkpoint: dict) -> None:
    """torch.save to a temporary file, then rename: a failed write leaves the old file intact."""
    write_atomic(path, lambda file: torch.save(checkpoint, file))


def load_checkpoint(path: Path, map_location="cpu") -> dict:
    """weights_only=True: tensors and plain values only; a pickled payload is refused. Any damage
    is one line naming the file."""
    path = Path(path)
    if path.is_dir():
        raise RunDamaged(f"{path}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise RunError(f"{path}: checkpoint not found")
    problem = _archive_problem(path)
    if problem:
        raise RunDamaged(f"{path}: {problem}")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise RunDamaged(f"{path}: refused: not a plain weights file ({_first_line(err)})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as err:
        raise RunDamaged(f"{path}: cannot read checkpoint ({_first_line(err)})") from None
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise RunDamaged(f"{path}: not a julia_core checkpoint (no 'model' weights)")
    return checkpoint


def init_weights_path(ref: str | Path) -> Path:
    """A run directory means the checkpoint it predicts with (best.pt; a refit's last.pt); anything
    else is taken as the file itself."""
    path = Path(ref).expanduser()
    if not path.is_dir():
        return path
    run_dir = RunDir(path)
    try:
        return run_dir.checkpoint_file(prediction_checkpoint(run_dir.read_config()))
    except RunDamaged:
        return run_dir.checkpoint_file(BEST)  # loading it then says what is wrong


def load_init_weights(ref: str | Path, model_name: str, mode: str, map_location="cpu") -> dict:
    """The model weights a run starts from (fine-tuning): shipped weights by name
    (julia_core.training.weights), or those another run left (its folder or a checkpoint file)."""
    if isinstance(ref, str) and weights.is_shipped_name(ref):
        return weights.load_weights(ref, model_name, mode, map_location)
    path = init_weights_path(ref)
    checkpoint = load_checkpoint(path, map_location)
    trained = (checkpoint.get("config") or {}).get("model")
    if trained and trained != model_name:
        raise RunError(f"{path}: holds a {trained!r} model, this run trains {model_name!r}; "
                       "start from a run of the same model")
    return checkpoint["model"]
