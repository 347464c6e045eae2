"""status.json: the run states, defined once, and the typed Status every writer and reader shares.

Fields are type-checked as they are read; fields written by a newer version are kept as they are.
See docs/RUN_FORMAT.md.
"""
import socket
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import get_args

from julia_core.errors import RunDamaged

# -- the states, defined once -------------------------------------------------------------------
QUEUED, RUNNING, FINISHED, FAILED, STOPPED = "queued", "running", "finished", "failed", "stopped"
PRUNED = "pruned"  # a sweep's trial its pruner ended after an epoch; checkpoints kept, it may resume as a run
STATES = (QUEUED, RUNNING, FINISHED, FAILED, STOPPED, PRUNED)
ACTIVE = (QUEUED, RUNNING)
ENDED = (FINISHED, FAILED, STOPPED, PRUNED)
RESUMABLE = (STOPPED, FAILED, PRUNED)
DAMAGED = "damaged"  # not a state a run is in: what a listing shows for a run it cannot read


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
    cuda_devices: str | None = None  # the GPUs the launcher gave the trainer (CUDA_VISIBLE_DEVICES) on a multi-GPU machine
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

    @property
    def epochs_done(self) -> str:
        """'3/15': epochs finished of all ('?' while the total is unknown)."""
        return f"{self.epoch}/{self.epochs if self.epochs is not None else '?'}"

    def to_dict(self) -> dict:
        values = asdict(self)
        return {**values.pop("extra"), **values}

    @classmethod
    def from_dict(cls, values, where: str = "status.json") -> "Status":
        """Checks every known field's type; raises RunDamaged naming the first wrong one."""
        if not isinstance(values, dict):
            raise RunDamaged(f"{where}: holds a JSON {json_kind(values)}, not an object of status fields")
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


def check_fields(changes: dict) -> None:
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


def json_kind(value) -> str:
    return {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}.get(
        type(value), "null" if value is None else type(value).__name__)


def new_status(state: str, epochs: int, **fields) -> Status:
    return Status(state=state, epochs=epochs, host=socket.gethostname(), created=now(), updated=now(), **fields)
