"""A sweep's worker: the loop that turns the study's suggestions into queued runs on this machine.

Each pass: leave if the sweep was stopped (stopping this machine's trials) or its budget is spent;
fail trials whose heartbeat went silent (their machine is gone); settle the trials whose run ended
without telling the study (a trainer killed, a run failed before it trained); stop the sweep after
three crashes in a row; and while this machine has a free slot (launcher.max_concurrent: one run
on a CPU machine, one per GPU) and no trial of this sweep waiting in its queue, ask the study for a
trial and queue it as an ordinary run. The trainers report and finish their trials themselves
(julia_core.sweeps.report); the worker only fills the machine and tidies up.

One worker per sweep per machine: it holds RUNS/.sweeps/NAME/worker.lock while it lives.
"""
import fcntl
import logging
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from julia_core import settings
from julia_core.errors import JuliaError
from julia_core.runs import launcher
from julia_core.runs.listing import Run
from julia_core.runs.status import ENDED, FAILED, FINISHED, PRUNED, QUEUED, STOPPED, now
from julia_core.runs.store import write_json
from julia_core.sweeps.study import Sweep, SweepError, open_sweep, sweep_folder

log = logging.getLogger("julia_core.sweeps")

POLL_SECONDS = float(os.environ.get("JULIA_SWEEP_POLL", 2.0))
CRASHES_TO_STOP = 3
TELL_SECONDS = 10  # a trainer tells its trial's end within a moment of writing it; after this the worker does
TRIAL_NAME_ROOM = 58  # a run name holds at most 64 characters: the sweep's name, then -tNNN


# -- the trials as runs -------------------------------------------------------------------------------
def trial_runs(runs: list[Run], name: str) -> list[Run]:
    """This machine's runs that are trials of the sweep."""
    return [run for run in runs if run.config is not None and run.config.sweep == name]


def trial_run_name(sweep: str, number: int) -> str:
    return f"{sweep[:TRIAL_NAME_ROOM].rstrip('-._')}-t{number:03d}"


def trial_states(sweep: Sweep) -> dict[int, str]:
    """Trial number -> Optuna state name (RUNNING, COMPLETE, PRUNED, FAIL, WAITING)."""
    return {trial.number: trial.state.name for trial in sweep.study.get_trials(deepcopy=False)}


def open_trials(sweep: Sweep) -> dict[int, str]:
    """The trials still open (RUNNING) in the study: number -> the name of the run made for it."""
    return {t.number: t.user_attrs.get("run", "") for t in sweep.study.get_trials(deepcopy=False)
            if t.state.name == "RUNNING"}


def open_runs(sweep: Sweep, mine: list[Run]) -> list[Run]:
    """This machine's trial runs whose trial is still open in this study: matched by number and
    run name, so a run of an older sweep of the same name is never taken for one of this one's."""
    still_open = open_trials(sweep)
    return [run for run in mine if still_open.get(run.config.trial) == run.name]


# -- one pass -------------------------------------------------------------------------------------------
def work_once(sweep: Sweep) -> str | None:
    """One pass of the loop; returns why the worker ends, or None to go on."""
    runs_root = sweep.runs_root
    reason = sweep.stop_reason
    if reason:
        stop_trial_runs(sweep)
        return f"stopped: {reason}"
    fail_silent_trials(sweep)
    everyone = launcher.list_runs(runs_root)  # dead trainers reaped, queue started
    mine = trial_runs(everyone, sweep.name)
    settle_ended(sweep, mine)
    vouch_for_active(sweep, mine)
    # One listing decides, and the study is read after it: a run that ended in it has told its
    # trial (else wait) before the streak is read, and one still running in it holds its slot.
    # (The streak read first let a trial that failed between the two reads be followed by
    # another: a fourth trial after three crashes, seen in CI.)
    if _telling(sweep, mine):
        return None  # a trainer is still telling the study how its trial ended: the streak and TPE want it first
    crashes = crash_streak(sweep)
    if crashes:
        _bank_minutes(sweep)
        sweep.study.set_user_attr("stopped", crashes)
        stop_trial_runs(sweep)
        return f"stopped: {crashes}"
    active = [run for run in mine if run.active]
    if not budget_left(sweep):
        return None if active else "finished: the sweep's budget is spent"
    if not any(run.state == QUEUED for run in mine) and _free_slot(everyone):
        queue_trial(sweep)
    return None


def _telling(sweep: Sweep, mine: list[Run]) -> bool:
    """Whether a run of this machine has ended while its trial is still open in the study."""
    ended = [run for run in mine if run.state in ENDED and run.state != STOPPED]
    return bool(ended) and bool(open_runs(sweep, ended))


def fail_silent_trials(sweep: Sweep) -> None:
    """Optuna's stale-trial rule (no heartbeat for the grace period: the trial's machine is gone),
    except for the trials a sweep stop holds for their machine's resume."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState
    storage = sweep.storage
    for trial_id in storage._get_stale_trial_ids(sweep.study._study_id):  # what optuna.storages.fail_stale_trials reads
        if storage.get_trial(trial_id).user_attrs.get("held"):
            continue
        try:
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # another worker failed it first
            continue


def _free_slot(runs: list[Run]) -> bool:
    return sum(run.running for run in runs) < launcher.max_concurrent()


def queue_trial(sweep: Sweep) -> Path | None:
    """Ask the study for a trial, queue it as a run and start it if there is room."""
    made = prepare_trial(sweep)
    if made:
        launcher.schedule(sweep.runs_root)
    return made[1].path if made else None


def prepare_trial(sweep: Sweep, claim: bool = False):
    """Ask the study for a trial and make its run directory: queued, or with `claim` running in
    this process (a trainer run in the foreground, as the tests do). Returns (number, RunDir), or
    None for a trial failed before it started: its options refused, its run not made (the reason
    is kept, and counts as a crash), or asked over the budget by two workers at once."""
    from optuna.trial import TrialState
    study, budget = sweep.study, sweep.space.budget
    trial = study.ask()
    sweep.storage.record_heartbeat(trial._trial_id)  # at once: a worker killed from here on leaves a trial that goes stale
    if budget is not None and trial.number >= budget:  # another worker asked at the same moment
        trial.set_user_attr("skipped", "over the trial budget")
        study.tell(trial.number, state=TrialState.FAIL)
        return None
    try:
        trial.set_user_attr("host", socket.gethostname())
        values = sweep.space.suggest(trial)
        config = sweep.space.config(values, data=sweep.record.data, sweep=sweep.name, trial=trial.number,
                                    name=trial_run_name(sweep.name, trial.number))
        run_dir = launcher.prepare_run(config, sweep.runs_root, claim=claim)
        trial.set_user_attr("run", run_dir.name)
    except Exception as err:  # refused options, a full disk, the storage gone: the trial fails, saying why
        message = (str(err) if isinstance(err, JuliaError) else f"cannot queue the run: {err.strerror or err}"
                   if isinstance(err, OSError) else f"{type(err).__name__}: {_first_line(err)}")
        _fail_quietly(sweep, trial.number, message)
        log.warning("trial %d failed before it started: %s", trial.number, message)
        return None
    log.info("trial %d queued as %s: %s", trial.number, run_dir.name,
             ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items()))
    return trial.number, run_dir


def _fail_quietly(sweep: Sweep, number: int, message: str) -> None:
    from optuna.trial import TrialState
    try:
        sweep.storage.set_trial_user_attr(sweep.trial_id(number), "error", message)
        sweep.study.tell(number, state=TrialState.FAIL)
    except Exception:  # the storage is gone too: the trial goes stale and is failed by the next look
        pass


def _first_line(err: BaseException) -> str:
    text = str(getattr(err, "orig", None) or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def settle_ended(sweep: Sweep, mine: list[Run]) -> None:
    """Tell the study about trials whose run ended without doing so itself: a trainer killed
    (failed by the dead-run rule), a run failed before it trained, a damaged run. A stopped run's
    trial stays open: its sweep may resume it (its heartbeat lapses if nobody does)."""
    from optuna.trial import TrialState
    for run in open_runs(sweep, mine):
        number = run.config.trial
        if run.state == STOPPED:
            continue
        if run.state not in ENDED and not run.damaged:
            continue
        if run.status is not None and launcher.trainer_alive(run.status) and _minutes_since(run.status.ended) * 60 < TELL_SECONDS:
            continue  # its trainer is still telling the study itself
        try:
            if run.state == FINISHED and run.status.best is not None:
                sweep.study.tell(number, run.status.best)
            elif run.state == PRUNED:
                sweep.study.tell(number, state=TrialState.PRUNED)
            else:
                error = run.damage or (run.status.error if run.status else None) or f"run ended {run.state}"
                sweep.storage.set_trial_user_attr(sweep.trial_id(number), "error", error)
                sweep.study.tell(number, state=TrialState.FAIL)
        except (ValueError, RuntimeError, KeyError):  # told meanwhile by its trainer or another look
            continue


def vouch_for_active(sweep: Sweep, mine: list[Run]) -> None:
    """Heartbeats for this machine's queued and running trials: no trainer beats for a queued one
    yet, and one whose trainer could not reach the study trains unreported; while this worker
    lives, neither is taken for lost."""
    for run in open_runs(sweep, [run for run in mine if run.active]):
        sweep.storage.record_heartbeat(sweep.trial_id(run.config.trial))


def crash_streak(sweep: Sweep) -> str | None:
    """Why the sweep should stop: its last CRASHES_TO_STOP ended trials (since it last resumed)
    all failed. None while the sweep is healthy."""
    resumed = _parse_time(sweep.attr("resumed"))
    ended = [t for t in sweep.study.get_trials(deepcopy=False)
             if t.state.is_finished() and t.datetime_complete and _counts_for_streak(t)
             and (resumed is None or t.datetime_complete.astimezone() > resumed)]
    ended.sort(key=lambda t: t.datetime_complete)
    last = ended[-CRASHES_TO_STOP:]
    if len(last) == CRASHES_TO_STOP and all(t.state.name == "FAIL" for t in last):
        return (f"{CRASHES_TO_STOP} trials in a row failed; the last, trial {last[-1].number}: "
                f"{last[-1].user_attrs['error']}")
    return None


def _counts_for_streak(trial) -> bool:
    """Completed, pruned, and failed with a reason: a crash. Not a trial skipped over the budget,
    nor one failed for a lapsed heartbeat (lost with its machine, or stopped and never resumed)."""
    return "skipped" not in trial.user_attrs and (trial.state.name != "FAIL" or "error" in trial.user_attrs)


def budget_left(sweep: Sweep) -> bool:
    """Trials still to ask for, and time left (running trials always finish)."""
    budget, minutes = sweep.space.budget, sweep.space.timeout_minutes
    if budget is not None:
        counted = [t for t in sweep.study.get_trials(deepcopy=False) if "skipped" not in t.user_attrs]
        if len(counted) >= budget:
            return False
    if minutes is not None:
        started = sweep.attr("resumed") or sweep.attr("started")
        spent = sweep.attr("minutes_before_resume", 0.0) + _minutes_since(started)
        if spent >= minutes:
            return False
    return True


def _minutes_since(iso: str | None) -> float:
    started = _parse_time(iso)
    return (datetime.now().astimezone() - started).total_seconds() / 60 if started else 0.0


def _parse_time(iso: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(iso).astimezone() if iso else None
    except (TypeError, ValueError):
        return None


def stop_trial_runs(sweep: Sweep) -> list[str]:
    """Stop this machine's active trials of the sweep: running ones save and end 'stopped',
    queued ones are cancelled; their trials are held open for this machine's resume (never
    failed as silent meanwhile). Returns what happened to each."""
    said = []
    active = [run for run in trial_runs(launcher.list_runs(sweep.runs_root), sweep.name) if run.active]
    for run in open_runs(sweep, active):
        sweep.storage.set_trial_user_attr(sweep.trial_id(run.config.trial), "held", socket.gethostname())
    for run in active:
        try:
            said.append(f"{run.name}: {launcher.stop(run.dir)}")
        except JuliaError as err:
            said.append(f"{run.name}: {err}")
    return said


# -- the loop and its process ----------------------------------------------------------------------------
@contextmanager
def worker_lock(runs_root: Path, name: str, wait: float = 5.0):
    """This machine's one worker of the sweep; SweepError when another holds it."""
    folder = sweep_folder(runs_root, name)
    with open(folder / "worker.lock", "a") as lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SweepError(f"sweep {name}: another worker already works on it on this machine") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def worker_alive(runs_root: Path, name: str) -> bool:
    """Whether a worker of the sweep holds its lock on this machine (a shared probe: it never
    keeps a starting worker out for longer than a moment)."""
    path = sweep_folder(runs_root, name) / "worker.lock"
    try:
        with open(path) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False
    except OSError:
        return False


def work(runs_root: Path, name: str, poll: float = POLL_SECONDS) -> str:
    """Run the sweep's loop on this machine until it is stopped, spent, or crashes stop it;
    returns why it ended (also kept in worker.json)."""
    sweep = open_sweep(runs_root, name)
    folder = sweep_folder(runs_root, name)
    launcher.max_concurrent()
    with worker_lock(runs_root, name):
        write_json(folder / "worker.json", {"pid": os.getpid(), "host": socket.gethostname(), "started": now(),
                                            "state": "working"})
        log.info("sweep %s: working on %s (%s)", name, socket.gethostname(), launcher.max_concurrent())
        reason = "the worker ended unexpectedly"
        try:
            while True:
                try:
                    reason = work_once(sweep)
                except Exception as err:  # a damaged run, the database restarting: said, and the next pass tries again
                    log.warning("sweep %s: %s", name, err if isinstance(err, JuliaError) else
                                f"{type(err).__name__}: {_first_line(err)}")
                    reason = None
                if reason:
                    return reason
                time.sleep(poll)
        finally:
            log.info("sweep %s: %s", name, reason)
            write_json(folder / "worker.json", {"pid": os.getpid(), "host": socket.gethostname(), "ended": now(),
                                                "state": "ended", "reason": reason})


def start_worker(runs_root: Path, name: str) -> int | None:
    """The sweep's worker as a detached process (it survives the dashboard), its output in
    worker.log; None when one already works on it here."""
    launcher.max_concurrent()  # a bad JULIA_MAX_RUNS is one line here, not a worker failing each pass
    if worker_alive(runs_root, name):
        return None
    folder = sweep_folder(runs_root, name)
    command = [sys.executable, "-m", "julia_core", "sweep", "work", name, "--runs", str(Path(runs_root).resolve())]
    with open(folder / "worker.log", "ab") as output:
        process = subprocess.Popen(command, cwd=settings.REPO_ROOT, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=output, start_new_session=True, close_fds=True)
    import threading
    threading.Thread(target=process.wait, daemon=True, name=f"reap-worker-{process.pid}").start()
    return process.pid


# -- stop and resume --------------------------------------------------------------------------------------
def stop_sweep(runs_root: Path, name: str) -> list[str]:
    """Stop the sweep everywhere: the study says so (every machine's worker leaves at its next
    pass, stopping its trials), and this machine's trials stop now."""
    sweep = open_sweep(runs_root, name)
    if not sweep.stop_reason:  # stopping a stopped sweep again stops this machine's trials, no more
        _bank_minutes(sweep)
        sweep.study.set_user_attr("stopped", f"stopped by request on {socket.gethostname()} at {now()}")
    return stop_trial_runs(sweep)


def _bank_minutes(sweep: Sweep) -> None:
    """Keep the wall time spent so far, so a resumed sweep's time budget counts only working time."""
    started = sweep.attr("resumed") or sweep.attr("started")
    sweep.study.set_user_attr("minutes_before_resume", sweep.attr("minutes_before_resume", 0.0) + _minutes_since(started))


def resume_sweep(runs_root: Path, name: str) -> list[str]:
    """Continue a stopped sweep: the study is told, this machine's stopped trials resume from
    their last.pt (their trials still open), and a worker starts here. Returns what it did."""
    sweep = open_sweep(runs_root, name)
    said = []
    if sweep.stop_reason:
        sweep.study.set_user_attr("stopped", None)
        sweep.study.set_user_attr("resumed", now())
    ended = [run for run in trial_runs(launcher.list_runs(runs_root), name)
             if run.state in (STOPPED, FAILED) and not run.damaged]
    for run in open_runs(sweep, ended):
        trial_id = sweep.trial_id(run.config.trial)
        sweep.storage.record_heartbeat(trial_id)
        sweep.storage.set_trial_user_attr(trial_id, "held", "")
        try:
            launcher.resume(run.dir, runs_root)
            said.append(f"{run.name}: resumed")
        except JuliaError as err:
            said.append(f"{run.name}: {err}")
    pid = start_worker(runs_root, name)
    said.append(f"worker started (pid {pid})" if pid else "a worker already works on it here")
    return said
