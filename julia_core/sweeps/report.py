"""A trial's trainer talks to its study: validation accuracy after every epoch, the pruner's answer,
a heartbeat while it trains, and how it ended.

The study is an aid to the run, never a condition of it: a storage that cannot be reached (or a
trial the study has already closed, e.g. failed as stale while the run was stopped) leaves the run
training as an ordinary run, with one line in its log; the sweep's worker settles the trial from
the run's status later.
"""
import logging
import threading
from pathlib import Path

from julia_core.runs.status import FAILED, FINISHED, PRUNED, STOPPED
from julia_core.training.config import TrainConfig

log = logging.getLogger("julia_core.trainer")


class TrialReporter:
    """One trial's line to its study, opened by the trainer of a run whose config names a sweep."""

    def __init__(self, sweep, number: int):
        import optuna
        self.sweep, self.number = sweep, number
        self.trial = optuna.trial.Trial(sweep.study, sweep.trial_id(number))
        self.heartbeat = Heartbeat(sweep.storage, self.trial._trial_id)
        self.heartbeat.start()
        self.live = True

    @classmethod
    def open(cls, config: TrainConfig, runs_root: Path, run_name: str | None = None) -> "TrialReporter | None":
        """The trial's reporter, or None (not a trial, or its study cannot take reports now)."""
        if not config.sweep:
            return None
        from optuna.trial import TrialState
        from julia_core.sweeps.study import open_sweep
        try:
            sweep = open_sweep(runs_root, config.sweep)
            trial = sweep.storage.get_trial(sweep.trial_id(config.trial))
            if trial.state != TrialState.RUNNING:
                log.warning("sweep %s: trial %d is already %s in the study; this run trains without reporting",
                            config.sweep, config.trial, trial.state.name.lower())
                return None
            if trial.user_attrs.get("run") not in (None, run_name):
                log.warning("sweep %s: trial %d belongs to run %s, not this one (a sweep of the same name made "
                            "again?); this run trains without reporting", config.sweep, config.trial,
                            trial.user_attrs["run"])
                return None
            return cls(sweep, config.trial)
        except Exception as err:  # no record, a storage gone away, a damaged study: train on, unreported
            log.warning("sweep %s: cannot report trial %d (%s); it trains as an ordinary run (its worker "
                        "settles the trial from the run's status)", config.sweep, config.trial, _first_line(err))
            return None

    def report(self, epoch: int, val_acc: float) -> bool:
        """Report the epoch's validation accuracy; True when the pruner ends the trial here."""
        if not self.live:
            return False
        try:
            self.trial.report(val_acc, epoch)
            return self.trial.should_prune()
        except Exception as err:  # the storage went away mid-run: no more reports, no pruning
            self._lose(err)
            return False

    def finish(self, state: str | None, best_val_acc: float | None, error: str | None = None) -> None:
        """Tell the study how the run ended. A stopped trial stays open (its sweep may resume it);
        the heartbeat stops either way."""
        from optuna.trial import TrialState
        self.heartbeat.stop()
        if not self.live or state in (STOPPED, None):  # None: another trainer took the run; it reports now
            return
        try:
            if state == FINISHED and best_val_acc is not None:
                self.sweep.study.tell(self.number, best_val_acc)
            elif state == PRUNED:
                self.sweep.study.tell(self.number, state=TrialState.PRUNED)
            elif state in (FAILED, FINISHED):
                self.trial.set_user_attr("error", error or "ended without a validation accuracy")
                self.sweep.study.tell(self.number, state=TrialState.FAIL)
        except Exception as err:  # closed meanwhile (stale), or the storage is gone: the worker settles it
            log.warning("sweep %s: could not record trial %d as %s (%s)", self.sweep.name, self.number, state,
                        _first_line(err))

    def _lose(self, err: Exception) -> None:
        self.live = False
        log.warning("sweep %s: lost the study (%s); trial %d trains on unreported", self.sweep.name,
                    _first_line(err), self.number)


class Heartbeat(threading.Thread):
    """The trial's heartbeat in the study while its trainer lives (Optuna's own thread dies at the
    first storage error; this one says so once and keeps trying)."""

    def __init__(self, storage, trial_id: int):
        super().__init__(daemon=True, name=f"heartbeat-{trial_id}")
        self.storage, self.trial_id, self.done, self.failing = storage, trial_id, threading.Event(), False

    def run(self) -> None:
        while True:
            try:
                self.storage.record_heartbeat(self.trial_id)
                self.failing = False
            except Exception as err:
                if not self.failing:
                    log.warning("trial heartbeat: %s (trying again)", _first_line(err))
                self.failing = True
            if self.done.wait(self.storage.get_heartbeat_interval() or 20):
                return

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=30)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
