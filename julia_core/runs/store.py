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
import re
import secrets
import shutil
import socket
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import get_args

import numpy as np
import torch

from julia_core.data.classes import NUM_CLASSES
from julia_core.errors import JuliaError
from julia_core.files import write_atomic
from julia_core.training.config import ConfigError, TrainConfig


class RunError(JuliaError):
    """A run that is missing or in the wrong state for what was asked."""


class RunDamaged(RunError):
    """A file of a run that cannot be read as what it should be; one line naming the file."""


# -- the states, defined once -------------------------------------------------------------------
QUEUED, RUNNING, FINISHED, FAILED, STOPPED = "queued", "running", "finished", "failed", "stopped"
STATES = (QUEUED, RUNNING, FINISHED, FAILED, STOPPED)
ACTIVE = (QUEUED, RUNNING)
ENDED = (FINISHED, FAILED, STOPPED)
RESUMABLE = (STOPPED, FAILED)
DAMAGED = "damaged"  # not a state a run is in: what a listing shows for a run it cannot read

BEST, LAST = "best", "last"
RUN_FOLDER = r"^\d{8}-\d{6}-"  # how a run folder's name starts: its creation time


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


# -- status.json --------------------------------------------------------------------------------
@dataclass
class Status:
    """status.json, field by field as docs/RUN_FORMAT.md lists them."""
    state: str = QUEUED
    pid: int | None = None
    pgid: int | None = None
    host: str | None = None
    device: str | None = None
    epoch: int = 0
    epochs: int | None = None
    step: int = 0
    total_steps: int | None = None
    steps_per_epoch: int | None = None
    epoch_batch: int | None = None
    train_loss: float | None = None
    train_acc: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    best_val_acc: float | None = None
    best_epoch: int | None = None
    images_per_second: float | None = None
    eta_seconds: float | None = None
    phase: str | None = None
    created: str | None = None
    started: str | None = None
    updated: str | None = None
    ended: str | None = None
    error: str | None = None
    log_tail: str | None = None
    resume: bool | None = None
    stop_requested: str | None = None
    extra: dict = field(default_factory=dict)  # fields of a newer version, kept as they are

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def best(self) -> float | None:
        """The best validation accuracy, once there is one (older runs wrote -1 before)."""
        return self.best_val_acc if self.best_val_acc is not None and self.best_val_acc >= 0 else None

    def to_dict(self) -> dict:
        values = asdict(self)
        return {**values.pop("extra"), **values}

    @classmethod
    def from_dict(cls, values, where: str = "status.json") -> "Status":
        """Checks every known field's type; raises RunDamaged naming the first wrong one."""
        if not isinstance(values, dict):
            raise RunDamaged(f"{where}: holds a JSON {_json_kind(values)}, not an object of status fields")
        known, extra = {}, {}
        for name, value in values.items():
            if name in _STATUS_TYPES:
                _check_type(where, name, value, _STATUS_TYPES[name])
                known[name] = value
            elif name != "extra":
                extra[name] = value
        state = known.get("state", None)
        if state not in STATES:
            raise RunDamaged(f"{where}: state {state!r} is not one of {', '.join(STATES)}")
        return cls(**known, extra=extra)


_STATUS_TYPES = {f.name: f.type for f in fields(Status) if f.name != "extra"}


def _check_fields(changes: dict) -> None:
    unknown = set(changes) - set(_STATUS_TYPES)
    if unknown:
        raise TypeError(f"not status fields: {', '.join(sorted(unknown))}")


def _check_type(where: str, name: str, value, annotation) -> None:
    kinds = set(get_args(annotation)) or {annotation}  # int | None -> {int, NoneType}
    if value is None and type(None) in kinds:
        return
    if isinstance(value, bool):
        fits = bool in kinds
    elif isinstance(value, int):
        fits = int in kinds or float in kinds
    else:
        fits = isinstance(value, tuple(kind for kind in kinds if kind is not type(None)))
    if not fits:
        expected = " or ".join(_KIND_NAMES[kind] for kind in (int, float, bool, str) if kind in kinds)
        raise RunDamaged(f"{where}: field {name!r} is {value!r}, expected {expected}")


_KIND_NAMES = {int: "integer", float: "number", bool: "true or false", str: "text"}


def _json_kind(value) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__)


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
    data = (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()
    write_atomic(path, lambda file: file.write(data))


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
            raise RunDamaged(f"{self.config_file}: holds a JSON {_json_kind(values)}, not an object of options")
        try:
            return TrainConfig.from_dict(values, check_types=True)
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
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update_status(self, **changes) -> Status:
        """Merge `changes` into status.json under the lock; `updated` is always refreshed. A damaged
        status.json is replaced only by a writer that gives the state (it knows the run best);
        any other change to it is RunDamaged."""
        _check_fields(changes)
        with self.status_lock():
            try:
                current = self.read_status()
            except RunDamaged:
                if "state" not in changes:
                    raise
                current = Status(state=changes["state"])
            return self.write_status_locked(current, **changes)

    def update_status_if(self, condition, **changes) -> Status | None:
        """update_status only when condition(current status) holds, checked under the lock; None
        when it did not (another writer got there first) or the status is damaged."""
        _check_fields(changes)
        with self.status_lock():
            try:
                current = self.read_status()
            except RunDamaged:
                return None
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
    if not isinstance(checkpoint, dict) or "model" not in checkpoint:
        raise RunDamaged(f"{path}: not a julia_core checkpoint (no 'model' entry)")
    return checkpoint


def init_weights_path(ref: str | Path) -> Path:
    """A run directory means its best checkpoint; anything else is taken as the file itself."""
    path = Path(ref).expanduser()
    return RunDir(path).checkpoint_file(BEST) if path.is_dir() else path


def load_init_weights(ref: str | Path, model_name: str, map_location="cpu") -> dict:
    """The model weights another run left, for a run that starts from them (fine-tuning)."""
    path = init_weights_path(ref)
    checkpoint = load_checkpoint(path, map_location)
    trained = (checkpoint.get("config") or {}).get("model")
    if trained and trained != model_name:
        raise RunError(f"{path}: holds a {trained!r} model, this run trains {model_name!r}; "
                       "start from a run of the same model")
    return checkpoint["model"]


# -- a run as listed ------------------------------------------------------------------------------
@dataclass
class Run:
    """One run as a listing reads it. A damaged run keeps whatever could be read, and says why."""
    dir: RunDir
    config: TrainConfig | None
    status: Status | None
    damage: str | None = None

    @property
    def path(self) -> Path:
        return self.dir.path

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def state(self) -> str:
        return DAMAGED if self.damage else self.status.state

    @property
    def damaged(self) -> bool:
        return self.damage is not None

    @property
    def active(self) -> bool:
        """Queued or running by its status, even when another of its files is damaged."""
        return self.status is not None and self.status.active

    @property
    def running(self) -> bool:
        return self.status is not None and self.status.state == RUNNING

    @property
    def model(self) -> str:
        return self.config.model if self.config else "?"

    def has_checkpoint(self, which: str = BEST) -> bool:
        return not self.damaged and self.dir.has_checkpoint(which)

    def require_intact(self) -> "Run":
        """The run itself, or RunDamaged with its one-line reason."""
        if self.damage:
            raise RunDamaged(f"{self.name} is damaged: {self.damage}")
        return self


def load_run(path: Path | str) -> Run:
    """Config, status and the cheap checks; never raises for damage, which it records instead."""
    run_dir = RunDir(path)
    try:
        return _read_run(run_dir)
    except OSError as err:  # a folder without read permission, a vanished mount
        return Run(run_dir, None, None, f"cannot be read ({err.strerror or err})")


def _read_run(run_dir: RunDir) -> Run:
    config = status = None
    problems = []
    if run_dir.path.is_dir():
        for read in (run_dir.read_config, run_dir.read_status):
            try:
                value = read()
            except RunDamaged as err:
                problems.append(str(err).replace(f"{run_dir.path}/", "", 1))
                continue
            if isinstance(value, TrainConfig):
                config = value
            else:
                status = value
    found = run_dir.damage()
    if found:
        problems.append(found.replace(f"{run_dir.path}/", "", 1))
    return Run(run_dir, config, status, "; ".join(problems) or None)


def scan(runs_root: Path) -> list[Run]:
    """Every run folder under runs_root, newest first, damaged ones included. A run folder is one
    named like a run (its creation time first) or holding a config.json or status.json; other
    entries (submissions/, sweeps, hidden staging folders) are not runs."""
    runs_root = Path(runs_root)
    try:
        entries = sorted(runs_root.iterdir(), reverse=True)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as err:
        raise RunError(f"{runs_root}: the runs folder cannot be read ({err.strerror or err})") from None
    return [load_run(path) for path in entries if _is_run_folder(path)]


def _is_run_folder(path: Path) -> bool:
    """Named like a run, or holding a run's files; never hidden (staging) and never empty (a
    name being claimed)."""
    if path.name.startswith("."):
        return False
    try:
        if path.is_dir() and not any(path.iterdir()):
            return False
        named = re.match(RUN_FOLDER, path.name) is not None
        return named or (path / RunDir.CONFIG).exists() or (path / RunDir.STATUS).exists()
    except OSError:
        return True  # unreadable: listed, with the reason


def new_status(state: str, epochs: int, **fields) -> Status:
    return Status(state=state, epochs=epochs, host=socket.gethostname(), created=now(), updated=now(), **fields)


# -- choosing among listed runs ----------------------------------------------------------------------
def weight_sources(runs: list[Run]) -> list[Run]:
    """Runs whose best weights another run can start from (pre-training, then fine-tuning)."""
    return [run for run in runs if run.state in (FINISHED, STOPPED) and run.has_checkpoint(BEST)]


def submittable(runs: list[Run]) -> list[Run]:
    """Finished runs with a best checkpoint: what Submit predicts the test split with."""
    return [run for run in runs if run.state == FINISHED and run.has_checkpoint(BEST)]


def evaluable(runs: list[Run]) -> list[Run]:
    """Runs with validation predictions, finished ones first (newest first within each)."""
    found = [run for run in runs if not run.damaged and run.dir.val_predictions_file.is_file()]
    return sorted(found, key=lambda run: run.state != FINISHED)
