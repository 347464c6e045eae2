"""Runs as processes: launch detached, queue, list, stop, resume, notice the dead.

Nothing here is held in memory between calls: every answer is read from the run directories,
so a dashboard restart loses nothing and any number of readers agree.
"""
import dataclasses
import fcntl
import os
import signal
import socket
import subprocess
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from julia_core.runs import store as rundir
from julia_core import settings
from julia_core.training.config import TrainConfig, validate
from julia_core.runs.store import RunError


@dataclass
class Run:
    path: Path
    config: dict
    status: dict

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")


def max_concurrent() -> int:
    """JULIA_MAX_RUNS, else one per CUDA device, else one."""
    if os.environ.get("JULIA_MAX_RUNS"):
        return max(1, int(os.environ["JULIA_MAX_RUNS"]))
    import torch
    return max(1, torch.cuda.device_count())


# -- reading ----------------------------------------------------------------------------------
def read_run(path: Path) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise RunError(f"{path}: run directory not found")
    return Run(path, rundir.read_json(path / rundir.CONFIG), refresh(path))


def list_runs(runs_root: Path) -> list[Run]:
    """Every readable run, newest first; unreadable folders are skipped (not ours, or half made)."""
    runs_root = Path(runs_root)
    if not runs_root.is_dir():
        return []
    runs = []
    for path in sorted(runs_root.iterdir(), reverse=True):
        if path.is_dir() and (path / rundir.CONFIG).exists():
            try:
                runs.append(read_run(path))
            except RunError:
                continue
    return runs


def weight_sources(runs: list[Run]) -> list[Run]:
    """Runs whose best weights another run can start from (pre-training, then fine-tuning)."""
    return [run for run in runs if run.state in ("finished", "stopped") and (run.path / rundir.BEST).is_file()]


def resolve_run(runs_root: Path, reference: str | Path) -> Path:
    """A run by path, by folder name, or by a unique part of its name."""
    candidate = Path(reference)
    if (candidate / rundir.CONFIG).exists():
        return candidate
    runs_root = Path(runs_root)
    if (runs_root / str(reference) / rundir.CONFIG).exists():
        return runs_root / str(reference)
    matches = [run.path for run in list_runs(runs_root) if str(reference) in run.name]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RunError(f"no run matches {str(reference)!r} in {runs_root}")
    raise RunError(f"{len(matches)} runs match {str(reference)!r}: {', '.join(m.name for m in matches[:4])} ...")


def is_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie answers kill(0) but is gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def refresh(run_dir: Path) -> dict:
    """status.json, with a 'running' run whose process has vanished marked failed."""
    status = rundir.read_status(run_dir)
    if (status.get("state") == "running" and status.get("host") == socket.gethostname()
            and not is_alive(status.get("pid"))):
        status = rundir.update_status(run_dir, state="failed", error="process exited unexpectedly",
                                      ended=rundir.now(), log_tail=rundir.log_tail(run_dir))
    return status


# -- launching ----------------------------------------------------------------------------------
def prepare_run(config: TrainConfig, runs_root: Path) -> Path:
    """A new run directory holding config.json and a 'queued' status. The data set and the
    device are checked first, so a bad choice is an error now, not a failed run later."""
    from julia_core.data.dataset import KaggleDataset, folder_name
    from julia_core.runs.trainer import select_device
    validate(config)
    dataset = KaggleDataset(Path(config.data).expanduser())
    if config.source not in dataset.sources("train"):
        raise RunError(f"{dataset.root}: has no {folder_name('train', config.source)}/ folder "
                       f"(source {config.source!r}); choose the other source")
    select_device(config.device)
    if config.init:
        config = dataclasses.replace(config, init=settings.portable_path(check_init(config)))
    if config.pseudo_label:
        config = dataclasses.replace(config, pseudo_label=teacher_paths(config, runs_root))
    config = dataclasses.replace(config, data=settings.portable_path(config.data))  # no home path shared
    run_dir = rundir.create_run_dir(runs_root, config.name or default_name(config))
    rundir.write_json(run_dir / rundir.CONFIG, config.to_dict())
    rundir.write_json(run_dir / rundir.STATUS, rundir.new_status("queued", config.epochs))
    return run_dir


def check_init(config: TrainConfig) -> Path:
    """The weights a run starts from must exist and fit its model and colour mode; returns the file."""
    from julia_core.training.models import build_model
    path = rundir.init_weights_path(config.init)
    weights = rundir.load_init_weights(path, config.model)
    try:
        build_model(config.model, 1 if config.mode == "L" else 3).load_state_dict(weights)
    except RuntimeError:
        raise RunError(f"{path}: its weights do not fit a {config.model} for {config.mode} images "
                       "(trained in the other colour mode?)") from None
    return path


def teacher_paths(config: TrainConfig, runs_root: Path) -> str:
    """The pseudo-label teachers, by path or name, checked now and written as portable paths."""
    from julia_core.predict.pseudo_labels import check_teachers, teacher_refs
    paths = [resolve_run(runs_root, ref) for ref in teacher_refs(config.pseudo_label)]
    return ",".join(settings.portable_path(p) for p in check_teachers(paths, config))


def default_name(config: TrainConfig) -> str:
    return f"{config.preset}-{config.model}" if config.preset else config.model


def launch(config: TrainConfig, runs_root: Path) -> Path:
    """Queue a run and start it at once if there is room; returns its directory."""
    run_dir = prepare_run(config, runs_root)
    schedule(runs_root)
    return run_dir


@contextmanager
def _queue_lock(runs_root: Path):
    Path(runs_root).mkdir(parents=True, exist_ok=True)
    with open(Path(runs_root) / ".queue.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def schedule(runs_root: Path, limit: int | None = None) -> list[Path]:
    """Start the oldest queued runs while fewer than `limit` run; returns those started."""
    started = []
    with _queue_lock(runs_root):
        runs = list_runs(runs_root)
        running = sum(1 for run in runs if run.state == "running")
        room = (limit or max_concurrent()) - running
        for run in sorted((r for r in runs if r.state == "queued"), key=lambda r: r.name):
            if room <= 0:
                break
            start_process(run.path, resume=bool(run.status.get("resume")))
            started.append(run.path)
            room -= 1
    return started


def trainer_command(run_dir: Path, resume: bool) -> list[str]:
    command = [sys.executable, "-m", "julia_core", "train", "--run-dir", str(run_dir), "--no-progress"]
    return command + (["--resume-in-place"] if resume else [])


def start_process(run_dir: Path, resume: bool = False) -> int:
    """The trainer in its own session (survives the dashboard), output to train.log; no shell."""
    run_dir = Path(run_dir)
    with open(run_dir / rundir.LOG, "ab") as log:
        process = subprocess.Popen(trainer_command(run_dir, resume), cwd=settings.REPO_ROOT,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                   start_new_session=True, close_fds=True)
    rundir.update_status(run_dir, state="running", pid=process.pid, pgid=process.pid,
                         host=socket.gethostname(), started=rundir.now(), ended=None, error=None)
    # Reap it when it ends, so it never lingers as a zombie that still looks alive.
    threading.Thread(target=process.wait, daemon=True, name=f"reap-{process.pid}").start()
    return process.pid


# -- stopping and resuming ---------------------------------------------------------------------
def stop(run_dir: Path) -> str:
    """Queued: cancelled at once. Running: SIGTERM; the trainer saves last.pt and ends 'stopped'."""
    run_dir = Path(run_dir)
    with _queue_lock(run_dir.parent):
        status = refresh(run_dir)
        state = status.get("state")
        if state == "queued":
            rundir.update_status(run_dir, state="stopped", ended=rundir.now(), resume=False)
            return "cancelled (it was queued)"
        if state != "running":
            raise RunError(f"{run_dir.name} is {state}, not running")
        if status.get("host") != socket.gethostname():
            raise RunError(f"{run_dir.name} runs on {status.get('host')}, not on this machine")
        _signal(status, signal.SIGTERM)
        rundir.update_status(run_dir, stop_requested=rundir.now())
    return "stop requested: the trainer finishes its step, saves last.pt and ends 'stopped'"


def _signal(status: dict, signum: int) -> None:
    pgid, pid = status.get("pgid"), status.get("pid")
    try:
        if pgid and pgid == pid:  # our detached trainers lead their own group (torchrun's workers too)
            os.killpg(pgid, signum)
        else:
            os.kill(pid, signum)
    except ProcessLookupError:
        pass


def check_resumable(run_dir: Path) -> bool:
    """A stopped or failed run may resume; returns whether it has a last.pt to continue from (a run
    that ended before its first save, e.g. during pre-training, starts again: it lost nothing)."""
    status = refresh(run_dir)
    if status.get("state") not in ("stopped", "failed"):
        raise RunError(f"{run_dir.name} is {status.get('state')}; only a stopped or failed run can resume")
    return (run_dir / rundir.LAST).exists()


def resume(run_dir: Path, runs_root: Path | None = None) -> Path:
    """Queue a stopped or failed run to continue from its last.pt, or from the start without one."""
    run_dir = Path(run_dir)
    from_checkpoint = check_resumable(run_dir)
    rundir.update_status(run_dir, state="queued", resume=from_checkpoint, error=None, ended=None,
                         stop_requested=None)
    schedule(runs_root or run_dir.parent)
    return run_dir


def run_table(runs: list[Run]) -> list[dict]:
    """One plain row per run, for the CLI's `runs` and the dashboard's tables."""
    rows = []
    for run in runs:
        status = run.status
        best = status.get("best_val_acc")
        rows.append({
            "run": run.name, "state": run.state, "model": run.config.get("model"),
            "epoch": f"{status.get('epoch', 0)}/{status.get('epochs', '?')}",
            "best val acc": f"{best:.4f}" if isinstance(best, (int, float)) and best >= 0 else "",
            "img/s": status.get("images_per_second") or "",
            "device": status.get("device") or "", "started": status.get("started") or "",
            "error": status.get("error") or "",
        })
    return rows
