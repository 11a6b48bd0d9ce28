"""SWAP-Score (Peng et al., ICLR 2024): how many different on/off patterns the ReLU units of an
untrained network show over a small batch of images, and its size-regularised form.

What the authors' code does (pym1024/SWAP: ``src/metrics/swap.py``, ``correlation.py``,
``src/utils/utilities.py``; the same in pym1024/SWAP_Universal ``SWAP_CNN.py``): a forward hook
on every ``nn.ReLU`` module whose input is 4-D keeps the module's output; after one no-grad
forward pass of the batch the outputs are flattened per image and concatenated into a
(images x units) matrix, ``torch.sign`` of it (post-ReLU, so 0 or 1: "unit is active") is
transposed to (units x images), and the score is the number of distinct rows,
``torch.unique(..., dim=0).size(0)``: the number of distinct activation patterns *of units
across the images* (each unit's pattern is a B-bit word for a batch of B images).  It is not the
number of distinct per-image codes (which could never exceed B).  The count is therefore at most
``min(2**B, number of ReLU units)``: 65,536 for their batch of 16 images.  An NB201 network at
C=16, N=5, 32 px has 0.18-0.9 M ReLU units, so the bound is reached by the large networks and
the score compresses at the top: on 16 CIFAR-10 images (seed 0) we measured 13,465 for a cell
with one 1x1 conv (0.10 M parameters), 54,449 for a 0.80 M one and 64,569 of 65,536 for the
all-3x3-conv cell (1.53 M).  Units that repeat an earlier tensor (two edges leaving one node
each apply their own ReLU to the same input) add duplicate rows, which do not change the count.
``correlation.py`` (DARTS space; the repositories have no NAS-Bench-201 script) uses a batch of
16 CIFAR-10 train images (the first 16 of an unshuffled loader whose transforms are identities
at 32 px) and 32 re-initialisations, each ``network_weight_gaussian_init``: every Conv2d and Linear weight
drawn from N(0, 1), their biases 0, BatchNorm/GroupNorm weight 1 and bias 0; the network stays
in train mode (batch statistics); the score is the mean count over the 32.  No labels are used.
Their seed is never applied (``SWAP.reinit`` only reseeds when given a seed different from the
one it holds), so their initialisations are not reproducible.

The regularised form multiplies the count by ``exp(-(P - mu)**2 / sigma)`` (``cal_regular_factor``)
with ``P`` the number of parameters in thousands (``count_parameters``: all parameters but
auxiliary heads, / 1e3).  Neither repository calls it or gives values of ``mu`` and ``sigma``
for NAS-Bench-201 (the paper tunes them per search space; we could not check its values).

What we do: ``swap`` = the mean over ``reinits`` (default 32) seeded Gaussian
re-initialisations of the count of distinct unit patterns over a seeded batch of 16 train
images (``batch_size``), train-mode BatchNorm, no labels.  The weights are drawn on the CPU from
one generator seeded with ``seed``, in module order, so they do not depend on the device.  A
tensor read by several (not in-place) ReLUs is packed once: the same count for less work.
``swap_reg`` = ``swap * exp(-(P - mu)**2 / sigma)`` with ``P`` in *millions* of parameters
(all parameters of the built network) and defaults ``mu = sigma = 1.5`` — values from a
third-party NB201 port of the authors' code, not the authors'; they centre the factor near the
largest NB201 network (1.53 M at C=16, N=5), so it rewards size smoothly (about 0.26 for the
smallest network, 1 at 1.5 M).  In the authors' unit (thousands) these are mu = 1500 and
sigma = 1.5e6.  Both scorers share one cached measurement (same fingerprint): the record holds
the raw count (``info["swap"]``) and the parameter count (``info["params"]``), and ``swap_reg``
applies the factor in :meth:`finalize`, so changing ``mu``/``sigma`` costs no new measurement.
Higher is better.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from bpe.data import DatasetSpec
from bpe.errors import ConfigError
from bpe.estimators import register_estimator
from bpe.estimators.zero_cost import TrainingFreeEstimator, _hooks, redraw_weights
from bpe.records import EvalRecord

__all__ = ["SWAP", "SWAPRegularised", "distinct_activation_patterns", "swap_regularised", "unit_patterns"]


def unit_patterns(activation: torch.Tensor) -> np.ndarray:
    """The on/off pattern of every unit of ``activation`` (shape (B, ...)) across the B images,
    packed into a row of ``ceil(B/64)`` uint64 words: one row per unit, bit b = image b > 0."""
    n = activation.shape[0]
    active = (activation.detach().reshape(n, -1) > 0).T.cpu().numpy()  # (units, images)
    packed = np.packbits(active, axis=1)  # (units, ceil(B/8)) bytes
    width = -(-packed.shape[1] // 8) * 8
    if width != packed.shape[1]:
        packed = np.pad(packed, ((0, 0), (0, width - packed.shape[1])))
    return np.ascontiguousarray(packed).view(np.uint64)


def _count_distinct(patterns: Sequence[np.ndarray]) -> int:
    if not patterns:
        return 0
    rows = np.concatenate(patterns)
    if rows.shape[1] == 1:
        return int(np.unique(rows[:, 0]).size)
    return int(np.unique(rows, axis=0).shape[0])


def distinct_activation_patterns(activations: Sequence[torch.Tensor]) -> int:
    """SWAP count: distinct on/off patterns across the images of the units of all
    ``activations`` (each of shape (B, ...), the same B), i.e. the number of distinct rows of
    the (units x images) matrix ``[a > 0]`` of the concatenated activations."""
    return _count_distinct([unit_patterns(a) for a in activations])


def swap_regularised(swap: float, params: int, mu: float = 1.5, sigma: float = 1.5) -> float:
    """``swap * exp(-(P - mu)**2 / sigma)`` with ``P = params / 1e6`` (millions of parameters)."""
    return float(swap) * math.exp(-((params / 1e6 - mu) ** 2) / sigma)


def gaussian_reinit(net: nn.Module, generator: torch.Generator) -> None:
    """The authors' re-initialisation (:func:`~bpe.estimators.zero_cost.redraw_weights`):
    Conv2d/Linear weights ~ N(0, 1) and biases 0, BatchNorm/GroupNorm weight 1 and bias 0."""
    redraw_weights(net, generator, lambda m: 1.0)


@register_estimator("swap")
class SWAP(TrainingFreeEstimator):
    """SWAP-Score: mean over ``reinits`` Gaussian re-initialisations of the number of distinct
    unit activation patterns over the batch (see the module doc).  Forward passes only."""

    default_batch_size = 16

    def __init__(self, dataset: DatasetSpec | None = None, *, reinits: int = 32, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        if not isinstance(reinits, int) or reinits < 1:
            raise ConfigError(f"swap needs at least one re-initialisation, got {reinits!r}")
        self.reinits = reinits
        self.cost_passes = reinits  # one forward per re-initialisation

    def fingerprint(self) -> dict[str, Any]:
        # ``swap`` and ``swap_reg`` measure the same thing: one cache entry serves both
        return {**super().fingerprint(), "estimator": "swap", "reinits": self.reinits}

    def describe(self) -> str:
        return f"{self.name}(batch={self._batch_size()}, reinits={self.reinits}, {self.describe_net()})"

    @torch.no_grad()
    def _score_batch(self, net: nn.Module, x: torch.Tensor, y: Any, num_classes: int) -> float:
        generator = torch.Generator().manual_seed(self.seed)
        patterns: list[np.ndarray] = []
        seen: dict[int, torch.Tensor] = {}  # inputs already read (held, so their ids stay unique)

        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            inp = inputs[0]
            if inp.dim() != 4:  # as the authors: ReLUs on feature maps only
                return
            if not module.inplace:  # another ReLU of the same tensor adds only duplicate rows
                if seen.get(id(inp)) is inp:
                    return
                seen[id(inp)] = inp
            patterns.append(unit_patterns(output))

        counts = []
        relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
        with _hooks([m.register_forward_hook(hook) for m in relus]):
            for _ in range(self.reinits):
                gaussian_reinit(net, generator)
                patterns.clear()
                seen.clear()
                net(x)
                counts.append(_count_distinct(patterns))
        return float(np.mean(counts))

    def _evaluate(self, arch: str) -> EvalRecord:
        record = super()._evaluate(arch)
        if record.ok:
            record.info["swap"] = record.score  # the base class records the net's parameter count
        return record

    def reusable(self, record: EvalRecord) -> bool:
        return not record.ok or ("swap" in record.info and "params" in record.info)


@register_estimator("swap_reg")
class SWAPRegularised(SWAP):
    """Regularised SWAP-Score: ``swap * exp(-(P - mu)**2 / sigma)``, ``P`` in millions of
    parameters (see the module doc for ``mu`` and ``sigma``); shares ``swap``'s measurement."""

    def __init__(self, dataset: DatasetSpec | None = None, *, mu: float = 1.5, sigma: float = 1.5,
                 **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        if not sigma > 0:
            raise ConfigError(f"swap_reg needs sigma > 0, got {sigma!r}")
        self.mu = float(mu)
        self.sigma = float(sigma)

    def describe(self) -> str:
        return super().describe()[:-1] + f", mu={self.mu:g}M, sigma={self.sigma:g})"

    def finalize(self, record: EvalRecord) -> EvalRecord:
        if not record.ok:
            return record
        score = swap_regularised(record.info["swap"], record.info["params"], self.mu, self.sigma)
        return dataclasses.replace(record, score=score)
