"""Refits: a finished run's recipe trained again on every labelled image, for the final submission.

Validation chose the recipe and its length; the refit spends the held-out images on training
instead, runs the same number of epochs (no epoch can be chosen without a validation split) and
predicts with its last weights. Several seeds of one refit are queued together and averaged on
Submit. A refit is marked in its config (`refit_of`: the run it refits) so that every page can
say what it is and refuse what it cannot do (score it on a validation split it does not have).
"""
import dataclasses
from pathlib import Path

from julia_core.data.dataset import KaggleDataset
from julia_core.errors import RunError
from julia_core.runs import launcher
from julia_core.runs.listing import Run
from julia_core.runs.status import FINISHED
from julia_core.runs.store import RunDir
from julia_core.training.config import TrainConfig, validate
from julia_core.training.pretrain import pretraining_seed

MAX_SEEDS = 20
MAX_NAME = 64  # training.config.NAME_PATTERN's limit


def can_refit(run: Run) -> bool:
    """Whether a run offers "Refit on all labelled images": finished, not a refit itself, not a
    pre-training run."""
    return run.state == FINISHED and not run.is_refit and not run.is_pretraining


def check_refittable(run: Run) -> TrainConfig:
    """The config of a run that can be refit: intact, finished, not itself a refit, its data set
    still there. One line naming the run otherwise."""
    run.require_intact()
    config = run.config
    if config.is_refit:
        raise RunError(f"{run.name} is itself a refit of {config.refit_of}: refit {config.refit_of} instead")
    if run.state != FINISHED:
        raise RunError(f"{run.name} is {run.state}: only a finished run has a recipe and length to refit")
    if config.synthetic:
        raise RunError(f"{run.name} pre-trains on synthetic characters: start a run from its weights instead")
    KaggleDataset(Path(config.data).expanduser())  # a DataError naming the folder if it is gone or broken
    return config


@dataclasses.dataclass(frozen=True)
class RefitPlan:
    """How to refit a run: `seeds` seeds (its own seed, then the next ones), its epochs and device
    unless given, and whether each further seed pre-trains for itself (`own_pretraining`: an
    ensemble whose members differ more, at a pre-training per seed; docs/EXPERIMENTS.md, session
    13) or fine-tunes the run's cached pre-training (the default: no new pre-training)."""
    seeds: int = 1
    epochs: int | None = None
    device: str | None = None
    own_pretraining: bool = False


def refit_configs(run: Run, plan: RefitPlan = RefitPlan()) -> list[TrainConfig]:
    """The refit of `run` by `plan`: every option as the run had it but the split (none: every
    labelled image trains), the seed, and the epochs and device where the plan gives them."""
    config = check_refittable(run)
    seeds = plan.seeds
    if not 1 <= seeds <= MAX_SEEDS:
        raise RunError(f"seeds must be between 1 and {MAX_SEEDS}, got {seeds}")
    base = config.name or launcher.default_name(config)
    configs = []
    shared = pretraining_seed(config)
    for offset in range(seeds):
        seed = config.seed + offset
        suffix = "-refit" if seeds == 1 else f"-refit-seed{seed}"
        name = base[:MAX_NAME - len(suffix)].rstrip("-._") + suffix
        refit = dataclasses.replace(
            config, refit_of=run.name, val_fraction=0.0, folds=0, fold=0, split_seed=-1, group="", seed=seed,
            pretrain_seed=further_pretrain_seed(seed, shared, plan.own_pretraining) if offset else config.pretrain_seed,
            epochs=plan.epochs or config.epochs, name=name, device=plan.device or config.device, sweep="", trial=-1)
        validate(refit)
        configs.append(refit)
    return configs


def further_pretrain_seed(seed: int, shared: int, own_pretraining: bool) -> int:
    """pretrain_seed of a refit's further seed: its own (-1) or the run's pre-training (written as
    -1 where that is the seed's own anyway, so that equal recipes read the same)."""
    return -1 if own_pretraining or seed == shared else shared


def launch_refit(run: Run, runs_root: Path, plan: RefitPlan = RefitPlan()) -> list[RunDir]:
    """Queue the refit's runs (they start as the queue has room); returns their directories."""
    configs = refit_configs(run, plan)
    run_dirs = [launcher.prepare_run(config, runs_root) for config in configs]
    launcher.schedule(runs_root)
    return run_dirs


def refit_families(runs: list[Run]) -> dict[str, list[Run]]:
    """Finished refits of one run and one length, newest source first: Submit's one-choice
    ensembles of seeds (refits of other lengths are another family)."""
    families: dict[str, list[Run]] = {}
    for run in runs:
        if run.state == FINISHED and run.is_refit:
            families.setdefault(f"{run.config.refit_of}, {run.config.epochs} epochs", []).append(run)
    return dict(sorted(families.items(), reverse=True))
