"""The training loop, read top to bottom: `train_one_epoch` and `evaluate` over a `TrainState`.

It knows nothing of run directories, pre-training or pseudo-labels: the trainer (runs/trainer.py)
and pre-training (training/pretrain.py) compose it. The whole data set lives on the device as one
uint8 tensor and augmentation runs batched there, so the hot loop has no per-image Python.
"""
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from julia_core.errors import TrainingFailed
from julia_core.predict.inference import predict_as_trained
from julia_core.training.augment import augment, mix_batch, to_input
from julia_core.training.config import TrainConfig
from julia_core.training.tensors import Data
from julia_core.training.device import autocast
from julia_core.training.stop_flag import StopFlag

CHECKPOINT_FORMAT = 1


@dataclass
class Progress:
    epoch: int = 0                 # completed epochs
    batch: int = 0                 # batches done in the epoch after `epoch` (a stop mid-epoch)
    step: int = 0                  # optimizer steps in all
    best_val_acc: float = -1.0
    best_epoch: int = 0
    wall_seconds: float = 0.0     # training wall time, evaluation and saving included, across resumes


# -- what the loop moves ----------------------------------------------------------------------------
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
    """OneCycle, warm-up then cosine, or constant, stepped once per optimizer step. The cosine is a
    LambdaLR (not SequentialLR of LinearLR and CosineAnnealingLR, which compute the same rates):
    a resumed run loads its scheduler's saved state, and every run so far saved a LambdaLR's."""
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


def build_average(model: torch.nn.Module, decay: float):
    """An exponential moving average of the weights and batch-norm statistics, or None (decay 0)."""
    if decay <= 0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@dataclass
class TrainState:
    """Everything one training process moves and saves: the model (and `net`, what the loop
    calls: the same model, perhaps in DDP or compiled), its optimizer, schedule, weight average,
    progress, and where this process sits among its peers."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object
    progress: Progress = field(default_factory=Progress)
    average: object = None
    net: torch.nn.Module | None = None
    world: int = 1
    rank: int = 0

    def __post_init__(self):
        self.net = self.net or self.model

    @classmethod
    def build(cls, config: TrainConfig, model: torch.nn.Module, steps_per_epoch: int) -> "TrainState":
        optimizer = build_optimizer(config, model)
        return cls(model, optimizer, build_scheduler(config, optimizer, steps_per_epoch))

    @property
    def evaluated_model(self) -> torch.nn.Module:
        """The weights the run evaluates, saves as 'model' and predicts with."""
        return self.average.module if self.average is not None else self.model

    def checkpoint(self, config: TrainConfig) -> dict:
        """One dict: 'model' holds the weights the run evaluates (the average, when on);
        'train_model' the weights the optimiser moves, kept only when they differ, for a resume."""
        weights = {"model": self.model.state_dict()}
        if self.average is not None:
            weights = {"model": self.average.module.state_dict(), "train_model": weights["model"],
                       "averaged_steps": int(self.average.n_averaged)}
        p = self.progress
        return {"format": CHECKPOINT_FORMAT, **weights,
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "epoch": p.epoch, "batch": p.batch, "step": p.step, "best_val_acc": p.best_val_acc,
                "best_epoch": p.best_epoch, "wall_seconds": p.wall_seconds, "config": config.to_dict()}

    def restore(self, checkpoint: dict) -> None:
        """Continue from a checkpoint() dict (the weight average is restored by restore_average)."""
        self.model.load_state_dict(checkpoint.get("train_model", checkpoint["model"]))
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.progress = Progress(checkpoint["epoch"], checkpoint["batch"], checkpoint["step"],
                                 checkpoint["best_val_acc"], checkpoint["best_epoch"],
                                 checkpoint.get("wall_seconds", 0.0))

    def start_average(self, decay: float, checkpoint: dict | None = None) -> None:
        """The weight average from now on, or as a checkpoint left it."""
        self.average = build_average(self.model, decay)
        if self.average is not None and checkpoint and "train_model" in checkpoint:
            self.average.module.load_state_dict(checkpoint["model"])
            self.average.n_averaged.fill_(checkpoint["averaged_steps"])


# -- the two loops ------------------------------------------------------------------------------------
def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The same permutation on every rank and after a resume."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=generator)


@dataclass
class EpochResult:
    loss: float
    acc: float
    images: int        # seen by all ranks
    seconds: float
    stopped: bool      # a stop request ended it after `progress.batch` batches
    steps: int         # batches in a whole epoch

    @property
    def images_per_second(self) -> float:
        return self.images / max(self.seconds, 1e-9)


def no_op(*args) -> None:
    pass


def train_one_epoch(state: TrainState, data: Data, config: TrainConfig, epoch: int,
                    on_step: Callable = no_op, on_loss: Callable = no_op) -> EpochResult:
    """One pass over the training images from state.progress.batch on. After each step
    on_step(batch, steps, images, seconds); every log_every steps on_loss(step, loss).
    A stop request ends it after the current step."""
    state.net.train()
    progress, world, rank = state.progress, state.world, state.rank
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
            logits = state.net(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=config.label_smoothing)
            if weight < 1.0:
                loss = weight * loss + (1 - weight) * F.cross_entropy(
                    logits.float(), y_other, label_smoothing=config.label_smoothing)
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.scheduler.step()
        if state.average is not None:
            state.average.update_parameters(state.model)
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
            on_loss(progress.step, value)
        on_step(batch + 1, steps, seen * world, time.perf_counter() - started)
        if _stop_everywhere(world, device):
            stopped = True
            break
    return EpochResult((loss_sum / max(seen, 1)).item(), (correct / max(seen, 1)).item(), seen * world,
                       time.perf_counter() - started, stopped, steps)


def _stop_everywhere(world: int, device) -> bool:
    """Every rank stops at the same step, or the others would wait forever in all-reduce."""
    if world == 1:
        return StopFlag.requested
    flag = torch.tensor([1.0 if StopFlag.requested else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


@dataclass
class Evaluation:
    loss: float
    acc: float
    probs: torch.Tensor  # (N, 62) softmax on the CPU


def evaluate(model, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig) -> Evaluation:
    probs = predict_as_trained(model, images, config)
    truth = labels.cpu()
    loss = -torch.log(probs[torch.arange(len(truth)), truth].clamp_min(1e-12)).mean().item()
    acc = (probs.argmax(1) == truth).float().mean().item()
    return Evaluation(loss, acc, probs)
