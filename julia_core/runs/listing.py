"""The runs folder as a listing reads it: each run's config and status with the cheap damage
checks, never an exception for a damaged folder (it is listed with its reason), and the
selections the pages and the CLI choose from."""
import re
from dataclasses import dataclass
from pathlib import Path

from julia_core.errors import RunDamaged, RunError
from julia_core.runs.records import Record, read_record
from julia_core.runs.status import DAMAGED, FINISHED, PRUNED, RESUMABLE, RUNNING, STOPPED, Status
from julia_core.runs.store import BEST, RUN_FOLDER, RunDir, prediction_checkpoint
from julia_core.training.config import TrainConfig


# -- a run as listed ------------------------------------------------------------------------------
@dataclass
class Run:
    """One run as a listing reads it. A damaged run keeps whatever could be read, and says why."""
    dir: RunDir
    config: TrainConfig | None
    status: Status | None
    damage: str | None = None
    record: Record = Record()               # tags, note, archived: the user's, not the trainer's
    record_problem: str | None = None       # a damaged record.json: the run is fine, its tags are lost

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
    def tags(self) -> tuple[str, ...]:
        return self.record.tags

    @property
    def archived(self) -> bool:
        return bool(self.record.archived)

    @property
    def model(self) -> str:
        return self.config.model if self.config else "?"

    @property
    def is_refit(self) -> bool:
        return self.config is not None and self.config.is_refit

    @property
    def is_pretraining(self) -> bool:
        """A `pretrain` run: it learns synthetic characters and ends with shippable weights, not a
        model of the competition's data (nothing to evaluate on it, submit or refit)."""
        return self.config is not None and self.config.synthetic > 0

    @property
    def refit_of(self) -> str:
        return self.config.refit_of if self.config else ""

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
    record, record_problem = Record(), None
    try:
        record = read_record(run_dir)
    except RunDamaged as err:
        record_problem = str(err).replace(f"{run_dir.path}/", "", 1)
    return Run(run_dir, config, status, "; ".join(problems) or None, record, record_problem)


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


# -- choosing among listed runs ----------------------------------------------------------------------
def weight_sources(runs: list[Run]) -> list[Run]:
    """Runs whose weights another run can start from (pre-training, then fine-tuning): the ones
    they predict with, best.pt or a refit's last.pt."""
    return [run for run in runs
            if run.state in (FINISHED, STOPPED, PRUNED) and run.has_checkpoint(prediction_checkpoint(run.config))]


def submittable(runs: list[Run]) -> list[Run]:
    """Finished runs with the checkpoint they predict with (best.pt; a refit's last.pt): what
    Submit predicts the test split with, refits included."""
    return [run for run in runs if run.state == FINISHED and not run.is_pretraining
            and run.has_checkpoint(prediction_checkpoint(run.config))]


def evaluable(runs: list[Run]) -> list[Run]:
    """What Evaluate offers: runs with validation predictions, finished ones first (newest first
    within each); then finished refits, for which it names the run whose validation to look at."""
    found = [run for run in runs if not run.damaged and not run.is_pretraining and run.dir.val_predictions_file.is_file()]
    refits = [run for run in runs if run.state == FINISHED and run.is_refit]
    return sorted(found, key=lambda run: run.state != FINISHED) + refits


def active(runs: list[Run]) -> list[Run]:
    """Queued and running runs: the Train page's queue, with progress and Stop."""
    return [run for run in runs if run.active]


def resumable(runs: list[Run], limit: int = 10) -> list[Run]:
    """The newest stopped and failed runs, which Resume continues."""
    return [run for run in runs if run.state in RESUMABLE][:limit]
