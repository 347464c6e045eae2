"""Runs as processes: queue, start detached, list, stop, resume, and the rule that keeps the queue
moving. Nothing here is held in memory between calls: every answer is read from the run
directories, so a dashboard restart loses nothing and any number of readers agree.

Who starts what, and when (docs/RUN_FORMAT.md): a queued run is started by whoever next finds
room for it: `launch` and `resume` right away, a trainer when it ends in any way its own code sees,
and every listing (the dashboard's, the CLI's) after it has marked dead trainers failed. So a
trainer killed without a word (kill -9, the OOM killer, a reboot) holds the queue up only until
somebody next looks.
"""
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psutil
import torch

from julia_core import settings
from julia_core.data.dataset import KaggleDataset, folder_name
from julia_core.predict.pseudo_labels import check_teachers, teacher_refs
from julia_core.errors import RunError
from julia_core.files import file_lock
from julia_core.runs import store
from julia_core.runs.listing import Run, load_run, scan
from julia_core.runs.status import FAILED, QUEUED, RESUMABLE, RUNNING, STOPPED, Status, new_status, now
from julia_core.runs.store import RunDir
from julia_core.training.config import TrainConfig, validate
from julia_core.training import weights
from julia_core.training.device import check_gpu_count
from julia_core.training.models import build_model
from julia_core.training.pretrain import synthetic_fonts


def max_concurrent() -> int:
    """JULIA_MAX_RUNS, else one per CUDA device, else one."""
    if os.environ.get("JULIA_MAX_RUNS"):
        try:
            return max(1, int(os.environ["JULIA_MAX_RUNS"]))
        except ValueError:
            raise RunError(f"JULIA_MAX_RUNS must be a whole number, got {os.environ['JULIA_MAX_RUNS']!r}") from None
    return max(1, torch.cuda.device_count())


# -- reading ----------------------------------------------------------------------------------------
def list_runs(runs_root: Path) -> list[Run]:
    """Every run, newest first, damaged ones included (state 'damaged', with the reason). Dead
    trainers on this machine are marked failed, and queued runs started where there is room."""
    runs = _reaped(scan(runs_root))
    if _room_for_queued(runs):
        if schedule(runs_root):
            runs = _reaped(scan(runs_root))
    return runs


def read_run(path: Path) -> Run:
    """One run, its dead trainer noticed; RunError when the folder is not there."""
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: run directory not found")
    return _reaped([load_run(path)])[0]


def _room_for_queued(runs: list[Run]) -> bool:
    queued = any(run.state == QUEUED for run in runs)
    return queued and sum(run.running for run in runs) < max_concurrent()


def _reaped(runs: list[Run]) -> list[Run]:
    return [_reap(run) for run in runs]


def _reap(run: Run) -> Run:
    """A run 'running' on this machine whose trainer is gone is marked failed, with its log's
    tail kept. Checked again under the status lock, for the same trainer: two readers mark it
    once, and a run resumed meanwhile (a new trainer) is left alone."""
    status = run.status
    if status is None or status.state != RUNNING or status.host != socket.gethostname() or trainer_alive(status):
        return run

    def still_dead(current: Status) -> bool:
        return current.state == RUNNING and current.pid == status.pid and not trainer_alive(current)
    try:
        updated = run.dir.update_status_if(still_dead, state=FAILED, error="process exited unexpectedly",
                                           ended=now(), log_tail=run.dir.log_tail())
        return dataclasses.replace(run, status=updated or run.dir.read_status())
    except (OSError, RunError):  # a read-only folder, or damaged meanwhile: the next look tries again
        return run


def trainer_alive(status: Status) -> bool:
    """The status's process exists, is no zombie, and was born before the run started (a pid
    reused after a reboot belongs to someone else)."""
    if not status.pid or status.pid < 0:
        return False
    try:
        process = psutil.Process(status.pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        started = _timestamp(status.started)
        return started is None or process.create_time() <= started + 2.0
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _timestamp(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


def resolve_run(runs_root: Path, reference: str | Path) -> RunDir:
    """A run by path, by folder name, or by a unique part of its name."""
    candidate = Path(reference).expanduser()
    if candidate.is_dir() and (candidate / RunDir.CONFIG).exists():
        return RunDir(candidate)
    runs_root = Path(runs_root)
    if (runs_root / str(reference)).exists() and not str(reference).startswith("."):
        return RunDir(runs_root / str(reference))
    matches = [run.dir for run in scan(runs_root) if str(reference) in run.name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunError(f"no run matches {str(reference)!r} in {runs_root}")
    raise RunError(f"{len(matches)} runs match {str(reference)!r}: {', '.join(m.name for m in matches[:4])} ...")


# -- launching ----------------------------------------------------------------------------------------
def prepare_run(config: TrainConfig, runs_root: Path, claim: bool = False) -> RunDir:
    """A new run directory holding config.json and a status: 'queued', or with `claim` 'running'
    in this process (a foreground run, which no listing may start a second time). The data set
    and the device are checked first, so a bad choice is an error now, not a failed run later."""
    validate(config)
    if config.synthetic:  # a pre-training run draws its set when it starts: its fonts must be there
        synthetic_fonts(config.fonts)
    else:
        dataset = KaggleDataset(Path(config.data).expanduser())
        if config.source not in dataset.sources("train"):
            raise RunError(f"{dataset.root}: has no {folder_name('train', config.source)}/ folder "
                           f"(source {config.source!r}); choose the other source")
    check_gpu_count(config.device, config.gpus)  # the device, and no more GPUs than there are
    if config.init:
        config = dataclasses.replace(config, init=check_init(config))
    if config.pseudo_label:
        config = dataclasses.replace(config, pseudo_label=teacher_paths(config, runs_root))
    config = dataclasses.replace(config, data=settings.portable_path(config.data))  # no home path shared
    status = new_status(QUEUED, config.epochs)
    if claim:
        status = dataclasses.replace(status, state=RUNNING, pid=os.getpid(), pgid=os.getpgrp(),
                                     host=socket.gethostname(), started=now())
    return RunDir.create(runs_root, config.name or default_name(config), config, status)


def check_init(config: TrainConfig) -> str:
    """The weights a run starts from must exist and fit its model and colour mode; returns how the
    run's config names them (shipped weights by name, a file as a portable path)."""
    shipped = weights.is_shipped_name(config.init)
    path = config.init if shipped else store.init_weights_path(config.init)
    state = store.load_init_weights(path, config.model, config.mode)
    try:
        build_model(config.model, 1 if config.mode == "L" else 3).load_state_dict(state)
    except RuntimeError:
        raise RunError(f"{path}: its weights do not fit a {config.model} for {config.mode} images "
                       "(trained in the other colour mode?)") from None
    return config.init if shipped else settings.portable_path(path)


def teacher_paths(config: TrainConfig, runs_root: Path) -> str:
    """The pseudo-label teachers, by path or name, checked now and written as portable paths."""
    paths = [resolve_run(runs_root, ref).path for ref in teacher_refs(config.pseudo_label)]
    return ",".join(settings.portable_path(p) for p in check_teachers(paths, config))


def default_name(config: TrainConfig) -> str:
    return f"{config.preset}-{config.model}" if config.preset else config.model


def launch(config: TrainConfig, runs_root: Path) -> RunDir:
    """Queue a run and start it at once if there is room; returns its directory."""
    run_dir = prepare_run(config, runs_root)
    schedule(runs_root)
    return run_dir


@contextmanager
def _queue_lock(runs_root: Path):
    with file_lock(Path(runs_root) / ".queue.lock"):
        yield


def schedule(runs_root: Path) -> list[RunDir]:
    """Start the oldest queued runs while fewer than max_concurrent() run; returns those started.
    A run that cannot be started (its folder read-only, the disk full) is failed with the reason,
    and the queue goes on past it."""
    started = []
    with _queue_lock(runs_root):
        runs = _reaped(scan(runs_root))
        room = max_concurrent() - sum(run.running for run in runs)
        for run in sorted((r for r in runs if r.state == QUEUED), key=lambda r: r.name):
            if room <= 0:
                break
            try:
                gpus = assign_gpus(runs, run.config.gpus if run.config else 1)
                if start_process(run.dir, resume=bool(run.status.resume), cuda_devices=gpus) is None:
                    continue  # no longer queued: cancelled meanwhile
            except OSError as err:
                _fail_to_start(run.dir, err)
                continue
            except RunError:  # damaged since the scan: the listing names it
                continue
            started.append(run.dir)
            room -= 1
            runs = _reaped(scan(runs_root))  # the one just started holds its GPUs now
    return started


def assign_gpus(runs: list[Run], need: int = 1) -> str | None:
    """The CUDA devices for a run about to start, as CUDA_VISIBLE_DEVICES: on a machine with
    several, the ones no running run holds (then the least shared), so that concurrent runs (a
    sweep's trials) fill every GPU instead of all landing on the first. None with one GPU or none."""
    count = torch.cuda.device_count()
    if count <= 1:
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    devices = [d.strip() for d in visible.split(",")][:count] if visible else [str(i) for i in range(count)]
    held = [d for run in runs if run.running and run.status.cuda_devices for d in run.status.cuda_devices.split(",")]
    return ",".join(sorted(devices, key=held.count)[:max(1, need)])  # stable sort: free ones in order first


def _fail_to_start(run_dir: RunDir, err: OSError) -> None:
    where = f"{Path(err.filename).name}: " if getattr(err, "filename", None) else ""
    try:
        run_dir.update_status(state=FAILED, error=f"could not start the trainer: {where}{err.strerror or err}",
                              ended=now())
    except (OSError, RunError):
        pass  # the folder cannot even take its status: the listing names it damaged


def trainer_command(run_dir: RunDir, resume: bool) -> list[str]:
    command = [sys.executable, "-m", "julia_core", "train", "--run-dir", str(run_dir.path), "--no-progress"]
    return command + (["--resume-in-place"] if resume else [])


def start_process(run_dir: RunDir, resume: bool = False, cuda_devices: str | None = None) -> int | None:
    """The trainer of a queued run, in its own session (it survives the dashboard), output to
    train.log, no shell, on `cuda_devices` when given; returns its pid, or None when the run was
    no longer queued. The status lock is held from the check to the write, so the run moves from
    queued to running with its pid in one step that no listing can see half done."""
    run_dir = RunDir(run_dir)
    with run_dir.status_lock():
        current = run_dir.read_status()
        if current.state != QUEUED:
            return None
        with open(run_dir.log_file, "ab") as log:
            environment = {**os.environ, "CUDA_VISIBLE_DEVICES": cuda_devices} if cuda_devices else None
            process = subprocess.Popen(trainer_command(run_dir, resume), cwd=settings.REPO_ROOT, env=environment,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                       start_new_session=True, close_fds=True)
        run_dir.write_status_locked(current, state=RUNNING, pid=process.pid, pgid=process.pid,
                                    host=socket.gethostname(), started=now(), ended=None, error=None,
                                    cuda_devices=cuda_devices)
    # Reap it when it ends, so it never lingers as a zombie that still looks alive.
    threading.Thread(target=process.wait, daemon=True, name=f"reap-{process.pid}").start()
    return process.pid


# -- stopping and resuming ---------------------------------------------------------------------------
def stop(run_dir: RunDir) -> str:
    """Queued: cancelled at once. Running: SIGTERM; the trainer saves last.pt and ends 'stopped'.
    A running trainer can be stopped even when another of its run's files is damaged."""
    run_dir = RunDir(run_dir)
    with _queue_lock(run_dir.path.parent):
        run = read_run(run_dir.path)
        if run.status is None:
            run.require_intact()
        if run.status.state == QUEUED:
            if run_dir.update_status_if(lambda s: s.state == QUEUED, state=STOPPED, ended=now(), resume=False):
                return "cancelled (it was queued)"
            run = read_run(run_dir.path)  # started meanwhile
        if run.status.state != RUNNING:
            raise RunError(f"{run_dir.name} is {run.state}, not running")
        if run.status.host != socket.gethostname():
            raise RunError(f"{run_dir.name} runs on {run.status.host}, not on this machine")
        _signal(run.status, signal.SIGTERM)
        run_dir.update_status_if(lambda s: s.pid == run.status.pid, stop_requested=now())
    return "stop requested: the trainer finishes its step, saves last.pt and ends 'stopped'"


def _signal(status: Status, signum: int) -> None:
    try:
        if status.pgid and status.pgid == status.pid:  # detached trainers lead their own group (torchrun's workers too)
            os.killpg(status.pgid, signum)
        else:
            os.kill(status.pid, signum)
    except ProcessLookupError:
        pass


def check_resumable(run_dir: RunDir) -> bool:
    """A stopped or failed run may resume; returns whether it has a last.pt to continue from (a run
    that ended before its first save, e.g. during pre-training, starts again: it lost nothing)."""
    run_dir = RunDir(run_dir)
    run = read_run(run_dir.path).require_intact()
    if run.state not in RESUMABLE:
        raise RunError(f"{run_dir.name} is {run.state}; only a stopped or failed run can resume")
    if run_dir.has_checkpoint(store.LAST):
        run_dir.load_checkpoint(store.LAST)  # a damaged last.pt is one line now, not a failed run later
        return True
    return False


def _resumable(status: Status) -> bool:
    return status.state in RESUMABLE


def resume(run_dir: RunDir, runs_root: Path | None = None) -> RunDir:
    """Queue a stopped or failed run to continue from its last.pt, or from the start without one.
    The state is checked again under the lock: two Resume clicks queue it once."""
    run_dir = RunDir(run_dir)
    from_checkpoint = check_resumable(run_dir)
    if not run_dir.update_status_if(_resumable, state=QUEUED, resume=from_checkpoint, error=None, ended=None,
                                    stop_requested=None):
        raise RunError(f"{run_dir.name} was resumed or started by someone else meanwhile")
    schedule(runs_root or run_dir.path.parent)
    return run_dir


def claim_for_resume(run_dir: RunDir) -> bool:
    """A foreground resume (`train --resume RUN` without --detach) takes the run for this process,
    as the launcher would for a trainer it starts; returns whether it continues from last.pt."""
    run_dir = RunDir(run_dir)
    from_checkpoint = check_resumable(run_dir)
    claimed = run_dir.update_status_if(_resumable, state=RUNNING, pid=os.getpid(), pgid=os.getpgrp(),
                                       host=socket.gethostname(), started=now(), ended=None, error=None,
                                       stop_requested=None)
    if not claimed:
        raise RunError(f"{run_dir.name} was resumed or started by someone else meanwhile")
    return from_checkpoint


def run_table(runs: list[Run]) -> list[dict]:
    """One plain row per run, for the CLI's `runs` and the dashboard's tables."""
    rows = []
    for run in runs:
        status = run.status or Status()
        best = status.best
        rows.append({
            "run": run.name, "state": run.state, "model": run.model,
            "epoch": status.epochs_done if run.status else "",
            "best val acc": f"{best:.4f}" if best is not None else ("refit" if run.is_refit else ""),
            "img/s": status.images_per_second or "",
            "device": status.device or "", "started": status.started or "", "refit of": run.refit_of,
            "tags": ", ".join(run.tags), "archived": "archived" if run.archived else "",
            "error": run.damage or status.error or run.record_problem or "",
        })
    return rows


def wait_for(predicate, timeout: float, interval: float = 0.1) -> bool:
    """Poll until predicate() is true or timeout seconds pass; returns the last answer (scripts and
    tests that wait on a run)."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
