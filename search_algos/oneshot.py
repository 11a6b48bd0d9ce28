"""One-shot (weight-sharing) search on an NB201 supernet: DARTS (first and second order) and
GDAS.  The supernet is trained under a :class:`~bpe.config.BPEConfig` (so a MIP-found
setting budgets it) with the project's batch stream and optimiser; architecture parameters
are learned on the validation split, weights on the train split, alternately.  The final
cell is the argmax op of every edge (``none`` included, as in NB201's DARTS).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bpe.config import BPEConfig
from bpe.data import TensorSplit
from bpe.spaces import nb201
from bpe.spaces.nb201_model import build_stages, make_op
from bpe.training import BatchStream, evaluate_model, resolve_device, sgd_with_cosine

__all__ = ["ONESHOT_METHODS", "ONESHOT_ALIASES", "OneShotResult", "NB201SuperNet", "oneshot_search", "oneshot_options"]

log = logging.getLogger(__name__)

ONESHOT_METHODS = ("darts-v1", "darts-v2", "gdas")
#: CLI names -> methods (``darts`` is the first-order version).
ONESHOT_ALIASES = {"darts": "darts-v1", "darts-v1": "darts-v1", "darts-v2": "darts-v2", "gdas": "gdas"}


class MixedCell(nn.Module):
    """An NB201 cell with every op on every edge; node outputs are weighted sums over ops."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            nn.ModuleList(make_op(op, channels, affine=False) for op in nb201.OPS) for _ in nb201.EDGES
        )

    def forward(self, x: torch.Tensor, weights: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """``weights`` (6, 5): op weights per edge.  With ``index`` (GDAS) only the chosen op of
        each edge runs, scaled by its (straight-through) weight."""
        nodes = [x]
        for target in range(1, nb201.NUM_NODES):
            total = 0
            for k, (source, t) in enumerate(nb201.EDGES):
                if t != target:
                    continue
                if index is None:
                    total = total + sum(w * op(nodes[source]) for w, op in zip(weights[k], self.edges[k]))
                else:
                    j = int(index[k])
                    total = total + weights[k, j] * self.edges[k][j](nodes[source])
            nodes.append(total)
        return nodes[-1]


class NB201SuperNet(nn.Module):
    """The NB201 macro network with mixed cells and architecture logits ``alphas`` (6, 5)."""

    def __init__(self, *, channels: int, cells_per_stage: int, num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers, c_prev = build_stages(channels, cells_per_stage, MixedCell)
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(c_prev, num_classes)
        self.alphas = nn.Parameter(1e-3 * torch.randn(len(nb201.EDGES), len(nb201.OPS)))

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter but the architecture logits."""
        return [p for name, p in self.named_parameters() if name != "alphas"]

    def forward(self, x: torch.Tensor, weights: torch.Tensor | None = None, index: torch.Tensor | None = None) -> torch.Tensor:
        weights = F.softmax(self.alphas, dim=-1) if weights is None else weights
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, weights, index) if isinstance(layer, MixedCell) else layer(x)
        x = self.lastact(x)
        return self.classifier(x.mean(dim=(2, 3)))

    def derive(self) -> nb201.NB201Arch:
        """The argmax op of every edge."""
        codes = self.alphas.detach().argmax(dim=-1).tolist()
        return nb201.NB201Arch(tuple(nb201.OPS[c] for c in codes))


@dataclass
class OneShotResult:
    """Outcome of a one-shot search."""

    method: str
    arch: str
    seconds: float
    epochs: int
    supernet_valid_accuracy: float
    probabilities: list[list[float]]
    history: list[dict[str, Any]] = field(default_factory=list)

    def parameter_free(self) -> bool:
        """True when the derived cell has no convolution (DARTS's known collapse)."""
        return "conv" not in self.arch


def _gumbel_hard(alphas: torch.Tensor, tau: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Straight-through Gumbel-softmax: (hard one-hot weights with soft gradients, chosen index)."""
    u = torch.rand(alphas.shape, generator=generator).to(alphas.device).clamp_(1e-10, 1 - 1e-10)
    gumbel = -torch.log(-torch.log(u))
    soft = F.softmax((F.log_softmax(alphas, dim=-1) + gumbel) / tau, dim=-1)
    index = soft.argmax(dim=-1)
    hard = torch.zeros_like(soft).scatter_(-1, index[:, None], 1.0)
    return hard - soft.detach() + soft, index


def _unrolled_alpha_grad(net: NB201SuperNet, xt, yt, xv, yv, xi: float) -> torch.Tensor:
    """Second-order DARTS: grad of L_val(w - xi*grad_w L_train(w, a), a) w.r.t. a, with the
    Hessian-vector product by central finite differences (Liu et al., 2019)."""
    weights = net.weight_parameters()
    backup = [w.detach().clone() for w in weights]
    grads = torch.autograd.grad(F.cross_entropy(net(xt), yt), weights, allow_unused=True)
    with torch.no_grad():
        for w, g in zip(weights, grads):
            if g is not None:
                w.sub_(xi * g)
    loss = F.cross_entropy(net(xv), yv)
    dalpha, *dw = torch.autograd.grad(loss, [net.alphas, *weights], allow_unused=True)
    dw = [torch.zeros_like(w) if g is None else g for w, g in zip(weights, dw)]
    norm = torch.sqrt(sum((g * g).sum() for g in dw)).item()
    eps = 0.01 / max(norm, 1e-12)

    def alpha_grad_at(sign: float) -> torch.Tensor:
        with torch.no_grad():
            for w, b, g in zip(weights, backup, dw):
                w.copy_(b + sign * eps * g)
        return torch.autograd.grad(F.cross_entropy(net(xt), yt), net.alphas)[0]

    hessian = (alpha_grad_at(+1.0) - alpha_grad_at(-1.0)) / (2 * eps)
    with torch.no_grad():
        for w, b in zip(weights, backup):
            w.copy_(b)
    return dalpha - xi * hessian


def oneshot_options() -> dict[str, Any]:
    """The tunable architecture-side options of :func:`oneshot_search` and their defaults."""
    from search_algos.base import keyword_options

    return keyword_options(oneshot_search, exclude=("device", "progress"))


def oneshot_search(
    method: str,
    config: BPEConfig,
    data: TensorSplit,
    *,
    device: str = "auto",
    arch_learning_rate: float = 3e-4,
    arch_weight_decay: float = 1e-3,
    tau_max: float = 10.0,
    tau_min: float = 0.1,
    progress: bool = False,
) -> OneShotResult:
    """Run DARTS (``darts-v1``: first order, ``darts-v2``: second order) or GDAS.

    Weights: SGD with a cosine schedule under ``config`` on ``data.train_*``; architecture:
    Adam (lr ``arch_learning_rate``, betas (0.5, 0.999), weight decay ``arch_weight_decay``)
    on ``data.valid_*``.  GDAS anneals its Gumbel temperature from ``tau_max`` to ``tau_min``.
    """
    if method not in ONESHOT_METHODS:
        raise ValueError(f"unknown one-shot method '{method}'; choose one of {', '.join(ONESHOT_METHODS)}")
    dev = resolve_device(device)
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = NB201SuperNet(channels=config.channels, cells_per_stage=config.cells_per_stage,
                            num_classes=data.num_classes).to(dev)
    train = BatchStream(data.train_x, data.train_y, config=config, mean=data.mean, std=data.std, flip=data.flip,
                        generator=torch.Generator().manual_seed(config.seed), device=dev)
    valid = BatchStream(data.valid_x, data.valid_y, config=config, mean=data.mean, std=data.std, flip=data.flip,
                        generator=torch.Generator().manual_seed(config.seed + 1), device=dev)
    w_opt, w_sched = sgd_with_cosine(net.weight_parameters(), config, config.epochs * train.steps_per_epoch)
    a_opt = torch.optim.Adam([net.alphas], lr=arch_learning_rate, betas=(0.5, 0.999), weight_decay=arch_weight_decay)
    gumbel_gen = torch.Generator().manual_seed(config.seed + 2)
    history = []
    from tqdm.auto import tqdm

    bar = tqdm(range(config.epochs), desc=method, unit="epoch", disable=not progress)
    for epoch in bar:
        net.train()
        tau = tau_max - (tau_max - tau_min) * epoch / max(1, config.epochs - 1)
        losses = []
        for (xt, yt), (xv, yv) in zip(train.epoch(), _cycle(valid)):
            # architecture step on a validation batch
            a_opt.zero_grad(set_to_none=True)
            if method == "darts-v2":
                net.alphas.grad = _unrolled_alpha_grad(net, xt, yt, xv, yv, xi=w_sched.get_last_lr()[0])
            elif method == "gdas":
                weights, index = _gumbel_hard(net.alphas, tau, gumbel_gen)
                F.cross_entropy(net(xv, weights, index), yv).backward(inputs=[net.alphas])
            else:
                F.cross_entropy(net(xv), yv).backward(inputs=[net.alphas])
            a_opt.step()
            # weight step on a training batch
            w_opt.zero_grad(set_to_none=True)
            if method == "gdas":
                weights, index = _gumbel_hard(net.alphas.detach(), tau, gumbel_gen)
                loss = F.cross_entropy(net(xt, weights, index), yt)
            else:
                loss = F.cross_entropy(net(xt, F.softmax(net.alphas.detach(), dim=-1)), yt)
            loss.backward()
            nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
            w_opt.step()
            w_sched.step()
            losses.append(loss.item())
        train_loss = float(sum(losses) / max(1, len(losses)))
        if not math.isfinite(train_loss):
            raise FloatingPointError(f"{method}: non-finite supernet loss in epoch {epoch + 1}; lower learning_rate")
        history.append({"epoch": epoch + 1, "train_loss": train_loss, "tau": tau if method == "gdas" else None,
                        "arch": str(net.derive())})
        log.info("%s epoch %d: loss %.3f, arch %s", method, epoch + 1, train_loss, net.derive())
        bar.set_postfix(loss=f"{train_loss:.3f}", arch=str(net.derive()), refresh=False)
    evaluated: nn.Module = net
    if method == "gdas":  # GDAS trains single paths: evaluate the derived path, not the mixture
        index = net.alphas.detach().argmax(dim=-1)
        evaluated = _FixedPath(net, F.one_hot(index, len(nb201.OPS)).float(), index)
    acc, _ = evaluate_model(evaluated, data.valid_x, data.valid_y, mean=train.mean, std=train.std,
                            image_size=config.image_size, device=dev)
    return OneShotResult(
        method=method,
        arch=str(net.derive()),
        seconds=time.perf_counter() - start,
        epochs=config.epochs,
        supernet_valid_accuracy=acc,
        probabilities=F.softmax(net.alphas.detach(), dim=-1).cpu().tolist(),
        history=history,
    )


class _FixedPath(nn.Module):
    """The supernet with fixed op weights (and chosen indices) on every edge."""

    def __init__(self, net: NB201SuperNet, weights: torch.Tensor, index: torch.Tensor) -> None:
        super().__init__()
        self.net, self.weights, self.index = net, weights, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.weights, self.index)


def _cycle(stream: BatchStream):
    while True:
        yield from stream.epoch()
