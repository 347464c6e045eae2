"""What a sweep looks like from here: its state, its trials counted by state, its best trial and
run, and one row per trial; the Sweep page and `sweep show` print these."""
from dataclasses import dataclass, field
from pathlib import Path

from julia_core.errors import EXPECTED_ERRORS, one_line
from julia_core.sweeps.study import Sweep, list_records, open_sweep, shown_url, storage_url
from julia_core.sweeps.worker import budget_left, worker_alive

WORKING, STOPPED, FINISHED, IDLE, UNREADABLE = "working", "stopped", "finished", "idle", "unreadable"
STATE_HELP = {WORKING: "a worker on this machine asks for trials and queues them",
              STOPPED: "stopped; Resume continues it where it was (its held trials resume on the machine that ran them)",
              FINISHED: "its budget is spent and no trial is running",
              IDLE: "no worker on this machine (Resume starts one; another machine may be working on it)",
              UNREADABLE: "its record or its storage cannot be read"}


@dataclass
class SweepSummary:
    name: str
    state: str
    storage: str = ""
    preset: str = ""
    sampler: str = ""
    pruner: str = ""
    budget: str = ""
    counts: dict = field(default_factory=dict)   # COMPLETE, PRUNED, FAIL, RUNNING, HELD -> how many
    best_value: float | None = None
    best_trial: int | None = None
    best_run: str = ""
    best_params: dict = field(default_factory=dict)
    reason: str = ""

    def row(self) -> dict:
        count = self.counts.get
        return {"sweep": self.name, "state": self.state, "done": count("COMPLETE", 0), "pruned": count("PRUNED", 0),
                "failed": count("FAIL", 0), "running": count("RUNNING", 0), "held": count("HELD", 0),
                "budget": self.budget,
                "best val acc": f"{self.best_value:.4f}" if self.best_value is not None else "",
                "best run": self.best_run, "sampler / pruner": f"{self.sampler} / {self.pruner}",
                "storage": self.storage, "note": self.reason}


def summarize(sweep: Sweep) -> SweepSummary:
    trials = sweep.study.get_trials(deepcopy=False)
    counted = [t for t in trials if "skipped" not in t.user_attrs]
    counts = {}
    for trial in counted:
        counts[_state_name(trial)] = counts.get(_state_name(trial), 0) + 1
    complete = [t for t in counted if t.state.name == "COMPLETE" and t.value is not None]
    best = max(complete, key=lambda t: t.value, default=None)
    space = sweep.space
    budget = " and ".join(part for part in (
        f"{space.budget} trials" if space.budget else "", f"{space.timeout_minutes:g} min" if space.timeout_minutes else ""
    ) if part) or "no limit"
    summary = SweepSummary(sweep.name, _state(sweep, counts), shown_url(storage_url(sweep.runs_root, sweep.record)),
                           space.preset, space.sampler, space.pruner, budget, counts, reason=sweep.stop_reason or "")
    if best:
        summary.best_value, summary.best_trial = best.value, best.number
        summary.best_run, summary.best_params = best.user_attrs.get("run", ""), dict(best.params)
    return summary


def _state_name(trial) -> str:
    """Optuna's state, with HELD for a trial a sweep stop holds for its machine's resume."""
    return "HELD" if trial.state.name == "RUNNING" and trial.user_attrs.get("held") else trial.state.name


def is_live(summary: "SweepSummary") -> bool:
    """Whether a page showing the sweep should keep re-reading it."""
    return summary.state == WORKING or bool(summary.counts.get("RUNNING"))


def _state(sweep: Sweep, counts: dict) -> str:
    if sweep.stop_reason:
        return STOPPED
    if worker_alive(sweep.runs_root, sweep.name):
        return WORKING
    if not counts.get("RUNNING") and not budget_left(sweep):
        return FINISHED
    return IDLE


def sweep_summaries(runs_root: Path) -> list[SweepSummary]:
    """Every sweep this runs folder knows; one that cannot be read is a row saying why."""
    found = []
    for record in list_records(runs_root):
        if isinstance(record, tuple):  # (folder name, why its record cannot be read)
            found.append(SweepSummary(record[0], UNREADABLE, reason=str(record[1])))
            continue
        try:
            found.append(summarize(open_sweep(runs_root, record.name)))
        except Exception as err:  # a storage gone away mid-read: this sweep's row says so, the others stand
            found.append(SweepSummary(record.name, UNREADABLE, reason=one_line(err) if isinstance(err, EXPECTED_ERRORS)
                                      else f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"))
    return found


def trial_rows(sweep: Sweep) -> list[dict]:
    """One row per trial: number, state, value, its run, where it ran, its parameters."""
    rows = []
    for trial in sweep.study.get_trials(deepcopy=False):
        if "skipped" in trial.user_attrs:
            continue
        last = max(trial.intermediate_values) if trial.intermediate_values else None
        rows.append({"trial": trial.number, "state": _state_name(trial).lower().replace("complete", "finished"),
                     "best val acc": trial.value if trial.state.name == "COMPLETE" else None,
                     "epochs reported": last, "last val acc": trial.intermediate_values[last] if last else None,
                     "run": trial.user_attrs.get("run", ""),
                     "host": trial.user_attrs.get("host", ""), **trial.params,
                     "error": trial.user_attrs.get("error", "")})
    return rows
