"""A sweep: its Optuna study (in a database) and its record in the runs folder.

The study is the shared truth of a search: its trials, their parameters, intermediate values and
results, and in its user attributes the search space, when it started and whether it was stopped.
Every machine that works on a sweep keeps a small record of its own under RUNS/.sweeps/NAME/
(sweep.json: which storage, which data set; worker.json and worker.log: its worker), so that a
trainer of a trial finds the study to report to. The default storage is a SQLite file in the runs
folder; a PostgreSQL server lets several machines share one study (docs/SWEEPS.md).
"""
import dataclasses
import logging
from functools import lru_cache
import os
import re
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from julia_core import settings
from julia_core.errors import JuliaError, RunDamaged
from julia_core.runs.status import now
from julia_core.runs.store import read_json, write_json
from julia_core.sweeps.space import Space, SpaceError, parse_space
from julia_core.training.config import NAME_PATTERN

SWEEPS_FOLDER = ".sweeps"         # hidden: a listing of runs never takes it for one
DEFAULT_DATABASE = "optuna.sqlite3"
SCHEMES = ("sqlite", "postgresql", "mysql")
# Trainers record a heartbeat this often; a trial silent for the grace period is failed by the
# next worker that looks (its trainer, and its machine's worker, are gone).
HEARTBEAT_SECONDS = int(os.environ.get("JULIA_SWEEP_HEARTBEAT", 20))
GRACE_SECONDS = 6 * HEARTBEAT_SECONDS


class SweepError(JuliaError):
    """A sweep that cannot start, join or be read; one line naming the sweep, file or storage."""


@dataclass
class SweepRecord:
    """RUNS/.sweeps/NAME/sweep.json: how this machine reaches the sweep's study."""
    name: str
    storage: str = ""   # a database URL; empty: the runs folder's SQLite file
    data: str = ""      # this machine's data set for the trials
    created: str = ""
    host: str = ""


def sweeps_root(runs_root: Path) -> Path:
    return Path(runs_root) / SWEEPS_FOLDER


def sweep_folder(runs_root: Path, name: str) -> Path:
    return sweeps_root(runs_root) / name


def default_storage(runs_root: Path) -> str:
    return f"sqlite:///{(sweeps_root(runs_root) / DEFAULT_DATABASE).resolve()}"


def storage_url(runs_root: Path, record: SweepRecord) -> str:
    return record.storage or default_storage(runs_root)


def shown_url(url: str) -> str:
    """The URL without its password, for messages and pages."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise SweepError(f"sweep name {name!r} may hold only letters, digits, '.', '_' and '-' "
                         "(at most 64, starting with a letter or digit)")
    return name


def check_url(url: str) -> str:
    """A database URL Optuna's RDB storage takes: sqlite:///FILE, postgresql://..., mysql://..."""
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme not in SCHEMES:
        raise SweepError(f"storage {shown_url(url)!r}: not a database URL (use sqlite:///FILE or "
                         "postgresql://USER:PASSWORD@HOST:PORT/DATABASE)")
    if scheme == "sqlite" and (not url.startswith("sqlite:///") or url.removeprefix("sqlite:///") in ("", ":memory:")):
        raise SweepError(f"storage {url!r}: a SQLite storage is a file every worker opens: sqlite:///PATH/FILE")
    return url


# -- the record -------------------------------------------------------------------------------------
def read_record(runs_root: Path, name: str) -> SweepRecord:
    path = sweep_folder(runs_root, name) / "sweep.json"
    if not path.parent.is_dir():
        raise SweepError(f"no sweep {name!r} in {runs_root} (start it, or join it with --storage)")
    try:
        values = read_json(path)
        return SweepRecord(**{k: str(values[k]) for k in values if k in SweepRecord.__dataclass_fields__})
    except RunDamaged as err:
        raise SweepError(f"sweep {name}: {err}") from None
    except (TypeError, KeyError, AttributeError):
        raise SweepError(f"{path}: not a sweep record (expected an object with name and storage)") from None


def write_record(runs_root: Path, record: SweepRecord) -> None:
    """The record, in a folder made now: a runs folder without write access is one line here."""
    folder = sweep_folder(runs_root, record.name)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / "sweep.json", dataclasses.asdict(record))
    except OSError as err:
        raise SweepError(f"{folder}: cannot write the sweep's record ({err.strerror or err})") from None


def list_records(runs_root: Path) -> list[SweepRecord | tuple[str, SweepError]]:
    """Every sweep this runs folder knows, newest first; a damaged record is listed as its folder's
    name and the error."""
    try:
        folders = sorted((p for p in sweeps_root(runs_root).iterdir() if p.is_dir()),
                         key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []
    found = []
    for folder in folders:
        try:
            found.append(read_record(runs_root, folder.name))
        except SweepError as err:
            found.append((folder.name, err))
    return sorted(found, key=lambda r: getattr(r, "created", ""), reverse=True)


# -- the study --------------------------------------------------------------------------------------
def quiet_optuna() -> None:
    """Optuna's INFO lines and experimental-feature warnings are not for our users' consoles."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # the worker asks and the trainers report (not Study.optimize), with heartbeats on purpose
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")


def open_storage(url: str):
    """Optuna's RDB storage for the URL, with trial heartbeats; SweepError when it cannot connect.
    One per URL in a process: the page rereads a study every few seconds, on the same engine."""
    quiet_optuna()
    check_url(url)
    return _storage(url, HEARTBEAT_SECONDS, GRACE_SECONDS)


@lru_cache(maxsize=16)
def _storage(url: str, heartbeat: int, grace: int):
    import optuna
    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 60}}
        folder = Path(url.removeprefix("sqlite:///")).parent
        if not folder.is_dir():
            raise SweepError(f"storage {url}: folder {folder} does not exist")
    else:  # a server that does not answer is an error in seconds, not a hang
        engine = {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    try:
        return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat, grace_period=grace)
    except Exception as err:  # sqlalchemy's, a missing driver, another Optuna version's schema (RuntimeError)
        raise SweepError(f"storage {shown_url(url)}: cannot connect ({_first_line(err)})") from None


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def build_sampler(space: Space, trials_so_far: int = 0):
    """The space's sampler. A seed is offset by the trials the study already holds, so that a
    worker restarted, or a second machine joining, does not draw the first worker's points again
    (a fresh sweep with one worker is still reproducible)."""
    import optuna
    seed = None if space.seed is None else space.seed + trials_so_far
    if space.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if space.sampler == "grid":
        return optuna.samplers.GridSampler(space.grid, seed=seed)
    # constant_liar: trials running in parallel are treated as bad guesses meanwhile, so that
    # several workers do not all try the same point
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(space.startup_trials, 1), constant_liar=True)


def build_pruner(space: Space):
    import optuna
    if space.pruner == "none":
        return optuna.pruners.NopPruner()
    if space.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=space.startup_trials, n_warmup_steps=space.warmup_epochs)
    if space.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=max(1, space.warmup_epochs), reduction_factor=3)
    return optuna.pruners.HyperbandPruner(min_resource=max(1, space.warmup_epochs), max_resource=space.max_epochs,
                                          reduction_factor=3)


@dataclass
class Sweep:
    """A sweep as one machine sees it: its record, its study and its search space."""
    record: SweepRecord
    study: object   # optuna.Study
    space: Space
    runs_root: Path

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def storage(self):
        return self.study._storage

    def attr(self, key: str, default=None):
        return self.study.user_attrs.get(key, default)

    @property
    def stop_reason(self) -> str | None:
        return self.attr("stopped")

    def trial_id(self, number: int) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study._study_id, number)


def open_sweep(runs_root: Path, name: str) -> Sweep:
    """This machine's record of the sweep, and its study loaded from the storage."""
    record = read_record(runs_root, name)
    return _load(runs_root, record)


def _load(runs_root: Path, record: SweepRecord) -> Sweep:
    import optuna
    url = storage_url(runs_root, record)
    storage = open_storage(url)
    try:
        study = optuna.load_study(study_name=record.name, storage=storage)
    except KeyError:
        raise SweepError(f"storage {shown_url(url)}: holds no sweep {record.name!r}") from None
    except Exception as err:  # the server went away since the storage was opened
        raise SweepError(f"storage {shown_url(url)}: cannot read sweep {record.name!r} ({_first_line(err)})") from None
    stored = study.user_attrs.get("space")
    try:
        space = parse_space(stored, f"sweep {record.name}'s stored search space")
    except SpaceError as err:
        raise SweepError(str(err)) from None
    try:
        trials_so_far = len(study.get_trials(deepcopy=False))
    except Exception as err:
        raise SweepError(f"storage {shown_url(url)}: cannot read sweep {record.name!r} ({_first_line(err)})") from None
    study.sampler, study.pruner = build_sampler(space, trials_so_far), build_pruner(space)
    return Sweep(record, study, space, Path(runs_root))


def create_sweep(runs_root: Path, name: str, space: Space, data: Path, storage: str = "") -> Sweep:
    """A new study holding the space (or the one of that name, if its space is the same), and
    this machine's record of it. Everything is checked before the record is written."""
    import optuna
    check_name(name)
    record = SweepRecord(name=name, storage=check_url(storage) if storage else "",
                         data=settings.portable_path(data), created=now(), host=socket.gethostname())
    _check_writable(runs_root)
    url = storage_url(runs_root, record)
    backend = open_storage(url)
    try:
        study = optuna.create_study(study_name=name, storage=backend, direction="maximize", load_if_exists=True)
    except Exception as err:  # sqlalchemy's errors for a server that went away meanwhile
        raise SweepError(f"storage {shown_url(url)}: cannot create sweep {name!r} ({_first_line(err)})") from None
    stored = study.user_attrs.get("space")
    if stored is None:
        study.set_user_attr("space", space.to_dict())
        study.set_user_attr("started", now())
    else:
        _check_same_space(name, space, stored)
    write_record(runs_root, record)
    return _load(runs_root, record)


def join_sweep(runs_root: Path, name: str, storage: str, data: Path) -> Sweep:
    """This machine joins a sweep another started: the space comes from the study itself."""
    check_name(name)
    _check_writable(runs_root)
    record = SweepRecord(name=name, storage=check_url(storage) if storage else "",
                         data=settings.portable_path(data), created=now(), host=socket.gethostname())
    sweep = _load(runs_root, record)
    write_record(runs_root, record)
    return sweep


def _check_same_space(name: str, space: Space, stored: dict) -> None:
    try:
        other = parse_space(stored, f"sweep {name}'s stored search space")
    except SpaceError as err:
        raise SweepError(str(err)) from None
    differences = space.differences(other)
    if differences:
        raise SweepError(f"sweep {name!r} already exists with another search space (it differs in "
                         f"{', '.join(differences[:4])}); choose another name, or join it without a space")


def _check_writable(runs_root: Path) -> None:
    folder = sweeps_root(runs_root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise SweepError(f"{runs_root}: the runs folder is not writable ({err.strerror or err})") from None


log = logging.getLogger("julia_core.sweeps")
