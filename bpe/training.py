"""THE training loop: train an architecture under a :class:`~bpe.config.BPEConfig` and
measure its validation accuracy.  Every estimator that trains calls :func:`train_and_evaluate`.

Recipe (NAS-Bench-201's, at the config's budget): SGD with Nesterov momentum, cosine
learning rate to 0 (per step), weight decay, cross-entropy, random crop + flip (+ cutout),
images resized to ``config.image_size`` after augmentation.  A non-finite loss ends the run
with ``status="failed"`` and the reason; it never produces an accuracy.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from bpe.config import BPEConfig
from bpe.data import DatasetSpec, TensorSplit, augment_batch, normalize, prepare_split
from bpe.runtime import EVAL_THREADS, autocast_context, layout_name, memory_format, resolve_device, torch_threads
from bpe.spaces import get_space

__all__ = ["TrainResult", "BatchStream", "sgd_with_cosine", "train_and_evaluate", "evaluate_model",
           "steps_per_epoch", "training_split", "nonfinite_loss", "StepTiming", "time_training_steps", "TimingAssumptions",
           "estimate_run_seconds"]

log = logging.getLogger(__name__)

EVAL_BATCH = 1024


@dataclass
class TrainResult:
    """Outcome of one training run.

    ``valid_accuracy`` is in percent.  ``seconds`` is the wall time of the whole run;
    ``data_seconds`` the part spent preparing batches (normalise, augment, resize) and
    ``eval_seconds`` the part spent on validation, so the loop's overhead can be audited.
    """

    status: str
    valid_accuracy: float | None
    valid_loss: float | None
    train_loss: float | None
    epochs_run: int
    seconds: float
    data_seconds: float
    eval_seconds: float
    device: str
    num_params: int
    error: str | None = None
    history: list[dict[str, float]] = field(default_factory=list)
    layout: str = "contiguous"
    #: training and validation images of the run (after the config's data fraction)
    n_train: int = 0
    n_valid: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Optimiser steps in one epoch over ``n`` examples: full batches of ``min(batch_size, n)``
    (the last partial batch is dropped), at least one.  The one formula for every loop and every
    cost estimate (:class:`BatchStream` iterates exactly this many batches)."""
    return max(1, n // min(batch_size, n))


def training_split(data: TensorSplit | DatasetSpec, config: BPEConfig) -> TensorSplit:
    """The tensors a run under ``config`` trains and validates on: ``data`` itself when it is
    tensors already, else ``config.data_fraction`` of the dataset's split
    (:func:`bpe.data.prepare_split`, cached per process).  The one place a setting's data
    fraction is applied."""
    return prepare_split(data, config.data_fraction) if isinstance(data, DatasetSpec) else data


def nonfinite_loss(loss: float, kind: str, epoch: int | None = None) -> str | None:
    """``None`` for a finite ``loss``, else the reason a run fails (the one non-finite check of
    the training loops: proxy training and one-shot supernets), e.g. ``"non-finite training
    loss (nan) in epoch 3; lower learning_rate or use fp32"``."""
    if math.isfinite(loss):
        return None
    where = f" in epoch {epoch}" if epoch is not None else ""
    return f"non-finite {kind} loss ({loss}){where}; lower learning_rate or use fp32"


class BatchStream:
    """Seeded, augmented mini-batches of an in-memory uint8 image tensor, an epoch at a time.

    Each epoch draws a permutation from ``generator`` and augments every batch with it
    (crop, flip, resize to ``config.image_size``, cutout); the last partial batch is dropped.
    ``seconds`` accumulates the time spent preparing batches.
    """

    def __init__(self, x_uint8: torch.Tensor, y: torch.Tensor, *, config: BPEConfig, mean: torch.Tensor,
                 std: torch.Tensor, flip: bool, generator: torch.Generator, device: torch.device) -> None:
        self.x, self.y = x_uint8.to(device), y.to(device)
        self.mean, self.std = mean.to(device), std.to(device)
        self.config, self.flip, self.generator, self.device = config, flip, generator, device
        self.n = len(y)
        self.batch = min(config.batch_size, self.n)
        self.steps_per_epoch = steps_per_epoch(self.n, config.batch_size)
        self.layout = memory_format(device)
        self.seconds = 0.0

    def epoch(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of one epoch."""
        order = torch.randperm(self.n, generator=self.generator)
        for step in range(self.steps_per_epoch):
            t0 = time.perf_counter()
            idx = order[step * self.batch : (step + 1) * self.batch].to(self.device)
            # index_select: ~15x faster than x[idx] on a CPU uint8 tensor, the same values
            xb = augment_batch(normalize(self.x.index_select(0, idx), self.mean, self.std), self.generator,
                               flip=self.flip, cutout=self.config.cutout, size=self.config.image_size
                               ).contiguous(memory_format=self.layout)
            yb = self.y.index_select(0, idx)
            self.seconds += time.perf_counter() - t0
            yield xb, yb


def sgd_with_cosine(params: Iterable[torch.nn.Parameter], config: BPEConfig, total_steps: int):
    """SGD (Nesterov when momentum > 0) with a per-step cosine schedule to 0: (optimizer, scheduler)."""
    optimizer = torch.optim.SGD(params, lr=config.learning_rate, momentum=config.momentum,
                                weight_decay=config.weight_decay, nesterov=config.momentum > 0,
                                foreach=True)  # one fused update for all tensors: bit-identical, fewer Python steps
    total = max(1, total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))
    )
    return optimizer, scheduler


@torch.no_grad()
def evaluate_model(
    model: torch.nn.Module,
    x_uint8: torch.Tensor,
    y: torch.Tensor,
    *,
    mean: torch.Tensor,
    std: torch.Tensor,
    image_size: int,
    device: torch.device,
    precision: str = "fp32",
    layout: torch.memory_format = torch.contiguous_format,
) -> tuple[float, float]:
    """(accuracy in percent, mean cross-entropy) of ``model`` in eval mode, its inputs in ``layout``
    (the model's own)."""
    model.eval()
    correct, loss_sum = 0, 0.0
    for start in range(0, len(y), EVAL_BATCH):
        xb = normalize(x_uint8[start : start + EVAL_BATCH].to(device), mean, std, image_size
                       ).contiguous(memory_format=layout)
        yb = y[start : start + EVAL_BATCH].to(device)
        with autocast_context(precision, device):
            logits = model(xb)
        loss_sum += F.cross_entropy(logits.float(), yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    return 100.0 * correct / max(1, len(y)), loss_sum / max(1, len(y))


def train_and_evaluate(
    arch: Any,
    config: BPEConfig,
    data: TensorSplit | DatasetSpec,
    *,
    space: str = "nb201",
    device: str | torch.device = "auto",
    num_threads: int | None = None,
    eval_every_epoch: bool = False,
    on_epoch: Callable[[dict[str, float]], bool] | None = None,
) -> TrainResult:
    """Train ``arch`` under ``config`` on ``data.train_*`` and evaluate on ``data.valid_*`` (a
    dataset is split by :func:`training_split`: the config's data fraction).

    Deterministic for a fixed ``config.seed`` on CPU with a fixed ``num_threads``.

    Args:
        arch: an architecture of ``space`` (object or string).
        config: the proxy-training setting.
        data: a :class:`~bpe.data.DatasetSpec`, or tensors from :func:`bpe.data.prepare_split`.
        space: search-space name.
        device: ``auto``, ``cpu`` or ``cuda``.
        num_threads: torch intra-op threads for this run, the previous count restored after
            (``None`` keeps the current one; an estimator's evaluation always runs with
            :data:`bpe.estimators.base.EVAL_THREADS`).
        eval_every_epoch: also record validation accuracy after every epoch in ``history``.
        on_epoch: called with each epoch's ``history`` record once its validation accuracy is
            known (needs ``eval_every_epoch``; the record also holds ``seconds``, the run's wall
            time so far); returning True stops training there, and the run reports that epoch's
            validation accuracy (multi-fidelity search: a pruned trial).
    """
    if on_epoch is not None and not eval_every_epoch:
        raise ValueError("on_epoch needs eval_every_epoch=True (it reads each epoch's validation accuracy)")
    dev = resolve_device(device)
    autocast = autocast_context(config.precision, dev)  # validates precision vs device early
    data = training_split(data, config)
    run = dict(space=space, dev=dev, autocast=autocast, eval_every_epoch=eval_every_epoch, on_epoch=on_epoch)
    if num_threads is None:
        return _train_and_evaluate(arch, config, data, **run)
    with torch_threads(num_threads):
        return _train_and_evaluate(arch, config, data, **run)


def _train_and_evaluate(arch: Any, config: BPEConfig, data: TensorSplit, *, space: str, dev: torch.device,
                        autocast: Any, eval_every_epoch: bool,
                        on_epoch: Callable[[dict[str, float]], bool] | None = None) -> TrainResult:
    start = time.perf_counter()
    run = _Run.build(arch, config, data, space=space, dev=dev, autocast=autocast)
    # drop-path masks come from torch's global generator: seed it for the run (only when used, so a
    # run without drop-path draws nothing from it and is unchanged)
    dropping = torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []) if config.drop_path > 0 \
        else nullcontext()
    with dropping:
        if config.drop_path > 0:
            torch.manual_seed(config.seed + 1)
        return _epochs(run, config, data, dev=dev, start=start, eval_every_epoch=eval_every_epoch, on_epoch=on_epoch)


@dataclass
class _Run:
    """A training run's parts, built one way for the loop and for :func:`time_training_steps`."""

    model: Any
    stream: BatchStream
    optimizer: Any
    scheduler: Any
    scaler: Any
    autocast: Any
    num_params: int

    @classmethod
    def build(cls, arch: Any, config: BPEConfig, data: TensorSplit, *, space: str, dev: torch.device,
              autocast: Any) -> _Run:
        space_ = get_space(space)
        space_.check_config(config)
        extras = {"auxiliary": True} if config.auxiliary_weight > 0 else {}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            model = space_.build(arch, num_classes=data.num_classes,
                                 **space_.net_size(channels=config.channels, layers=config.layers), **extras
                                 ).to(dev, memory_format=memory_format(dev))
        stream = BatchStream(data.train_x, data.train_y, config=config, mean=data.mean, std=data.std, flip=data.flip,
                             generator=torch.Generator().manual_seed(config.seed), device=dev)
        optimizer, scheduler = sgd_with_cosine(model.parameters(), config, config.epochs * stream.steps_per_epoch)
        scaler = torch.amp.GradScaler("cuda") if config.precision == "fp16" else None
        return cls(model, stream, optimizer, scheduler, scaler, autocast, sum(p.numel() for p in model.parameters()))

    def step(self, xb: torch.Tensor, yb: torch.Tensor, config: BPEConfig) -> torch.Tensor:
        """One optimisation step on a batch; returns the (undetached) loss."""
        model, optimizer = self.model, self.optimizer
        with self.autocast:
            loss = F.cross_entropy(model(xb), yb)
            if config.auxiliary_weight > 0:
                loss = loss + config.auxiliary_weight * F.cross_entropy(model.auxiliary_logits, yb)
        optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if config.grad_clip > 0:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
        self.scheduler.step()
        return loss


@dataclass
class StepTiming:
    """What :func:`time_training_steps` measured, and the conditions it measured them in."""

    step_seconds: list[float]
    eval_seconds_per_image: float
    threads: int
    layout: str
    batch_size: int
    device: str

    @property
    def median_step(self) -> float:
        """The median step (robust to a step slowed by other work on the machine)."""
        ordered = sorted(self.step_seconds)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    def seconds_per_run(self, config: BPEConfig, n_train: int, n_valid: int) -> float:
        """Seconds of a whole training under ``config`` on ``n_train`` images with a validation pass
        over ``n_valid`` (the median step times the steps, plus the timed validation rate)."""
        return self.median_step * steps_per_epoch(n_train, config.batch_size) * config.epochs \
            + self.eval_seconds_per_image * n_valid


def time_training_steps(arch: Any, config: BPEConfig, data: TensorSplit | DatasetSpec, *, space: str = "nb201",
                        device: str | torch.device = "auto", steps: int = 5, warmup: int = 2,
                        num_threads: int | None = None) -> StepTiming:
    """Time ``steps`` training steps of ``arch`` under ``config`` as :func:`train_and_evaluate` runs
    them -- the same network, layout, batches (augmentation included), optimiser and precision --
    after ``warmup`` untimed steps, with ``num_threads`` torch threads (default
    :data:`bpe.estimators.base.EVAL_THREADS`, as an estimator's evaluation runs); and one timed
    validation batch.  Nothing is cached; the network is thrown away."""
    dev = resolve_device(device)
    threads = EVAL_THREADS if num_threads is None else num_threads
    data = training_split(data, config)
    with torch_threads(threads):
        run = _Run.build(arch, config, data, space=space, dev=dev, autocast=autocast_context(config.precision, dev))
        run.model.train()
        seconds: list[float] = []
        batches = _cycle_epochs(run.stream)
        for i in range(warmup + steps):
            t0 = time.perf_counter()
            xb, yb = next(batches)
            run.step(xb, yb, config).item()  # .item(): wait for the device
            if i >= warmup:
                seconds.append(time.perf_counter() - t0)
        n_eval = min(len(data.valid_y), EVAL_BATCH)
        t0 = time.perf_counter()
        evaluate_model(run.model, data.valid_x[:n_eval], data.valid_y[:n_eval], mean=run.stream.mean,
                       std=run.stream.std, image_size=config.image_size, device=dev, precision=config.precision,
                       layout=run.stream.layout)
        eval_rate = (time.perf_counter() - t0) / max(1, n_eval)
    return StepTiming(step_seconds=seconds, eval_seconds_per_image=eval_rate, threads=threads,
                      layout=layout_name(run.stream.layout), batch_size=run.stream.batch, device=str(dev))


@dataclass(frozen=True)
class TimingAssumptions:
    """What a training-time estimate assumed: how many archs and steps were timed, the threads
    per job, memory layout, batch size and device they ran with, and each arch's median step."""

    timed_archs: int
    timed_steps: int
    threads_per_job: int
    layout: str
    batch_size: int
    device: str
    median_step_seconds: tuple[float, ...]
    statistic: str = "median step"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the keys reports have always written)."""
        return {"timed_archs": self.timed_archs, "timed_steps": self.timed_steps, "statistic": self.statistic,
                "threads_per_job": self.threads_per_job, "layout": self.layout, "batch_size": self.batch_size,
                "device": self.device, "median_step_seconds": list(self.median_step_seconds)}

    def describe(self) -> str:
        """One line: how the figure was timed."""
        return (f"the median of {self.timed_steps} steps on each of {self.timed_archs} archs, {self.threads_per_job} "
                f"thread(s) per job, {self.layout}, batch {self.batch_size}, {self.device}")


def estimate_run_seconds(archs: Any, config: BPEConfig, data: TensorSplit | DatasetSpec, *, space: str = "nb201",
                         device: str | torch.device = "auto", steps: int = 5) -> tuple[float, TimingAssumptions]:
    """(seconds of one whole training under ``config``, averaged over ``archs``; what the estimate
    assumed): :func:`time_training_steps` on each arch, its median step scaled to the config's steps
    and epochs plus a validation pass over ``data``'s validation images."""
    data = training_split(data, config)
    timed = [time_training_steps(a, config, data, space=space, device=device, steps=steps) for a in archs]
    per_run = sum(t.seconds_per_run(config, len(data.train_y), len(data.valid_y)) for t in timed) / len(timed)
    first = timed[0]
    return per_run, TimingAssumptions(timed_archs=len(timed), timed_steps=steps, threads_per_job=first.threads,
                                      layout=first.layout, batch_size=first.batch_size, device=first.device,
                                      median_step_seconds=tuple(round(t.median_step, 6) for t in timed))


def _cycle_epochs(stream: BatchStream) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        yield from stream.epoch()


def _epochs(run: _Run, config: BPEConfig, data: TensorSplit, *, dev: torch.device, start: float,
            eval_every_epoch: bool, on_epoch: Callable[[dict[str, float]], bool] | None) -> TrainResult:
    model, stream, scheduler = run.model, run.stream, run.scheduler
    mean, std = stream.mean, stream.std
    eval_seconds = 0.0
    history: list[dict[str, float]] = []
    train_loss: float | None = None
    epochs_run = 0
    error: str | None = None
    stopped = False
    for epoch in range(config.epochs):
        model.train()
        if config.drop_path > 0:  # DARTS's schedule: linear from 0 to drop_path over the epochs
            model.set_drop_path(config.drop_path * epoch / config.epochs)
        loss_sum = torch.zeros((), device=dev)
        for xb, yb in stream.epoch():
            loss_sum += run.step(xb, yb, config).detach().float()
        epochs_run = epoch + 1
        train_loss = loss_sum.item() / stream.steps_per_epoch
        error = nonfinite_loss(train_loss, "training", epochs_run)
        if error is not None:
            break
        record = {"epoch": epochs_run, "train_loss": train_loss, "lr": scheduler.get_last_lr()[0]}
        if eval_every_epoch and epochs_run < config.epochs:
            t0 = time.perf_counter()
            acc, vloss = evaluate_model(
                model, data.valid_x, data.valid_y, mean=mean, std=std,
                image_size=config.image_size, device=dev, precision=config.precision, layout=stream.layout,
            )
            eval_seconds += time.perf_counter() - t0
            record.update(valid_accuracy=acc, valid_loss=vloss)
        history.append(record)
        if on_epoch is not None and epochs_run < config.epochs:
            record["seconds"] = time.perf_counter() - start
            if on_epoch(record):
                stopped = True
                break

    valid_acc = valid_loss = None
    if stopped:
        valid_acc, valid_loss = history[-1]["valid_accuracy"], history[-1]["valid_loss"]
        error = nonfinite_loss(valid_loss, "validation")
        if error is not None:
            valid_acc = None
    elif error is None:
        t0 = time.perf_counter()
        valid_acc, valid_loss = evaluate_model(
            model, data.valid_x, data.valid_y, mean=mean, std=std,
            image_size=config.image_size, device=dev, precision=config.precision, layout=stream.layout,
        )
        eval_seconds += time.perf_counter() - t0
        error = nonfinite_loss(valid_loss, "validation")
        if error is not None:
            valid_acc = None
        elif history:
            history[-1].update(valid_accuracy=valid_acc, valid_loss=valid_loss)
            if on_epoch is not None:
                history[-1]["seconds"] = time.perf_counter() - start
                on_epoch(history[-1])
    if error is not None:
        log.warning("training failed: %s", error)
    return TrainResult(
        status="ok" if error is None else "failed",
        valid_accuracy=valid_acc,
        valid_loss=valid_loss if error is None else None,
        train_loss=train_loss,
        epochs_run=epochs_run,
        seconds=time.perf_counter() - start,
        data_seconds=stream.seconds,
        eval_seconds=eval_seconds,
        device=str(dev),
        num_params=run.num_params,
        error=error,
        history=history,
        n_train=len(data.train_y),
        n_valid=len(data.valid_y),
        layout=layout_name(stream.layout),
    )
