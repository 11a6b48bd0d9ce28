"""ZiCo (Li et al., ICLR 2023): how large and how consistent the loss gradients of an untrained
network are across mini-batches.

What the authors' code does (SLDGroup/ZiCo, ``ZeroShotProxy/compute_zico.py`` at its last
revision, called from ``evolution_search.py``): the network is put in train mode (BatchNorm uses
batch statistics) with its default initialisation; for each of ``--maxbatch`` mini-batches
(default 2) of the train loader they zero the gradients, run a forward pass, the cross-entropy
loss with the true labels (``nn.CrossEntropyLoss``, mean over the batch) and a backward pass, and
keep the flattened ``weight`` gradient of every ``nn.Conv2d`` and ``nn.Linear`` module (biases are
not used).  For each such layer and each weight they take, over the batches, the mean of the
absolute gradient and the standard deviation of the gradient (``np.std``: population std,
divisor = number of batches), keep the weights whose std is not zero, and add
``log(Σ mean|g| / std(g))`` (natural log) to the score; a layer where no weight varies
(the sum is 0) adds nothing, so a network where nothing varies scores 0.  The mini-batches are
drawn once (the first ``--maxbatch`` batches of a shuffled loader) and reused for every
network; the only published script uses ``--batch_size 128``.  The repository has no
NAS-Bench-201 script.

What we do: the same quantity, with 2 mini-batches of 128 images (``batches`` and
``batch_size`` options), seeded and un-augmented (``augment=True``: with the training
augmentation, random crop and flip, seeded, as the authors' loader gives them), from the train split (the authors' loader is
shuffled without a seed and augmented, so their exact batches are not reproducible), the same
batches for every architecture.  Differences that only matter at the last bits: we compute in
float64 (they use float32) and call a weight's std zero when its gradient is exactly the same in
every batch (with 2 batches this is the same test; with more, float32 rounding can give them a
tiny non-zero std for equal values).  A layer that gets no gradient at all (``grad`` is
``None``: not on any path to the loss) is skipped, where their code would stop with an error.
Labels beyond the classifier's outputs wrap around (see ``zero_cost._loss``).  Higher is better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from bpe.data import DatasetSpec, augment_batch, prepare_split
from bpe.errors import ConfigError
from bpe.estimators import register_estimator
from bpe.estimators.zero_cost import TrainingFreeEstimator, _loss

__all__ = ["ZiCo", "zico_from_gradients"]


def zico_from_gradients(per_layer_grads: Sequence[torch.Tensor]) -> float:
    """ZiCo from the gradients of each layer, each of shape (batches, ...weight shape).

    ``Σ_layers log(Σ_w mean_b|g| / std_b(g))`` over the weights whose gradient is not the same
    in every batch (std over batches with divisor = batches); a layer with no such weight adds
    nothing.
    """
    total = 0.0
    for grads in per_layer_grads:
        g = grads.reshape(grads.shape[0], -1).double()
        varying = g.amax(dim=0) != g.amin(dim=0)
        if not bool(varying.any()):
            continue
        g = g[:, varying]
        ratio = g.abs().mean(dim=0) / g.std(dim=0, correction=0)
        total += math.log(float(ratio.sum()))
    return total


@register_estimator("zico")
class ZiCo(TrainingFreeEstimator):
    """ZiCo: per layer, log of Σ mean|∂L/∂w| / std(∂L/∂w) over mini-batches, summed over conv
    and linear layers (see the module doc).  ``batches`` mini-batches of ``batch_size`` images
    per score (authors: 2 of 128); ``repeats`` such scores on disjoint batches are averaged."""

    default_batch_size = 128

    def __init__(self, dataset: DatasetSpec | None = None, *, batches: int = 2, augment: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        if not isinstance(batches, int) or batches < 2:
            raise ConfigError(f"zico needs at least 2 mini-batches (a std over batches), got {batches!r}")
        if not isinstance(augment, bool):
            raise ConfigError(f"zico's augment is true or false, got {augment!r}")
        self.batches = batches
        self.augment = augment
        self.cost_passes = 2 * batches  # forward + backward of every mini-batch

    def fingerprint(self) -> dict[str, Any]:
        augmented = {"augment": True} if self.augment else {}  # un-augmented keys stay as they were
        return {**super().fingerprint(), "batches": self.batches, **augmented}

    def describe(self) -> str:
        return (f"{self.name}(batches={self.batches}x{self._batch_size()}{', augmented' if self.augment else ''}, "
                f"{self.describe_net()})")

    def _batches(self, dev: torch.device, size: int | None = None) -> tuple[list[tuple[torch.Tensor, torch.Tensor]],
                                                                             int]:
        """``repeats`` groups of ``batches`` seeded mini-batches, each group stacked in one tensor
        (its first mini-batch is the base class's first batch)."""
        data = prepare_split(self.dataset, 1.0)
        bs = max(1, min(self._batch_size(), len(data.train_y) // self.batches))
        batches, classes = super()._batches(dev, size=bs * self.batches)
        if self.augment:
            gen = torch.Generator().manual_seed(self.seed + 1)
            batches = [(augment_batch(x, gen, flip=data.flip).contiguous(memory_format=self._layout(dev)), y)
                       for x, y in batches]
        return batches, classes

    def _score_batch(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> float:
        layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        per_batch: list[list[torch.Tensor | None]] = []
        for xb, yb in zip(x.chunk(self.batches), y.chunk(self.batches)):
            net.zero_grad(set_to_none=True)
            _loss(net(xb), yb).backward()
            per_batch.append([None if m.weight.grad is None else m.weight.grad.detach().clone() for m in layers])
        grads = [torch.stack([b[i] for b in per_batch]) for i in range(len(layers))
                 if all(b[i] is not None for b in per_batch)]
        return zico_from_gradients(grads)
