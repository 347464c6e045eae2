"""Train one model into one run directory. Read top to bottom:

load_data -> build model, optimizer, schedule -> for each epoch: train_one_epoch, evaluate,
log, checkpoint -> predict the test split -> finished. SIGTERM (Stop) finishes the current
step, saves last.pt and ends in state 'stopped'; --resume continues from last.pt, mid-epoch
included. The whole data set lives on the device as one uint8 tensor, augmentation runs
batched on the device, so the hot loop has no per-image Python.
"""
import csv
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from julia_core.runs import store as rundir
from julia_core.training.augment import augment, mix_batch, to_input
from julia_core.training.config import ConfigError, TrainConfig
from julia_core.data.dataset import KaggleDataset
from julia_core.errors import JuliaError
from julia_core.files import write_atomic
from julia_core.predict.inference import autocast, predict_probabilities
from julia_core.training.models import build_model, count_parameters
from julia_core.data.split import run_split
from julia_core.predict.submission import write_submission

log = logging.getLogger("julia_core.train")


class TrainingFailed(JuliaError):
    """A reason the run cannot go on (NaN loss, out of memory); becomes status.error."""


# -- where and what ---------------------------------------------------------------------------
def select_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' takes CUDA, then MPS, then the CPU; asking for one that is absent is an error."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if name == "cuda" and not cuda:
        raise ConfigError("device 'cuda' was asked for, but this machine has no usable CUDA GPU "
                          "(use --device auto or cpu)")
    if name == "mps" and not mps:
        raise ConfigError("device 'mps' was asked for, but Apple's MPS is not available here")
    return torch.device(f"cuda:{local_rank}" if name == "cuda" else name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return "Apple MPS" if device.type == "mps" else f"CPU ({os.cpu_count()} cores)"


@dataclass
class Data:
    train_x: torch.Tensor        # uint8 on the device
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    val_ids: np.ndarray
    test_x: torch.Tensor | None
    test_ids: np.ndarray | None
    channels: int


def load_data(config: TrainConfig, device: torch.device) -> Data:
    dataset = KaggleDataset(Path(config.data).expanduser())
    train = dataset.load("train", config.source, config.image_size, config.mode, config.keep_aspect)
    fit, val = run_split(train.labels, config)
    images = torch.from_numpy(train.images).to(device)
    labels = torch.from_numpy(train.labels).to(device)
    test_x = test_ids = None
    if config.source in dataset.sources("test"):
        test = dataset.load("test", config.source, config.image_size, config.mode, config.keep_aspect)
        test_x, test_ids = torch.from_numpy(test.images).to(device), test.ids
    fit_t, val_t = torch.from_numpy(fit).to(device), torch.from_numpy(val).to(device)
    train_x, train_y = images[fit_t], labels[fit_t]
    if config.pseudo_label:
        extra_x, extra_y = _pseudo_labelled(config, dataset, test_x, test_ids, device)
        train_x, train_y = torch.cat([train_x, extra_x]), torch.cat([train_y, extra_y])
    return Data(train_x, train_y, images[val_t], labels[val_t], train.ids[val],
                test_x, test_ids, 1 if config.mode == "L" else 3)


def _pseudo_labelled(config: TrainConfig, dataset: KaggleDataset, test_x, test_ids, device):
    """The test images the teacher runs label confidently, in this run's preprocessing."""
    from julia_core.predict.pseudo_labels import PseudoLabelError, check_teachers, pseudo_labels, teacher_refs
    if test_x is None:
        raise PseudoLabelError(f"{dataset.root}: no test images from source {config.source!r} to pseudo-label")
    teachers = check_teachers(teacher_refs(config.pseudo_label), config)
    ids, classes = pseudo_labels(teachers, dataset.root, config.pseudo_threshold, str(device))
    row = {int(i): n for n, i in enumerate(test_ids)}
    rows = torch.tensor([row[int(i)] for i in ids], dtype=torch.long, device=device)
    log.info("pseudo-labels: %d of %d test images at mean teacher confidence >= %.2f", len(ids), len(test_ids),
             config.pseudo_threshold)
    return test_x[rows], torch.from_numpy(classes).to(device)


def build_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    # No weight decay on biases and batch-norm scales: it only fights the normalisation.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # The fused kernels update every parameter in one pass: at batch 8 on a CPU the unfused
    # AdamW step of resnet18 costs as much as its forward pass.
    fused = next(model.parameters()).device.type in ("cpu", "cuda")
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True, fused=fused)
    return torch.optim.AdamW(groups, lr=config.lr, fused=fused)


def build_scheduler(config: TrainConfig, optimizer, steps_per_epoch: int):
    total = config.epochs * steps_per_epoch
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total,
                                                   pct_start=0.25)
    if config.schedule == "cosine":
        warmup = int(config.warmup_epochs * steps_per_epoch)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            progress = (step - warmup) / max(1, total - warmup)
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


# -- the two loops -----------------------------------------------------------------------------
@dataclass
class Progress:
    epoch: int = 0                 # completed epochs
    batch: int = 0                 # batches done in the epoch after `epoch` (a stop mid-epoch)
    step: int = 0                  # optimizer steps in all
    best_val_acc: float = -1.0
    best_epoch: int = 0
    wall_seconds: float = 0.0     # training wall time, evaluation and saving included, across resumes


class StopFlag:
    """Set by SIGTERM or SIGINT; the loop finishes its step, saves and leaves."""
    requested = False

    @classmethod
    def install(cls) -> dict:
        """Install the handlers (main thread only); returns the previous ones to restore."""
        cls.requested = False

        def handler(signum, frame):
            cls.requested = True
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)}

    @staticmethod
    def restore(previous: dict) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The same permutation on every rank and after a resume."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator)


def build_average(model: torch.nn.Module, decay: float):
    """An exponential moving average of the weights and batch-norm statistics, or None (decay 0)."""
    if decay <= 0:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def train_one_epoch(model, optimizer, scheduler, data: Data, config: TrainConfig, epoch: int,
                    progress: Progress, world: int, rank: int, writer, on_step, average=None) -> dict:
    """One pass over the training images from progress.batch on; returns the epoch's figures.
    A stop request ends it early with 'stopped': True after the current step."""
    model.train()
    device = data.train_x.device
    steps = len(data.train_y) // config.batch_size  # drop the last partial batch: BN needs > 1
    order = epoch_order(len(data.train_y), config.seed, epoch).to(device)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    seen, started = 0, time.perf_counter()
    stopped = False
    for batch in range(progress.batch, steps):
        indices = order[batch * config.batch_size:(batch + 1) * config.batch_size][rank::world]
        x = augment(to_input(data.train_x[indices], config.normalize), config.augment, config.normalize)
        if config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = data.train_y[indices]
        x, y_other, weight = mix_batch(x, y, config.mixup, config.cutmix)
        with autocast(device, config.amp):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            if weight < 1.0:
                loss = weight * loss + (1 - weight) * F.cross_entropy(
                    logits.float(), y_other, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if average is not None:
            average.update_parameters(_unwrap(model))
        progress.step += 1
        progress.batch = batch + 1
        loss_sum += loss.detach() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        if progress.step % config.log_every == 0 or batch == steps - 1:
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingFailed(f"loss became {value} at epoch {epoch}, step {progress.step}; "
                                     "try a lower learning rate")
            if writer:
                writer.add_scalar("train/loss_step", value, progress.step)
        on_step(batch + 1, steps, seen * world, time.perf_counter() - started)
        if _stop_everywhere(world, device):
            stopped = True
            break
    seconds = time.perf_counter() - started
    return {"loss": (loss_sum / max(seen, 1)).item(), "acc": (correct / max(seen, 1)).item(),
            "images": seen * world, "seconds": seconds, "stopped": stopped, "steps": steps}


def _stop_everywhere(world: int, device) -> bool:
    """Every rank stops at the same step, or the others would wait forever in all-reduce."""
    if world == 1:
        return StopFlag.requested
    flag = torch.tensor([1.0 if StopFlag.requested else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def evaluate(model, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig) -> dict:
    probs = predict_probabilities(model, images, config.normalize, config.eval_batch_size,
                                  config.amp, config.channels_last)
    truth = labels.cpu()
    loss = -torch.log(probs[torch.arange(len(truth)), truth].clamp_min(1e-12)).mean().item()
    acc = (probs.argmax(1) == truth).float().mean().item()
    return {"loss": loss, "acc": acc, "probs": probs}


# -- the run -----------------------------------------------------------------------------------
def checkpoint_dict(model, optimizer, scheduler, config: TrainConfig, progress: Progress, average=None) -> dict:
    """'model' holds the weights the run evaluates (the average, when on); 'train_model' the
    weights the optimiser moves, kept only when they differ, for a resume."""
    weights = {"model": _unwrap(model).state_dict()}
    if average is not None:
        weights = {"model": average.module.state_dict(), "train_model": weights["model"],
                   "averaged_steps": int(average.n_averaged)}
    return {"format": rundir.CHECKPOINT_FORMAT, **weights,
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "epoch": progress.epoch, "batch": progress.batch, "step": progress.step,
            "best_val_acc": progress.best_val_acc, "best_epoch": progress.best_epoch,
            "wall_seconds": progress.wall_seconds, "config": config.to_dict()}


def _unwrap(model):
    model = getattr(model, "_orig_mod", model)   # torch.compile
    return getattr(model, "module", model)        # DistributedDataParallel


def fit(config: TrainConfig, run_dir: Path, resume: bool, show_progress: bool) -> str:
    """Train; returns the final state ('finished' or 'stopped'). Only rank 0 writes files."""
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    main_process = rank == 0
    device = select_device(config.device, local_rank)
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    if config.batch_size % world:
        raise ConfigError(f"batch size {config.batch_size} must divide evenly over {world} processes")
    torch.manual_seed(config.seed)
    data = load_data(config, device)
    model = build_model(config.model, data.channels, config.channels_last).to(device)
    steps_per_epoch = len(data.train_y) // config.batch_size
    if steps_per_epoch == 0:
        raise ConfigError(f"batch size {config.batch_size} is larger than the {len(data.train_y)} "
                          "training images")
    optimizer = build_optimizer(config, model)
    scheduler = build_scheduler(config, optimizer, steps_per_epoch)
    progress = Progress()
    if resume:
        checkpoint = rundir.load_checkpoint(run_dir / rundir.LAST, map_location=device)
        model.load_state_dict(checkpoint.get("train_model", checkpoint["model"]))
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        progress = Progress(checkpoint["epoch"], checkpoint["batch"], checkpoint["step"],
                            checkpoint["best_val_acc"], checkpoint["best_epoch"], checkpoint.get("wall_seconds", 0.0))
        log.info("resumed from %s: epoch %d, batch %d, step %d", rundir.LAST, progress.epoch,
                 progress.batch, progress.step)
    elif config.init:
        model.load_state_dict(rundir.load_init_weights(config.init, config.model, map_location=device))
        log.info("started from the weights in %s", config.init)
    elif config.pretrain:
        started = time.perf_counter()
        weights = _pretrain(config, device, run_dir)
        if weights is None:
            log.info("stopped during pre-training; Resume starts the run again (the synthetic set is cached)")
            return "stopped"
        model.load_state_dict(weights)
        progress.wall_seconds = time.perf_counter() - started
    average = build_average(model, config.ema)
    if average is not None and resume and "train_model" in checkpoint:
        average.module.load_state_dict(checkpoint["model"])
        average.n_averaged.fill_(checkpoint["averaged_steps"])
    torch.manual_seed(config.seed * 7919 + rank * 104_729 + progress.step)  # augmentation draws
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        net = torch.compile(net)

    writer = None
    total_steps = config.epochs * steps_per_epoch
    if main_process:
        from torch.utils.tensorboard import SummaryWriter
        again = resume or any(run_dir.glob("events.out.tfevents.*"))  # a resume, or a start again
        writer = SummaryWriter(str(run_dir), purge_step=progress.step + 1 if again else None)
        if not resume:
            _write_hparams(writer, config)
        log.info("%s on %s: %d parameters, %d train / %d val images, %d steps per epoch, world %d",
                 config.model, device_name(device), count_parameters(model), len(data.train_y),
                 len(data.val_y), steps_per_epoch, world)
        rundir.update_status(run_dir, state="running", device=device_name(device), epochs=config.epochs,
                             total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    run_started, run_step0, wall0 = time.perf_counter(), progress.step, progress.wall_seconds
    last_status = [0.0]

    def on_step(batch: int, steps: int, images: int, seconds: float) -> None:
        if not main_process or time.perf_counter() - last_status[0] < 2.0:
            return
        last_status[0] = time.perf_counter()
        rate = (progress.step - run_step0) / max(time.perf_counter() - run_started, 1e-9)
        rundir.update_status(run_dir, step=progress.step, epoch_batch=batch,
                             images_per_second=round(images / max(seconds, 1e-9), 1),
                             eta_seconds=round((total_steps - progress.step) / max(rate, 1e-9)))

    state = "finished"
    for epoch in range(progress.epoch + 1, config.epochs + 1):
        bar = _progress_bar(show_progress and main_process, epoch, config.epochs, steps_per_epoch, progress.batch)
        result = train_one_epoch(net, optimizer, scheduler, data, config, epoch, progress, world, rank,
                                 writer, _with_bar(on_step, bar), average)
        if bar:
            bar.close()
        progress.wall_seconds = wall0 + time.perf_counter() - run_started
        if result["stopped"] and progress.batch < steps_per_epoch:
            state = "stopped"
            if main_process:
                rundir.save_checkpoint(run_dir / rundir.LAST, checkpoint_dict(net, optimizer, scheduler, config, progress,
                                                                                  average))
                log.info("stopped at epoch %d, batch %d of %d; last.pt saved", epoch, progress.batch, steps_per_epoch)
            break
        progress.epoch, progress.batch = epoch, 0
        if main_process:
            _end_epoch(net, optimizer, scheduler, data, config, progress, result, writer, run_dir, total_steps,
                       run_started, run_step0, average)
        if world > 1:
            dist.barrier()
        if result["stopped"]:
            state = "stopped"
            break
    if main_process:
        writer.close()
        if state == "finished":
            _write_test_predictions(model, data, config, run_dir)
    if world > 1:
        dist.destroy_process_group()
    return state


def _pretrain(config: TrainConfig, device, run_dir: Path) -> dict | None:
    """Weights learnt on synthetic characters (cached per recipe and seed); the status shows the phase."""
    from julia_core.training.pretrain import pretrained_weights

    def on_epoch(epoch: int, epochs: int, acc: float) -> None:
        rundir.update_status(run_dir, phase=f"pre-training on synthetic characters: epoch {epoch}/{epochs}, "
                                            f"synthetic val acc {acc:.3f}")
    rundir.update_status(run_dir, state="running", device=device_name(device),
                         phase="pre-training on synthetic characters")
    weights = pretrained_weights(config, device, on_epoch)
    rundir.update_status(run_dir, phase=None)
    return weights


def _end_epoch(net, optimizer, scheduler, data, config, progress, result, writer, run_dir, total_steps,
               run_started, run_step0, average) -> None:
    """Evaluate, log, checkpoint: everything a reader of the run directory sees per epoch."""
    epoch = progress.epoch
    val = evaluate(average.module if average is not None else _unwrap(net), data.val_x, data.val_y, config)
    lr = optimizer.param_groups[0]["lr"]
    rate = result["images"] / max(result["seconds"], 1e-9)
    figures = {"train/loss": result["loss"], "train/acc": result["acc"], "val/loss": val["loss"],
               "val/acc": val["acc"], "lr": lr, "throughput/images_per_second": rate,
               "time/epoch_seconds": result["seconds"], "time/wall_seconds": progress.wall_seconds}
    for tag, value in figures.items():
        writer.add_scalar(tag, value, epoch)
    improved = val["acc"] > progress.best_val_acc
    if improved:
        progress.best_val_acc, progress.best_epoch = val["acc"], epoch
    checkpoint = checkpoint_dict(net, optimizer, scheduler, config, progress, average)
    rundir.save_checkpoint(run_dir / rundir.LAST, checkpoint)
    if improved:
        rundir.save_checkpoint(run_dir / rundir.BEST, checkpoint)
        _write_val_predictions(run_dir, data, val["probs"], epoch)
    writer.add_scalar("hparams/best_val_acc", progress.best_val_acc, epoch)
    writer.add_scalar("hparams/final_val_acc", val["acc"], epoch)
    writer.flush()
    _append_summary(run_dir, epoch, progress.step, figures)
    steps_per_second = (progress.step - run_step0) / max(time.perf_counter() - run_started, 1e-9)
    rundir.update_status(run_dir, epoch=epoch, epoch_batch=0, step=progress.step, val_acc=val["acc"],
                         val_loss=val["loss"], train_loss=result["loss"], train_acc=result["acc"],
                         best_val_acc=progress.best_val_acc, best_epoch=progress.best_epoch,
                         images_per_second=round(rate, 1),
                         eta_seconds=round((total_steps - progress.step) / max(steps_per_second, 1e-9)))
    log.info("epoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  lr %.2e  %.0f img/s  %.1f s%s",
             epoch, config.epochs, result["loss"], result["acc"], val["loss"], val["acc"], lr, rate,
             result["seconds"], "  (best)" if improved else "")


def _write_hparams(writer, config: TrainConfig) -> None:
    from torch.utils.tensorboard.summary import hparams
    values = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in config.to_dict().items()}
    values.pop("data", None)  # a path: not a hyperparameter, and not for shared artefacts
    experiment, start, end = hparams(values, {"hparams/best_val_acc": 0.0, "hparams/final_val_acc": 0.0})
    for summary in (experiment, start, end):
        writer.file_writer.add_summary(summary)


def _write_val_predictions(run_dir: Path, data: Data, probs: torch.Tensor, epoch: int) -> None:
    arrays = dict(ids=data.val_ids, labels=data.val_y.cpu().numpy(), probs=probs.numpy().astype(np.float32),
                  epoch=np.array(epoch))
    write_atomic(run_dir / rundir.VAL_PREDICTIONS, lambda file: np.savez(file, **arrays))


def _append_summary(run_dir: Path, epoch: int, step: int, figures: dict) -> None:
    path = run_dir / rundir.SUMMARY
    row = {"epoch": epoch, "step": step, **{k.replace("/", "_"): round(v, 6) for k, v in figures.items()}}
    new = not path.exists()
    with open(path, "a", newline="") as file:
        out = csv.DictWriter(file, fieldnames=list(row))
        if new:
            out.writeheader()
        out.writerow(row)


def _write_test_predictions(model, data: Data, config: TrainConfig, run_dir: Path) -> None:
    """submission.csv from the best checkpoint, when the data set has test images."""
    if data.test_x is None:
        return
    best = rundir.load_checkpoint(run_dir / rundir.BEST, map_location=data.test_x.device)
    model.load_state_dict(best["model"])
    probs = predict_probabilities(model, data.test_x, config.normalize, config.eval_batch_size,
                                  config.amp, config.channels_last)
    write_submission(run_dir / rundir.SUBMISSION, data.test_ids, probs.argmax(1).numpy())
    log.info("wrote %s (%d rows) from the best epoch", rundir.SUBMISSION, len(data.test_ids))


def _progress_bar(enabled: bool, epoch: int, epochs: int, steps: int, initial: int):
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=steps, initial=initial, desc=f"epoch {epoch}/{epochs}", unit="step", leave=False,
                file=sys.stderr, dynamic_ncols=True)


def _with_bar(on_step, bar):
    if bar is None:
        return on_step

    def both(batch, steps, images, seconds):
        bar.update(batch - bar.n)
        on_step(batch, steps, images, seconds)
    return both


# -- the entry the CLI and the launcher call ---------------------------------------------------
def setup_logging(run_dir: Path, console: bool) -> None:
    handlers = [logging.FileHandler(run_dir / rundir.LOG)]
    if console:
        handlers.append(logging.StreamHandler(sys.stdout))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
                        handlers=handlers, force=True)


def run(run_dir: Path, resume: bool = False, show_progress: bool = True, console: bool = True) -> int:
    """Train the run described by run_dir/config.json; status.json says how it ended.
    Returns the process exit code: 0 finished or stopped, 1 failed."""
    run_dir = Path(run_dir)
    config = TrainConfig.from_dict(rundir.read_json(run_dir / rundir.CONFIG))
    main_process = int(os.environ.get("RANK", 0)) == 0
    if main_process:
        setup_logging(run_dir, console)
        rundir.update_status(run_dir, state="running", pid=os.getpid(), pgid=os.getpgrp(),
                             host=socket.gethostname(), started=rundir.now(), ended=None, error=None,
                             resume=False)
    previous_handlers = StopFlag.install()
    try:
        state = fit(config, run_dir, resume, show_progress)
    except Exception as err:  # any failure becomes a readable state; the traceback goes to the log
        message = _failure_message(err)
        if main_process:
            log.error("failed: %s\n%s", message, traceback.format_exc())
            rundir.update_status(run_dir, state="failed", error=message, ended=rundir.now(),
                                 log_tail=rundir.log_tail(run_dir))
        return 1
    finally:
        StopFlag.restore(previous_handlers)
    if main_process:
        rundir.update_status(run_dir, state=state, ended=rundir.now(), eta_seconds=0 if state == "finished" else None)
        log.info("%s: %s", state, run_dir.name)
    return 0


def _failure_message(err: Exception) -> str:
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
