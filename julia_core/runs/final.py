"""From the data to the final submission in one command: a validated run (its validation accuracy
is the estimate), then its refits on every labelled image with several seeds, then their ensemble
with TTA, then the checked CSV.

Every stage is ordinary runs, so Train and Monitor show them and Stop and Resume work. The plan
(runs/finals/NAME.json) and the runs folder are the only state: `advance` reads them, starts what
the next stage needs and says where the final stands, so anyone may call it at any time (the
CLI's loop, the Submit page on each refresh, a second machine), after a crash or a stop too.
"""
import dataclasses
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from julia_core.data.dataset import KaggleDataset
from julia_core.errors import RunError
from julia_core.files import file_lock, write_text_atomic
from julia_core.predict.ensemble import write_prediction
from julia_core.runs import launcher, refit
from julia_core.runs.listing import Run
from julia_core.runs.status import FAILED, FINISHED, RUNNING, STOPPED
from julia_core.training.config import ConfigError, TrainConfig, make_config

FINALS = "finals"  # under the runs folder: NAME.json (the plan), NAME.csv (the result)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")  # room for the refits' -refit-seedN

VALIDATING, REFITTING, STALLED, DONE, BUSY = "validating", "refitting", "stalled", "done", "busy"


@dataclass
class FinalPlan:
    """What a final submission is asked to be."""
    name: str
    preset: str = "best"
    seeds: int = 3
    data: str = ""
    tta: bool = True
    options: dict = field(default_factory=dict)  # further training options (e.g. epochs) for the validated run
    created: str = ""
    validated: str = ""                          # the validated run's folder, once queued
    refits: list[str] = field(default_factory=list)  # its refits' folders, once queued


@dataclass
class FinalState:
    """Where a final stands: its stage, one line about it, its runs, the CSV once written."""
    plan: FinalPlan
    stage: str
    message: str
    validated: Run | None = None
    refits: list[Run] = field(default_factory=list)
    submission: Path | None = None

    @property
    def estimate(self) -> float | None:
        """The validated run's best validation accuracy: what the final is expected to score."""
        status = self.validated.status if self.validated else None
        return status.best if status else None


def plan_file(runs_root: Path, name: str) -> Path:
    return Path(runs_root) / FINALS / f"{name}.json"


def csv_file(runs_root: Path, name: str) -> Path:
    return Path(runs_root) / FINALS / f"{name}.csv"


def default_name(preset: str) -> str:
    return f"final-{preset}-{datetime.now():%m%d-%H%M%S}"


def start(plan: FinalPlan, runs_root: Path) -> FinalState:
    """Record a new final and start its first stage."""
    if not NAME_PATTERN.match(plan.name):
        raise RunError(f"final name {plan.name!r} may hold only letters, digits, '.', '_' and '-' (at most 48)")
    make_config(plan.preset, data=plan.data, name=plan.name, **plan.options)  # a bad option is one line now
    KaggleDataset(Path(plan.data).expanduser()).require_test_images()  # and a data set it cannot submit for
    if not 1 <= plan.seeds <= refit.MAX_SEEDS:
        raise RunError(f"seeds must be between 1 and {refit.MAX_SEEDS}, got {plan.seeds}")
    path = plan_file(runs_root, plan.name)
    if path.exists():
        raise RunError(f"{path}: a final of that name exists; resume it, or choose another name")
    plan = dataclasses.replace(plan, created=plan.created or datetime.now().isoformat(timespec="seconds"))
    _save(plan, runs_root)
    return advance(plan, runs_root)


def load_plan(runs_root: Path, name: str) -> FinalPlan:
    path = plan_file(runs_root, name)
    if not path.is_file():
        known = ", ".join(plan.name for plan, _ in list_plans(runs_root) if plan) or "none"
        raise RunError(f"{name}: no such final in {path.parent} (have: {known})")
    return _read_plan(path)


PLAN_TYPES = {"name": str, "preset": str, "seeds": int, "data": str, "tta": bool, "options": dict, "created": str,
              "validated": str, "refits": list}


def _read_plan(path: Path) -> FinalPlan:
    """A plan read and checked field by field; RunError naming the file and the field otherwise."""
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise RunError(f"{path}: not a readable final plan ({str(err).splitlines()[0]})") from None
    if not isinstance(values, dict) or set(values) - set(PLAN_TYPES) or "name" not in values:
        raise RunError(f"{path}: not a final plan (an object with {', '.join(PLAN_TYPES)})")
    for name, value in values.items():
        kind = PLAN_TYPES[name]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)) or \
                (name == "refits" and not all(isinstance(item, str) for item in value)):
            raise RunError(f"{path}: field {name!r} is {value!r}, which a final plan cannot hold")
    plan = FinalPlan(**values)
    if plan.name != path.stem:
        raise RunError(f"{path}: names the final {plan.name!r}, not {path.stem!r}")
    try:
        TrainConfig.from_dict(plan.options, check_types=True)
    except ConfigError as err:
        raise RunError(f"{path}: options: {err}") from None
    return plan


def list_plans(runs_root: Path) -> list[tuple[FinalPlan | None, str]]:
    """Every final's plan, newest first, with "" or the one line saying why it cannot be read."""
    folder = Path(runs_root) / FINALS
    found = []
    for path in sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []:
        try:
            found.append((_read_plan(path), ""))
        except RunError as err:
            found.append((None, str(err)))
    return sorted(found, key=lambda pair: pair[0].created if pair[0] else "", reverse=True)


def advance(plan: FinalPlan, runs_root: Path, resume: bool = False, wait: bool = True) -> FinalState:
    """Look at the final's runs and start what the next stage needs (with `resume`, stopped or
    failed runs continue too); returns where it stands. One advance at a time per final: without
    `wait`, a final another process is advancing (writing its CSV takes a while) is said busy."""
    with file_lock(Path(runs_root) / FINALS / f".{plan.name}.lock", wait) as locked:
        if not locked:
            return FinalState(plan, BUSY, "another window or command is advancing it (writing its CSV?)")
        # the plan as it is now: another advance may have named its runs
        return _advance(load_plan(runs_root, plan.name), Path(runs_root), resume)


def _advance(plan: FinalPlan, runs_root: Path, resume: bool) -> FinalState:
    # The plan names its runs once they are queued: a final never queues them again, so a run
    # deleted on Monitor stalls it instead of starting over behind the user's back.
    by_name = {run.name: run for run in launcher.list_runs(runs_root)}
    if not plan.validated:
        config = make_config(plan.preset, data=plan.data, name=plan.name, **plan.options)
        validated = launcher.read_run(launcher.launch(config, runs_root).path)
        _save(dataclasses.replace(plan, validated=validated.name), runs_root)
        return FinalState(plan, VALIDATING, f"queued {validated.name}: the validated run, whose accuracy is "
                                            "the estimate", validated)
    validated = by_name.get(plan.validated)
    if validated is None:
        return FinalState(plan, STALLED, f"{plan.validated}: its validated run is gone from {runs_root}; start a "
                                         "new final")
    stalled = _stalled([validated], runs_root, resume)
    if stalled:
        return FinalState(plan, STALLED, stalled, validated)
    if validated.state != FINISHED:
        return FinalState(plan, VALIDATING, f"{validated.name}: {_progress(validated)}", validated)
    if not plan.refits:
        refits = [launcher.read_run(run_dir.path)
                   for run_dir in refit.launch_refit(validated, runs_root, refit.RefitPlan(seeds=plan.seeds))]
        _save(dataclasses.replace(plan, refits=[run.name for run in refits]), runs_root)
        return FinalState(plan, REFITTING, f"queued {len(refits)} refit(s) of {validated.name} on every "
                                           "labelled image", validated, refits)
    gone = [name for name in plan.refits if name not in by_name]
    if gone:
        return FinalState(plan, STALLED, f"{gone[0]}: a refit of this final is gone from {runs_root}; start a "
                                         "new final", validated)
    refits = [by_name[name] for name in plan.refits]
    stalled = _stalled(refits, runs_root, resume)
    if stalled:
        return FinalState(plan, STALLED, stalled, validated, refits)
    unfinished = [run for run in refits if run.state != FINISHED]
    if unfinished:
        done, going = len(refits) - len(unfinished), max(unfinished, key=lambda run: run.state == RUNNING)
        return FinalState(plan, REFITTING, f"{done} of {len(refits)} refits finished; {going.name}: "
                                           f"{_progress(going)}", validated, refits)
    csv = csv_file(runs_root, plan.name)
    if not csv.is_file():
        staging = csv.with_name(f".{csv.name}.new")
        write_prediction([run.dir.path for run in refits], Path(plan.data).expanduser(), staging, tta=plan.tta)
        staging.replace(csv)
    return FinalState(plan, DONE, f"{csv.name}: the ensemble of {len(refits)} refit(s)"
                                  f"{' with TTA' if plan.tta else ''}", validated, refits, csv)


def _save(plan: FinalPlan, runs_root: Path) -> None:
    path = plan_file(runs_root, plan.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(asdict(plan), indent=2) + "\n")


def _stalled(runs: list[Run], runs_root: Path, resume: bool) -> str:
    """"" when the runs can go on; with `resume` stopped or failed ones are queued again first."""
    stuck = [run for run in runs if run.damaged or run.state in (STOPPED, FAILED)]
    if stuck and resume:
        for run in stuck:
            run.require_intact()
            launcher.resume(run.dir, runs_root)
        return ""
    if stuck:
        run = stuck[0]
        why = run.damage if run.damaged else (run.status.error or "") if run.state == FAILED else ""
        return f"{run.name} is {run.state}{': ' + why if why else ''}; resume the final to go on"
    return ""


def _progress(run: Run) -> str:
    status = run.status
    if status is None:
        return run.state
    if status.phase:
        return f"{run.state}, {status.phase}"
    return f"{run.state}, epoch {status.epoch}/{status.epochs}"
