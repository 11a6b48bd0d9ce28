"""One-shot (weight-sharing) search on any registered space's supernet (NB201, DARTS): DARTS
(first and second order) and GDAS.  The supernet is trained under a :class:`~bpe.config.BPEConfig`
(so a MIP-found setting budgets it) with the project's batch stream and optimiser; architecture
parameters are learned on the validation split, weights on the train split, alternately.  The
final cell is what the space's supernet derives from its logits (NB201: the argmax op of every
edge, ``none`` included, as in NB201's DARTS; DARTS: the top-2 rule of the DARTS paper).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from bpe.config import BPEConfig
from bpe.data import TensorSplit
from bpe.errors import ConfigError
from bpe.runtime import autocast_context, resolve_device
from bpe.spaces import get_space
from bpe.training import BatchStream, evaluate_model, nonfinite_loss, sgd_with_cosine
from search_algos.base import keyword_options

__all__ = ["ONESHOT_METHODS", "ONESHOT_ALIASES", "ONESHOT_STRATEGIES", "OneShotMethod", "DartsV1", "DartsV2", "GDAS",
           "OneShotResult", "oneshot_search", "oneshot_options"]

log = logging.getLogger(__name__)

#: CLI names -> methods (``darts`` is the first-order version).
ONESHOT_ALIASES = {"darts": "darts-v1", "darts-v1": "darts-v1", "darts-v2": "darts-v2", "gdas": "gdas"}


@dataclass
class OneShotResult:
    """Outcome of a one-shot search.

    ``status`` is ``"ok"`` or ``"failed"``: a run whose supernet loss became non-finite stops
    there and is recorded as failed with the reason in ``error``; it has no ``arch``, accuracy
    or probabilities (``history`` holds the epochs finished before it).
    """

    method: str
    arch: str | None
    seconds: float
    epochs: int
    supernet_valid_accuracy: float | None
    probabilities: list[list[float]] | None
    history: list[dict[str, Any]] = field(default_factory=list)
    status: str = "ok"
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the search finished with a derived cell."""
        return self.status == "ok"

    def parameter_free(self) -> bool | None:
        """True when the derived cell has no convolution (DARTS's known collapse); ``None`` for a failed run."""
        return None if self.arch is None else "conv" not in self.arch


def _gumbel_hard(alphas: torch.Tensor, tau: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-through Gumbel-softmax: (hard one-hot weights with soft gradients, chosen index)."""
    u = torch.rand(alphas.shape, generator=generator).to(alphas.device).clamp_(1e-10, 1 - 1e-10)
    gumbel = -torch.log(-torch.log(u))
    soft = F.softmax((F.log_softmax(alphas, dim=-1) + gumbel) / tau, dim=-1)
    index = soft.argmax(dim=-1)
    hard = torch.zeros_like(soft).scatter_(-1, index.unsqueeze(-1), 1.0)
    return hard - soft.detach() + soft, index


def _unrolled_alpha_grad(net: nn.Module, xt, yt, xv, yv, xi: float,
                         autocast: AbstractContextManager | None = None) -> torch.Tensor:
    """Second-order DARTS: grad of L_val(w - xi*grad_w L_train(w, a), a) w.r.t. a, with the
    Hessian-vector product by central finite differences (Liu et al., 2019).  ``autocast``
    wraps the forward passes (the gradients are taken outside it)."""

    def loss_of(x, y) -> torch.Tensor:
        with autocast if autocast is not None else nullcontext():
            return F.cross_entropy(net(x), y)

    weights = net.weight_parameters()
    backup = [w.detach().clone() for w in weights]
    grads = torch.autograd.grad(loss_of(xt, yt), weights, allow_unused=True)
    with torch.no_grad():
        for w, g in zip(weights, grads):
            if g is not None:
                w.sub_(xi * g)
    loss = loss_of(xv, yv)
    dalpha, *dw = torch.autograd.grad(loss, [net.alphas, *weights], allow_unused=True)
    dw = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, dw)]
    norm = torch.sqrt(sum((g * g).sum() for g in dw)).item()
    eps = 0.01 / max(norm, 1e-12)

    def alpha_grad_at(sign: float) -> torch.Tensor:
        with torch.no_grad():
            for w, b, g in zip(weights, backup, dw):
                w.copy_(b + sign * eps * g)
        return torch.autograd.grad(loss_of(xt, yt), net.alphas)[0]

    hessian = (alpha_grad_at(+1.0) - alpha_grad_at(-1.0)) / (2 * eps)
    with torch.no_grad():
        for w, b in zip(weights, backup):
            w.copy_(b)
    return dalpha - xi * hessian


# --- the methods: what differs between DARTS-v1, DARTS-v2 and GDAS, injected into one loop ------------

#: Method name -> its strategy class (filled by :func:`_register`).
ONESHOT_STRATEGIES: dict[str, type[OneShotMethod]] = {}


def _register(cls: type[OneShotMethod]) -> type[OneShotMethod]:
    if cls.name in ONESHOT_STRATEGIES:
        raise ValueError(f"one-shot method '{cls.name}' is already registered")
    ONESHOT_STRATEGIES[cls.name] = cls
    return cls


class OneShotMethod(ABC):
    """The method-specific part of a one-shot search; :func:`oneshot_search` runs the one loop
    (weight step on a train batch after an architecture step on a validation batch, schedule,
    precision, failure handling) and asks its strategy for the rest.

    Args:
        seed: the run's seed (a method that samples derives its generator from it).
        epochs: epochs of the run.
        tau_max, tau_min: the Gumbel temperature schedule (GDAS; the others ignore it).
    """

    name: ClassVar[str] = ""
    #: False when the method cannot train in fp16 (loss scaling is not wired through it).
    supports_fp16: ClassVar[bool] = True

    def __init__(self, *, seed: int, epochs: int, tau_max: float, tau_min: float) -> None:
        self.seed, self.epochs, self.tau_max, self.tau_min = seed, epochs, tau_max, tau_min

    def begin_epoch(self, epoch: int) -> None:  # noqa: B027 - optional hook, empty by default
        """Called before epoch ``epoch`` (0-based)."""

    def epoch_info(self) -> dict[str, Any]:
        """Method-specific entries of an epoch's history record."""
        return {"tau": None}

    @abstractmethod
    def arch_backward(self, net: nn.Module, train_batch: tuple[torch.Tensor, torch.Tensor],
                      valid_batch: tuple[torch.Tensor, torch.Tensor], *, xi: float, autocast: AbstractContextManager,
                      scale: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Put the gradient of one architecture step into ``net.alphas.grad``; ``xi`` is the current
        weight learning rate, ``scale`` the loss scaling (fp16) to apply before a backward pass."""

    def weight_loss(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                    autocast: AbstractContextManager) -> torch.Tensor:
        """The loss of one weight step (the supernet with the current op weights, alphas fixed)."""
        weights = F.softmax(net.alphas.detach(), dim=-1)
        with autocast:
            return F.cross_entropy(net(x, weights), y)

    def evaluated(self, net: nn.Module) -> nn.Module:
        """The network whose validation accuracy is reported at the end."""
        return net


@_register
class DartsV1(OneShotMethod):
    """First-order DARTS: the architecture gradient of the validation loss at the current weights."""

    name = "darts-v1"

    def arch_backward(self, net, train_batch, valid_batch, *, xi, autocast, scale) -> None:
        xv, yv = valid_batch
        with autocast:
            loss = F.cross_entropy(net(xv), yv)
        scale(loss).backward(inputs=[net.alphas])


@_register
class DartsV2(OneShotMethod):
    """Second-order DARTS: the gradient through one unrolled weight step (finite-difference Hessian)."""

    name = "darts-v2"
    supports_fp16 = False  # its finite differences take raw gradients: no loss scaling

    def arch_backward(self, net, train_batch, valid_batch, *, xi, autocast, scale) -> None:
        net.alphas.grad = _unrolled_alpha_grad(net, *train_batch, *valid_batch, xi=xi, autocast=autocast)


@_register
class GDAS(OneShotMethod):
    """GDAS: one op per edge sampled by a straight-through Gumbel-softmax (temperature annealed
    linearly from ``tau_max`` to ``tau_min``) in both steps; the derived path is evaluated."""

    name = "gdas"

    def __init__(self, *, seed: int, epochs: int, tau_max: float, tau_min: float) -> None:
        super().__init__(seed=seed, epochs=epochs, tau_max=tau_max, tau_min=tau_min)
        self.generator = torch.Generator().manual_seed(seed + 2)
        self.tau = tau_max

    def begin_epoch(self, epoch: int) -> None:
        self.tau = self.tau_max - (self.tau_max - self.tau_min) * epoch / max(1, self.epochs - 1)

    def epoch_info(self) -> dict[str, Any]:
        return {"tau": self.tau}

    def arch_backward(self, net, train_batch, valid_batch, *, xi, autocast, scale) -> None:
        xv, yv = valid_batch
        weights, index = _gumbel_hard(net.alphas, self.tau, self.generator)
        with autocast:
            loss = F.cross_entropy(net(xv, weights, index), yv)
        scale(loss).backward(inputs=[net.alphas])

    def weight_loss(self, net, x, y, *, autocast) -> torch.Tensor:
        weights, index = _gumbel_hard(net.alphas.detach(), self.tau, self.generator)
        with autocast:
            return F.cross_entropy(net(x, weights, index), y)

    def evaluated(self, net: nn.Module) -> nn.Module:
        # GDAS trains single paths: evaluate the derived path, not the mixture
        index = net.alphas.detach().argmax(dim=-1)
        return _FixedPath(net, F.one_hot(index, net.alphas.shape[-1]).to(net.alphas.dtype), index)


#: The one-shot methods, in registration order.
ONESHOT_METHODS = tuple(ONESHOT_STRATEGIES)


def oneshot_options() -> dict[str, Any]:
    """The tunable architecture-side options of :func:`oneshot_search` and their defaults."""
    return keyword_options(oneshot_search, exclude=("device", "progress", "space"))


def oneshot_search(
    method: str,
    config: BPEConfig,
    data: TensorSplit,
    *,
    space: str = "nb201",
    device: str = "auto",
    arch_learning_rate: float = 3e-4,
    arch_weight_decay: float = 1e-3,
    tau_max: float = 10.0,
    tau_min: float = 0.1,
    progress: bool = False,
) -> OneShotResult:
    """Run DARTS (``darts-v1``: first order, ``darts-v2``: second order) or GDAS.

    ``space`` names the search space whose supernet is trained (``config.channels`` and
    ``config.layers`` size it).  Weights: SGD with a cosine schedule under ``config`` on ``data.train_*``; architecture:
    Adam (lr ``arch_learning_rate``, betas (0.5, 0.999), weight decay ``arch_weight_decay``)
    on ``data.valid_*``.  GDAS anneals its Gumbel temperature from ``tau_max`` to ``tau_min``.
    ``config.precision`` is honoured: bf16 autocast on CPU and CUDA, fp16 autocast with loss
    scaling on CUDA only (not for darts-v2); what cannot run raises :class:`~bpe.errors.ConfigError`
    naming the fix, before any training.  A non-finite loss ends the run as a failed result
    with its reason (see :class:`OneShotResult`), never as an exception.
    """
    if method not in ONESHOT_STRATEGIES:
        raise ConfigError(f"unknown one-shot method '{method}'; choose one of {', '.join(ONESHOT_METHODS)}")
    strategy = ONESHOT_STRATEGIES[method](seed=config.seed, epochs=config.epochs, tau_max=tau_max, tau_min=tau_min)
    if config.precision == "fp16" and not strategy.supports_fp16:
        raise ConfigError(f"{method} cannot train in fp16 (its finite-difference Hessian takes unscaled gradients); "
                          "use precision bf16 or fp32")
    if config.auxiliary_weight > 0 or config.drop_path > 0:
        raise ConfigError("a supernet has no auxiliary head or drop-path: set auxiliary_weight and drop_path to 0")
    space = get_space(space)
    dev = resolve_device(device)
    autocast = autocast_context(config.precision, dev)  # fp16 without CUDA fails here, before any work
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = space.supernet(num_classes=data.num_classes,
                             **space.net_size(channels=config.channels, layers=config.layers)).to(dev)
    train = BatchStream(data.train_x, data.train_y, config=config, mean=data.mean, std=data.std, flip=data.flip,
                        generator=torch.Generator().manual_seed(config.seed), device=dev)
    valid = BatchStream(data.valid_x, data.valid_y, config=config, mean=data.mean, std=data.std, flip=data.flip,
                        generator=torch.Generator().manual_seed(config.seed + 1), device=dev)
    net = net.to(memory_format=train.layout)  # the batches' layout (channels-last on CPU)
    w_opt, w_sched = sgd_with_cosine(net.weight_parameters(), config, config.epochs * train.steps_per_epoch)
    a_opt = torch.optim.Adam([net.alphas], lr=arch_learning_rate, betas=(0.5, 0.999), weight_decay=arch_weight_decay)
    # fp16: one loss scaler per optimiser (the two losses differ in scale); otherwise none
    a_scaler, w_scaler = ((torch.amp.GradScaler("cuda"), torch.amp.GradScaler("cuda"))
                          if config.precision == "fp16" else (None, None))
    a_scale = a_scaler.scale if a_scaler is not None else _unscaled
    history: list[dict[str, Any]] = []
    error: str | None = None
    bar = tqdm(range(config.epochs), desc=method, unit="epoch", disable=not progress)
    for epoch in bar:
        net.train()
        strategy.begin_epoch(epoch)
        losses = []
        for (xt, yt), (xv, yv) in zip(train.epoch(), _cycle(valid)):
            # architecture step on a validation batch
            a_opt.zero_grad(set_to_none=True)
            strategy.arch_backward(net, (xt, yt), (xv, yv), xi=w_sched.get_last_lr()[0], autocast=autocast,
                                   scale=a_scale)
            _step(a_opt, a_scaler)
            # weight step on a training batch
            w_opt.zero_grad(set_to_none=True)
            loss = strategy.weight_loss(net, xt, yt, autocast=autocast)
            if w_scaler is None:
                loss.backward()
            else:
                w_scaler.scale(loss).backward()
                w_scaler.unscale_(w_opt)  # clip the true gradients
            nn.utils.clip_grad_norm_(net.weight_parameters(), config.grad_clip or 5.0)  # DARTS's 5 unless set
            _step(w_opt, w_scaler)
            w_sched.step()
            losses.append(loss.item())
        train_loss = float(sum(losses) / max(1, len(losses)))
        error = nonfinite_loss(train_loss, "supernet training", epoch + 1)
        if error is not None:
            break
        history.append({"epoch": epoch + 1, "train_loss": train_loss, **strategy.epoch_info(),
                        "arch": str(net.derive())})
        log.info("%s epoch %d: loss %.3f, arch %s", method, epoch + 1, train_loss, net.derive())
        bar.set_postfix(loss=f"{train_loss:.3f}", arch=str(net.derive()), refresh=False)
    acc = None
    if error is None:
        acc, valid_loss = evaluate_model(strategy.evaluated(net), data.valid_x, data.valid_y, mean=train.mean,
                                         std=train.std, image_size=config.image_size, device=dev,
                                         precision=config.precision, layout=train.layout)
        error = nonfinite_loss(valid_loss, "supernet validation")
    if error is not None:
        log.warning("%s failed: %s", method, error)
        return OneShotResult(method=method, arch=None, seconds=time.perf_counter() - start, epochs=config.epochs,
                             supernet_valid_accuracy=None, probabilities=None, history=history, status="failed",
                             error=error)
    return OneShotResult(
        method=method,
        arch=str(net.derive()),
        seconds=time.perf_counter() - start,
        epochs=config.epochs,
        supernet_valid_accuracy=acc,
        probabilities=F.softmax(net.alphas.detach(), dim=-1).cpu().tolist(),
        history=history,
    )


def _unscaled(loss: torch.Tensor) -> torch.Tensor:
    return loss


def _step(optimizer: torch.optim.Optimizer, scaler: Any) -> None:
    """``optimizer.step()``, through ``scaler`` (fp16) when there is one."""
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()


class _FixedPath(nn.Module):
    """The supernet with fixed op weights (and chosen indices) on every edge."""

    def __init__(self, net: nn.Module, weights: torch.Tensor, index: torch.Tensor) -> None:
        super().__init__()
        self.net, self.weights, self.index = net, weights, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.weights, self.index)


def _cycle(stream: BatchStream):
    while True:
        yield from stream.epoch()
