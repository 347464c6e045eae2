"""Choosing among many runs: a filter (state, tag, name pattern, model, preset, sweep, a range of
best validation accuracy, archived or not) and groups by any training option. The same rules for
every page's run chooser and the CLI's `runs`."""
import dataclasses
import fnmatch
import re
from dataclasses import dataclass

from julia_core.errors import JuliaError
from julia_core.runs.listing import Run
from julia_core.runs.status import DAMAGED, STATES
from julia_core.runs.store import RUN_FOLDER
from julia_core.training.config import TrainConfig

FILTER_STATES = STATES + (DAMAGED,)
GROUPABLE = tuple(f.name for f in dataclasses.fields(TrainConfig) if f.name not in ("data", "name", "init"))
NO_GROUP = "(unreadable)"  # the group of a run whose config cannot be read


@dataclass(frozen=True)
class RunFilter:
    """Every field empty: every run not archived. Fields narrow together (a run must pass all);
    within a field any of the values passes, but tags: a run must carry every tag asked for."""
    states: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    name: str = ""                 # a glob (*, ?, [..]) on the run's name, or a part of it; any case
    models: tuple[str, ...] = ()
    presets: tuple[str, ...] = ()
    sweeps: tuple[str, ...] = ()
    min_acc: float | None = None   # a range of best validation accuracy leaves out runs without one
    max_acc: float | None = None
    archived: bool = False         # True: archived runs are listed too

    def __post_init__(self):
        unknown = sorted(set(self.states) - set(FILTER_STATES))
        if unknown:
            raise JuliaError(f"state {unknown[0]!r} is not one of {', '.join(FILTER_STATES)}")
        for bound in (self.min_acc, self.max_acc):
            if bound is not None and not 0.0 <= bound <= 1.0:
                raise JuliaError(f"accuracy bound {bound} is outside 0..1")
        if self.min_acc is not None and self.max_acc is not None and self.min_acc > self.max_acc:
            raise JuliaError(f"accuracy range {self.min_acc}..{self.max_acc} is reversed")

    def passes(self, run: Run) -> bool:
        config = run.config
        checks = (
            self.archived or not run.archived,
            not self.states or run.state in self.states,
            all(tag in run.tags for tag in self.tags),
            not self.name or name_matches(run.name, self.name),
            not self.models or run.model in self.models,
            not self.presets or (config is not None and (config.preset or "(none)") in self.presets),
            not self.sweeps or (config is not None and config.sweep in self.sweeps),
            self._in_range(best_accuracy(run)),
        )
        return all(checks)

    def _in_range(self, accuracy: float | None) -> bool:
        if self.min_acc is None and self.max_acc is None:
            return True
        if accuracy is None:
            return False
        return (self.min_acc is None or accuracy >= self.min_acc) and (self.max_acc is None or accuracy <= self.max_acc)


def select(runs: list[Run], run_filter: RunFilter) -> list[Run]:
    return [run for run in runs if run_filter.passes(run)]


def name_matches(name: str, pattern: str) -> bool:
    """A glob matches the whole folder name or the name after its creation time ('wide*' finds
    20261203-101500-wide64); a plain text, any part of it. Case is ignored."""
    pattern, name = pattern.strip().lower(), name.lower()
    if any(char in pattern for char in "*?["):
        short = re.sub(RUN_FOLDER, "", name, count=1)
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(short, pattern)
    return pattern in name


def best_accuracy(run: Run) -> float | None:
    return run.status.best if run.status and not run.damaged else None


def choices(runs: list[Run]) -> dict[str, list[str]]:
    """The values each filter field can take among these runs, for the pages' select boxes."""
    configs = [run.config for run in runs if run.config]
    return {
        "states": [state for state in FILTER_STATES if any(run.state == state for run in runs)],
        "tags": sorted({tag for run in runs for tag in run.tags}),
        "models": sorted({run.model for run in runs}),
        "presets": sorted({config.preset or "(none)" for config in configs}),
        "sweeps": sorted({config.sweep for config in configs if config.sweep}),
    }


def group_of(run: Run, option: str) -> str:
    """The run's value of a training option, as text: its group when runs are grouped by it."""
    if option not in GROUPABLE:
        raise JuliaError(f"cannot group by {option!r}: not a training option (try model, preset, lr, image_size, ...)")
    if run.config is None:
        return NO_GROUP
    value = getattr(run.config, option)
    return f"{value:.10g}" if isinstance(value, float) else str(value)  # close rates of a sweep stay apart


def groups(runs: list[Run], option: str) -> dict[str, list[Run]]:
    """Runs by their value of `option`, groups in the order of their first run."""
    found: dict[str, list[Run]] = {}
    for run in runs:
        found.setdefault(group_of(run, option), []).append(run)
    return found
