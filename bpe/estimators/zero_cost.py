"""Training-free scorers ("zero-cost proxies"): score an untrained network from one or a few
mini-batches.  Every scorer is higher-is-better and documents its orientation and cost.

=============  ==============================================================  ============
name           score (higher = better)                                         cost
=============  ==============================================================  ============
``naswot``     log|K|, K = Hamming-agreement kernel of ReLU codes (Mellor 21)   1 forward
``jacob_cov``  −Σ log(σ+k) + 1/(σ+k), σ = eig(corrcoef(∂Σy/∂x)) (NASWOT v1)   1 fwd+bwd
``epe_nas``    Σ_c |Σ_ij log(|corrcoef(J_c)|+k)| (>100 classes: pairwise diff) 1 fwd+bwd
``synflow``    log Σ |θ ⊙ ∂R/∂θ|, R = Σ f_|θ|(1), float64, BN removed          1 fwd+bwd
``snip``       Σ |θ ⊙ ∂L/∂θ| over conv and linear weights                       1 fwd+bwd
``grasp``      Σ −θ ⊙ (H ∂L/∂θ) over conv and linear weights                     2 fwd+bwd
``fisher``     Σ_layers Σ_ch ½ mean_n (Σ_hw a ⊙ ∂L/∂a)² over conv/linear outputs  1 fwd+bwd
``grad_norm``  Σ_layers ‖∂L/∂W‖₂ over conv and linear weights                   1 fwd+bwd
``params``     parameters (millions)                                            none
``flops``      multiply-accumulates of one image (millions)                     1 forward
``zico``       Σ_layers log Σ_w mean|g|/std(g), g = ∂L/∂w, 2 mini-batches      2 fwd+bwd
``swap``       distinct on/off patterns of ReLU units (16 images), 32 inits    32 forwards
``swap_reg``   swap · exp(−(P−μ)²/σ), P = params (millions), μ = σ = 1.5       32 forwards
=============  ==============================================================  ============

Beside this module: ``meco`` (:mod:`~bpe.estimators.meco`), AZ-NAS's measures and ``az_nas``
(:mod:`~bpe.estimators.az_nas`), ``vkdnw``, ``vkdnw_entropy`` and ``vkdnw_agg``
(:mod:`~bpe.estimators.vkdnw`).

A scorer that produces a non-finite value records a failure with the reason (never a
sentinel number).  Hooks are registered on a private copy of the network and removed before
returning.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bpe.data import DatasetSpec, normalize, prepare_split
from bpe.errors import EstimatorError
from bpe.estimators import register_estimator
from bpe.estimators.base import Estimator
from bpe.flops import count_macs, count_params
from bpe.probe import choose
from bpe.records import Cost, EvalRecord
from bpe.runtime import layout_key, layout_name, memory_format, ran_in_planned_layout, resolve_device
from bpe.spaces import get_space

__all__ = [
    "TrainingFreeEstimator",
    "naswot_kernel_score",
    "jacob_cov_score",
    "epe_nas_score",
    "kaiming_fan_in_init",
    "redraw_weights",
]


# -- pure score functions (tested against hand-computed cases) --------------------------
@torch.no_grad()
def redraw_weights(net: nn.Module, generator: torch.Generator, std: Any) -> None:
    """Every Conv2d and Linear weight of ``net`` drawn from N(0, ``std(module)``²), biases 0,
    BatchNorm/GroupNorm weight 1 and bias 0 (and fresh running statistics): the re-initialisations
    scorers' authors use.  Each weight is drawn on a contiguous CPU tensor from ``generator``, in
    module order, then copied in (so nothing depends on the device or the layout)."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            w = torch.empty(m.weight.shape)
            w.normal_(0.0, float(std(m)), generator=generator)
            m.weight.copy_(w)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            if m.weight is not None:
                m.weight.fill_(1.0)
            if m.bias is not None:
                m.bias.zero_()
            if isinstance(m, nn.BatchNorm2d) and m.track_running_stats:
                m.reset_running_stats()


def kaiming_fan_in_init(net: nn.Module, generator: torch.Generator) -> None:
    """AZ-NAS's and VKDNW's initialisation (:func:`redraw_weights`): a Kaiming normal with fan-in
    and ReLU gain, standard deviation ``sqrt(2 / fan_in)``."""
    redraw_weights(net, generator, lambda m: math.sqrt(2.0 / m.weight[0].numel()))


def naswot_kernel_score(kernel: torch.Tensor) -> float:
    """``log|K|`` by slogdet (float64); ``nan`` when K is singular or not positive."""
    sign, logdet = torch.linalg.slogdet(kernel.double())
    return float(logdet) if float(sign) > 0 else math.nan


def jacob_cov_score(jacobian: torch.Tensor, k: float = 1e-5) -> float:
    """NASWOT v1: ``−Σ [log(σ+k) + 1/(σ+k)]`` over the eigenvalues σ of ``corrcoef(J)``."""
    corr = np.corrcoef(jacobian.reshape(jacobian.shape[0], -1).double().cpu().numpy())
    if not np.all(np.isfinite(corr)):
        return math.nan
    sigma = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(sigma + k) + 1.0 / (sigma + k)))


def epe_nas_score(jacobian: torch.Tensor, labels: torch.Tensor, num_classes: int, k: float = 1e-5) -> float:
    """EPE-NAS: per-class Jacobian correlations.

    ``E_c = Σ_ij log(|corrcoef(J_c)| + k)``; up to 100 classes the score is ``Σ_c |E_c|``;
    over 100 classes ``E_c`` is divided by ``n_c`` and the score is
    ``Σ_c Σ_c' |E_c − E_c'| / (classes in the batch)``.
    """
    jac = jacobian.reshape(jacobian.shape[0], -1).double().cpu().numpy()
    labels_np = labels.cpu().numpy()
    energies = []
    for c in np.unique(labels_np):
        rows = jac[labels_np == c]
        corr = np.atleast_2d(np.corrcoef(rows)) if len(rows) > 1 else np.ones((1, 1))
        if not np.all(np.isfinite(corr)):
            return math.nan
        e = float(np.sum(np.log(np.abs(corr) + k)))
        if num_classes > 100:
            e /= len(rows)
        energies.append(e)
    e = np.asarray(energies)
    if num_classes <= 100:
        return float(np.sum(np.abs(e)))
    return float(np.sum(np.abs(e[:, None] - e[None, :])) / len(e))


# -- helpers ------------------------------------------------------------------------------
@contextmanager
def _hooks(handles: list) -> Iterator[list]:
    try:
        yield handles
    finally:
        for handle in handles:
            handle.remove()


def _weights(net: nn.Module) -> list[nn.Parameter]:
    return [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class ScoreUndefined(ArithmeticError):
    """The score does not exist for this network (recorded as a failure with the reason)."""


def _input_jacobian(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """∂Σy/∂x by one forward and backward pass that computes no weight gradients (the scorers
    need only the input's)."""
    x = x.clone().requires_grad_(True)
    frozen = [p for p in net.parameters() if p.requires_grad]
    try:
        for p in frozen:
            p.requires_grad_(False)
        out = net(x).sum()
        grad = torch.autograd.grad(out, x, allow_unused=True)[0] if out.requires_grad else None
    finally:
        for p in frozen:
            p.requires_grad_(True)
    if grad is None:
        raise ScoreUndefined("the output does not depend on the input (no path through the cell)")
    return grad.detach()


#: Codes of the agreement kernel's speed probe: a NASWOT-sized batch (128 images) of 8,192 units.
_PROBE_SHAPE = (128, 8192)


def _int8_product(codes: torch.Tensor) -> torch.Tensor:
    c8 = codes.to(torch.int8)
    return torch._int_mm(c8, c8.T.clone(memory_format=torch.contiguous_format)).double()


def _float_product(codes: torch.Tensor) -> torch.Tensor:
    c = codes.float()
    return (c @ c.T).double()


@functools.lru_cache(maxsize=1)
def _probe_codes() -> torch.Tensor:
    return (torch.rand(_PROBE_SHAPE, generator=torch.Generator().manual_seed(0)) > 0.5).float()


@functools.lru_cache(maxsize=1)
def _int8_runs() -> bool:
    """Whether this torch build runs the int8 product on CPU (checked once per process)."""
    if not hasattr(torch, "_int_mm"):
        return False
    try:
        _int8_product(_probe_codes()[:16, :64])
    except RuntimeError:
        return False
    return True


def _product_choice() -> str:
    """``int8`` or ``float32``: the faster exact product of 0/1 codes on this machine's CPU, by
    :func:`bpe.probe.choose` (measured once per machine and kept; an int8 product is 4x a float
    one on one Xeon and 100x slower on an AVX2-only EPYC)."""
    if not _int8_runs():
        return "float32"
    return choose("naswot-agreement", {"float32": lambda: _float_product(_probe_codes()),
                                       "int8": lambda: _int8_product(_probe_codes())})


def agreement_matrix(codes: torch.Tensor) -> torch.Tensor:
    """``c c^T + (1-c)(1-c)^T`` of 0/1 codes ``(n, units)``, exactly, in float64.  The product of
    the codes is an int8 x int8 -> int32 one or a float32 one, whichever :func:`_product_choice`
    measured faster on this machine; both are exact (the counts are integers below 2^24, so
    float32 holds them; above that, int8 where it runs, else float64)."""
    units = codes.shape[1]
    active = codes.sum(1, dtype=torch.float64)
    both = None
    exact_in_float32 = units < 2**24
    if codes.device.type == "cpu" and hasattr(torch, "_int_mm") and 1 < units < 2**31 and (
            not exact_in_float32 or _product_choice() == "int8"):
        try:
            both = _int8_product(codes)
        except RuntimeError:  # a shape or build without the int8 kernel: a float product below
            pass
    if both is None:
        both = _float_product(codes) if exact_in_float32 else (codes.double() @ codes.double().T)
    return 2.0 * both - active[:, None] - active[None, :] + units


class TrainingFreeEstimator(Estimator):
    """Base of the training-free scorers.

    Args:
        dataset: data the mini-batch comes from (the train split; a fixed, seeded batch).
        batch_size: images per mini-batch (default: the method's reference value).
        repeats: mini-batches scored and averaged.
        seed: seed of weight init and batch choice.
        device: ``auto``, ``cpu`` or ``cuda``.
        channels, layers, image_size: the scored network (default: the space's
            :attr:`~bpe.spaces.base.SearchSpace.score_size`, else its fully trained network, at 32 px;
            NB201: 16 channels, 17 layers = 5 cells per stage; DARTS: its search network, 16
            channels, 8 layers).
        cells_per_stage: NB201's shorthand for ``layers = 3 * cells_per_stage + 2``.
        num_classes: classifier outputs (default: the dataset's classes).
        space: search-space name.
    """

    default_batch_size: ClassVar[int] = 64
    needs_data: ClassVar[bool] = True
    training_free: ClassVar[bool] = True

    @property
    def reads_data(self) -> bool:
        return self.needs_data
    cost_passes: ClassVar[int] = 2  # forward+backward of one mini-batch
    #: a count (params, flops): the same in every layout, so the layout is not in its key
    layout_free: ClassVar[bool] = False

    @classmethod
    def from_context(cls, context: Any) -> TrainingFreeEstimator:
        return cls(dataset=context.dataset, device=context.device, space=context.space, **context.given_options())

    @classmethod
    def tiny(cls, context: Any) -> TrainingFreeEstimator:
        return cls(dataset=DatasetSpec("digits"), device="cpu", space=context.space, channels=4, layers=5,
                   image_size=8, batch_size=8)

    def __init__(
        self,
        dataset: DatasetSpec | None = None,
        *,
        batch_size: int | None = None,
        repeats: int = 1,
        seed: int = 0,
        device: str = "auto",
        channels: int | None = None,
        layers: int | None = None,
        image_size: int = 32,
        num_classes: int | None = None,
        space: str = "nb201",
        cells_per_stage: int | None = None,
    ) -> None:
        self.dataset = dataset if dataset is not None else DatasetSpec("digits")
        self.batch_size = batch_size
        self.repeats = repeats
        self.seed = seed
        self.device = device
        defaults = get_space(space).score_size or get_space(space).eval_size
        if cells_per_stage is not None:
            if "cells_per_stage" not in get_space(space).net_size(channels=1, layers=5):
                raise EstimatorError(f"cells_per_stage is NB201's depth; the {space} space takes layers")
            if layers is not None:
                raise EstimatorError("give layers or cells_per_stage (NB201's shorthand), not both")
            layers = 3 * int(cells_per_stage) + 2
        self.channels = int(channels if channels is not None else defaults["channels"])
        self.layers = int(layers if layers is not None else defaults["layers"])
        self.image_size = image_size
        self.num_classes = num_classes
        self.space = space

    # identity ----------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        return {
            "estimator": self.name,
            "space": self.space,
            "batch_size": self._batch_size(),
            "repeats": self.repeats,
            "seed": self.seed,
            "net": [self.channels, *self._size_key().values(), self.image_size, self.num_classes],
            "data": self.dataset.fingerprint() if self.needs_data else None,
            **({} if self.layout_free else layout_key(self.device)),
        }

    def _size_key(self) -> dict[str, Any]:
        """The network depth as it enters cache keys (NB201: cells per stage, as before layers existed)."""
        return get_space(self.space).size_key(channels=self.channels, layers=self.layers)

    def describe_net(self) -> str:
        """``C=16, N=5, 32px``: the scored network."""
        size = get_space(self.space).describe_size(channels=self.channels, layers=self.layers)
        return f"{size}, {self.image_size}px"

    def describe(self) -> str:
        return f"{self.name}(batch={self._batch_size()}, {self.describe_net()})"

    def _batch_size(self) -> int:
        return int(self.batch_size or self.default_batch_size)

    # inputs --------------------------------------------------------------------------
    def _batches(self, dev: torch.device, size: int | None = None) -> tuple[list[tuple[torch.Tensor, torch.Tensor]],
                                                                             int]:
        """``repeats`` seeded mini-batches of ``size`` images (default: the batch size) from the
        train split, consecutive slices of one seeded permutation (wrapping around its end), and
        the number of classes."""
        data = prepare_split(self.dataset, 1.0)
        gen = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(data.train_y), generator=gen)
        bs = min(size or self._batch_size(), len(order))
        out = []
        for r in range(self.repeats):
            idx = order.roll(-((r * bs) % len(order)))[:bs]
            x = normalize(data.train_x[idx], data.mean, data.std, self.image_size).to(
                dev, memory_format=self._layout(dev))
            out.append((x, data.train_y[idx].to(dev)))
        return out, data.num_classes

    def _network(self, arch: str, num_classes: int, dev: torch.device) -> nn.Module:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            space = get_space(self.space)
            net = space.build(arch, num_classes=num_classes,
                              **space.net_size(channels=self.channels, layers=self.layers))
        return net.to(dev, memory_format=self._layout(dev)).train()

    def _layout(self, dev: torch.device) -> torch.memory_format:
        return memory_format(dev)

    # scoring ---------------------------------------------------------------------------
    def _score_batch(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> float:
        raise NotImplementedError

    def _evaluate(self, arch: str) -> EvalRecord:
        dev = resolve_device(self.device)
        start = time.perf_counter()
        batches, data_classes = self._batches(dev) if self.needs_data else ([], 10)
        num_classes = self.num_classes or data_classes
        values = []
        params = None
        try:
            for x, y in batches or [(None, None)]:
                net = self._network(arch, num_classes, dev)
                params = count_params(net)  # before scoring: a scorer may change the net (synflow drops BN)
                values.append(self._score_batch(net, x, y, num_classes))
                net.zero_grad(set_to_none=True)
        except ScoreUndefined as err:
            cost = Cost(seconds=time.perf_counter() - start, forward_passes=self.cost_passes * (len(values) + 1))
            return EvalRecord(arch=arch, score=None, status="failed", cost=cost, error=f"{self.name}: {err}")
        score = float(np.mean(values))
        seconds = time.perf_counter() - start
        cost = Cost(seconds=seconds, forward_passes=self.cost_passes * len(values))
        if not math.isfinite(score):
            return EvalRecord(arch=arch, score=None, status="failed", cost=cost,
                              error=f"{self.name} produced a non-finite value ({score})")
        return EvalRecord(arch=arch, score=score, status="ok", cost=cost,
                          info={"device": str(dev), "params": params, "layout": layout_name(self._layout(dev))})

    def reusable(self, record: EvalRecord) -> bool:
        # a score computed in another layout than its key says (a worker on another device) is redone
        return (self.layout_free or not record.ok
                or ran_in_planned_layout(record.info, self.device))


@register_estimator("naswot")
class NASWOT(TrainingFreeEstimator):
    """NASWOT (Mellor et al., 2021): log-determinant of the ReLU-code agreement kernel.
    One forward pass, no gradients; train-mode BatchNorm.  Higher is better.

    Every ReLU module counts (as in the reference), but when several ReLUs read the same
    tensor (the edges leaving one node) its codes are compared once and weighted by the
    number of readers: the same kernel for a fraction of the work.
    """

    default_batch_size = 128
    cost_passes = 1

    @torch.no_grad()
    def _score_batch(self, net, x, y, num_classes):
        n = x.shape[0]
        kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
        seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id(input) -> (input, agreement)

        def hook(module, inputs, output):
            inp = inputs[0]
            if id(inp) in seen and seen[id(inp)][0] is inp:
                kernel.add_(seen[id(inp)][1])
                return
            # the order of units does not matter: read a channels-last map in its memory order (no copy)
            flat = inp.permute(0, 2, 3, 1) if inp.dim() == 4 and inp.is_contiguous(memory_format=torch.channels_last) \
                else inp
            agree = agreement_matrix(flat.reshape(n, -1) > 0)
            if not module.inplace:  # an in-place ReLU changes its input: never reuse
                seen[id(inp)] = (inp, agree)
            kernel.add_(agree)

        relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
        with _hooks([m.register_forward_hook(hook) for m in relus]):
            net(x)
        return naswot_kernel_score(kernel)


@register_estimator("jacob_cov")
class JacobCov(TrainingFreeEstimator):
    """NASWOT's first version: eigenvalues of the input-Jacobian correlation matrix.  Higher is better."""

    default_batch_size = 64

    def _score_batch(self, net, x, y, num_classes):
        return jacob_cov_score(_input_jacobian(net, x))


@register_estimator("epe_nas")
class EPENAS(TrainingFreeEstimator):
    """EPE-NAS (Lopes et al., 2021): per-class Jacobian correlation energy.  Higher is better."""

    default_batch_size = 256

    def _score_batch(self, net, x, y, num_classes):
        return epe_nas_score(_input_jacobian(net, x), y, num_classes)


@register_estimator("synflow")
class SynFlow(TrainingFreeEstimator):
    """SynFlow (Tanaka et al., 2020), data-free: log of Σ|θ ⊙ ∂R/∂θ| with |θ| weights, an
    all-ones input, float64, and BatchNorm removed (as in the zero-cost reference).
    Higher is better."""

    needs_data = False
    default_batch_size = 1

    def _score_batch(self, net, x, y, num_classes):
        for _name, module in list(net.named_modules()):
            for child_name, child in list(module.named_children()):
                if isinstance(child, nn.BatchNorm2d):
                    setattr(module, child_name, nn.Identity())
        net = net.double()
        with torch.no_grad():
            for p in net.parameters():
                p.abs_()
        dev = next(net.parameters()).device
        ones = torch.ones(1, 3, self.image_size, self.image_size, dtype=torch.float64, device=dev)
        net.zero_grad()
        net(ones).sum().backward()
        total = sum(float((p.detach() * p.grad).abs().sum()) for p in _weights(net) if p.grad is not None)
        if total == 0.0:
            raise ScoreUndefined("no signal flows from input to output (synaptic flow 0; its log is undefined)")
        return math.log(total)


def _loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy; labels beyond the outputs wrap around (a 1-output net gets the binary
    logistic loss on ``y mod 2``), so every scorer works on any classifier size."""
    if logits.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(logits[:, 0], (y % 2).to(logits.dtype))
    return F.cross_entropy(logits, y % logits.shape[1])


def _loss_grads(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    net.zero_grad()
    _loss(net(x), y).backward()


@register_estimator("snip")
class SNIP(TrainingFreeEstimator):
    """SNIP (Lee et al., 2019): Σ|θ ⊙ ∂L/∂θ| over conv and linear weights.  Higher is better."""

    def _score_batch(self, net, x, y, num_classes):
        _loss_grads(net, x, y)
        return sum(float((w.detach() * w.grad).abs().sum()) for w in _weights(net) if w.grad is not None)


@register_estimator("grad_norm")
class GradNorm(TrainingFreeEstimator):
    """Sum over conv and linear layers of the L2 norm of the loss gradient.  Higher is better."""

    def _score_batch(self, net, x, y, num_classes):
        _loss_grads(net, x, y)
        return sum(float(w.grad.norm()) for w in _weights(net) if w.grad is not None)


@register_estimator("grasp")
class GraSP(TrainingFreeEstimator):
    """GraSP (Wang et al., 2020): Σ −θ ⊙ (H g) over conv and linear weights, with g the loss
    gradient and Hg a Hessian-gradient product.  Reported as is (the zero-cost reference's
    orientation)."""

    cost_passes = 4

    def _score_batch(self, net, x, y, num_classes):
        weights = _weights(net)
        loss = _loss(net(x), y)
        grads = torch.autograd.grad(loss, weights, allow_unused=True)
        grads = [torch.zeros_like(w) if g is None else g.detach() for w, g in zip(weights, grads)]
        loss = _loss(net(x), y)
        grads_f = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
        z = sum((gf * g).sum() for gf, g in zip(grads_f, grads) if gf is not None)
        hg = torch.autograd.grad(z, weights, allow_unused=True)
        return sum(float((-w.detach() * h).sum()) for w, h in zip(weights, hg) if h is not None)


@register_estimator("fisher")
class Fisher(TrainingFreeEstimator):
    """Fisher (Turner et al., 2020): Σ over conv/linear outputs and channels of
    ½·mean_n(Σ_hw a ⊙ ∂L/∂a)² (the zero-cost reference's choice of activations).  Higher is better."""

    def _score_batch(self, net, x, y, num_classes):
        acts: list[torch.Tensor] = []

        def hook(module, inputs, output):
            if output.requires_grad:
                output.retain_grad()
                acts.append(output)

        layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        with _hooks([m.register_forward_hook(hook) for m in layers]):
            _loss_grads(net, x, y)
        total = 0.0
        for a in acts:
            if a.grad is None:
                continue
            a, g = a.detach(), a.grad
            per_channel = (a * g).sum(dim=(2, 3)) if a.dim() == 4 else a * g
            total += float(0.5 * per_channel.pow(2).mean(0).sum())
        return total


@register_estimator("params")
class Params(TrainingFreeEstimator):
    """Parameter count in millions (a baseline).  Higher is better."""

    needs_data = False
    cost_passes = 0
    layout_free = True

    def _score_batch(self, net, x, y, num_classes):
        return count_params(net) / 1e6


@register_estimator("flops")
class FLOPs(TrainingFreeEstimator):
    """Multiply-accumulates of one image in millions, counted by hooks on conv and linear
    layers (a baseline; pooling and element-wise ops are not counted).  Higher is better."""

    needs_data = False
    cost_passes = 1
    layout_free = True

    def _score_batch(self, net, x, y, num_classes):
        return count_macs(net, (1, 3, self.image_size, self.image_size)) / 1e6
