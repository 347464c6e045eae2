"""The trainer process: one run directory in, a trained model and its artefacts out. Read top to bottom:

main -> run -> fit: the device, the data (and pseudo-labels), the model (from a checkpoint, a
run's weights, or pre-training), then for each epoch the loop's `train_one_epoch`, `evaluate`,
and `end_epoch` (events, checkpoints, summary.csv, status) -> the test predictions -> finished.
SIGTERM (Stop) finishes the current step, saves last.pt and ends in state 'stopped'; a resume
continues from last.pt, mid-epoch included. A sweep's trial reports each epoch's validation
accuracy to its study (julia_core.sweeps.report) and ends 'pruned' when the pruner says so. Whatever way the trainer ends that its own code
sees, `main` starts the next queued run.
"""
import logging
import os
import socket
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import psutil
import torch
import torch.distributed as dist
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams
from tqdm import tqdm

from julia_core.data.classes import NUM_CLASSES
from julia_core.errors import JuliaError
from julia_core.predict.inference import predict_as_trained
from julia_core.predict.pseudo_labels import add_pseudo_labelled
from julia_core.predict.submission import write_submission
from julia_core.runs import launcher
from julia_core.runs.status import FAILED, FINISHED, PRUNED, QUEUED, RUNNING, STOPPED, now
from julia_core.runs.store import BEST, LAST, RunDir, load_init_weights, prediction_checkpoint
from julia_core.runs.system_metrics import SystemMetrics
from julia_core.sweeps.report import TrialReporter
from julia_core.training.config import ConfigError, TrainConfig
from julia_core.training.tensors import Data, load_data
from julia_core.training.device import check_gpu_count, cpu_threads, device_name, select_device
from julia_core.training.loop import EpochResult, TrainState, evaluate, no_op, train_one_epoch
from julia_core.training.models import build_model, count_parameters
from julia_core.training.pretrain import draw_synthetic_data, export_pretrained, pretrained_weights
from julia_core.training.weights import RUN_STEM
from julia_core.training.stop_flag import StopFlag

log = logging.getLogger("julia_core.trainer")


@dataclass
class Peers:
    """Where this process sits in a DDP group (world 1: alone). Only rank 0 writes files."""
    world: int = 1
    rank: int = 0
    local_rank: int = 0

    @classmethod
    def from_environment(cls) -> "Peers":
        return cls(int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0)),
                   int(os.environ.get("LOCAL_RANK", 0)))

    @property
    def writes(self) -> bool:
        return self.rank == 0


# -- the entry the CLI and the launcher call -------------------------------------------------------
def main(run_dir: RunDir, resume: bool, show_progress: bool, console: bool) -> int:
    """Train in this process, or under torchrun for `gpus` > 1; then start whatever is queued.
    Returns the exit code: 0 finished, stopped or pruned, 1 failed."""
    in_torchrun = "WORLD_SIZE" in os.environ
    try:
        if in_torchrun:
            return run(run_dir, resume, show_progress, console)
        try:
            config = run_dir.read_config()
            if config.gpus > 1:
                check_gpu_count(config.device, config.gpus)
        except JuliaError as err:  # damaged after it was queued, or more GPUs than here: say so in its status
            return _end_unstarted(run_dir, FAILED, error=str(err))
        gpus = config.gpus
        if StopFlag.requested:  # a Stop during the imports (the CLI's early handler kept it)
            return _end_unstarted(run_dir, STOPPED)
        if gpus > 1:
            return _under_torchrun(run_dir, gpus, resume)
        return run(run_dir, resume, show_progress, console)
    finally:
        if not in_torchrun:  # torchrun's workers leave this to the process that started them
            _close_unended(run_dir)
            launcher.schedule(run_dir.path.parent)


def _end_unstarted(run_dir: RunDir, state: str, error: str | None = None) -> int:
    """End a run this process takes but never trains: failed (its config is damaged) or stopped."""
    claim = Claim.take(run_dir)
    if claim:
        claim.update(state=state, error=error, ended=now())
    return 0 if state == STOPPED else 1


def _close_unended(run_dir: RunDir) -> None:
    """A run this process trained that still says 'running' (its last status write failed, or
    something escaped every handler) is failed now, so that its slot frees at once."""
    try:
        run_dir.update_status_if(lambda s: s.state == RUNNING and s.pid == os.getpid(), state=FAILED,
                                 error="the trainer ended without recording how", ended=now(),
                                 log_tail=run_dir.log_tail())
    except (OSError, JuliaError):
        pass


def _under_torchrun(run_dir: RunDir, gpus: int, resume: bool) -> int:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}",
               "-m", "julia_core", "train", "--run-dir", str(run_dir.path), "--no-progress"]
    code = subprocess.call(command + (["--resume-in-place"] if resume else []))
    # workers that died without a word leave the run 'running' with rank 0's pid, now dead (a run
    # rank 0 refused, held by another live trainer, is left alone)
    run_dir.update_status_if(lambda s: s.state == RUNNING and not launcher.trainer_alive(s), state=FAILED,
                             error=f"torchrun exited with code {code}", ended=now(), log_tail=run_dir.log_tail())
    return code


def run(run_dir: RunDir | Path, resume: bool = False, show_progress: bool = True, console: bool = True) -> int:
    """Train the run described by its config.json; its status.json says how it ended.
    Returns the process exit code: 0 finished, stopped or pruned, 1 failed."""
    run_dir = RunDir(run_dir)
    peers = Peers.from_environment()
    with logging_to(run_dir, console) if peers.writes else nullcontext():
        return _run_logged(run_dir, peers, resume, show_progress)


def _run_logged(run_dir: RunDir, peers: "Peers", resume: bool, show_progress: bool) -> int:
    claim = Claim.take(run_dir) if peers.writes else None
    if peers.writes and claim is None:
        log.error("%s is not queued for this process (another trainer holds it, or its %s cannot be read): "
                  "left as it is", run_dir.name, RunDir.STATUS)
        return 1
    previous_handlers = StopFlag.install()
    reporter, state, message = None, FAILED, None
    try:
        config = run_dir.read_config()
        reporter = TrialReporter.open(config, run_dir.path.parent, run_dir.name) if claim else None
        state = STOPPED if StopFlag.requested else fit(config, run_dir, claim, resume, show_progress, reporter)
        if claim:
            claim.update(state=state, ended=now(), eta_seconds=0 if state == FINISHED else None)
            log.info("%s: %s", state, run_dir.name)
        return 0
    except ClaimLost as err:
        log.error("%s", err)
        state = None  # the run, and its trial, are another trainer's now
        return 1
    except Exception as err:  # any failure becomes a readable state; the traceback goes to the log
        message = failure_message(err)
        if claim:
            log.error("failed: %s\n%s", message, traceback.format_exc())
            try:
                claim.update(state=FAILED, error=message, ended=now(), log_tail=run_dir.log_tail())
            except ClaimLost as lost:
                log.error("%s", lost)
                state = None
        return 1
    finally:
        StopFlag.restore(previous_handlers)
        if reporter:
            reporter.finish(state, _best_so_far(run_dir), message)


def _best_so_far(run_dir: RunDir) -> float | None:
    try:
        return run_dir.read_status().best
    except JuliaError:
        return None


class ClaimLost(JuliaError):
    """Another trainer took this trainer's run (it was thought dead and resumed): stop writing."""


@dataclass
class Claim:
    """This trainer's hold on its run's status.json. Every write names the trainer (state, pid,
    group, host, start), so a status.json damaged mid-run is rewritten whole enough for the
    dead-run check and Stop to find its trainer again; and every write first checks the run is
    still this trainer's."""
    run_dir: RunDir
    trainer: dict

    @classmethod
    def take(cls, run_dir: RunDir) -> "Claim | None":
        """The run, if it is queued, or recorded as running in this process or the one that started
        it (the launcher's child under torchrun); None when another trainer holds it or its status
        cannot be read. Checked under the status lock, so two trainers never both take one run."""
        lineage = {os.getpid(), *(parent.pid for parent in psutil.Process().parents())}
        trainer = dict(state=RUNNING, pid=os.getpid(), pgid=os.getpgrp(), host=socket.gethostname(), started=now())

        def free_or_ours(status) -> bool:
            return status.state == QUEUED or (status.state == RUNNING and status.pid in lineage)
        taken = run_dir.update_status_if(free_or_ours, **trainer, ended=None, error=None, resume=False)
        return cls(run_dir, trainer) if taken else None

    def update(self, **changes) -> None:
        """Write the changes while the run is still this trainer's; ClaimLost once another has it."""
        if self.run_dir.update_status_if(self._holds, or_if_damaged=True, **{**self.trainer, **changes}) is None:
            raise ClaimLost(f"{self.run_dir.name}: another trainer (pid {self._holder()}) took this run; "
                            "this one stops without writing to it again")

    def _holds(self, status) -> bool:
        return status.pid == self.trainer["pid"]

    def _holder(self) -> str:
        try:
            return str(self.run_dir.read_status().pid)
        except JuliaError:
            return "?"


@contextmanager
def logging_to(run_dir: RunDir, console: bool):
    """julia_core's loggers write to the run's train.log (and stdout) while the run trains; the
    process's own logging setup is left as it was (the CLI and the tests train in-process too)."""
    logger = logging.getLogger("julia_core")
    handlers = [logging.FileHandler(run_dir.log_file)] + ([logging.StreamHandler(sys.stdout)] if console else [])
    formatter = logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S")
    before = logger.level, logger.propagate
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # not again through Python's last-resort handler into train.log
    try:
        yield
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.level, logger.propagate = before


def failure_message(err: Exception) -> str:
    if isinstance(err, torch.OutOfMemoryError):
        return "out of memory on the device: lower the batch size or the image size"
    if isinstance(err, MemoryError):
        return "out of memory (host RAM): lower the image size or use the 20x20 copies"
    if isinstance(err, JuliaError):
        return str(err)
    if isinstance(err, OSError) and err.strerror:  # a full disk, a vanished folder
        where = f" {Path(err.filename).name}" if err.filename else ""
        return f"could not write{where}: {err.strerror}"
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first}"


# -- the run ---------------------------------------------------------------------------------------
def take_cpu_share(world: int) -> None:
    """This process's share of the cores, for DDP's `world` processes per run and the runs allowed
    at once (not those running now): torch takes every core in each process otherwise. Never more
    threads than it had (an OMP_NUM_THREADS stands)."""
    allowed = launcher.max_concurrent()
    threads = min(torch.get_num_threads(), cpu_threads(world * allowed))
    if world * allowed > 1:
        log.info("%d CPU threads: a share of the cores for %d process(es) per run and up to %d runs at once",
                 threads, world, allowed)
    torch.set_num_threads(threads)


def fit(config: TrainConfig, run_dir: RunDir, claim: Claim | None, resume: bool, show_progress: bool,
        reporter: TrialReporter | None = None) -> str:
    """Train; returns the final state ('finished', 'stopped', or a sweep's trial 'pruned')."""
    peers = Peers.from_environment()
    device = select_device(config.device, peers.local_rank)
    if device.type == "cpu":
        take_cpu_share(peers.world)
    if peers.world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    if config.batch_size % peers.world:
        raise ConfigError(f"batch size {config.batch_size} must divide evenly over {peers.world} processes")
    if config.synthetic and not draw_synthetic(config, claim):
        log.info("stopped while drawing the synthetic set; Resume draws it again")
        return STOPPED
    torch.manual_seed(config.seed)
    data = prepare_data(config, device)
    steps_per_epoch = len(data.train_y) // config.batch_size
    if steps_per_epoch == 0:
        raise ConfigError(f"batch size {config.batch_size} is larger than the {len(data.train_y)} "
                          "training images")
    model = build_model(config.model, data.channels, config.channels_last).to(device)
    state = TrainState.build(config, model, steps_per_epoch)
    state.world, state.rank = peers.world, peers.rank
    if not starting_weights(state, config, run_dir, claim, resume, device):
        log.info("stopped during pre-training; Resume starts the run again (a synthetic set drawn to its end is cached)")
        return STOPPED
    torch.manual_seed(config.seed * 7919 + peers.rank * 104_729 + state.progress.step)  # augmentation draws
    if peers.world > 1:
        state.net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        state.net = torch.compile(state.net)
    record = RunRecord(claim, config, state, steps_per_epoch, reporter) if claim else None
    if record:
        record.open(resume, device, data)
    result = train_epochs(state, data, config, record, show_progress and peers.writes)
    if record:
        record.close()
        if result == FINISHED:
            write_test_predictions(state.model, data, config, run_dir)
            if config.synthetic:
                card = export_pretrained(state.model, config, run_dir.path)
                log.info("wrote %s.pt and its card: %s; ship it with: python -m julia_core weights ship %s",
                         RUN_STEM, card.describe(), run_dir.name)
    if peers.world > 1:
        dist.destroy_process_group()
    return result


def draw_synthetic(config: TrainConfig, claim: Claim | None) -> bool:
    """A pre-training run's synthetic set, drawn at its start (the status shows how far); False
    when a stop request ended the drawing."""
    show = claim.update if claim else no_op
    total = config.synthetic * NUM_CLASSES

    def on_progress(done: int, _total: int) -> None:
        if done % 4096 < 64 or done == total:  # a status write every 64 chunks, not every chunk
            show(phase=f"drawing {total} synthetic characters: {done} drawn")
    show(phase=f"drawing {total} synthetic characters")
    drawn = draw_synthetic_data(config, on_progress)
    show(phase=None)
    return drawn


def prepare_data(config: TrainConfig, device: torch.device) -> Data:
    """The run's images, and the test images its teachers label confidently when it has some."""
    data = load_data(config, device)
    if config.pseudo_label:
        data, added = add_pseudo_labelled(data, config)
        log.info("pseudo-labels: %d of %d test images at mean teacher confidence >= %.2f", added,
                 len(data.test_ids), config.pseudo_threshold)
    return data


def starting_weights(state: TrainState, config: TrainConfig, run_dir: RunDir, claim: Claim | None, resume: bool,
                     device) -> bool:
    """Load what the run starts from: its own last.pt (resume), another run's weights (init), or
    pre-training on synthetic characters. False when a stop request ended the pre-training."""
    checkpoint = None
    if resume:
        checkpoint = run_dir.load_checkpoint(LAST, map_location=device)
        state.restore(checkpoint)
        p = state.progress
        log.info("resumed from checkpoints/last.pt: epoch %d, batch %d, step %d", p.epoch, p.batch, p.step)
    elif config.init:
        state.model.load_state_dict(load_init_weights(config.init, config.model, config.mode, map_location=device))
        log.info("started from the weights in %s", config.init)
    elif config.pretrain:
        started = time.perf_counter()
        weights = pretrain(config, device, claim)
        if weights is None:
            return False
        state.model.load_state_dict(weights)
        state.progress.wall_seconds = time.perf_counter() - started
    state.start_average(config.ema, checkpoint)
    return True


def pretrain(config: TrainConfig, device, claim: Claim | None) -> dict | None:
    """Weights learnt on synthetic characters (cached per recipe and seed); the status shows the phase."""
    show = claim.update if claim else no_op

    def on_epoch(epoch: int, epochs: int, acc: float) -> None:
        show(phase=f"pre-training on synthetic characters: epoch {epoch}/{epochs}, synthetic val acc {acc:.3f}")
    show(device=device_name(device), phase="pre-training on synthetic characters")
    weights = pretrained_weights(config, device, on_epoch)
    show(phase=None)
    return weights


def train_epochs(state: TrainState, data: Data, config: TrainConfig, record: "RunRecord | None",
                 show_progress: bool) -> str:
    """Epoch after epoch until the last, a stop request, or the sweep's pruner ending the trial;
    returns 'finished', 'stopped' or 'pruned'."""
    progress = state.progress
    steps_per_epoch = len(data.train_y) // config.batch_size
    for epoch in range(progress.epoch + 1, config.epochs + 1):
        bar = _progress_bar(show_progress, epoch, config.epochs, steps_per_epoch, progress.batch)
        result = train_one_epoch(state, data, config, epoch, on_step=_with_bar(record.on_step if record else None, bar),
                                 on_loss=record.on_loss if record else no_op)
        if bar:
            bar.close()
        if record:
            record.add_wall_time()
        if result.stopped and progress.batch < steps_per_epoch:
            if record:
                record.save_mid_epoch(epoch, steps_per_epoch)
            return STOPPED
        progress.epoch, progress.batch = epoch, 0
        pruned = record.end_epoch(result, data) if record else False
        if state.world > 1:
            pruned = _rank_zero_says(pruned, state)  # every rank ends the trial together
        if pruned:
            log.info("pruned after epoch %d: the sweep's pruner ended this trial (checkpoints kept)", epoch)
            return PRUNED
        if result.stopped:
            return STOPPED
    return FINISHED


def _rank_zero_says(flag: bool, state: TrainState) -> bool:
    """Rank 0's flag on every rank of a DDP group (it alone hears the study)."""
    device = next(state.model.parameters()).device
    value = torch.tensor([1 if flag else 0], device=device)
    dist.broadcast(value, src=0)
    return bool(value.item())


class RunRecord:
    """What a reader of the run directory sees of the training: TensorBoard events, checkpoints,
    validation predictions, summary.csv and the status. Rank 0 only."""

    def __init__(self, claim: Claim, config: TrainConfig, state: TrainState, steps_per_epoch: int,
                 reporter: TrialReporter | None = None):
        self.claim, self.run_dir, self.config, self.state = claim, claim.run_dir, config, state
        self.reporter = reporter
        self.total_steps = config.epochs * steps_per_epoch
        self.steps_per_epoch = steps_per_epoch
        self.writer = None
        self.started = time.perf_counter()
        self.first_step = state.progress.step
        self.wall_before = state.progress.wall_seconds
        self.last_status = 0.0
        self.system: SystemMetrics | None = None

    def open(self, resume: bool, device, data: Data) -> None:
        again = resume or bool(self.run_dir.event_files())  # a resume, or a start again
        self.writer = SummaryWriter(str(self.run_dir.path), purge_step=self.state.progress.step + 1 if again else None)
        if not resume:
            _write_hparams(self.writer, self.config)
        self.system = SystemMetrics(device)
        log.info("%s on %s: %d parameters, %d train / %d val images, %d steps per epoch, world %d",
                 self.config.model, device_name(device), count_parameters(self.state.model), len(data.train_y),
                 len(data.val_y), self.steps_per_epoch, self.state.world)
        self.claim.update(device=device_name(device), epochs=self.config.epochs,
                                   total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch)

    def close(self) -> None:
        self.writer.close()

    def _eta(self) -> int:
        steps_per_second = (self.state.progress.step - self.first_step) / max(time.perf_counter() - self.started, 1e-9)
        return round((self.total_steps - self.state.progress.step) / max(steps_per_second, 1e-9))

    def on_step(self, batch: int, steps: int, images: int, seconds: float) -> None:
        """System figures every few seconds; progress in status.json, at most every 2 s."""
        if self.system and self.system.due():
            for tag, value in self.system.sample().items():
                self.writer.add_scalar(tag, value, self.state.progress.step)
        if time.perf_counter() - self.last_status < 2.0:
            return
        self.last_status = time.perf_counter()
        self.claim.update(step=self.state.progress.step, epoch_batch=batch,
                                   images_per_second=round(images / max(seconds, 1e-9), 1), eta_seconds=self._eta())

    def on_loss(self, step: int, loss: float) -> None:
        self.writer.add_scalar("train/loss_step", loss, step)

    def add_wall_time(self) -> None:
        self.state.progress.wall_seconds = self.wall_before + time.perf_counter() - self.started

    def save_mid_epoch(self, epoch: int, steps_per_epoch: int) -> None:
        self.run_dir.save_checkpoint(LAST, self.state.checkpoint(self.config))
        log.info("stopped at epoch %d, batch %d of %d; last.pt saved", epoch, self.state.progress.batch,
                 steps_per_epoch)

    def end_epoch(self, result: EpochResult, data: Data) -> bool:
        """Evaluate, log, checkpoint: everything a reader of the run directory sees per epoch. A
        refit has no validation images: its figures are the training side's, its checkpoint last.pt.
        A sweep's trial then reports to its study; returns True when the pruner ends it here."""
        state, config, progress = self.state, self.config, self.state.progress
        epoch = progress.epoch
        lr = state.optimizer.param_groups[0]["lr"]
        figures = {"train/loss": result.loss, "train/acc": result.acc, "lr": lr,
                   "throughput/images_per_second": result.images_per_second,
                   "time/epoch_seconds": result.seconds, "time/wall_seconds": progress.wall_seconds}
        val = evaluate(state.evaluated_model, data.val_x, data.val_y, config) if config.has_validation else None
        if val:
            figures.update({"val/loss": val.loss, "val/acc": val.acc})
        for tag, value in figures.items():
            self.writer.add_scalar(tag, value, epoch)
        improved = val is not None and val.acc > progress.best_val_acc
        if improved:
            progress.best_val_acc, progress.best_epoch = val.acc, epoch
        checkpoint = state.checkpoint(config)
        self.run_dir.save_checkpoint(LAST, checkpoint)
        if improved:
            self.run_dir.save_checkpoint(BEST, checkpoint)
            self.run_dir.write_val_predictions(data.val_ids, data.val_y.cpu().numpy(), val.probs.numpy(), epoch)
        if val:
            self.writer.add_scalar("hparams/best_val_acc", progress.best_val_acc, epoch)
            self.writer.add_scalar("hparams/final_val_acc", val.acc, epoch)
        self.writer.flush()
        self.run_dir.append_summary({"epoch": epoch, "step": progress.step,
                                     **{k.replace("/", "_"): round(v, 6) for k, v in figures.items()}})
        validation = dict(val_acc=val.acc, val_loss=val.loss, best_val_acc=progress.best_val_acc,
                          best_epoch=progress.best_epoch) if val else {}
        self.claim.update(epoch=epoch, epoch_batch=0, step=progress.step, train_loss=result.loss,
                          train_acc=result.acc, images_per_second=round(result.images_per_second, 1),
                          eta_seconds=self._eta(), **validation)
        seen = f"val loss {val.loss:.4f} acc {val.acc:.4f}" if val else "no validation (a refit)"
        log.info("epoch %d/%d  train loss %.4f acc %.4f  %s  lr %.2e  %.0f img/s  %.1f s%s", epoch, config.epochs,
                 result.loss, result.acc, seen, lr, result.images_per_second, result.seconds,
                 "  (best)" if improved else "")
        # reported every epoch (the pruning picture), but the last is never pruned: it is done
        pruned = bool(self.reporter and val and self.reporter.report(epoch, val.acc))
        return pruned and epoch < config.epochs


def _write_hparams(writer, config: TrainConfig) -> None:
    values = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in config.to_dict().items()}
    values.pop("data", None)  # a path: not a hyperparameter, and not for shared artefacts
    metrics = {"hparams/best_val_acc": 0.0, "hparams/final_val_acc": 0.0} if config.has_validation else {}
    experiment, start, end = hparams(values, metrics)
    for summary in (experiment, start, end):
        writer.file_writer.add_summary(summary)


def write_test_predictions(model, data: Data, config: TrainConfig, run_dir: RunDir) -> None:
    """submission.csv from the run's prediction checkpoint (best.pt; a refit's last.pt), when the
    data set has test images."""
    if data.test_x is None:
        return
    which = prediction_checkpoint(config)
    model.load_state_dict(run_dir.load_checkpoint(which, map_location=data.test_x.device)["model"])
    probs = predict_as_trained(model, data.test_x, config)
    write_submission(run_dir.submission_file, data.test_ids, probs.argmax(1).numpy())
    log.info("wrote %s (%d rows) from %s", RunDir.SUBMISSION, len(data.test_ids), run_dir.checkpoint_file(which).name)


def _progress_bar(enabled: bool, epoch: int, epochs: int, steps: int, initial: int):
    if not enabled:
        return None
    return tqdm(total=steps, initial=initial, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False,
                file=sys.stderr, dynamic_ncols=True)


def _with_bar(on_step, bar):
    on_step = on_step or no_op
    if bar is None:
        return on_step

    def both(batch, steps, images, seconds):
        bar.update(batch - bar.n)
        on_step(batch, steps, images, seconds)
    return both
