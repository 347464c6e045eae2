"""Who may write a run's status, and when: a trainer takes only a run that is queued for it, names
itself in every write, honours a Stop that came before it was ready; a reader marks a dead run
only while the same trainer is recorded; Resume queues a run once; two submissions never share a
name."""
import os
import signal
import socket
import subprocess
from datetime import datetime

import pytest
from conftest import QUICK

from julia_core.errors import RunError
from julia_core.predict import ensemble
from julia_core.predict.submission import validate_submission
from julia_core.runs import launcher, trainer
from julia_core.runs.listing import load_run
from julia_core.runs.status import new_status
from julia_core.runs.store import RunDir
from julia_core.data.dataset import KaggleDataset
from julia_core.training.config import make_config
from julia_core.training.stop_flag import StopFlag


@pytest.fixture
def sleeper():
    """A live process that is not this one: another trainer, as far as a status can tell."""
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def _dead_pid() -> int:
    dead = subprocess.Popen(["true"])
    dead.wait()
    return dead.pid


def test_a_trainer_leaves_a_run_that_another_trainer_holds(small_demo, tmp_path, sleeper):
    status = new_status("running", 1, pid=sleeper.pid, pgid=sleeper.pid, started="2026-01-01T00:00:00+00:00")
    run_dir = RunDir.create(tmp_path, "held", make_config("fast", data=str(small_demo), **QUICK), status)
    assert trainer.run(run_dir, show_progress=False, console=False) == 1
    after = run_dir.read_status()
    assert (after.state, after.pid, after.started) == ("running", sleeper.pid, "2026-01-01T00:00:00+00:00")
    assert "another trainer holds it" in run_dir.log_tail()
    assert not run_dir.has_checkpoint("last")


def test_a_trainer_names_itself_when_it_rewrites_a_damaged_status(tmp_path):
    run_dir = RunDir.create(tmp_path, "torn", make_config("fast"), new_status("queued", 3))
    claim = trainer.Claim.take(run_dir)
    run_dir.status_file.write_bytes(b'{"state": "runn')  # torn mid-run (a full disk, a sync tool)
    claim.update(epoch=1)
    status = run_dir.read_status()
    assert (status.state, status.pid, status.host, status.epoch) == ("running", os.getpid(), socket.gethostname(), 1)
    assert launcher.trainer_alive(status)  # the dead-run check and Stop find the trainer again


def test_a_trainer_whose_run_was_taken_by_another_stops_writing(tmp_path, sleeper):
    run_dir = RunDir.create(tmp_path, "taken", make_config("fast"), new_status("queued", 3))
    claim = trainer.Claim.take(run_dir)
    run_dir.update_status(pid=sleeper.pid)  # thought dead, resumed: a new trainer recorded
    with pytest.raises(trainer.ClaimLost, match=f"another trainer \\(pid {sleeper.pid}\\) took this run"):
        claim.update(epoch=2)
    assert run_dir.read_status().pid == sleeper.pid and run_dir.read_status().epoch == 0


def _catches_sigterm(pid: int) -> bool:
    with open(f"/proc/{pid}/status") as status:
        mask = next(line for line in status if line.startswith("SigCgt:")).split()[1]
    return bool(int(mask, 16) >> (signal.SIGTERM - 1) & 1)


def _has_loaded_torch(pid: int) -> bool:
    with open(f"/proc/{pid}/maps") as maps:
        return "libtorch" in maps.read()


def test_a_stop_during_the_trainers_imports_ends_the_run_stopped(small_demo, tmp_path):
    """The detached trainer catches SIGTERM before it imports torch (seconds on 2 cores): a Stop
    then ends the run 'stopped' instead of killing it ('failed' at the next listing)."""
    run_dir = launcher.launch(make_config("fast", data=str(small_demo), **QUICK), tmp_path)
    pid = run_dir.read_status().pid
    assert launcher.wait_for(lambda: _catches_sigterm(pid), 30, 0.002)
    assert not _has_loaded_torch(pid)  # the handler came first
    launcher.stop(run_dir)
    assert launcher.wait_for(lambda: run_dir.read_status().state != "running", 60, 0.1)
    status = run_dir.read_status()
    assert status.state == "stopped" and not run_dir.has_checkpoint("last"), (status, run_dir.log_tail())


def test_a_stop_before_the_trainer_is_ready_ends_the_run_stopped(small_demo, tmp_path):
    """SIGTERM during the trainer's imports: the CLI's early handler keeps the request and the run
    ends 'stopped' without training, instead of the default handler's death ('failed' later)."""
    run_dir = launcher.prepare_run(make_config("fast", data=str(small_demo), **QUICK), tmp_path)
    previous = StopFlag.install()  # what the CLI does before importing the trainer
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert trainer.run(run_dir, show_progress=False, console=False) == 0
    finally:
        StopFlag.restore(previous)
    assert run_dir.read_status().state == "stopped" and not run_dir.has_checkpoint("last")
    assert not StopFlag.requested  # spent with its run
    assert launcher.check_resumable(run_dir) is False  # Resume starts it from the beginning


def test_a_reader_marks_a_dead_run_only_while_the_same_trainer_is_recorded(tmp_path):
    dead = _dead_pid()
    run_dir = RunDir.create(tmp_path, "again", make_config("fast"), new_status("running", 3, pid=dead, pgid=dead))
    stale = load_run(run_dir.path)  # read before a resume gave the run a new trainer
    run_dir.update_status(pid=os.getpid(), pgid=os.getpgrp())
    assert launcher._reap(stale).status.state == "running"
    assert run_dir.read_status().pid == os.getpid()
    run_dir.update_status(pid=dead)
    assert launcher._reap(load_run(run_dir.path)).status.error == "process exited unexpectedly"


def test_a_trainer_that_ends_without_recording_how_frees_its_slot(tmp_path):
    run_dir = RunDir.create(tmp_path, "silent", make_config("fast"), new_status("running", 3, pid=os.getpid()))
    trainer._close_unended(run_dir)
    status = run_dir.read_status()
    assert status.state == "failed" and status.error == "the trainer ended without recording how"


def test_two_resumes_queue_a_run_once(tmp_path, monkeypatch):
    run_dir = RunDir.create(tmp_path, "twice", make_config("fast"), new_status("stopped", 3))
    monkeypatch.setattr(launcher, "schedule", lambda root: [])
    launcher.resume(run_dir, tmp_path)
    assert run_dir.read_status().state == "queued"
    with pytest.raises(RunError, match="is queued"):
        launcher.resume(run_dir, tmp_path)
    # the race itself: both checked 'stopped' before either wrote; the lock lets one through
    monkeypatch.setattr(launcher, "check_resumable", lambda run_dir: False)
    with pytest.raises(RunError, match="twice was resumed or started by someone else meanwhile"):
        launcher.resume(run_dir, tmp_path)


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_new_file_never_replaces_one_already_there(tmp_path, monkeypatch, hard_links):
    from julia_core.files import write_text_atomic, write_atomic
    if not hard_links:  # exFAT, some network and FUSE mounts
        def no_link(source, target):
            raise PermissionError(1, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "taken.csv"
    write_atomic(path, lambda file: file.write(b"mine"), replace=False)
    with pytest.raises(FileExistsError):
        write_atomic(path, lambda file: file.write(b"theirs"), replace=False)
    assert path.read_bytes() == b"mine" and [p.name for p in tmp_path.iterdir()] == ["taken.csv"]
    write_text_atomic(path, "replaced")  # the default replaces
    assert path.read_text() == "replaced"


def test_two_submissions_in_one_second_get_two_files(demo_run, small_demo, monkeypatch):
    root, _ = demo_run
    [run] = [run for run in launcher.list_runs(root) if run.name.endswith("fixture")]

    class SameSecond(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 12, 2, 12, 0, 0)
    monkeypatch.setattr(ensemble, "datetime", SameSecond)
    first, second = (ensemble.write_new_submission([run], small_demo, root) for _ in range(2))
    assert first.name == f"20261202-120000-{run.name}.csv" and second.name == f"20261202-120000-{run.name}-2.csv"
    ids = KaggleDataset(small_demo).test_ids
    assert validate_submission(first, ids) == validate_submission(second, ids)
    for path in (first, second):
        path.unlink()
